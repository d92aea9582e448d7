//! Grids (网格) and buildings (楼栋): the places below a community.

use std::collections::HashMap;

use jiceng_domain::org::DivisionCode;
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Registry;
use crate::error::{StoreError, StoreResult, decode};
use crate::read_rows;
use crate::write::UnitOfWork;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub county: DivisionCode,
    pub id: Uuid,
    pub community: DivisionCode,
    pub number: i32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridSummary {
    pub grid: Grid,
    pub buildings: u64,
    pub households: u64,
    pub residents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Building {
    pub county: DivisionCode,
    pub id: Uuid,
    pub grid_id: Uuid,
    pub community: DivisionCode,
    pub name: String,
    pub floors: i16,
    pub units: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildingSummary {
    pub building: Building,
    pub households: u64,
}

/// A household as listed on a building page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdSummary {
    pub household_id: Uuid,
    pub household_no: String,
    pub unit_no: i16,
    pub floor_no: i16,
    pub room_no: String,
    pub members: u64,
    pub head_name: Option<String>,
}

/// `columns` of the record `(county, id)` in `table`.
fn record_select(table: &'static str, columns: &[&'static str], county: &DivisionCode, id: Uuid) -> SelectStatement {
    let mut q = Query::select();
    q.columns(columns.iter().copied())
        .from(table)
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("id").eq(id));
    q
}

pub(crate) fn grid_row(r: &QueryResult) -> StoreResult<Grid> {
    let county: String = r.try_get("", "county_code")?;
    let community: String = r.try_get("", "community_code")?;
    Ok(from_row!(r => Grid {
        id, number, name;
        county: decode("grid", "county_code", &county, DivisionCode::parse)?,
        community: decode("grid", "community_code", &community, DivisionCode::parse)?,
    }))
}

fn building_row(r: &QueryResult) -> StoreResult<Building> {
    let county: String = r.try_get("", "county_code")?;
    let community: String = r.try_get("", "community_code")?;
    Ok(from_row!(r => Building {
        id, grid_id, name, floors, units;
        county: decode("building", "county_code", &county, DivisionCode::parse)?,
        community: decode("building", "community_code", &community, DivisionCode::parse)?,
    }))
}

pub(crate) const GRID_COLUMNS: [&str; 5] = ["county_code", "id", "community_code", "number", "name"];
const BUILDING_COLUMNS: [&str; 7] = ["county_code", "id", "grid_id", "community_code", "name", "floors", "units"];

fn county_of(community: &DivisionCode) -> StoreResult<DivisionCode> {
    community
        .at_level(jiceng_domain::org::DivisionLevel::County)
        .ok_or_else(|| StoreError::Invalid(format!("{community} 不是社区代码 / {community} is not a community code")))
}

impl Registry<'_> {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_grid(&self, community: &DivisionCode, number: i32, name: &str) -> StoreResult<Grid> {
        let county = county_of(community)?;
        self.require_scope(community, "社区 / community")?;
        let id = Uuid::now_v7();
        let work = UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("grid")
                    .columns(GRID_COLUMNS.into_iter().chain(["created_at"]))
                    .values_panic([
                        county.as_str().into(),
                        id.into(),
                        community.as_str().into(),
                        number.into(),
                        name.into(),
                        OffsetDateTime::now_utc().into(),
                    ]),
            )
            .await?;
        work.commit(self.change_entry(format!("grid/{county}/{id}"), &county, format!("created grid {number}")))
            .await?;
        Ok(Grid { county, id, community: community.clone(), number, name: name.into() })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_building(&self, grid: &Grid, name: &str, floors: i16, units: i16) -> StoreResult<Building> {
        if !(1..=200).contains(&floors) || !(1..=50).contains(&units) {
            return Err(StoreError::Invalid(format!(
                "楼层数{floors}或单元数{units}不合理 / {floors} floors or {units} units is out of range"
            )));
        }
        self.require_scope(&grid.community, "网格 / grid")?;
        let id = Uuid::now_v7();
        let work = UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("building")
                    .columns(BUILDING_COLUMNS.into_iter().chain(["created_at"]))
                    .values_panic([
                        grid.county.as_str().into(),
                        id.into(),
                        grid.id.into(),
                        grid.community.as_str().into(),
                        name.into(),
                        floors.into(),
                        units.into(),
                        OffsetDateTime::now_utc().into(),
                    ]),
            )
            .await?;
        let entry = self.change_entry(format!("building/{}/{id}", grid.county), &grid.county, "created".into());
        work.commit(entry).await?;
        Ok(Building {
            county: grid.county.clone(),
            id,
            grid_id: grid.id,
            community: grid.community.clone(),
            name: name.into(),
            floors,
            units,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn grid(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Option<Grid>> {
        let mut q = record_select("grid", &GRID_COLUMNS, county, id);
        q.cond_where(self.in_scope("community_code"));
        self.store.db.query_one(&q).await?.map(|r| grid_row(&r)).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn building(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Option<Building>> {
        let mut q = record_select("building", &BUILDING_COLUMNS, county, id);
        q.cond_where(self.in_scope("community_code"));
        self.store.db.query_one(&q).await?.map(|r| building_row(&r)).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn building_in(
        &self,
        db: &impl ConnectionTrait,
        county: &DivisionCode,
        id: Uuid,
    ) -> StoreResult<Building> {
        match db.query_one(&record_select("building", &BUILDING_COLUMNS, county, id)).await? {
            Some(r) => building_row(&r),
            None => Err(StoreError::NotFound { what: "楼栋 / building".to_string() }),
        }
    }

    /// The grids of a community with how many buildings, households and residents each has now.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn grids_in_community(&self, community: &DivisionCode) -> StoreResult<Vec<GridSummary>> {
        self.require_scope(community, "社区 / community")?;
        let mut q = Query::select();
        q.columns(GRID_COLUMNS)
            .from("grid")
            .cond_where(crate::registry::subtree(community, "community_code"))
            .order_by("number", Order::Asc);
        let grids: Vec<Grid> = self.store.db.query_all(&q).await?.iter().map(grid_row).collect::<StoreResult<_>>()?;

        let count_by = |table: &'static str, counted: &'static str| {
            let mut q = Query::select();
            q.column("grid_id").expr(Expr::col(counted).count()).from(table);
            q.cond_where(crate::registry::subtree(community, "community_code")).group_by_col("grid_id");
            q
        };
        let buildings = count_by("building", "id");
        let mut households = count_by("household_version", "household_id");
        households.and_where(Expr::col("valid_to").is_null());
        let mut residents = Query::select();
        residents
            .column(("h", "grid_id"))
            .expr(Expr::col(("r", "resident_id")).count())
            .from_as("resident_version", "r")
            .join_as(
                JoinType::InnerJoin,
                "household_version",
                "h",
                crate::registry::current_version(("h", "household_id"), "r"),
            )
            .cond_where(crate::registry::subtree(community, ("r", "community_code")))
            .and_where(Expr::col(("r", "valid_to")).is_null())
            .group_by_col(("h", "grid_id"));
        let tally = |rows: Vec<QueryResult>| -> StoreResult<HashMap<Uuid, u64>> {
            rows.iter()
                .map(|r| {
                    let id: Uuid = r.try_get_by_index(0)?;
                    let n: i64 = r.try_get_by_index(1)?;
                    Ok((id, n as u64))
                })
                .collect()
        };
        let buildings = tally(self.store.db.query_all(&buildings).await?)?;
        let households = tally(self.store.db.query_all(&households).await?)?;
        let residents = tally(self.store.db.query_all(&residents).await?)?;
        Ok(grids
            .into_iter()
            .map(|grid| GridSummary {
                buildings: buildings.get(&grid.id).copied().unwrap_or(0),
                households: households.get(&grid.id).copied().unwrap_or(0),
                residents: residents.get(&grid.id).copied().unwrap_or(0),
                grid,
            })
            .collect())
    }

    /// Every building of a community (in scope), by grid and name: the choices when a
    /// household moves.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn buildings_in_community(&self, community: &DivisionCode) -> StoreResult<Vec<Building>> {
        self.require_scope(community, "社区 / community")?;
        let mut q = Query::select();
        q.columns(BUILDING_COLUMNS)
            .from("building")
            .cond_where(crate::registry::subtree(community, "community_code"))
            .order_by("grid_id", Order::Asc)
            .order_by("name", Order::Asc);
        read_rows(&self.store.db, &q, building_row).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn buildings_in_grid(&self, county: &DivisionCode, grid_id: Uuid) -> StoreResult<Vec<BuildingSummary>> {
        let mut q = Query::select();
        q.columns(BUILDING_COLUMNS)
            .from("building")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("grid_id").eq(grid_id))
            .cond_where(self.in_scope("community_code"))
            .order_by("name", Order::Asc);
        let buildings: Vec<Building> =
            self.store.db.query_all(&q).await?.iter().map(building_row).collect::<StoreResult<_>>()?;
        let mut counts = Query::select();
        counts
            .column("building_id")
            .expr(Expr::col("household_id").count())
            .from("household_version")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("grid_id").eq(grid_id))
            .and_where(Expr::col("valid_to").is_null())
            .group_by_col("building_id");
        let mut by_building = HashMap::new();
        for r in self.store.db.query_all(&counts).await? {
            let id: Uuid = r.try_get_by_index(0)?;
            let n: i64 = r.try_get_by_index(1)?;
            by_building.insert(id, n as u64);
        }
        Ok(buildings
            .into_iter()
            .map(|building| BuildingSummary {
                households: by_building.get(&building.id).copied().unwrap_or(0),
                building,
            })
            .collect())
    }

    /// The households living in a building now, by unit, floor and room.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn households_in_building(
        &self,
        county: &DivisionCode,
        building_id: Uuid,
    ) -> StoreResult<Vec<HouseholdSummary>> {
        let mut q = Query::select();
        q.columns([("v", "household_id"), ("v", "unit_no"), ("v", "floor_no"), ("v", "room_no")])
            .column(("h", "household_no"))
            .from_as("household_version", "v");
        super::join_household(&mut q);
        q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("v", "building_id")).eq(building_id))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .cond_where(self.in_scope(("v", "community_code")))
            .order_by(("v", "unit_no"), Order::Asc)
            .order_by(("v", "floor_no"), Order::Asc)
            .order_by(("v", "room_no"), Order::Asc);
        let rows = self.store.db.query_all(&q).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(from_row!(r => HouseholdSummary {
                household_id, household_no, unit_no, floor_no, room_no;
                members: 0,
                head_name: None,
            }));
        }
        // Members and heads, in one query for the whole building.
        let mut m = Query::select();
        m.column(("r", "household_id"))
            .column(("r", "name"))
            .column(("r", "relationship"))
            .from_as("resident_version", "r")
            .join_as(
                JoinType::InnerJoin,
                "household_version",
                "hv",
                crate::registry::same_county(("hv", "household_id"), ("r", "household_id")),
            )
            .and_where(Expr::col(("hv", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("hv", "building_id")).eq(building_id))
            .and_where(Expr::col(("hv", "valid_to")).is_null())
            .and_where(Expr::col(("r", "valid_to")).is_null());
        let index: HashMap<Uuid, usize> = out.iter().enumerate().map(|(i, h)| (h.household_id, i)).collect();
        for r in self.store.db.query_all(&m).await? {
            let id: Uuid = r.try_get("", "household_id")?;
            let relationship: String = r.try_get("", "relationship")?;
            if let Some(h) = index.get(&id).and_then(|i| out.get_mut(*i)) {
                h.members += 1;
                if relationship == jiceng_domain::registry::Relationship::Head.key() {
                    h.head_name = Some(r.try_get("", "name")?);
                }
            }
        }
        Ok(out)
    }
}
