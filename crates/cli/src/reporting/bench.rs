//! `jiceng bench report`: reading a monthly report from its cells versus recomputing
//! the same report with GROUP BY over the registry, on a district with a year of
//! events, for the district and for its largest community.

use std::time::Instant;

use anyhow::Context;
use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::{Month, Period, PeriodReport};
use jiceng_store::Store;
use jiceng_store::exchange::bench as db_bench;
use jiceng_store::org::{Divisions, LoadScope};
use serde::Serialize;

use crate::registry::generate;

#[derive(Debug, Serialize)]
pub struct NodeTiming {
    pub database: &'static str,
    pub node: String,
    pub level: &'static str,
    pub population: i64,
    pub read_median_ms: f64,
    pub read_max_ms: f64,
    pub recompute_median_ms: f64,
    /// How many times faster the read is.
    pub speedup: f64,
}

#[derive(Debug, Serialize)]
pub struct ReportBench {
    pub residents: u64,
    pub period: String,
    pub setup_seconds: f64,
    pub events_accepted: u64,
    pub events_pending: u64,
    pub births: i64,
    pub moves_in: i64,
    pub moves_out: i64,
    pub timings: Vec<NodeTiming>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn time_node(
    database: &'static str,
    store: &Store,
    node: &DivisionCode,
    period: Period,
) -> anyhow::Result<(NodeTiming, PeriodReport)> {
    let reporting = store.reporting();
    let mut reads = Vec::new();
    let mut report = reporting.report(node, period).await?;
    for _ in 0..50 {
        let start = Instant::now();
        report = reporting.report(node, period).await?;
        reads.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let mut recomputes = Vec::new();
    let mut recomputed = None;
    for _ in 0..3 {
        let start = Instant::now();
        recomputed = Some(reporting.recompute_report(node, period).await?);
        recomputes.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    if recomputed.as_ref() != Some(&report) {
        anyhow::bail!("{node}: 统计格与重算结果不一致 / the cells and the recomputed report differ");
    }
    let read_median_ms = median(reads.clone());
    let recompute_median_ms = median(recomputes);
    Ok((
        NodeTiming {
            database,
            node: node.to_string(),
            level: node.level().label_en(),
            population: report.count("population.end"),
            read_median_ms,
            read_max_ms: reads.iter().copied().fold(0.0, f64::max),
            recompute_median_ms,
            speedup: recompute_median_ms / read_median_ms,
        },
        report,
    ))
}

async fn measure(
    database: &'static str,
    store: &Store,
    county: &DivisionCode,
    residents: u64,
    verified_per_month: f64,
    result: &mut ReportBench,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let rows = Divisions::reference(&LoadScope::counties(vec![county.clone()]))?;
    store.divisions().load(&rows, |_| {}).await?;
    let plan = generate::plan(county, residents, 1, time::OffsetDateTime::now_utc().date())?;
    generate::populate(store, plan, "bench").await?;
    let history = super::history::write(store, county, 1, verified_per_month).await?;
    result.setup_seconds = start.elapsed().as_secs_f64();
    result.events_accepted = history.accepted;
    result.events_pending = history.pending;
    let period = Period::parse(&result.period)?;
    // The largest community, by its own report.
    let mut largest: Option<(i64, DivisionCode)> = None;
    for community in jiceng_store::org::reference::communities_under(county)? {
        let r = store.reporting().report(&community.code, period).await?;
        let n = r.count("population.end");
        if largest.as_ref().is_none_or(|(m, _)| n > *m) {
            largest = Some((n, community.code));
        }
    }
    let (district, report) = time_node(database, store, county, period).await?;
    result.births = report.count("births");
    result.moves_in = report.count("moves_in");
    result.moves_out = report.count("moves_out");
    result.timings.push(district);
    if let Some((_, community)) = largest {
        result.timings.push(time_node(database, store, &community, period).await?.0);
    }
    Ok(())
}

pub async fn run(
    residents: u64,
    county: &DivisionCode,
    postgres_url: Option<&str>,
    verified_per_month: f64,
    json: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let period = Period::Month(Month::of(time::OffsetDateTime::now_utc().date()).previous());
    let mut result = ReportBench {
        residents,
        period: period.to_string(),
        setup_seconds: 0.0,
        events_accepted: 0,
        events_pending: 0,
        births: 0,
        moves_in: 0,
        moves_out: 0,
        timings: Vec::new(),
    };
    let sqlite = Store::open(&jiceng_store::sqlite_url(&dir.path().join("report.db"))).await?;
    measure("sqlite", &sqlite, county, residents, verified_per_month, &mut result).await?;
    sqlite.close().await?;
    if let Some(url) = postgres_url {
        let schema = format!("jiceng_bench_report_{}", std::process::id());
        let pg = db_bench::postgres_schema(url, &schema).await?;
        let outcome = measure("postgres", &pg, county, residents, verified_per_month, &mut result).await;
        pg.close().await?;
        db_bench::drop_postgres_schema(url, &schema).await?;
        outcome?;
    }
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    println!(
        "报表基准 report benchmark: {residents} residents, {} accepted + {} pending events (setup {:.0} s); {}: {} births, {} moves in, {} moves out",
        result.events_accepted,
        result.events_pending,
        result.setup_seconds,
        result.period,
        result.births,
        result.moves_in,
        result.moves_out
    );
    println!(
        "{:<9} {:<13} {:<9} {:>10} {:>12} {:>10} {:>15} {:>9}",
        "database", "node", "level", "population", "read ms p50", "read max", "recompute ms", "speedup"
    );
    for t in &result.timings {
        println!(
            "{:<9} {:<13} {:<9} {:>10} {:>12.2} {:>10.2} {:>15.1} {:>8.0}×",
            t.database,
            t.node,
            t.level,
            t.population,
            t.read_median_ms,
            t.read_max_ms,
            t.recompute_median_ms,
            t.speedup
        );
    }
    Ok(())
}
