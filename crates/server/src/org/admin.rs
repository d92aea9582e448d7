//! Administrator pages: users, their roles and their scope in the region tree.
//! An administrator can only hand out scope inside their own.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_store::org::{NewUser, generate_password};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::AuditRecord;
use crate::org::guard::{Editor, Manage, Scoped, Viewer};
use crate::page::{Chrome, render};

pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub scopes: String,
    pub disabled: bool,
}

/// A login counter over its limit, as the administrator sees it.
pub struct LockRow {
    pub key: String,
    pub what: String,
    pub attempts: i32,
    pub until: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    page: Chrome,
    users: Vec<UserRow>,
    locks: Vec<LockRow>,
    roles: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    notice: Option<String>,
    form: NewUserForm,
}

#[derive(Deserialize, Default, Clone)]
pub struct NewUserForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    /// Division codes separated by spaces or commas.
    #[serde(default)]
    pub scopes: String,
}

async fn page(
    state: &AppState,
    user: &Scoped,
    error: Option<String>,
    notice: Option<String>,
    form: NewUserForm,
) -> AppResult<UsersPage> {
    let users = state
        .store
        .users()
        .list()
        .await?
        .into_iter()
        // An administrator sees the users whose whole scope lies inside their own.
        .filter(|u| {
            user.scope.is_whole_country() || (!u.scopes.is_empty() && u.scopes.iter().all(|s| user.scope.covers(s)))
        })
        .map(|u| UserRow {
            id: u.id,
            scopes: u.scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
            role: user.lang.label(u.role),
            username: u.username,
            display_name: u.display_name,
            disabled: u.disabled,
        })
        .collect::<Vec<UserRow>>();
    // Locks of the accounts this administrator manages, and locks of addresses.
    let locks = state
        .store
        .users()
        .login_locks()
        .await?
        .into_iter()
        .filter(|l| l.username.as_ref().is_none_or(|name| users.iter().any(|u| &u.username == name)))
        .map(|l| LockRow {
            what: match (l.kind, &l.username, &l.address) {
                ("pair", Some(name), Some(address)) => format!("{name} @ {address}"),
                ("account", Some(name), _) => format!("{name}（所有地址 all addresses）"),
                (_, _, Some(address)) => format!("{address}（所有账号 all accounts）"),
                _ => l.key.clone(),
            },
            key: l.key,
            attempts: l.attempts,
            until: format!("{:02}:{:02} UTC", l.until.hour(), l.until.minute()),
        })
        .collect();
    Ok(UsersPage {
        page: user.chrome("用户管理 Users"),
        users,
        locks,
        roles: Role::ALL.iter().map(|r| (r.key(), user.lang.label(*r))).collect(),
        error,
        notice,
        form,
    })
}

/// The users page again, with the form as typed and what is wrong with it.
async fn rejected(state: &AppState, user: &Scoped, message: String, form: NewUserForm) -> AppResult<Response> {
    Ok((StatusCode::BAD_REQUEST, render(&page(state, user, Some(message), None, form).await?)?).into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn users(State(state): State<AppState>, user: Viewer<Manage>) -> AppResult<Response> {
    Ok(render(&page(&state, &user, None, None, NewUserForm::default()).await?)?.into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_user(
    State(state): State<AppState>,
    user: Editor<Manage>,
    Form(form): Form<NewUserForm>,
) -> AppResult<Response> {
    let result: Result<NewUser, String> = (|| {
        let role = Role::from_key(&form.role).ok_or_else(|| format!("角色“{}”无效 / unknown role", form.role))?;
        let mut scopes = Vec::new();
        for text in form.scopes.split([' ', ',', '，']).filter(|s| !s.is_empty()) {
            let code = DivisionCode::parse(text).map_err(|e| format!("可见范围 scope: {e}"))?;
            if !user.scope.covers(&code) {
                return Err(format!("{code} 不在您的管理范围内 / {code} is outside your own scope"));
            }
            scopes.push(code);
        }
        if scopes.is_empty() {
            return Err("至少需要一个可见范围 / at least one scope is needed".into());
        }
        Ok(NewUser {
            username: form.username.trim().to_string(),
            display_name: if form.display_name.trim().is_empty() {
                form.username.trim().to_string()
            } else {
                form.display_name.trim().to_string()
            },
            password: generate_password(),
            role,
            scopes,
        })
    })();
    let new = match result {
        Ok(new) => new,
        Err(message) => {
            return rejected(&state, &user, message, form).await;
        }
    };
    for code in &new.scopes {
        if state.store.divisions().get(code).await?.is_none() {
            let message = format!("区划 {code} 尚未载入 / division {code} is not loaded");
            return rejected(&state, &user, message, form).await;
        }
    }
    match state.store.users().add(&new).await {
        Ok(created) => {
            let target = format!("user/{}", created.username);
            user.audit(
                &state,
                AuditRecord::about(AuditAction::ManageUser, &target, format!("created, role {}", created.role.key())),
            )
            .await?;
            let notice = format!(
                "已创建用户 {}，初始密码 / created {}, initial password: {}",
                created.username, created.username, new.password
            );
            Ok(render(&page(&state, &user, None, Some(notice), NewUserForm::default()).await?)?.into_response())
        }
        Err(jiceng_store::StoreError::Invalid(message)) => rejected(&state, &user, message, form).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ClearLock {
    key: String,
}

/// Lifts a login lock shown on the users page.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear_lock(
    State(state): State<AppState>,
    user: Editor<Manage>,
    Form(form): Form<ClearLock>,
) -> AppResult<Response> {
    let shown = page(&state, &user, None, None, NewUserForm::default()).await?;
    if !shown.locks.iter().any(|l| l.key == form.key) {
        return Err(AppError::not_found("锁定 Lock"));
    }
    state.store.users().clear_login_lock(&form.key).await?;
    user.audit(&state, AuditRecord::about(AuditAction::ManageUser, "login-lock", format!("cleared {}", form.key)))
        .await?;
    let notice = "已解除锁定 / the lock is lifted".to_string();
    Ok(render(&page(&state, &user, None, Some(notice), NewUserForm::default()).await?)?.into_response())
}

#[derive(Deserialize)]
pub struct UserAction {
    action: String,
}

/// Reset a password (also lifts a lockout), or disable/enable an account.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn user_action(
    State(state): State<AppState>,
    user: Editor<Manage>,
    Path(id): Path<Uuid>,
    Form(form): Form<UserAction>,
) -> AppResult<Response> {
    let target_user = state.store.users().get(id).await?.ok_or_else(|| AppError::not_found("用户 User"))?;
    let manageable = user.scope.is_whole_country()
        || (!target_user.scopes.is_empty() && target_user.scopes.iter().all(|s| user.scope.covers(s)));
    if !manageable || target_user.id == user.user.id {
        return Err(AppError::not_found("用户 User"));
    }
    let users = state.store.users();
    let notice = match form.action.as_str() {
        "reset" => {
            let password = generate_password();
            users.set_password(id, &password).await?;
            format!("{} 的新密码 / new password for {}: {password}", target_user.username, target_user.username)
        }
        "disable" => {
            users.set_disabled(id, true).await?;
            format!("已停用 {} / disabled", target_user.username)
        }
        "enable" => {
            users.set_disabled(id, false).await?;
            format!("已启用 {} / enabled", target_user.username)
        }
        other => return Err(AppError::BadRequest(format!("未知操作 unknown action {other}"))),
    };
    let target = format!("user/{}", target_user.username);
    user.audit(&state, AuditRecord::about(AuditAction::ManageUser, &target, form.action.clone())).await?;
    Ok(render(&page(&state, &user, None, Some(notice), NewUserForm::default()).await?)?.into_response())
}
