//! The resident registry: grids, buildings, households and residents, versioned.
//!
//! No update overwrites a fact. A change closes the current version (sets its
//! `valid_to`) and appends a new one, in one transaction; `valid_to IS NULL` marks the
//! current version, and "as of date D" picks the version whose interval holds D.

pub(crate) mod population;
pub(crate) mod rows;
mod search;
pub(crate) mod structure;

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::{ExitReason, HouseholdLocation, ResidenceStatus, ResidentFacts};
use sea_orm::sea_query::{Alias, ColumnRef, Cond, Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

pub use population::PopulationSummary;
pub use rows::{HouseholdVersion, ResidentVersion, VersionStamp};
pub use search::SearchQuery;
pub use structure::{Building, BuildingSummary, Grid, GridSummary, HouseholdSummary};

use crate::error::{StoreError, StoreResult};
use crate::read_rows;
use crate::reporting::cells::Locks;
use crate::write::UnitOfWork;
use jiceng_domain::reporting::{Month, Tally, cell};
use rows::{
    HOUSEHOLD_LOCATION_COLUMNS, RESIDENT_FACT_COLUMNS, VERSION_COLUMNS, household_row, location_values,
    resident_fact_values, resident_row, stamp_values,
};

/// What recording a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The facts were the same as the current version's; nothing was written.
    Unchanged,
    /// A new version with this number was appended.
    NewVersion(i32),
}

/// Counts of current residents per community and residence status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityCount {
    pub community: DivisionCode,
    pub status: ResidenceStatus,
    pub residents: u64,
}

crate::access::domain_handle! {
    /// The registry as one caller sees it (see [`crate::access::Access`]).
    Registry { registry, registry_in, registry_as, registry_by }
}

pub(crate) fn resident_select() -> SelectStatement {
    let mut q = Query::select();
    q.columns(["county_code", "resident_id"])
        .columns(VERSION_COLUMNS)
        .columns(RESIDENT_FACT_COLUMNS)
        .from("resident_version");
    q
}

pub(crate) fn household_select() -> SelectStatement {
    let mut q = Query::select();
    q.expr_as(Expr::col(("v", "county_code")), Alias::new("county_code"))
        .column(("v", "household_id"))
        .column(("h", "household_no"))
        .columns(VERSION_COLUMNS.map(|c| ("v", c)))
        .columns(HOUSEHOLD_LOCATION_COLUMNS.map(|c| ("v", c)))
        .from_as("household_version", "v");
    join_household(&mut q);
    q
}

/// Joins `household` as "h" to `household_version` as "v" (for the household number).
/// The join condition of the current version row `alias` (whose record id is `key`) onto
/// the row `other` holding the same county and id: `(alias, key)` = `(other, key)` and
/// `alias.valid_to IS NULL`.
pub(crate) fn current_version((alias, key): (&'static str, &'static str), other: &'static str) -> Expr {
    same_county((alias, key), (other, key)).and(Expr::col((alias, "valid_to")).is_null())
}

/// The join condition "`alias.key` is `other.column`, in the same county": every
/// record's key begins with its county.
pub(crate) fn same_county(
    (alias, key): (&'static str, &'static str),
    (other, column): (&'static str, &'static str),
) -> Expr {
    Expr::col((alias, "county_code"))
        .equals((other, "county_code"))
        .and(Expr::col((alias, key)).equals((other, column)))
}

pub(crate) fn join_household(q: &mut SelectStatement) {
    q.join_as(JoinType::InnerJoin, "household", "h", same_county(("h", "id"), ("v", "household_id")));
}

/// The condition "this version holds on `date`".
fn holds_on(date: Date, table: Option<&'static str>) -> Cond {
    let col = |c: &'static str| match table {
        Some(t) => Expr::col((t, c)),
        None => Expr::col(c),
    };
    Cond::all()
        .add(col("valid_from").lte(date))
        .add(Cond::any().add(col("valid_to").is_null()).add(col("valid_to").gt(date)))
}

impl Registry<'_> {
    /// Creates a household at `location`, effective `valid_from`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_household(
        &self,
        county: &DivisionCode,
        household_no: &str,
        location: &HouseholdLocation,
        valid_from: Date,
        recorded_by: &str,
    ) -> StoreResult<Uuid> {
        self.require_scope(&location.community, "楼栋 / building")?;
        let mut work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let building = self.building_in(txn, county, location.building_id).await?;
        if building.grid_id != location.grid_id || building.community != location.community {
            return Err(StoreError::Invalid(
                "楼栋不属于所选网格或社区 / the building is not in the chosen grid or community".into(),
            ));
        }
        let id = Uuid::now_v7();
        let now = OffsetDateTime::now_utc();
        txn.execute(
            Query::insert()
                .into_table("household")
                .columns(["county_code", "id", "household_no", "created_at", "created_by"])
                .values_panic([county.as_str().into(), id.into(), household_no.into(), now.into(), recorded_by.into()]),
        )
        .await?;
        work.lock(&location.community).await?;
        let counted = work.locks.counted(&[&location.community], valid_from, None);
        let stamp = VersionStamp::first(valid_from, counted, now, recorded_by);
        insert_household_version(&work.txn, county, id, &stamp, location).await?;
        let tally = &mut work.changes.tally;
        tally.enter(&location.community, counted, cell::HOUSEHOLDS);
        tally.touch_floor(county, location.building_id, location.floor_no);
        work.commit(self.change_entry(format!("household/{county}/{id}"), county, "created".into())).await?;
        Ok(id)
    }

    /// Moves a household to another dwelling, effective `valid_from`. Members whose
    /// community changes get a new version too, so every count stays true.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn move_household(
        &self,
        county: &DivisionCode,
        household_id: Uuid,
        location: &HouseholdLocation,
        valid_from: Date,
        recorded_by: &str,
    ) -> StoreResult<ChangeOutcome> {
        let mut work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let current = current_household(txn, county, household_id).await?;
        self.require_scope(&current.location.community, "户 / household")?;
        self.require_scope(&location.community, "楼栋 / building")?;
        if current.location == *location {
            return Ok(ChangeOutcome::Unchanged);
        }
        let building = self.building_in(txn, county, location.building_id).await?;
        if building.grid_id != location.grid_id || building.community != location.community {
            return Err(StoreError::Invalid(
                "楼栋不属于所选网格或社区 / the building is not in the chosen grid or community".into(),
            ));
        }
        let stamp = relocate_household(&mut work, &current, location, valid_from, recorded_by).await?;
        let entry = self.change_entry(format!("household/{county}/{household_id}"), county, "moved".into());
        work.commit(entry).await?;
        Ok(ChangeOutcome::NewVersion(stamp.version))
    }

    /// Adds a resident to an existing household, effective `valid_from`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_resident(
        &self,
        county: &DivisionCode,
        facts: &ResidentFacts,
        valid_from: Date,
        recorded_by: &str,
    ) -> StoreResult<Uuid> {
        facts.check(OffsetDateTime::now_utc().date()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut work = UnitOfWork::begin(self.store).await?;
        let household = current_household(&work.txn, county, facts.household_id).await?;
        self.require_scope(&household.location.community, "户 / household")?;
        work.lock(&household.location.community).await?;
        let (id, _) = insert_new_resident(
            &work.txn,
            county,
            facts,
            &household.location.community,
            valid_from,
            recorded_by,
            &work.locks,
            &mut work.changes.tally,
        )
        .await?;
        work.commit(self.change_entry(format!("resident/{county}/{id}"), county, "created".into())).await?;
        Ok(id)
    }

    /// Records new facts about a resident, effective `valid_from`. Returns
    /// [`ChangeOutcome::Unchanged`] without writing when nothing differs.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_resident_change(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        facts: &ResidentFacts,
        valid_from: Date,
        recorded_by: &str,
    ) -> StoreResult<ChangeOutcome> {
        facts.check(OffsetDateTime::now_utc().date()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut work = UnitOfWork::begin(self.store).await?;
        let current = current_resident(&work.txn, county, resident_id).await?;
        self.require_scope(&current.community, "居民 / resident")?;
        let household = current_household(&work.txn, county, facts.household_id).await?;
        self.require_scope(&household.location.community, "户 / household")?;
        if current.facts == *facts && current.community == household.location.community {
            return Ok(ChangeOutcome::Unchanged);
        }
        work.lock(&current.community).await?;
        work.lock(&household.location.community).await?;
        let (version, _) = append_resident_version(
            &work.txn,
            &current,
            facts,
            &household.location.community,
            valid_from,
            recorded_by,
            &work.locks,
            &mut work.changes.tally,
        )
        .await?;
        let entry = self.change_entry(format!("resident/{county}/{resident_id}"), county, format!("version {version}"));
        work.commit(entry).await?;
        Ok(ChangeOutcome::NewVersion(version))
    }

    /// Ends a resident's record here (death or departure) on `date`: the current
    /// version is closed and the reason recorded; nothing is deleted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_exit(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        date: Date,
        reason: ExitReason,
        recorded_by: &str,
    ) -> StoreResult<()> {
        let mut work = UnitOfWork::begin(self.store).await?;
        let current = current_resident(&work.txn, county, resident_id).await?;
        self.require_scope(&current.community, "居民 / resident")?;
        work.lock(&current.community).await?;
        exit_resident(&work.txn, &current, date, reason, recorded_by, &work.locks, &mut work.changes.tally).await?;
        let entry = self.change_entry(
            format!("resident/{county}/{resident_id}"),
            county,
            format!("exit {} {date}", reason.key()),
        );
        work.commit(entry).await?;
        Ok(())
    }

    /// Why and when a resident's record ended, if it has.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn exit_of(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Option<(Date, ExitReason)>> {
        let mut q = Query::select();
        q.columns(["exited_on", "reason"])
            .from("resident_exit")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id));
        let Some(r) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let reason: String = r.try_get("", "reason")?;
        Ok(Some((
            r.try_get("", "exited_on")?,
            crate::error::decode_opt("resident_exit", "reason", &reason, ExitReason::from_key)?,
        )))
    }

    /// The current version of a resident.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resident(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Option<ResidentVersion>> {
        let mut q = resident_select();
        q.and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id))
            .and_where(Expr::col("valid_to").is_null())
            .cond_where(self.in_scope("community_code"));
        self.store.db.query_one(&q).await?.map(|r| resident_row(&r)).transpose()
    }

    /// The version of a resident that held on `date`, if they were recorded then.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resident_as_of(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        date: Date,
    ) -> StoreResult<Option<ResidentVersion>> {
        let mut q = resident_select();
        q.and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id))
            .cond_where(holds_on(date, None))
            .cond_where(self.in_scope("community_code"))
            .order_by("version", Order::Desc)
            .limit(1);
        self.store.db.query_one(&q).await?.map(|r| resident_row(&r)).transpose()
    }

    /// Every version of a resident, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resident_history(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
    ) -> StoreResult<Vec<ResidentVersion>> {
        let mut q = resident_select();
        q.and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id))
            .cond_where(self.in_scope("community_code"))
            .order_by("version", Order::Desc);
        read_rows(&self.store.db, &q, resident_row).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household(&self, county: &DivisionCode, household_id: Uuid) -> StoreResult<Option<HouseholdVersion>> {
        self.one_current_household(
            Expr::col(("v", "county_code")).eq(county.as_str()).and(Expr::col(("v", "household_id")).eq(household_id)),
        )
        .await
    }

    /// The current version of the household `which` picks, if in scope.
    async fn one_current_household(&self, which: Expr) -> StoreResult<Option<HouseholdVersion>> {
        let mut q = household_select();
        q.and_where(which)
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .cond_where(self.in_scope(("v", "community_code")));
        self.store.db.query_one(&q).await?.map(|r| household_row(&r)).transpose()
    }

    /// The current version of the household with this number (户编号), if in scope.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household_by_number(
        &self,
        county: &DivisionCode,
        household_no: &str,
    ) -> StoreResult<Option<HouseholdVersion>> {
        self.one_current_household(
            Expr::col(("h", "county_code"))
                .eq(county.as_str())
                .and(Expr::col(("h", "household_no")).eq(household_no.trim())),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household_as_of(
        &self,
        county: &DivisionCode,
        household_id: Uuid,
        date: Date,
    ) -> StoreResult<Option<HouseholdVersion>> {
        let mut q = household_select();
        q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("v", "household_id")).eq(household_id))
            .cond_where(holds_on(date, Some("v")))
            .cond_where(self.in_scope(("v", "community_code")))
            .order_by(("v", "version"), Order::Desc)
            .limit(1);
        self.store.db.query_one(&q).await?.map(|r| household_row(&r)).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household_history(
        &self,
        county: &DivisionCode,
        household_id: Uuid,
    ) -> StoreResult<Vec<HouseholdVersion>> {
        let mut q = household_select();
        q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("v", "household_id")).eq(household_id))
            .cond_where(self.in_scope(("v", "community_code")))
            .order_by(("v", "version"), Order::Desc);
        read_rows(&self.store.db, &q, household_row).await
    }

    /// The current members of a household, head first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household_members(
        &self,
        county: &DivisionCode,
        household_id: Uuid,
    ) -> StoreResult<Vec<ResidentVersion>> {
        let mut q = members_query(county, household_id);
        q.cond_where(self.in_scope("community_code"));
        read_rows(&self.store.db, &q, resident_row).await
    }

    /// Residents living in the subtree of `node` on `date`, counted by community and
    /// status (`date = None` counts the current versions).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn community_counts(&self, node: &DivisionCode, date: Option<Date>) -> StoreResult<Vec<CommunityCount>> {
        let mut q = Query::select();
        q.column("community_code")
            .column("residence_status")
            .expr(Expr::col("resident_id").count())
            .from("resident_version")
            .cond_where(subtree(node, "community_code"))
            .cond_where(self.in_scope("community_code"))
            .group_by_col("community_code")
            .group_by_col("residence_status");
        match date {
            Some(d) => q.cond_where(holds_on(d, None)),
            None => q.and_where(Expr::col("valid_to").is_null()),
        };
        let rows = self.store.db.query_all(&q).await?;
        rows.iter()
            .map(|r| {
                let community: String = r.try_get("", "community_code")?;
                let status: String = r.try_get("", "residence_status")?;
                let n: i64 = r.try_get_by_index(2)?;
                Ok(CommunityCount {
                    community: crate::error::decode(
                        "resident_version",
                        "community_code",
                        &community,
                        DivisionCode::parse,
                    )?,
                    status: crate::error::decode_opt(
                        "resident_version",
                        "residence_status",
                        &status,
                        ResidenceStatus::from_key,
                    )?,
                    residents: n as u64,
                })
            })
            .collect()
    }

    /// Households living in the subtree of `node` now, counted by community.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn household_counts(&self, node: &DivisionCode) -> StoreResult<Vec<(DivisionCode, u64)>> {
        let mut q = Query::select();
        q.column("community_code")
            .expr(Expr::col("household_id").count())
            .from("household_version")
            .cond_where(subtree(node, "community_code"))
            .cond_where(self.in_scope("community_code"))
            .and_where(Expr::col("valid_to").is_null())
            .group_by_col("community_code");
        read_rows(&self.store.db, &q, |r| {
            let community: String = r.try_get_by_index(0)?;
            let n: i64 = r.try_get_by_index(1)?;
            let code = crate::error::decode("household_version", "community_code", &community, DivisionCode::parse)?;
            Ok((code, n as u64))
        })
        .await
    }

    /// Whether any resident is recorded in the county.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn has_residents(&self, county: &DivisionCode) -> StoreResult<bool> {
        let mut q = Query::select();
        q.column("id").from("resident").and_where(Expr::col("county_code").eq(county.as_str())).limit(1);
        Ok(self.store.db.query_one(&q).await?.is_some())
    }
}

/// Rows under `node`, by a division-code column (`community_code`, `node_code`, …)
/// whose table has `county_code` beside it (same table alias). At or below a county:
/// `county_code = …` — so a table partitioned or sharded by county reads one partition
/// or shard — and, below it, a byte range on the code. Above a county: the counties
/// under it by name, `county_code IN (…)`, never only a range (issue 15).
pub(crate) fn subtree(node: &DivisionCode, column: impl Into<ColumnRef>) -> Cond {
    let column = column.into();
    let cond = Cond::all().add(in_counties(node, beside(&column, "county_code")));
    match node.level() {
        DivisionLevel::Province | DivisionLevel::City | DivisionLevel::County => cond,
        DivisionLevel::Village => cond.add(Expr::col(column).eq(node.as_str())),
        DivisionLevel::Town => cond.add(code_prefix(node, column)),
    }
}

/// Codes in `column` that start with `node`'s: a byte range, so that an index on the
/// column serves it.
pub(crate) fn code_prefix(node: &DivisionCode, column: impl Into<ColumnRef>) -> Cond {
    let column = column.into();
    let low = node.as_str().to_string();
    let high = format!("{low}~"); // '~' sorts after every digit
    Cond::all().add(Expr::col(column.clone()).gte(low)).add(Expr::col(column).lt(high))
}

/// Rows of the counties `node` lies in or holds, by the county column: `= …` at or
/// below a county, `IN (…)` above it.
pub(crate) fn in_counties(node: &DivisionCode, county_column: impl Into<ColumnRef>) -> Cond {
    match node.at_level(DivisionLevel::County) {
        Some(county) => Cond::all().add(Expr::col(county_column.into()).eq(county.as_str())),
        None => Cond::all().add(Expr::col(county_column.into()).is_in(crate::org::reference::counties_under(node))),
    }
}

/// The column `name` of the same table as `column` (its alias kept).
pub(crate) fn beside(column: &ColumnRef, name: &'static str) -> ColumnRef {
    use sea_orm::sea_query::{ColumnName, IntoIden};
    let table = match column {
        ColumnRef::Column(ColumnName(table, _)) => table.clone(),
        _ => None,
    };
    ColumnRef::Column(ColumnName(table, name.into_iden()))
}

/// Every county with households or statistics, for checks over the whole database.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn counties_with_records(db: &impl ConnectionTrait) -> StoreResult<Vec<DivisionCode>> {
    let mut counties = std::collections::BTreeSet::new();
    for (table, column) in [("household", "county_code"), ("report_opening", "county_code")] {
        let mut q = Query::select();
        q.distinct().column(column).from(table);
        for r in db.query_all(&q).await? {
            let code: String = r.try_get_by_index(0)?;
            counties.insert(crate::error::decode(table, column, &code, DivisionCode::parse)?);
        }
    }
    Ok(counties.into_iter().collect())
}

fn check_not_retroactive(valid_from: Date, current_from: Date) -> StoreResult<()> {
    if valid_from < current_from {
        return Err(StoreError::Retroactive { valid_from, current_from });
    }
    Ok(())
}

fn next_stamp(current: &VersionStamp, valid_from: Date, recorded_by: &str, counted: Month) -> VersionStamp {
    VersionStamp {
        version: current.version + 1,
        valid_from,
        valid_to: None,
        recorded_at: OffsetDateTime::now_utc(),
        recorded_by: recorded_by.into(),
        counted_from: counted,
        counted_to: None,
    }
}

async fn close_current(
    txn: &DatabaseTransaction,
    table: &'static str,
    id_column: &'static str,
    county: &DivisionCode,
    id: Uuid,
    valid_to: Date,
    counted_to: Month,
) -> StoreResult<()> {
    txn.execute(
        Query::update()
            .table(table)
            .value("valid_to", valid_to)
            .value("counted_to", counted_to.key())
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col(id_column).eq(id))
            .and_where(Expr::col("valid_to").is_null()),
    )
    .await?;
    Ok(())
}

/// Moves a household to `location` from `valid_from` in `work`: its new version, and a
/// new version of each member whose community changes, with every count moved (the
/// move of one household, and each household of a handover).
pub(crate) async fn relocate_household(
    work: &mut UnitOfWork,
    current: &HouseholdVersion,
    location: &HouseholdLocation,
    valid_from: Date,
    recorded_by: &str,
) -> StoreResult<VersionStamp> {
    let county = &current.county;
    let household_id = current.household_id;
    check_not_retroactive(valid_from, current.stamp.valid_from)?;
    work.lock(&current.location.community).await?;
    work.lock(&location.community).await?;
    let communities = [&current.location.community, &location.community];
    let counted = work.locks.counted(&communities, valid_from, Some(current.stamp.counted_from));
    let UnitOfWork { txn, locks, changes, .. } = work;
    let tally = &mut changes.tally;
    close_current(txn, "household_version", "household_id", county, household_id, valid_from, counted).await?;
    let stamp = next_stamp(&current.stamp, valid_from, recorded_by, counted);
    insert_household_version(txn, county, household_id, &stamp, location).await?;
    tally.leave(&current.location.community, counted, cell::HOUSEHOLDS);
    tally.enter(&location.community, counted, cell::HOUSEHOLDS);
    tally.touch_floor(county, current.location.building_id, current.location.floor_no);
    tally.touch_floor(county, location.building_id, location.floor_no);
    tally.touch_household(county, household_id);
    if current.location.community != location.community {
        for member in members(txn, county, household_id).await? {
            append_resident_version(
                txn,
                &member,
                &member.facts,
                &location.community,
                valid_from,
                recorded_by,
                locks,
                tally,
            )
            .await?;
        }
    }
    Ok(stamp)
}

/// Closes a resident's current version and appends one with `facts`, counting the
/// change in the statistics (`tally`). Returns the new version number and the month
/// the change is counted in.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn append_resident_version(
    txn: &DatabaseTransaction,
    current: &ResidentVersion,
    facts: &ResidentFacts,
    community: &DivisionCode,
    valid_from: Date,
    recorded_by: &str,
    locks: &Locks,
    tally: &mut Tally,
) -> StoreResult<(i32, Month)> {
    check_not_retroactive(valid_from, current.stamp.valid_from)?;
    let counted = locks.counted(&[&current.community, community], valid_from, Some(current.stamp.counted_from));
    close_current(txn, "resident_version", "resident_id", &current.county, current.resident_id, valid_from, counted)
        .await?;
    let stamp = next_stamp(&current.stamp, valid_from, recorded_by, counted);
    insert_resident_version(txn, &current.county, current.resident_id, &stamp, facts, community).await?;
    tally.leave_person(
        &current.community,
        counted,
        current.facts.residence_status,
        current.facts.sex,
        current.facts.birth_date,
    );
    tally.enter_person(community, counted, facts.residence_status, facts.sex, facts.birth_date);
    tally.touch_household(&current.county, current.facts.household_id);
    tally.touch_household(&current.county, facts.household_id);
    Ok((stamp.version, counted))
}

/// Records a new person (registration, birth, move into the area) with a first version.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn insert_new_resident(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    facts: &ResidentFacts,
    community: &DivisionCode,
    valid_from: Date,
    recorded_by: &str,
    locks: &Locks,
    tally: &mut Tally,
) -> StoreResult<(Uuid, Month)> {
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    txn.execute(
        Query::insert()
            .into_table("resident")
            .columns(["county_code", "id", "created_at", "created_by"])
            .values_panic([county.as_str().into(), id.into(), now.into(), recorded_by.into()]),
    )
    .await?;
    let counted = locks.counted(&[community], valid_from, None);
    let stamp = VersionStamp::first(valid_from, counted, now, recorded_by);
    insert_resident_version(txn, county, id, &stamp, facts, community).await?;
    tally.enter_person(community, counted, facts.residence_status, facts.sex, facts.birth_date);
    tally.touch_household(county, facts.household_id);
    Ok((id, counted))
}

/// Ends a resident's record (death or departure): closes the current version and
/// records why. Returns the month the exit is counted in.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn exit_resident(
    txn: &DatabaseTransaction,
    current: &ResidentVersion,
    date: Date,
    reason: ExitReason,
    recorded_by: &str,
    locks: &Locks,
    tally: &mut Tally,
) -> StoreResult<Month> {
    check_not_retroactive(date, current.stamp.valid_from)?;
    let counted = locks.counted(&[&current.community], date, Some(current.stamp.counted_from));
    close_current(txn, "resident_version", "resident_id", &current.county, current.resident_id, date, counted).await?;
    txn.execute(
        Query::insert()
            .into_table("resident_exit")
            .columns(["county_code", "resident_id", "exited_on", "reason", "recorded_at", "recorded_by", "counted_in"])
            .values_panic([
                current.county.as_str().into(),
                current.resident_id.into(),
                date.into(),
                reason.key().into(),
                OffsetDateTime::now_utc().into(),
                recorded_by.into(),
                counted.key().into(),
            ]),
    )
    .await?;
    tally.leave_person(
        &current.community,
        counted,
        current.facts.residence_status,
        current.facts.sex,
        current.facts.birth_date,
    );
    tally.touch_household(&current.county, current.facts.household_id);
    Ok(counted)
}

/// Appends one version row (`resident_version` or `household_version`): the record's
/// key, the version stamp and the facts, column for column.
#[allow(clippy::too_many_arguments)]
async fn insert_version<const N: usize>(
    txn: &DatabaseTransaction,
    table: &'static str,
    id_column: &'static str,
    county: &DivisionCode,
    id: Uuid,
    stamp: &VersionStamp,
    fact_columns: [&'static str; N],
    facts: [sea_orm::sea_query::Expr; N],
) -> StoreResult<()> {
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(["county_code", id_column].into_iter().chain(VERSION_COLUMNS).chain(fact_columns))
        .values_panic([county.as_str().into(), id.into()].into_iter().chain(stamp_values(stamp)).chain(facts));
    txn.execute(&insert).await?;
    Ok(())
}

async fn insert_resident_version(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    resident_id: Uuid,
    stamp: &VersionStamp,
    facts: &ResidentFacts,
    community: &DivisionCode,
) -> StoreResult<()> {
    let values = resident_fact_values(facts, community);
    insert_version(txn, "resident_version", "resident_id", county, resident_id, stamp, RESIDENT_FACT_COLUMNS, values)
        .await
}

async fn insert_household_version(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    household_id: Uuid,
    stamp: &VersionStamp,
    location: &HouseholdLocation,
) -> StoreResult<()> {
    let values = location_values(location);
    let columns = HOUSEHOLD_LOCATION_COLUMNS;
    insert_version(txn, "household_version", "household_id", county, household_id, stamp, columns, values).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn current_resident(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    id: Uuid,
) -> StoreResult<ResidentVersion> {
    let mut q = resident_select();
    q.and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("resident_id").eq(id))
        .and_where(Expr::col("valid_to").is_null());
    match txn.query_one(&q).await? {
        Some(r) => resident_row(&r),
        None => Err(StoreError::NotFound { what: "居民 / resident".to_string() }),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn current_household(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    id: Uuid,
) -> StoreResult<HouseholdVersion> {
    let mut q = household_select();
    q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
        .and_where(Expr::col(("v", "household_id")).eq(id))
        .and_where(Expr::col(("v", "valid_to")).is_null());
    match txn.query_one(&q).await? {
        Some(r) => household_row(&r),
        None => Err(StoreError::NotFound { what: "户 / household".to_string() }),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn members(
    db: &impl ConnectionTrait,
    county: &DivisionCode,
    household_id: Uuid,
) -> StoreResult<Vec<ResidentVersion>> {
    db.query_all(&members_query(county, household_id)).await?.iter().map(resident_row).collect()
}

fn members_query(county: &DivisionCode, household_id: Uuid) -> SelectStatement {
    let mut q = resident_select();
    q.and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("household_id").eq(household_id))
        .and_where(Expr::col("valid_to").is_null())
        .order_by("relationship", Order::Asc)
        .order_by("birth_date", Order::Asc);
    q
}

#[cfg(test)]
mod tests;
