//! `jiceng linkage …` and `jiceng bench linkage`: record linkage from the command line.

pub mod bench;
pub mod feed;

use std::path::Path;

use anyhow::Context;
use jiceng_domain::linkage::synthetic::{LinkagePlan, generate};

/// `jiceng linkage generate`: a registry, incoming records and the truth, as the
/// benchmark reads them.
pub fn write_generated(plan: &LinkagePlan, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let spinner = crate::progress::spinner("生成 Generating");
    let (registry, incoming, truth) = generate(plan);
    spinner.finish_and_clear();
    jiceng_files::linkage::write_records(&out.join("registry.csv"), "person_id", &registry)?;
    jiceng_files::linkage::write_records(&out.join("incoming.csv"), "incoming_id", &incoming)?;
    jiceng_files::linkage::write_truth(&out.join("truth.csv"), &truth)?;
    println!(
        "已写入 Wrote {} registry records, {} incoming records and their truth to {}",
        registry.len(),
        incoming.len(),
        out.display()
    );
    Ok(())
}
