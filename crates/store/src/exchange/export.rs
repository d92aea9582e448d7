//! 导出: the current residents of a subtree as a resident file, in the import's columns
//! and in an order that does not depend on the database (so export → import → export
//! gives the same file).

use std::collections::HashMap;

use jiceng_domain::exchange::resident_file::ResidentLine;
use jiceng_domain::org::DivisionCode;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query};
use time::Date;

use crate::error::{StoreResult, decode};
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
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export_residents(
        &self,
        node: &DivisionCode,
        writer: &mut ResidentFileWriter,
        mut progress: impl FnMut(u64),
    ) -> StoreResult<u64> {
        let communities = Query::select()
            .distinct()
            .column("community_code")
            .from("resident_version")
            .cond_where(subtree(node, "community_code"))
            .cond_where(self.in_scope("community_code"))
            .and_where(Expr::col("valid_to").is_null())
            .order_by("community_code", Order::Asc)
            .to_owned();
        let mut codes = Vec::new();
        for r in self.store.db.query_all(&communities).await? {
            let code: String = r.try_get_by_index(0)?;
            codes.push(decode("resident_version", "community_code", &code, DivisionCode::parse)?);
        }
        let mut written = 0;
        for community in codes {
            let name = self.store.divisions().get(&community).await?.map(|d| d.name).unwrap_or_default();
            let mut rows = self.export_rows(&community).await?;
            // Sorted here, not in SQL, so that every database orders text alike.
            rows.sort_by(|a, b| {
                let key = |r: &ExportRow| {
                    let f = &r.resident.facts;
                    (
                        r.grid_number,
                        r.building.clone(),
                        r.unit,
                        r.floor,
                        r.room.clone(),
                        r.household_no.clone(),
                        f.relationship.key(),
                        f.birth_date,
                        f.name.to_string(),
                        f.identity.number().map(|n| n.to_string()),
                    )
                };
                key(a).cmp(&key(b))
            });
            for r in &rows {
                let f = &r.resident.facts;
                let line = ResidentLine {
                    household_no: &r.household_no,
                    community_code: &community,
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
            written += rows.len() as u64;
            progress(written);
        }
        Ok(written)
    }

    async fn export_rows(&self, community: &DivisionCode) -> StoreResult<Vec<ExportRow>> {
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
            .and_where(Expr::col(("v", "community_code")).eq(community.as_str()))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .cond_where(self.in_scope(("v", "community_code")));
        let mut out = Vec::new();
        let mut grid_names: HashMap<i32, String> = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            let grid_number: i32 = r.try_get("", "grid_number")?;
            let grid = grid_names.entry(grid_number).or_insert(r.try_get("", "grid_name")?).clone();
            out.push(ExportRow {
                resident: resident_row(&r)?,
                household_no: r.try_get("", "household_no")?,
                grid_number,
                grid,
                building: r.try_get("", "building_name")?,
                unit: r.try_get("", "unit_no")?,
                floor: r.try_get("", "floor_no")?,
                room: r.try_get("", "room_no")?,
                last_verified: r.try_get("", "last_verified_on")?,
            });
        }
        Ok(out)
    }
}
