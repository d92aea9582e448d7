//! `jiceng bench exchange`: an exchange package of N changes written, read (verified
//! whole, then every record parsed) and applied, each against its floor in the same
//! run, with the size and each phase's peak memory:
//! - write: the same records as JSON lines through the same zstd, without digests or
//!   a signature;
//! - read: the floor's file decompressed and every line parsed, without checks;
//! - apply (SQLite, and PostgreSQL given `--database-url`): the same records received
//!   as a department's feed (`Linkage::receive`, the pipeline an import hands them to),
//!   without the package around them.
//!
//! The receiving county (430702) has a synthetic registry; the records are about its
//! people, so they link and propose changes as a real package's would.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use jiceng_domain::exchange::package::{Agreement, Manifest, PackageKind, PackageRecord, RecordKind, SharedField};
use jiceng_domain::linkage::feed::{FeedColumn, read_record};
use jiceng_domain::linkage::{DepartmentKind, FeedKind, Settings};
use jiceng_domain::org::{DivisionCode, Role, Scope};
use jiceng_files::exchange::ReadLimits;
use jiceng_files::exchange::package::{self as files, Algorithm, PackageWriter, PrivateKey};
use jiceng_files::linkage::feed::FeedRow;
use jiceng_store::Store;
use jiceng_store::exchange::{NewPartner, PackageImportOptions};
use jiceng_store::linkage::NewDepartment;
use jiceng_store::registry::{ResidentVersion, SearchQuery};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::bench::{peak_rss_mb, reset_peak};
use crate::progress;
use crate::registry::generate;

const RECEIVER: &str = "430702";
const SENDER: &str = "440307";

#[derive(Debug, Serialize)]
pub struct Phase {
    pub database: &'static str,
    pub phase: &'static str,
    pub kind: &'static str,
    pub records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct ExchangeBench {
    pub records: u64,
    pub registry: u64,
    pub package_bytes: u64,
    pub floor_bytes: u64,
    pub phases: Vec<Phase>,
}

/// Record `i`, about `person`: kinds in turn, a day apart.
fn record(i: u64, person: &ResidentVersion, today: time::Date) -> (RecordKind, BTreeMap<String, String>) {
    let kinds = [
        RecordKind::Arrival,
        RecordKind::AddressChange,
        RecordKind::Departure,
        RecordKind::Marriage,
        RecordKind::Death,
        RecordKind::Birth,
    ];
    let mut kind = kinds[(i % kinds.len() as u64) as usize];
    if kind == RecordKind::Birth && person.facts.sex != jiceng_domain::registry::Sex::Female {
        kind = RecordKind::Marriage;
    }
    let on = (today - time::Duration::days(1 + (i % 300) as i64)).to_string();
    let date_heading = match kind {
        RecordKind::Marriage => "registered_on",
        RecordKind::Death => "died_on",
        RecordKind::Birth => "delivered_on",
        _ => "changed_on",
    };
    let mut fields = BTreeMap::from([
        (date_heading.to_string(), on),
        (if kind == RecordKind::Birth { "mother_name" } else { "name" }.to_string(), person.facts.name.to_string()),
        ("dob".to_string(), person.facts.birth_date.to_string()),
    ]);
    if kind != RecordKind::Birth {
        fields.insert("sex".into(), person.facts.sex.label_zh().into());
    }
    if let Some(id) = person.facts.identity.number() {
        fields.insert("id_number".into(), id.to_string());
    }
    match kind {
        RecordKind::Arrival | RecordKind::AddressChange | RecordKind::Departure => {
            fields.insert("region".into(), format!("{SENDER}003002"));
        }
        RecordKind::Birth => {
            fields.insert("baby_sex".into(), "男".into());
            fields.insert("hospital".into(), "龙岗区妇幼保健院".into());
        }
        _ => {}
    }
    (kind, fields)
}

fn manifest(now: OffsetDateTime) -> anyhow::Result<Manifest> {
    Ok(Manifest {
        sender_name: "龙岗区".into(),
        receiver_name: "武陵区".into(),
        fields: vec!["sex".into(), "dob".into(), "id_number".into()],
        ..Manifest::new(PackageKind::Exchange, DivisionCode::parse(SENDER)?, DivisionCode::parse(RECEIVER)?, 1, now)
    })
}

fn phase(database: &'static str, phase: &'static str, kind: &'static str, records: u64, seconds: f64) -> Phase {
    Phase {
        database,
        phase,
        kind,
        records,
        seconds,
        records_per_second: records as f64 / seconds,
        peak_rss_mb: peak_rss_mb(),
    }
}

/// A registry for the receiving county and the people the records are about.
async fn receiving_registry(store: &Store, residents: u64) -> anyhow::Result<Vec<ResidentVersion>> {
    let county = DivisionCode::parse(RECEIVER)?;
    let rows = jiceng_store::org::Divisions::reference(&jiceng_store::org::LoadScope::counties(vec![county.clone()]))?;
    store.divisions().load(&rows, |_| {}).await?;
    let plan = generate::plan(&county, residents, 5, OffsetDateTime::now_utc().date())?;
    generate::populate(store, plan, "bench").await?;
    let scope = Scope::new(Role::District, vec![county]);
    let people = store.registry_in(&scope).search(&SearchQuery::Name(String::new()), 5000).await?;
    Ok(people)
}

/// The floor on `floor_store` and the package on `store`: two databases with the same
/// registry, so that neither run finds the other's records (a second notice of the same
/// death is a duplicate, and proposes nothing).
async fn apply(
    database: &'static str,
    floor_store: &Store,
    store: &Store,
    package: &Path,
    people_key: &PrivateKey,
    records: &Records<'_>,
) -> anyhow::Result<[Phase; 2]> {
    let county = DivisionCode::parse(RECEIVER)?;
    let linkage = floor_store.linkage();
    let floor_department = linkage
        .register_department(&NewDepartment {
            code: "FLOOR".into(),
            name: "基线 floor".into(),
            kind: DepartmentKind::PartnerRegion,
            region: county.clone(),
            feeds: Vec::new(),
        })
        .await?;
    let settings = Settings::default();
    let today = OffsetDateTime::now_utc().date();
    // Floor: the same records received as a department's feed, in the import's chunks.
    reset_peak();
    let bar = progress::bar(records.count, &format!("{database} 基线 floor"));
    let start = Instant::now();
    let mut from = 0;
    while from < records.count {
        let to = (from + 5_000).min(records.count);
        let mut by_kind: BTreeMap<FeedKind, Vec<FeedRow>> = BTreeMap::new();
        for (n, (id, kind, fields)) in (from..to).map(|i| (i, records.get(i))) {
            let n = n as usize;
            let record = PackageRecord { n: n as u64 + 1, id, kind: kind.key().into(), fields };
            let (feed, mut cells) = record.feed_cells().map_err(anyhow::Error::msg)?;
            cells.insert(0, (FeedColumn::RecordNo, id.to_string()));
            let refs: Vec<(FeedColumn, &str)> = cells.iter().map(|(c, t)| (*c, t.as_str())).collect();
            let row = FeedRow {
                line: n as u64 + 1,
                cells: cells.iter().map(|(c, t)| (c.heading(feed, true).to_string(), t.clone())).collect(),
                record: read_record(feed, &refs),
            };
            by_kind.entry(feed).or_default().push(row);
        }
        for (feed, rows) in by_kind {
            linkage.receive(&floor_department, feed, "floor", rows, &settings, today).await?;
        }
        bar.inc(to - from);
        from = to;
    }
    let floor = phase(database, "apply", "floor", records.count, start.elapsed().as_secs_f64());
    bar.finish_and_clear();

    store
        .exchange()
        .add_partner(&NewPartner {
            county: county.clone(),
            partner: DivisionCode::parse(SENDER)?,
            name: "龙岗区".into(),
            contact_name: String::new(),
            contact_phone: String::new(),
            agreement: Agreement {
                starts_on: today - time::Duration::days(365),
                ends_on: None,
                fields: vec![SharedField::Sex, SharedField::BirthDate, SharedField::IdNumber],
                every_months: 6,
            },
            public_key: people_key.public(),
        })
        .await?;
    reset_peak();
    let bar = progress::bar(records.count, &format!("{database} 导入 import"));
    let start = Instant::now();
    let options = PackageImportOptions::new("bench.jxp", settings, OffsetDateTime::now_utc());
    let progress = |applied: u64, _: u64| bar.set_position(applied);
    let report = store.exchange().import(package, &options, &progress).await?.map_err(anyhow::Error::msg)?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if report.received + report.already_received != records.count {
        anyhow::bail!(
            "导入了 {} 条（应为 {}）/ imported {} of {}",
            report.received,
            records.count,
            report.received,
            records.count
        );
    }
    Ok([floor, phase(database, "apply", "package", records.count, seconds)])
}

/// The benchmark's records, made when asked for (so memory measures the package, not
/// a list of its records): record `i` is about person `i mod people`, with a fixed id.
struct Records<'a> {
    count: u64,
    people: &'a [ResidentVersion],
    today: time::Date,
    /// Ids differ between runs, the same within one.
    salt: u128,
}

impl Records<'_> {
    fn get(&self, i: u64) -> (Uuid, RecordKind, BTreeMap<String, String>) {
        let (kind, fields) = record(i, &self.people[(i % self.people.len() as u64) as usize], self.today);
        (Uuid::from_u128(self.salt ^ u128::from(i)), kind, fields)
    }
}

pub async fn run(
    records: u64,
    residents: u64,
    files_only: bool,
    postgres_url: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let now = OffsetDateTime::now_utc();
    let today = now.date();
    let sqlite = Store::open(&jiceng_store::sqlite_url(&dir.path().join("receiver.db"))).await?;
    let sqlite_floor = Store::open(&jiceng_store::sqlite_url(&dir.path().join("floor.db"))).await?;
    let people = receiving_registry(&sqlite, residents).await?;
    if !files_only {
        receiving_registry(&sqlite_floor, residents).await?;
    }
    if people.is_empty() {
        anyhow::bail!("接收方登记库为空 / the receiving registry is empty");
    }
    let key = PrivateKey::generate(Algorithm::Ed25519);
    let mut phases = Vec::new();

    // Write: the package, and the floor (the same lines, compressed alike, unsigned).
    let package = dir.path().join("bench.jxp");
    let floor_file = dir.path().join("floor-package.zst");
    let all = Records { count: records, people: &people, today, salt: Uuid::now_v7().as_u128() & !0xFFFF_FFFF };
    reset_peak();
    let start = Instant::now();
    {
        let mut encoder = zstd::Encoder::new(std::io::BufWriter::new(std::fs::File::create(&floor_file)?), 3)?;
        encoder.include_checksum(true)?;
        for n in 0..records {
            let (id, kind, fields) = all.get(n);
            let record = PackageRecord { n: n + 1, id, kind: kind.key().into(), fields };
            serde_json::to_writer(&mut encoder, &record)?;
            encoder.write_all(b"\n")?;
        }
        encoder.finish()?.flush()?;
    }
    phases.push(phase("file", "write", "floor", records, start.elapsed().as_secs_f64()));
    reset_peak();
    let start = Instant::now();
    let mut writer = PackageWriter::new(key.algorithm)?;
    for n in 0..records {
        let (id, kind, fields) = all.get(n);
        writer.push(kind, id, fields)?;
    }
    let written = writer.finish(manifest(now)?, &key, std::io::BufWriter::new(std::fs::File::create(&package)?))?;
    phases.push(phase("file", "write", "package", records, start.elapsed().as_secs_f64()));

    // Read: the floor file decompressed and parsed; the package verified whole, then read.
    reset_peak();
    let start = Instant::now();
    let mut parsed = 0u64;
    for line in std::io::BufReader::new(zstd::Decoder::new(std::fs::File::open(&floor_file)?)?).lines() {
        let _: PackageRecord = serde_json::from_str(&line?)?;
        parsed += 1;
    }
    phases.push(phase("file", "read", "floor", parsed, start.elapsed().as_secs_f64()));
    reset_peak();
    let start = Instant::now();
    let limits = ReadLimits::default();
    let public = key.public();
    files::verify(&package, &limits, |_| Ok(public)).map_err(anyhow::Error::msg)?;
    let mut read = 0u64;
    for record in files::records(&package, &limits, 0).map_err(anyhow::Error::msg)? {
        record.map_err(anyhow::Error::msg)?;
        read += 1;
    }
    phases.push(phase("file", "read", "package", read, start.elapsed().as_secs_f64()));

    if !files_only {
        phases.extend(apply("sqlite", &sqlite_floor, &sqlite, &package, &key, &all).await?);
    }
    sqlite.close().await?;
    sqlite_floor.close().await?;
    if let Some(url) = postgres_url.filter(|_| !files_only) {
        let schemas = [
            format!("jiceng_bench_exchange_floor_{}", std::process::id()),
            format!("jiceng_bench_exchange_{}", std::process::id()),
        ];
        let floor = jiceng_store::exchange::bench::postgres_schema(url, &schemas[0]).await?;
        let pg = jiceng_store::exchange::bench::postgres_schema(url, &schemas[1]).await?;
        let result = async {
            receiving_registry(&floor, residents).await?;
            receiving_registry(&pg, residents).await?;
            apply("postgres", &floor, &pg, &package, &key, &all).await
        }
        .await;
        floor.close().await?;
        pg.close().await?;
        for schema in &schemas {
            jiceng_store::exchange::bench::drop_postgres_schema(url, schema).await?;
        }
        phases.extend(result?);
    }
    let result = ExchangeBench {
        records,
        registry: residents,
        package_bytes: written.bytes,
        floor_bytes: std::fs::metadata(&floor_file)?.len(),
        phases,
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    println!(
        "交换包基准 exchange package benchmark: {records} changes, registry of {residents}; package {:.1} MB (floor {:.1} MB)",
        result.package_bytes as f64 / 1e6,
        result.floor_bytes as f64 / 1e6
    );
    println!(
        "{:<10} {:<6} {:<8} {:>9} {:>9} {:>12} {:>12}",
        "database", "phase", "kind", "records", "seconds", "records/s", "peak RSS MB"
    );
    for p in &result.phases {
        println!(
            "{:<10} {:<6} {:<8} {:>9} {:>9.2} {:>12.0} {:>12.0}",
            p.database, p.phase, p.kind, p.records, p.seconds, p.records_per_second, p.peak_rss_mb
        );
    }
    for pair in result.phases.chunks(2) {
        if let [floor, work] = pair {
            let percent = work.records_per_second / floor.records_per_second * 100.0;
            println!(
                "{} {}: 为基线速度的 {percent:.0}% / {percent:.0}% of the floor's speed",
                work.database, work.phase
            );
        }
    }
    Ok(())
}
