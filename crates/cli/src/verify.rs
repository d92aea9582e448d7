//! `jiceng verify`: every projection's own check, for every county with records.

use jiceng_domain::org::DivisionCode;
use jiceng_store::Store;

/// Prints each projection's check per county; true when nothing differs.
pub async fn run(store: &Store, node: Option<&DivisionCode>, json: bool) -> anyhow::Result<bool> {
    let checks = store.verify_projections(node).await?;
    if checks.is_empty() {
        anyhow::bail!("数据库中还没有记录 / the database holds no records yet");
    }
    let mut all_agree = true;
    for check in &checks {
        let c = &check.checked;
        all_agree &= c.differences.is_empty();
        if json {
            let value = serde_json::json!({
                "projection": check.projection,
                "node": check.node.as_str(),
                "compared": c.compared,
                "differences": c.differences,
            });
            println!("{value}");
        } else if c.differences.is_empty() {
            println!(
                "{} {}: {} 行一致 / {} rows agree with the records",
                check.node, check.projection, c.compared, c.compared
            );
        } else {
            println!(
                "{} {}: {} 处不一致 / {} differences:",
                check.node,
                check.projection,
                c.differences.len(),
                c.differences.len()
            );
            for d in c.differences.iter().take(50) {
                println!("  {d}");
            }
        }
    }
    Ok(all_agree)
}
