//! Opening a database: SQLite (embedded default) or PostgreSQL, chosen by URL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;

use crate::StoreResult;
use crate::error::StoreError;
use crate::migration::Migrator;

/// Turns a `--db PATH` argument into an SQLite URL that creates the file if needed.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Opens the pool and brings the schema up to date (migrations run on every start).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn connect(url: &str, schema: Option<&str>) -> StoreResult<DatabaseConnection> {
    let db = connect_unmigrated(url, schema).await?;
    Migrator::up(&db, None).await?;
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // SQLite has no autovacuum to keep the planner's statistics: what SQLite
        // advises for a long-lived application, on every open. It analyzes only the
        // tables whose statistics are missing or far off, and reads them whole (no 0x10
        // bit, no `analysis_limit`): sampled statistics of indexes that start with
        // `county_code` — one value in most databases — told SQLite a county had as
        // many rows as a community, and the export read the county for each community
        // (350 s for 1 M). A full ANALYZE of 1 M residents takes 1.6 s.
        db.execute_unprepared("PRAGMA optimize=0x10002").await?;
    }
    Ok(db)
}

/// Opens the pool and changes nothing (`config check` looks before a server starts).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn connect_unmigrated(url: &str, schema: Option<&str>) -> StoreResult<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // WAL lets readers proceed during writes; NORMAL sync is safe with WAL.
        options.max_connections(4).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory")
                // Bulk inserts prepare statements of thousands of parameters; a small
                // cache keeps their compiled programs from piling up in memory.
                .statement_cache_capacity(16)
        });
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        // Every statement planned for its own values and the table as it is now. A
        // cached generic plan is made from the first executions: for a table that a
        // long transaction fills from empty (the demo's year of events, a first import)
        // that is a sequential scan, kept while the table grows (0.4–1 ms a lookup by
        // key, 40 % of the demo's time on PostgreSQL). Our statements plan in tens of
        // microseconds; community and county codes are skewed enough that custom plans
        // pay for themselves on reads too (ADR 015).
        //
        // A statement the driver has not prepared on this connection costs a round trip
        // of its own (Parse, Describe) before it runs. The demo and an import use some
        // 650 different statements (IN lists of every length among them); with the
        // driver's 100 they kept pushing each other out.
        options.max_connections(16).map_sqlx_postgres_opts(|o| {
            o.options([("plan_cache_mode", "force_custom_plan")]).statement_cache_capacity(1000)
        });
        if let Some(schema) = schema {
            options.set_schema_search_path(schema.to_string());
        }
    } else {
        return Err(StoreError::UnsupportedUrl { url: redact(url) });
    }
    Ok(Database::connect(options).await?)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &credentials[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
