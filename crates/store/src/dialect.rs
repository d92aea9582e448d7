//! Where SQLite and PostgreSQL differ, gathered in one place: the rest of the store is
//! one query source (sea-query), and each seam below is named for what it does, with
//! both spellings side by side. A new seam goes here, never inline in a query. (How a
//! connection is opened, its pool and pragmas, is `connection`'s.)

use sea_orm::{ConnectionTrait, DbBackend};

use crate::error::StoreResult;

/// The database a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn of(db: &impl ConnectionTrait) -> Dialect {
        match db.get_database_backend() {
            DbBackend::Postgres => Dialect::Postgres,
            _ => Dialect::Sqlite,
        }
    }

    /// The year of a date column, as an integer (SQLite stores dates as ISO text).
    pub(crate) fn year_of(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST(substr({column}, 1, 4) AS INTEGER)"),
            Dialect::Postgres => format!("CAST(EXTRACT(YEAR FROM {column}) AS INTEGER)"),
        }
    }

    /// A UUID column as text: hex on SQLite (stored as a blob), hyphenated on PostgreSQL.
    pub(crate) fn uuid_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("hex({column})"),
            Dialect::Postgres => format!("CAST({column} AS TEXT)"),
        }
    }

    /// The texts of a group joined by `separator`.
    pub(crate) fn string_agg(self, text: &str, separator: &str) -> String {
        match self {
            Dialect::Sqlite => format!("group_concat({text}, '{separator}')"),
            Dialect::Postgres => format!("string_agg({text}, '{separator}')"),
        }
    }

    /// A JSON array of the arrays of `values`, one per row of the group, as text.
    pub(crate) fn json_arrays(self, values: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_group_array(json_array({values}))"),
            Dialect::Postgres => format!("CAST(json_agg(json_build_array({values})) AS TEXT)"),
        }
    }

    /// A text column compared byte by byte, as the search indexes are built (m0011):
    /// PostgreSQL's database collation may order text otherwise and then cannot use an
    /// index for a prefix; SQLite's default collation is already binary.
    pub(crate) fn bytewise(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("\"{column}\""),
            Dialect::Postgres => format!("\"{column}\" COLLATE \"C\""),
        }
    }

    /// Holds `key` until the transaction ends, so that appenders queue (PostgreSQL's
    /// advisory lock); SQLite has one writer at a time already.
    pub(crate) async fn lock_for_transaction(self, txn: &impl ConnectionTrait, key: i64) -> StoreResult<()> {
        if self == Dialect::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({key})")).await?;
        }
        Ok(())
    }

    /// Refreshes the planner's statistics of `tables`. Both plan from them: without
    /// them SQLite takes an index on `county_code` — every row of the county — over one
    /// on a community. SQLite reads the tables' indexes whole (about 1.6 s for 1 M
    /// residents), PostgreSQL samples.
    pub(crate) async fn analyze(self, db: &impl ConnectionTrait, tables: &[&str]) -> StoreResult<()> {
        match self {
            Dialect::Postgres => {
                db.execute_unprepared(&format!("ANALYZE {}", tables.join(", "))).await?;
            }
            Dialect::Sqlite => {
                for table in tables {
                    db.execute_unprepared(&format!("ANALYZE \"{table}\"")).await?;
                }
            }
        }
        Ok(())
    }
}
