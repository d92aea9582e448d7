//! 导出: the current residents of a subtree as a resident file, in the import's columns
//! and in an order that does not depend on the database (so export → import → export
//! gives the same file).

use std::collections::HashMap;

use jiceng_domain::exchange::resident_file::ResidentLine;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{QueryResult, StreamTrait};
use time::Date;

use crate::error::StoreResult;
use crate::registry::rows::{RESIDENT_FACT_COLUMNS, VERSION_COLUMNS, resident_row};
use crate::registry::{Registry, ResidentVersion, subtree};
use jiceng_files::exchange::ResidentFileWriter;

/// A resident with where they live, as exported.
struct ExportRow {
    resident: ResidentVersion,
    household_no: String,
    grid_number: i32,
    grid: String,
    building: String,
    unit: i16,
    floor: i16,
    room: String,
    last_verified: Option<Date>,
}

impl Registry<'_> {
    /// Writes every current resident of `node`'s subtree (within this registry's scope)
    /// to `writer`, community by community; returns how many were written.
    ///
    /// One streamed query per county (carrying its `county_code`, so that a county is
    /// read from its own partition or shard), in community order; each community's rows
    /// are sorted here and written before the next community is read.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_residents(
        &self,
        node: &DivisionCode,
        writer: &mut ResidentFileWriter,
        mut progress: impl FnMut(u64),
    ) -> StoreResult<u64> {
        let counties = match node.at_level(DivisionLevel::County) {
            Some(county) => vec![county],
            None => crate::registry::counties_with_records(&self.store.db)
                .await?
                .into_iter()
                .filter(|c| c.as_str().starts_with(node.as_str()))
                .collect(),
        };
        let mut written = 0;
        for county in counties {
            let q = self.export_query(&county, node);
            let mut rows = self.store.db.stream(&q).await?;
            let mut community: Option<DivisionCode> = None;
            let mut batch: Vec<ExportRow> = Vec::new();
            let mut grid_names: HashMap<i32, String> = HashMap::new();
            while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                let row = export_row(&r, &mut grid_names)?;
                if community.as_ref() != Some(&row.resident.community) {
                    if let Some(done) = community.take() {
                        written += self.write_exported(&done, &mut batch, writer).await?;
                        progress(written);
                    }
                    community = Some(row.resident.community.clone());
                    grid_names.clear();
                }
                batch.push(row);
            }
            drop(rows);
            if let Some(done) = community {
                written += self.write_exported(&done, &mut batch, writer).await?;
                progress(written);
            }
        }
        Ok(written)
    }

    /// The current residents of `node`'s subtree in `county`, with where they live, in
    /// community order.
    fn export_query(&self, county: &DivisionCode, node: &DivisionCode) -> SelectStatement {
        let on = |a: &'static str, b: &'static str, a_col: &'static str, b_col: &'static str| {
            Expr::col((a, "county_code")).equals((b, "county_code")).and(Expr::col((a, a_col)).equals((b, b_col)))
        };
        let mut q = Query::select();
        q.expr_as(Expr::col(("v", "county_code")), Alias::new("county_code"))
            .column(("v", "resident_id"))
            .columns(VERSION_COLUMNS.map(|c| ("v", c)))
            .columns(RESIDENT_FACT_COLUMNS.map(|c| ("v", c)))
            .expr_as(Expr::col(("h", "household_no")), Alias::new("household_no"))
            .expr_as(Expr::col(("hv", "unit_no")), Alias::new("unit_no"))
            .expr_as(Expr::col(("hv", "floor_no")), Alias::new("floor_no"))
            .expr_as(Expr::col(("hv", "room_no")), Alias::new("room_no"))
            .expr_as(Expr::col(("g", "number")), Alias::new("grid_number"))
            .expr_as(Expr::col(("g", "name")), Alias::new("grid_name"))
            .expr_as(Expr::col(("b", "name")), Alias::new("building_name"))
            .expr_as(Expr::col(("r", "last_verified_on")), Alias::new("last_verified_on"))
            .from_as("resident_version", "v")
            .join_as(
                JoinType::InnerJoin,
                "household_version",
                "hv",
                on("hv", "v", "household_id", "household_id").and(Expr::col(("hv", "valid_to")).is_null()),
            )
            .join_as(JoinType::InnerJoin, "household", "h", on("h", "v", "id", "household_id"))
            .join_as(JoinType::InnerJoin, "building", "b", on("b", "hv", "id", "building_id"))
            .join_as(JoinType::InnerJoin, "grid", "g", on("g", "hv", "id", "grid_id"))
            .join_as(JoinType::InnerJoin, "resident", "r", on("r", "v", "id", "resident_id"))
            .and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
            .cond_where(subtree(node, ("v", "community_code")))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .cond_where(self.in_scope(("v", "community_code")))
            // Division codes are ASCII digits: every collation orders them alike.
            .order_by(("v", "community_code"), Order::Asc);
        q
    }

    /// Sorts one community's rows (here, not in SQL, so that every database orders text
    /// alike) and writes them; empties `rows`.
    async fn write_exported(
        &self,
        community: &DivisionCode,
        rows: &mut Vec<ExportRow>,
        writer: &mut ResidentFileWriter,
    ) -> StoreResult<u64> {
        let name = self.store.divisions().get(community).await?.map(|d| d.name).unwrap_or_default();
        rows.sort_by(|a, b| {
            fn key(r: &ExportRow) -> impl Ord + '_ {
                let f = &r.resident.facts;
                (
                    r.grid_number,
                    &r.building,
                    r.unit,
                    r.floor,
                    &r.room,
                    &r.household_no,
                    f.relationship.key(),
                    f.birth_date,
                    f.name.as_str(),
                    f.identity.number().map(|n| n.as_str()),
                )
            }
            key(a).cmp(&key(b))
        });
        for r in rows.iter() {
            let f = &r.resident.facts;
            let line = ResidentLine {
                household_no: &r.household_no,
                community_code: community,
                community_name: &name,
                grid: &r.grid,
                building: &r.building,
                unit: r.unit,
                floor: r.floor,
                room: &r.room,
                name: &f.name,
                sex: f.sex,
                identity: &f.identity,
                birth_date: f.birth_date,
                ethnicity: f.ethnicity,
                phone: f.phone.as_ref(),
                registered_residence: &f.registered_residence,
                relationship: f.relationship,
                residence_status: f.residence_status,
                arrival_date: f.arrival_date,
                marital_status: f.marital_status,
                last_verified: r.last_verified,
            };
            writer.write_row(&line.cells())?;
        }
        let written = rows.len() as u64;
        rows.clear();
        Ok(written)
    }
}

fn export_row(r: &QueryResult, grid_names: &mut HashMap<i32, String>) -> StoreResult<ExportRow> {
    let grid_number: i32 = r.try_get("", "grid_number")?;
    let grid = match grid_names.get(&grid_number) {
        Some(name) => name.clone(),
        None => {
            let name: String = r.try_get("", "grid_name")?;
            grid_names.insert(grid_number, name.clone());
            name
        }
    };
    Ok(ExportRow {
        resident: resident_row(r)?,
        household_no: r.try_get("", "household_no")?,
        grid_number,
        grid,
        building: r.try_get("", "building_name")?,
        unit: r.try_get("", "unit_no")?,
        floor: r.try_get("", "floor_no")?,
        room: r.try_get("", "room_no")?,
        last_verified: r.try_get("", "last_verified_on")?,
    })
}
