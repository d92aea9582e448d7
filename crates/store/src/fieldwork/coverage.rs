//! 四不漏 coverage: for a node and a month, how many buildings, floors, households and
//! residents were reached — a floor or building counts as walked when a visit was
//! recorded there, a household as covered when it was visited or a member verified, a
//! resident when verified — per grid, community and street, with each grid's
//! responsible worker (五定) and a ranking. Read from the per-floor counters
//! (`floors.rs`), never by scanning the registry.

use std::collections::{BTreeMap, HashMap};

use jiceng_domain::fieldwork::natural_key;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::Month;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, OnConflict, Query};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Fieldwork;
use crate::error::{StoreError, StoreResult};
use crate::registry::subtree;
pub use jiceng_domain::fieldwork::coverage::{
    Coverage, CoverageCounts, CoverageGaps, FloorGap, GridCoverage, HouseholdGap,
};

/// What a responsibility is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responsibility<'a> {
    Community(&'a DivisionCode),
    Street(&'a DivisionCode),
    Grid(Uuid),
    Building(Uuid),
}

impl Responsibility<'_> {
    fn key(&self) -> (&'static str, String) {
        match self {
            Responsibility::Community(c) => ("community", c.to_string()),
            Responsibility::Street(c) => ("street", c.to_string()),
            Responsibility::Grid(id) => ("grid", id.to_string()),
            Responsibility::Building(id) => ("building", id.to_string()),
        }
    }
}

/// The join of `coverage_mark` (as `m`) onto the version rows `v`: the `kind` of subject
/// (`resident`, `household`) whose id is `v.column`, marked in `month`.
fn marked(month: &str, kind: &str, column: &'static str) -> Expr {
    Expr::col(("m", "county_code"))
        .equals(("v", "county_code"))
        .and(Expr::col(("m", "month")).eq(month))
        .and(Expr::col(("m", "kind")).eq(kind))
        .and(Expr::col(("m", "subject_id")).equals(("v", column)))
}

impl Fieldwork<'_> {
    /// 五定: makes `username` responsible for a community, street, grid or building.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn assign_responsible(
        &self,
        county: &DivisionCode,
        what: Responsibility<'_>,
        username: &str,
    ) -> StoreResult<()> {
        let by: &str = &self.caller.username;
        if self.store.users().by_username(username).await?.is_none() {
            return Err(StoreError::Invalid(format!("没有用户 {username} / no user {username}")));
        }
        let (kind, id) = what.key();
        self.store
            .db
            .execute(
                Query::insert()
                    .into_table("responsibility")
                    .columns(["county_code", "node_kind", "node_id", "username", "assigned_at", "assigned_by"])
                    .values_panic([
                        county.as_str().into(),
                        kind.into(),
                        id.into(),
                        username.into(),
                        OffsetDateTime::now_utc().into(),
                        by.into(),
                    ])
                    .on_conflict(
                        OnConflict::columns(["county_code", "node_kind", "node_id"])
                            .update_columns(["username", "assigned_at", "assigned_by"])
                            .to_owned(),
                    ),
            )
            .await?;
        Ok(())
    }

    async fn responsibilities(&self, county: &str) -> StoreResult<HashMap<(String, String), String>> {
        let mut q = Query::select();
        q.columns(["node_kind", "node_id", "username"])
            .from("responsibility")
            .and_where(Expr::col("county_code").eq(county));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert((r.try_get("", "node_kind")?, r.try_get("", "node_id")?), r.try_get("", "username")?);
        }
        Ok(out)
    }

    /// Coverage of `node` (a county, street or community) in `month`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn coverage(&self, node: &DivisionCode, month: Month) -> StoreResult<Coverage> {
        self.require_scope(node, "区划 / region")?;
        let county = node.at_level(DivisionLevel::County).ok_or_else(|| {
            StoreError::Invalid("覆盖率按县及以下统计 / coverage is counted at county level and below".into())
        })?;
        let db = &self.store.db;
        // Stock from the per-floor counters (kept by every registry write).
        let mut q = Query::select();
        q.columns(["grid_id", "community_code"])
            .expr_as(Expr::cust("COUNT(*)"), "floors")
            .expr_as(Expr::cust("COUNT(DISTINCT building_id)"), "buildings")
            .expr_as(Expr::cust("SUM(households)"), "households")
            .expr_as(Expr::cust("SUM(residents)"), "residents")
            .from("floor_stock")
            .cond_where(subtree(node, "community_code"))
            .and_where(Expr::col("households").gt(0))
            .group_by_columns(["grid_id", "community_code"]);
        let mut per_grid: HashMap<Uuid, (String, CoverageCounts)> = HashMap::new();
        for r in db.query_all(&q).await? {
            let counts = CoverageCounts {
                floors: count(&r, "floors")?,
                buildings: count(&r, "buildings")?,
                households: count(&r, "households")?,
                residents: count(&r, "residents")?,
                ..Default::default()
            };
            per_grid.insert(r.try_get("", "grid_id")?, (r.try_get("", "community_code")?, counts));
        }
        // The month's work from the per-floor, per-month counters (kept by visits and
        // verifications).
        let mut q = Query::select();
        q.columns(["grid_id", "community_code"])
            .expr_as(Expr::cust("SUM(CASE WHEN visits > 0 THEN 1 ELSE 0 END)"), "floors_walked")
            .expr_as(Expr::cust("COUNT(DISTINCT CASE WHEN visits > 0 THEN building_id END)"), "buildings_walked")
            .expr_as(Expr::cust("SUM(households_covered)"), "households_covered")
            .expr_as(Expr::cust("SUM(residents_verified)"), "residents_verified")
            .from("floor_month")
            .and_where(Expr::col("month").eq(month.key()))
            .cond_where(subtree(node, "community_code"))
            .group_by_columns(["grid_id", "community_code"]);
        for r in db.query_all(&q).await? {
            let grid: Uuid = r.try_get("", "grid_id")?;
            let entry = match per_grid.get_mut(&grid) {
                Some((_, c)) => c,
                // A grid whose households have all gone since: its work still counts.
                None => &mut per_grid.entry(grid).or_insert((r.try_get("", "community_code")?, Default::default())).1,
            };
            entry.floors_walked = count(&r, "floors_walked")?;
            entry.buildings_walked = count(&r, "buildings_walked")?;
            entry.households_covered = count(&r, "households_covered")?;
            entry.residents_verified = count(&r, "residents_verified")?;
        }
        let grids_named = self.grids_under(node).await?;
        let responsible = self.responsibilities(county.as_str()).await?;
        let mut grids = Vec::new();
        for (grid, (community, counts)) in per_grid {
            grids.push(GridCoverage {
                grid_id: grid,
                community,
                name: grids_named.get(&grid).map(|g| g.1.clone()).unwrap_or_default(),
                responsible: responsible.get(&("grid".to_string(), grid.to_string())).cloned(),
                counts,
            });
        }
        grids.sort_by(|a, b| {
            b.counts
                .resident_share()
                .unwrap_or(0.0)
                .total_cmp(&a.counts.resident_share().unwrap_or(0.0))
                .then(a.community.cmp(&b.community))
                .then(a.name.cmp(&b.name))
        });
        let mut totals = CoverageCounts::default();
        let mut communities: BTreeMap<String, CoverageCounts> = BTreeMap::new();
        let mut streets: BTreeMap<String, CoverageCounts> = BTreeMap::new();
        for g in &grids {
            totals.add(&g.counts);
            communities.entry(g.community.clone()).or_default().add(&g.counts);
            let street = DivisionCode::parse(&g.community)
                .ok()
                .and_then(|c| c.at_level(DivisionLevel::Town))
                .map(|c| c.to_string())
                .unwrap_or_default();
            streets.entry(street).or_default().add(&g.counts);
        }
        let named = |kind: &str, map: BTreeMap<String, CoverageCounts>| {
            map.into_iter()
                .map(|(code, counts)| {
                    let who = responsible.get(&(kind.to_string(), code.clone())).cloned();
                    (code, who, counts)
                })
                .collect::<Vec<_>>()
        };
        Ok(Coverage {
            node: node.to_string(),
            month: month.to_string(),
            totals,
            grids,
            communities: named("community", communities),
            streets: named("street", streets),
        })
    }

    /// The floors, buildings and households of a community not reached in `month`, in
    /// walking order, each with its responsible worker.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn coverage_gaps(&self, community: &DivisionCode, month: Month) -> StoreResult<CoverageGaps> {
        self.require_scope(community, "社区 / community")?;
        if community.level() != DivisionLevel::Village {
            return Err(StoreError::Invalid("未覆盖清单按社区列出 / the lists are per community".into()));
        }
        let county = community.at_level(DivisionLevel::County).ok_or_else(|| StoreError::Invalid("county".into()))?;
        let db = &self.store.db;
        let responsible = self.responsibilities(county.as_str()).await?;
        let who = |building: Uuid, grid: Uuid| {
            responsible
                .get(&("building".to_string(), building.to_string()))
                .or_else(|| responsible.get(&("grid".to_string(), grid.to_string())))
                .or_else(|| responsible.get(&("community".to_string(), community.to_string())))
                .cloned()
        };
        let grids = self.grids_under(community).await?;
        let buildings = self.building_names_under(community).await?;
        let key = month.key();
        // Floors with households and no visit this month.
        let mut q = Query::select();
        q.columns([("s", "building_id"), ("s", "grid_id"), ("s", "floor_no")])
            .expr_as(Expr::cust("CAST(s.households AS BIGINT)"), "households")
            .expr_as(Expr::cust("CAST(s.residents AS BIGINT)"), "residents")
            .expr_as(Expr::cust("CAST(COALESCE(m.visits, 0) AS BIGINT)"), "visits")
            .from_as("floor_stock", "s")
            .join_as(
                JoinType::LeftJoin,
                "floor_month",
                "m",
                crate::registry::same_county(("m", "building_id"), ("s", "building_id"))
                    .and(Expr::col(("m", "floor_no")).equals(("s", "floor_no")))
                    .and(Expr::col(("m", "month")).eq(key.as_str())),
            )
            .cond_where(crate::registry::subtree(community, ("s", "community_code")))
            .and_where(Expr::col(("s", "households")).gt(0));
        let mut floors = Vec::new();
        let mut walked_buildings: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
        for r in db.query_all(&q).await? {
            let building: Uuid = r.try_get("", "building_id")?;
            let grid: Uuid = r.try_get("", "grid_id")?;
            if r.try_get::<i64>("", "visits")? > 0 {
                walked_buildings.insert(building);
                continue;
            }
            floors.push((
                grids.get(&grid).map(|g| g.0).unwrap_or_default(),
                FloorGap {
                    grid: grids.get(&grid).map(|g| g.1.clone()).unwrap_or_default(),
                    building: buildings.get(&building).cloned().unwrap_or_default(),
                    building_not_walked: false,
                    floor_no: r.try_get("", "floor_no")?,
                    households: r.try_get::<i64>("", "households")? as u64,
                    residents: r.try_get::<i64>("", "residents")? as u64,
                    responsible: who(building, grid),
                },
                building,
            ));
        }
        for (_, gap, building) in floors.iter_mut() {
            gap.building_not_walked = !walked_buildings.contains(building);
        }
        floors.sort_by_cached_key(|(n, g, _)| (*n, natural_key(&g.building), g.floor_no));
        // Residents per household, and how many were verified this month.
        let mut q = Query::select();
        q.column(("v", "household_id"))
            .expr_as(Expr::cust("COUNT(*)"), "residents")
            .expr_as(Expr::cust("SUM(CASE WHEN m.subject_id IS NULL THEN 1 ELSE 0 END)"), "unverified")
            .from_as("resident_version", "v")
            .join_as(JoinType::LeftJoin, "coverage_mark", "m", marked(key.as_str(), "resident", "resident_id"))
            .cond_where(crate::registry::subtree(community, ("v", "community_code")))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .group_by_col(("v", "household_id"));
        let mut residents: HashMap<Uuid, u64> = HashMap::new();
        let mut residents_not_verified = 0;
        for r in db.query_all(&q).await? {
            residents.insert(r.try_get("", "household_id")?, r.try_get::<i64>("", "residents")? as u64);
            residents_not_verified += r.try_get::<Option<i64>>("", "unverified")?.unwrap_or(0) as u64;
        }
        // Households not covered.
        let mut q = Query::select();
        q.columns([
            ("v", "household_id"),
            ("v", "grid_id"),
            ("v", "building_id"),
            ("v", "unit_no"),
            ("v", "floor_no"),
            ("v", "room_no"),
        ])
        .column(("h", "household_no"))
        .from_as("household_version", "v");
        crate::registry::join_household(&mut q);
        q.join_as(JoinType::LeftJoin, "coverage_mark", "m", marked(key.as_str(), "household", "household_id"))
            .cond_where(crate::registry::subtree(community, ("v", "community_code")))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .and_where(Expr::col(("m", "subject_id")).is_null());
        let mut households = Vec::new();
        for r in db.query_all(&q).await? {
            let id: Uuid = r.try_get("", "household_id")?;
            let building: Uuid = r.try_get("", "building_id")?;
            let grid: Uuid = r.try_get("", "grid_id")?;
            households.push((
                grids.get(&grid).map(|g| g.0).unwrap_or_default(),
                from_row!(r => HouseholdGap {
                    household_no, unit_no, floor_no, room_no;
                    household_id: id,
                    grid: grids.get(&grid).map(|g| g.1.clone()).unwrap_or_default(),
                    building: buildings.get(&building).cloned().unwrap_or_default(),
                    residents: residents.get(&id).copied().unwrap_or(0),
                    responsible: who(building, grid),
                }),
            ));
        }
        households
            .sort_by_cached_key(|(n, h)| (*n, natural_key(&h.building), h.floor_no, h.unit_no, h.room_no.clone()));
        Ok(CoverageGaps {
            floors: floors.into_iter().map(|(_, g, _)| g).collect(),
            households: households.into_iter().map(|(_, h)| h).collect(),
            residents_not_verified,
        })
    }

    /// The grid of a community by its number (for assigning responsibilities by name).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn grid_id(&self, community: &DivisionCode, number: i32) -> StoreResult<Option<Uuid>> {
        let mut q = Query::select();
        q.column("id")
            .from("grid")
            .cond_where(crate::registry::subtree(community, "community_code"))
            .and_where(Expr::col("number").eq(number));
        match self.store.db.query_one(&q).await? {
            Some(r) => Ok(Some(r.try_get("", "id")?)),
            None => Ok(None),
        }
    }
}

/// A counted column: COUNT or SUM of integer columns (bigint in PostgreSQL).
fn count(r: &sea_orm::QueryResult, column: &str) -> StoreResult<u64> {
    let v: Option<i64> = r.try_get("", column)?;
    Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
}
