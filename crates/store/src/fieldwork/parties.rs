//! 谁出租谁负责，谁用工谁负责: landlords and employers registered against the units they
//! let (households), and their reports of arrivals and departures. A report is checked
//! whole — every problem named by row and field — and stored whole or not at all; each
//! line becomes a change event for the community to review (ADR 009), and the same line
//! sent again is recognised and skipped.

use std::collections::{HashMap, HashSet};

use jiceng_domain::fieldwork::{Movement, PartyField, PartyKind, PartyLine, RowProblem};
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::{Identity, MaritalStatus, Phone, Relationship, ResidenceStatus, ResidentFacts};
use jiceng_domain::reporting::{EventDetails, EventState};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, OnConflict, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::Fieldwork;
use crate::error::{StoreError, StoreResult, decode_opt};
use crate::registry::rows::resident_row;
use crate::registry::{ResidentVersion, resident_select, subtree};
use crate::reporting::{Actor, NewEvent, Reporting};
use crate::write::UnitOfWork;

/// A landlord or employer to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParty {
    pub county: DivisionCode,
    pub community: DivisionCode,
    pub kind: PartyKind,
    /// The landlord's or the employer's name.
    pub name: String,
    /// Who to ask (for an employer, the person handling staff).
    pub contact: String,
    pub phone: Phone,
}

/// A registered landlord or employer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Party {
    pub county: String,
    pub id: Uuid,
    pub community: String,
    pub kind: PartyKind,
    pub name: String,
    pub contact: String,
    pub phone: String,
    pub units: u64,
    /// Lines whose change is still on its way up the review chain.
    pub pending: u64,
}

/// A unit a party lets (or a dormitory room it runs): a household's dwelling.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartyUnit {
    pub household_id: Uuid,
    pub household_no: String,
    pub building: String,
    pub room_no: String,
    pub members: u64,
}

/// A reported line as stored, with where its change has got to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartyLineRecord {
    pub id: Uuid,
    pub movement: Movement,
    pub name: String,
    pub id_number: String,
    pub occurred_on: Date,
    pub household_id: Uuid,
    pub event_id: Option<Uuid>,
    pub state: Option<EventState>,
    pub source: String,
    pub source_row: u64,
    pub submitted_by: String,
}

/// What a report did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PartySubmission {
    /// Rows that became change events: (row, event).
    pub proposed: Vec<(u64, Uuid)>,
    /// Rows reported before (the same sheet sent again): nothing written.
    pub repeated: Vec<u64>,
    /// Arrivals of people already recorded in that unit: nothing to change.
    pub already_recorded: Vec<u64>,
}

/// The checked plan for one line: which household, and what change.
enum Proposal {
    Event { household_id: Uuid, resident_id: Option<Uuid>, details: EventDetails },
    AlreadyRecorded { household_id: Uuid },
}

fn party_of(r: &sea_orm::QueryResult) -> StoreResult<Party> {
    let kind: String = r.try_get("", "kind")?;
    Ok(from_row!(r => Party {
        id, name, contact, phone;
        county: r.try_get("", "county_code")?,
        community: r.try_get("", "community_code")?,
        kind: decode_opt("responsible_party", "kind", &kind, PartyKind::from_key)?,
        units: 0,
        pending: 0,
    }))
}

const PENDING: [EventState; 3] = [EventState::Submitted, EventState::Reviewed, EventState::Confirmed];

impl Fieldwork<'_> {
    /// Registers a landlord or employer in a community.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn register_party(&self, party: &NewParty) -> StoreResult<Uuid> {
        let by: &str = &self.caller.username;
        self.require_scope(&party.community, "社区 / community")?;
        if party.community.level() != DivisionLevel::Village
            || party.community.at_level(DivisionLevel::County).as_ref() != Some(&party.county)
        {
            return Err(StoreError::Invalid("请选择本县的社区 / choose a community of this county".into()));
        }
        let name = party.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::Invalid(
                "名称必填，至多100字 / a name of at most 100 characters is required".into(),
            ));
        }
        let id = Uuid::now_v7();
        let work = UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("responsible_party")
                    .columns([
                        "county_code",
                        "id",
                        "community_code",
                        "kind",
                        "name",
                        "contact",
                        "phone",
                        "registered_at",
                        "registered_by",
                    ])
                    .values_panic([
                        party.county.as_str().into(),
                        id.into(),
                        party.community.as_str().into(),
                        party.kind.key().into(),
                        name.into(),
                        party.contact.trim().chars().take(100).collect::<String>().into(),
                        party.phone.as_str().into(),
                        OffsetDateTime::now_utc().into(),
                        by.into(),
                    ]),
            )
            .await?;
        let county = &party.county;
        work.commit(self.change_entry(format!("party/{county}/{id}"), county, "registered".into())).await?;
        Ok(id)
    }

    /// A party with its number of units and pending lines, if in scope.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn party(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Option<Party>> {
        let Some(mut party) = self.party_record(county, id).await? else { return Ok(None) };
        let counts = self.party_counts(county, &[id]).await?;
        (party.units, party.pending) = counts.get(&id).copied().unwrap_or_default();
        Ok(Some(party))
    }

    /// The party's own row if it is in scope, without its counts.
    async fn party_record(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Option<Party>> {
        let mut q = Query::select();
        q.columns(["county_code", "id", "community_code", "kind", "name", "contact", "phone"])
            .from("responsible_party")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id))
            .cond_where(self.in_scope("community_code"));
        self.store.db.query_one(&q).await?.map(|r| party_of(&r)).transpose()
    }

    /// [`Self::party_record`], or not found.
    async fn existing_party(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Party> {
        self.party_record(county, id)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "房东或用工单位 / landlord or employer".into() })
    }

    /// The landlords and employers registered in (or under) a node.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn parties_under(&self, node: &DivisionCode) -> StoreResult<Vec<Party>> {
        self.require_scope(node, "区划 / region")?;
        let mut q = Query::select();
        q.columns(["county_code", "id", "community_code", "kind", "name", "contact", "phone"])
            .from("responsible_party")
            .cond_where(subtree(node, "community_code"))
            .order_by("community_code", Order::Asc)
            .order_by("name", Order::Asc);
        let mut parties = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            parties.push(party_of(&r)?);
        }
        let mut by_county: HashMap<String, Vec<Uuid>> = HashMap::new();
        for p in &parties {
            by_county.entry(p.county.clone()).or_default().push(p.id);
        }
        for (county, ids) in by_county {
            let county = DivisionCode::parse(&county).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let counts = self.party_counts(&county, &ids).await?;
            for p in parties.iter_mut().filter(|p| p.county == county.as_str()) {
                (p.units, p.pending) = counts.get(&p.id).copied().unwrap_or_default();
            }
        }
        Ok(parties)
    }

    /// party → (units, pending lines).
    async fn party_counts(&self, county: &DivisionCode, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, (u64, u64)>> {
        let mut out: HashMap<Uuid, (u64, u64)> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut q = Query::select();
            q.column("party_id")
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from("party_unit")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("party_id").is_in(chunk.iter().copied()))
                .group_by_col("party_id");
            for r in self.store.db.query_all(&q).await? {
                out.entry(r.try_get("", "party_id")?).or_default().0 = r.try_get::<i64>("", "n")? as u64;
            }
            let mut q = Query::select();
            q.column(("l", "party_id"))
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from_as("party_line", "l")
                .join_as(
                    JoinType::InnerJoin,
                    "change_event",
                    "e",
                    crate::registry::same_county(("e", "id"), ("l", "event_id")),
                )
                .and_where(Expr::col(("l", "county_code")).eq(county.as_str()))
                .and_where(Expr::col(("l", "party_id")).is_in(chunk.iter().copied()))
                .and_where(Expr::col(("e", "state")).is_in(PENDING.iter().map(|s| s.key())))
                .group_by_col(("l", "party_id"));
            for r in self.store.db.query_all(&q).await? {
                out.entry(r.try_get("", "party_id")?).or_default().1 = r.try_get::<i64>("", "n")? as u64;
            }
        }
        Ok(out)
    }

    /// Adds a unit (the household living there, by its 户编号) to a party. Adding it
    /// again changes nothing.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_party_unit(&self, county: &DivisionCode, party_id: Uuid, household_no: &str) -> StoreResult<Uuid> {
        let by: &str = &self.caller.username;
        let party = self.existing_party(county, party_id).await?;
        let household = self.registry().household_by_number(county, household_no.trim()).await?.ok_or_else(|| {
            StoreError::Invalid(format!("没有户编号 {household_no} / no household numbered {household_no}"))
        })?;
        if household.location.community.as_str() != party.community {
            return Err(StoreError::Invalid(
                "该户不在此房东或单位所在社区 / the household is not in the party's community".into(),
            ));
        }
        let work = UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("party_unit")
                    .columns(["county_code", "party_id", "household_id", "added_at", "added_by"])
                    .values_panic([
                        county.as_str().into(),
                        party_id.into(),
                        household.household_id.into(),
                        OffsetDateTime::now_utc().into(),
                        by.into(),
                    ])
                    .on_conflict(
                        OnConflict::columns(["county_code", "party_id", "household_id"]).do_nothing().to_owned(),
                    ),
            )
            .await?;
        let detail = format!("unit {}", household.household_id);
        work.commit(self.change_entry(format!("party/{county}/{party_id}"), county, detail)).await?;
        Ok(household.household_id)
    }

    /// A party's units with where they are and how many live there.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn party_units(&self, county: &DivisionCode, party_id: Uuid) -> StoreResult<Vec<PartyUnit>> {
        self.existing_party(county, party_id).await?;
        let mut q = Query::select();
        q.column(("u", "household_id"))
            .column(("h", "household_no"))
            .column(("v", "room_no"))
            .expr_as(Expr::col(("b", "name")), "building")
            .from_as("party_unit", "u")
            .join_as(
                JoinType::InnerJoin,
                "household",
                "h",
                crate::registry::same_county(("h", "id"), ("u", "household_id")),
            )
            .join_as(
                JoinType::InnerJoin,
                "household_version",
                "v",
                crate::registry::current_version(("v", "household_id"), "u"),
            )
            .join_as(
                JoinType::InnerJoin,
                "building",
                "b",
                crate::registry::same_county(("b", "id"), ("v", "building_id")),
            )
            .and_where(Expr::col(("u", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("u", "party_id")).eq(party_id))
            .order_by(("b", "name"), Order::Asc)
            .order_by(("v", "room_no"), Order::Asc);
        let mut units = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            units.push(from_row!(r => PartyUnit {
                household_id, household_no, building, room_no;
                members: 0,
            }));
        }
        // Who lives in each, counted in one query.
        let ids: Vec<Uuid> = units.iter().map(|u| u.household_id).collect();
        let mut living: HashMap<Uuid, u64> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut q = Query::select();
            q.column("household_id")
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from("resident_version")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("household_id").is_in(chunk.iter().copied()))
                .and_where(Expr::col("valid_to").is_null())
                .group_by_col("household_id");
            for r in self.store.db.query_all(&q).await? {
                living.insert(r.try_get("", "household_id")?, r.try_get::<i64>("", "n")? as u64);
            }
        }
        for u in &mut units {
            u.members = living.get(&u.household_id).copied().unwrap_or(0);
        }
        Ok(units)
    }

    /// The lines a party has reported, newest first, with their changes' states.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn party_lines(&self, county: &DivisionCode, party_id: Uuid) -> StoreResult<Vec<PartyLineRecord>> {
        self.existing_party(county, party_id).await?;
        let mut q = Query::select();
        q.columns([
            ("l", "id"),
            ("l", "movement"),
            ("l", "name"),
            ("l", "id_number"),
            ("l", "occurred_on"),
            ("l", "household_id"),
            ("l", "event_id"),
            ("l", "source"),
            ("l", "source_row"),
            ("l", "submitted_by"),
        ])
        .column(("e", "state"))
        .from_as("party_line", "l")
        .join_as(JoinType::LeftJoin, "change_event", "e", crate::registry::same_county(("e", "id"), ("l", "event_id")))
        .and_where(Expr::col(("l", "county_code")).eq(county.as_str()))
        .and_where(Expr::col(("l", "party_id")).eq(party_id))
        .order_by(("l", "submitted_at"), Order::Desc)
        .order_by(("l", "source_row"), Order::Asc);
        let mut out = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            let movement: String = r.try_get("", "movement")?;
            let state: Option<String> = r.try_get("", "state")?;
            out.push(from_row!(r => PartyLineRecord {
                id, name, id_number, occurred_on, household_id, event_id, source, submitted_by;
                movement: decode_opt("party_line", "movement", &movement, Movement::from_key)?,
                state: state.map(|s| decode_opt("change_event", "state", &s, EventState::from_key)).transpose()?,
                source_row: r.try_get::<i64>("", "source_row")? as u64,
            }));
        }
        Ok(out)
    }

    /// Households under `node` with a party's report still under review (plan items).
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn households_reported_by_parties(
        &self,
        node: &DivisionCode,
    ) -> StoreResult<std::collections::HashSet<Uuid>> {
        let mut q = Query::select();
        q.column(("l", "household_id"))
            .from_as("party_line", "l")
            .join_as(
                JoinType::InnerJoin,
                "change_event",
                "e",
                crate::registry::same_county(("e", "id"), ("l", "event_id")),
            )
            .cond_where(subtree(node, ("l", "community_code")))
            .and_where(Expr::col(("e", "state")).is_in(PENDING.iter().map(|s| s.key())));
        let mut out = std::collections::HashSet::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert(r.try_get("", "household_id")?);
        }
        Ok(out)
    }

    /// Submits a party's lines (`(row, line)`, from a form or a sheet named `source`).
    /// Every line is checked first; any problem refuses the whole report with every
    /// problem listed, and nothing is written. Otherwise each new line becomes a change
    /// event for the community (move in, move within the county, or move out), in one
    /// transaction; a line reported before is skipped.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn submit_party_lines(
        &self,
        county: &DivisionCode,
        party_id: Uuid,
        lines: &[(u64, PartyLine)],
        source: &str,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<Result<PartySubmission, Vec<RowProblem>>> {
        let party = self.existing_party(county, party_id).await?;
        let units = self.party_units(county, party_id).await?;
        if units.is_empty() {
            return Err(StoreError::Invalid("请先登记出租房屋或宿舍 / register the party's units first".into()));
        }
        let db = &self.store.db;
        // Everyone the lines name, as recorded now.
        let mut recorded: HashMap<String, ResidentVersion> = HashMap::new();
        let numbers: Vec<&str> = lines.iter().map(|(_, l)| l.id_number.as_str()).collect();
        for chunk in numbers.chunks(500) {
            let mut q = resident_select();
            q.and_where(Expr::col("id_number").is_in(chunk.iter().copied())).and_where(Expr::col("valid_to").is_null());
            for r in db.query_all(&q).await? {
                let v = resident_row(&r)?;
                if &v.county == county
                    && let Identity::Number(n) = &v.facts.identity
                {
                    recorded.insert(n.to_string(), v);
                }
            }
        }
        // Lines reported before are skipped before they are checked: a departure already
        // accepted no longer finds its person, and must not refuse the resent sheet.
        let mut reported: HashSet<(String, String, Date)> = HashSet::new();
        let mut q = Query::select();
        q.columns(["movement", "id_number", "occurred_on"])
            .from("party_line")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("party_id").eq(party_id));
        for r in db.query_all(&q).await? {
            reported.insert((r.try_get("", "movement")?, r.try_get("", "id_number")?, r.try_get("", "occurred_on")?));
        }
        let mut done = PartySubmission::default();
        let mut problems = Vec::new();
        let mut proposals = Vec::new();
        for (row, line) in lines {
            let key = (line.movement.key().to_string(), line.id_number.as_str().to_string(), line.date);
            if reported.contains(&key) {
                done.repeated.push(*row);
                continue;
            }
            let problem = |field: Option<PartyField>, message: String| RowProblem { row: *row, field, message };
            let unit = match &line.unit {
                None if units.len() == 1 => Some(&units[0]),
                None => {
                    problems.push(problem(
                        Some(PartyField::Unit),
                        "有多处房屋，请填写房号或户编号 / the party has several units: give the room or household number"
                            .into(),
                    ));
                    continue;
                }
                Some(u) => {
                    let found = units.iter().find(|x| &x.room_no == u || &x.household_no == u);
                    if found.is_none() {
                        problems.push(problem(
                            Some(PartyField::Unit),
                            format!("“{u}”不是登记的房屋 / '{u}' is not one of the party's units"),
                        ));
                    }
                    found
                }
            };
            let Some(unit) = unit else { continue };
            let person = recorded.get(line.id_number.as_str());
            let proposal = match (line.movement, person) {
                (Movement::Arrival, Some(p)) if p.facts.household_id == unit.household_id => {
                    Proposal::AlreadyRecorded { household_id: unit.household_id }
                }
                (Movement::Arrival, Some(p)) => {
                    if self.require_scope(&p.community, "").is_err() {
                        let message = crate::exchange::import::OUTSIDE_SCOPE.to_string();
                        problems.push(problem(Some(PartyField::IdNumber), message));
                        continue;
                    }
                    Proposal::Event {
                        household_id: unit.household_id,
                        resident_id: Some(p.resident_id),
                        details: EventDetails::MoveWithin { household_id: unit.household_id },
                    }
                }
                (Movement::Arrival, None) => {
                    let Some(ethnicity) = line.ethnicity else {
                        problems.push(problem(
                            Some(PartyField::Ethnicity),
                            "新登记的人须填写民族 / the ethnic group is required for someone not yet recorded".into(),
                        ));
                        continue;
                    };
                    let home = line.id_number.issuing_region().and_then(|r| r.at_level(DivisionLevel::County));
                    let registered_here = home.as_ref() == Some(county);
                    let occupied = unit.members > 0;
                    let newcomer = ResidentFacts {
                        name: line.name.clone(),
                        sex: line.id_number.sex(),
                        birth_date: line.id_number.birth_date(),
                        identity: Identity::Number(line.id_number.clone()),
                        ethnicity,
                        phone: line.phone.clone(),
                        registered_residence: home.unwrap_or_else(|| county.clone()),
                        household_id: unit.household_id,
                        relationship: if occupied { Relationship::Other } else { Relationship::Head },
                        residence_status: if registered_here {
                            ResidenceStatus::Registered
                        } else {
                            ResidenceStatus::Inflow
                        },
                        arrival_date: (!registered_here).then_some(line.date),
                        marital_status: MaritalStatus::Unspecified,
                    };
                    if let Err(e) = newcomer.check(today) {
                        problems.push(problem(None, e.to_string()));
                        continue;
                    }
                    Proposal::Event {
                        household_id: unit.household_id,
                        resident_id: None,
                        details: EventDetails::MoveIn { newcomer, origin: None },
                    }
                }
                (Movement::Departure, Some(p)) if units.iter().any(|u| u.household_id == p.facts.household_id) => {
                    Proposal::Event {
                        household_id: p.facts.household_id,
                        resident_id: Some(p.resident_id),
                        details: EventDetails::MoveOut { destination: None },
                    }
                }
                (Movement::Departure, _) => {
                    problems.push(problem(
                        Some(PartyField::IdNumber),
                        "此人未登记住在该房东或单位的房屋 / this person is not recorded as living in the party's units"
                            .into(),
                    ));
                    continue;
                }
            };
            proposals.push((*row, line, proposal));
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let reporting = Reporting { access: self.access };
        let mut work = UnitOfWork::begin(self.store).await?;
        let now = OffsetDateTime::now_utc();
        for (row, line, proposal) in proposals {
            // The line first, once: a sheet sent twice at the same moment finds its line
            // taken here and proposes nothing.
            let line_id = Uuid::now_v7();
            let household_id = match &proposal {
                Proposal::AlreadyRecorded { household_id } | Proposal::Event { household_id, .. } => *household_id,
            };
            let inserted = work
                .txn
                .execute(
                    Query::insert()
                        .into_table("party_line")
                        .columns([
                            "county_code",
                            "id",
                            "party_id",
                            "community_code",
                            "household_id",
                            "movement",
                            "id_number",
                            "name",
                            "occurred_on",
                            "source",
                            "source_row",
                            "submitted_by",
                            "submitted_at",
                        ])
                        .values_panic([
                            county.as_str().into(),
                            line_id.into(),
                            party_id.into(),
                            party.community.as_str().into(),
                            household_id.into(),
                            line.movement.key().into(),
                            line.id_number.as_str().into(),
                            line.name.to_string().into(),
                            line.date.into(),
                            source.into(),
                            (row as i64).into(),
                            actor.username.into(),
                            now.into(),
                        ])
                        .on_conflict(
                            OnConflict::columns(["county_code", "party_id", "movement", "id_number", "occurred_on"])
                                .do_nothing()
                                .to_owned(),
                        ),
                )
                .await?
                .rows_affected();
            if inserted == 0 {
                done.repeated.push(row);
                continue;
            }
            match proposal {
                Proposal::AlreadyRecorded { .. } => done.already_recorded.push(row),
                Proposal::Event { resident_id, details, .. } => {
                    let event = NewEvent {
                        county: county.clone(),
                        resident_id,
                        occurred_on: line.date,
                        urgent: false,
                        evidence: party.kind.evidence(&party.name, source, row),
                        details,
                    };
                    let id = reporting
                        .submit_in(&mut work, &event, actor, today)
                        .await
                        .map_err(|e| StoreError::Invalid(format!("第{row}行 / row {row}: {e}")))?;
                    work.txn
                        .execute(
                            Query::update()
                                .table("party_line")
                                .value("event_id", id)
                                .and_where(Expr::col("county_code").eq(county.as_str()))
                                .and_where(Expr::col("id").eq(line_id)),
                        )
                        .await?;
                    done.proposed.push((row, id));
                }
            }
        }
        let detail = format!(
            "lines from {source}: {} proposed, {} already recorded, {} repeated",
            done.proposed.len(),
            done.already_recorded.len(),
            done.repeated.len()
        );
        work.commit(self.change_entry(format!("party/{county}/{party_id}"), county, detail)).await?;
        Ok(Ok(done))
    }
}

#[cfg(test)]
mod tests;
