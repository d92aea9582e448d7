//! 四不漏 counters per floor, so coverage is read without scanning the registry:
//!
//! - `floor_stock`: current households and residents on each floor. Every registry write
//!   names the households and floors it touched (`Tally::touch_*`); `write_tally`
//!   recounts exactly those floors in the same transaction (a recount rather than ±1, so
//!   no path can drift).
//! - `floor_month`: visits, households covered and residents verified per floor and
//!   month, added to by visits and verifications where the household was at the time.
//!   `coverage_mark` makes a household or resident count once per month.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::{Month, TouchedPlaces};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, JoinType, OnConflict, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use time::Date;
use uuid::Uuid;

use crate::error::StoreResult;
use crate::registry::subtree;
use crate::write::{Changes, Checked, FloorCount, Projection};

/// Buildings recounted per statement.
const BUILDINGS_PER_STATEMENT: usize = 200;

const STOCK_COLUMNS: [&str; 7] =
    ["county_code", "building_id", "floor_no", "community_code", "grid_id", "households", "residents"];

/// Current households and residents per floor for the households matching `cond`
/// (columns of `household_version` as "h").
fn stock_select(cond: Cond) -> SelectStatement {
    let mut q = Query::select();
    q.expr_as(Expr::col(("h", "county_code")), "county_code")
        .expr_as(Expr::col(("h", "building_id")), "building_id")
        .expr_as(Expr::col(("h", "floor_no")), "floor_no")
        .expr_as(Expr::col(("b", "community_code")), "community_code")
        .expr_as(Expr::col(("b", "grid_id")), "grid_id")
        .expr_as(Expr::cust("COUNT(DISTINCT h.household_id)"), "households")
        .expr_as(Expr::cust("COUNT(r.resident_id)"), "residents")
        .from_as("household_version", "h")
        .join_as(JoinType::InnerJoin, "building", "b", crate::registry::same_county(("b", "id"), ("h", "building_id")))
        .join_as(
            JoinType::LeftJoin,
            "resident_version",
            "r",
            crate::registry::current_version(("r", "household_id"), "h"),
        )
        .and_where(Expr::col(("h", "valid_to")).is_null())
        .cond_where(cond)
        .group_by_columns([
            ("h", "county_code"),
            ("h", "building_id"),
            ("h", "floor_no"),
            ("b", "community_code"),
            ("b", "grid_id"),
        ]);
    q
}

/// The 四不漏 counters: floors recounted where a write touched them, visits and
/// verifications added where they happened.
pub(crate) const PROJECTION: Projection = Projection {
    name: "floor_stock, floor_month",
    apply: |txn, changes| Box::pin(apply(txn, changes)),
    verify: |store, county| Box::pin(verify(store, county)),
};

async fn apply(db: &impl ConnectionTrait, changes: &Changes) -> StoreResult<()> {
    refresh(db, changes.tally.places()).await?;
    for node in &changes.rebuilt {
        rebuild(db, node).await?;
    }
    count_at_households(db, &changes.floor_counts).await
}

/// Stored counters under `county` against a recount: floor stocks from the registry;
/// each floor's monthly visits from the visits recorded there, and each month's
/// households covered and residents verified from the county's coverage marks.
async fn verify(store: &crate::Store, county: &DivisionCode) -> StoreResult<Checked> {
    let db = &store.db;
    let mut checked = Checked::default();
    for ((county, building, floor), stored, recounted) in stock_differences(db, county).await? {
        checked.differences.push(format!(
            "floor_stock {county}/{building}/{floor}: stored {stored:?} recomputed {recounted:?} (households, residents)"
        ));
    }
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)")).from("floor_stock").cond_where(subtree(county, "community_code"));
    checked.compared += count(db, &q).await? as u64;

    // Visits per floor and month: stored against the visit rows.
    let mut stored: HashMap<(Uuid, i16, String), i64> = HashMap::new();
    let mut q = Query::select();
    q.columns(["building_id", "floor_no", "month"])
        .expr_as(Expr::cust("CAST(visits AS BIGINT)"), "n")
        .from("floor_month")
        .and_where(Expr::col("county_code").eq(county.as_str()));
    for r in db.query_all(&q).await? {
        stored.insert(
            (r.try_get("", "building_id")?, r.try_get("", "floor_no")?, r.try_get("", "month")?),
            r.try_get("", "n")?,
        );
    }
    checked.compared += stored.len() as u64;
    let mut recounted: HashMap<(Uuid, i16, String), i64> = HashMap::new();
    let mut q = Query::select();
    q.columns(["building_id", "floor_no", "visited_on"])
        .from("visit")
        .and_where(Expr::col("county_code").eq(county.as_str()));
    for r in db.query_all(&q).await? {
        let month = Month::of(r.try_get::<Date>("", "visited_on")?).key();
        *recounted.entry((r.try_get("", "building_id")?, r.try_get("", "floor_no")?, month)).or_default() += 1;
    }
    let keys: BTreeSet<_> = stored.keys().chain(recounted.keys()).cloned().collect();
    for key in keys {
        let (a, b) = (stored.get(&key).copied().unwrap_or(0), recounted.get(&key).copied().unwrap_or(0));
        if a != b {
            let (building, floor, month) = key;
            checked
                .differences
                .push(format!("floor_month {county}/{building}/{floor} {month} visits: stored {a} recomputed {b}"));
        }
    }

    // Households covered and residents verified per month: one coverage mark each.
    for (column, kind) in [("households_covered", "household"), ("residents_verified", "resident")] {
        let mut q = Query::select();
        q.column("month")
            .expr_as(Expr::cust(format!("CAST(SUM({column}) AS BIGINT)")), "n")
            .from("floor_month")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .group_by_col("month");
        let mut sums: HashMap<String, i64> = HashMap::new();
        for r in db.query_all(&q).await? {
            sums.insert(r.try_get("", "month")?, r.try_get::<Option<i64>>("", "n")?.unwrap_or(0));
        }
        let mut q = Query::select();
        q.column("month")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .from("coverage_mark")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("kind").eq(kind))
            .group_by_col("month");
        let mut marks: HashMap<String, i64> = HashMap::new();
        for r in db.query_all(&q).await? {
            marks.insert(r.try_get("", "month")?, r.try_get("", "n")?);
        }
        let months: BTreeSet<_> = sums.keys().chain(marks.keys()).cloned().collect();
        for month in months {
            let (a, b) = (sums.get(&month).copied().unwrap_or(0), marks.get(&month).copied().unwrap_or(0));
            if a != b {
                checked.differences.push(format!("floor_month {county} {month} {column}: stored {a} recomputed {b}"));
            }
        }
    }
    Ok(checked)
}

async fn count(db: &impl ConnectionTrait, q: &SelectStatement) -> StoreResult<i64> {
    match db.query_one(q).await? {
        Some(r) => Ok(r.try_get_by_index(0)?),
        None => Ok(0),
    }
}

/// Recounts the floors a write touched (and the floors its households are on now).
async fn refresh(db: &impl ConnectionTrait, places: &TouchedPlaces) -> StoreResult<()> {
    if places.is_empty() {
        return Ok(());
    }
    let mut floors: BTreeSet<(DivisionCode, Uuid, i16)> = places.floors.clone();
    let mut by_county: HashMap<&DivisionCode, Vec<Uuid>> = HashMap::new();
    for (county, household) in &places.households {
        by_county.entry(county).or_default().push(*household);
    }
    for (county, households) in by_county {
        for chunk in households.chunks(500) {
            let mut q = Query::select();
            q.columns(["building_id", "floor_no"])
                .from("household_version")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("household_id").is_in(chunk.iter().copied()))
                .and_where(Expr::col("valid_to").is_null());
            for r in db.query_all(&q).await? {
                floors.insert((county.clone(), r.try_get("", "building_id")?, r.try_get("", "floor_no")?));
            }
        }
    }
    // Whole buildings are recounted: `building_id IN (…)` plans as index lookups on
    // both databases, where fifty (building, floor) pairs ORed together made PostgreSQL
    // scan the county's households for every statement (98 ms each, a third of a
    // 50 k import). A recount is the truth, so a floor recounted needlessly is harmless.
    let mut buildings: BTreeMap<&DivisionCode, BTreeSet<Uuid>> = BTreeMap::new();
    for (county, building, _) in &floors {
        buildings.entry(county).or_default().insert(*building);
    }
    for (county, ids) in buildings {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        for chunk in ids.chunks(BUILDINGS_PER_STATEMENT) {
            let old = Cond::all()
                .add(Expr::col("county_code").eq(county.as_str()))
                .add(Expr::col("building_id").is_in(chunk.iter().copied()));
            let new = Cond::all()
                .add(Expr::col(("h", "county_code")).eq(county.as_str()))
                .add(Expr::col(("h", "building_id")).is_in(chunk.iter().copied()));
            db.execute(Query::delete().from_table("floor_stock").cond_where(old)).await?;
            insert_stock(db, new).await?;
        }
    }
    Ok(())
}

async fn insert_stock(db: &impl ConnectionTrait, cond: Cond) -> StoreResult<()> {
    crate::insert_selected(db, "floor_stock", &STOCK_COLUMNS, stock_select(cond)).await
}

/// Recounts every floor under `node` (after a bulk load of a community).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn rebuild(db: &impl ConnectionTrait, node: &DivisionCode) -> StoreResult<()> {
    db.execute(Query::delete().from_table("floor_stock").cond_where(subtree(node, "community_code"))).await?;
    insert_stock(db, subtree(node, ("h", "community_code"))).await
}

/// A floor whose stored counts differ from a recount: `(county, building, floor)`,
/// `(stored, recounted)` residents and `(stored, recounted)` households.
pub type StockDifference = ((String, Uuid, i16), (i64, i64), (i64, i64));

/// The stored per-floor counts under `node` next to a recount from the registry:
/// `(county, building, floor) → (stored, recounted)` for every floor where they differ.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn stock_differences(db: &impl ConnectionTrait, node: &DivisionCode) -> StoreResult<Vec<StockDifference>> {
    type Counts = HashMap<(String, Uuid, i16), (i64, i64)>;
    async fn read(db: &impl ConnectionTrait, q: &SelectStatement) -> StoreResult<Counts> {
        let mut out = HashMap::new();
        for r in db.query_all(q).await? {
            let households: i64 = r.try_get("", "households")?;
            let residents: i64 = r.try_get("", "residents")?;
            if households > 0 {
                out.insert(
                    (r.try_get("", "county_code")?, r.try_get("", "building_id")?, r.try_get("", "floor_no")?),
                    (households, residents),
                );
            }
        }
        Ok(out)
    }
    let mut stored = Query::select();
    stored
        .columns(["county_code", "building_id", "floor_no"])
        .expr_as(Expr::cust("CAST(households AS BIGINT)"), "households")
        .expr_as(Expr::cust("CAST(residents AS BIGINT)"), "residents")
        .from("floor_stock")
        .cond_where(subtree(node, "community_code"));
    let stored = read(db, &stored).await?;
    let recounted = read(db, &stock_select(subtree(node, ("h", "community_code")))).await?;
    let keys: HashSet<_> = stored.keys().chain(recounted.keys()).cloned().collect();
    let mut out: Vec<_> = keys
        .into_iter()
        .filter_map(|k| {
            let a = stored.get(&k).copied().unwrap_or_default();
            let b = recounted.get(&k).copied().unwrap_or_default();
            (a != b).then_some((k, a, b))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Where each of these households is now: building, floor, community, grid.
async fn household_floors(
    db: &impl ConnectionTrait,
    households: &BTreeSet<(DivisionCode, Uuid)>,
) -> StoreResult<HashMap<Uuid, (Uuid, i16, String, Uuid)>> {
    let mut by_county: BTreeMap<&DivisionCode, Vec<Uuid>> = BTreeMap::new();
    for (county, household) in households {
        by_county.entry(county).or_default().push(*household);
    }
    let mut floors = HashMap::new();
    for (county, ids) in by_county {
        for chunk in ids.chunks(500) {
            let mut q = Query::select();
            q.columns(["household_id", "building_id", "floor_no", "community_code", "grid_id"])
                .from("household_version")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("household_id").is_in(chunk.iter().copied()))
                .and_where(Expr::col("valid_to").is_null());
            for r in db.query_all(&q).await? {
                floors.insert(
                    r.try_get("", "household_id")?,
                    (
                        r.try_get("", "building_id")?,
                        r.try_get("", "floor_no")?,
                        r.try_get("", "community_code")?,
                        r.try_get("", "grid_id")?,
                    ),
                );
            }
        }
    }
    Ok(floors)
}

/// A coverage mark: (county, month, "household" or "resident", subject).
type Mark = (String, String, &'static str, Uuid);

/// Writes the marks not yet made and returns those it wrote: a household or resident
/// counts once a month, whichever write marks it first (the key decides, so two writes
/// at once cannot both count it).
async fn new_marks(db: &impl ConnectionTrait, marks: Vec<Mark>) -> StoreResult<HashSet<Mark>> {
    let mut written = HashSet::new();
    for chunk in marks.chunks(200) {
        let mut insert = Query::insert();
        insert.into_table("coverage_mark").columns(["county_code", "month", "kind", "subject_id"]);
        for (county, month, kind, id) in chunk {
            insert.values_panic([county.as_str().into(), month.as_str().into(), (*kind).into(), (*id).into()]);
        }
        insert
            .on_conflict(OnConflict::columns(["county_code", "month", "kind", "subject_id"]).do_nothing().to_owned())
            .returning(Query::returning().columns(["county_code", "month", "kind", "subject_id"]));
        for r in db.query_all(&insert).await? {
            let kind: String = r.try_get("", "kind")?;
            let kind = if kind == "resident" { "resident" } else { "household" };
            written.insert((
                r.try_get("", "county_code")?,
                r.try_get("", "month")?,
                kind,
                r.try_get("", "subject_id")?,
            ));
        }
    }
    Ok(written)
}

/// One floor-month's additions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct FloorMonth {
    visits: i32,
    households_covered: i32,
    residents_verified: i32,
}

type FloorMonthKey = (String, Uuid, i16, String);

async fn add_floor_months(
    db: &impl ConnectionTrait,
    rows: &[(FloorMonthKey, (String, Uuid), FloorMonth)],
) -> StoreResult<()> {
    for chunk in rows.chunks(100) {
        let mut insert = Query::insert();
        insert.into_table("floor_month").columns([
            "county_code",
            "building_id",
            "floor_no",
            "month",
            "community_code",
            "grid_id",
            "visits",
            "households_covered",
            "residents_verified",
        ]);
        for ((county, building, floor, month), (community, grid), add) in chunk {
            insert.values_panic([
                county.as_str().into(),
                (*building).into(),
                (*floor).into(),
                month.as_str().into(),
                community.as_str().into(),
                (*grid).into(),
                add.visits.into(),
                add.households_covered.into(),
                add.residents_verified.into(),
            ]);
        }
        let sum = |c: &'static str| Expr::col(("floor_month", c)).add(Expr::col(("excluded", c)));
        insert.on_conflict(
            OnConflict::columns(["county_code", "building_id", "floor_no", "month"])
                .value("visits", sum("visits"))
                .value("households_covered", sum("households_covered"))
                .value("residents_verified", sum("residents_verified"))
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Counts visits and verifications on the floor where their household is now, in a
/// few statements for all of them: the floors, the coverage marks (written in order,
/// each subject once), then the floor-months summed.
async fn count_at_households(db: &impl ConnectionTrait, counts: &[FloorCount]) -> StoreResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let households: BTreeSet<(DivisionCode, Uuid)> = counts
        .iter()
        .map(|c| match c {
            FloorCount::Visit { county, household, .. } | FloorCount::Verification { county, household, .. } => {
                (county.clone(), *household)
            }
        })
        .collect();
    let floors = household_floors(db, &households).await?;
    // Each count with its floor (a household no longer recorded counts nowhere) and the
    // marks it would make.
    let mut placed = Vec::with_capacity(counts.len());
    let mut marks: Vec<Mark> = Vec::new();
    let mut seen: HashSet<Mark> = HashSet::new();
    for count in counts {
        let (county, household, day, resident) = match count {
            FloorCount::Visit { county, household, day } => (county, *household, *day, None),
            FloorCount::Verification { county, resident, household, day } => {
                (county, *household, *day, Some(*resident))
            }
        };
        let Some(floor) = floors.get(&household) else { continue };
        let month = Month::of(day).key();
        let resident_mark = resident.map(|r| (county.to_string(), month.clone(), "resident", r));
        let household_mark = (county.to_string(), month.clone(), "household", household);
        for mark in resident_mark.iter().chain(std::iter::once(&household_mark)) {
            if seen.insert(mark.clone()) {
                marks.push(mark.clone());
            }
        }
        placed.push((county, month, floor, resident_mark, household_mark));
    }
    let mut written = new_marks(db, marks).await?;
    let mut months: BTreeMap<FloorMonthKey, ((String, Uuid), FloorMonth)> = BTreeMap::new();
    for (county, month, (building, floor, community, grid), resident_mark, household_mark) in placed {
        // A mark written now is credited once, to the first count that made it.
        let verified = resident_mark.as_ref().is_some_and(|m| written.remove(m));
        let covered = written.remove(&household_mark);
        let add = FloorMonth {
            visits: resident_mark.is_none() as i32,
            households_covered: covered as i32,
            residents_verified: verified as i32,
        };
        if add == FloorMonth::default() {
            continue;
        }
        let entry = months
            .entry((county.to_string(), *building, *floor, month))
            .or_insert_with(|| ((community.clone(), *grid), FloorMonth::default()));
        entry.1.visits += add.visits;
        entry.1.households_covered += add.households_covered;
        entry.1.residents_verified += add.residents_verified;
    }
    let rows: Vec<(FloorMonthKey, (String, Uuid), FloorMonth)> =
        months.into_iter().map(|(key, (place, add))| (key, place, add)).collect();
    add_floor_months(db, &rows).await
}

/// Fills the counters from the registry, visits and verifications (migration m0006).
/// Verifications of people no longer recorded here are not counted.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn backfill(db: &impl ConnectionTrait) -> StoreResult<()> {
    db.execute(Query::delete().from_table("floor_stock")).await?;
    insert_stock(db, Cond::all()).await?;
    let mut months: FloorMonths = HashMap::new();
    let mut marks: HashSet<(String, String, &'static str, Uuid)> = HashSet::new();
    let building_join = |q: &mut SelectStatement, on: &'static str| {
        q.join_as(JoinType::InnerJoin, "building", "b", crate::registry::same_county(("b", "id"), (on, "building_id")));
    };
    let mut visits = Query::select();
    visits
        .columns([
            ("v", "county_code"),
            ("v", "household_id"),
            ("v", "building_id"),
            ("v", "floor_no"),
            ("v", "visited_on"),
        ])
        .columns([("b", "community_code"), ("b", "grid_id")])
        .from_as("visit", "v");
    building_join(&mut visits, "v");
    for r in db.query_all(&visits).await? {
        let county: String = r.try_get("", "county_code")?;
        let household: Uuid = r.try_get("", "household_id")?;
        let month = Month::of(r.try_get::<Date>("", "visited_on")?).key();
        let key = (county.clone(), r.try_get("", "building_id")?, r.try_get("", "floor_no")?, month.clone());
        let entry = floor_month(&mut months, key, &r)?;
        entry.visits += 1;
        if marks.insert((county, month, "household", household)) {
            entry.households_covered += 1;
        }
    }
    let mut verifications = Query::select();
    verifications
        .columns([("f", "county_code"), ("f", "resident_id"), ("f", "verified_on")])
        .columns([("h", "household_id"), ("h", "building_id"), ("h", "floor_no")])
        .columns([("b", "community_code"), ("b", "grid_id")])
        .from_as("resident_verification", "f")
        .join_as(
            JoinType::InnerJoin,
            "resident_version",
            "r",
            crate::registry::current_version(("r", "resident_id"), "f"),
        )
        .join_as(
            JoinType::InnerJoin,
            "household_version",
            "h",
            crate::registry::current_version(("h", "household_id"), "r"),
        );
    building_join(&mut verifications, "h");
    for r in db.query_all(&verifications).await? {
        let county: String = r.try_get("", "county_code")?;
        let resident: Uuid = r.try_get("", "resident_id")?;
        let household: Uuid = r.try_get("", "household_id")?;
        let month = Month::of(r.try_get::<Date>("", "verified_on")?).key();
        let verified = marks.insert((county.clone(), month.clone(), "resident", resident));
        let covered = marks.insert((county.clone(), month.clone(), "household", household));
        if !verified && !covered {
            continue;
        }
        let key = (county, r.try_get("", "building_id")?, r.try_get("", "floor_no")?, month);
        let entry = floor_month(&mut months, key, &r)?;
        entry.residents_verified += verified as i32;
        entry.households_covered += covered as i32;
    }
    let rows: Vec<_> = months.into_iter().map(|(k, (place, add))| (k, place, add)).collect();
    add_floor_months(db, &rows).await?;
    let marks: Vec<_> = marks.into_iter().collect();
    for chunk in marks.chunks(200) {
        let mut insert = Query::insert();
        insert.into_table("coverage_mark").columns(["county_code", "month", "kind", "subject_id"]);
        for (county, month, kind, id) in chunk {
            insert.values_panic([county.as_str().into(), month.as_str().into(), (*kind).into(), (*id).into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

type FloorMonths = HashMap<FloorMonthKey, ((String, Uuid), FloorMonth)>;

/// The floor-month of `key`, its community and grid read from the row.
fn floor_month<'a>(
    months: &'a mut FloorMonths,
    key: FloorMonthKey,
    r: &QueryResult,
) -> StoreResult<&'a mut FloorMonth> {
    let place = (r.try_get("", "community_code")?, r.try_get("", "grid_id")?);
    Ok(&mut months.entry(key).or_insert((place, FloorMonth::default())).1)
}
