//! 走访: visits recorded from the 今日走访 page (idempotent by the page's own id, so a
//! visit queued offline and sent twice is stored once), what they do to the registry,
//! and the visit plan of a community for a month.

use std::collections::{HashMap, HashSet};

use jiceng_domain::fieldwork::{PlanItem, PlanReason, Tier, TierRules, VisitOutcome, order_for_walking};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::{EventDetails, EventState, Month};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, StreamTrait};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::Fieldwork;
use super::tiers::{current_rules, reassess_in};
use super::verify_in;
use crate::error::{StoreError, StoreResult, decode_opt};
use crate::registry::{current_household, in_counties, join_household, members, subtree};
use crate::reporting::{Actor, NewEvent, Reporting};
use crate::write::{FloorCount, UnitOfWork};

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

impl Fieldwork<'_> {
    /// Records a visit and its effects in one transaction: members verified (seen,
    /// confirmed by a member, from the landlord), move-out events started (moved away).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_visit(&self, visit: &NewVisit, actor: Actor<'_>, today: Date) -> StoreResult<VisitRecorded> {
        if visit.visited_on > today {
            return Err(StoreError::Invalid(format!(
                "走访日期{}晚于今天 / visit date {} is in the future",
                visit.visited_on, visit.visited_on
            )));
        }
        let notes: String = visit.notes.trim().chars().take(500).collect();
        let mut work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let household = current_household(txn, &visit.county, visit.household_id).await?;
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
        work.changes.floor_counts.push(FloorCount::Visit {
            county: visit.county.clone(),
            household: visit.household_id,
            day: visit.visited_on,
        });
        let people = members(&work.txn, &visit.county, visit.household_id).await?;
        let mut done = VisitRecorded { duplicate: false, verified: 0, events: Vec::new() };
        if let Some(method) = visit.outcome.verification() {
            for m in &people {
                if visit.visited_on >= m.facts.birth_date {
                    verify_in(&mut work, m, visit.visited_on, method, actor.username).await?;
                    reassess_in(&mut work, m, today, "visit").await?;
                    done.verified += 1;
                }
            }
        }
        if visit.outcome == VisitOutcome::MovedAway {
            let reporting = Reporting { access: self.access };
            for m in &people {
                let event = NewEvent {
                    county: visit.county.clone(),
                    resident_id: Some(m.resident_id),
                    occurred_on: visit.visited_on,
                    urgent: false,
                    evidence: VisitOutcome::MovedAway.evidence(&notes),
                    details: EventDetails::MoveOut { destination: None },
                };
                done.events.push(reporting.submit_in(&mut work, &event, actor, today).await?);
            }
        }
        let county = &visit.county;
        let detail = format!("visit {} {}, {} verified", visit.visited_on, visit.outcome.key(), done.verified);
        work.commit(self.change_entry(format!("household/{county}/{}", visit.household_id), county, detail)).await?;
        Ok(done)
    }

    /// The community's visit plan for `month`: households with members due for
    /// re-verification by their tier (or never verified), households on floors not
    /// walked in the month, and households with a returned event — ordered for walking.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn visit_plan(&self, community: &DivisionCode, month: Month) -> StoreResult<Vec<PlanItem>> {
        self.visit_plan_keeping(community, month, &HashSet::new()).await
    }

    /// [`Self::visit_plan`], also keeping the households in `keep` (visited today, so the
    /// worker sees what was done) even when nothing is due there any more.
    #[tracing::instrument(level = "debug", skip_all)]
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
    #[tracing::instrument(level = "debug", skip_all)]
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
            last_day: last,
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
            (Some(low), Some(high)) => context.read(db, node, &low, &high).await?,
            _ => Vec::new(),
        };
        order_for_walking(&mut items);
        Ok(items)
    }

    /// Grids under `node`: id → (number, name).
    #[tracing::instrument(level = "debug", skip_all)]
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
    #[tracing::instrument(level = "debug", skip_all)]
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
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn visits_on(&self, community: &DivisionCode, day: Date) -> StoreResult<HashMap<Uuid, VisitOutcome>> {
        self.require_scope(community, "社区 / community")?;
        let mut q = Query::select();
        q.columns(["household_id", "outcome"])
            .from("visit")
            .cond_where(crate::registry::subtree(community, "community_code"))
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
    #[tracing::instrument(level = "debug", skip_all)]
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
    #[tracing::instrument(level = "debug", skip_all)]
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
    /// The period's last day: residents due by then are on the plan.
    last_day: Date,
    grids: HashMap<Uuid, (i32, String)>,
    buildings: HashMap<Uuid, String>,
    walked: HashSet<(Uuid, i16)>,
    returned: HashSet<Uuid>,
    reported: HashSet<Uuid>,
    keep: &'a HashSet<Uuid>,
}

/// One household of a packed plan row, as the database writes it: ids (hex on SQLite,
/// hyphenated on PostgreSQL), unit, floor, room and 户编号 (none when read separately).
#[derive(serde::Deserialize)]
struct PackedHousehold<'a>(&'a str, &'a str, &'a str, i16, i16, String, Option<String>);

/// What the plan needs of one household's residents: how many, how many are due by the
/// month's end, the closest tier among those due, and the earliest due date.
#[derive(Debug, Default, Clone, Copy)]
struct Followup {
    members: u32,
    due: u32,
    due_tier: Option<Tier>,
    due_on: Option<Date>,
}

/// How each database writes a packed row: a uuid column as text, text concatenated,
/// JSON arrays and their aggregate (read back as text).
impl PlanContext<'_> {
    /// The plan items of the communities from `low` to `high` (codes, inclusive).
    ///
    /// Read as two packed queries, one row per community: every resident's follow-up
    /// (household, tier, last verification) and every current household with where it
    /// is. A district's plan covers over a million households and four million
    /// residents; per row and per value, the driver (SQLite hands each row over from its
    /// own thread) cost twice the query itself, and grouping per household in SQL cost
    /// more than doing it here. Both scans read one covering index in order.
    async fn read(
        &self,
        db: &sea_orm::DatabaseConnection,
        node: &DivisionCode,
        low: &str,
        high: &str,
    ) -> StoreResult<Vec<PlanItem>> {
        let pack = crate::dialect::Dialect::of(db);
        // Residents: "id,tier,date" joined by ';'. Tier keys and ISO dates hold neither.
        let mut q = Query::select();
        q.column(("f", "community_code"))
            .expr_as(
                Expr::cust(pack.string_agg(
                    &format!(
                        "{} || ',' || COALESCE(f.tier, '') || ',' || COALESCE(CAST(f.last_verified_on AS TEXT), '')",
                        pack.uuid_text("f.household_id")
                    ),
                    ";",
                )),
                "residents",
            )
            .from_as("resident_followup", "f")
            .cond_where(in_counties(node, ("f", "county_code")))
            .and_where(Expr::col(("f", "community_code")).gte(low))
            .and_where(Expr::col(("f", "community_code")).lte(high))
            .group_by_col(("f", "community_code"));
        let mut followups: HashMap<Uuid, Followup> = HashMap::new();
        let mut rows = db.stream(&q).await?;
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let community: String = r.try_get_by_index(0)?;
            let text: String = r.try_get_by_index(1)?;
            for resident in text.split(';') {
                let mut parts = resident.split(',');
                let (Some(household), Some(tier), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(plan_corrupt(format!("{community}: {resident}")));
                };
                let household = uuid_of(&community, household)?;
                // Not yet assessed counts as the closest follow-up.
                let tier = Tier::from_key(tier).unwrap_or(Tier::Concern);
                let last = match last {
                    "" => None,
                    text => Some(
                        Date::parse(text, ISO_DATE).map_err(|e| plan_corrupt(format!("{community}: {text}: {e}")))?,
                    ),
                };
                let due_on = self.rules.due_on(tier, last);
                let f = followups.entry(household).or_default();
                f.members += 1;
                // Never verified is due at once.
                if due_on.is_none_or(|d| d <= self.last_day) {
                    f.due += 1;
                    f.due_tier = f.due_tier.max(Some(tier));
                }
                if let Some(d) = due_on {
                    f.due_on = Some(f.due_on.map_or(d, |e| Ord::min(e, d)));
                }
            }
        }
        drop(rows);
        // Households: JSON arrays, as room numbers and 户编号 are free text.
        // One community: each household's 户编号 by its key. Several: one pass over the
        // counties' households instead (a million lookups cost more than the scan).
        let numbers = if low == high { None } else { Some(household_numbers(db, &pack, node).await?) };
        let number = if numbers.is_some() { "NULL" } else { "h.household_no" };
        let households = pack.json_arrays(&format!(
            "{}, {}, {}, v.unit_no, v.floor_no, v.room_no, {number}",
            pack.uuid_text("v.household_id"),
            pack.uuid_text("v.grid_id"),
            pack.uuid_text("v.building_id")
        ));
        let mut q = Query::select();
        q.column(("v", "community_code"))
            .expr_as(Expr::cust(households), "households")
            .from_as("household_version", "v");
        if numbers.is_none() {
            join_household(&mut q);
        }
        q.cond_where(in_counties(node, ("v", "county_code")))
            .and_where(Expr::col(("v", "community_code")).gte(low))
            .and_where(Expr::col(("v", "community_code")).lte(high))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .group_by_col(("v", "community_code"));
        let mut items = Vec::new();
        let mut rows = db.stream(&q).await?;
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let community: String = r.try_get_by_index(0)?;
            let text: String = r.try_get_by_index(1)?;
            let packed: Vec<PackedHousehold> =
                serde_json::from_str(&text).map_err(|e| plan_corrupt(format!("{community}: {e}")))?;
            let county = community.get(..6).unwrap_or_default().to_string();
            for mut h in packed {
                if let Some(numbers) = &numbers {
                    h.6 = numbers.get(&uuid_of(&community, h.0)?).cloned();
                }
                if let Some(item) = self.item(&county, &community, h, &followups)? {
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    /// The plan item of one household, if it is on the plan.
    fn item(
        &self,
        county: &str,
        community: &str,
        h: PackedHousehold<'_>,
        followups: &HashMap<Uuid, Followup>,
    ) -> StoreResult<Option<PlanItem>> {
        let PackedHousehold(household, grid, building, unit_no, floor_no, room_no, household_no) = h;
        let uuid = |text: &str| uuid_of(community, text);
        let household_id = uuid(household)?;
        let building_id = uuid(building)?;
        let followup = followups.get(&household_id).copied().unwrap_or_default();
        let mut reasons = Vec::new();
        if followup.due > 0 {
            reasons.push(PlanReason::Due { residents: followup.due, tier: followup.due_tier.unwrap_or(Tier::Concern) });
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
            return Ok(None);
        }
        let (grid_number, grid_name) = self.grids.get(&uuid(grid)?).cloned().unwrap_or_default();
        Ok(Some(PlanItem {
            county: county.to_string(),
            community: community.to_string(),
            household_id,
            household_no: household_no.unwrap_or_default(),
            grid_number,
            grid_name,
            building_name: self.buildings.get(&building_id).cloned().unwrap_or_default(),
            unit_no,
            floor_no,
            room_no,
            members: followup.members,
            reasons,
            due_on: followup.due_on,
        }))
    }
}

/// 户编号 of every household in the counties of `node`.
async fn household_numbers(
    db: &sea_orm::DatabaseConnection,
    pack: &crate::dialect::Dialect,
    node: &DivisionCode,
) -> StoreResult<HashMap<Uuid, String>> {
    let mut q = Query::select();
    q.column("county_code")
        .expr_as(Expr::cust(pack.json_arrays(&format!("{}, household_no", pack.uuid_text("id")))), "numbers")
        .from("household")
        .cond_where(in_counties(node, "county_code"))
        .group_by_col("county_code");
    let mut numbers = HashMap::new();
    let mut rows = db.stream(&q).await?;
    while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
        let county: String = r.try_get_by_index(0)?;
        let text: String = r.try_get_by_index(1)?;
        let packed: Vec<(&str, String)> =
            serde_json::from_str(&text).map_err(|e| plan_corrupt(format!("{county}: {e}")))?;
        for (household, number) in packed {
            numbers.insert(uuid_of(&county, household)?, number);
        }
    }
    Ok(numbers)
}

/// A uuid as a packed plan row writes it.
fn uuid_of(community: &str, text: &str) -> StoreResult<Uuid> {
    Uuid::try_parse(text).map_err(|e| plan_corrupt(format!("{community}: {text}: {e}")))
}

/// A packed plan row that does not read back (only a bug or a damaged database does this).
fn plan_corrupt(value: String) -> StoreError {
    StoreError::Corrupt { table: "household_version", column: "plan", value }
}

const ISO_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

#[cfg(test)]
mod tests;
