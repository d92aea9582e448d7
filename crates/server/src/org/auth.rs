//! Login with argon2-hashed passwords and server-side sessions in a cookie.

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_store::org::User;
use serde::Deserialize;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::page::{Chrome, render};

pub const SESSION_COOKIE: &str = "jiceng_session";

/// The user of the request's session; a handler that takes it requires a login.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl CurrentUser {
    pub fn label(&self) -> String {
        format!("{}（{}）", self.0.display_name, self.0.role.label_zh())
    }

    /// Whether the user may see the node `code` and what lies below it.
    pub fn can_view(&self, code: &DivisionCode) -> bool {
        self.0.role == Role::Administrator || self.0.scopes.iter().any(|scope| scope.contains(code))
    }

    /// Refuses nodes outside the user's scope with the same answer as a missing one,
    /// so that IDs outside the scope cannot be probed.
    pub fn require_view(&self, code: &DivisionCode, what: &str) -> AppResult<()> {
        if self.can_view(code) { Ok(()) } else { Err(AppError::not_found(what)) }
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
            Some(user) => Ok(CurrentUser(user)),
            None => Err(AppError::LoginRequired),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Chrome,
    error: Option<String>,
    username: String,
}

pub async fn login_page() -> AppResult<impl IntoResponse> {
    render(&LoginPage { page: Chrome::new("登录 Log in", None), error: None, username: String::new() })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(State(state): State<AppState>, jar: CookieJar, Form(form): Form<LoginForm>) -> AppResult<Response> {
    match state.store.users().verify_login(&form.username, &form.password).await? {
        Some(user) => {
            let token = state.store.users().create_session(user.id).await?;
            let cookie = Cookie::build((SESSION_COOKIE, token))
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.secure_cookies)
                .path("/")
                .build();
            Ok((jar.add(cookie), Redirect::to("/")).into_response())
        }
        None => {
            let page = LoginPage {
                page: Chrome::new("登录 Log in", None),
                error: Some("用户名或密码不正确 / wrong username or password".into()),
                username: form.username,
            };
            Ok((axum::http::StatusCode::UNAUTHORIZED, render(&page)?).into_response())
        }
    }
}

pub async fn logout(State(state): State<AppState>, jar: CookieJar) -> AppResult<Response> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.store.users().end_session(cookie.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}
