//! Recording changes: editing a resident, registering a newborn, recording a death or
//! departure. Each form carries the session's CSRF token, shows errors next to the
//! field they concern, and every change becomes a new version (and an audit entry).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::Permission;
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::registry::{
    Ethnicity, ExitReason, IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship,
    ResidenceStatus, ResidentFacts, Sex,
};
use jiceng_domain::reporting::{BirthReport, EventDetails, Member, birth_details};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::parse_date;
use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::form::{Checker, Drawing, Field, FieldErrors, Values, ethnicity_options, value};
use crate::org::auth::CurrentUser;
use crate::org::guard::{Audit, Editor, RecordKey, Viewer};
use crate::page::{Chrome, Lang, render};

#[derive(Template)]
#[template(path = "resident_edit.html")]
struct RecordForm {
    page: Chrome,
    heading: &'static str,
    heading_en: &'static str,
    action: String,
    error: Option<String>,
    fields: Vec<Field>,
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn edit_fields(form: &Drawing) -> Vec<Field> {
    vec![
        form.input("name", "姓名 Name", ""),
        form.input("phone", "联系电话 Phone", "tel"),
        form.coded("marital_status", "婚姻状况 Marital status", MaritalStatus::ALL, MaritalStatus::key),
        form.coded("residence_status", "人口类型 Residence status", ResidenceStatus::ALL, ResidenceStatus::key),
        form.input("arrival_date", "来本地日期 Arrived (YYYY-MM-DD)", "date"),
        form.choice("ethnicity", "民族 Ethnicity", ethnicity_options(form.lang)),
        form.coded("relationship", "与户主关系 Relationship to head", Relationship::ALL, Relationship::key),
        form.input("valid_from", "变更生效日期 Effective from", "date"),
    ]
}

fn edit_form(
    user: &CurrentUser,
    action: String,
    values: &Values,
    errors: &FieldErrors,
    error: Option<String>,
) -> RecordForm {
    RecordForm {
        page: user.chrome("修改居民信息 Edit resident"),
        heading: "修改居民信息",
        heading_en: "Edit resident",
        action,
        error,
        fields: edit_fields(&Drawing { values, errors, lang: user.lang }),
    }
}

/// What a refused form says above its marked fields.
const MARKED: &str = "请修改标出的字段 / please correct the marked fields";

/// The form, to fill in.
fn shown(form: &RecordForm) -> AppResult<Response> {
    Ok(render(form)?.into_response())
}

/// The form again with what was wrong marked (400).
fn refused(form: &RecordForm) -> AppResult<Response> {
    Ok((StatusCode::BAD_REQUEST, render(form)?).into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn edit_resident_page(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    let current = user.resident(&county, id).await?;
    user.require_on(Permission::EditRegistry, &current.community)?;
    // The form is filled with the person's name and phone.
    let target = format!("resident/{county}/{id}");
    user.audit_read(&state, AuditAction::ReadResident, &target, county.as_str(), "edit form".into()).await?;
    let f = &current.facts;
    let values = defaults(&[
        ("name", f.name.to_string()),
        ("phone", f.phone.as_ref().map(|p| p.to_string()).unwrap_or_default()),
        ("marital_status", f.marital_status.key().to_string()),
        ("residence_status", f.residence_status.key().to_string()),
        ("arrival_date", f.arrival_date.map(|d| d.to_string()).unwrap_or_default()),
        ("ethnicity", f.ethnicity.code()),
        ("relationship", f.relationship.key().to_string()),
        ("valid_from", today().to_string()),
    ]);
    shown(&edit_form(&user, format!("/residents/{county}/{id}/edit"), &values, &FieldErrors::new(), None))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn edit_resident(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(values): Form<Values>,
) -> AppResult<Response> {
    let registry = user.registry();
    let current = user.resident(&county, id).await?;
    let mut c = Checker::default();
    let name = c.take("name", PersonName::parse(value(&values, "name")));
    let phone = match value(&values, "phone") {
        "" => Some(None),
        p => c.take("phone", Phone::parse(p)).map(Some),
    };
    let marital = c.coded("marital_status", value(&values, "marital_status"), MaritalStatus::from_key);
    let status = c.coded("residence_status", value(&values, "residence_status"), ResidenceStatus::from_key);
    let arrival = match value(&values, "arrival_date") {
        "" => Some(None),
        d => c.take("arrival_date", parse_date(d, "来本地日期 arrival date")).map(Some),
    };
    let ethnicity = c.coded("ethnicity", value(&values, "ethnicity"), Ethnicity::from_code);
    let relationship = c.coded("relationship", value(&values, "relationship"), Relationship::from_key);
    let valid_from = c.take("valid_from", parse_date(value(&values, "valid_from"), "生效日期 effective date"));
    let action = format!("/residents/{county}/{id}/edit");
    let (
        Some(name),
        Some(phone),
        Some(marital),
        Some(status),
        Some(arrival),
        Some(ethnicity),
        Some(relationship),
        Some(valid_from),
    ) = (name, phone, marital, status, arrival, ethnicity, relationship, valid_from)
    else {
        let message = MARKED.to_string();
        return refused(&edit_form(&user, action, &values, &c.errors, Some(message)));
    };
    let facts = ResidentFacts {
        name,
        phone,
        marital_status: marital,
        residence_status: status,
        arrival_date: arrival,
        ethnicity,
        relationship,
        ..current.facts.clone()
    };
    match registry.record_resident_change(&county, id, &facts, valid_from, &user.user.username).await {
        Ok(_) => Ok(Redirect::to(&format!("/residents/{county}/{id}?purpose={}", AccessPurpose::RecordChange.key()))
            .into_response()),
        Err(e @ (jiceng_store::StoreError::Invalid(_) | jiceng_store::StoreError::Retroactive { .. })) => {
            refused(&edit_form(&user, action, &values, &c.errors, Some(e.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

fn newborn_fields(form: &Drawing) -> Vec<Field> {
    vec![
        form.input("name", "姓名 Name", ""),
        form.coded("sex", "性别 Sex", Sex::ALL, Sex::key),
        form.input("birth_date", "出生日期 Date of birth", "date"),
        form.input("id_number", "公民身份号码（尚未办理可不填）ID number (if issued)", ""),
        form.choice("ethnicity", "民族 Ethnicity", ethnicity_options(form.lang)),
        form.coded("relationship", "与户主关系 Relationship to head", Relationship::ALL, Relationship::key),
    ]
}

fn newborn_form(
    user: &CurrentUser,
    action: String,
    values: &Values,
    errors: &FieldErrors,
    error: Option<String>,
) -> RecordForm {
    RecordForm {
        page: user.chrome("报告出生 Report a birth"),
        heading: "报告出生",
        heading_en: "Report a birth",
        action,
        error,
        fields: newborn_fields(&Drawing { values, errors, lang: user.lang }),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn newborn_page(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    let registry = user.registry();
    let household = user.household(&county, id).await?;
    user.require_on(Permission::EditRegistry, &household.location.community)?;
    let target = format!("household/{county}/{id}");
    user.audit_read(&state, AuditAction::ReadHousehold, &target, county.as_str(), "newborn form".into()).await?;
    let head_ethnicity =
        registry.household_members(&county, id).await?.first().map(|m| m.facts.ethnicity).unwrap_or(Ethnicity::HAN);
    let values = defaults(&[
        ("sex", Sex::Female.key().to_string()),
        ("birth_date", today().to_string()),
        ("ethnicity", head_ethnicity.code()),
        ("relationship", Relationship::Daughter.key().to_string()),
    ]);
    shown(&newborn_form(&user, format!("/households/{county}/{id}/newborn"), &values, &FieldErrors::new(), None))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn newborn(
    user: Editor,
    RecordKey { county, id: household_id }: RecordKey,
    Form(values): Form<Values>,
) -> AppResult<Response> {
    let registry = user.registry();
    let household = user.household(&county, household_id).await?;
    let mut c = Checker::default();
    let name = c.take("name", PersonName::parse(value(&values, "name")));
    let sex = c.coded("sex", value(&values, "sex"), Sex::from_key);
    let birth = c.take("birth_date", parse_date(value(&values, "birth_date"), "出生日期 birth date"));
    let identity = match value(&values, "id_number") {
        "" => Some(Identity::Missing(IdMissingReason::NewbornNotRegistered)),
        n => c.take("id_number", IdNumber::parse(n)).map(Identity::Number),
    };
    let ethnicity = c.coded("ethnicity", value(&values, "ethnicity"), Ethnicity::from_code);
    let relationship = c.coded("relationship", value(&values, "relationship"), Relationship::from_key);
    let action = format!("/households/{county}/{household_id}/newborn");
    let (Some(name), Some(sex), Some(birth), Some(identity), Some(ethnicity), Some(relationship)) =
        (name, sex, birth, identity, ethnicity, relationship)
    else {
        let message = MARKED.to_string();
        return refused(&newborn_form(&user, action, &values, &c.errors, Some(message)));
    };
    // A birth is reported through the chain; the child is recorded when the district
    // accepts. The household completes what the form leaves out (one rule, in domain).
    let members = registry.household_members(&county, household_id).await?;
    let members: Vec<Member<'_>> =
        members.iter().map(|m| Member { resident_id: m.resident_id, facts: &m.facts }).collect();
    let report = BirthReport {
        name,
        sex,
        born_on: birth,
        identity: Some(identity),
        ethnicity: Some(ethnicity),
        relationship: Some(relationship),
        birth_order: None,
    };
    let details = birth_details(report, household_id, &household.location.community, &members);
    if let EventDetails::Birth { child, .. } = &details
        && let Err(e) = child.check(today())
    {
        return refused(&newborn_form(&user, action, &values, &c.errors, Some(e.to_string())));
    }
    let event = jiceng_store::reporting::NewEvent {
        county: county.clone(),
        resident_id: None,
        occurred_on: birth,
        urgent: false,
        evidence: String::new(),
        details,
    };
    let id = crate::reporting::events::submit_checked(&user, &event).await?;
    Ok(Redirect::to(&format!("/events/{county}/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ExitForm {
    reason: String,
    date: String,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_exit(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<ExitForm>,
) -> AppResult<Response> {
    let reason = ExitReason::from_key(&form.reason)
        .ok_or_else(|| AppError::BadRequest(format!("原因“{}”无效 / unknown reason '{}'", form.reason, form.reason)))?;
    let date = parse_date(&form.date, "日期 date").map_err(AppError::BadRequest)?;
    if date > today() {
        return Err(AppError::BadRequest(format!("日期{date}晚于今天 / date {date} is in the future")));
    }
    // Scope first: a resident outside it is not found, whatever the form says.
    user.resident(&county, id).await?;
    let event = crate::reporting::events::report_exit(&user, &county, id, date, reason).await?;
    Ok(Redirect::to(&format!("/events/{county}/{event}")).into_response())
}

#[derive(Deserialize)]
pub struct VerifyForm {
    method: String,
    date: String,
}

/// 核实: the worker confirms that the record is still true (no fact changes, so no new version).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_verification(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<VerifyForm>,
) -> AppResult<Response> {
    let method = VerificationMethod::from_key(&form.method).ok_or_else(|| {
        AppError::BadRequest(format!("核实方式“{}”无效 / unknown verification method '{}'", form.method, form.method))
    })?;
    let date = parse_date(&form.date, "核实日期 verification date").map_err(AppError::BadRequest)?;
    user.fieldwork().record_verification(&county, id, date, method).await?;
    Ok(Redirect::to(&format!("/residents/{county}/{id}?purpose={}", AccessPurpose::Verification.key())).into_response())
}

pub struct AccessRow {
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub purpose: &'static str,
    pub origin: String,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    page: Chrome,
    name: String,
    entries: Vec<AccessRow>,
}

/// Who looked at a resident: for administrators and officers responsible for them.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn access_log(
    State(state): State<AppState>,
    user: Viewer<Audit>,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    let history = user.registry().resident_history(&county, id).await?;
    let latest = history.first().ok_or_else(|| AppError::not_found("居民 Resident"))?;
    let entries = state
        .store
        .audit()
        .for_target(Some(county.as_str()), &format!("resident/{county}/{id}"), 500)
        .await?
        .into_iter()
        .map(|e| AccessRow {
            at: e.at,
            actor: e.actor,
            action: jiceng_domain::org::audit::AuditAction::from_key(&e.action)
                .map(|a| user.lang.label(a))
                .unwrap_or("—"),
            purpose: AccessPurpose::from_key(&e.purpose).map(|p| user.lang.label(p)).unwrap_or("—"),
            origin: e.origin,
        })
        .collect();
    let mut page = user.chrome("访问记录 Access log");
    page.crumbs =
        vec![crate::page::Crumb { label: latest.facts.name.to_string(), href: format!("/residents/{county}/{id}") }];
    Ok(render(&AccessLogPage { page, name: latest.facts.name.to_string(), entries })?.into_response())
}

fn household_fields(form: &Drawing, buildings: Vec<(String, String)>) -> Vec<Field> {
    vec![
        form.choice("building", "楼栋 Building", buildings),
        form.input("unit_no", "单元 Unit", "number"),
        form.input("floor_no", "楼层 Floor", "number"),
        form.input("room_no", "房号 Room", ""),
        form.input("valid_from", "生效日期 Effective from", "date"),
    ]
}

/// Reads the dwelling fields of a household form.
fn read_location(
    c: &mut Checker,
    values: &Values,
    buildings: &[jiceng_store::registry::Building],
) -> Option<(jiceng_domain::registry::HouseholdLocation, time::Date)> {
    let building = c.coded("building", value(values, "building"), |v| {
        let id: Uuid = v.parse().ok()?;
        buildings.iter().find(|b| b.id == id).cloned()
    });
    let number = |c: &mut Checker, name: &'static str, max: i16| {
        let raw = value(values, name);
        let parsed = raw.parse::<i16>().ok().filter(|n| (1..=max).contains(n));
        c.take(
            name,
            parsed.ok_or_else(|| format!("“{raw}”应为1到{max}的整数 / '{raw}' must be a whole number from 1 to {max}")),
        )
    };
    let unit = number(c, "unit_no", 50);
    let floor = number(c, "floor_no", 200);
    let room = value(values, "room_no").to_string();
    if room.is_empty() || room.chars().count() > 20 {
        c.errors.insert("room_no", "房号须为1–20个字符 / the room must have 1–20 characters".into());
    }
    let valid_from = c.take("valid_from", parse_date(value(values, "valid_from"), "生效日期 effective date"));
    let (building, unit, floor, valid_from) = (building?, unit?, floor?, valid_from?);
    if floor > building.floors {
        c.errors.insert(
            "floor_no",
            format!("{}只有{}层 / {} has {} floors", building.name, building.floors, building.name, building.floors),
        );
        return None;
    }
    if !c.errors.is_empty() {
        return None;
    }
    let location = jiceng_domain::registry::HouseholdLocation {
        community: building.community.clone(),
        grid_id: building.grid_id,
        building_id: building.id,
        unit_no: unit,
        floor_no: floor,
        room_no: room,
    };
    Some((location, valid_from))
}

fn building_options(buildings: &[jiceng_store::registry::Building], lang: Lang) -> Vec<(String, String)> {
    let label = |b: &jiceng_store::registry::Building| match lang {
        Lang::Zh => format!("{}（{}层）", b.name, b.floors),
        Lang::En => format!("{} ({} floors)", b.name, b.floors),
    };
    buildings.iter().map(|b| (b.id.to_string(), label(b))).collect()
}

/// The household form, for a new household in a building or a move of an existing one.
fn household_form(
    user: &CurrentUser,
    action: String,
    moving: bool,
    values: &Values,
    errors: &FieldErrors,
    buildings: &[jiceng_store::registry::Building],
    error: Option<String>,
) -> RecordForm {
    let (heading, heading_en) =
        if moving { ("搬迁到其他房屋", "Move to another dwelling") } else { ("新建户", "New household") };
    RecordForm {
        page: user.chrome(&format!("{heading} {heading_en}")),
        heading,
        heading_en,
        action,
        error,
        fields: household_fields(&Drawing { values, errors, lang: user.lang }, building_options(buildings, user.lang)),
    }
}

fn defaults(pairs: &[(&str, String)]) -> Values {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn new_household_page(user: Viewer, RecordKey { county, id: building_id }: RecordKey) -> AppResult<Response> {
    let registry = user.registry();
    let building =
        registry.building(&county, building_id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    user.require_on(Permission::EditRegistry, &building.community)?;
    let values = defaults(&[
        ("building", building.id.to_string()),
        ("unit_no", "1".into()),
        ("floor_no", "1".into()),
        ("valid_from", today().to_string()),
    ]);
    let form = household_form(
        &user,
        format!("/buildings/{county}/{building_id}/households"),
        false,
        &values,
        &FieldErrors::new(),
        &[building],
        None,
    );
    shown(&form)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn new_household(
    user: Editor,
    RecordKey { county, id: building_id }: RecordKey,
    Form(values): Form<Values>,
) -> AppResult<Response> {
    let registry = user.registry();
    let building =
        registry.building(&county, building_id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    let buildings = [building];
    let mut c = Checker::default();
    let action = format!("/buildings/{county}/{building_id}/households");
    let Some((location, valid_from)) = read_location(&mut c, &values, &buildings) else {
        let message = Some(MARKED.to_string());
        return refused(&household_form(&user, action, false, &values, &c.errors, &buildings, message));
    };
    // 户编号: community code and a time-ordered suffix, unique within the county.
    let household_no = format!("{}{}", location.community, &Uuid::now_v7().simple().to_string()[..12]);
    let id = registry.create_household(&county, &household_no, &location, valid_from, &user.user.username).await?;
    Ok(Redirect::to(&format!("/households/{county}/{id}")).into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn move_household_page(user: Viewer, RecordKey { county, id }: RecordKey) -> AppResult<Response> {
    let registry = user.registry();
    let household = user.household(&county, id).await?;
    user.require_on(Permission::EditRegistry, &household.location.community)?;
    let buildings = registry.buildings_in_community(&household.location.community).await?;
    let l = &household.location;
    let values = defaults(&[
        ("building", l.building_id.to_string()),
        ("unit_no", l.unit_no.to_string()),
        ("floor_no", l.floor_no.to_string()),
        ("room_no", l.room_no.clone()),
        ("valid_from", today().to_string()),
    ]);
    shown(&household_form(
        &user,
        format!("/households/{county}/{id}/move"),
        true,
        &values,
        &FieldErrors::new(),
        &buildings,
        None,
    ))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn move_household(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(values): Form<Values>,
) -> AppResult<Response> {
    let registry = user.registry();
    let household = user.household(&county, id).await?;
    let buildings = registry.buildings_in_community(&household.location.community).await?;
    let mut c = Checker::default();
    let action = format!("/households/{county}/{id}/move");
    let Some((location, valid_from)) = read_location(&mut c, &values, &buildings) else {
        let message = Some(MARKED.to_string());
        return refused(&household_form(&user, action, true, &values, &c.errors, &buildings, message));
    };
    match registry.move_household(&county, id, &location, valid_from, &user.user.username).await {
        Ok(_) => Ok(Redirect::to(&format!("/households/{county}/{id}")).into_response()),
        Err(e @ (jiceng_store::StoreError::Invalid(_) | jiceng_store::StoreError::Retroactive { .. })) => {
            refused(&household_form(&user, action, true, &values, &c.errors, &buildings, Some(e.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}
