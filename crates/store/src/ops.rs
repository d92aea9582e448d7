//! What an operator needs from the database: the figures `/metrics` shows, an online
//! copy of an SQLite database (`jiceng backup`), and a look at a database that changes
//! nothing (`jiceng config check`).

use std::path::Path;

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;

use crate::Store;
use crate::dialect::Dialect;
use crate::error::{StoreError, StoreResult};
use crate::migration::Migrator;

/// The connection pool as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub open: u32,
    pub idle: u32,
    /// The most the pool will open.
    pub max: u32,
}

/// Figures read from the database when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauges {
    pub pool: PoolStats,
    /// Entries in the audit hash chain.
    pub audit_entries: i64,
    /// Read-audit entries waiting for the group commit.
    pub audit_waiting: usize,
    /// In-app notifications nobody has opened yet.
    pub notifications_unread: i64,
}

/// A database seen without changing it: which engine, and which of our migrations it
/// has and lacks (they run when the server starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `PostgreSQL 15.19 …` or `SQLite 3.46.0`.
    pub server_version: String,
    pub applied: usize,
    pub pending: Vec<String>,
}

impl Store {
    pub fn pool_stats(&self) -> PoolStats {
        fn stats<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
            PoolStats { open: pool.size(), idle: pool.num_idle() as u32, max: pool.options().get_max_connections() }
        }
        match Dialect::of(&self.db) {
            Dialect::Postgres => stats(self.db.get_postgres_connection_pool()),
            Dialect::Sqlite => stats(self.db.get_sqlite_connection_pool()),
        }
    }

    /// The figures `/metrics` shows beside its request counters: two small reads (the
    /// audit chain's last sequence number by its key, unread notifications by index).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn gauges(&self) -> StoreResult<Gauges> {
        let last_seq = Query::select().expr_as(Func::max(Expr::col("seq")), "n").from("audit_entry").to_owned();
        let unread = Query::select()
            .expr_as(Func::count(Expr::col("id")), "n")
            .from("notification")
            .and_where(Expr::col("read_at").is_null())
            .to_owned();
        let number = |row: Option<sea_orm::QueryResult>| -> StoreResult<i64> {
            Ok(match row {
                Some(r) => r.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
                None => 0,
            })
        };
        Ok(Gauges {
            pool: self.pool_stats(),
            audit_entries: number(self.db.query_one(&last_seq).await?)?,
            audit_waiting: self.audit_queue.waiting(),
            notifications_unread: number(self.db.query_one(&unread).await?)?,
        })
    }

    /// Writes a consistent copy of an SQLite database to `out` while others go on
    /// writing (`VACUUM INTO` reads one snapshot; WAL writers are not blocked). `out`
    /// must not exist. PostgreSQL is copied with `pg_dump` by the command line.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn backup_sqlite(&self, out: &Path) -> StoreResult<()> {
        if self.is_postgres() {
            return Err(StoreError::Invalid(
                "PostgreSQL 用 pg_dump 备份 / PostgreSQL is backed up with pg_dump".to_string(),
            ));
        }
        let path = out.to_str().ok_or_else(|| {
            StoreError::Invalid(format!("备份路径须为 UTF-8 / the backup path must be UTF-8: {}", out.display()))
        })?;
        self.db
            .execute_raw(Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, "VACUUM INTO ?", [path.into()]))
            .await?;
        Ok(())
    }

    /// SQLite's own check of every page and index (`PRAGMA integrity_check`): the
    /// problems it found, none when the file is sound. PostgreSQL: none (its archive is
    /// checked by `pg_restore --list`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        if self.is_postgres() {
            return Ok(Vec::new());
        }
        let rows =
            self.db.query_all_raw(Statement::from_string(sea_orm::DbBackend::Sqlite, "PRAGMA integrity_check")).await?;
        let mut problems = Vec::new();
        for row in rows {
            let line: String = row.try_get_by_index(0)?;
            if line != "ok" {
                problems.push(line);
            }
        }
        Ok(problems)
    }
}

/// Looks at the database at `url` without migrating or writing anything.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn probe(url: &str) -> StoreResult<Probe> {
    let db = crate::connection::connect_unmigrated(url, None).await?;
    let result = probe_open(&db).await;
    let _ = db.close().await;
    result
}

async fn probe_open(db: &DatabaseConnection) -> StoreResult<Probe> {
    let dialect = Dialect::of(db);
    let version_sql = match dialect {
        Dialect::Postgres => "SELECT version() AS v",
        Dialect::Sqlite => "SELECT 'SQLite ' || sqlite_version() AS v",
    };
    let server_version = match db.query_one_raw(Statement::from_string(db.get_database_backend(), version_sql)).await? {
        Some(row) => row.try_get::<String>("", "v")?,
        None => String::new(),
    };
    // The migration table is read, never created: a database no jiceng has opened yet
    // lacks every migration.
    let table = Migrator::migration_table_name();
    let applied_sql = format!("SELECT version FROM {table}");
    let applied: Vec<String> =
        match db.query_all_raw(Statement::from_string(db.get_database_backend(), applied_sql)).await {
            Ok(rows) => rows.iter().map(|r| r.try_get::<String>("", "version")).collect::<Result<_, _>>()?,
            Err(_) => Vec::new(),
        };
    let pending: Vec<String> =
        Migrator::migrations().iter().map(|m| m.name().to_string()).filter(|name| !applied.contains(name)).collect();
    Ok(Probe {
        server_version: server_version.split(" on ").next().unwrap_or("").to_string(),
        applied: applied.len(),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[tokio::test]
    async fn gauges_count_the_chain_and_the_pool() {
        for db in testing::backends().await {
            let before = db.store.gauges().await.unwrap();
            assert_eq!(before.audit_entries, 0, "{}", db.label);
            db.store.audit().append(&testing::audit_entry("wang")).await.unwrap();
            let after = db.store.gauges().await.unwrap();
            assert_eq!(after.audit_entries, 1, "{}", db.label);
            assert_eq!(after.audit_waiting, 0, "{}: answered only once written", db.label);
            assert!(after.pool.open >= 1 && after.pool.open <= after.pool.max, "{}: {:?}", db.label, after.pool);
            db.finish().await;
        }
    }

    #[tokio::test]
    async fn a_probe_sees_pending_migrations_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        // An empty SQLite file: every migration pending, and the probe adds no table.
        std::fs::File::create(&path).unwrap();
        let url = crate::sqlite_url(&path);
        let probe = super::probe(&url).await.unwrap();
        assert!(probe.server_version.starts_with("SQLite 3."), "{probe:?}");
        assert_eq!(probe.applied, 0);
        assert!(probe.pending.iter().any(|m| m.contains("m0001")), "{probe:?}");
        let again = super::probe(&url).await.unwrap();
        assert_eq!(again, probe, "the probe must not migrate");
        // An opened store has them all.
        for db in testing::backends().await {
            let probe = super::probe(&db.connection_url()).await.unwrap();
            assert!(probe.pending.is_empty(), "{}: {probe:?}", db.label);
            assert!(probe.applied >= 12, "{}: {probe:?}", db.label);
            db.finish().await;
        }
    }

    #[tokio::test]
    async fn an_sqlite_backup_is_a_sound_copy() {
        let db = testing::sqlite().await;
        db.store.audit().append(&testing::audit_entry("wang")).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("copy.db");
        db.store.backup_sqlite(&out).await.unwrap();
        let copy = crate::Store::open(&crate::sqlite_url(&out)).await.unwrap();
        assert!(copy.integrity_problems().await.unwrap().is_empty());
        assert_eq!(copy.audit().verify(None).await.unwrap().entries, 1);
        // A second backup onto the same file is refused (never overwritten).
        assert!(db.store.backup_sqlite(&out).await.is_err());
        copy.close().await.unwrap();
        db.finish().await;
    }
}
