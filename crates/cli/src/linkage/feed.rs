//! `jiceng feed …`: departments, their API tokens and their files; `jiceng linkage
//! train`: the county's model re-estimated with the reviewers' decisions.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jiceng_domain::linkage::{DepartmentKind, FeedKind, FeedOutcome, Settings};
use jiceng_domain::org::DivisionCode;
use jiceng_store::linkage::{Department, NewDepartment};
use jiceng_store::{Caller, Store};

fn kind_of(text: &str) -> anyhow::Result<FeedKind> {
    FeedKind::from_text(text).with_context(|| {
        let keys: Vec<&str> = FeedKind::ALL.iter().map(|k| k.key()).collect();
        format!("通报类型“{text}”不存在，可用 / unknown feed kind '{text}'; one of: {}", keys.join(", "))
    })
}

fn county_of(text: Option<&str>) -> anyhow::Result<Option<DivisionCode>> {
    text.map(|c| DivisionCode::parse(c).with_context(|| format!("--county {c}"))).transpose()
}

pub async fn add_department(
    store: &Store,
    caller: &Caller,
    code: &str,
    name: &str,
    kind: &str,
    region: &str,
    feeds: Option<&str>,
) -> anyhow::Result<()> {
    let kind = DepartmentKind::from_text(kind).with_context(|| {
        let keys: Vec<&str> = DepartmentKind::ALL.iter().map(|k| k.key()).collect();
        format!("部门类型“{kind}”不存在，可用 / unknown department kind '{kind}'; one of: {}", keys.join(", "))
    })?;
    let region = DivisionCode::parse(region).with_context(|| format!("--region {region}"))?;
    let feeds = match feeds {
        Some(list) => {
            list.split(',').filter(|k| !k.trim().is_empty()).map(|k| kind_of(k.trim())).collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    let department = store
        .linkage_by(caller)
        .register_department(&NewDepartment { code: code.into(), name: name.into(), kind, region, feeds })
        .await?;
    let feeds: Vec<&str> = department.feeds.iter().map(|f| f.label_zh()).collect();
    println!(
        "已登记部门 Registered {} {}（{}）in {}: {}",
        department.code,
        department.name,
        department.kind.label_zh(),
        department.county,
        feeds.join("、")
    );
    Ok(())
}

pub async fn list_departments(store: &Store, json: bool) -> anyhow::Result<()> {
    let departments = store.linkage().departments().await?;
    if json {
        println!("{}", serde_json::to_string(&departments)?);
        return Ok(());
    }
    println!("{:<8} {:<10} {:<14} {:<14} 通报类型 feeds", "区县", "代码 code", "类型 kind", "范围 region");
    for d in departments {
        let feeds: Vec<&str> = d.feeds.iter().map(|f| f.key()).collect();
        println!(
            "{:<8} {:<10} {:<14} {:<14} {} — {}",
            d.county,
            d.code,
            d.kind.key(),
            d.region,
            feeds.join(","),
            d.name
        );
    }
    Ok(())
}

async fn department(store: &Store, code: &str, county: Option<&str>) -> anyhow::Result<Department> {
    Ok(store.linkage().department_by_code(code, county_of(county)?.as_ref()).await?)
}

pub async fn create_token(
    store: &Store,
    caller: &Caller,
    code: &str,
    county: Option<&str>,
    label: &str,
) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let (id, token) = store.linkage_by(caller).create_token(&department, label).await?;
    println!("令牌编号 Token id: {id}");
    println!("令牌 Token (只显示这一次 shown this once): {token}");
    Ok(())
}

pub async fn list_tokens(store: &Store, code: &str, county: Option<&str>, json: bool) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let tokens = store.linkage().tokens(&department).await?;
    if json {
        println!("{}", serde_json::to_string(&tokens)?);
        return Ok(());
    }
    for t in tokens {
        let state = match t.revoked_at {
            Some(at) => format!("已吊销 revoked {}", at.date()),
            None => "有效 active".to_string(),
        };
        println!("{} {} {} {} {}", t.id, t.created_at.date(), t.created_by, state, t.label);
    }
    Ok(())
}

pub async fn revoke_token(
    store: &Store,
    caller: &Caller,
    code: &str,
    county: Option<&str>,
    id: &str,
) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let id = uuid::Uuid::parse_str(id.trim()).with_context(|| format!("令牌编号无效 / not a token id: {id}"))?;
    store.linkage_by(caller).revoke_token(&department, id).await?;
    println!("已吊销 Revoked {id}");
    Ok(())
}

pub struct FeedImport<'a> {
    pub department: &'a str,
    pub county: Option<&'a str>,
    pub kind: &'a str,
    pub file: &'a Path,
    pub encoding: Option<&'a str>,
    pub error_file: Option<PathBuf>,
    pub json: bool,
    pub settings: &'a Settings,
}

/// `jiceng feed import`: returns whether every row was read (exit 3 otherwise).
pub async fn import(store: &Store, caller: &Caller, args: FeedImport<'_>) -> anyhow::Result<bool> {
    let kind = kind_of(args.kind)?;
    let department = department(store, args.department, args.county).await?;
    department.may_send(kind)?;
    let encoding = crate::exchange::import::encoding(args.encoding)?;
    let limits = jiceng_store::exchange::ReadLimits::from_env().map_err(anyhow::Error::msg)?;
    let spinner = crate::progress::spinner("读取 Reading");
    let path = args.file.to_path_buf();
    let (file_info, rows) = tokio::task::spawn_blocking(move || {
        let file = jiceng_files::linkage::feed::FeedFile::open(&path, kind, encoding, limits)?;
        let info = (file.format, file.encoding, file.headers.clone());
        Ok::<_, jiceng_files::exchange::FileError>((info, file.rows()?))
    })
    .await??;
    spinner.set_message("匹配 Linking");
    let source = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let today = time::OffsetDateTime::now_utc().date();
    let receipt = store.linkage_by(caller).receive(&department, kind, &source, rows, args.settings, today).await?;
    spinner.finish_and_clear();
    let error_path = args.error_file.clone().unwrap_or_else(|| jiceng_files::linkage::feed::error_file_of(args.file));
    let error_file = if receipt.rejected.is_empty() {
        None
    } else {
        let (format, encoding, headers) = file_info;
        Some(jiceng_files::linkage::feed::write_error_file(&error_path, format, encoding, &headers, &receipt.rejected)?)
    };
    if args.json {
        let mut value = serde_json::to_value(&receipt)?;
        value["rejected"] = receipt.rejected.len().into();
        value["error_file"] = error_file.as_ref().map(|p| p.display().to_string()).into();
        println!("{value}");
    } else {
        println!(
            "{} {}：新收 received {}，已收过 already received {}，提交变动 events proposed {}",
            department.name,
            kind.label_zh(),
            receipt.received,
            receipt.already_received,
            receipt.events
        );
        for outcome in FeedOutcome::ALL {
            if let Some(n) = receipt.outcomes.get(outcome.key()) {
                println!("  {} {}: {n}", outcome.label_zh(), outcome.label_en());
            }
        }
        if let Some(path) = &error_file {
            println!("被拒绝的行已写入 Rejected rows written to {}", path.display());
        }
    }
    Ok(receipt.rejected.is_empty())
}

pub async fn train(
    store: &Store,
    caller: &Caller,
    county: &str,
    settings: &Settings,
    json: bool,
) -> anyhow::Result<()> {
    let county = DivisionCode::parse(county).with_context(|| format!("--county {county}"))?;
    let spinner = crate::progress::spinner("训练 Training");
    let report = store.linkage_by(caller).train(&county, settings).await?;
    spinner.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "已训练 Trained the model of {} on {} records and {} reviewers' decisions: {}",
            report.county, report.records, report.decisions, report.model_id
        );
    }
    Ok(())
}
