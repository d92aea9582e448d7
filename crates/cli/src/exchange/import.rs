//! `jiceng import residents FILE`: a resident file into the registry, with a progress bar,
//! an error file for the rows that did not land, and a summary (or one JSON object).

use std::path::{Path, PathBuf};

use anyhow::Context;
use jiceng_domain::org::audit::AuditAction;
use jiceng_store::Store;
use jiceng_store::exchange::{ImportOptions, ImportReport, PlaceIndex, TextEncoding, import_file};
use jiceng_store::org::NewAuditEntry;

use crate::progress;

pub struct ImportArgs {
    pub file: PathBuf,
    pub encoding: Option<String>,
    pub mapping: Option<PathBuf>,
    pub error_file: Option<PathBuf>,
    pub json: bool,
    pub chunk_rows: usize,
    pub recorded_by: String,
}

pub fn encoding(name: Option<&str>) -> anyhow::Result<Option<TextEncoding>> {
    name.map(|n| {
        TextEncoding::from_name(n).with_context(|| {
            format!("--encoding {n}：应为 utf-8、gbk 或 gb18030 / --encoding {n}: expected utf-8, gbk or gb18030")
        })
    })
    .transpose()
}

/// Runs the import; returns whether every row landed.
pub async fn run(store: &Store, args: &ImportArgs) -> anyhow::Result<bool> {
    let mapping = match &args.mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("无法读取映射文件 / cannot read the mapping file {}", path.display()))?;
            jiceng_domain::exchange::columns::parse_mapping(&text).with_context(|| path.display().to_string())?
        }
        None => Default::default(),
    };
    let options = ImportOptions {
        encoding: encoding(args.encoding.as_deref())?,
        mapping,
        error_file: args.error_file.clone(),
        recorded_by: args.recorded_by.clone(),
        today: time::OffsetDateTime::now_utc().date(),
        chunk_rows: args.chunk_rows,
        limits: jiceng_store::exchange::ReadLimits::from_env().map_err(anyhow::Error::msg)?,
    };
    let places = PlaceIndex::from_reference()?;
    let bar = progress::share_bar("导入居民 Importing");
    let caller = jiceng_store::Caller::local(&args.recorded_by);
    let report = import_file(store.registry_by(&caller), &args.file, &options, &places, |p| {
        bar.set_position((p.fraction * 1000.0) as u64);
        bar.set_message(format!("导入居民 Importing {} rows", p.rows));
    })
    .await;
    bar.finish_and_clear();
    let report = report.with_context(|| format!("导入 / importing {}", args.file.display()))?;
    audit(store, &args.file, &args.recorded_by, &report).await?;
    print(&args.file, &report, args.json)?;
    Ok(report.totals.rejected == 0)
}

/// One audit entry per import: who imported which file and what it did.
async fn audit(store: &Store, file: &Path, actor: &str, report: &ImportReport) -> anyhow::Result<()> {
    let t = report.totals;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    store
        .audit()
        .append(&NewAuditEntry {
            actor: actor.to_string(),
            action: AuditAction::Write,
            target: "import/residents".into(),
            county: String::new(),
            origin: "cli".into(),
            purpose: Some(jiceng_domain::org::audit::AccessPurpose::RecordChange),
            detail: format!(
                "file={name} read={} created={} updated={} unchanged={} rejected={}",
                t.read, t.created, t.updated, t.unchanged, t.rejected
            ),
        })
        .await?;
    Ok(())
}

fn print(file: &Path, report: &ImportReport, json: bool) -> anyhow::Result<()> {
    let t = report.totals;
    for (column, header) in &report.unknown_columns {
        eprintln!(
            "注意 note: 第{column}列“{header}”不是已知的列，未导入 / column {column} '{header}' is not a known column and was not imported"
        );
    }
    if json {
        let summary = serde_json::json!({
            "read": t.read,
            "created": t.created,
            "updated": t.updated,
            "unchanged": t.unchanged,
            "rejected": t.rejected,
            "error_file": report.error_file.as_ref().map(|p| p.display().to_string()),
        });
        println!("{summary}");
        return Ok(());
    }
    let encoding = report.encoding.map(|e| format!("，编码 encoding {}", e.name())).unwrap_or_default();
    println!("{}{encoding}", file.display());
    println!("  读取 read       {:>10}", t.read);
    println!("  新增 created    {:>10}", t.created);
    println!("  更新 updated    {:>10}", t.updated);
    println!("  未变 unchanged  {:>10}", t.unchanged);
    println!("  拒绝 rejected   {:>10}", t.rejected);
    if t.grids_created + t.buildings_created + t.households_created > 0 {
        println!(
            "  新建 created places: 网格 grids {}，楼栋 buildings {}，户 households {}",
            t.grids_created, t.buildings_created, t.households_created
        );
    }
    if let Some(path) = &report.error_file {
        println!("  错误文件 error file: {}（改正后可单独导入 / correct it and import it on its own）", path.display());
    }
    Ok(())
}
