//! 今日走访: the grid worker's phone page — this month's plan ordered for walking, one
//! tap per household to record what the visit found. Taps are queued in the page and
//! sent when there is a connection; each carries its own id, so a visit sent twice is
//! recorded once. `POST /api/visits` receives them.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jiceng_domain::fieldwork::VisitOutcome;
use jiceng_domain::org::{DivisionCode, DivisionLevel, Permission};
use jiceng_domain::reporting::Month;
use jiceng_store::fieldwork::NewVisit;
use jiceng_store::reporting::Actor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::ApiResult;
use crate::error::{AppError, AppResult};
use crate::org::auth::CurrentUser;
use crate::page::{Chrome, render};
use crate::registry::pages::{parse_code, today, viewer_scope};

pub struct VisitRow {
    pub county: String,
    pub household_id: String,
    pub place: String,
    pub members: u32,
    pub reasons: String,
    pub done: String,
    pub move_in_href: String,
}

pub struct PlanGroup {
    pub heading: String,
    pub rows: Vec<VisitRow>,
}

#[derive(Template)]
#[template(path = "today.html")]
struct TodayPage {
    page: Chrome,
    node: String,
    today: String,
    username: String,
    groups: Vec<PlanGroup>,
    total: usize,
    done: usize,
    outcomes: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
pub struct TodayQuery {
    pub node: Option<String>,
}

/// The page for one community (the user's own when there is one).
pub async fn today_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<TodayQuery>,
) -> AppResult<Response> {
    let scope = viewer_scope(&user)?;
    user.require(Permission::EditRegistry)?;
    let node = match q.node.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => parse_code(n)?,
        None => user.user.scopes.iter().find(|c| c.level() == DivisionLevel::Village).cloned().ok_or_else(|| {
            AppError::BadRequest("请选择社区：/today?node=社区代码 / choose a community: /today?node=CODE".into())
        })?,
    };
    if node.level() != DivisionLevel::Village || !scope.covers(&node) {
        return Err(AppError::not_found("社区 Community"));
    }
    let registry = state.store.registry_in(&scope);
    let day = today();
    let visited = registry.visits_on(&node, day).await?;
    let keep = visited.keys().copied().collect();
    let plan = registry.visit_plan_keeping(&node, Month::of(day), &keep).await?;
    let english = user.lang == crate::page::Lang::En;
    let mut groups: Vec<PlanGroup> = Vec::new();
    let mut done = 0;
    for item in &plan {
        let heading = format!("{} · {}", item.grid_name, item.building_name);
        if groups.last().is_none_or(|g| g.heading != heading) {
            groups.push(PlanGroup { heading, rows: Vec::new() });
        }
        let outcome = visited.get(&item.household_id);
        done += usize::from(outcome.is_some());
        if let Some(group) = groups.last_mut() {
            group.rows.push(VisitRow {
                county: item.county.clone(),
                household_id: item.household_id.to_string(),
                place: if english {
                    format!("unit {} · floor {} · {}", item.unit_no, item.floor_no, item.room_no)
                } else {
                    format!("{}单元 {}层 {}室", item.unit_no, item.floor_no, item.room_no)
                },
                members: item.members,
                reasons: item.reasons.iter().map(|r| r.label(english)).collect::<Vec<_>>().join("；"),
                done: outcome.map(|o| user.lang.label(*o).to_string()).unwrap_or_default(),
                move_in_href: format!(
                    "/events/new?county={}&household={}&kind=move_in",
                    item.county, item.household_id
                ),
            });
        }
    }
    Ok(render(&TodayPage {
        page: user.chrome("今日走访 Today's visits"),
        node: node.to_string(),
        today: day.to_string(),
        username: user.user.username.clone(),
        total: plan.len(),
        done,
        groups,
        outcomes: VisitOutcome::ALL.iter().map(|o| (o.key().to_string(), user.lang.label(*o).to_string())).collect(),
    })?
    .into_response())
}

/// A visit as the page sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VisitRequest {
    /// Made by the page when the worker taps (UUID); sending it again changes nothing.
    pub id: Uuid,
    pub county: String,
    pub household_id: Uuid,
    /// YYYY-MM-DD, not in the future
    pub visited_on: String,
    /// `seen`, `member`, `landlord`, `nobody_home`, `moved_away` or `new_occupants`
    pub outcome: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitReceipt {
    pub id: Uuid,
    /// True when this visit had already been recorded (a resend).
    pub duplicate: bool,
    /// Members whose record the visit confirmed.
    pub verified: u32,
    /// Move-out events the visit started (moved away).
    pub events: Vec<Uuid>,
}

/// Records a visit (idempotent by its id).
#[utoipa::path(post, path = "/api/visits", tag = "fieldwork",
    params(("X-CSRF-Token" = String, Header)),
    request_body = VisitRequest, responses((status = 200, body = VisitReceipt), (status = 400, body = crate::api::ApiErrorBody)))]
pub async fn record_visit(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<VisitRequest>,
) -> ApiResult<VisitReceipt> {
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    user.check_csrf(token)?;
    let scope = viewer_scope(&user)?;
    user.require(Permission::EditRegistry)?;
    let county = DivisionCode::parse(&request.county).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let outcome = VisitOutcome::from_key(&request.outcome).ok_or_else(|| {
        AppError::BadRequest(format!("走访结果“{}”无效 / unknown outcome '{}'", request.outcome, request.outcome))
    })?;
    let visited_on = time::Date::parse(&request.visited_on, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| AppError::BadRequest("visited_on 应为 YYYY-MM-DD / visited_on must be YYYY-MM-DD".into()))?;
    let visit = NewVisit {
        id: request.id,
        county: county.clone(),
        household_id: request.household_id,
        visited_on,
        outcome,
        notes: request.notes,
    };
    let actor = Actor { username: &user.user.username, role: user.user.role };
    let recorded = state.store.registry_in(&scope).record_visit(&visit, actor, today()).await?;
    if !recorded.duplicate {
        user.audit_change(
            &state,
            &format!("household/{county}/{}", request.household_id),
            county.as_str(),
            format!("visit {} {}", outcome.key(), request.id),
        )
        .await?;
    }
    Ok(Json(VisitReceipt {
        id: request.id,
        duplicate: recorded.duplicate,
        verified: recorded.verified,
        events: recorded.events,
    }))
}
