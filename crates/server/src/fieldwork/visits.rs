//! 今日走访: the grid worker's phone page — this month's plan ordered for walking, one
//! tap per household to record what the visit found. Taps are queued in the page and
//! sent when there is a connection; each carries its own id, so a visit sent twice is
//! recorded once. `POST /api/visits` receives them.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use jiceng_domain::fieldwork::VisitOutcome;
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::Month;
use jiceng_store::fieldwork::NewVisit;
use jiceng_store::reporting::Actor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::ApiResult;
use crate::error::{AppError, AppResult};
use crate::org::guard::{Edit, Editor, NodeCode, Viewer, parse_code};
use crate::page::{Chrome, render};
use crate::registry::pages::today;

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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn today_page(user: Viewer<Edit>, Query(q): Query<TodayQuery>) -> AppResult<Response> {
    let node = match q.node.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => parse_code(n)?,
        None => user.user.scopes.iter().find(|c| c.level() == DivisionLevel::Village).cloned().ok_or_else(|| {
            AppError::BadRequest("请选择社区：/today?node=社区代码 / choose a community: /today?node=CODE".into())
        })?,
    };
    if node.level() != DivisionLevel::Village || !user.scope.covers(&node) {
        return Err(AppError::not_found("社区 Community"));
    }
    let fieldwork = user.fieldwork();
    let day = today();
    let visited = fieldwork.visits_on(&node, day).await?;
    let keep = visited.keys().copied().collect();
    let plan = fieldwork.visit_plan_keeping(&node, Month::of(day), &keep).await?;
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_visit(user: Editor, Json(request): Json<VisitRequest>) -> ApiResult<VisitReceipt> {
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
    let recorded = user.fieldwork().record_visit(&visit, actor, today()).await?;
    Ok(Json(VisitReceipt {
        id: request.id,
        duplicate: recorded.duplicate,
        verified: recorded.verified,
        events: recorded.events,
    }))
}

#[derive(Template)]
#[template(path = "coverage.html")]
struct CoveragePage {
    page: Chrome,
    code: String,
    name: String,
    month: String,
    totals: Vec<(String, String)>,
    rows: Vec<CoverageLine>,
    unassigned: usize,
    /// For a community: what was not reached (first rows; all in the xlsx).
    gaps: Option<GapLists>,
}

/// Rows shown on the page of what a community did not reach.
pub struct GapLists {
    pub floors_total: usize,
    pub households_total: usize,
    pub residents_not_verified: u64,
    pub floors: Vec<FloorGapRow>,
    pub households: Vec<HouseholdGapRow>,
}

pub struct FloorGapRow {
    pub grid: String,
    pub building: String,
    pub floor_no: i16,
    pub households: u64,
    pub responsible: String,
    pub whole_building: bool,
}

pub struct HouseholdGapRow {
    pub href: String,
    pub household_no: String,
    pub address: String,
    pub residents: u64,
    pub responsible: String,
}

/// Rows of each list the page shows; the workbook has them all.
const GAP_ROWS: usize = 200;

pub struct CoverageLine {
    pub level: String,
    pub name: String,
    pub responsible: String,
    pub households: String,
    pub residents: String,
    pub floors: String,
    pub share: String,
}

#[derive(Debug, Deserialize)]
pub struct CoverageQuery {
    pub period: Option<String>,
    pub format: Option<String>,
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 { "—".into() } else { format!("{part}/{whole}（{:.1}%）", part as f64 / whole as f64 * 100.0) }
}

/// `/coverage/{code}`: 四不漏 for a month — totals, streets, communities and the grid
/// ranking with each grid's responsible worker; `?format=xlsx` downloads it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn coverage_page(
    State(state): State<AppState>,
    user: Viewer,
    NodeCode(code): NodeCode,
    Query(q): Query<CoverageQuery>,
) -> AppResult<Response> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let month = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Month::parse(p).map_err(|e| AppError::BadRequest(e.to_string()))?,
        None => Month::of(today()),
    };
    let coverage = user.fieldwork().coverage(&code, month).await?;
    let gaps = match code.level() {
        DivisionLevel::Village => Some(user.fieldwork().coverage_gaps(&code, month).await?),
        _ => None,
    };
    if let Some(gaps) = &gaps {
        // The lists of what was not reached name the households' heads.
        let county = code.at_level(DivisionLevel::County).map(String::from).unwrap_or_default();
        let (action, what) = match q.format.as_deref() {
            Some("xlsx") => (AuditAction::Export, "xlsx"),
            _ => (AuditAction::ReadHousehold, "page"),
        };
        let detail = format!("coverage {month} {what}, {} households not reached", gaps.households.len());
        user.audit_read(&state, action, &format!("coverage/{code}"), &county, detail).await?;
    }
    if q.format.as_deref() == Some("xlsx") {
        let bytes = jiceng_files::fieldwork::coverage_xlsx(&coverage, gaps.as_ref())?;
        return Ok((
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"coverage-{code}-{month}.xlsx\""),
                ),
            ],
            bytes,
        )
            .into_response());
    }
    let name = state.store.divisions().get(&code).await?.map(|d| d.name).unwrap_or_default();
    let lang = user.lang;
    let nobody = lang.pick("无责任人", "nobody").to_string();
    let t = &coverage.totals;
    let totals = vec![
        (lang.pick("楼栋已走访", "Buildings walked").to_string(), ratio(t.buildings_walked, t.buildings)),
        (lang.pick("楼层已走访", "Floors walked").to_string(), ratio(t.floors_walked, t.floors)),
        (lang.pick("户已覆盖", "Households reached").to_string(), ratio(t.households_covered, t.households)),
        (lang.pick("人已核实", "Residents verified").to_string(), ratio(t.residents_verified, t.residents)),
    ];
    let line =
        |level: &str, name: String, who: &Option<String>, k: &jiceng_store::fieldwork::CoverageCounts| CoverageLine {
            level: level.to_string(),
            name,
            responsible: who.clone().unwrap_or_else(|| nobody.clone()),
            households: ratio(k.households_covered, k.households),
            residents: ratio(k.residents_verified, k.residents),
            floors: ratio(k.floors_walked, k.floors),
            share: k.resident_share().map(|s| format!("{s:.1}%")).unwrap_or_else(|| "—".into()),
        };
    let mut rows = Vec::new();
    for (c, who, k) in &coverage.streets {
        rows.push(line(lang.pick("街道", "street"), c.clone(), who, k));
    }
    for (c, who, k) in &coverage.communities {
        rows.push(line(lang.pick("社区", "community"), c.clone(), who, k));
    }
    for g in &coverage.grids {
        rows.push(line(lang.pick("网格", "grid"), format!("{} {}", g.community, g.name), &g.responsible, &g.counts));
    }
    let gaps = gaps.map(|g| GapLists {
        floors_total: g.floors.len(),
        households_total: g.households.len(),
        residents_not_verified: g.residents_not_verified,
        floors: g
            .floors
            .iter()
            .take(GAP_ROWS)
            .map(|f| FloorGapRow {
                grid: f.grid.clone(),
                building: f.building.clone(),
                floor_no: f.floor_no,
                households: f.households,
                responsible: f.responsible.clone().unwrap_or_else(|| nobody.clone()),
                whole_building: f.building_not_walked,
            })
            .collect(),
        households: g
            .households
            .iter()
            .take(GAP_ROWS)
            .map(|h| HouseholdGapRow {
                href: format!("/households/{}/{}", coverage.node.get(..6).unwrap_or(""), h.household_id),
                household_no: h.household_no.clone(),
                address: format!("{} {} {}-{}-{}", h.grid, h.building, h.unit_no, h.floor_no, h.room_no),
                residents: h.residents,
                responsible: h.responsible.clone().unwrap_or_else(|| nobody.clone()),
            })
            .collect(),
    });
    Ok(render(&CoveragePage {
        gaps,
        page: user.chrome(&format!("{name} 四不漏 Coverage")),
        code: code.to_string(),
        name,
        month: month.to_string(),
        totals,
        unassigned: coverage.grids.iter().filter(|g| g.responsible.is_none()).count(),
        rows,
    })?
    .into_response())
}
