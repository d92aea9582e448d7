//! `jiceng db distribute`: spreads a PostgreSQL database over a Citus cluster by county
//! (ADR 016) — reference tables first, then every county table colocated with `grid`.

use jiceng_store::Store;

/// Prints the calls (with `dry_run`, only prints them); refuses without the citus
/// extension, naming what to do.
pub async fn run(store: &Store, dry_run: bool) -> anyhow::Result<()> {
    let plan = store.distribution().await?;
    if !plan.done.is_empty() {
        println!("已分布，跳过 / already distributed, skipped: {}", plan.done.join(", "));
    }
    let statements = plan.statements();
    if statements.is_empty() {
        println!("无需操作 / nothing to do");
        return Ok(());
    }
    if dry_run {
        println!(
            "-- {} 个参考表、{} 个按县分布的表 / {} reference tables, {} tables distributed by county_code",
            plan.reference.len(),
            plan.distributed.len(),
            plan.reference.len(),
            plan.distributed.len()
        );
        for statement in &statements {
            println!("{statement};");
        }
        return Ok(());
    }
    let bar = crate::progress::bar(statements.len() as u64, "分布 Distributing");
    store.distribute(&plan, |_| bar.inc(1)).await?;
    bar.finish_and_clear();
    println!(
        "已分布 Distributed: {} 个参考表 reference tables, {} 个按县分布的表 tables by county_code",
        plan.reference.len(),
        plan.distributed.len()
    );
    Ok(())
}
