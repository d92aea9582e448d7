//! What every page shares: title, the logged-in user, breadcrumbs.

use askama::Template;
use axum::response::Html;

use crate::error::AppResult;
use crate::org::auth::CurrentUser;

#[derive(Debug, Clone)]
pub struct Crumb {
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    /// The session's CSRF token, for the forms on the page (the logout button too).
    pub csrf: String,
    pub is_admin: bool,
    pub crumbs: Vec<Crumb>,
}

impl Chrome {
    pub fn new(title: &str, user: Option<String>) -> Self {
        Chrome { title: title.to_string(), user, csrf: String::new(), is_admin: false, crumbs: Vec::new() }
    }

    pub fn for_user(title: &str, user: &CurrentUser) -> Self {
        Chrome {
            title: title.to_string(),
            user: Some(user.label()),
            csrf: user.csrf.clone(),
            is_admin: user.user.role.may(jiceng_domain::org::Permission::ManageUsers),
            crumbs: Vec::new(),
        }
    }
}

pub fn render(template: &impl Template) -> AppResult<Html<String>> {
    Ok(Html(template.render()?))
}

/// Formats an optional date for a table cell.
pub fn date_cell(date: Option<time::Date>) -> String {
    date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())
}
