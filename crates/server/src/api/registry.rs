//! Registry API: regions with counts, search, resident records and changes, households.

use axum::Json;
use axum::extract::{Query, State};
use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::DivisionCode;
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::registry::{
    Ethnicity, ExitReason, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus,
};
use jiceng_store::registry::{ResidentVersion, SearchQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiError, ApiResult};
use crate::AppState;
use crate::error::AppError;
use crate::org::auth::{AuditRecord, CurrentUser};
use crate::org::guard::{Editor, NodeCode, RecordKey, Search, Viewer};
use crate::registry::pages::parse_date;
use crate::registry::search::SEARCH_LIMIT;

#[derive(Serialize, ToSchema)]
pub struct RegionChild {
    pub code: String,
    pub name: String,
    pub residents: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RegionNode {
    pub code: String,
    pub name: String,
    /// 1 province … 5 village/community.
    pub level: i16,
    pub residents: u64,
    pub registered: u64,
    pub inflow: u64,
    pub outflow: u64,
    pub children: Vec<RegionChild>,
}

/// A division with its current residents by status, and its children with theirs.
#[utoipa::path(get, path = "/api/regions/{code}", tag = "registry",
    params(("code" = String, Path, description = "区划代码 division code")),
    responses((status = 200, body = RegionNode), (status = 404, body = super::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn region(State(state): State<AppState>, user: Viewer, NodeCode(code): NodeCode) -> ApiResult<RegionNode> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division").into());
    }
    let node = state.store.divisions().get(&code).await?.ok_or_else(|| AppError::not_found("区划 Division"))?;
    let counts = user.registry().community_counts(&code, None).await?;
    let count = |status: Option<ResidenceStatus>, prefix: Option<&DivisionCode>| -> u64 {
        counts
            .iter()
            .filter(|c| status.is_none_or(|s| s == c.status))
            .filter(|c| prefix.is_none_or(|p| p.contains(&c.community)))
            .map(|c| c.residents)
            .sum()
    };
    let children = state
        .store
        .divisions()
        .children(Some(&code))
        .await?
        .into_iter()
        .map(|d| RegionChild { residents: count(None, Some(&d.code)), code: d.code.to_string(), name: d.name })
        .collect();
    Ok(Json(RegionNode {
        code: code.to_string(),
        name: node.name,
        level: node.level.number(),
        residents: count(None, None),
        registered: count(Some(ResidenceStatus::Registered), None),
        inflow: count(Some(ResidenceStatus::Inflow), None),
        outflow: count(Some(ResidenceStatus::Outflow), None),
        children,
    }))
}

/// A resident in a list: identity and phone numbers masked.
#[derive(Serialize, ToSchema)]
pub struct ResidentSummary {
    pub county: String,
    pub id: Uuid,
    pub community: String,
    pub name: String,
    /// `1` male, `2` female (GB/T 2261.1).
    pub sex: String,
    pub birth_date: String,
    pub id_number_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub residence_status: String,
}

fn summary(r: &ResidentVersion) -> ResidentSummary {
    ResidentSummary {
        county: r.county.to_string(),
        id: r.resident_id,
        community: r.community.to_string(),
        name: r.facts.name.to_string(),
        sex: r.facts.sex.key().into(),
        birth_date: r.facts.birth_date.to_string(),
        id_number_masked: r.facts.identity.number().map(|n| n.masked()),
        phone_masked: r.facts.phone.as_ref().map(|p| p.masked()),
        residence_status: r.facts.residence_status.key().into(),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// 身份号码、姓名、拼音首字母或电话 / ID number, name, pinyin initials or phone
    q: String,
}

/// Residents in scope matching an ID number, name, pinyin initials ("zs") or phone.
#[utoipa::path(get, path = "/api/search", tag = "registry", params(SearchParams),
    responses((status = 200, body = Vec<ResidentSummary>)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn search(
    State(state): State<AppState>,
    user: Viewer<Search>,
    Query(params): Query<SearchParams>,
) -> ApiResult<Vec<ResidentSummary>> {
    let Some(query) = SearchQuery::parse(&params.q) else { return Ok(Json(Vec::new())) };
    let found = user.registry().search(&query, SEARCH_LIMIT).await?;
    user.audit(&state, AuditRecord::about(AuditAction::Search, "search", format!("api → {} results", found.len())))
        .await?;
    Ok(Json(found.iter().map(summary).collect()))
}

/// One version of a resident's record, in full.
#[derive(Serialize, ToSchema)]
pub struct ResidentRecord {
    pub county: String,
    pub id: Uuid,
    pub version: i32,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub recorded_at: String,
    pub recorded_by: String,
    pub community: String,
    pub household_id: Uuid,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub id_number: Option<String>,
    pub id_missing_reason: Option<String>,
    /// GB 3304 code, e.g. `01` 汉族.
    pub ethnicity: String,
    pub phone: Option<String>,
    pub registered_residence: String,
    pub relationship: String,
    pub residence_status: String,
    pub arrival_date: Option<String>,
    pub marital_status: String,
}

fn record(r: &ResidentVersion) -> ResidentRecord {
    let f = &r.facts;
    ResidentRecord {
        county: r.county.to_string(),
        id: r.resident_id,
        version: r.stamp.version,
        valid_from: r.stamp.valid_from.to_string(),
        valid_to: r.stamp.valid_to.map(|d| d.to_string()),
        recorded_at: r.stamp.recorded_at.to_string(),
        recorded_by: r.stamp.recorded_by.clone(),
        community: r.community.to_string(),
        household_id: f.household_id,
        name: f.name.to_string(),
        sex: f.sex.key().into(),
        birth_date: f.birth_date.to_string(),
        id_number: f.identity.number().map(|n| n.to_string()),
        id_missing_reason: match &f.identity {
            Identity::Missing(reason) => Some(reason.key().into()),
            Identity::Number(_) => None,
        },
        ethnicity: f.ethnicity.code(),
        phone: f.phone.as_ref().map(|p| p.to_string()),
        registered_residence: f.registered_residence.to_string(),
        relationship: f.relationship.key().into(),
        residence_status: f.residence_status.key().into(),
        arrival_date: f.arrival_date.map(|d| d.to_string()),
        marital_status: f.marital_status.key().into(),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct PurposeParams {
    /// 查看目的（必填）/ why the record is read (required): verification, service,
    /// record_change, statistics, resident_request
    purpose: String,
}

async fn audited_read(
    state: &AppState,
    user: &CurrentUser,
    county: &DivisionCode,
    id: Uuid,
    purpose: &str,
) -> Result<(), ApiError> {
    let purpose = AccessPurpose::from_key(purpose).ok_or_else(|| {
        AppError::BadRequest(format!("查看目的“{purpose}”无效 / purpose '{purpose}' is not one of the listed purposes"))
    })?;
    let target = format!("resident/{county}/{id}");
    user.audit(
        state,
        AuditRecord {
            action: AuditAction::ReadResident,
            target: &target,
            county: county.as_str(),
            purpose: Some(purpose),
            detail: "api".into(),
        },
    )
    .await?;
    Ok(())
}

/// The current record of a resident, in full; the read is audited with its purpose.
#[utoipa::path(get, path = "/api/residents/{county}/{id}", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path), PurposeParams),
    responses((status = 200, body = ResidentRecord), (status = 404, body = super::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resident(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
    Query(params): Query<PurposeParams>,
) -> ApiResult<ResidentRecord> {
    let current = user.resident(&county, id).await?;
    audited_read(&state, &user, &county, id, &params.purpose).await?;
    Ok(Json(record(&current)))
}

/// Every version of a resident's record, newest first; audited like a read.
#[utoipa::path(get, path = "/api/residents/{county}/{id}/history", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path), PurposeParams),
    responses((status = 200, body = Vec<ResidentRecord>)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resident_history(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
    Query(params): Query<PurposeParams>,
) -> ApiResult<Vec<ResidentRecord>> {
    let history = user.registry().resident_history(&county, id).await?;
    if history.is_empty() {
        return Err(AppError::not_found("居民 Resident").into());
    }
    audited_read(&state, &user, &county, id, &params.purpose).await?;
    Ok(Json(history.iter().map(record).collect()))
}

/// Fields to change; those left out keep their current value.
#[derive(Deserialize, ToSchema)]
pub struct ResidentChange {
    /// 生效日期 YYYY-MM-DD / effective date
    pub valid_from: String,
    pub name: Option<String>,
    /// Empty string clears the phone.
    pub phone: Option<String>,
    pub marital_status: Option<String>,
    pub residence_status: Option<String>,
    pub arrival_date: Option<String>,
    pub ethnicity: Option<String>,
    pub relationship: Option<String>,
}

fn field<T>(name: &str, value: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, ApiError> {
    parse(value).ok_or_else(|| {
        AppError::BadRequest(format!("字段 {name} 的值“{value}”无效 / field {name}: '{value}' is not valid")).into()
    })
}

/// Records a change as a new version of the resident.
#[utoipa::path(post, path = "/api/residents/{county}/{id}", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path), ("X-CSRF-Token" = String, Header)),
    request_body = ResidentChange,
    responses((status = 200, body = ResidentRecord), (status = 400, body = super::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn change_resident(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Json(change): Json<ResidentChange>,
) -> ApiResult<ResidentRecord> {
    let registry = user.registry();
    let current = user.resident(&county, id).await?;
    let bad = |e: &dyn std::fmt::Display, name: &str| ApiError(AppError::BadRequest(format!("{name}: {e}")));
    let mut facts = current.facts.clone();
    if let Some(name) = &change.name {
        facts.name = PersonName::parse(name).map_err(|e| bad(&e, "name"))?;
    }
    if let Some(phone) = &change.phone {
        facts.phone =
            if phone.trim().is_empty() { None } else { Some(Phone::parse(phone).map_err(|e| bad(&e, "phone"))?) };
    }
    if let Some(v) = &change.marital_status {
        facts.marital_status = field("marital_status", v, MaritalStatus::from_key)?;
    }
    if let Some(v) = &change.residence_status {
        facts.residence_status = field("residence_status", v, ResidenceStatus::from_key)?;
    }
    if let Some(v) = &change.arrival_date {
        facts.arrival_date =
            if v.is_empty() { None } else { Some(parse_date(v, "arrival_date").map_err(AppError::BadRequest)?) };
    }
    if let Some(v) = &change.ethnicity {
        facts.ethnicity = field("ethnicity", v, Ethnicity::from_code)?;
    }
    if let Some(v) = &change.relationship {
        facts.relationship = field("relationship", v, Relationship::from_key)?;
    }
    let valid_from = parse_date(&change.valid_from, "valid_from").map_err(AppError::BadRequest)?;
    registry.record_resident_change(&county, id, &facts, valid_from, &user.user.username).await?;
    let updated = user.resident(&county, id).await?;
    Ok(Json(record(&updated)))
}

#[derive(Deserialize, ToSchema)]
pub struct ExitRequest {
    /// `died` or `moved_away`
    pub reason: String,
    /// YYYY-MM-DD
    pub date: String,
}

/// A change event as submitted: where to follow it.
#[derive(Serialize, ToSchema)]
pub struct EventReceipt {
    pub county: String,
    pub id: Uuid,
    /// The level it waits for first (`submitted`: the community).
    pub state: String,
    /// The event's page.
    pub href: String,
}

/// Reports a death or departure. It goes through the review chain (community, street,
/// district); the record ends, with nothing deleted, when the district accepts.
#[utoipa::path(post, path = "/api/residents/{county}/{id}/exit", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path), ("X-CSRF-Token" = String, Header)),
    request_body = ExitRequest, responses((status = 200, body = EventReceipt)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_exit(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Json(request): Json<ExitRequest>,
) -> ApiResult<EventReceipt> {
    let reason = field("reason", &request.reason, ExitReason::from_key)?;
    let date = parse_date(&request.date, "date").map_err(AppError::BadRequest)?;
    user.resident(&county, id).await?;
    let event = crate::reporting::events::report_exit(&user, &county, id, date, reason).await?;
    let state_now = user.reporting().event(&county, event).await?.map(|e| e.state.key().to_string());
    Ok(Json(EventReceipt {
        county: county.to_string(),
        id: event,
        state: state_now.unwrap_or_default(),
        href: format!("/events/{county}/{event}"),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct VerificationRequest {
    /// `in_person`, `household_member`, `landlord_or_neighbour`, `phone` or `document`
    pub method: String,
    /// YYYY-MM-DD, not in the future
    pub date: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerificationStatus {
    /// When the record was last confirmed (YYYY-MM-DD), if ever.
    pub last_verified: Option<String>,
}

/// Records that a worker confirmed the resident's record (核实); no fact changes.
#[utoipa::path(post, path = "/api/residents/{county}/{id}/verifications", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path), ("X-CSRF-Token" = String, Header)),
    request_body = VerificationRequest, responses((status = 200, body = VerificationStatus)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_verification(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Json(request): Json<VerificationRequest>,
) -> ApiResult<VerificationStatus> {
    let method = field("method", &request.method, VerificationMethod::from_key)?;
    let date = parse_date(&request.date, "date").map_err(AppError::BadRequest)?;
    let fieldwork = user.fieldwork();
    fieldwork.record_verification(&county, id, date, method).await?;
    let last = fieldwork.last_verified(&county, id).await?;
    Ok(Json(VerificationStatus { last_verified: last.map(|d| d.to_string()) }))
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdRecord {
    pub county: String,
    pub id: Uuid,
    pub household_no: String,
    pub community: String,
    pub grid_id: Uuid,
    pub building_id: Uuid,
    pub unit_no: i16,
    pub floor_no: i16,
    pub room_no: String,
    pub members: Vec<ResidentSummary>,
}

/// A household and its current members (masked); audited.
#[utoipa::path(get, path = "/api/households/{county}/{id}", tag = "registry",
    params(("county" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = HouseholdRecord), (status = 404, body = super::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn household(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> ApiResult<HouseholdRecord> {
    let registry = user.registry();
    let household = user.household(&county, id).await?;
    let members = registry.household_members(&county, id).await?;
    let target = format!("household/{county}/{id}");
    user.audit(
        &state,
        AuditRecord {
            action: AuditAction::ReadHousehold,
            target: &target,
            county: county.as_str(),
            purpose: None,
            detail: format!("api {} members", members.len()),
        },
    )
    .await?;
    let l = &household.location;
    Ok(Json(HouseholdRecord {
        county: county.to_string(),
        id,
        household_no: household.household_no,
        community: l.community.to_string(),
        grid_id: l.grid_id,
        building_id: l.building_id,
        unit_no: l.unit_no,
        floor_no: l.floor_no,
        room_no: l.room_no.clone(),
        members: members.iter().map(summary).collect(),
    }))
}
