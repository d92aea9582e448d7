//! The pages of department feeds: departments and their tokens and uploads (the
//! district office), the records received with their outcomes, a possible match side
//! by side with the evidence field by field, and the thresholds' precision and recall.

use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::linkage::{DepartmentKind, FeedKind, FeedOutcome};
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, DivisionLevel, Permission};
use jiceng_store::linkage::{Department, IncomingRecord, NewDepartment, ReviewItem, ThresholdRow, TokenInfo};
use jiceng_store::reporting::Actor;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::AuditRecord;
use crate::org::guard::{Editor, Feeds, Manage, NodeCode, PartKey, RecordKey, Report, Scoped, Viewer};
use crate::page::{Chrome, render};
use crate::registry::pages::today;

/// A department as its row on the page shows it.
struct DepartmentRow {
    department: Department,
    kind: String,
    feeds: Vec<(String, String)>,
    tokens: Vec<TokenInfo>,
}

#[derive(Template)]
#[template(path = "feeds.html")]
struct FeedsPage {
    page: Chrome,
    departments: Vec<DepartmentRow>,
    may_manage: bool,
    kinds: Vec<(String, String)>,
    feed_kinds: Vec<(String, String)>,
    /// A token just made: shown this once.
    new_token: Option<String>,
    /// What an upload did.
    done: Option<String>,
    problems: Vec<String>,
    /// Where to see the records (the user's county).
    records_href: Option<String>,
}

async fn feeds_page(
    user: &Scoped,
    new_token: Option<String>,
    done: Option<String>,
    problems: Vec<String>,
) -> AppResult<FeedsPage> {
    let lang = user.lang;
    let linkage = user.linkage();
    let may_manage = user.user.role.may(Permission::ManageUsers);
    let mut departments = Vec::new();
    for d in linkage.departments().await? {
        let tokens = if may_manage { linkage.tokens(&d).await? } else { Vec::new() };
        departments.push(DepartmentRow {
            kind: lang.label(d.kind).to_string(),
            feeds: d.feeds.iter().map(|f| (f.key().to_string(), lang.label(*f).to_string())).collect(),
            tokens,
            department: d,
        });
    }
    let records_href = user
        .scope
        .nodes()
        .first()
        .or_else(|| departments.first().map(|d| &d.department.county))
        .map(|n| format!("/feeds/records/{n}"));
    Ok(FeedsPage {
        page: user.chrome("部门通报 Department feeds"),
        departments,
        may_manage,
        kinds: DepartmentKind::ALL.iter().map(|k| (k.key().to_string(), lang.label(*k).to_string())).collect(),
        feed_kinds: FeedKind::ALL.iter().map(|k| (k.key().to_string(), lang.label(*k).to_string())).collect(),
        new_token,
        done,
        problems,
        records_href,
    })
}

/// `/feeds`: departments, their tokens and the upload form.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn feeds(user: Viewer<Feeds>) -> AppResult<Response> {
    Ok(render(&feeds_page(&user, None, None, Vec::new()).await?)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct DepartmentForm {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub region: String,
    /// Comma-separated feed kinds (empty: the usual ones of the kind).
    #[serde(default)]
    pub feeds: String,
}

/// Registers a department (administrators).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register_department(user: Editor<Manage>, Form(form): Form<DepartmentForm>) -> AppResult<Response> {
    let kind = DepartmentKind::from_key(&form.kind)
        .ok_or_else(|| AppError::BadRequest("部门类型无效 / invalid department kind".into()))?;
    let region =
        DivisionCode::parse(form.region.trim()).map_err(|e| AppError::BadRequest(format!("范围 region: {e}")))?;
    let feeds = form
        .feeds
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            FeedKind::from_text(k).ok_or_else(|| AppError::BadRequest(format!("通报类型无效 / invalid feed kind: {k}")))
        })
        .collect::<AppResult<Vec<_>>>()?;
    let new = NewDepartment { code: form.code, name: form.name, kind, region, feeds };
    match user.linkage().register_department(&new).await {
        Ok(_) => Ok(Redirect::to("/feeds").into_response()),
        Err(jiceng_store::StoreError::Invalid(m)) => {
            Ok((axum::http::StatusCode::BAD_REQUEST, render(&feeds_page(&user, None, None, vec![m]).await?)?)
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub label: String,
}

/// Makes a department's API token and shows it once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_token(
    user: Editor<Manage>,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<TokenForm>,
) -> AppResult<Response> {
    let linkage = user.linkage();
    let department = linkage.department(&county, id).await?;
    let (_, token) = linkage.create_token(&department, &form.label).await?;
    Ok(render(&feeds_page(&user, Some(token), None, Vec::new()).await?)?.into_response())
}

/// Revokes a department's token.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_token(
    user: Editor<Manage>,
    PartKey(RecordKey { county, id }, token): PartKey,
) -> AppResult<Response> {
    let linkage = user.linkage();
    let department = linkage.department(&county, id).await?;
    linkage.revoke_token(&department, token).await?;
    Ok(Redirect::to("/feeds").into_response())
}

/// A department's file (CSV or xlsx) of one kind, read off the runtime under the
/// server's read limits and received like `jiceng feed import`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upload(State(state): State<AppState>, user: Editor<Feeds>, request: Request) -> AppResult<Response> {
    let mut form = Multipart::from_request(request, &state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let bad = |message: String| AppError::BadRequest(message);
    let dir = tempfile::Builder::new()
        .prefix("feed-")
        .tempdir_in(&state.imports.dir)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (mut department, mut kind, mut saved) = (String::new(), String::new(), None);
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name().unwrap_or("") {
            "department" => department = field.text().await.map_err(|e| bad(e.to_string()))?,
            "kind" => kind = field.text().await.map_err(|e| bad(e.to_string()))?,
            "file" => {
                let name = crate::exchange::pages::shown_name(field.file_name().unwrap_or("feed.csv"));
                let Some(extension) = crate::exchange::pages::sheet_extension(&name) else {
                    return Err(bad(format!("“{name}”不是 .csv 或 .xlsx 文件 / '{name}' is not a .csv or .xlsx file")));
                };
                let path = dir.path().join(format!("feed.{extension}"));
                crate::exchange::pages::save_field(&mut field, &path, 64 << 20).await?;
                saved = Some((name, path));
            }
            _ => {}
        }
    }
    let Some((name, path)) = saved else { return Err(bad("请选择文件 / choose a file".into())) };
    let kind = FeedKind::from_key(&kind).ok_or_else(|| bad("请选择通报类型 / choose the kind of feed".into()))?;
    let (county, id) = department.split_once('/').ok_or_else(|| bad("请选择部门 / choose a department".into()))?;
    let county = crate::org::guard::parse_county(county)?;
    let id = Uuid::parse_str(id).map_err(|_| bad("请选择部门 / choose a department".into()))?;
    let linkage = user.linkage();
    let department = linkage.department(&county, id).await?;
    department.may_send(kind)?;
    // Errors name the file as people called it, never the server's path.
    let (limits, shown) = (state.read_limits, name.clone());
    let rows = tokio::task::spawn_blocking(move || {
        jiceng_files::linkage::feed::FeedFile::open(&path, kind, None, limits)
            .and_then(|f| f.rows())
            .map_err(|e| e.to_string().replace(&*path.to_string_lossy(), &shown))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(bad)?;
    drop(dir);
    let receipt = linkage.receive(&department, kind, &name, rows, &state.linkage, today()).await?;
    let lang = user.lang;
    let outcomes: Vec<String> = FeedOutcome::ALL
        .iter()
        .filter_map(|o| receipt.outcomes.get(o.key()).map(|n| format!("{} {n}", lang.label(*o))))
        .collect();
    let done = match lang {
        crate::page::Lang::Zh => format!(
            "{name}：新收 {} 条（{}），已收过 {} 条，提交变动 {} 件",
            receipt.received,
            outcomes.join("，"),
            receipt.already_received,
            receipt.events
        ),
        crate::page::Lang::En => format!(
            "{name}: {} new ({}), {} received before, {} changes proposed",
            receipt.received,
            outcomes.join(", "),
            receipt.already_received,
            receipt.events
        ),
    };
    let problems =
        receipt.rejected.iter().map(|(line, _, reason)| format!("{name} 第{line}行 row {line}: {reason}")).collect();
    Ok(render(&feeds_page(&user, None, Some(done), problems).await?)?.into_response())
}

/// A received record as listed.
struct RecordRow {
    record: IncomingRecord,
    kind: String,
    outcome: String,
    name: String,
    date: String,
    review_href: Option<String>,
    event_href: Option<String>,
}

#[derive(Template)]
#[template(path = "feed_records.html")]
struct RecordsPage {
    page: Chrome,
    code: String,
    county: String,
    outcome: Option<String>,
    outcomes: Vec<(String, String)>,
    rows: Vec<RecordRow>,
}

#[derive(Debug, Deserialize)]
pub struct RecordsQuery {
    pub outcome: Option<String>,
}

/// The kinds this user's role may see (health feeds only to those who need them).
fn visible_kinds(user: &Scoped) -> Vec<FeedKind> {
    FeedKind::ALL.iter().copied().filter(|k| k.visible_to(user.user.role)).collect()
}

/// `/feeds/records/{code}`: records received for a county or community, newest first,
/// filtered by outcome (`?outcome=possible` is the review queue).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn records(
    State(state): State<AppState>,
    user: Viewer<Report>,
    NodeCode(code): NodeCode,
    Query(query): Query<RecordsQuery>,
) -> AppResult<Response> {
    if !user.scope.covers(&code) && !user.scope.nodes().iter().any(|n| code.contains(n)) {
        return Err(AppError::not_found("区划 Division"));
    }
    let county = code.at_level(DivisionLevel::County).ok_or_else(|| AppError::not_found("区划 Division"))?;
    let outcome = query.outcome.as_deref().filter(|o| !o.is_empty()).and_then(FeedOutcome::from_key);
    let list = user.linkage().records(&code, outcome, &visible_kinds(&user), 200).await?;
    if !list.is_empty() {
        let detail = format!("{} feed records listed", list.len());
        user.audit_read(&state, AuditAction::ReadHousehold, &format!("feeds/{code}"), county.as_str(), detail).await?;
    }
    let lang = user.lang;
    let rows = list
        .into_iter()
        .map(|r| RecordRow {
            kind: lang.label(r.kind).to_string(),
            outcome: lang.label(r.outcome).to_string(),
            name: r.record.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            date: r.record.as_ref().map(|f| f.occurred_on.to_string()).unwrap_or_default(),
            review_href: (r.outcome == FeedOutcome::Possible).then(|| format!("/feeds/review/{}/{}", r.county, r.id)),
            event_href: r.event_id.map(|e| format!("/events/{}/{e}", r.county)),
            record: r,
        })
        .collect();
    Ok(render(&RecordsPage {
        page: user.chrome("部门通报记录 Feed records"),
        code: code.to_string(),
        county: county.to_string(),
        outcome: outcome.map(|o| o.key().to_string()),
        outcomes: FeedOutcome::ALL.iter().map(|o| (o.key().to_string(), lang.label(*o).to_string())).collect(),
        rows,
    })?
    .into_response())
}

/// One field of the side-by-side comparison.
struct FieldRow {
    field: &'static str,
    incoming: String,
    registry: String,
    level: &'static str,
    weight: String,
}

/// A candidate as the review page shows it.
struct CandidateView {
    person_id: Uuid,
    probability: String,
    fields: Vec<FieldRow>,
}

#[derive(Template)]
#[template(path = "feed_review.html")]
struct ReviewPage {
    page: Chrome,
    item: ReviewItem,
    kind: String,
    outcome: String,
    candidates: Vec<CandidateView>,
    pending: bool,
}

fn masked_id(number: Option<&str>) -> String {
    match number {
        None | Some("") => "—".into(),
        Some(n) => match jiceng_domain::registry::IdNumber::parse(n) {
            Ok(id) => id.masked(),
            // A mistyped number is shown as typed but for its middle, like a valid one.
            Err(_) => {
                let chars: Vec<char> = n.chars().collect();
                let keep = chars.len().min(4);
                let tail: String = chars[chars.len().saturating_sub(keep)..].iter().collect();
                format!(
                    "{}{}{tail}",
                    chars.iter().take(keep).collect::<String>(),
                    "*".repeat(chars.len().saturating_sub(2 * keep))
                )
            }
        },
    }
}

/// The record's and each candidate's values field by field, with the level the pair
/// compared at and its match weight.
fn candidate_views(item: &ReviewItem, lang: crate::page::Lang) -> Vec<CandidateView> {
    use jiceng_domain::linkage::Field;
    let record = item.record.record.as_ref();
    let sex = |s: Option<jiceng_domain::registry::Sex>| s.map(|s| lang.label(s).to_string()).unwrap_or_default();
    let incoming = |f: Field| -> String {
        let Some(r) = record else { return String::new() };
        match f {
            Field::IdNumber => masked_id(r.id_number.as_deref()),
            Field::Name => r.name.clone(),
            Field::Sex => sex(r.sex),
            Field::BirthDate => r.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            Field::Community => r.community.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            Field::Phone => r.phone.clone().unwrap_or_default(),
        }
    };
    item.candidates
        .iter()
        .map(|c| CandidateView {
            person_id: c.person_id,
            probability: format!("{:.1}%", c.probability * 100.0),
            fields: jiceng_domain::linkage::FIELDS
                .iter()
                .zip(&c.evidence)
                .map(|(&f, e)| FieldRow {
                    field: lang.pick(e.field_zh, e.field_en),
                    incoming: incoming(f),
                    registry: match f {
                        Field::IdNumber => masked_id(c.id_number.as_deref()),
                        Field::Name => c.name.clone(),
                        Field::Sex => sex(c.sex),
                        Field::BirthDate => c.birth_date.to_string(),
                        Field::Community => c.community.clone(),
                        Field::Phone => c.phone.clone().unwrap_or_default(),
                    },
                    level: lang.pick(e.level_zh, e.level_en),
                    weight: format!("{:+.1}", e.weight),
                })
                .collect(),
        })
        .collect()
}

async fn review_item(user: &Scoped, county: &DivisionCode, id: Uuid) -> AppResult<ReviewItem> {
    let item = user.linkage().review_item(county, id).await?;
    // Health feeds read like unknown records to roles that may not see them.
    if !item.record.kind.visible_to(user.user.role) {
        return Err(AppError::not_found("通报记录 Feed record"));
    }
    Ok(item)
}

/// `/feeds/review/{county}/{id}`: the record beside each candidate, with the evidence for
/// and against, field by field, and each comparison's match weight.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn review(State(state): State<AppState>, user: Viewer<Report>, key: RecordKey) -> AppResult<Response> {
    let item = review_item(&user, &key.county, key.id).await?;
    user.audit(
        &state,
        AuditRecord {
            action: AuditAction::ReadResident,
            target: &key.target("incoming"),
            county: key.county.as_str(),
            purpose: Some(AccessPurpose::RecordChange),
            detail: format!("{} record and {} candidates compared", item.record.kind.key(), item.candidates.len()),
        },
    )
    .await?;
    let lang = user.lang;
    Ok(render(&ReviewPage {
        page: user.chrome("疑似匹配审核 Review a possible match"),
        kind: lang.label(item.record.kind).to_string(),
        outcome: lang.label(item.record.outcome).to_string(),
        pending: item.record.outcome == FeedOutcome::Possible,
        candidates: candidate_views(&item, lang),
        item,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    /// The accepted candidate's id, or `none`.
    pub person: String,
}

/// A reviewer accepts one candidate (proposing the record's change to the chain) or none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(user: Editor<Report>, key: RecordKey, Form(form): Form<DecisionForm>) -> AppResult<Response> {
    let item = review_item(&user, &key.county, key.id).await?;
    user.require_on(Permission::ReportEvents, &key.county).or_else(|_| {
        let community = item.record.community.as_deref().and_then(|c| DivisionCode::parse(c).ok());
        match community {
            Some(c) => user.require_on(Permission::ReportEvents, &c),
            None => Err(AppError::Forbidden),
        }
    })?;
    let person = match form.person.as_str() {
        "none" => None,
        text => {
            Some(Uuid::parse_str(text).map_err(|_| AppError::BadRequest("请选择候选人 / choose a candidate".into()))?)
        }
    };
    let actor = Actor { username: &user.user.username, role: user.user.role };
    let event = user.linkage().decide_possible(&key.county, key.id, person, actor, today()).await?;
    Ok(match event {
        Some(e) => Redirect::to(&format!("/events/{}/{e}", key.county)),
        None => Redirect::to(&format!("/feeds/review/{}/{}", key.county, key.id)),
    }
    .into_response())
}

#[derive(Template)]
#[template(path = "feed_thresholds.html")]
struct ThresholdsPage {
    page: Chrome,
    county: String,
    rows: Vec<ThresholdRow>,
    match_threshold: f64,
    review_threshold: f64,
    chart: String,
}

impl ThresholdsPage {
    fn share(&self, v: &Option<f64>) -> String {
        v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into())
    }
}

/// `/feeds/thresholds/{county}`: what each threshold would give on the decisions made.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn thresholds(
    State(state): State<AppState>,
    user: Viewer<Report>,
    NodeCode(county): NodeCode,
) -> AppResult<Response> {
    // A district setting: shown to those whose scope covers the county.
    if county.level() != DivisionLevel::County || !user.scope.covers(&county) {
        return Err(AppError::not_found("区县 County"));
    }
    let rows = user.linkage().threshold_table(&county).await?;
    let bars: Vec<crate::reporting::charts::Bar> = rows
        .iter()
        .map(|r| crate::reporting::charts::Bar {
            label: format!("{:.2}", r.threshold),
            values: vec![
                (r.precision.unwrap_or(0.0) * 1000.0).round() as i64,
                (r.recall.unwrap_or(0.0) * 1000.0).round() as i64,
            ],
        })
        .collect();
    let chart = crate::reporting::charts::grouped_bars(
        user.lang.pick("各阈值的精确率与召回率（‰）", "Precision and recall per threshold (‰)"),
        &[user.lang.pick("精确率", "precision"), user.lang.pick("召回率", "recall")],
        &bars,
        1000,
    );
    Ok(render(&ThresholdsPage {
        page: user.chrome("匹配阈值 Linkage thresholds"),
        county: county.to_string(),
        rows,
        match_threshold: state.linkage.match_threshold,
        review_threshold: state.linkage.review_threshold,
        chart,
    })?
    .into_response())
}
