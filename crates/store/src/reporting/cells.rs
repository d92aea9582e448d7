//! Report cells: written from a [`Tally`] in the transaction that changed the registry,
//! read back per node and period without touching the registry.

use std::collections::HashMap;

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::{Cells, Month, Period, PeriodReport, Tally, cell, counted_month, is_adjustment};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use time::Date;

use crate::error::{StoreResult, decode};
use crate::registry::subtree;
use crate::write::{Checked, Projection};

/// Report cells, kept from every write's tally and recomputed by `report verify`.
pub(crate) const PROJECTION: Projection = Projection {
    name: "report_cell",
    apply: |txn, changes| Box::pin(write_tally(txn, &changes.tally)),
    verify: |store, county| {
        Box::pin(async move {
            let outcome = store.reporting().verify(county).await?;
            let differences = outcome
                .differences
                .iter()
                .map(|d| {
                    format!("{} {} {}: stored {} recomputed {}", d.node, d.month, d.indicator, d.stored, d.recomputed)
                })
                .collect();
            Ok(Checked { compared: outcome.cells, differences })
        })
    },
};

/// Adds a tally's changes to the stored cells (an upsert per cell, 100 per statement).
async fn write_tally(db: &impl ConnectionTrait, tally: &Tally) -> StoreResult<()> {
    let rows: Vec<_> = tally.deltas().collect();
    for chunk in rows.chunks(100) {
        let mut insert = Query::insert();
        insert.into_table("report_cell").columns(["county_code", "node_code", "period", "indicator", "value"]);
        for (node, month, name, delta) in chunk {
            insert.values_panic([
                county_of(node).into(),
                node.as_str().into(),
                month.key().into(),
                (*name).into(),
                (*delta).into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["county_code", "node_code", "period", "indicator"])
                .value("value", Expr::col(("report_cell", "value")).add(Expr::col(("excluded", "value"))))
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// The county a node at or below county level belongs to (its cells' and approvals'
/// `county_code`); a node above county level is its own code (it has no cells).
pub(crate) fn county_of(node: &DivisionCode) -> String {
    node.at_level(DivisionLevel::County).unwrap_or_else(|| node.clone()).as_str().to_string()
}

/// Which stored cells make up `node`'s figures: its own at or below county level; above
/// it, its counties' (`county_code IN (…)`), summed.
pub(crate) fn cells_of(node: &DivisionCode) -> sea_orm::sea_query::Cond {
    use sea_orm::sea_query::Cond;
    if node.at_level(DivisionLevel::County).is_some() {
        Cond::all().add(Expr::col("county_code").eq(county_of(node))).add(Expr::col("node_code").eq(node.as_str()))
    } else {
        let counties = crate::org::reference::counties_under(node);
        Cond::all().add(Expr::col("county_code").is_in(counties.clone())).add(Expr::col("node_code").is_in(counties))
    }
}

/// How many months before a county's first record its statistics open (期初). Changes
/// dated earlier are counted in the opening month: statistics are kept from when the
/// books were opened, not back to every resident's arrival (ADR 007).
pub const OPENING_MONTHS_BACK: u32 = 24;

/// What decides the month a change is counted in: approved (locked) months per
/// community, where a change is counted in the next open month instead, and each
/// county's opening month.
#[derive(Debug, Default, Clone)]
pub(crate) struct Locks {
    locked: HashMap<String, Vec<Month>>,
    opening: HashMap<String, Month>,
}

impl Locks {
    /// Locks of every community under `node` (a community, or a county for imports and
    /// demo loads), and the county's opening month (set now if it has none).
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn under(db: &impl ConnectionTrait, node: &DivisionCode) -> StoreResult<Locks> {
        // The node's subtree and its ancestors: a street's approval locks its
        // communities too, even those that had no figures to approve. Approvals are
        // at county level and below, in the node's county.
        let mut nodes = sea_orm::sea_query::Cond::any().add(subtree(node, "node_code"));
        let mut ancestor = node.parent();
        while let Some(a) = ancestor.filter(|a| a.at_level(DivisionLevel::County).is_some()) {
            nodes = nodes.add(
                sea_orm::sea_query::Cond::all()
                    .add(Expr::col("county_code").eq(county_of(&a)))
                    .add(Expr::col("node_code").eq(a.as_str())),
            );
            ancestor = a.parent();
        }
        let mut q = Query::select();
        q.columns(["node_code", "period"]).from("report_approval").cond_where(nodes);
        let mut locks = Locks::default();
        for row in db.query_all(&q).await? {
            let node: String = row.try_get("", "node_code")?;
            let period: String = row.try_get("", "period")?;
            let month = decode("report_approval", "period", &period, Month::parse)?;
            locks.locked.entry(node).or_default().push(month);
        }
        if let Some(county) = node.at_level(DivisionLevel::County) {
            let opening = opening_month(db, &county).await?;
            locks.opening.insert(county.as_str().to_string(), opening);
        }
        Ok(locks)
    }

    pub(crate) fn extend(&mut self, other: Locks) {
        for (node, months) in other.locked {
            self.locked.entry(node).or_default().extend(months);
        }
        self.opening.extend(other.opening);
    }

    /// Months approved for the community or any of its ancestors.
    fn months(&self, community: &DivisionCode) -> Vec<Month> {
        let mut months = Vec::new();
        let mut node = Some(community.clone());
        while let Some(n) = node {
            months.extend_from_slice(self.locked.get(n.as_str()).map(Vec::as_slice).unwrap_or(&[]));
            node = n.parent();
        }
        months
    }

    /// The month a change on `date` touching these communities is counted in.
    pub(crate) fn counted(&self, communities: &[&DivisionCode], date: Date, not_before: Option<Month>) -> Month {
        let mut locked: Vec<Month> = Vec::new();
        let mut floor = not_before;
        for c in communities {
            locked.extend(self.months(c));
            let opening = c.at_level(DivisionLevel::County).and_then(|county| self.opening.get(county.as_str()));
            floor = Ord::max(floor, opening.copied());
        }
        counted_month(Month::of(date), &locked, floor)
    }

    /// Whether approved months push a change on `date` in this community later.
    pub(crate) fn adjusts(&self, community: &DivisionCode, date: Date) -> bool {
        is_adjustment(Month::of(date), &self.months(community))
    }
}

/// The county's opening month, set to [`OPENING_MONTHS_BACK`] months before today on
/// first use.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn opening_month(db: &impl ConnectionTrait, county: &DivisionCode) -> StoreResult<Month> {
    let read = Query::select()
        .column("opening_month")
        .from("report_opening")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .to_owned();
    if let Some(row) = db.query_one(&read).await? {
        let text: String = row.try_get("", "opening_month")?;
        return decode("report_opening", "opening_month", &text, Month::parse);
    }
    let mut opening = Month::of(time::OffsetDateTime::now_utc().date());
    for _ in 0..OPENING_MONTHS_BACK {
        opening = opening.previous();
    }
    db.execute(
        Query::insert()
            .into_table("report_opening")
            .columns(["county_code", "opening_month"])
            .values_panic([county.as_str().into(), opening.key().into()])
            .on_conflict(OnConflict::column("county_code").do_nothing().to_owned()),
    )
    .await?;
    Ok(opening)
}

/// Stock cell names (for the start-of-period sums); see `cell::is_stock`.
fn stock_condition() -> sea_orm::sea_query::Cond {
    sea_orm::sea_query::Cond::any()
        .add(Expr::col("indicator").like("population.%"))
        .add(Expr::col("indicator").like("cohort.%"))
        .add(Expr::col("indicator").eq(cell::HOUSEHOLDS))
}

/// One indicator's value in one month of a series.
pub(crate) type MonthlyValue = (Month, String, i64);

/// Stocks summed over every month before `first`, and the cells of each month from
/// `first` to `last`: what a report or a monthly series needs.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    node: &DivisionCode,
    first: Month,
    last: Month,
) -> StoreResult<(Cells, Vec<MonthlyValue>)> {
    let mut q = Query::select();
    q.column("indicator")
        .expr(Expr::cust(SUM_VALUE))
        .from("report_cell")
        .cond_where(cells_of(node))
        .and_where(Expr::col("period").lt(first.key()))
        .cond_where(stock_condition())
        .group_by_col("indicator");
    let mut start = Cells::new();
    for row in db.query_all(&q).await? {
        let name: String = row.try_get_by_index(0)?;
        start.insert(name, sum_value(&row, 1)?);
    }
    // Summed: one row per cell at or below a county, one per county's cell above it.
    let mut q = Query::select();
    q.columns(["period", "indicator"])
        .expr(Expr::cust(SUM_VALUE))
        .from("report_cell")
        .cond_where(cells_of(node))
        .and_where(Expr::col("period").gte(first.key()))
        .and_where(Expr::col("period").lte(last.key()))
        .group_by_col("period")
        .group_by_col("indicator")
        .order_by("period", Order::Asc);
    let mut rows = Vec::new();
    for row in db.query_all(&q).await? {
        let period: String = row.try_get("", "period")?;
        let month = decode("report_cell", "period", &period, Month::parse)?;
        rows.push((month, row.try_get("", "indicator")?, sum_value(&row, 2)?));
    }
    Ok((start, rows))
}

/// SUM() of a BIGINT is NUMERIC on PostgreSQL; cast back so both databases give i64.
pub(crate) const SUM_VALUE: &str = "CAST(SUM(value) AS BIGINT)";

pub(crate) fn sum_value(row: &sea_orm::QueryResult, index: usize) -> StoreResult<i64> {
    Ok(row.try_get_by_index::<Option<i64>>(index)?.unwrap_or(0))
}

/// A node's report for a period, from its cells alone.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn report(
    db: &impl ConnectionTrait,
    node: &DivisionCode,
    period: Period,
) -> StoreResult<PeriodReport> {
    let (start, rows) = read(db, node, period.first_month(), period.last_month()).await?;
    Ok(report_from(node, period, &start, rows))
}

pub(crate) fn report_from(
    node: &DivisionCode,
    period: Period,
    start: &Cells,
    rows: impl IntoIterator<Item = (Month, String, i64)>,
) -> PeriodReport {
    let (mut flows, mut end) = (Cells::new(), start.clone());
    for (_, name, value) in rows {
        if cell::is_stock(&name) {
            *end.entry(name).or_default() += value;
        } else {
            *flows.entry(name).or_default() += value;
        }
    }
    PeriodReport::from_cells(node.clone(), period, start, &flows, &end)
}

/// Month-by-month reports from `first` to `last` (for charts), from one read.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn series(
    db: &impl ConnectionTrait,
    node: &DivisionCode,
    first: Month,
    last: Month,
) -> StoreResult<Vec<PeriodReport>> {
    let (mut start, rows) = read(db, node, first, last).await?;
    let mut out = Vec::new();
    let mut month = first;
    while month <= last {
        let these: Vec<_> = rows.iter().filter(|r| r.0 == month).cloned().collect();
        let report = report_from(node, Period::Month(month), &start, these.clone());
        for (_, name, value) in these {
            if cell::is_stock(&name) {
                *start.entry(name).or_default() += value;
            }
        }
        out.push(report);
        month = month.next();
    }
    Ok(out)
}
