//! Test databases: every storage test runs against SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `JICENG_TEST_DATABASE_URL` (default: the local server,
//! database `jiceng_test`, created if missing). Each test gets its own schema, dropped
//! by [`TestDb::finish`]. When PostgreSQL cannot be reached the test says so loudly and
//! runs on SQLite only — unless `JICENG_REQUIRE_ALL=1`, which makes that a failure.

use sea_orm::{ConnectionTrait, Database};

use crate::Store;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/jiceng_test";

pub struct TestDb {
    pub label: &'static str,
    pub store: Store,
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// The URL this database was opened with (for code under test that opens its own).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drops the PostgreSQL schema; the SQLite file goes with its temporary directory.
    pub async fn finish(self) {
        if let Some(schema) = &self.schema {
            let _ = self.store.db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
        }
        let _ = self.store.close().await;
    }
}

impl TestDb {
    /// Asserts that the 四不漏 per-floor counters and the plan's follow-up rows under
    /// `node` equal a recount from the registry (every write path must keep them).
    pub async fn assert_floor_counts(&self, node: &str, context: &str) {
        let node = jiceng_domain::org::DivisionCode::parse(node).expect("a division code");
        let diff = crate::fieldwork::stock_differences(&self.store.db, &node).await.expect("floor counts");
        assert!(diff.is_empty(), "{} {context}: floor counters differ from a recount: {diff:?}", self.label);
        let diff = crate::fieldwork::followup_differences(&self.store.db, &node).await.expect("follow-up rows");
        assert!(diff.is_empty(), "{} {context}: follow-up rows differ from the registry: {diff:?}", self.label);
    }
}

pub fn require_all() -> bool {
    std::env::var("JICENG_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Reports a missing component: a loud skip, or a failure under `JICENG_REQUIRE_ALL=1`.
pub fn skip_or_fail(component: &str, why: &str) {
    let message = format!("SKIPPED {component}: {why} / 跳过 {component}：{why}");
    if require_all() {
        panic!("{message} (JICENG_REQUIRE_ALL=1 makes this a failure)");
    }
    eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary directory for the SQLite test database");
    let url = crate::sqlite_url(&dir.path().join("test.db"));
    let store = Store::open(&url).await.expect("open SQLite test database");
    TestDb { label: "sqlite", store, url, schema: None, _dir: Some(dir) }
}

pub fn postgres_url() -> String {
    std::env::var("JICENG_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

pub async fn postgres() -> Option<TestDb> {
    let url = postgres_url();
    if let Err(why) = ensure_database(&url).await {
        skip_or_fail("PostgreSQL", &format!("{} unreachable: {why}", crate::redact(&url)));
        return None;
    }
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = match Database::connect(&url).await {
        Ok(db) => db,
        Err(e) => {
            skip_or_fail("PostgreSQL", &e.to_string());
            return None;
        }
    };
    admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.expect("create a test schema");
    let _ = admin.close().await;
    let store = Store::open_in_schema(&url, &schema).await.expect("open PostgreSQL test schema");
    Some(TestDb { label: "postgres", store, url, schema: Some(schema), _dir: None })
}

/// Creates the test database if it does not exist yet.
async fn ensure_database(url: &str) -> Result<(), String> {
    let (server, name) = url.rsplit_once('/').ok_or("no database name in the URL")?;
    let name = name.split('?').next().unwrap_or(name).to_string();
    let admin = Database::connect(format!("{server}/postgres")).await.map_err(|e| e.to_string())?;
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if !exists {
        // Another test may create it at the same moment; that is fine.
        let _ = admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await;
    }
    let _ = admin.close().await;
    Ok(())
}

/// SQLite always, PostgreSQL when reachable.
pub async fn backends() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}
