//! Test databases: every storage test runs against SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `JICENG_TEST_DATABASE_URL` (default: the local server,
//! database `jiceng_test`, created if missing). Each test gets its own schema, dropped
//! by [`TestDb::finish`]. When PostgreSQL cannot be reached the test says so loudly and
//! runs on SQLite only — unless `JICENG_REQUIRE_ALL=1`, which makes that a failure.

use jiceng_domain::registry::{HouseholdLocation, ResidentFacts};
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

    /// The URL a separate process opens this same database with (on PostgreSQL, the
    /// test's schema as its search path).
    pub fn connection_url(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}?options=-c%20search_path%3D{schema}", self.url),
            None => self.url.clone(),
        }
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
    postgres_schema(false).await
}

/// PostgreSQL on a schema whose county-level tables are `PARTITION BY LIST
/// (county_code)`, with partitions of their own for [`PARTITION_COUNTIES`] and a default
/// one: the key rules a table sharded by county must keep (issue 15).
pub async fn postgres_partitioned() -> Option<TestDb> {
    postgres_schema(true).await
}

/// Counties with partitions of their own in the partitioned test schema; every other
/// county's rows go to a default partition.
pub const PARTITION_COUNTIES: [&str; 2] = ["440307", "440306"];

async fn postgres_schema(partitioned: bool) -> Option<TestDb> {
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
    let mut store = Store::open_in_schema(&url, &schema).await.expect("open PostgreSQL test schema");
    let mut label = "postgres";
    if partitioned {
        let _ = store.close().await;
        if let Err(e) = partition_by_county(&admin, &schema).await {
            panic!("the schema cannot be partitioned by county: {e}");
        }
        store = Store::open_in_schema(&url, &schema).await.expect("open the partitioned schema");
        label = "postgres-partitioned";
    }
    let _ = admin.close().await;
    Some(TestDb { label, store, url, schema: Some(schema), _dir: None })
}

/// Remakes every table of `schema` that has a `county_code` column (still empty, just
/// migrated) as a table partitioned by county, with the same columns, defaults, keys,
/// indexes and foreign keys. PostgreSQL refuses a key or unique index without the
/// partition column, as Citus does for a table distributed by it.
async fn partition_by_county(admin: &sea_orm::DatabaseConnection, schema: &str) -> Result<(), String> {
    let rows = |sql: &str| sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, [schema.into()]);
    let tables: Vec<String> = admin
        .query_all_raw(rows(
            "SELECT table_name::text AS t FROM information_schema.columns \
             WHERE table_schema = $1 AND column_name = 'county_code' ORDER BY 1",
        ))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.try_get::<String>("", "t"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // Foreign keys are taken off while their tables are remade, then put back as written.
    let foreign_keys: Vec<(String, String, String)> = admin
        .query_all_raw(rows(
            "SELECT c.conrelid::regclass::text AS tbl, c.conname::text AS name, pg_get_constraintdef(c.oid) AS def \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE c.contype = 'f' AND n.nspname = $1 ORDER BY 1, 2",
        ))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| Ok((r.try_get("", "tbl")?, r.try_get("", "name")?, r.try_get("", "def")?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(|e| e.to_string())?;
    let run = |sql: String| async move {
        admin.execute_unprepared(&sql).await.map(|_| ()).map_err(|e| format!("{sql}: {e}"))
    };
    for (table, name, _) in &foreign_keys {
        run(format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\"")).await?;
    }
    let mut refused = Vec::new();
    for table in &tables {
        let plain = format!("{table}__plain");
        run(format!("ALTER TABLE \"{schema}\".\"{table}\" RENAME TO \"{plain}\"")).await?;
        let made = run(format!(
            "CREATE TABLE \"{schema}\".\"{table}\" (LIKE \"{schema}\".\"{plain}\" INCLUDING ALL) PARTITION BY LIST (county_code)"
        ))
        .await;
        match made {
            Ok(()) => {
                run(format!("DROP TABLE \"{schema}\".\"{plain}\"")).await?;
                for county in PARTITION_COUNTIES {
                    run(format!(
                        "CREATE TABLE \"{schema}\".\"{table}_c{county}\" PARTITION OF \"{schema}\".\"{table}\" FOR VALUES IN ('{county}')"
                    ))
                    .await?;
                }
                run(format!(
                    "CREATE TABLE \"{schema}\".\"{table}_rest\" PARTITION OF \"{schema}\".\"{table}\" DEFAULT"
                ))
                .await?;
            }
            Err(e) => refused.push(e),
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("\n"));
    }
    for (table, name, definition) in &foreign_keys {
        run(format!("ALTER TABLE {table} ADD CONSTRAINT \"{name}\" {definition}")).await?;
    }
    Ok(())
}

/// A PostgreSQL database of its own (for a restore, which needs an empty target), on
/// the test server; dropped by [`ScratchDatabase::drop_now`].
pub struct ScratchDatabase {
    pub url: String,
    name: String,
}

impl ScratchDatabase {
    /// A new empty database, or `None` (after a loud skip) without PostgreSQL.
    pub async fn create() -> Option<ScratchDatabase> {
        let url = postgres_url();
        let (server, _) = url.rsplit_once('/')?;
        let name = format!("jiceng_scratch_{}", uuid::Uuid::new_v4().simple());
        let admin = match Database::connect(format!("{server}/postgres")).await {
            Ok(db) => db,
            Err(e) => {
                skip_or_fail("PostgreSQL", &e.to_string());
                return None;
            }
        };
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create a scratch database");
        let _ = admin.close().await;
        Some(ScratchDatabase { url: format!("{server}/{name}"), name })
    }

    pub async fn drop_now(self) {
        if let Some((server, _)) = self.url.rsplit_once('/')
            && let Ok(admin) = Database::connect(format!("{server}/postgres")).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await;
            let _ = admin.close().await;
        }
    }
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

/// SQLite always; PostgreSQL, plain and partitioned by county, when reachable.
pub async fn backends() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all.extend(postgres_partitioned().await);
    all
}

/// A division code from a literal (tests only: panics on a bad one).
impl Store {
    /// A handle on the same pool that hands every statement it runs to `seen` (tests
    /// that look at the SQL a piece of work sends).
    pub fn observed(&self, seen: impl Fn(&sea_orm::Statement) + Send + Sync + 'static) -> Store {
        let mut db = self.db.clone();
        db.set_metric_callback(move |info| seen(info.statement));
        Store { db, audit_queue: Default::default(), linkage_cache: Default::default() }
    }
}

/// An audit entry of a resident read by `actor` (tests of the chain and its figures).
pub fn audit_entry(actor: &str) -> crate::org::NewAuditEntry {
    crate::org::NewAuditEntry {
        actor: actor.to_string(),
        action: jiceng_domain::org::audit::AuditAction::ReadResident,
        target: "resident/440307/0".to_string(),
        county: "440307".to_string(),
        origin: "127.0.0.1".to_string(),
        purpose: Some(jiceng_domain::org::audit::AccessPurpose::Verification),
        detail: String::new(),
    }
}

pub fn code(s: &str) -> jiceng_domain::org::DivisionCode {
    jiceng_domain::org::DivisionCode::parse(s).expect("a division code")
}

/// Loads the reference divisions of `county` (every community, street and the county).
pub async fn load_county(store: &Store, county: &str) {
    let rows = crate::org::Divisions::reference(&crate::org::LoadScope::counties(vec![code(county)]))
        .expect("reference divisions");
    store.divisions().load(&rows, |_| {}).await.expect("divisions load");
}

/// A person to add: Han, registered and living here, unmarried, no ID number or phone,
/// the household's head. Tests change what they are about.
pub fn person(name: &str, sex: jiceng_domain::registry::Sex, born: time::Date, household: uuid::Uuid) -> ResidentFacts {
    use jiceng_domain::registry::*;
    ResidentFacts {
        name: PersonName::parse(name).expect("a name"),
        sex,
        birth_date: born,
        identity: Identity::Missing(IdMissingReason::NotYetIssued),
        ethnicity: Ethnicity::HAN,
        phone: None,
        registered_residence: code("440307"),
        household_id: household,
        relationship: Relationship::Head,
        residence_status: ResidenceStatus::Registered,
        arrival_date: None,
        marital_status: MaritalStatus::Unmarried,
    }
}

/// 张三, the registry tests' migrant: a widow from 110105 who came in 2020, with an ID
/// number and a phone.
pub fn zhang_san(household: uuid::Uuid) -> ResidentFacts {
    use jiceng_domain::registry::*;
    use time::macros::date;
    ResidentFacts {
        identity: Identity::Number(IdNumber::parse_as_of("11010519491231002X", date!(2026 - 01 - 01)).expect("an ID")),
        phone: Some(Phone::parse("13800138000").expect("a phone")),
        registered_residence: code("110105"),
        residence_status: ResidenceStatus::Inflow,
        arrival_date: Some(date!(2020 - 01 - 01)),
        marital_status: MaritalStatus::Widowed,
        ..person("张三", Sex::Female, date!(1949 - 12 - 31), household)
    }
}

/// The grid → building → household → resident fixture every store test stands on: a
/// community of county 440307 with one grid and one building, and helpers to put
/// households and people in it.
pub struct World<'a> {
    pub store: &'a Store,
    pub county: jiceng_domain::org::DivisionCode,
    pub community: jiceng_domain::org::DivisionCode,
    pub grid: crate::registry::Grid,
    pub building: crate::registry::Building,
}

impl<'a> World<'a> {
    /// Community 440307003002, 第1网格, and `building` with `floors` floors and `units` units.
    pub async fn new(store: &'a Store, building: &str, floors: i16, units: i16) -> World<'a> {
        World::in_community(store, "440307003002", 1, building, floors, units).await
    }

    /// The same in another community, with grid number `grid`.
    pub async fn in_community(
        store: &'a Store,
        community: &str,
        grid: i32,
        building: &str,
        floors: i16,
        units: i16,
    ) -> World<'a> {
        let community = code(community);
        let registry = store.registry();
        let grid = registry.create_grid(&community, grid, &format!("第{grid}网格")).await.expect("grid");
        let building = registry.create_building(&grid, building, floors, units).await.expect("building");
        let county = community.at_level(jiceng_domain::org::DivisionLevel::County).expect("a county above");
        World { store, county, community, grid, building }
    }

    /// A dwelling in the building.
    pub fn location(&self, unit_no: i16, floor_no: i16, room_no: &str) -> HouseholdLocation {
        HouseholdLocation {
            community: self.community.clone(),
            grid_id: self.grid.id,
            building_id: self.building.id,
            unit_no,
            floor_no,
            room_no: room_no.into(),
        }
    }

    /// A household numbered `number` at `location`, recorded from `since`.
    pub async fn household(&self, number: &str, location: &HouseholdLocation, since: time::Date) -> uuid::Uuid {
        self.store
            .registry()
            .create_household(&self.county, number, location, since, "tester")
            .await
            .expect("household")
    }

    /// Adds a resident from `since`.
    pub async fn resident(&self, facts: &ResidentFacts, since: time::Date) -> uuid::Uuid {
        self.store.registry().add_resident(&self.county, facts, since, "tester").await.expect("resident")
    }
}
