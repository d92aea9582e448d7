//! `jiceng report --node CODE --period 2026-10 [--format …]` and `jiceng report verify`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::{INDICATORS, Period};
use jiceng_files::reporting::{self as files, ReportHeading};
use jiceng_store::Store;

pub struct ReportArgs {
    pub node: DivisionCode,
    pub period: Period,
    pub format: String,
    pub out: Option<PathBuf>,
}

pub async fn run(store: &Store, args: &ReportArgs) -> anyhow::Result<()> {
    let reporting = store.reporting();
    let report = reporting.report(&args.node, args.period).await?;
    let bytes: Vec<u8> = match args.format.as_str() {
        "table" => {
            let name = store.divisions().get(&args.node).await?.map(|d| d.name).unwrap_or_default();
            println!("{name}（{}）{} / report for {}", args.node, args.period.label_zh(), args.period);
            for (key, zh, en) in INDICATORS {
                println!("{:>14}  {zh} / {en} [{key}]", report.figure(key).to_string());
            }
            for (province, moves_in, moves_out) in report.migration_by_province() {
                println!(
                    "{:>14}  迁入/迁出 省 {province} / moves in/out, province {province}",
                    format!("{moves_in}/{moves_out}")
                );
            }
            return Ok(());
        }
        "json" => {
            let mut text = serde_json::to_string_pretty(&report.figures)?;
            text.push('\n');
            text.into_bytes()
        }
        "csv" => files::report_csv(&report)?,
        "xlsx" => {
            let month = args.period.last_month();
            let status = reporting.approval_status(&args.node, month).await.ok();
            let heading = ReportHeading {
                node_name: store.divisions().get(&args.node).await?.map(|d| d.name).unwrap_or_default(),
                filled_by: "jiceng".into(),
                filled_on: time::OffsetDateTime::now_utc().date(),
                approval: match status.and_then(|s| s.approved) {
                    Some((by, at)) => format!("已审核 approved: {by} {}", at.date()),
                    None => "未审核 not approved".into(),
                },
            };
            files::report_xlsx(&report, &heading)?
        }
        "dhis2" => {
            let mut text = serde_json::to_string_pretty(&files::dhis2_data_value_set(std::slice::from_ref(&report)))?;
            text.push('\n');
            text.into_bytes()
        }
        "adx" => files::adx_xml(std::slice::from_ref(&report)).into_bytes(),
        other => anyhow::bail!(
            "--format {other}：应为 table、json、csv、xlsx、dhis2 或 adx / expected table, json, csv, xlsx, dhis2 or adx"
        ),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("写入 / writing {}", path.display()))?;
            eprintln!("已写入 Wrote {}", path.display());
        }
        None if args.format == "xlsx" => {
            anyhow::bail!("xlsx 需要 --out 文件 / xlsx needs --out FILE")
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(())
}

/// Recomputes every cell under each node from the registry; true when all agree.
pub async fn verify(store: &Store, nodes: &[DivisionCode], json: bool) -> anyhow::Result<bool> {
    let mut all_agree = true;
    let nodes = if nodes.is_empty() { store.reporting().counties_with_figures().await? } else { nodes.to_vec() };
    if nodes.is_empty() {
        anyhow::bail!("数据库中还没有统计数据 / the database holds no figures yet");
    }
    for node in &nodes {
        let outcome = store.reporting().verify(node).await?;
        all_agree &= outcome.differences.is_empty();
        if json {
            println!("{}", serde_json::to_string(&outcome)?);
            continue;
        }
        if outcome.differences.is_empty() {
            println!(
                "{node}: {} 个统计格与登记库一致 / {} cells agree with the registry",
                outcome.cells, outcome.cells
            );
        } else {
            println!(
                "{node}: {} 处不一致 / {} differences (stored → recomputed):",
                outcome.differences.len(),
                outcome.differences.len()
            );
            for d in outcome.differences.iter().take(50) {
                println!("  {} {} {}: {} → {}", d.node, d.month, d.indicator, d.stored, d.recomputed);
            }
        }
    }
    Ok(all_agree)
}
