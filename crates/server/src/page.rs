//! What every page shares: title, the logged-in user, breadcrumbs.

use askama::Template;
use axum::response::Html;

use crate::error::AppResult;

#[derive(Debug, Clone)]
pub struct Crumb {
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub crumbs: Vec<Crumb>,
}

impl Chrome {
    pub fn new(title: &str, user: Option<String>) -> Self {
        Chrome { title: title.to_string(), user, crumbs: Vec::new() }
    }
}

pub fn render(template: &impl Template) -> AppResult<Html<String>> {
    Ok(Html(template.render()?))
}

/// Formats an optional date for a table cell.
pub fn date_cell(date: Option<time::Date>) -> String {
    date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())
}
