//! 四不漏 coverage: for a node and a month, how many buildings, floors, households and
//! residents were reached — a floor or building counts as walked when a visit was
//! recorded there, a household as covered when it was visited or a member verified, a
//! resident when verified — per grid, community and street, with each grid's
//! responsible worker (五定) and a ranking. Read from the per-floor counters
//! (`floors.rs`), never by scanning the registry.

use std::collections::{BTreeMap, HashMap};

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::Month;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::registry::{Registry, subtree};

/// Counts reached and to reach, for one grid, community, street or the whole node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoverageCounts {
    pub buildings: u64,
    pub buildings_walked: u64,
    pub floors: u64,
    pub floors_walked: u64,
    pub households: u64,
    pub households_covered: u64,
    pub residents: u64,
    pub residents_verified: u64,
}

impl CoverageCounts {
    /// Share of residents verified, in percent (`None` when there is nobody).
    pub fn resident_share(&self) -> Option<f64> {
        (self.residents > 0).then(|| self.residents_verified as f64 / self.residents as f64 * 100.0)
    }
    pub fn household_share(&self) -> Option<f64> {
        (self.households > 0).then(|| self.households_covered as f64 / self.households as f64 * 100.0)
    }
    fn add(&mut self, o: &CoverageCounts) {
        self.buildings += o.buildings;
        self.buildings_walked += o.buildings_walked;
        self.floors += o.floors;
        self.floors_walked += o.floors_walked;
        self.households += o.households;
        self.households_covered += o.households_covered;
        self.residents += o.residents;
        self.residents_verified += o.residents_verified;
    }
}

/// One grid's coverage and who answers for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GridCoverage {
    pub grid_id: Uuid,
    pub community: String,
    pub name: String,
    /// 五定: the worker responsible for the grid (`None`: nobody — flagged).
    pub responsible: Option<String>,
    pub counts: CoverageCounts,
}

/// A node's coverage for a month.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub node: String,
    pub month: String,
    pub totals: CoverageCounts,
    /// Grids, best covered first (the ranking).
    pub grids: Vec<GridCoverage>,
    /// Communities and streets under the node with their summed counts and responsible worker.
    pub communities: Vec<(String, Option<String>, CoverageCounts)>,
    pub streets: Vec<(String, Option<String>, CoverageCounts)>,
}

/// What a responsibility is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responsibility<'a> {
    Community(&'a DivisionCode),
    Street(&'a DivisionCode),
    Grid(Uuid),
    Building(Uuid),
}

impl Responsibility<'_> {
    fn key(&self) -> (&'static str, String) {
        match self {
            Responsibility::Community(c) => ("community", c.to_string()),
            Responsibility::Street(c) => ("street", c.to_string()),
            Responsibility::Grid(id) => ("grid", id.to_string()),
            Responsibility::Building(id) => ("building", id.to_string()),
        }
    }
}

impl Registry<'_> {
    /// 五定: makes `username` responsible for a community, street, grid or building.
    pub async fn assign_responsible(
        &self,
        county: &DivisionCode,
        what: Responsibility<'_>,
        username: &str,
        by: &str,
    ) -> StoreResult<()> {
        if self.store.users().by_username(username).await?.is_none() {
            return Err(StoreError::Invalid(format!("没有用户 {username} / no user {username}")));
        }
        let (kind, id) = what.key();
        self.store
            .db
            .execute(
                Query::insert()
                    .into_table("responsibility")
                    .columns(["county_code", "node_kind", "node_id", "username", "assigned_at", "assigned_by"])
                    .values_panic([
                        county.as_str().into(),
                        kind.into(),
                        id.into(),
                        username.into(),
                        OffsetDateTime::now_utc().into(),
                        by.into(),
                    ])
                    .on_conflict(
                        OnConflict::columns(["county_code", "node_kind", "node_id"])
                            .update_columns(["username", "assigned_at", "assigned_by"])
                            .to_owned(),
                    ),
            )
            .await?;
        Ok(())
    }

    async fn responsibilities(&self, county: &str) -> StoreResult<HashMap<(String, String), String>> {
        let mut q = Query::select();
        q.columns(["node_kind", "node_id", "username"])
            .from("responsibility")
            .and_where(Expr::col("county_code").eq(county));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert((r.try_get("", "node_kind")?, r.try_get("", "node_id")?), r.try_get("", "username")?);
        }
        Ok(out)
    }

    /// Coverage of `node` (a county, street or community) in `month`.
    pub async fn coverage(&self, node: &DivisionCode, month: Month) -> StoreResult<Coverage> {
        self.require_scope(node, "区划 / region")?;
        let county = node.at_level(DivisionLevel::County).ok_or_else(|| {
            StoreError::Invalid("覆盖率按县及以下统计 / coverage is counted at county level and below".into())
        })?;
        let db = &self.store.db;
        // Stock from the per-floor counters (kept by every registry write).
        let mut q = Query::select();
        q.columns(["grid_id", "community_code"])
            .expr_as(Expr::cust("COUNT(*)"), "floors")
            .expr_as(Expr::cust("COUNT(DISTINCT building_id)"), "buildings")
            .expr_as(Expr::cust("SUM(households)"), "households")
            .expr_as(Expr::cust("SUM(residents)"), "residents")
            .from("floor_stock")
            .cond_where(subtree(node, "community_code"))
            .and_where(Expr::col("households").gt(0))
            .group_by_columns(["grid_id", "community_code"]);
        let mut per_grid: HashMap<Uuid, (String, CoverageCounts)> = HashMap::new();
        for r in db.query_all(&q).await? {
            let counts = CoverageCounts {
                floors: count(&r, "floors")?,
                buildings: count(&r, "buildings")?,
                households: count(&r, "households")?,
                residents: count(&r, "residents")?,
                ..Default::default()
            };
            per_grid.insert(r.try_get("", "grid_id")?, (r.try_get("", "community_code")?, counts));
        }
        // The month's work from the per-floor, per-month counters (kept by visits and
        // verifications).
        let mut q = Query::select();
        q.columns(["grid_id", "community_code"])
            .expr_as(Expr::cust("SUM(CASE WHEN visits > 0 THEN 1 ELSE 0 END)"), "floors_walked")
            .expr_as(Expr::cust("COUNT(DISTINCT CASE WHEN visits > 0 THEN building_id END)"), "buildings_walked")
            .expr_as(Expr::cust("SUM(households_covered)"), "households_covered")
            .expr_as(Expr::cust("SUM(residents_verified)"), "residents_verified")
            .from("floor_month")
            .and_where(Expr::col("month").eq(month.key()))
            .cond_where(subtree(node, "community_code"))
            .group_by_columns(["grid_id", "community_code"]);
        for r in db.query_all(&q).await? {
            let grid: Uuid = r.try_get("", "grid_id")?;
            let entry = match per_grid.get_mut(&grid) {
                Some((_, c)) => c,
                // A grid whose households have all gone since: its work still counts.
                None => &mut per_grid.entry(grid).or_insert((r.try_get("", "community_code")?, Default::default())).1,
            };
            entry.floors_walked = count(&r, "floors_walked")?;
            entry.buildings_walked = count(&r, "buildings_walked")?;
            entry.households_covered = count(&r, "households_covered")?;
            entry.residents_verified = count(&r, "residents_verified")?;
        }
        let grid_names = self.grid_names(node).await?;
        let responsible = self.responsibilities(county.as_str()).await?;
        let mut grids = Vec::new();
        for (grid, (community, counts)) in per_grid {
            grids.push(GridCoverage {
                grid_id: grid,
                community,
                name: grid_names.get(&grid).cloned().unwrap_or_default(),
                responsible: responsible.get(&("grid".to_string(), grid.to_string())).cloned(),
                counts,
            });
        }
        grids.sort_by(|a, b| {
            b.counts
                .resident_share()
                .unwrap_or(0.0)
                .total_cmp(&a.counts.resident_share().unwrap_or(0.0))
                .then(a.community.cmp(&b.community))
                .then(a.name.cmp(&b.name))
        });
        let mut totals = CoverageCounts::default();
        let mut communities: BTreeMap<String, CoverageCounts> = BTreeMap::new();
        let mut streets: BTreeMap<String, CoverageCounts> = BTreeMap::new();
        for g in &grids {
            totals.add(&g.counts);
            communities.entry(g.community.clone()).or_default().add(&g.counts);
            let street = DivisionCode::parse(&g.community)
                .ok()
                .and_then(|c| c.at_level(DivisionLevel::Town))
                .map(|c| c.to_string())
                .unwrap_or_default();
            streets.entry(street).or_default().add(&g.counts);
        }
        let named = |kind: &str, map: BTreeMap<String, CoverageCounts>| {
            map.into_iter()
                .map(|(code, counts)| {
                    let who = responsible.get(&(kind.to_string(), code.clone())).cloned();
                    (code, who, counts)
                })
                .collect::<Vec<_>>()
        };
        Ok(Coverage {
            node: node.to_string(),
            month: month.to_string(),
            totals,
            grids,
            communities: named("community", communities),
            streets: named("street", streets),
        })
    }

    async fn grid_names(&self, node: &DivisionCode) -> StoreResult<HashMap<Uuid, String>> {
        let mut q = Query::select();
        q.columns(["id", "name"]).from("grid").cond_where(subtree(node, "community_code"));
        let mut out = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            out.insert(r.try_get("", "id")?, r.try_get("", "name")?);
        }
        Ok(out)
    }

    /// The grid of a community by its number (for assigning responsibilities by name).
    pub async fn grid_id(&self, community: &DivisionCode, number: i32) -> StoreResult<Option<Uuid>> {
        let mut q = Query::select();
        q.column("id")
            .from("grid")
            .and_where(Expr::col("community_code").eq(community.as_str()))
            .and_where(Expr::col("number").eq(number));
        match self.store.db.query_one(&q).await? {
            Some(r) => Ok(Some(r.try_get("", "id")?)),
            None => Ok(None),
        }
    }
}

/// A counted column: COUNT or SUM of integer columns (bigint in PostgreSQL).
fn count(r: &sea_orm::QueryResult, column: &str) -> StoreResult<u64> {
    let v: Option<i64> = r.try_get("", column)?;
    Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
}

/// The coverage report as a workbook: totals, streets, communities and the grid ranking.
pub fn coverage_xlsx(c: &Coverage) -> StoreResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| {
        StoreError::Invalid(format!("覆盖率表生成失败 / the coverage workbook failed: {e}"))
    };
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("四不漏").map_err(e)?;
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    sheet
        .write_string_with_format(0, 0, format!("{} {} 四不漏覆盖情况 / coverage", c.node, c.month), &bold)
        .map_err(e)?;
    let headers = [
        "层级 Level",
        "区划或网格 Area",
        "责任人 Responsible",
        "楼栋 Buildings",
        "已走访 Walked",
        "楼层 Floors",
        "已走访 Walked",
        "户 Households",
        "已覆盖 Covered",
        "人 Residents",
        "已核实 Verified",
        "核实率 Share",
    ];
    for (i, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, i as u16, *h, &bold).map_err(e)?;
        sheet.set_column_width(i as u16, 14).map_err(e)?;
    }
    let mut row = 3u32;
    let mut write = |level: &str, name: &str, who: Option<&str>, k: &CoverageCounts| -> StoreResult<()> {
        sheet.write_string(row, 0, level).map_err(e)?;
        sheet.write_string(row, 1, name).map_err(e)?;
        sheet.write_string(row, 2, who.unwrap_or("无 nobody")).map_err(e)?;
        for (col, v) in [
            k.buildings,
            k.buildings_walked,
            k.floors,
            k.floors_walked,
            k.households,
            k.households_covered,
            k.residents,
            k.residents_verified,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_number(row, 3 + col as u16, v as f64).map_err(e)?;
        }
        if let Some(s) = k.resident_share() {
            sheet.write_number_with_format(row, 11, s / 100.0, &percent).map_err(e)?;
        }
        row += 1;
        Ok(())
    };
    write("合计 Total", &c.node, None, &c.totals)?;
    for (code, who, k) in &c.streets {
        write("街道 Street", code, who.as_deref(), k)?;
    }
    for (code, who, k) in &c.communities {
        write("社区 Community", code, who.as_deref(), k)?;
    }
    for g in &c.grids {
        write("网格 Grid", &format!("{} {}", g.community, g.name), g.responsible.as_deref(), &g.counts)?;
    }
    book.save_to_buffer().map_err(e)
}
