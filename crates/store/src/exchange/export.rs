//! 导出: the current residents of a subtree as a resident file, in the import's columns
//! and in an order that does not depend on the database (so export → import → export
//! gives the same file).
//!
//! A community at a time: one query returns the community's residents and another its
//! households, each as one JSON array (ADR 018) — a row per resident through the driver
//! cost more than reading it — and the next communities' queries run while this one is
//! sorted and written. Memory is a few communities' residents, whatever the county's
//! size.

use std::borrow::Cow;
use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use jiceng_domain::exchange::resident_file::ResidentLine;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::ResidentFacts;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use serde::Deserialize;
use time::Date;

use crate::dialect::Dialect;
use crate::error::{StoreError, StoreResult, decode};
use crate::registry::Registry;
use crate::registry::rows::StoredFacts;
use jiceng_files::exchange::ResidentFileWriter;

/// Communities whose queries are under way at once: the next one is read while this
/// one is written.
const COMMUNITIES_AHEAD: usize = 4;

/// A resident with where they live, as exported.
struct ExportRow {
    household_no: String,
    grid_number: i32,
    grid: String,
    building: String,
    unit: i16,
    floor: i16,
    room: String,
    facts: ResidentFacts,
    last_verified: Option<Date>,
}

/// One resident as a community's JSON array holds it: household, then [`resident_columns`].
#[derive(Deserialize)]
struct PackedResident<'a>(
    &'a str,
    #[serde(borrow)] Cow<'a, str>,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

/// The columns after the household, `county` written into the subquery as a literal (a
/// `DivisionCode` is digits only) so that the plan names the county's partition alone
/// (a correlated `r.county_code = v.county_code` is pruned only when it runs).
fn resident_columns(county: &DivisionCode) -> String {
    format!(
        "v.name, v.sex, v.birth_date, v.id_number, v.id_missing_reason, v.ethnicity, v.phone, \
         v.registered_residence, v.relationship, v.residence_status, v.arrival_date, v.marital_status, \
         (SELECT r.last_verified_on FROM resident r WHERE r.county_code = '{county}' AND r.id = v.resident_id)",
        county = county.as_str()
    )
}

/// One household as a community's JSON array holds it: household, 户编号, grid, building,
/// unit, floor, room.
#[derive(Deserialize)]
struct PackedHousehold<'a>(
    &'a str,
    #[serde(borrow)] Cow<'a, str>,
    &'a str,
    &'a str,
    i16,
    i16,
    #[serde(borrow)] Cow<'a, str>,
);

/// Where a household lives, as exported.
struct Dwelling<'a> {
    household_no: Cow<'a, str>,
    grid: Option<&'a (i32, String)>,
    building: Option<&'a String>,
    unit: i16,
    floor: i16,
    room: Cow<'a, str>,
}

/// A county's grids (number and name) and buildings (name), by their IDs as text.
#[derive(Default)]
struct Places {
    grids: HashMap<String, (i32, String)>,
    buildings: HashMap<String, String>,
}

/// A community's residents and its households, each as one JSON array.
struct PackedCommunity {
    residents: String,
    households: String,
}

impl Registry<'_> {
    /// Writes every current resident of `node`'s subtree (within this registry's scope)
    /// to `writer`, community by community; returns how many were written.
    ///
    /// Every query carries its `county_code`, so that it reads its county's own
    /// partition or shard, and each is driven by one community's rows: no plan depends
    /// on how well the statistics know the county.
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
        let today = time::OffsetDateTime::now_utc().date();
        let mut written = 0;
        for county in counties {
            let places = self.places(&county).await?;
            // Above a county, the whole county; at or below it, the node's own subtree.
            let within = if node.level() < DivisionLevel::County { &county } else { node };
            let communities = self.store.divisions().under(within, DivisionLevel::Village).await?;
            let mut packed = futures_util::stream::iter(communities)
                .map(|community| {
                    let county = county.clone();
                    async move {
                        let packed = self.packed_community(&county, &community.code).await?;
                        Ok::<_, StoreError>((community, packed))
                    }
                })
                .buffered(COMMUNITIES_AHEAD);
            while let Some((community, packed)) = packed.try_next().await? {
                let Some(packed) = packed else { continue };
                let mut rows = unpack(&community.code, &packed, &places, today)?;
                written += write_community(&community.code, &community.name, &mut rows, writer)?;
                progress(written);
            }
        }
        Ok(written)
    }

    /// The grids and buildings of `county`.
    async fn places(&self, county: &DivisionCode) -> StoreResult<Places> {
        let pack = Dialect::of(&self.store.db);
        let mut places = Places::default();
        let mut q = Query::select();
        q.expr(Expr::cust(pack.uuid_text("id")))
            .columns(["number", "name"])
            .from("grid")
            .and_where(Expr::col("county_code").eq(county.as_str()));
        for r in self.store.db.query_all(&q).await? {
            places.grids.insert(r.try_get_by_index(0)?, (r.try_get_by_index(1)?, r.try_get_by_index(2)?));
        }
        let mut q = Query::select();
        q.expr(Expr::cust(pack.uuid_text("id")))
            .column("name")
            .from("building")
            .and_where(Expr::col("county_code").eq(county.as_str()));
        for r in self.store.db.query_all(&q).await? {
            places.buildings.insert(r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        }
        Ok(places)
    }

    /// The current residents of `community` (in `county`, within this registry's scope)
    /// and its households, each as one JSON array; `None` when it has no such resident.
    async fn packed_community(
        &self,
        county: &DivisionCode,
        community: &DivisionCode,
    ) -> StoreResult<Option<PackedCommunity>> {
        let pack = Dialect::of(&self.store.db);
        let db = &self.store.db;
        let mut q = Query::select();
        q.expr(Expr::cust(pack.json_arrays(&format!(
            "{}, {}",
            pack.uuid_text("v.household_id"),
            resident_columns(county)
        ))))
        .from_as("resident_version", "v")
        .and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
        .and_where(Expr::col(("v", "community_code")).eq(community.as_str()))
        .and_where(Expr::col(("v", "valid_to")).is_null())
        .cond_where(self.in_scope(("v", "community_code")));
        let residents = match db.query_one(&q).await? {
            Some(row) => row.try_get_by_index::<Option<String>>(0)?,
            None => None,
        };
        let Some(residents) = residents else { return Ok(None) };
        let mut q = Query::select();
        q.expr(Expr::cust(pack.json_arrays(&format!(
            "{}, (SELECT h.household_no FROM household h WHERE h.county_code = '{}' AND h.id = hv.household_id), \
             {}, {}, hv.unit_no, hv.floor_no, hv.room_no",
            pack.uuid_text("hv.household_id"),
            county.as_str(),
            pack.uuid_text("hv.grid_id"),
            pack.uuid_text("hv.building_id")
        ))))
        .from_as("household_version", "hv")
        .and_where(Expr::col(("hv", "county_code")).eq(county.as_str()))
        .and_where(Expr::col(("hv", "valid_to")).is_null())
        .and_where(
            // The households of the community's residents: a resident's community is
            // their household's (`move_household` moves the members with it).
            Expr::col(("hv", "community_code")).eq(community.as_str()),
        );
        let households = match db.query_one(&q).await? {
            Some(row) => row.try_get_by_index::<Option<String>>(0)?,
            None => None,
        };
        // Residents without a household would be caught as damage when unpacked.
        Ok(Some(PackedCommunity { residents, households: households.unwrap_or_else(|| "[]".to_string()) }))
    }
}

/// A community's JSON arrays read back into rows, each value checked as the registry
/// checks it.
fn unpack(
    community: &DivisionCode,
    packed: &PackedCommunity,
    places: &Places,
    today: Date,
) -> StoreResult<Vec<ExportRow>> {
    const T: &str = "resident_version";
    let corrupt = |table: &'static str, value: String| StoreError::Corrupt { table, column: "export", value };
    let households: Vec<PackedHousehold<'_>> = serde_json::from_str(&packed.households)
        .map_err(|e| corrupt("household_version", format!("{community}: {e}")))?;
    let dwellings: HashMap<&str, Dwelling<'_>> = households
        .into_iter()
        .map(|h| {
            let dwelling = Dwelling {
                household_no: h.1,
                grid: places.grids.get(h.2),
                building: places.buildings.get(h.3),
                unit: h.4,
                floor: h.5,
                room: h.6,
            };
            (h.0, dwelling)
        })
        .collect();
    let residents: Vec<PackedResident<'_>> =
        serde_json::from_str(&packed.residents).map_err(|e| corrupt(T, format!("{community}: {e}")))?;
    let date = |column: &'static str, text: &str| decode(T, column, text, |t| Date::parse(t, DATE));
    residents
        .into_iter()
        .map(|p| {
            let Some(dwelling) = dwellings.get(p.0) else {
                return Err(corrupt(
                    "household_version",
                    format!("{community}: {} 不在本社区 / not in the community", p.0),
                ));
            };
            // A foreign key holds the building, and the grid is written with it: a
            // household without them is a damaged database.
            let (Some((grid_number, grid)), Some(building)) = (dwelling.grid, dwelling.building) else {
                return Err(corrupt(
                    "household_version",
                    format!("{community}: {} 网格或楼栋缺失 / grid or building missing", p.0),
                ));
            };
            Ok(ExportRow {
                household_no: dwelling.household_no.to_string(),
                grid_number: *grid_number,
                grid: grid.clone(),
                building: building.clone(),
                unit: dwelling.unit,
                floor: dwelling.floor,
                room: dwelling.room.to_string(),
                facts: StoredFacts {
                    name: &p.1,
                    sex: p.2,
                    birth_date: date("birth_date", p.3)?,
                    id_number: p.4,
                    id_missing_reason: p.5,
                    ethnicity: p.6,
                    phone: p.7,
                    registered_residence: p.8,
                    household_id: decode(T, "household_id", p.0, uuid::Uuid::parse_str)?,
                    relationship: p.9,
                    residence_status: p.10,
                    arrival_date: p.11.map(|t| date("arrival_date", t)).transpose()?,
                    marital_status: p.12,
                }
                .decode(today)?,
                last_verified: p.13.map(|t| date("last_verified_on", t)).transpose()?,
            })
        })
        .collect()
}

/// Dates as both databases write them into JSON.
const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Sorts one community's rows (here, not in SQL, so that every database orders text
/// alike) and writes them; empties `rows`.
fn write_community(
    community: &DivisionCode,
    name: &str,
    rows: &mut Vec<ExportRow>,
    writer: &mut ResidentFileWriter,
) -> StoreResult<u64> {
    rows.sort_by(|a, b| {
        fn key(r: &ExportRow) -> impl Ord + '_ {
            (
                r.grid_number,
                &r.building,
                r.unit,
                r.floor,
                &r.room,
                &r.household_no,
                r.facts.relationship.key(),
                r.facts.birth_date,
                r.facts.name.as_str(),
                r.facts.identity.number().map(|n| n.as_str()),
            )
        }
        key(a).cmp(&key(b))
    });
    for r in rows.iter() {
        let line = ResidentLine {
            household_no: &r.household_no,
            community_code: community,
            community_name: name,
            grid: &r.grid,
            building: &r.building,
            unit: r.unit,
            floor: r.floor,
            room: &r.room,
            name: &r.facts.name,
            sex: r.facts.sex,
            identity: &r.facts.identity,
            birth_date: r.facts.birth_date,
            ethnicity: r.facts.ethnicity,
            phone: r.facts.phone.as_ref(),
            registered_residence: &r.facts.registered_residence,
            relationship: r.facts.relationship,
            residence_status: r.facts.residence_status,
            arrival_date: r.facts.arrival_date,
            marital_status: r.facts.marital_status,
            last_verified: r.last_verified,
        };
        writer.write_row(&line.cells())?;
    }
    let written = rows.len() as u64;
    rows.clear();
    Ok(written)
}
