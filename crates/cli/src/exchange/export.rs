//! `jiceng export residents --node CODE`: the current residents of a subtree as a
//! resident file (the import's columns), audited.

use std::path::Path;

use anyhow::Context;
use jiceng_domain::exchange::resident_file;
use jiceng_domain::org::DivisionCode;
use jiceng_domain::org::audit::AuditAction;
use jiceng_store::Store;
use jiceng_store::exchange::{FileFormat, ResidentFileWriter, TextEncoding};
use jiceng_store::org::NewAuditEntry;

use crate::progress;

pub async fn run(
    store: &Store,
    node: &DivisionCode,
    format: FileFormat,
    encoding: TextEncoding,
    out: &Path,
    actor: &str,
) -> anyhow::Result<u64> {
    let headers: Vec<String> = resident_file::headers().map(String::from).collect();
    let mut writer = ResidentFileWriter::create(out, format, encoding, &headers)?;
    let bar = progress::bar(0, "导出居民 Exporting");
    let written = store.registry().export_residents(node, &mut writer, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let written = written.with_context(|| format!("导出 / exporting {node}"))?;
    writer.finish()?;
    store
        .audit()
        .append(&NewAuditEntry {
            actor: actor.to_string(),
            action: AuditAction::Export,
            target: format!("export/{node}"),
            county: node.at_level(jiceng_domain::org::DivisionLevel::County).map(String::from).unwrap_or_default(),
            origin: "cli".into(),
            purpose: Some(jiceng_domain::org::audit::AccessPurpose::Statistics),
            detail: format!("{written} residents, {}", format.extension()),
        })
        .await?;
    Ok(written)
}
