//! jiceng's storage: one query source (sea-query via sea-orm) for SQLite and PostgreSQL.
//!
//! Handlers never build SQL: they call intent-named methods on the per-domain
//! handles ([`Store::registry`], [`Store::divisions`], [`Store::users`]).

/// A struct read from one row: each field before `;` from the column of its own name,
/// the fields after it as given (decoded codes, values from elsewhere).
macro_rules! from_row {
    ($row:ident => $ty:ident { $($column:ident),* $(,)? $(; $($field:ident $(: $value:expr)?),* $(,)?)? }) => {
        $ty { $($column: $row.try_get("", stringify!($column))?,)* $($($field $(: $value)?,)*)? }
    };
}

pub mod access;
mod connection;
mod dialect;
mod error;
pub mod exchange;
pub mod fieldwork;
pub mod linkage;
mod migration;
pub mod ops;
pub mod org;
pub mod registry;
pub mod reporting;
pub mod sharding;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub(crate) mod write;

use sea_orm::sea_query::SelectStatement;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};

pub use access::Caller;
pub use connection::{redact, sqlite_url};
pub use error::{StoreError, StoreResult};

/// Runs `q` and reads every row with `read` (the one way a list is read from a select).
pub(crate) async fn read_rows<T>(
    db: &impl ConnectionTrait,
    q: &SelectStatement,
    read: impl FnMut(&QueryResult) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    db.query_all(q).await?.iter().map(read).collect()
}

/// `INSERT INTO table (columns) SELECT …`: how a projection writes the rows it recounted.
pub(crate) async fn insert_selected(
    db: &impl ConnectionTrait,
    table: &'static str,
    columns: &[&'static str],
    select: SelectStatement,
) -> StoreResult<()> {
    let insert = sea_orm::sea_query::Query::insert()
        .into_table(table)
        .columns(columns.iter().copied())
        .select_from(select)
        .map_err(|e| StoreError::Invalid(format!("{table}: {e}")))?
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// A connection pool to one jiceng database, migrated to the current schema.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// Entries of reads, written in batches by one task (`org::audit`).
    pub(crate) audit_queue: std::sync::Arc<org::audit::AuditQueue>,
    /// Each county's registry side of record linkage, kept between batches.
    pub(crate) linkage_cache: std::sync::Arc<linkage::LinkageCache>,
}

impl Store {
    /// Opens (and migrates) the database at `url`: `sqlite://PATH?mode=rwc` or `postgres://…`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open(url: &str) -> StoreResult<Store> {
        Ok(Store {
            db: connection::connect(url, None).await?,
            audit_queue: Default::default(),
            linkage_cache: Default::default(),
        })
    }

    /// Opens a PostgreSQL database inside one schema (used to isolate tests).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open_in_schema(url: &str, schema: &str) -> StoreResult<Store> {
        Ok(Store {
            db: connection::connect(url, Some(schema)).await?,
            audit_queue: Default::default(),
            linkage_cache: Default::default(),
        })
    }

    pub fn is_postgres(&self) -> bool {
        dialect::Dialect::of(&self.db) == dialect::Dialect::Postgres
    }

    pub fn divisions(&self) -> org::Divisions<'_> {
        org::Divisions { store: self }
    }

    pub fn audit(&self) -> org::Audit<'_> {
        org::Audit { store: self }
    }

    pub fn users(&self) -> org::Users<'_> {
        org::Users { store: self }
    }

    /// Runs one SQL statement as written, bypassing every rule of this crate. Only for
    /// tests that must tamper with stored data to prove it is detected.
    #[cfg(any(test, feature = "testing"))]
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<()> {
        sea_orm::ConnectionTrait::execute_unprepared(&self.db, sql).await?;
        Ok(())
    }

    /// Brings the planner's statistics up to date after a bulk load (`ANALYZE`; on
    /// PostgreSQL autovacuum would get there, later; SQLite has nothing that would).
    /// Until then a table loaded from empty is planned as empty.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn refresh_statistics(&self) -> StoreResult<()> {
        sea_orm::ConnectionTrait::execute_unprepared(&self.db, "ANALYZE").await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close(self) -> StoreResult<()> {
        self.db.close().await?;
        Ok(())
    }
}
