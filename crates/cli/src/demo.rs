//! `jiceng demo`: real divisions, a synthetic population, an administrator, a server.

use std::time::Instant;

use anyhow::Context;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_store::Store;
use jiceng_store::org::NewUser;

use crate::org::regions;
use crate::registry::generate;
use crate::reporting;

pub struct DemoOptions {
    pub county: DivisionCode,
    pub residents: u64,
    pub seed: u64,
    /// The server's data directory: the county's exchange keys go there.
    pub data_dir: std::path::PathBuf,
}

/// Builds the demo database and returns the administrator's username and password.
pub async fn build(store: &Store, options: &DemoOptions) -> anyhow::Result<(String, String)> {
    let started = Instant::now();
    let divisions = regions::load(store, std::slice::from_ref(&options.county)).await?;
    println!("已载入区划 Loaded {divisions} divisions ({:.1}s)", started.elapsed().as_secs_f64());
    if store.registry().has_residents(&options.county).await? {
        println!(
            "数据库中已有 {} 的居民，跳过生成（用 --fresh 重建）/ residents of {} already present; skipping generation (use --fresh to rebuild)",
            options.county, options.county
        );
    } else {
        let plan =
            generate::plan(&options.county, options.residents, options.seed, time::OffsetDateTime::now_utc().date())?;
        let generated = Instant::now();
        let summary = generate::populate(store, plan, "demo").await?;
        println!(
            "已生成 Generated {} 居民 residents, {} 户 households, {} 楼栋 buildings, {} 网格 grids ({:.1}s)",
            summary.residents,
            summary.households,
            summary.buildings,
            summary.grids,
            generated.elapsed().as_secs_f64()
        );
    }
    if store.reporting().has_events(&options.county).await? {
        println!("已有变动事件，跳过生成 / events already present; skipping");
    } else {
        let events = Instant::now();
        let summary = reporting::history::write(store, &options.county, options.seed, 0.02).await?;
        println!(
            "已生成一年的变动事件 Generated a year of events: {} 已接收 accepted, {} 待审 pending, {} 退回 returned, {} 次核实 verifications ({:.1}s)",
            summary.accepted,
            summary.pending,
            summary.returned,
            summary.verifications,
            events.elapsed().as_secs_f64()
        );
    }
    let tiers = Instant::now();
    let summary = crate::fieldwork::tiers::demo(store, &options.county, options.seed).await?;
    println!(
        "已评定随访等级 Assessed follow-up tiers of {} residents ({} changed, {:.1}s)",
        summary.residents,
        summary.changed,
        tiers.elapsed().as_secs_f64()
    );
    let parties = crate::fieldwork::parties::demo(store, &options.county).await?;
    if parties > 0 {
        println!("已登记房东与用工单位 Registered {parties} landlords and employers, each with a report under review");
    }
    if let Some(feeds) = crate::linkage::feed::demo(store, &options.county).await? {
        let outcomes: Vec<String> = feeds.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "已登记报送部门并接收通报 Registered departments and received {} notices ({}); {} changes proposed",
            feeds.received,
            outcomes.join(", "),
            feeds.events
        );
    }
    if let Some(exchange) = crate::exchange::demo::demo(store, &options.county, &options.data_dir).await? {
        println!(
            "已与协作地区 {} 交换 Exchanged with partner region {}: {} records sent, {} received, {} changes proposed; one building waits for its handover",
            exchange.partner, exchange.partner, exchange.sent, exchange.received, exchange.events
        );
    }
    let password = jiceng_store::org::generate_password();
    let users = store.users();
    match users.by_username("admin").await? {
        Some(admin) => users.set_password(admin.id, &password).await?,
        None => {
            users
                .add(&NewUser {
                    username: "admin".into(),
                    display_name: "演示管理员".into(),
                    password: password.clone(),
                    role: Role::Administrator,
                    scopes: vec![options.county.clone()],
                })
                .await
                .context("创建管理员 / creating the administrator")?;
        }
    }
    println!("演示数据就绪 Demo ready in {:.1}s", started.elapsed().as_secs_f64());
    Ok(("admin".into(), password))
}
