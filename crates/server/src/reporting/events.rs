//! `/events`: the review queue of each level (oldest first, overdue marked, bulk
//! decisions), the report form, and an event's page with its history, evidence and the
//! decision or resubmission it waits for.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, Permission, Role};
use jiceng_domain::registry::{
    Ethnicity, IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus,
    ResidentFacts, Sex,
};
use jiceng_domain::reporting::{
    BirthReport, EventAction, EventDetails, EventKind, EventState, Member, ReviewLevel, birth_details,
};
use jiceng_store::StoreError;
use jiceng_store::reporting::{Actor, ChangeEvent, NewEvent};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::form::{Drawing, Field, FieldErrors, Values, options, value};
use crate::org::auth::{AuditRecord, CurrentUser};
use crate::org::guard::{Editor, PartKey, RecordKey, Report, Scoped, View, Viewer, parse_code};
use crate::page::{Chrome, render};
use crate::registry::pages::today;

fn actor(user: &CurrentUser) -> Actor<'_> {
    Actor { username: &user.user.username, role: user.user.role }
}

/// Roles that report events (everyone in the chain).
fn may_report(user: &CurrentUser) -> bool {
    user.user.role.may(Permission::ReportEvents)
}

/// The state a role's queue shows by default.
fn default_state(role: Role) -> EventState {
    match ReviewLevel::of_role(role) {
        Some(ReviewLevel::Community) => EventState::Submitted,
        Some(ReviewLevel::Street) => EventState::Reviewed,
        Some(ReviewLevel::District) => EventState::Confirmed,
        None if role == Role::Administrator => EventState::Submitted,
        None => EventState::Returned,
    }
}

fn can_decide(user: &CurrentUser, state: EventState) -> bool {
    match user.user.role {
        Role::Administrator => state.awaiting().is_some(),
        role => ReviewLevel::of_role(role).is_some_and(|l| state.awaiting() == Some(l)),
    }
}

pub struct EventRow {
    pub key: String,
    pub href: String,
    pub kind: &'static str,
    pub subject: String,
    pub community: String,
    pub occurred: String,
    pub reported: String,
    pub due: String,
    pub overdue: bool,
    pub urgent: bool,
    pub note: String,
}

pub struct QueueTab {
    pub href: String,
    pub label: &'static str,
    pub count: u64,
    pub overdue: u64,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "events.html")]
struct QueuePage {
    page: Chrome,
    node: String,
    state: String,
    tabs: Vec<QueueTab>,
    rows: Vec<EventRow>,
    can_decide: bool,
    notice: Option<String>,
    notifications: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    pub node: Option<String>,
    pub state: Option<String>,
}

fn home_node(user: &CurrentUser, node: Option<&str>) -> AppResult<DivisionCode> {
    match node.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => parse_code(n),
        None => {
            user.user.scopes.first().cloned().ok_or_else(|| AppError::BadRequest("请指定区划 / choose a region".into()))
        }
    }
}

async fn subject_names(user: &Scoped, events: &[ChangeEvent]) -> AppResult<HashMap<Uuid, String>> {
    let registry = user.registry();
    let mut names = HashMap::new();
    for e in events {
        if let Some(id) = e.resident_id
            && let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id)
        {
            let name = match registry.resident(&e.county, id).await? {
                Some(v) => v.facts.name.to_string(),
                None => match registry.resident_history(&e.county, id).await?.first() {
                    Some(v) => v.facts.name.to_string(),
                    None => "—".into(),
                },
            };
            slot.insert(name);
        }
    }
    Ok(names)
}

fn subject_of(e: &ChangeEvent, names: &HashMap<Uuid, String>) -> String {
    e.newcomer_name()
        .map(str::to_string)
        .or_else(|| e.resident_id.and_then(|id| names.get(&id).cloned()))
        .unwrap_or_else(|| "—".into())
}

async fn queue_page(
    state: &AppState,
    user: &Scoped,
    node: Option<&str>,
    wanted: Option<&str>,
    notice: Option<String>,
) -> AppResult<Response> {
    let node = home_node(user, node)?;
    let shown = wanted.and_then(EventState::from_key).unwrap_or_else(|| default_state(user.user.role));
    let reporting = user.reporting();
    let day = today();
    let events = reporting.queue(&node, &[shown], 300).await?;
    let names = subject_names(user, &events).await?;
    if !events.is_empty() {
        user.audit(
            state,
            AuditRecord {
                action: AuditAction::ReadResident,
                target: &format!("events/{node}/{}", shown.key()),
                county: node
                    .at_level(jiceng_domain::org::DivisionLevel::County)
                    .as_ref()
                    .map(DivisionCode::as_str)
                    .unwrap_or(""),
                purpose: Some(AccessPurpose::RecordChange),
                detail: format!("{} events listed", events.len()),
            },
        )
        .await?;
    }
    let lang = user.lang;
    let rows = events
        .iter()
        .map(|e| EventRow {
            key: format!("{}:{}", e.county, e.id),
            href: format!("/events/{}/{}", e.county, e.id),
            kind: lang.label(e.kind),
            subject: subject_of(e, &names),
            community: e.community.to_string(),
            occurred: e.occurred_on.to_string(),
            reported: e.reported_on.to_string(),
            due: e.due_on.map(|d| d.to_string()).unwrap_or_default(),
            overdue: e.overdue(day),
            urgent: e.urgent,
            note: e.return_reason.clone().unwrap_or_default(),
        })
        .collect();
    let mut tabs = Vec::new();
    for (s, n, overdue) in reporting.queue_counts(&node, day).await? {
        tabs.push(QueueTab {
            href: format!("/events?node={node}&state={}", s.key()),
            label: lang.label(s),
            count: n,
            overdue,
            current: s == shown,
        });
    }
    tabs.push(QueueTab {
        href: format!("/events?node={node}&state=accepted"),
        label: lang.label(EventState::Accepted),
        count: 0,
        overdue: 0,
        current: shown == EventState::Accepted,
    });
    let notifications = reporting
        .notifications(&user.user.scopes, user.user.role)
        .await?
        .into_iter()
        .map(|n| (lang.text(&n.title).into_owned(), n.link))
        .collect();
    Ok(render(&QueuePage {
        page: user.chrome("变动事件 Events"),
        node: node.to_string(),
        state: shown.key().to_string(),
        tabs,
        rows,
        can_decide: can_decide(user, shown),
        notice,
        notifications,
    })?
    .into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn queue(State(state): State<AppState>, user: Viewer, Query(q): Query<QueueQuery>) -> AppResult<Response> {
    queue_page(&state, &user, q.node.as_deref(), q.state.as_deref(), None).await
}

/// Bulk decision on the queue: the checked events approved or returned (one reason).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide_many(
    State(state): State<AppState>,
    user: Editor<Report>,
    Form(values): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let get = |name: &str| values.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
    let action =
        EventAction::from_key(get("action")).ok_or_else(|| AppError::BadRequest("未知操作 / unknown action".into()))?;
    let reason = Some(get("reason")).filter(|r| !r.is_empty());
    let reporting = user.reporting();
    let (mut done, mut refused) = (0, Vec::new());
    for (_, key) in values.iter().filter(|(k, _)| k == "id") {
        let Some((county, id)) = key.split_once(':') else { continue };
        let (Ok(county), Ok(id)) = (DivisionCode::parse(county), Uuid::parse_str(id)) else { continue };
        match reporting.decide(&county, id, action, reason, actor(&user), today()).await {
            Ok(_) => {
                done += 1;
            }
            // Ids come from the user's own queue: one outside the scope is tampering.
            Err(e @ StoreError::NotFound { .. }) => return Err(e.into()),
            Err(StoreError::Invalid(message)) => refused.push(message),
            Err(StoreError::Retroactive { valid_from, current_from }) => {
                refused.push(StoreError::Retroactive { valid_from, current_from }.to_string())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut notice = format!("已处理 {done} 件 / {done} done");
    if !refused.is_empty() {
        notice.push_str(&format!("；未处理 {} 件 / {} refused: {}", refused.len(), refused.len(), refused.join("; ")));
    }
    queue_page(&state, &user, Some(get("node")), Some(get("state")), Some(notice)).await
}

// ---- the report form ----

#[derive(Template)]
#[template(path = "event_new.html")]
struct NewEventPage {
    page: Chrome,
    kind: String,
    kind_label: String,
    subject: String,
    hidden: Vec<(&'static str, String)>,
    fields: Vec<Field>,
    error: Option<String>,
    kinds: Vec<(String, String)>,
}

async fn form_page(state: &AppState, user: &Scoped, values: &Values, error: Option<String>) -> AppResult<Response> {
    if !may_report(user) {
        return Err(AppError::Forbidden);
    }
    let lang = user.lang;
    // The event form marks no single field: the store names what is wrong above it.
    let form = Drawing { values, errors: &FieldErrors::new(), lang };
    let kind = EventKind::from_key(value(values, "kind"));
    let mut hidden = vec![("county", value(values, "county").to_string())];
    let mut subject = String::new();
    let county = DivisionCode::parse(value(values, "county")).ok();
    if let (Some(county), Ok(id)) = (&county, Uuid::parse_str(value(values, "resident"))) {
        let v = user.resident(county, id).await?;
        user.audit(
            state,
            AuditRecord {
                action: AuditAction::ReadResident,
                target: &format!("resident/{county}/{id}"),
                county: county.as_str(),
                purpose: Some(AccessPurpose::RecordChange),
                detail: "report form".into(),
            },
        )
        .await?;
        subject = format!("{}（{}）", v.facts.name, v.community);
        hidden.push(("resident", id.to_string()));
    }
    if let (Some(county), Ok(id)) = (&county, Uuid::parse_str(value(values, "household"))) {
        let h = user.household(county, id).await?;
        subject = format!("{} {}（{}）", lang.pick("户", "household"), h.household_no, h.location.community);
        hidden.push(("household", id.to_string()));
    }
    let mut fields = vec![
        form.input("occurred_on", "发生日期 Date it happened", "date"),
        form.input("urgent", "紧急，立即通知街道 Urgent: notify the street office now", "checkbox"),
        form.input("evidence", "说明与证明材料 Evidence (certificate numbers, notes)", "textarea"),
    ];
    let provinces: Vec<(String, String)> =
        state.store.divisions().children(None).await?.into_iter().map(|d| (d.code.to_string(), d.name)).collect();
    match kind {
        Some(EventKind::Birth) => {
            fields.push(form.input("name", "姓名 Child's name", "text"));
            fields.push(form.coded("sex", "性别 Sex", Sex::ALL, Sex::key));
            fields.push(form.choice(
                "birth_order",
                "孩次 Birth order",
                vec![
                    ("1".into(), lang.pick("一孩", "first").into()),
                    ("2".into(), lang.pick("二孩", "second").into()),
                    ("3".into(), lang.pick("三孩及以上", "third or later").into()),
                ],
            ));
        }
        Some(EventKind::MoveIn) => {
            fields.push(form.input("name", "姓名 Name", "text"));
            fields.push(form.coded("sex", "性别 Sex", Sex::ALL, Sex::key));
            fields.push(form.input("birth_date", "出生日期 Date of birth", "date"));
            fields.push(form.input("id_number", "公民身份号码 ID number (if known)", "text"));
            fields.push(form.input(
                "registered_residence",
                "户籍地区划代码 Registered residence (county code)",
                "text",
            ));
            fields.push(form.input("phone", "联系电话 Phone", "tel"));
            fields.push(form.coded(
                "relationship",
                "与户主关系 Relationship to head",
                Relationship::ALL,
                Relationship::key,
            ));
            fields.push(form.coded(
                "residence_status",
                "人口类型 Residence status",
                ResidenceStatus::ALL,
                ResidenceStatus::key,
            ));
            fields.push(form.coded(
                "marital_status",
                "婚姻状况 Marital status",
                MaritalStatus::ALL,
                MaritalStatus::key,
            ));
        }
        Some(EventKind::MoveOut) => fields.push(form.choice("destination", "迁往省份 Province moved to", provinces)),
        Some(EventKind::MoveWithin) => {
            fields.push(form.input("household_no", "迁入户的户编号 Number of the household moved into", "text"))
        }
        Some(EventKind::StatusChange) => fields.push(form.coded(
            "status",
            "新的人口类型 New residence status",
            ResidenceStatus::ALL,
            ResidenceStatus::key,
        )),
        _ => {}
    }
    let resident_kinds = [
        EventKind::Death,
        EventKind::Marriage,
        EventKind::Divorce,
        EventKind::MoveOut,
        EventKind::MoveWithin,
        EventKind::StatusChange,
    ];
    let kinds = if values.contains_key("resident") {
        options(&resident_kinds, EventKind::key, lang)
    } else {
        options(&[EventKind::Birth, EventKind::MoveIn], EventKind::key, lang)
    };
    Ok(render(&NewEventPage {
        page: user.chrome("报告变动 Report a change"),
        kind: kind.map(|k| k.key().to_string()).unwrap_or_default(),
        kind_label: kind.map(|k| lang.label(k).to_string()).unwrap_or_default(),
        subject,
        hidden,
        fields,
        error,
        kinds,
    })?
    .into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn new_event_page(
    State(state): State<AppState>,
    user: Viewer,
    Query(values): Query<Values>,
) -> AppResult<Response> {
    let mut values = values;
    values.entry("occurred_on".into()).or_insert_with(|| today().to_string());
    form_page(&state, &user, &values, None).await
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn date_of(values: &Values, name: &str, label: &str) -> Result<time::Date, StoreError> {
    time::Date::parse(value(values, name), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| invalid(format!("{label}应为 YYYY-MM-DD / {name} must be YYYY-MM-DD")))
}

async fn load_household(
    registry: &jiceng_store::registry::Registry<'_>,
    county: &DivisionCode,
    id: Option<Uuid>,
) -> Result<jiceng_store::registry::HouseholdVersion, StoreError> {
    let id = id.ok_or_else(|| invalid("缺少户 / the household is missing"))?;
    registry.household(county, id).await?.ok_or_else(|| invalid("户不存在 / household not found"))
}

/// Reads the form into an event, with the registry's help for the household and mother.
async fn event_from_form(user: &Scoped, values: &Values) -> Result<NewEvent, AppError> {
    let registry = user.registry();
    let county = parse_code(value(values, "county"))?;
    let kind = EventKind::from_key(value(values, "kind"))
        .ok_or_else(|| AppError::BadRequest("请选择事件类型 / choose the kind of event".into()))?;
    let occurred_on = date_of(values, "occurred_on", "发生日期")?;
    let resident_id = Uuid::parse_str(value(values, "resident")).ok();
    let household_id = Uuid::parse_str(value(values, "household")).ok();
    let name = || PersonName::parse(value(values, "name")).map_err(|e| invalid(e.to_string()));
    let sex = || Sex::from_key(value(values, "sex")).ok_or_else(|| invalid("请选择性别 / choose the sex"));
    let details = match kind {
        EventKind::Birth => {
            let household = load_household(&registry, &county, household_id).await?;
            let members = registry.household_members(&county, household.household_id).await?;
            let members: Vec<Member<'_>> =
                members.iter().map(|m| Member { resident_id: m.resident_id, facts: &m.facts }).collect();
            let report = BirthReport {
                name: name()?,
                sex: sex()?,
                born_on: occurred_on,
                identity: None,
                ethnicity: None,
                relationship: None,
                birth_order: value(values, "birth_order").parse::<u8>().ok(),
            };
            birth_details(report, household.household_id, &household.location.community, &members)
        }
        EventKind::MoveIn => {
            let household = load_household(&registry, &county, household_id).await?;
            let birth_date = date_of(values, "birth_date", "出生日期")?;
            let identity = match value(values, "id_number") {
                "" => Identity::Missing(IdMissingReason::NotYetIssued),
                text => Identity::Number(IdNumber::parse(text).map_err(|e| invalid(e.to_string()))?),
            };
            let registered_residence = DivisionCode::parse(value(values, "registered_residence"))
                .map_err(|e| invalid(format!("户籍地 / registered residence: {e}")))?;
            let phone = match value(values, "phone") {
                "" => None,
                text => Some(Phone::parse(text).map_err(|e| invalid(e.to_string()))?),
            };
            let newcomer = ResidentFacts {
                name: name()?,
                sex: sex()?,
                birth_date,
                identity,
                ethnicity: Ethnicity::HAN,
                phone,
                registered_residence,
                household_id: household.household_id,
                relationship: Relationship::from_key(value(values, "relationship")).unwrap_or(Relationship::Other),
                residence_status: ResidenceStatus::from_key(value(values, "residence_status"))
                    .unwrap_or(ResidenceStatus::Inflow),
                arrival_date: Some(occurred_on),
                marital_status: MaritalStatus::from_key(value(values, "marital_status"))
                    .unwrap_or(MaritalStatus::Unspecified),
            };
            EventDetails::MoveIn { newcomer, origin: None }
        }
        EventKind::Death => EventDetails::Death,
        EventKind::Marriage => EventDetails::Marriage { partner: None },
        EventKind::Divorce => EventDetails::Divorce { partner: None },
        EventKind::MoveOut => {
            EventDetails::MoveOut { destination: DivisionCode::parse(value(values, "destination")).ok() }
        }
        EventKind::MoveWithin => {
            let target = registry
                .household_by_number(&county, value(values, "household_no"))
                .await?
                .ok_or_else(|| invalid("没有这个户编号 / no household with that number"))?;
            EventDetails::MoveWithin { household_id: target.household_id }
        }
        EventKind::StatusChange => EventDetails::StatusChange {
            status: ResidenceStatus::from_key(value(values, "status"))
                .ok_or_else(|| invalid("请选择人口类型 / choose the status"))?,
        },
        EventKind::Correction => {
            return Err(AppError::BadRequest(
                "信息更正请用修改页或接口 / corrections go through the edit page or the API".into(),
            ));
        }
    };
    Ok(NewEvent {
        county,
        resident_id: if details.adds_person() { None } else { resident_id },
        occurred_on,
        urgent: !value(values, "urgent").is_empty(),
        evidence: value(values, "evidence").to_string(),
        details,
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn submit_event(
    State(state): State<AppState>,
    user: Editor<Report>,
    Form(values): Form<Values>,
) -> AppResult<Response> {
    let outcome = match event_from_form(&user, &values).await {
        Ok(event) => user
            .reporting()
            .submit(&event, actor(&user), today())
            .await
            .map(|id| (event.county, id))
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((county, id)) => Ok(Redirect::to(&format!("/events/{county}/{id}")).into_response()),
        Err(AppError::Store(StoreError::Invalid(message))) | Err(AppError::BadRequest(message)) => {
            form_page(&state, &user, &values, Some(message)).await
        }
        Err(AppError::Store(e @ StoreError::Retroactive { .. })) => {
            form_page(&state, &user, &values, Some(e.to_string())).await
        }
        Err(e) => Err(e),
    }
}

// ---- one event ----

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    page: Chrome,
    base: String,
    title: String,
    facts: Vec<(String, String)>,
    steps: Vec<String>,
    attachments: Vec<(String, String, u64)>,
    can_decide: bool,
    can_resubmit: bool,
    can_attach: bool,
    occurred_on: String,
    evidence: String,
    error: Option<String>,
}

async fn event_page(
    state: &AppState,
    user: &Scoped,
    county: &DivisionCode,
    id: Uuid,
    error: Option<String>,
) -> AppResult<Response> {
    let reporting = user.reporting();
    let event = user.event(county, id).await?;
    let names = subject_names(user, std::slice::from_ref(&event)).await?;
    user.audit(
        state,
        AuditRecord {
            action: AuditAction::ReadResident,
            target: &format!("event/{county}/{id}"),
            county: county.as_str(),
            purpose: Some(AccessPurpose::RecordChange),
            detail: String::new(),
        },
    )
    .await?;
    // The street office has now seen an urgent event it was notified of.
    reporting.mark_read(county, &format!("/events/{county}/{id}"), user.user.role).await?;
    let lang = user.lang;
    let pick = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    let mut facts = vec![
        (pick("类型", "Kind"), lang.label(event.kind).to_string()),
        (pick("状态", "State"), lang.label(event.state).to_string()),
        (pick("对象", "About"), subject_of(&event, &names)),
        (pick("社区", "Community"), event.community.to_string()),
        (pick("发生日期", "Happened on"), event.occurred_on.to_string()),
        (pick("上报", "Reported"), format!("{} {}", event.reported_on, event.reported_by)),
        (
            pick("按时上报", "Reported on time"),
            if event.timely { pick("是", "yes") } else { pick("否（逾期）", "no (late)") },
        ),
    ];
    if let Some(due) = event.due_on {
        let overdue = if event.overdue(today()) { pick("（已逾期）", " (overdue)") } else { String::new() };
        facts.push((pick("本级审核期限", "Decision due"), format!("{due}{overdue}")));
    }
    if event.urgent {
        facts.push((pick("紧急", "Urgent"), pick("是，已通知街道", "yes; the street office was notified")));
    }
    match &event.details {
        EventDetails::Birth { child, birth_order, .. } => {
            facts.push((pick("新生儿", "Newborn"), format!("{} {}", child.name, lang.label(child.sex))));
            facts.push((pick("孩次", "Birth order"), birth_order.to_string()));
        }
        EventDetails::MoveIn { newcomer, .. } => {
            facts.push((
                pick("迁入人员", "Newcomer"),
                format!("{} {} {}", newcomer.name, lang.label(newcomer.sex), newcomer.birth_date),
            ));
            facts.push((pick("户籍地", "Registered residence"), newcomer.registered_residence.to_string()));
        }
        EventDetails::MoveOut { destination: Some(d) } => facts.push((pick("迁往", "Moved to"), d.to_string())),
        EventDetails::StatusChange { status } => {
            facts.push((pick("新人口类型", "New status"), lang.label(*status).to_string()))
        }
        _ => {}
    }
    if !event.evidence.is_empty() {
        facts.push((pick("说明", "Evidence"), event.evidence.clone()));
    }
    if let Some(reason) = &event.return_reason {
        facts.push((pick("退回原因", "Returned because"), reason.clone()));
    }
    if let Some(m) = event.counted_in {
        let note = match event.adjusts {
            Some(a) => format!("{m}（{} {a}）", pick("补报，原属", "adjustment for")),
            None => m.to_string(),
        };
        facts.push((pick("计入统计期", "Counted in"), note));
    }
    let steps = reporting
        .steps(county, id)
        .await?
        .into_iter()
        .map(|s| {
            format!(
                "{} {} {}：{} → {}{}",
                s.at.date(),
                s.actor,
                lang.label(s.action),
                lang.label(s.from),
                lang.label(s.to),
                s.reason.map(|r| format!("（{r}）")).unwrap_or_default()
            )
        })
        .collect();
    let attachments = reporting
        .attachments(county, id)
        .await?
        .into_iter()
        .map(|a| (format!("/events/{county}/{id}/attachments/{}", a.id), a.file_name, a.size))
        .collect();
    Ok(render(&EventPage {
        page: user.chrome(&format!("{} · 事件 Event", lang.label(event.kind))),
        base: format!("/events/{county}/{id}"),
        title: lang.label(event.kind).to_string(),
        facts,
        steps,
        attachments,
        can_decide: can_decide(user, event.state),
        can_resubmit: event.state == EventState::Returned && may_report(user),
        can_attach: event.state != EventState::Accepted && may_report(user),
        occurred_on: event.occurred_on.to_string(),
        evidence: event.evidence.clone(),
        error,
    })?
    .into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn event(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    event_page(&state, &user, &county, id, None).await
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide_one(
    State(state): State<AppState>,
    user: Editor<Report>,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<DecisionForm>,
) -> AppResult<Response> {
    let action =
        EventAction::from_key(&form.action).ok_or_else(|| AppError::BadRequest("未知操作 / unknown action".into()))?;
    let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
    match user.reporting().decide(&county, id, action, reason, actor(&user), today()).await {
        Ok(_) => Ok(Redirect::to(&format!("/events/{county}/{id}")).into_response()),
        Err(e @ (StoreError::Invalid(_) | StoreError::Retroactive { .. })) => {
            event_page(&state, &user, &county, id, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResubmitForm {
    pub occurred_on: String,
    #[serde(default)]
    pub evidence: String,
}

/// Sends a returned event up again, with its date and evidence corrected.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resubmit(
    State(state): State<AppState>,
    user: Editor<Report>,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<ResubmitForm>,
) -> AppResult<Response> {
    let reporting = user.reporting();
    let event = user.event(&county, id).await?;
    let mut values = Values::new();
    values.insert("occurred_on".into(), form.occurred_on.clone());
    let occurred_on = match date_of(&values, "occurred_on", "发生日期") {
        Ok(d) => d,
        Err(e) => return event_page(&state, &user, &county, id, Some(e.to_string())).await,
    };
    let mut details = event.details.clone();
    if let EventDetails::Birth { child, .. } = &mut details {
        child.birth_date = occurred_on;
    }
    let edited = NewEvent {
        county: county.clone(),
        resident_id: event.resident_id,
        occurred_on,
        urgent: event.urgent,
        evidence: form.evidence.clone(),
        details,
    };
    match reporting.resubmit(id, &edited, actor(&user), today()).await {
        Ok(()) => Ok(Redirect::to(&format!("/events/{county}/{id}")).into_response()),
        Err(e @ (StoreError::Invalid(_) | StoreError::Retroactive { .. })) => {
            event_page(&state, &user, &county, id, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Evidence files: 5 MB each.
pub const ATTACHMENT_LIMIT: usize = 6 << 20;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn attach(
    State(state): State<AppState>,
    user: Editor<View>,
    RecordKey { county, id }: RecordKey,
    request: axum::extract::Request,
) -> AppResult<Response> {
    if !may_report(&user) {
        return Err(AppError::Forbidden);
    }
    // The event must be visible before the upload is read.
    if user.reporting().event(&county, id).await?.is_none() {
        return Err(AppError::not_found("事件 Event"));
    }
    let mut form = <Multipart as axum::extract::FromRequest<AppState>>::from_request(request, &state)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.to_string());
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name().unwrap_or("") == "file" {
            let name = field.file_name().unwrap_or("attachment").to_string();
            let media = field.content_type().unwrap_or("application/octet-stream").to_string();
            file = Some((name, media, field.bytes().await.map_err(bad)?));
        }
    }
    let Some((name, media, bytes)) = file else {
        return Err(AppError::BadRequest("请选择文件 / choose a file".into()));
    };
    match user.reporting().attach(&county, id, &name, &media, &bytes, actor(&user)).await {
        Ok(_) => Ok(Redirect::to(&format!("/events/{county}/{id}")).into_response()),
        Err(StoreError::Invalid(message)) => event_page(&state, &user, &county, id, Some(message)).await,
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn attachment(
    State(state): State<AppState>,
    user: Viewer,
    PartKey(RecordKey { county, id }, attachment): PartKey,
) -> AppResult<Response> {
    let (name, _media, bytes) = user
        .reporting()
        .attachment(&county, id, attachment)
        .await?
        .ok_or_else(|| AppError::not_found("附件 Attachment"))?;
    user.audit(
        &state,
        AuditRecord {
            action: AuditAction::ReadResident,
            target: &format!("event/{county}/{id}/attachment/{attachment}"),
            county: county.as_str(),
            purpose: Some(AccessPurpose::RecordChange),
            detail: name.clone(),
        },
    )
    .await?;
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    // Served as a download, never rendered in the page's origin.
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{ascii}\"")),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// For the resident page: the events about this person not yet accepted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn pending_lines(user: &Scoped, county: &DivisionCode, resident: Uuid) -> AppResult<Vec<(String, String)>> {
    if !user.user.role.may(Permission::ViewRegistry) {
        return Ok(Vec::new());
    }
    Ok(user
        .reporting()
        .pending_for_resident(county, resident)
        .await?
        .into_iter()
        .map(|e| {
            (
                format!("{} {} · {}", user.lang.label(e.kind), e.occurred_on, user.lang.label(e.state)),
                format!("/events/{}/{}", e.county, e.id),
            )
        })
        .collect())
}

/// Reports a death or departure through the chain (the record page's form and the API):
/// the record ends only when the district accepts.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn report_exit(
    user: &Scoped,
    county: &DivisionCode,
    resident: Uuid,
    date: time::Date,
    reason: jiceng_domain::registry::ExitReason,
) -> AppResult<Uuid> {
    let details = match reason {
        jiceng_domain::registry::ExitReason::Died => EventDetails::Death,
        jiceng_domain::registry::ExitReason::MovedAway => EventDetails::MoveOut { destination: None },
    };
    let event = NewEvent {
        county: county.clone(),
        resident_id: Some(resident),
        occurred_on: date,
        urgent: false,
        evidence: String::new(),
        details,
    };
    submit_checked(user, &event).await
}

/// Submits an event in the user's scope and audits it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn submit_checked(user: &Scoped, event: &NewEvent) -> AppResult<Uuid> {
    if !may_report(user) {
        return Err(AppError::Forbidden);
    }
    Ok(user.reporting().submit(event, actor(user), today()).await?)
}
