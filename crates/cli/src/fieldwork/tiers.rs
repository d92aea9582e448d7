//! `jiceng tiers reassess` (run on a schedule, e.g. nightly) and `jiceng tiers rules`.

use std::path::Path;

use anyhow::Context;
use jiceng_domain::fieldwork::TierRules;
use jiceng_domain::org::DivisionCode;
use jiceng_store::Store;
use jiceng_store::fieldwork::ReassessSummary;

use crate::progress;

/// Reassesses every community of the county, with a progress bar.
pub async fn reassess(store: &Store, county: &DivisionCode) -> anyhow::Result<ReassessSummary> {
    let communities = jiceng_store::org::reference::communities_under(county)?;
    let bar = progress::bar(communities.len() as u64, "随访等级 Tiers");
    let today = time::OffsetDateTime::now_utc().date();
    let mut total = ReassessSummary::default();
    for c in &communities {
        total += store.fieldwork().reassess_community(&c.code, today).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(total)
}

/// Synthetic housing/work/phone answers for the demo, then a first assessment.
pub async fn demo(store: &Store, county: &DivisionCode, seed: u64) -> anyhow::Result<ReassessSummary> {
    for c in jiceng_store::org::reference::communities_under(county)? {
        store.fieldwork().write_synthetic_stability(&c.code, seed).await?;
    }
    reassess(store, county).await
}

/// Prints the rules in force as JSON, or stores new ones from a JSON file.
pub async fn rules(store: &Store, set: Option<&Path>, by: &str) -> anyhow::Result<()> {
    if let Some(path) = set {
        let text = std::fs::read_to_string(path).with_context(|| format!("读取 / reading {}", path.display()))?;
        let rules: TierRules = serde_json::from_str(&text)
            .with_context(|| format!("{}：不是随访规则 JSON / not tier rules JSON", path.display()))?;
        let version = store.fieldwork_by(&jiceng_store::Caller::local(by)).set_tier_rules(&rules).await?;
        eprintln!(
            "已保存第 {version} 版规则；请运行 jiceng tiers reassess / saved as version {version}; run jiceng tiers reassess"
        );
    }
    println!("{}", serde_json::to_string_pretty(&store.fieldwork().tier_rules().await?)?);
    Ok(())
}
