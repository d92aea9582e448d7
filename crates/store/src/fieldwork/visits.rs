//! 走访: visits recorded from the 今日走访 page (idempotent by the page's own id, so a
//! visit queued offline and sent twice is stored once), what they do to the registry,
//! and the visit plan of a community for a month.

use std::collections::{HashMap, HashSet};

use jiceng_domain::fieldwork::{PlanItem, PlanReason, Tier, TierRules, VisitOutcome, order_for_walking};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::{EventDetails, EventState, Month};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, JoinType, Query};
use sea_orm::{ConnectionTrait, StreamTrait, TransactionTrait};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::tiers::{current_rules, reassess_in};
use super::verify_in;
use crate::error::{StoreError, StoreResult, decode_opt};
use crate::registry::{Registry, current_household, join_household, members, subtree};
use crate::reporting::{Actor, NewEvent, Reporting};

/// A visit as the page sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisit {
    /// Made by the page when the worker taps; the same id sent again is the same visit.
    pub id: Uuid,
    pub county: DivisionCode,
    pub household_id: Uuid,
    pub visited_on: Date,
    pub outcome: VisitOutcome,
    pub notes: String,
}

/// What recording a visit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRecorded {
    /// The visit had been recorded before (sent twice); nothing was written.
    pub duplicate: bool,
    pub verified: u32,
    /// Move-out events started for the members (moved away).
    pub events: Vec<Uuid>,
}

impl Registry<'_> {
    /// Records a visit and its effects in one transaction: members verified (seen,
    /// confirmed by a member, from the landlord), move-out events started (moved away).
    pub async fn record_visit(&self, visit: &NewVisit, actor: Actor<'_>, today: Date) -> StoreResult<VisitRecorded> {
        if visit.visited_on > today {
            return Err(StoreError::Invalid(format!(
                "走访日期{}晚于今天 / visit date {} is in the future",
                visit.visited_on, visit.visited_on
            )));
        }
        let notes: String = visit.notes.trim().chars().take(500).collect();
        let txn = self.store.db.begin().await?;
        let household = current_household(&txn, &visit.county, visit.household_id).await?;
        self.require_scope(&household.location.community, "户 / household")?;
        let mut q = Query::select();
        q.column("id")
            .from("visit")
            .and_where(Expr::col("county_code").eq(visit.county.as_str()))
            .and_where(Expr::col("id").eq(visit.id));
        if txn.query_one(&q).await?.is_some() {
            return Ok(VisitRecorded { duplicate: true, verified: 0, events: Vec::new() });
        }
        txn.execute(
            Query::insert()
                .into_table("visit")
                .columns([
                    "county_code",
                    "id",
                    "household_id",
                    "community_code",
                    "building_id",
                    "floor_no",
                    "visited_on",
                    "outcome",
                    "notes",
                    "recorded_by",
                    "recorded_at",
                ])
                .values_panic([
                    visit.county.as_str().into(),
                    visit.id.into(),
                    visit.household_id.into(),
                    household.location.community.as_str().into(),
                    household.location.building_id.into(),
                    household.location.floor_no.into(),
                    visit.visited_on.into(),
                    visit.outcome.key().into(),
                    notes.clone().into(),
                    actor.username.into(),
                    OffsetDateTime::now_utc().into(),
                ]),
        )
        .await?;
        super::floors::count_visit(&txn, &visit.county, visit.household_id, visit.visited_on).await?;
        let people = members(&txn, &visit.county, visit.household_id).await?;
        let mut done = VisitRecorded { duplicate: false, verified: 0, events: Vec::new() };
        if let Some(method) = visit.outcome.verification() {
            for m in &people {
                if visit.visited_on >= m.facts.birth_date {
                    verify_in(&txn, m, visit.visited_on, method, actor.username).await?;
                    reassess_in(&txn, m, today, "visit").await?;
                    done.verified += 1;
                }
            }
        }
        if visit.outcome == VisitOutcome::MovedAway {
            let reporting = Reporting { store: self.store, scope: self.scope };
            for m in &people {
                let event = NewEvent {
                    county: visit.county.clone(),
                    resident_id: Some(m.resident_id),
                    occurred_on: visit.visited_on,
                    urgent: false,
                    evidence: format!("走访发现已搬走 / found moved away on a visit. {notes}"),
                    details: EventDetails::MoveOut { destination: None },
                };
                done.events.push(reporting.submit_in(&txn, &event, actor, today).await?);
            }
        }
        txn.commit().await?;
        Ok(done)
    }

    /// The community's visit plan for `month`: households with members due for
    /// re-verification by their tier (or never verified), households on floors not
    /// walked in the month, and households with a returned event — ordered for walking.
    pub async fn visit_plan(&self, community: &DivisionCode, month: Month) -> StoreResult<Vec<PlanItem>> {
        self.visit_plan_keeping(community, month, &HashSet::new()).await
    }

    /// [`Self::visit_plan`], also keeping the households in `keep` (visited today, so the
    /// worker sees what was done) even when nothing is due there any more.
    pub async fn visit_plan_keeping(
        &self,
        community: &DivisionCode,
        month: Month,
        keep: &HashSet<Uuid>,
    ) -> StoreResult<Vec<PlanItem>> {
        self.plans_under(community, month, keep).await
    }

    /// The plans of every community under `node` (a community, street or county) for
    /// `month`, in one pass: one list ordered community by community for walking.
    pub async fn visit_plans(&self, node: &DivisionCode, month: Month) -> StoreResult<Vec<PlanItem>> {
        self.plans_under(node, month, &HashSet::new()).await
    }

    async fn plans_under(&self, node: &DivisionCode, month: Month, keep: &HashSet<Uuid>) -> StoreResult<Vec<PlanItem>> {
        self.require_scope(node, "区划 / region")?;
        let db = &self.store.db;
        let rules = current_rules(db).await?;
        let (first, last) = (month.first_day(), month.last_day());
        // Floors walked in the month.
        let mut q = Query::select();
        q.columns(["building_id", "floor_no"])
            .from("visit")
            .cond_where(subtree(node, "community_code"))
            .and_where(Expr::col("visited_on").gte(first))
            .and_where(Expr::col("visited_on").lte(last));
        let mut walked: HashSet<(Uuid, i16)> = HashSet::new();
        for r in db.query_all(&q).await? {
            walked.insert((r.try_get("", "building_id")?, r.try_get("", "floor_no")?));
        }
        let mut q = Query::select();
        q.column("household_id")
            .from("change_event")
            .cond_where(subtree(node, "community_code"))
            .and_where(Expr::col("state").eq(EventState::Returned.key()));
        let mut returned: HashSet<Uuid> = HashSet::new();
        for r in db.query_all(&q).await? {
            if let Some(h) = r.try_get::<Option<Uuid>>("", "household_id")? {
                returned.insert(h);
            }
        }
        let context = PlanContext {
            cutoffs: Tier::ALL.iter().map(|t| (*t, rules.due_cutoff(*t, last))).collect(),
            rules,
            grids: self.grids_under(node).await?,
            buildings: self.building_names_under(node).await?,
            walked,
            returned,
            reported: self.households_reported_by_parties(node).await?,
            keep,
        };
        // One pass over the node's communities (from its first to its last code). Two
        // halves read at once on two connections were slower here: SQLite hands rows
        // over one at a time, and both readers competed for the two cores.
        let mut q = Query::select();
        q.expr_as(Expr::cust("MIN(community_code)"), "low")
            .expr_as(Expr::cust("MAX(community_code)"), "high")
            .from("grid")
            .cond_where(subtree(node, "community_code"));
        let (low, high): (Option<String>, Option<String>) = match db.query_one(&q).await? {
            Some(r) => (r.try_get("", "low")?, r.try_get("", "high")?),
            None => (None, None),
        };
        let mut items = match (low, high) {
            (Some(low), Some(high)) => context.read(db, &low, &high).await?,
            _ => Vec::new(),
        };
        order_for_walking(&mut items);
        Ok(items)
    }

    /// Grids under `node`: id → (number, name).
    pub(crate) async fn grids_under(&self, node: &DivisionCode) -> StoreResult<HashMap<Uuid, (i32, String)>> {
        let mut q = Query::select();
        q.columns(["id", "number", "name"]).from("grid").cond_where(subtree(node, "community_code"));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert(r.try_get("", "id")?, (r.try_get("", "number")?, r.try_get("", "name")?));
        }
        Ok(out)
    }

    /// Building names under `node`.
    pub(crate) async fn building_names_under(&self, node: &DivisionCode) -> StoreResult<HashMap<Uuid, String>> {
        let mut q = Query::select();
        q.columns(["id", "name"]).from("building").cond_where(subtree(node, "community_code"));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert(r.try_get("", "id")?, r.try_get("", "name")?);
        }
        Ok(out)
    }

    /// Visits recorded in the community on `day`: household → outcome.
    pub async fn visits_on(&self, community: &DivisionCode, day: Date) -> StoreResult<HashMap<Uuid, VisitOutcome>> {
        self.require_scope(community, "社区 / community")?;
        let mut q = Query::select();
        q.columns(["household_id", "outcome"])
            .from("visit")
            .and_where(Expr::col("community_code").eq(community.as_str()))
            .and_where(Expr::col("visited_on").eq(day));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            let outcome: String = r.try_get("", "outcome")?;
            out.insert(
                r.try_get("", "household_id")?,
                decode_opt("visit", "outcome", &outcome, VisitOutcome::from_key)?,
            );
        }
        Ok(out)
    }

    /// How many visits were recorded under `node` in `month`.
    pub async fn visits_in(&self, node: &DivisionCode, month: Month) -> StoreResult<u64> {
        self.require_scope(node, "区划 / region")?;
        let mut q = Query::select();
        q.expr(Expr::col("id").count())
            .from("visit")
            .cond_where(subtree(node, "community_code"))
            .and_where(Expr::col("visited_on").gte(month.first_day()))
            .and_where(Expr::col("visited_on").lte(month.last_day()));
        Ok(match self.store.db.query_one(&q).await? {
            Some(r) => r.try_get_by_index::<i64>(0)? as u64,
            None => 0,
        })
    }

    /// How many visits are stored under this id (0 or 1; for tests of resending).
    pub async fn visit_count(&self, county: &DivisionCode, id: Uuid) -> StoreResult<u64> {
        let mut q = Query::select();
        q.expr(Expr::col("id").count())
            .from("visit")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id));
        Ok(match self.store.db.query_one(&q).await? {
            Some(r) => r.try_get_by_index::<i64>(0)? as u64,
            None => 0,
        })
    }
}

/// What every part of a plan shares: the rules, names, floors walked, households with a
/// returned event or a party's report, and households to keep.
struct PlanContext<'a> {
    rules: TierRules,
    cutoffs: Vec<(Tier, Date)>,
    grids: HashMap<Uuid, (i32, String)>,
    buildings: HashMap<Uuid, String>,
    walked: HashSet<(Uuid, i16)>,
    returned: HashSet<Uuid>,
    reported: HashSet<Uuid>,
    keep: &'a HashSet<Uuid>,
}

impl PlanContext<'_> {
    /// The plan items of the communities from `low` to `high` (codes, inclusive).
    async fn read(&self, db: &sea_orm::DatabaseConnection, low: &str, high: &str) -> StoreResult<Vec<PlanItem>> {
        let range = |table: &'static str| {
            Cond::all()
                .add(Expr::col((table, "community_code")).gte(low))
                .add(Expr::col((table, "community_code")).lte(high))
        };
        // Per household, in SQL: members, members due by the month's end, the closest
        // tier among those due, and each tier's earliest last verification (for the
        // earliest due date). Not yet assessed counts as the closest follow-up.
        // Tier keys and dates are written into the SQL as literals: both come from our
        // own types (ASCII keys, ISO dates), never from input.
        let tier = "COALESCE(f.tier, 'concern')";
        let mut due = vec!["f.last_verified_on IS NULL".to_string()];
        for (t, cutoff) in &self.cutoffs {
            due.push(format!("({tier} = '{}' AND f.last_verified_on <= '{cutoff}')", t.key()));
        }
        let due = format!("({})", due.join(" OR "));
        let rank = Tier::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| format!("WHEN '{}' THEN {i}", t.key()))
            .collect::<Vec<_>>()
            .join(" ");
        // From the narrow follow-up table, grouped in its index's order (no join, no sort).
        let mut members = Query::select();
        members
            .expr_as(Expr::col(("f", "community_code")), "community_code")
            .expr_as(Expr::col(("f", "household_id")), "household_id")
            .expr_as(Expr::cust("COUNT(*)"), "members")
            .expr_as(Expr::cust(format!("SUM(CASE WHEN {due} THEN 1 ELSE 0 END)")), "due")
            .expr_as(
                Expr::cust(format!("CAST(MAX(CASE WHEN {due} THEN CASE {tier} {rank} END END) AS BIGINT)")),
                "due_rank",
            );
        for t in Tier::ALL {
            members.expr_as(
                Expr::cust(format!("MIN(CASE WHEN {tier} = '{}' THEN f.last_verified_on END)", t.key())),
                format!("last_{}", t.key()),
            );
        }
        members
            .from_as("resident_followup", "f")
            .cond_where(range("f"))
            .group_by_columns([("f", "community_code"), ("f", "household_id")]);
        let mut q = Query::select();
        q.columns([
            ("v", "household_id"),
            ("v", "community_code"),
            ("v", "grid_id"),
            ("v", "building_id"),
            ("v", "unit_no"),
            ("v", "floor_no"),
            ("v", "room_no"),
        ])
        .column(("h", "household_no"))
        .columns([("m", "members"), ("m", "due"), ("m", "due_rank")])
        .columns(Tier::ALL.iter().map(|t| ("m", format!("last_{}", t.key()))))
        .from_as("household_version", "v");
        join_household(&mut q);
        q.join_subquery(
            JoinType::LeftJoin,
            members,
            "m",
            Expr::col(("m", "community_code"))
                .equals(("v", "community_code"))
                .and(Expr::col(("m", "household_id")).equals(("v", "household_id"))),
        )
        .cond_where(range("v"))
        .and_where(Expr::col(("v", "valid_to")).is_null());
        // Columns by position (a district's plan reads over a million rows): the order
        // of the select above.
        const HOUSEHOLD: usize = 0;
        const COMMUNITY: usize = 1;
        const GRID: usize = 2;
        const BUILDING: usize = 3;
        const UNIT: usize = 4;
        const FLOOR: usize = 5;
        const ROOM: usize = 6;
        const HOUSEHOLD_NO: usize = 7;
        const MEMBERS: usize = 8;
        const DUE: usize = 9;
        const DUE_RANK: usize = 10;
        const LAST_VERIFIED: usize = 11;
        let mut items = Vec::new();
        // Streamed: the rows of a whole district are not held at once.
        let mut rows = db.stream(&q).await?;
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let household_id: Uuid = r.try_get_by_index(HOUSEHOLD)?;
            let building_id: Uuid = r.try_get_by_index(BUILDING)?;
            let floor_no: i16 = r.try_get_by_index(FLOOR)?;
            let due_count: Option<i64> = r.try_get_by_index(DUE)?;
            let due_count = u32::try_from(due_count.unwrap_or(0)).unwrap_or(0);
            let mut reasons = Vec::new();
            if due_count > 0 {
                let rank: Option<i64> = r.try_get_by_index(DUE_RANK)?;
                let tier = rank
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| Tier::ALL.get(i).copied())
                    .unwrap_or(Tier::Concern);
                reasons.push(PlanReason::Due { residents: due_count, tier });
            }
            if !self.walked.contains(&(building_id, floor_no)) {
                reasons.push(PlanReason::FloorNotWalked);
            }
            if self.returned.contains(&household_id) {
                reasons.push(PlanReason::ReturnedEvent);
            }
            if self.reported.contains(&household_id) {
                reasons.push(PlanReason::PartyReported);
            }
            if reasons.is_empty() && !self.keep.contains(&household_id) {
                continue;
            }
            let mut due_on: Option<Date> = None;
            for (i, t) in Tier::ALL.iter().enumerate() {
                let last: Option<Date> = r.try_get_by_index(LAST_VERIFIED + i)?;
                if let Some(d) = self.rules.due_on(*t, last) {
                    due_on = Some(due_on.map_or(d, |e| Ord::min(e, d)));
                }
            }
            let grid_id: Uuid = r.try_get_by_index(GRID)?;
            let (grid_number, grid_name) = self.grids.get(&grid_id).cloned().unwrap_or_default();
            let members: Option<i64> = r.try_get_by_index(MEMBERS)?;
            let community: String = r.try_get_by_index(COMMUNITY)?;
            items.push(PlanItem {
                county: community.get(..6).unwrap_or_default().to_string(),
                community,
                household_id,
                household_no: r.try_get_by_index(HOUSEHOLD_NO)?,
                grid_number,
                grid_name,
                building_name: self.buildings.get(&building_id).cloned().unwrap_or_default(),
                unit_no: r.try_get_by_index(UNIT)?,
                floor_no,
                room_no: r.try_get_by_index(ROOM)?,
                members: u32::try_from(members.unwrap_or(0)).unwrap_or(0),
                reasons,
                due_on,
            });
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests;
