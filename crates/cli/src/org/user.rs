//! `jiceng user add`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_store::Store;
use jiceng_store::org::{NewAuditEntry, NewUser, generate_password};

/// Reads the password from standard input when it is not a terminal; otherwise, or
/// when the line is empty, generates one. Returns the password and whether it was generated.
pub fn password_from_stdin() -> anyhow::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("读取标准输入 / reading standard input")?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if !line.is_empty() {
            return Ok((line, false));
        }
    }
    Ok((generate_password(), true))
}

pub async fn add(
    store: &Store,
    username: &str,
    role: &str,
    scopes: &[String],
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let role = Role::from_key(role).with_context(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.key()).collect();
        format!("未知角色“{role}”，可选：{0} / unknown role '{role}'; one of: {0}", known.join(", "))
    })?;
    let scopes = scopes
        .iter()
        .map(|s| DivisionCode::parse(s).with_context(|| format!("--scope {s}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if scopes.is_empty() && role != Role::Administrator {
        anyhow::bail!(
            "除管理员外，用户至少需要一个 --scope / every user but an administrator needs at least one --scope"
        );
    }
    for scope in &scopes {
        if store.divisions().get(scope).await?.is_none() {
            anyhow::bail!(
                "区划 {scope} 尚未载入，请先运行 jiceng regions load / division {scope} is not loaded; run `jiceng regions load` first"
            );
        }
    }
    let (password, generated) = password_from_stdin()?;
    let user = store
        .users()
        .add(&NewUser {
            username: username.to_string(),
            display_name: display_name.unwrap_or(username).to_string(),
            password: password.clone(),
            role,
            scopes,
        })
        .await?;
    store
        .audit()
        .append(&NewAuditEntry {
            actor: "cli".into(),
            action: AuditAction::ManageUser,
            target: format!("user/{}", user.username),
            county: String::new(),
            origin: "local".into(),
            purpose: None,
            detail: format!("created, role {}", user.role.key()),
        })
        .await?;
    println!("已创建用户 Created user {} ({}, {})", user.username, user.role.label_zh(), user.role.key());
    if generated {
        println!("密码 Password: {password}");
    }
    Ok(())
}
