//! Writing a whole generated community at once (demo, benchmarks): multi-row inserts
//! in one transaction per community, so an interrupted load leaves whole communities.

use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::synthetic::SyntheticCommunity;
use jiceng_domain::registry::{HouseholdLocation, Identity, ResidentFacts};
use sea_orm::sea_query::{Expr, Query, Value};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Registry;
use super::rows::{
    HOUSEHOLD_LOCATION_COLUMNS, RESIDENT_FACT_COLUMNS, VERSION_COLUMNS, VersionStamp, location_values,
    resident_fact_values, stamp_values,
};
use crate::error::StoreResult;
use crate::reporting::cells::Locks;
use crate::write::UnitOfWork;
use jiceng_domain::reporting::{Tally, cell};

/// What [`Registry::write_community`] stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PopulationSummary {
    pub grids: u64,
    pub buildings: u64,
    pub households: u64,
    pub residents: u64,
}

impl std::ops::AddAssign for PopulationSummary {
    fn add_assign(&mut self, o: Self) {
        self.grids += o.grids;
        self.buildings += o.buildings;
        self.households += o.households;
        self.residents += o.residents;
    }
}

/// Rows per multi-row INSERT.
const ROWS_PER_STATEMENT: usize = 100;

/// Collects rows for one table and inserts them in statements of bounded size.
pub(crate) struct Batch {
    table: &'static str,
    columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Expr>>,
}

impl Batch {
    pub(crate) fn new(table: &'static str, columns: impl IntoIterator<Item = &'static str>) -> Self {
        Batch { table, columns: columns.into_iter().collect(), rows: Vec::new() }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn flush(&mut self, txn: &DatabaseTransaction) -> StoreResult<()> {
        let rows = std::mem::take(&mut self.rows);
        if txn.get_database_backend() == DbBackend::Postgres {
            return self.flush_as_json(txn, rows).await;
        }
        // Statements of a fixed, modest number of rows: the same SQL text every time, so
        // the driver prepares it once and its statement cache stays small (a statement
        // with 32,000 parameters costs megabytes to prepare and to keep).
        let per_statement = ROWS_PER_STATEMENT.min(32_000 / self.columns.len()).max(1);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert.into_table(self.table).columns(self.columns.iter().copied());
            for row in rows.by_ref().take(per_statement) {
                insert.values_panic(row);
            }
            txn.execute(&insert).await?;
        }
        Ok(())
    }

    /// PostgreSQL: the rows as one JSON array, one parameter, turned back into rows of
    /// the table's own type by `json_populate_recordset`. A multi-row VALUES statement
    /// has every cell bound and planned as a parameter of its own (ADR 017).
    async fn flush_as_json(&self, txn: &DatabaseTransaction, rows: Vec<Vec<Expr>>) -> StoreResult<()> {
        let columns = self.columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO \"{table}\" ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::\"{table}\", $1::json)",
            table = self.table
        );
        for chunk in rows.chunks(JSON_ROWS_PER_STATEMENT) {
            let json = rows_as_json(&self.columns, chunk)?;
            txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql.as_str(), [Value::from(json)]))
                .await?;
        }
        Ok(())
    }
}

/// Rows per `json_populate_recordset` statement: a few megabytes of JSON at most.
const JSON_ROWS_PER_STATEMENT: usize = 5_000;

/// `[{"column": value, …}, …]` in the forms PostgreSQL reads back: dates as ISO dates,
/// instants to the microsecond (as the driver sends them), UUIDs hyphenated.
fn rows_as_json(columns: &[&str], rows: &[Vec<Expr>]) -> StoreResult<String> {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows.len() * columns.len() * 16);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        out.push_str(if i == 0 { "{" } else { ",{" });
        for (j, (column, cell)) in columns.iter().zip(row).enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{column}\":");
            let Expr::Value(value) = cell else {
                return Err(crate::StoreError::Internal(format!("bulk insert: {column} is not a value")));
            };
            json_value(&mut out, value).map_err(|()| {
                crate::StoreError::Internal(format!("bulk insert: {column} holds a value of an unexpected type"))
            })?;
        }
        out.push('}');
    }
    out.push(']');
    Ok(out)
}

fn json_value(out: &mut String, value: &Value) -> Result<(), ()> {
    use std::fmt::Write;
    let quoted = |out: &mut String, text: &str| {
        // serde_json escapes exactly what JSON requires.
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    };
    match value {
        Value::Bool(Some(b)) => out.push_str(if *b { "true" } else { "false" }),
        Value::SmallInt(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::BigInt(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::String(Some(text)) => quoted(out, text),
        Value::Uuid(Some(id)) => {
            let _ = write!(out, "\"{id}\"");
        }
        Value::TimeDate(Some(date)) => {
            let _ = write!(out, "\"{:04}-{:02}-{:02}\"", date.year(), u8::from(date.month()), date.day());
        }
        Value::TimeDateTimeWithTimeZone(Some(at)) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            let _ = write!(
                out,
                "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\"",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.microsecond()
            );
        }
        Value::Bool(None)
        | Value::SmallInt(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::String(None)
        | Value::Uuid(None)
        | Value::TimeDate(None)
        | Value::TimeDateTimeWithTimeZone(None) => out.push_str("null"),
        _ => return Err(()),
    }
    Ok(())
}

impl Registry<'_> {
    /// Stores a generated community: grids, buildings, households and residents, each
    /// with its first version. One transaction, so it is stored whole or not at all.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_community(
        &self,
        county: &DivisionCode,
        community: &SyntheticCommunity,
        recorded_by: &str,
    ) -> StoreResult<PopulationSummary> {
        let now = OffsetDateTime::now_utc();
        let c = county.as_str();
        let mut grids = Batch::new("grid", ["county_code", "id", "community_code", "number", "name", "created_at"]);
        let mut buildings = Batch::new(
            "building",
            ["county_code", "id", "grid_id", "community_code", "name", "floors", "units", "created_at"],
        );
        let mut households = Batch::new("household", ["county_code", "id", "household_no", "created_at", "created_by"]);
        let mut household_versions = Batch::new(
            "household_version",
            ["county_code", "household_id"].into_iter().chain(VERSION_COLUMNS).chain(HOUSEHOLD_LOCATION_COLUMNS),
        );
        let mut residents =
            Batch::new("resident", ["county_code", "id", "created_at", "created_by", "last_verified_on"]);
        let mut resident_versions = Batch::new(
            "resident_version",
            ["county_code", "resident_id"].into_iter().chain(VERSION_COLUMNS).chain(RESIDENT_FACT_COLUMNS),
        );
        let mut summary = PopulationSummary::default();
        let locks = Locks::under(&self.store.db, &community.code).await?;
        let mut tally = Tally::default();
        for grid in &community.grids {
            let grid_id = Uuid::now_v7();
            grids.rows.push(vec![
                c.into(),
                grid_id.into(),
                community.code.as_str().into(),
                (grid.number as i32).into(),
                grid.name.as_str().into(),
                now.into(),
            ]);
            summary.grids += 1;
            for building in &grid.buildings {
                let building_id = Uuid::now_v7();
                buildings.rows.push(vec![
                    c.into(),
                    building_id.into(),
                    grid_id.into(),
                    community.code.as_str().into(),
                    building.name.as_str().into(),
                    building.floors.into(),
                    building.units.into(),
                    now.into(),
                ]);
                summary.buildings += 1;
                for household in &building.households {
                    let household_id = Uuid::now_v7();
                    let Some(moved_in) = household.members.iter().map(|m| m.arrival_date.unwrap_or(m.birth_date)).min()
                    else {
                        continue;
                    };
                    households.rows.push(vec![
                        c.into(),
                        household_id.into(),
                        household.household_no.as_str().into(),
                        now.into(),
                        recorded_by.into(),
                    ]);
                    let counted = locks.counted(&[&community.code], moved_in, None);
                    let stamp = VersionStamp::first(moved_in, counted, now, recorded_by);
                    tally.enter(&community.code, counted, cell::HOUSEHOLDS);
                    let location = HouseholdLocation {
                        community: community.code.clone(),
                        grid_id,
                        building_id,
                        unit_no: household.unit_no,
                        floor_no: household.floor_no,
                        room_no: household.room_no.clone(),
                    };
                    household_versions.rows.push(
                        [c.into(), household_id.into()]
                            .into_iter()
                            .chain(stamp_values(&stamp))
                            .chain(location_values(&location))
                            .collect(),
                    );
                    summary.households += 1;
                    for member in &household.members {
                        let resident_id = Uuid::now_v7();
                        residents.rows.push(vec![
                            c.into(),
                            resident_id.into(),
                            now.into(),
                            recorded_by.into(),
                            member.last_verified.into(),
                        ]);
                        let facts = ResidentFacts {
                            name: member.name.clone(),
                            sex: member.sex,
                            birth_date: member.birth_date,
                            identity: Identity::Number(member.id_number.clone()),
                            ethnicity: member.ethnicity,
                            phone: member.phone.clone(),
                            registered_residence: member.registered_residence.clone(),
                            household_id,
                            relationship: member.relationship,
                            residence_status: member.residence_status,
                            arrival_date: member.arrival_date,
                            marital_status: member.marital_status,
                        };
                        let valid_from = member.arrival_date.unwrap_or(member.birth_date);
                        let counted = locks.counted(&[&community.code], valid_from, None);
                        let stamp = VersionStamp { valid_from, counted_from: counted, ..stamp.clone() };
                        tally.enter_person(
                            &community.code,
                            counted,
                            facts.residence_status,
                            facts.sex,
                            facts.birth_date,
                        );
                        resident_versions.rows.push(
                            [c.into(), resident_id.into()]
                                .into_iter()
                                .chain(stamp_values(&stamp))
                                .chain(resident_fact_values(&facts, &community.code))
                                .collect(),
                        );
                        summary.residents += 1;
                    }
                }
            }
        }
        let mut work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        // Parents before children, for the foreign keys.
        for batch in [
            &mut grids,
            &mut buildings,
            &mut households,
            &mut household_versions,
            &mut residents,
            &mut resident_versions,
        ] {
            batch.flush(txn).await?;
        }
        work.changes.tally = tally;
        work.changes.rebuilt.insert(community.code.clone());
        let detail = format!("loaded {} households, {} residents", summary.households, summary.residents);
        work.commit(self.change_entry(format!("community/{}", community.code), county, detail)).await?;
        Ok(summary)
    }
}
