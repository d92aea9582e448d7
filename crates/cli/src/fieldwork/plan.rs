//! `jiceng plan` (visit plans) and `jiceng coverage` (四不漏), the same as the pages,
//! and `jiceng responsible` (五定).

use std::path::Path;

use anyhow::Context;
use jiceng_domain::fieldwork::PlanItem;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::Month;
use jiceng_store::Store;
use jiceng_store::fieldwork::{Coverage, Responsibility};

use crate::progress;

/// Plans of every community under `node` for `month`, read in one pass.
pub async fn plans(
    store: &Store,
    node: &DivisionCode,
    month: Month,
) -> anyhow::Result<Vec<(DivisionCode, Vec<PlanItem>)>> {
    let spinner = progress::spinner("走访计划 Plans");
    let items = store.fieldwork().visit_plans(node, month).await?;
    spinner.finish_and_clear();
    // Items come ordered community by community.
    let mut out: Vec<(DivisionCode, Vec<PlanItem>)> = Vec::new();
    for item in items {
        match out.last_mut() {
            Some((c, list)) if c.as_str() == item.community => list.push(item),
            _ => {
                let community = DivisionCode::parse(&item.community)
                    .with_context(|| format!("社区代码 / community code {}", item.community))?;
                out.push((community, vec![item]));
            }
        }
    }
    Ok(out)
}

pub async fn plan(store: &Store, node: &DivisionCode, month: Month, json: bool) -> anyhow::Result<()> {
    let plans = plans(store, node, month).await?;
    if json {
        let all: Vec<&PlanItem> = plans.iter().flat_map(|(_, p)| p.iter()).collect();
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    let total: usize = plans.iter().map(|(_, p)| p.len()).sum();
    println!("{node} {month}：{total} 户待走访 / households to visit");
    for (community, plan) in &plans {
        println!("\n{community}：{} 户 households", plan.len());
        for item in plan.iter().take(if plans.len() == 1 { usize::MAX } else { 5 }) {
            let why: Vec<String> = item.reasons.iter().map(|r| r.label(false)).collect();
            println!(
                "  {} {} {}单元 {}层 {}  {}",
                item.grid_name,
                item.building_name,
                item.unit_no,
                item.floor_no,
                item.room_no,
                why.join("；")
            );
        }
        if plans.len() > 1 && plan.len() > 5 {
            println!("  …");
        }
    }
    Ok(())
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "—".into() } else { format!("{:.1}%", part as f64 / whole as f64 * 100.0) }
}

pub fn print_coverage(c: &Coverage) {
    let t = &c.totals;
    println!("{} {} 四不漏 coverage", c.node, c.month);
    println!(
        "  楼栋 buildings {}/{} ({})  楼层 floors {}/{} ({})  户 households {}/{} ({})  人 residents {}/{} ({})",
        t.buildings_walked,
        t.buildings,
        share(t.buildings_walked, t.buildings),
        t.floors_walked,
        t.floors,
        share(t.floors_walked, t.floors),
        t.households_covered,
        t.households,
        share(t.households_covered, t.households),
        t.residents_verified,
        t.residents,
        share(t.residents_verified, t.residents)
    );
    println!("\n网格排名 grid ranking (residents verified):");
    for (i, g) in c.grids.iter().enumerate().take(20) {
        println!(
            "  {:>3}. {} {}  {}  {}",
            i + 1,
            g.community,
            g.name,
            share(g.counts.residents_verified, g.counts.residents),
            g.responsible.as_deref().unwrap_or("无责任人 nobody responsible")
        );
    }
    let unassigned = c.grids.iter().filter(|g| g.responsible.is_none()).count();
    println!("\n无责任人的网格 grids with nobody responsible: {unassigned}");
}

pub async fn coverage(
    store: &Store,
    node: &DivisionCode,
    month: Month,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let c = store.fieldwork().coverage(node, month).await?;
    // A community's report also lists what was not reached.
    let gaps = match node.level() {
        DivisionLevel::Village => Some(store.fieldwork().coverage_gaps(node, month).await?),
        _ => None,
    };
    match format {
        "table" => {
            print_coverage(&c);
            if let Some(g) = &gaps {
                println!(
                    "未走访楼层 floors not walked: {}  未覆盖户 households not reached: {}  未核实 residents not verified: {}",
                    g.floors.len(),
                    g.households.len(),
                    g.residents_not_verified
                );
                for f in g.floors.iter().take(20) {
                    println!(
                        "  {} {} {}层 floor {}  {}",
                        f.grid,
                        f.building,
                        f.floor_no,
                        f.floor_no,
                        f.responsible.as_deref().unwrap_or("无责任人 nobody responsible")
                    );
                }
            }
        }
        "json" => {
            let mut value = serde_json::to_value(&c)?;
            if let (Some(g), Some(map)) = (&gaps, value.as_object_mut()) {
                map.insert("gaps".into(), serde_json::to_value(g)?);
            }
            println!("{}", serde_json::to_string(&value)?)
        }
        "xlsx" => {
            let out = out.context("xlsx 需要 --out 文件 / xlsx needs --out FILE")?;
            std::fs::write(out, jiceng_files::fieldwork::coverage_xlsx(&c, gaps.as_ref())?)
                .with_context(|| format!("写入 / writing {}", out.display()))?;
            eprintln!("已写入 Wrote {}", out.display());
        }
        other => anyhow::bail!("--format {other}：应为 table、json 或 xlsx / expected table, json or xlsx"),
    }
    Ok(())
}

/// `--grid 440307003002:1` (community and grid number), `--community`, `--street`.
pub async fn responsible(
    store: &Store,
    grid: Option<&str>,
    community: Option<&str>,
    street: Option<&str>,
    user: &str,
) -> anyhow::Result<()> {
    let caller = jiceng_store::Caller::local("cli");
    let fieldwork = store.fieldwork_by(&caller);
    let parse = |t: &str| DivisionCode::parse(t).with_context(|| format!("区划代码 / division code {t}"));
    if let Some(g) = grid {
        let (c, n) = g.split_once(':').context("--grid 应为 社区代码:网格号 / --grid must be COMMUNITY:NUMBER")?;
        let c = parse(c)?;
        let n: i32 = n.parse().context("网格号 / grid number")?;
        let id = fieldwork.grid_id(&c, n).await?.with_context(|| format!("{c} 没有第{n}网格 / no grid {n} in {c}"))?;
        let county = c.at_level(DivisionLevel::County).context("county")?;
        fieldwork.assign_responsible(&county, Responsibility::Grid(id), user).await?;
    }
    if let Some(c) = community {
        let c = parse(c)?;
        let county = c.at_level(DivisionLevel::County).context("county")?;
        fieldwork.assign_responsible(&county, Responsibility::Community(&c), user).await?;
    }
    if let Some(s) = street {
        let s = parse(s)?;
        let county = s.at_level(DivisionLevel::County).context("county")?;
        fieldwork.assign_responsible(&county, Responsibility::Street(&s), user).await?;
    }
    println!("已指定 Assigned {user}");
    Ok(())
}
