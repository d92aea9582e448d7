//! `/reports/{code}`: a node's periodic report with charts, its children's key figures,
//! the approval panel, and exports (xlsx, CSV, DHIS2 JSON, ADX).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::{APPROVAL_LEVELS, Figure, INDICATORS, Month, Period, PeriodReport, approves_at};
use jiceng_files::reporting::{self as files, ReportHeading};
use jiceng_store::reporting::{Actor, ApprovalStatus};
use serde::Deserialize;

use super::charts::{self, Bar};
use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::AuditRecord;
use crate::org::guard::{Editor, NodeCode, Report, Scoped, Viewer};
use crate::page::{Lang, render};
use crate::registry::pages::{division_crumbs, today};

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

pub struct FigureRow {
    pub label: String,
    pub key: &'static str,
    pub value: String,
}

pub struct ChildFigures {
    pub name: String,
    pub href: String,
    pub population: i64,
    pub births: i64,
    pub deaths: i64,
    pub moves_in: i64,
    pub moves_out: i64,
    pub approval: String,
}

pub struct ApprovalPanel {
    pub month: String,
    pub state: String,
    pub can_approve: bool,
    pub can_reopen: bool,
    pub waiting: String,
    pub log: Vec<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    page: crate::page::Chrome,
    code: String,
    name: String,
    period: String,
    period_label: String,
    previous: String,
    next: String,
    quarter: String,
    year: String,
    cards: Vec<(String, String)>,
    figures: Vec<FigureRow>,
    migration: Vec<(String, i64, i64)>,
    children: Vec<ChildFigures>,
    births_chart: String,
    status_chart: String,
    pyramid_chart: String,
    approval: Option<ApprovalPanel>,
    error: Option<String>,
}

/// The month before this one: the default report period.
pub fn last_month() -> Month {
    Month::of(today()).previous()
}

fn parse_period(text: Option<&str>) -> AppResult<Period> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Period::parse(t).map_err(|e| AppError::BadRequest(e.to_string())),
        None => Ok(Period::Month(last_month())),
    }
}

fn figure_text(f: Figure) -> String {
    f.to_string()
}

fn approval_text(lang: Lang, status: &ApprovalStatus) -> String {
    match &status.approved {
        Some((by, at)) => format!("{} {by} {}", lang.pick("已审核", "approved by"), at.date()),
        None => lang.pick("未审核", "not approved").to_string(),
    }
}

async fn node_of(state: &AppState, user: &Scoped, code: &DivisionCode) -> AppResult<(DivisionCode, String)> {
    if !user.scope.covers(code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let node = state.store.divisions().get(code).await?.ok_or_else(|| AppError::not_found("区划 Division"))?;
    Ok((code.clone(), node.name))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn report(
    State(state): State<AppState>,
    user: Viewer,
    NodeCode(code): NodeCode,
    Query(query): Query<PeriodQuery>,
) -> AppResult<Response> {
    report_page(&state, &user, &code, query.period.as_deref(), None).await
}

async fn report_page(
    state: &AppState,
    user: &Scoped,
    code: &DivisionCode,
    period: Option<&str>,
    error: Option<String>,
) -> AppResult<Response> {
    let (code, name) = node_of(state, user, code).await?;
    let period = parse_period(period)?;
    let reporting = user.reporting();
    let report = reporting.report(&code, period).await?;
    let lang = user.lang;
    let label = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    let cards = [
        ("population.end", label("期末人口", "Population")),
        ("births", label("出生", "Births")),
        ("deaths", label("死亡", "Deaths")),
        ("moves_in", label("迁入", "Moves in")),
        ("moves_out", label("迁出", "Moves out")),
        ("crude_birth_rate", label("出生率‰", "Birth rate ‰")),
        ("timeliness_rate", label("及时率%", "On time %")),
        ("verified_share", label("核实率%", "Verified %")),
    ]
    .into_iter()
    .map(|(key, l)| (l, figure_text(report.figure(key))))
    .collect();
    let figures = INDICATORS
        .iter()
        .map(|(key, zh, en)| FigureRow {
            label: lang.pick(zh, en).to_string(),
            key,
            value: figure_text(report.figure(key)),
        })
        .collect();
    let mut migration = Vec::new();
    for (province, moves_in, moves_out) in report.migration_by_province() {
        let name = match DivisionCode::parse(&province) {
            Ok(p) => state.store.divisions().get(&p).await?.map(|d| d.name).unwrap_or(province),
            Err(_) => province,
        };
        migration.push((name, moves_in, moves_out));
    }
    // Children's key figures, from their cells.
    let mut children = Vec::new();
    let month = period.last_month();
    if code.level() != DivisionLevel::Village {
        for child in state.store.divisions().children(Some(&code)).await? {
            let r = reporting.report(&child.code, period).await?;
            if r.count("population.end") == 0 && r.count("population.start") == 0 {
                continue;
            }
            let status = reporting.approval_status(&child.code, month).await?;
            children.push(ChildFigures {
                href: format!("/reports/{}?period={period}", child.code),
                name: child.name,
                population: r.count("population.end"),
                births: r.count("births"),
                deaths: r.count("deaths"),
                moves_in: r.count("moves_in"),
                moves_out: r.count("moves_out"),
                approval: approval_text(lang, &status),
            });
        }
    }
    // Twelve months up to the period's last month, for the charts.
    let mut first = month;
    for _ in 0..11 {
        first = first.previous();
    }
    let series: Vec<PeriodReport> = reporting.series(&code, first, month).await?;
    let month_label = |m: &Month| format!("{}/{}", m.year() % 100, m.number());
    let births_chart = charts::stacked_bars(
        &label("每月出生", "Births per month"),
        &[&label("男", "boys"), &label("女", "girls")],
        &series
            .iter()
            .map(|r| Bar {
                label: month_label(&r.period.last_month()),
                values: vec![r.count("births.male"), r.count("births.female")],
            })
            .collect::<Vec<_>>(),
    );
    let status_chart = charts::stacked_bars(
        &label("月末人口（按人口类型）", "Population at month end, by status"),
        &[&label("户籍", "registered"), &label("流入", "inflow"), &label("流出", "outflow")],
        &series
            .iter()
            .map(|r| Bar {
                label: month_label(&r.period.last_month()),
                values: vec![
                    r.count("population.end.registered"),
                    r.count("population.end.inflow"),
                    r.count("population.end.outflow"),
                ],
            })
            .collect::<Vec<_>>(),
    );
    let pyramid_chart = charts::pyramid(
        &label("人口金字塔", "Population pyramid"),
        &label("男", "male"),
        &label("女", "female"),
        &report.age_pyramid,
    );
    let approval = match period {
        Period::Month(m) if APPROVAL_LEVELS.contains(&code.level()) => {
            let status = reporting.approval_status(&code, m).await?;
            let waiting: Vec<&str> = status.waiting_for().iter().map(|c| c.name.as_str()).collect();
            let may = approves_at(user.user.role, code.level());
            Some(ApprovalPanel {
                month: m.to_string(),
                state: approval_text(lang, &status),
                can_approve: may && status.approved.is_none() && waiting.is_empty() && m.last_day() < today(),
                can_reopen: may && status.approved.is_some() && !status.parent_approved,
                waiting: waiting.join("、"),
                log: reporting
                    .approval_log(&code, m)
                    .await?
                    .into_iter()
                    .map(|(action, actor, at, reason)| {
                        let action = match action.as_str() {
                            "approve" => lang.pick("审核通过", "approved"),
                            _ => lang.pick("重新打开", "reopened"),
                        };
                        format!(
                            "{} {actor} {action}{}",
                            at.date(),
                            reason.map(|r| format!("：{r}")).unwrap_or_default()
                        )
                    })
                    .collect(),
            })
        }
        _ => None,
    };
    let (previous, next) = match period {
        Period::Month(m) => (m.previous().to_string(), m.next().to_string()),
        Period::Quarter { year, quarter } => {
            let prev = if quarter == 1 { format!("{}-Q4", year - 1) } else { format!("{year}-Q{}", quarter - 1) };
            let next = if quarter == 4 { format!("{}-Q1", year + 1) } else { format!("{year}-Q{}", quarter + 1) };
            (prev, next)
        }
        Period::Year(y) => ((y - 1).to_string(), (y + 1).to_string()),
    };
    let mut page = user.chrome(&format!("{name} 统计报表 Report"));
    page.crumbs = division_crumbs(state, user, &code).await?;
    Ok(render(&ReportPage {
        page,
        code: code.to_string(),
        name,
        period: period.to_string(),
        period_label: if lang == Lang::En { period.to_string() } else { period.label_zh() },
        previous,
        next,
        quarter: format!("{}-Q{}", month.year(), (month.number() - 1) / 3 + 1),
        year: month.year().to_string(),
        cards,
        figures,
        migration,
        children,
        births_chart,
        status_chart,
        pyramid_chart,
        approval,
        error,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ApprovalForm {
    pub month: String,
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

/// Approves or reopens a month for the node; refusals are shown on the report page.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn approval(
    State(state): State<AppState>,
    user: Editor<Report>,
    NodeCode(code): NodeCode,
    Form(form): Form<ApprovalForm>,
) -> AppResult<Response> {
    let (node, _) = node_of(&state, &user, &code).await?;
    let month = Month::parse(&form.month).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let reporting = user.reporting();
    let actor = Actor { username: &user.user.username, role: user.user.role };
    let outcome = match form.action.as_str() {
        "approve" => reporting.approve(&node, month, actor, today()).await,
        "reopen" => reporting.reopen(&node, month, actor, &form.reason).await,
        _ => return Err(AppError::BadRequest("未知操作 / unknown action".into())),
    };
    match outcome {
        Ok(()) => {
            user.audit(
                &state,
                AuditRecord {
                    action: AuditAction::Write,
                    target: &format!("report/{node}/{month}"),
                    county: node.at_level(DivisionLevel::County).as_ref().map(DivisionCode::as_str).unwrap_or(""),
                    purpose: Some(AccessPurpose::Statistics),
                    detail: format!("{} {month} {}", form.action, form.reason.trim()),
                },
            )
            .await?;
            Ok(Redirect::to(&format!("/reports/{node}?period={month}")).into_response())
        }
        Err(jiceng_store::StoreError::Invalid(message)) => {
            report_page(&state, &user, &code, Some(&form.month), Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The report as a file: `format` = xlsx, csv, dhis2 (dataValueSets JSON) or adx.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export(
    State(state): State<AppState>,
    user: Viewer,
    NodeCode(code): NodeCode,
    Query(query): Query<PeriodQuery>,
) -> AppResult<Response> {
    let (node, name) = node_of(&state, &user, &code).await?;
    let period = parse_period(query.period.as_deref())?;
    let reporting = user.reporting();
    let report = reporting.report(&node, period).await?;
    let format = query.format.as_deref().unwrap_or("xlsx");
    let (bytes, media, extension) = match format {
        "xlsx" => {
            let status = reporting.approval_status(&node, period.last_month()).await?;
            let heading = ReportHeading {
                node_name: name,
                filled_by: user.user.display_name.clone(),
                filled_on: today(),
                approval: match status.approved {
                    Some((by, at)) => format!("已审核 approved: {by} {}", at.date()),
                    None => "未审核 not approved".into(),
                },
            };
            (
                files::report_xlsx(&report, &heading)?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        }
        "csv" => (files::report_csv(&report)?, "text/csv; charset=utf-8", "csv"),
        "dhis2" => (
            serde_json::to_vec_pretty(&files::dhis2_data_value_set(std::slice::from_ref(&report)))
                .map_err(|e| AppError::Internal(e.to_string()))?,
            "application/json",
            "json",
        ),
        "adx" => (files::adx_xml(std::slice::from_ref(&report)).into_bytes(), "application/adx+xml", "xml"),
        other => return Err(AppError::BadRequest(format!("未知格式 {other} / unknown format {other}"))),
    };
    let file_name = format!("report-{node}-{period}.{extension}");
    Ok((
        [
            (header::CONTENT_TYPE, media.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// `/reports`: the user's own area's report.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reports_home(user: Viewer) -> AppResult<Response> {
    match user.user.scopes.first() {
        Some(node) => Ok(Redirect::to(&format!("/reports/{node}")).into_response()),
        None => Ok(Redirect::to("/regions").into_response()),
    }
}
