//! The floor an import is measured against: the same rows of a generated resident file
//! inserted into the same schema with one prepared INSERT per row and table, values
//! converted only as far as the column types need, nothing checked.

use std::collections::HashMap;
use std::path::Path;

use jiceng_domain::exchange::Column;
use jiceng_domain::registry::pinyin::name_initials;
use jiceng_domain::registry::{Ethnicity, MaritalStatus, Relationship, ResidenceStatus, Sex};
use sea_orm::sea_query::{Query, Value};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::registry::rows::{HOUSEHOLD_LOCATION_COLUMNS, RESIDENT_FACT_COLUMNS, VERSION_COLUMNS};
use jiceng_files::exchange::{FileError, ResidentFileReader};

/// One INSERT's SQL, built once; rows are bound to it (the driver prepares it once).
struct Prepared {
    backend: DbBackend,
    sql: String,
}

impl Prepared {
    fn new(store: &Store, table: &'static str, columns: &[&'static str]) -> Prepared {
        let mut insert = Query::insert();
        insert.into_table(table).columns(columns.iter().copied());
        insert.values_panic(columns.iter().map(|_| sea_orm::sea_query::Expr::val(0)));
        let dialect = crate::dialect::Dialect::of(&store.db);
        Prepared { backend: dialect.backend(), sql: dialect.sql(&insert) }
    }

    fn bind(&self, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql.clone(), values)
    }
}

fn date(text: &str) -> Option<Date> {
    Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

fn text(cells: &[String], column: Column) -> &str {
    Column::EXPORTED.iter().position(|c| *c == column).and_then(|i| cells.get(i)).map(String::as_str).unwrap_or("")
}

/// Inserts the rows of a file written by `jiceng generate` (UTF-8, jiceng's columns);
/// returns how many residents were inserted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn bare_insert(store: &Store, path: &Path, mut progress: impl FnMut(u64)) -> StoreResult<u64> {
    let reader = ResidentFileReader::open(path, None)?;
    if reader.headers.iter().map(String::as_str).ne(Column::EXPORTED.iter().map(|c| c.header_zh())) {
        return Err(StoreError::File(FileError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: "不是 jiceng generate 写的文件 / not a file written by jiceng generate".into(),
        }));
    }
    let grid = Prepared::new(store, "grid", &["county_code", "id", "community_code", "number", "name", "created_at"]);
    let building = Prepared::new(
        store,
        "building",
        &["county_code", "id", "grid_id", "community_code", "name", "floors", "units", "created_at"],
    );
    let household =
        Prepared::new(store, "household", &["county_code", "id", "household_no", "created_at", "created_by"]);
    // The same columns as every other writer of versions (registry::rows).
    let household_version_columns: Vec<&'static str> =
        ["county_code", "household_id"].into_iter().chain(VERSION_COLUMNS).chain(HOUSEHOLD_LOCATION_COLUMNS).collect();
    let household_version = Prepared::new(store, "household_version", &household_version_columns);
    let resident =
        Prepared::new(store, "resident", &["county_code", "id", "created_at", "created_by", "last_verified_on"]);
    let resident_version_columns: Vec<&'static str> =
        ["county_code", "resident_id"].into_iter().chain(VERSION_COLUMNS).chain(RESIDENT_FACT_COLUMNS).collect();
    let resident_version = Prepared::new(store, "resident_version", &resident_version_columns);
    let now = OffsetDateTime::now_utc();
    let by = "floor";
    // The floor writes the counted month as plainly as it can (no locks, no cells).
    let counted = |d: Option<Date>| d.map(|d| jiceng_domain::reporting::Month::of(d).key());
    let mut grids: HashMap<(String, String), Uuid> = HashMap::new();
    let mut buildings: HashMap<(String, String), Uuid> = HashMap::new();
    let mut households: HashMap<String, Uuid> = HashMap::new();
    let mut inserted = 0u64;
    let mut rows = reader.peekable();
    while rows.peek().is_some() {
        let txn = store.db.begin().await?;
        for row in rows.by_ref().take(2000) {
            let cells = row?.cells;
            let community = text(&cells, Column::CommunityCode).to_string();
            let county = community.get(..6).unwrap_or("").to_string();
            let grid_key = (community.clone(), text(&cells, Column::Grid).to_string());
            let grid_id = match grids.get(&grid_key) {
                Some(id) => *id,
                None => {
                    let id = Uuid::now_v7();
                    let number = grids.len() as i32 + 1;
                    txn.execute_raw(grid.bind(vec![
                        county.clone().into(),
                        id.into(),
                        community.clone().into(),
                        number.into(),
                        grid_key.1.clone().into(),
                        now.into(),
                    ]))
                    .await?;
                    grids.insert(grid_key, id);
                    id
                }
            };
            let unit: i16 = text(&cells, Column::Unit).parse().unwrap_or(1);
            let floor: i16 = text(&cells, Column::Floor).parse().unwrap_or(1);
            let building_key = (community.clone(), text(&cells, Column::Building).to_string());
            let building_id = match buildings.get(&building_key) {
                Some(id) => *id,
                None => {
                    let id = Uuid::now_v7();
                    txn.execute_raw(building.bind(vec![
                        county.clone().into(),
                        id.into(),
                        grid_id.into(),
                        community.clone().into(),
                        building_key.1.clone().into(),
                        200i16.into(),
                        50i16.into(),
                        now.into(),
                    ]))
                    .await?;
                    buildings.insert(building_key, id);
                    id
                }
            };
            let birth = date(text(&cells, Column::BirthDate));
            let arrival = date(text(&cells, Column::ArrivalDate));
            // Both version tables begin with the record's key and its first version's stamp.
            let first_version = |id: Uuid| -> Vec<Value> {
                let from = arrival.or(birth);
                vec![
                    county.clone().into(),
                    id.into(),
                    1i32.into(),
                    from.into(),
                    Option::<Date>::None.into(),
                    now.into(),
                    by.into(),
                    counted(from).into(),
                    Option::<String>::None.into(),
                ]
            };
            let household_no = text(&cells, Column::HouseholdNo).to_string();
            let household_id = match households.get(&household_no) {
                Some(id) => *id,
                None => {
                    let id = Uuid::now_v7();
                    txn.execute_raw(household.bind(vec![
                        county.clone().into(),
                        id.into(),
                        household_no.clone().into(),
                        now.into(),
                        by.into(),
                    ]))
                    .await?;
                    let mut values = first_version(id);
                    values.extend([
                        community.clone().into(),
                        grid_id.into(),
                        building_id.into(),
                        unit.into(),
                        floor.into(),
                        text(&cells, Column::Room).to_string().into(),
                    ]);
                    txn.execute_raw(household_version.bind(values)).await?;
                    households.insert(household_no, id);
                    id
                }
            };
            let id = Uuid::now_v7();
            txn.execute_raw(resident.bind(vec![
                county.clone().into(),
                id.into(),
                now.into(),
                by.into(),
                date(text(&cells, Column::LastVerified)).into(),
            ]))
            .await?;
            let key = |t: &str, f: &dyn Fn(&str) -> Option<&'static str>| f(t).unwrap_or("").to_string();
            let name = text(&cells, Column::Name).to_string();
            let id_number = Some(text(&cells, Column::IdNumber).to_string()).filter(|s| !s.is_empty());
            let phone = Some(text(&cells, Column::Phone).to_string()).filter(|s| !s.is_empty());
            let mut values = first_version(id);
            values.extend([
                household_id.into(),
                name.clone().into(),
                name_initials(&name).into(),
                key(text(&cells, Column::Sex), &|t| Sex::from_text(t).map(Sex::key)).into(),
                birth.into(),
                id_number.into(),
                Option::<String>::None.into(),
                Ethnicity::from_text(text(&cells, Column::Ethnicity)).map(|e| e.code()).unwrap_or_default().into(),
                phone.into(),
                text(&cells, Column::RegisteredResidence).to_string().into(),
                key(text(&cells, Column::Relationship), &|t| Relationship::from_text(t).map(Relationship::key)).into(),
                key(text(&cells, Column::ResidenceStatus), &|t| {
                    ResidenceStatus::from_text(t).map(ResidenceStatus::key)
                })
                .into(),
                arrival.into(),
                key(text(&cells, Column::MaritalStatus), &|t| MaritalStatus::from_text(t).map(MaritalStatus::key))
                    .into(),
                community.into(),
            ]);
            txn.execute_raw(resident_version.bind(values)).await?;
            inserted += 1;
        }
        txn.commit().await?;
        progress(inserted);
    }
    Ok(inserted)
}

/// A fresh PostgreSQL schema for one benchmark run (dropped with [`drop_postgres_schema`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn postgres_schema(url: &str, name: &str) -> StoreResult<Store> {
    let admin = sea_orm::Database::connect(url).await?;
    admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await?;
    admin.execute_unprepared(&format!("CREATE SCHEMA \"{name}\"")).await?;
    admin.close().await?;
    Store::open_in_schema(url, name).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn drop_postgres_schema(url: &str, name: &str) -> StoreResult<()> {
    let admin = sea_orm::Database::connect(url).await?;
    admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await?;
    admin.close().await?;
    Ok(())
}
