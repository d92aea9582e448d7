//! Browsing the region tree: division → community → grid → building → floor →
//! household → resident. Every handler starts from a [`Viewer`] (the role may read the
//! registry) and reads only through `user.registry()`, which filters every query by scope;
//! reads of personal data are written to the audit log.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::fieldwork::{VerificationMethod, unverified_before};
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, DivisionLevel, Permission};
use jiceng_domain::registry::{ExitReason, Identity, ResidenceStatus, ResidentFacts};
use jiceng_store::registry::{CommunityCount, ResidentVersion};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::{AuditRecord, CurrentUser};
use crate::org::guard::{NodeCode, RecordKey, Scoped, Viewer};
use crate::page::{Chrome, Crumb, Lang, date_cell, render};

#[derive(Debug, Clone, Default)]
pub struct StatusCounts {
    pub households: u64,
    pub total: u64,
    pub registered: u64,
    pub inflow: u64,
    pub outflow: u64,
    /// Residents whose record nobody confirmed in the last six months.
    pub unverified: u64,
}

impl StatusCounts {
    fn add(&mut self, status: ResidenceStatus, n: u64) {
        self.total += n;
        match status {
            ResidenceStatus::Registered => self.registered += n,
            ResidenceStatus::Inflow => self.inflow += n,
            ResidenceStatus::Outflow => self.outflow += n,
        }
    }
}

pub struct ChildRow {
    pub name: String,
    pub code: String,
    pub href: String,
    pub counts: StatusCounts,
}

pub struct GridRow {
    pub name: String,
    pub href: String,
    pub buildings: u64,
    pub households: u64,
    pub residents: u64,
}

#[derive(Template)]
#[template(path = "region.html")]
struct RegionPage {
    page: Chrome,
    name: String,
    code: String,
    level: &'static str,
    totals: StatusCounts,
    child_heading: &'static str,
    children: Vec<ChildRow>,
    grids: Vec<GridRow>,
    /// The export links (the user may export and this is a division page).
    can_export: bool,
}

pub(crate) fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn division_crumbs(state: &AppState, user: &Scoped, code: &DivisionCode) -> AppResult<Vec<Crumb>> {
    let path = state.store.divisions().path(code).await?;
    Ok(path
        .into_iter()
        // Ancestors above the user's scope are shown only to those who may open them.
        .filter(|d| user.scope.covers(&d.code))
        .map(|d| Crumb { label: d.name, href: format!("/regions/{}", d.code) })
        .collect())
}

/// The home page: the user's area.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn home(user: CurrentUser) -> Response {
    match user.user.scopes.as_slice() {
        [only] => Redirect::to(&format!("/regions/{only}")).into_response(),
        _ => Redirect::to("/regions").into_response(),
    }
}

/// The top of the tree the user may see: their scopes, or every province for an
/// administrator without a scope.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn roots(State(state): State<AppState>, user: Viewer) -> AppResult<impl IntoResponse> {
    let divisions = state.store.divisions();
    let scope = &user.scope;
    let nodes = if scope.is_whole_country() {
        divisions.children(None).await?
    } else {
        let mut nodes = Vec::new();
        for node in scope.nodes() {
            nodes.extend(divisions.get(node).await?);
        }
        nodes
    };
    let mut children = Vec::new();
    let mut totals = StatusCounts::default();
    for node in nodes {
        let mut counts = StatusCounts::default();
        for c in user.registry().community_counts(&node.code, None).await? {
            counts.add(c.status, c.residents);
            totals.add(c.status, c.residents);
        }
        for (_, n) in user.registry().household_counts(&node.code).await? {
            counts.households += n;
            totals.households += n;
        }
        for (_, n) in user.fieldwork().unverified_counts(&node.code, unverified_before(today())).await? {
            counts.unverified += n;
            totals.unverified += n;
        }
        children.push(ChildRow {
            href: format!("/regions/{}", node.code),
            code: node.code.to_string(),
            name: node.name,
            counts,
        });
    }
    render(&RegionPage {
        page: user.chrome("我的辖区 My area"),
        name: user.lang.pick("我的辖区", "My area").into(),
        code: String::new(),
        level: "",
        totals,
        child_heading: "辖区 Area",
        children,
        grids: Vec::new(),
        can_export: false,
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn region(
    State(state): State<AppState>,
    user: Viewer,
    NodeCode(code): NodeCode,
) -> AppResult<impl IntoResponse> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let divisions = state.store.divisions();
    let node = divisions.get(&code).await?.ok_or_else(|| AppError::not_found("区划 Division"))?;
    let counts: Vec<CommunityCount> = user.registry().community_counts(&code, None).await?;
    let mut totals = StatusCounts::default();
    let mut by_child: BTreeMap<String, StatusCounts> = BTreeMap::new();
    let child_level = node.level.child();
    for c in &counts {
        totals.add(c.status, c.residents);
        if let Some(child) = child_level.and_then(|l| c.community.at_level(l)) {
            by_child.entry(child.to_string()).or_default().add(c.status, c.residents);
        }
    }
    for (community, n) in user.registry().household_counts(&code).await? {
        totals.households += n;
        if let Some(child) = child_level.and_then(|l| community.at_level(l)) {
            by_child.entry(child.to_string()).or_default().households += n;
        }
    }
    for (community, n) in user.fieldwork().unverified_counts(&code, unverified_before(today())).await? {
        totals.unverified += n;
        if let Some(child) = child_level.and_then(|l| community.at_level(l)) {
            by_child.entry(child.to_string()).or_default().unverified += n;
        }
    }
    let mut children = Vec::new();
    let mut grids = Vec::new();
    if node.level == DivisionLevel::Village {
        for g in user.registry().grids_in_community(&code).await? {
            grids.push(GridRow {
                name: g.grid.name,
                href: format!("/grids/{}/{}", g.grid.county, g.grid.id),
                buildings: g.buildings,
                households: g.households,
                residents: g.residents,
            });
        }
    } else {
        for child in divisions.children(Some(&code)).await? {
            children.push(ChildRow {
                counts: by_child.remove(child.code.as_str()).unwrap_or_default(),
                href: format!("/regions/{}", child.code),
                code: child.code.to_string(),
                name: child.name,
            });
        }
    }
    let mut page = user.chrome(&node.name);
    page.crumbs = division_crumbs(&state, &user, &code).await?;
    render(&RegionPage {
        page,
        name: node.name,
        code: code.to_string(),
        level: user.lang.label(node.level),
        totals,
        child_heading: match child_level {
            Some(DivisionLevel::City) => "地级 City",
            Some(DivisionLevel::County) => "县级 County",
            Some(DivisionLevel::Town) => "街道（乡镇） Street / town",
            _ => "社区（村） Community",
        },
        children,
        grids,
        can_export: user.user.role.may(Permission::ExportRegistry),
    })
}

pub struct BuildingRow {
    pub name: String,
    pub href: String,
    pub floors: i16,
    pub units: i16,
    pub households: u64,
}

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage {
    page: Chrome,
    name: String,
    can_edit: bool,
    base: String,
    buildings: Vec<BuildingRow>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn grid(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<impl IntoResponse> {
    let registry = user.registry();
    let grid = registry.grid(&county, id).await?.ok_or_else(|| AppError::not_found("网格 Grid"))?;
    let buildings = registry
        .buildings_in_grid(&county, id)
        .await?
        .into_iter()
        .map(|b| BuildingRow {
            href: format!("/buildings/{}/{}", county, b.building.id),
            name: b.building.name,
            floors: b.building.floors,
            units: b.building.units,
            households: b.households,
        })
        .collect();
    let mut page = user.chrome(&grid.name);
    page.crumbs = division_crumbs(&state, &user, &grid.community).await?;
    page.crumbs.push(Crumb { label: grid.name.clone(), href: format!("/grids/{county}/{id}") });
    render(&GridPage {
        page,
        can_edit: user.scope.allows(Permission::EditRegistry, &grid.community),
        base: format!("/grids/{county}/{id}"),
        name: grid.name,
        buildings,
    })
}

pub struct RoomCell {
    pub room: String,
    pub head: String,
    pub members: u64,
    pub href: String,
}

pub struct FloorRow {
    pub unit: i16,
    pub floor: i16,
    pub households: Vec<RoomCell>,
}

#[derive(Template)]
#[template(path = "building.html")]
struct BuildingPage {
    page: Chrome,
    can_edit: bool,
    base: String,
    name: String,
    floors: i16,
    units: i16,
    households: usize,
    floor_rows: Vec<FloorRow>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn building(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<impl IntoResponse> {
    let registry = user.registry();
    let building = registry.building(&county, id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    let grid = registry.grid(&county, building.grid_id).await?.ok_or_else(|| AppError::not_found("网格 Grid"))?;
    let households = registry.households_in_building(&county, id).await?;
    let count = households.len();
    // Top floor first, as the building stands.
    let mut floors: BTreeMap<(i16, std::cmp::Reverse<i16>), Vec<RoomCell>> = BTreeMap::new();
    for h in households {
        floors.entry((h.unit_no, std::cmp::Reverse(h.floor_no))).or_default().push(RoomCell {
            room: h.room_no,
            head: h.head_name.unwrap_or_else(|| "—".into()),
            members: h.members,
            href: format!("/households/{county}/{}", h.household_id),
        });
    }
    let floor_rows =
        floors.into_iter().map(|((unit, floor), households)| FloorRow { unit, floor: floor.0, households }).collect();
    // The floor map shows household heads' names.
    let target = format!("building/{county}/{id}");
    user.audit_read(&state, AuditAction::ReadHousehold, &target, county.as_str(), format!("{count} households"))
        .await?;
    let mut page = user.chrome(&building.name);
    page.crumbs = division_crumbs(&state, &user, &building.community).await?;
    page.crumbs.push(Crumb { label: grid.name, href: format!("/grids/{county}/{}", grid.id) });
    page.crumbs.push(Crumb { label: building.name.clone(), href: format!("/buildings/{county}/{id}") });
    render(&BuildingPage {
        page,
        can_edit: user.scope.allows(Permission::EditRegistry, &building.community),
        base: format!("/buildings/{county}/{id}"),
        name: building.name,
        floors: building.floors,
        units: building.units,
        households: count,
        floor_rows,
    })
}

pub struct MemberRow {
    pub name: String,
    pub href: String,
    pub relationship: &'static str,
    pub sex: &'static str,
    pub birth_date: String,
    pub id_masked: String,
    pub status: &'static str,
}

pub struct HistoryRow {
    pub version: i32,
    pub valid_from: String,
    pub valid_to: String,
    pub summary: String,
    pub recorded: String,
}

#[derive(Template)]
#[template(path = "household.html")]
struct HouseholdPage {
    page: Chrome,
    can_edit: bool,
    county: String,
    id: Uuid,
    household_no: String,
    address: String,
    members: Vec<MemberRow>,
    history: Vec<HistoryRow>,
}

fn masked_identity(identity: &Identity, lang: Lang) -> String {
    match identity {
        Identity::Number(n) => n.masked(),
        Identity::Missing(reason) => format!("（{}）", lang.label(*reason)),
    }
}

fn recorded(stamp: &jiceng_store::registry::VersionStamp) -> String {
    let at = stamp.recorded_at;
    format!(
        "{} {:04}-{:02}-{:02} {:02}:{:02}",
        stamp.recorded_by,
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// Breadcrumbs down to a household: divisions, grid, building, room.
async fn household_crumbs(
    state: &AppState,
    user: &Scoped,
    county: &DivisionCode,
    household_id: Uuid,
) -> AppResult<Vec<Crumb>> {
    let registry = user.registry();
    let household = user.household(county, household_id).await?;
    let location = &household.location;
    let grid = registry.grid(county, location.grid_id).await?.ok_or_else(|| AppError::not_found("网格 Grid"))?;
    let building =
        registry.building(county, location.building_id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    let mut crumbs = division_crumbs(state, user, &location.community).await?;
    crumbs.push(Crumb { label: grid.name, href: format!("/grids/{county}/{}", grid.id) });
    crumbs.push(Crumb { label: building.name, href: format!("/buildings/{county}/{}", building.id) });
    crumbs
        .push(Crumb {
            label: format!("{}室", location.room_no), href: format!("/households/{county}/{household_id}")
        });
    Ok(crumbs)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn household(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<impl IntoResponse> {
    let registry = user.registry();
    let household = user.household(&county, id).await?;
    let location = &household.location;
    let building =
        registry.building(&county, location.building_id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    let members: Vec<MemberRow> = registry
        .household_members(&county, id)
        .await?
        .into_iter()
        .map(|m| MemberRow {
            href: format!("/residents/{county}/{}", m.resident_id),
            name: m.facts.name.to_string(),
            relationship: user.lang.label(m.facts.relationship),
            sex: user.lang.label(m.facts.sex),
            birth_date: m.facts.birth_date.to_string(),
            id_masked: masked_identity(&m.facts.identity, user.lang),
            status: user.lang.label(m.facts.residence_status),
        })
        .collect();
    let mut history = Vec::new();
    for v in registry.household_history(&county, id).await? {
        let b = registry.building(&county, v.location.building_id).await?;
        history.push(HistoryRow {
            version: v.stamp.version,
            valid_from: v.stamp.valid_from.to_string(),
            valid_to: date_cell(v.stamp.valid_to),
            summary: format!(
                "{} {}单元 {}层 {}",
                b.map(|b| b.name).unwrap_or_default(),
                v.location.unit_no,
                v.location.floor_no,
                v.location.room_no
            ),
            recorded: recorded(&v.stamp),
        });
    }
    let address = format!("{} {}单元 {}室", building.name, location.unit_no, location.room_no);
    // The list shows names and masked numbers of every member: an audited read.
    let target = format!("household/{county}/{id}");
    let detail = format!("{} members", members.len());
    user.audit(
        &state,
        AuditRecord {
            action: AuditAction::ReadHousehold,
            target: &target,
            county: county.as_str(),
            purpose: None,
            detail,
        },
    )
    .await?;
    let mut page = user.chrome(&format!("户 {} Household {}", household.household_no, household.household_no));
    page.crumbs = household_crumbs(&state, &user, &county, id).await?;
    render(&HouseholdPage {
        page,
        household_no: household.household_no,
        address,
        members,
        history,
        can_edit: user.scope.allows(Permission::EditRegistry, &location.community),
        county: county.to_string(),
        id,
    })
}

#[derive(Template)]
#[template(path = "resident.html")]
struct ResidentPage {
    page: Chrome,
    name: String,
    as_of: Option<String>,
    facts: Vec<(&'static str, String)>,
    history: Vec<HistoryRow>,
    base: String,
    purpose: &'static str,
    can_edit: bool,
    can_audit: bool,
    exit: Option<String>,
    exit_reasons: Vec<(&'static str, &'static str)>,
    verification_methods: Vec<(&'static str, &'static str)>,
    /// Confirmations recorded in jiceng: date, how, by whom.
    verifications: Vec<(String, &'static str, String)>,
    today: String,
    /// Change events about this person not yet accepted (shown as pending).
    pending: Vec<(String, String)>,
    tier: Option<crate::fieldwork::tiers::TierPanel>,
    county: String,
    id: String,
}

#[derive(Template)]
#[template(path = "purpose.html")]
struct PurposePage {
    page: Chrome,
    purposes: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
pub struct RecordQuery {
    as_of: Option<String>,
    purpose: Option<String>,
}

pub(crate) fn parse_date(text: &str, field: &str) -> Result<time::Date, String> {
    let text = text.trim();
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{field}“{text}”应为 YYYY-MM-DD 格式的日期 / {field} '{text}' must be a date YYYY-MM-DD"))
}
/// What differs between two versions, named in Chinese.
fn changed_fields(
    old: &ResidentFacts,
    new: &ResidentFacts,
    old_community: &DivisionCode,
    new_community: &DivisionCode,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |differs: bool, label: &'static str| {
        if differs {
            out.push(label);
        }
    };
    check(old.name != new.name, "姓名 name");
    check(old.sex != new.sex, "性别 sex");
    check(old.birth_date != new.birth_date, "出生日期 date of birth");
    check(old.identity != new.identity, "身份号码 ID number");
    check(old.ethnicity != new.ethnicity, "民族 ethnicity");
    check(old.phone != new.phone, "联系电话 phone");
    check(old.registered_residence != new.registered_residence, "户籍地 registered residence");
    check(old.household_id != new.household_id, "所在户 household");
    check(old.relationship != new.relationship, "与户主关系 relationship");
    check(old.residence_status != new.residence_status, "人口类型 residence status");
    check(old.arrival_date != new.arrival_date, "来本地日期 arrival date");
    check(old.marital_status != new.marital_status, "婚姻状况 marital status");
    check(old_community != new_community, "所在社区 community");
    out
}

fn history_rows(history: &[ResidentVersion], lang: Lang) -> Vec<HistoryRow> {
    // `history` is newest first; each version is compared with the one before it.
    history
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let summary = match history.get(i + 1) {
                None => lang.text("首次登记 First recorded").into_owned(),
                Some(prev) => {
                    let fields = changed_fields(&prev.facts, &v.facts, &prev.community, &v.community);
                    if fields.is_empty() {
                        lang.text("无变化 No change").into_owned()
                    } else {
                        match lang {
                            Lang::Zh => {
                                let names: Vec<&str> =
                                    fields.iter().map(|f| f.split_once(' ').map_or(*f, |(zh, _)| zh)).collect();
                                format!("变更：{}", names.join("、"))
                            }
                            Lang::En => {
                                let names: Vec<String> = fields.iter().map(|f| lang.text(f).into_owned()).collect();
                                format!("changed: {}", names.join(", "))
                            }
                        }
                    }
                }
            };
            HistoryRow {
                version: v.stamp.version,
                valid_from: v.stamp.valid_from.to_string(),
                valid_to: date_cell(v.stamp.valid_to),
                summary,
                recorded: recorded(&v.stamp),
            }
        })
        .collect()
}

/// A resident's full record: shown only with a purpose, and every opening is audited.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resident(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
    Query(query): Query<RecordQuery>,
) -> AppResult<Response> {
    let registry = user.registry();
    let as_of = match query.as_of.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(parse_date(text, "日期 date").map_err(AppError::BadRequest)?),
    };
    // Current, or the last version of a record that ended (death, departure).
    let history = registry.resident_history(&county, id).await?;
    let Some(latest) = history.first().cloned() else { return Err(AppError::not_found("居民 Resident")) };
    let Some(purpose) = query.purpose.as_deref().and_then(AccessPurpose::from_key) else {
        let page = PurposePage {
            page: user.chrome("查看目的 Purpose"),
            purposes: AccessPurpose::ALL.iter().map(|p| (p.key(), user.lang.label(*p))).collect(),
        };
        return Ok(render(&page)?.into_response());
    };
    let shown = match as_of {
        None => latest.clone(),
        Some(d) => registry.resident_as_of(&county, id, d).await?.ok_or_else(|| AppError::NotFound {
            what: format!("{d} 时的居民记录 / the resident's record on {d}"),
        })?,
    };
    let target = format!("resident/{county}/{id}");
    user.audit(
        &state,
        AuditRecord {
            action: AuditAction::ReadResident,
            target: &target,
            county: county.as_str(),
            purpose: Some(purpose),
            detail: as_of.map(|d| format!("as_of {d}")).unwrap_or_default(),
        },
    )
    .await?;
    let f = &shown.facts;
    let last_verified = user.fieldwork().last_verified(&county, id).await?;
    let identity = match &f.identity {
        Identity::Number(n) => format!("{n}（{}）", user.lang.label(n.kind())),
        Identity::Missing(reason) => format!("{} — {}", user.lang.pick("无", "none"), user.lang.label(*reason)),
    };
    let facts = vec![
        ("姓名 Name", f.name.to_string()),
        ("性别 Sex", user.lang.label(f.sex).to_string()),
        ("出生日期 Date of birth", f.birth_date.to_string()),
        ("公民身份号码 ID number", identity),
        ("民族 Ethnicity", user.lang.label(f.ethnicity).to_string()),
        ("联系电话 Phone", f.phone.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "—".into())),
        ("户籍地 Registered residence", division_name(&state, &f.registered_residence).await?),
        ("人口类型 Residence status", user.lang.label(f.residence_status).to_string()),
        ("来本地日期 Arrived", date_cell(f.arrival_date)),
        ("婚姻状况 Marital status", user.lang.label(f.marital_status).to_string()),
        ("与户主关系 Relationship to head", user.lang.label(f.relationship).to_string()),
        ("现居社区 Community", division_name(&state, &shown.community).await?),
        ("最近核实 Last verified", date_cell(last_verified)),
    ];
    let verifications = user
        .fieldwork()
        .verifications(&county, id)
        .await?
        .into_iter()
        .map(|v| (v.verified_on.to_string(), user.lang.label(v.method), v.recorded_by))
        .collect();
    let exit = registry.exit_of(&county, id).await?.map(|(date, reason)| {
        format!("此记录已于 {date} 因“{}”结束 / this record ended on {date}: {}", reason.label_zh(), reason.label_en())
    });
    let current = exit.is_none();
    let mut page = user.chrome(f.name.as_str());
    page.crumbs = household_crumbs(&state, &user, &county, latest.facts.household_id).await.unwrap_or_default();
    page.crumbs.push(Crumb { label: latest.facts.name.to_string(), href: format!("/residents/{county}/{id}") });
    Ok(render(&ResidentPage {
        page,
        name: f.name.to_string(),
        as_of: as_of.map(|d| d.to_string()),
        facts,
        history: history_rows(&history, user.lang),
        base: format!("/residents/{county}/{id}"),
        purpose: purpose.key(),
        can_edit: current && user.scope.allows(Permission::EditRegistry, &latest.community),
        can_audit: user.scope.allows(Permission::ViewAudit, &latest.community),
        exit,
        exit_reasons: ExitReason::ALL.iter().map(|r| (r.key(), user.lang.label(*r))).collect(),
        verification_methods: VerificationMethod::ALL.iter().map(|m| (m.key(), user.lang.label(*m))).collect(),
        verifications,
        today: today().to_string(),
        pending: crate::reporting::events::pending_lines(&user, &county, id).await?,
        tier: if current && as_of.is_none() {
            crate::fieldwork::tiers::panel(&user.fieldwork(), user.lang, &county, id, last_verified).await?
        } else {
            None
        },
        county: county.to_string(),
        id: id.to_string(),
    })?
    .into_response())
}

/// "广东省深圳市龙岗区（440307）", or the bare code when it is not loaded.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn division_name(state: &AppState, code: &DivisionCode) -> AppResult<String> {
    let names: Vec<String> = state.store.divisions().path(code).await?.into_iter().map(|d| d.name).collect();
    Ok(if names.is_empty() { code.to_string() } else { format!("{}（{code}）", names.join("")) })
}
