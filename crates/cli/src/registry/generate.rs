//! `jiceng generate` and the population of `jiceng demo`.

use std::path::Path;

use anyhow::Context;
use jiceng_domain::exchange::resident_file;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
use jiceng_store::Store;
use jiceng_store::org::reference;
use jiceng_store::registry::PopulationSummary;
use time::Date;

use crate::progress;

/// The plan for `residents` people in `county`'s real communities.
pub fn plan(county: &DivisionCode, residents: u64, seed: u64, reference_date: Date) -> anyhow::Result<PopulationPlan> {
    if county.level() != DivisionLevel::County {
        anyhow::bail!("--county {county} 不是县级代码（6位）/ --county {county} is not a county code (6 digits)");
    }
    let communities: Vec<(DivisionCode, String)> =
        reference::communities_under(county)?.into_iter().map(|d| (d.code, d.name)).collect();
    if communities.is_empty() {
        anyhow::bail!("区划数据中 {county} 下没有社区 / there are no communities under {county} in the division codes");
    }
    let all_counties = reference::counties()?.into_iter().map(|d| d.code).collect();
    Ok(PopulationPlan { county: county.clone(), communities, all_counties, residents, seed, reference_date })
}

/// Writes the population as the resident file (UTF-8 CSV with a BOM, so Excel opens it).
pub fn write_csv(plan: PopulationPlan, out: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::create(out).with_context(|| format!("无法创建 / cannot create {}", out.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    std::io::Write::write_all(&mut writer, "\u{feff}".as_bytes())?;
    let mut csv = csv::Writer::from_writer(writer);
    csv.write_record(resident_file::headers())?;
    let bar = progress::bar(plan.residents, "生成居民 Generating");
    let mut written = 0u64;
    for community in PopulationGenerator::new(plan) {
        for row in resident_file::community_rows(&community) {
            csv.write_record(row.iter().map(|c| jiceng_store::exchange::csv_cell(c)))?;
            written += 1;
        }
        bar.set_position(written);
    }
    bar.finish();
    csv.flush().with_context(|| format!("写入 / writing {}", out.display()))?;
    Ok(written)
}

/// Generates the population into the database, one community per transaction.
pub async fn populate(store: &Store, plan: PopulationPlan, recorded_by: &str) -> anyhow::Result<PopulationSummary> {
    let county = plan.county.clone();
    let bar = progress::bar(plan.residents, "写入居民 Residents");
    let mut total = PopulationSummary::default();
    let mut analyzed_at = 0;
    for community in PopulationGenerator::new(plan) {
        total += store.registry().write_community(&county, &community, recorded_by).await?;
        bar.set_position(total.residents);
        // Tables loaded from empty are planned as empty until their statistics are
        // refreshed (on PostgreSQL a community's floor recount took 137 ms, not 9):
        // refresh each time they have grown by a fifth.
        let grown = total.residents - analyzed_at;
        if grown >= 5_000 && grown * 5 >= analyzed_at {
            store.refresh_statistics().await?;
            analyzed_at = total.residents;
        }
    }
    bar.finish();
    Ok(total)
}
