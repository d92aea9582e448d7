//! `jiceng bench import`: rows per second of a full import (parsing, validation,
//! history, duplicates, projections) against the floor — the same file loaded into one
//! bare table with a unique ID index, by `COPY` on PostgreSQL and one prepared
//! multi-row INSERT in one transaction on SQLite (`sqlite3 .import`) — on SQLite and,
//! given `--database-url`, PostgreSQL, with peak memory.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use jiceng_domain::org::DivisionCode;
use jiceng_store::Store;
use jiceng_store::exchange::{ImportOptions, PlaceIndex, bench, import_file};
use jiceng_store::org::{Divisions, LoadScope};
use serde::Serialize;

use crate::progress;
use crate::registry::generate;

#[derive(Debug, Serialize)]
pub struct Measurement {
    pub database: &'static str,
    pub kind: &'static str,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Peak resident memory of the process during this phase.
    pub peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct ImportBench {
    pub residents: u64,
    pub file_mb: f64,
    pub generate_seconds: f64,
    pub measurements: Vec<Measurement>,
    /// Import speed as a share of the floor's, per database.
    pub import_vs_floor: Vec<(String, f64)>,
}

/// Resets the kernel's peak-RSS mark (Linux), so each phase reports its own peak.
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn prepare(store: &Store, county: &DivisionCode) -> anyhow::Result<()> {
    let rows = Divisions::reference(&LoadScope::counties(vec![county.clone()]))?;
    store.divisions().load(&rows, |_| {}).await?;
    Ok(())
}

async fn measure(
    database: &'static str,
    floor_store: &Store,
    store: &Store,
    file: &Path,
    county: &DivisionCode,
    places: &PlaceIndex,
) -> anyhow::Result<[Measurement; 2]> {
    // Each run gets its own empty database with the county's divisions loaded.
    prepare(floor_store, county).await?;
    prepare(store, county).await?;
    reset_peak();
    let bar = progress::share_bar(&format!("{database} 基线 floor"));
    let start = Instant::now();
    let rows = bench::floor_load(floor_store, file, |f| bar.set_position((f * 1000.0) as u64)).await?;
    let floor_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let floor = Measurement {
        database,
        kind: "floor",
        rows,
        seconds: floor_seconds,
        rows_per_second: rows as f64 / floor_seconds,
        peak_rss_mb: peak_rss_mb(),
    };
    reset_peak();
    let options = ImportOptions {
        encoding: None,
        mapping: Default::default(),
        error_file: Some(file.with_extension("errors.csv")),
        recorded_by: "bench".into(),
        today: time::OffsetDateTime::now_utc().date(),
        chunk_rows: 2000,
        limits: Default::default(),
    };
    let bar = progress::share_bar(&format!("{database} 导入 import"));
    let start = Instant::now();
    let report =
        import_file(store.registry(), file, &options, places, |p| bar.set_position((p.fraction * 1000.0) as u64))
            .await?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if report.totals.created != rows {
        anyhow::bail!(
            "导入只新增了 {} 人（应为 {rows}），见 {:?} / the import created {} of {rows}",
            report.totals.created,
            report.error_file,
            report.totals.created
        );
    }
    let import = Measurement {
        database,
        kind: "import",
        rows: report.totals.created,
        seconds,
        rows_per_second: report.totals.created as f64 / seconds,
        peak_rss_mb: peak_rss_mb(),
    };
    Ok([floor, import])
}

pub async fn run(residents: u64, county: &DivisionCode, postgres_url: Option<&str>, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let file = dir.path().join("residents.csv");
    let start = Instant::now();
    let plan = generate::plan(county, residents, 1, time::OffsetDateTime::now_utc().date())?;
    generate::write_csv(plan, &file)?;
    let generate_seconds = start.elapsed().as_secs_f64();
    let file_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    let places = PlaceIndex::from_reference()?;

    let mut measurements = Vec::new();
    let floor = Store::open(&jiceng_store::sqlite_url(&dir.path().join("floor.db"))).await?;
    let sqlite = Store::open(&jiceng_store::sqlite_url(&dir.path().join("import.db"))).await?;
    measurements.extend(measure("sqlite", &floor, &sqlite, &file, county, &places).await?);
    floor.close().await?;
    sqlite.close().await?;
    if let Some(url) = postgres_url {
        let schemas =
            [format!("jiceng_bench_floor_{}", std::process::id()), format!("jiceng_bench_{}", std::process::id())];
        let floor = bench::postgres_schema(url, &schemas[0]).await?;
        let pg = bench::postgres_schema(url, &schemas[1]).await?;
        let result = measure("postgres", &floor, &pg, &file, county, &places).await;
        floor.close().await?;
        pg.close().await?;
        for schema in &schemas {
            bench::drop_postgres_schema(url, schema).await?;
        }
        measurements.extend(result?);
    }
    let import_vs_floor = versus_floor(&measurements);
    let result = ImportBench { residents, file_mb, generate_seconds, measurements, import_vs_floor };
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    println!(
        "导入基准 import benchmark: {residents} residents, file {file_mb:.0} MB (generated in {generate_seconds:.1} s)"
    );
    print_table(&result.measurements, &result.import_vs_floor, ("导入", "import"));
    Ok(())
}

/// Each database's second measurement (the work) against its first (the floor), in rows
/// per second.
fn versus_floor(measurements: &[Measurement]) -> Vec<(String, f64)> {
    measurements
        .chunks(2)
        .filter_map(|pair| match pair {
            [floor, work] => Some((floor.database.to_string(), work.rows_per_second / floor.rows_per_second)),
            _ => None,
        })
        .collect()
}

/// The measurements as a table, then each database's share of its floor; `work` names
/// the work measured (Chinese, English).
fn print_table(measurements: &[Measurement], versus: &[(String, f64)], work: (&str, &str)) {
    println!("{:<10} {:<8} {:>10} {:>9} {:>12} {:>12}", "database", "kind", "rows", "seconds", "rows/s", "peak RSS MB");
    for m in measurements {
        println!(
            "{:<10} {:<8} {:>10} {:>9.2} {:>12.0} {:>12.0}",
            m.database, m.kind, m.rows, m.seconds, m.rows_per_second, m.peak_rss_mb
        );
    }
    for (database, ratio) in versus {
        let percent = ratio * 100.0;
        println!("{database}: {}速度为基线的 {percent:.0}% / {} runs at {percent:.0}% of the floor", work.0, work.1);
    }
}

/// `jiceng bench export`: rows per second of `export residents` for a whole county (the
/// county's current residents with their households, grids and buildings, in the file's
/// order, audited by the caller) against the floor — the same residents' person columns
/// read by the fastest path each database has and written as CSV (`bench::floor_export`).
pub async fn export(
    residents: u64,
    county: &DivisionCode,
    postgres_url: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut measurements = Vec::new();
    let sqlite = Store::open(&jiceng_store::sqlite_url(&dir.path().join("export.db"))).await?;
    measurements.extend(measure_export("sqlite", &sqlite, dir.path(), residents, county, today).await?);
    sqlite.close().await?;
    if let Some(url) = postgres_url {
        let schema = format!("jiceng_bench_export_{}", std::process::id());
        let pg = bench::postgres_schema(url, &schema).await?;
        let result = measure_export("postgres", &pg, dir.path(), residents, county, today).await;
        pg.close().await?;
        bench::drop_postgres_schema(url, &schema).await?;
        measurements.extend(result?);
    }
    let export_vs_floor = versus_floor(&measurements);
    let result = serde_json::json!({
        "residents": residents,
        "measurements": measurements,
        "export_vs_floor": export_vs_floor,
    });
    if json {
        println!("{result}");
        return Ok(());
    }
    println!("导出基准 export benchmark: {residents} residents of {county}");
    print_table(&measurements, &export_vs_floor, ("导出", "export"));
    Ok(())
}

async fn measure_export(
    database: &'static str,
    store: &Store,
    dir: &Path,
    residents: u64,
    county: &DivisionCode,
    today: time::Date,
) -> anyhow::Result<[Measurement; 2]> {
    prepare(store, county).await?;
    let plan = generate::plan(county, residents, 1, today)?;
    generate::populate(store, plan, "bench").await?;
    store.refresh_statistics().await?;
    let timed = |kind: &'static str, rows: u64, seconds: f64| Measurement {
        database,
        kind,
        rows,
        seconds,
        rows_per_second: rows as f64 / seconds,
        peak_rss_mb: peak_rss_mb(),
    };
    reset_peak();
    let start = Instant::now();
    let rows = bench::floor_export(store, county, &dir.join(format!("{database}-floor.csv"))).await?;
    let floor = timed("floor", rows, start.elapsed().as_secs_f64());
    reset_peak();
    let headers: Vec<String> = jiceng_domain::exchange::resident_file::headers().map(String::from).collect();
    let out = dir.join(format!("{database}-export.csv"));
    let mut writer = jiceng_store::exchange::ResidentFileWriter::create(
        &out,
        jiceng_store::exchange::FileFormat::Csv,
        jiceng_store::exchange::TextEncoding::Utf8,
        &headers,
    )?;
    let bar = progress::bar(rows, &format!("{database} 导出 export"));
    let start = Instant::now();
    let exported = store.registry().export_residents(county, &mut writer, |n| bar.set_position(n)).await?;
    writer.finish()?;
    let export = timed("export", exported, start.elapsed().as_secs_f64());
    bar.finish_and_clear();
    if exported != rows {
        anyhow::bail!("导出 {exported} 人，基线 {rows} 人 / the export wrote {exported} residents, the floor {rows}");
    }
    Ok([floor, export])
}
