//! `jiceng bench fieldwork`: planning a whole district's visits for a month and its
//! coverage report, on a synthetic district with tiers assessed and a share of
//! households already visited this month. With `--database-url` it runs on PostgreSQL,
//! in a schema of its own that is dropped afterwards.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use jiceng_domain::fieldwork::VisitOutcome;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::reporting::Month;
use jiceng_store::Store;
use jiceng_store::fieldwork::NewVisit;
use jiceng_store::org::{Divisions, LoadScope};
use jiceng_store::reporting::Actor;
use serde::Serialize;
use time::Date;

use crate::registry::generate;

#[derive(Debug, Serialize)]
pub struct FieldworkBench {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub residents: u64,
    pub setup_seconds: f64,
    pub visits: u64,
    pub plan_households: u64,
    pub plan_seconds: f64,
    pub coverage_seconds: f64,
    pub coverage_households: u64,
}

/// The PostgreSQL schema a run works in.
const POSTGRES_SCHEMA: &str = "jiceng_bench_fieldwork";

pub async fn run(
    residents: u64,
    county: &DivisionCode,
    keep: Option<&Path>,
    database_url: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if database_url.is_some() && keep.is_some() {
        anyhow::bail!("--keep 只用于 SQLite / --keep keeps a SQLite file only");
    }
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let path = keep.map_or_else(|| dir.path().join("fieldwork.db"), Path::to_path_buf);
    // Written once the setup has finished (with its size), so an interrupted setup or
    // one of another size is never reused.
    let ready = path.with_extension("ready");
    let today = time::OffsetDateTime::now_utc().date();
    let month = Month::of(today);
    let reusable = database_url.is_none()
        && std::fs::read_to_string(&ready).is_ok_and(|text| text.trim() == residents.to_string());
    if !reusable && database_url.is_none() {
        let _ = std::fs::remove_file(&ready);
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::remove_file(&file).with_context(|| format!("{}", file.display()))?;
            }
        }
    }
    let store = match database_url {
        Some(url) => jiceng_store::exchange::bench::postgres_schema(url, POSTGRES_SCHEMA).await?,
        None => Store::open(&jiceng_store::sqlite_url(&path)).await?,
    };
    let start = Instant::now();
    let visits = if reusable {
        store.fieldwork().visits_in(county, month).await?
    } else {
        let visits = setup(&store, residents, county, today, month).await?;
        if keep.is_some() {
            std::fs::write(&ready, format!("{residents}\n")).with_context(|| format!("{}", ready.display()))?;
        }
        visits
    };
    let setup_seconds = start.elapsed().as_secs_f64();
    let timed = Instant::now();
    let plans = super::plan::plans(&store, county, month).await?;
    let plan_seconds = timed.elapsed().as_secs_f64();
    let timed = Instant::now();
    let coverage = store.fieldwork().coverage(county, month).await?;
    let coverage_seconds = timed.elapsed().as_secs_f64();
    let result = FieldworkBench {
        database: if database_url.is_some() { "postgres" } else { "sqlite" },
        residents,
        setup_seconds,
        visits,
        plan_households: plans.iter().map(|(_, p)| p.len() as u64).sum(),
        plan_seconds,
        coverage_seconds,
        coverage_households: coverage.totals.households,
    };
    store.close().await?;
    if let Some(url) = database_url {
        jiceng_store::exchange::bench::drop_postgres_schema(url, POSTGRES_SCHEMA).await?;
    }
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    println!(
        "走访基准 fieldwork benchmark ({}): {residents} residents, {} visits this month (setup {:.0} s)",
        result.database, result.visits, result.setup_seconds
    );
    println!(
        "  plan the district:     {:>8.2} s  ({} households on the plans)",
        result.plan_seconds, result.plan_households
    );
    println!(
        "  district coverage:     {:>8.2} s  ({} households)",
        result.coverage_seconds, result.coverage_households
    );
    Ok(())
}

/// A synthetic district with tiers assessed and a tenth of its households visited this month.
async fn setup(store: &Store, residents: u64, county: &DivisionCode, today: Date, month: Month) -> anyhow::Result<u64> {
    let rows = Divisions::reference(&LoadScope::counties(vec![county.clone()]))?;
    store.divisions().load(&rows, |_| {}).await?;
    let plan = generate::plan(county, residents, 1, today)?;
    generate::populate(store, plan, "bench").await?;
    super::tiers::demo(store, county, 1).await?;
    // A tenth of the households visited this month, first of each building's floors.
    let actor = Actor { username: "bench", role: Role::GridWorker };
    let mut visits = 0u64;
    for community in jiceng_store::org::reference::communities_under(county)? {
        let plan = store.fieldwork().visit_plan(&community.code, month).await?;
        for item in plan.iter().step_by(10) {
            let visit = NewVisit {
                id: uuid::Uuid::now_v7(),
                county: DivisionCode::parse(&item.county)?,
                household_id: item.household_id,
                visited_on: today,
                outcome: VisitOutcome::HouseholdMember,
                notes: String::new(),
            };
            store.fieldwork().record_visit(&visit, actor, today).await?;
            visits += 1;
        }
    }
    Ok(visits)
}
