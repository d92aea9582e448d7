//! Login with argon2-hashed passwords, lockout after repeated failures, server-side
//! sessions in a cookie, CSRF tokens on every form that changes something.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{Permission, Scope};
use jiceng_store::Caller;
use jiceng_store::org::{LoginOutcome, NewAuditEntry, User};
use serde::Deserialize;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::guard::{Anyone, Editor, Viewer};
use crate::page::{Chrome, Lang, lang_of, render};

pub const SESSION_COOKIE: &str = "jiceng_session";

/// What every failed login says.
pub const LOGIN_FAILED: &str = "用户名或密码不正确；15分钟内尝试过多次后须等待，或请管理员解除锁定 / wrong username or password; after too many attempts in 15 minutes, wait or ask an administrator to lift the lock";

/// The user of the request's session; a handler that takes it requires a login.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The token every state-changing form of this session must carry.
    pub csrf: String,
    /// The client's address, for the audit log.
    pub origin: String,
    pub lang: Lang,
    /// The request's path and query (for the language switch).
    pub here: String,
    /// Who is calling from where: the store stamps it on the audit entry of each write.
    pub caller: Caller,
}

fn origin_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

impl CurrentUser {
    pub fn label(&self) -> String {
        format!("{}（{}）", self.user.display_name, self.lang.label(self.user.role))
    }

    /// The part of the region tree this user works in; every registry query is made
    /// through `store.registry_in(&user.scope())`.
    pub fn scope(&self) -> Scope {
        Scope::new(self.user.role, self.user.scopes.clone())
    }

    /// Refuses the request (403) when the user's role lacks `permission`.
    pub fn require(&self, permission: Permission) -> AppResult<()> {
        if self.user.role.may(permission) { Ok(()) } else { Err(AppError::Forbidden) }
    }

    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome::for_user(title, self)
    }

    /// Records an audited action by this user.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit(&self, state: &AppState, entry: AuditRecord<'_>) -> AppResult<()> {
        state
            .store
            .audit()
            .append(&NewAuditEntry {
                actor: self.user.username.clone(),
                action: entry.action,
                target: entry.target.to_string(),
                county: entry.county.to_string(),
                origin: self.origin.clone(),
                purpose: entry.purpose,
                detail: entry.detail,
            })
            .await?;
        Ok(())
    }
}

impl CurrentUser {
    /// Records a read of personal data shown on a page that is not a resident's record
    /// (a building's household heads, a form filled with a person's facts, a landlord's
    /// lines): every read of personal data is audited (ADR 004).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_read(
        &self,
        state: &AppState,
        action: AuditAction,
        target: &str,
        county: &str,
        detail: String,
    ) -> AppResult<()> {
        self.audit(state, AuditRecord { action, target, county, purpose: None, detail }).await
    }
}

/// One audited action, for [`CurrentUser::audit`].
pub struct AuditRecord<'a> {
    pub action: AuditAction,
    pub target: &'a str,
    pub county: &'a str,
    pub purpose: Option<jiceng_domain::org::audit::AccessPurpose>,
    pub detail: String,
}

impl<'a> AuditRecord<'a> {
    /// An entry about no one's personal data (a search's kind and count, a user managed,
    /// a lock lifted): no county, no purpose.
    pub fn about(action: AuditAction, target: &'a str, detail: String) -> AuditRecord<'a> {
        AuditRecord { action, target, county: "", purpose: None, detail }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
            return Err(AppError::LoginRequired);
        };
        match state.store.users().session_user(&token).await? {
            Some(session) => Ok(CurrentUser {
                caller: Caller::remote(&session.user.username, &origin_of(parts)),
                user: session.user,
                csrf: session.csrf_token,
                origin: origin_of(parts),
                lang: lang_of(parts),
                here: parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into()),
            }),
            None => Err(AppError::LoginRequired),
        }
    }
}

/// The client address without a session (for login attempts).
pub struct ClientOrigin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientOrigin(origin_of(parts)))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Chrome,
    error: Option<String>,
    username: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn login_page(lang: Lang) -> AppResult<impl IntoResponse> {
    render(&LoginPage { page: Chrome::new("登录 Log in", lang, "/login"), error: None, username: String::new() })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    lang: Lang,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let outcome = state.store.users().login(&form.username, &form.password, &origin).await?;
    let detail = match &outcome {
        LoginOutcome::Success(_) => "success",
        LoginOutcome::Rejected => "rejected",
        LoginOutcome::Throttled => "throttled",
    };
    state
        .store
        .audit()
        .append(&NewAuditEntry {
            actor: form.username.chars().take(64).collect(),
            action: AuditAction::Login,
            target: "login".into(),
            county: String::new(),
            origin,
            purpose: None,
            detail: detail.into(),
        })
        .await?;
    let error = match outcome {
        LoginOutcome::Success(user) => {
            let token = state.store.users().create_session(user.id).await?;
            let cookie = Cookie::build((SESSION_COOKIE, token))
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.secure_cookies)
                .path("/")
                .build();
            return Ok((jar.add(cookie), Redirect::to("/")).into_response());
        }
        // One message for every failure: it must not tell which accounts exist or are
        // locked.
        LoginOutcome::Rejected | LoginOutcome::Throttled => LOGIN_FAILED.to_string(),
    };
    let page =
        LoginPage { page: Chrome::new("登录 Log in", lang, "/login"), error: Some(error), username: form.username };
    Ok((axum::http::StatusCode::UNAUTHORIZED, render(&page)?).into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    // Only the session's own forms may end it (a forged logout is refused).
    _user: Editor<Anyone>,
    jar: CookieJar,
) -> AppResult<Response> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.store.users().end_session(cookie.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Chrome,
    error: Option<String>,
    done: bool,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn password_page(user: Viewer<Anyone>) -> AppResult<impl IntoResponse> {
    render(&PasswordPage { page: user.chrome("修改密码 Change password"), error: None, done: false })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn change_password(
    State(state): State<AppState>,
    user: Editor<Anyone>,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    // Every other session of this user ends; this one stays.
    let keep = jar.get(SESSION_COOKIE).map(|c| c.value().to_string());
    let result = if form.new != form.repeat {
        Err("两次输入的新密码不一致 / the new passwords do not match".to_string())
    } else {
        state
            .store
            .users()
            .change_password(&user.user, &form.current, &form.new, &user.origin, keep.as_deref())
            .await
            .map_err(|e| e.to_string())
    };
    let page =
        PasswordPage { page: user.chrome("修改密码 Change password"), done: result.is_ok(), error: result.err() };
    let status = if page.done { axum::http::StatusCode::OK } else { axum::http::StatusCode::BAD_REQUEST };
    Ok((status, render(&page)?).into_response())
}
