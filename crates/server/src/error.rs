//! Errors as people see them: a page that says what is wrong, in Chinese and English.
//! Internal errors are logged with a reference number and never shown in detail.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiceng_store::StoreError;

use crate::page::Chrome;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("请先登录 / please log in")]
    LoginRequired,
    #[error("您的角色无权进行此操作 / your role does not allow this")]
    Forbidden,
    #[error("{what}不存在或您无权查看 / {what} does not exist or is outside your area")]
    NotFound { what: String },
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file we were writing for the user could not be made.
    #[error(transparent)]
    File(#[from] jiceng_files::FilesError),
    #[error("页面渲染失败 / page rendering failed: {0}")]
    Render(#[from] askama::Error),
    /// A failure of the machine (disk, temporary files), never of the user's input.
    #[error("内部错误 / internal error: {0}")]
    Internal(String),
}

/// A short number that ties what a person sees to the log line with the detail.
pub fn reference() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::NotFound { what: what.to_string() }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Chrome,
    heading: String,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            AppError::LoginRequired => return Redirect::to("/login").into_response(),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "无权操作 Forbidden", self.to_string()),
            AppError::NotFound { .. } => (StatusCode::NOT_FOUND, "未找到 Not found", self.to_string()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "输入有误 Invalid input", m.clone()),
            AppError::Store(StoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "未找到 Not found", self.to_string())
            }
            AppError::Store(StoreError::Invalid(m)) => (StatusCode::BAD_REQUEST, "输入有误 Invalid input", m.clone()),
            // A date before the record's current version is the user's input, not ours.
            AppError::Store(e @ StoreError::Retroactive { .. }) => {
                (StatusCode::BAD_REQUEST, "输入有误 Invalid input", format!("日期 / date: {e}"))
            }
            // A file that cannot be read as a resident file is the user's input.
            AppError::Store(StoreError::File(e)) if !matches!(e, jiceng_store::exchange::FileError::Io { .. }) => {
                (StatusCode::BAD_REQUEST, "输入有误 Invalid input", e.to_string())
            }
            AppError::Store(_) | AppError::File(_) | AppError::Render(_) | AppError::Internal(_) => {
                let reference = reference();
                tracing::error!(reference, error = %self, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "系统错误 Internal error",
                    format!(
                        "处理请求时出错，请把参考号 {reference} 告诉管理员。/ Something went wrong; give reference {reference} to your administrator."
                    ),
                )
            }
        };
        let page =
            ErrorPage { page: Chrome::new(heading, crate::page::Lang::Zh, "/"), heading: heading.into(), message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], page.message).into_response(),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
