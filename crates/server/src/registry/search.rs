//! Finding a resident: by ID number, name, pinyin initials or phone, within scope.
//! Lists show masked numbers; every search that returns people is audited.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::registry::Identity;
use jiceng_store::registry::SearchQuery;
use serde::Deserialize;

use crate::AppState;
use crate::error::AppResult;
use crate::org::auth::AuditRecord;
use crate::org::guard::{Search, Viewer};
use crate::page::{Chrome, render};

/// The most people one search shows.
pub const SEARCH_LIMIT: u64 = 50;

pub struct ResultRow {
    pub name: String,
    pub href: String,
    pub sex: &'static str,
    pub birth_date: String,
    pub id_masked: String,
    pub phone_masked: String,
    pub community: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Chrome,
    q: String,
    kind: Option<&'static str>,
    results: Vec<ResultRow>,
    limit: usize,
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn search(
    State(state): State<AppState>,
    user: Viewer<Search>,
    Query(params): Query<SearchParams>,
) -> AppResult<impl IntoResponse> {
    let query = SearchQuery::parse(&params.q);
    let mut results = Vec::new();
    let mut kind = None;
    if let Some(query) = &query {
        let found = user.registry().search(query, SEARCH_LIMIT).await?;
        let label = match query {
            SearchQuery::IdNumber(_) => ("身份号码", "ID number", "id_number"),
            SearchQuery::IdPrefix(_) => ("身份号码开头", "ID number starting", "id_prefix"),
            SearchQuery::Phone(_) => ("电话", "Phone", "phone"),
            SearchQuery::Initials(_) => ("拼音首字母", "Pinyin initials", "initials"),
            SearchQuery::Name(_) => ("姓名", "Name", "name"),
        };
        kind = Some(user.lang.pick(label.0, label.1));
        // The term itself may be an ID number: the log keeps its kind and the result count.
        user.audit(
            &state,
            AuditRecord::about(AuditAction::Search, "search", format!("{} → {} results", label.2, found.len())),
        )
        .await?;
        // Every community's name in one query.
        let communities: Vec<_> = found.iter().map(|r| r.community.clone()).collect();
        let names = state.store.divisions().names(&communities).await?;
        for r in found {
            results.push(ResultRow {
                href: format!("/residents/{}/{}", r.county, r.resident_id),
                name: r.facts.name.to_string(),
                sex: user.lang.label(r.facts.sex),
                birth_date: r.facts.birth_date.to_string(),
                id_masked: match &r.facts.identity {
                    Identity::Number(n) => n.masked(),
                    Identity::Missing(reason) => format!("（{}）", user.lang.label(*reason)),
                },
                phone_masked: r.facts.phone.as_ref().map(|p| p.masked()).unwrap_or_else(|| "—".into()),
                community: names.get(&r.community).cloned().unwrap_or_else(|| r.community.to_string()),
            });
        }
    }
    render(&SearchPage { page: user.chrome("查询 Search"), q: params.q, kind, results, limit: SEARCH_LIMIT as usize })
}
