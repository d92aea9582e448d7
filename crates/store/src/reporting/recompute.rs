//! Recomputing the statistics from the registry with GROUP BY: what the cells would
//! hold if they were rebuilt now. `verify` compares the two; the benchmark times one
//! report both ways.

use std::collections::BTreeMap;

use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::{ResidenceStatus, Sex};
use jiceng_domain::reporting::{Cells, EventKind, Month, Period, PeriodReport, Tally, cell};
use sea_orm::ConnectionTrait;
use sea_orm::QueryResult;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query, SelectStatement};

use super::Reporting;
use crate::error::{StoreResult, decode, decode_opt};
use crate::registry::subtree;

/// A cell whose stored value differs from the registry's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub node: String,
    pub month: String,
    pub indicator: String,
    pub stored: i64,
    pub recomputed: i64,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyOutcome {
    pub node: String,
    pub cells: u64,
    pub differences: Vec<Difference>,
}

fn count(r: &QueryResult, index: usize) -> StoreResult<i64> {
    Ok(r.try_get_by_index::<i64>(index)?)
}

fn code(r: &QueryResult, column: &'static str) -> StoreResult<DivisionCode> {
    let text: String = r.try_get("", column)?;
    decode("report", column, &text, DivisionCode::parse)
}

fn month(r: &QueryResult, column: &'static str) -> StoreResult<Month> {
    let text: String = r.try_get("", column)?;
    decode("report", column, &text, Month::parse)
}

fn status_sex(r: &QueryResult) -> StoreResult<(ResidenceStatus, Sex)> {
    let status: String = r.try_get("", "residence_status")?;
    let sex: String = r.try_get("", "sex")?;
    Ok((
        decode_opt("resident_version", "residence_status", &status, ResidenceStatus::from_key)?,
        decode_opt("resident_version", "sex", &sex, Sex::from_key)?,
    ))
}

/// Accepted events grouped as the cells count them.
fn events_query(node: &DivisionCode, months: Option<(Month, Month)>) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["community_code", "counted_in", "kind", "sex", "birth_order", "province", "timely"])
        .expr_as(Expr::col("adjusts").is_not_null(), "adjustment")
        .expr_as(Expr::col("id").count(), "n")
        .from("change_event")
        .and_where(Expr::col("state").eq("accepted"))
        .cond_where(subtree(node, "community_code"))
        .group_by_columns(["community_code", "counted_in", "kind", "sex", "birth_order", "province", "timely"])
        .add_group_by([Expr::col("adjusts").is_not_null()]);
    if let Some((first, last)) = months {
        q.and_where(Expr::col("counted_in").gte(first.key())).and_where(Expr::col("counted_in").lte(last.key()));
    }
    q
}

/// Adds grouped event rows to a tally, the way acceptance counts them.
fn tally_events(rows: &[QueryResult], tally: &mut Tally) -> StoreResult<()> {
    for r in rows {
        let c = code(r, "community_code")?;
        let m = month(r, "counted_in")?;
        let kind: String = r.try_get("", "kind")?;
        let kind = decode_opt("change_event", "kind", &kind, EventKind::from_key)?;
        let sex: Option<String> = r.try_get("", "sex")?;
        let sex = sex.as_deref().and_then(Sex::from_key);
        let order: Option<i16> = r.try_get("", "birth_order")?;
        let province: Option<String> = r.try_get("", "province")?;
        let province = province.as_deref().and_then(|p| DivisionCode::parse(p).ok());
        let timely: bool = r.try_get("", "timely")?;
        let adjustment: bool =
            r.try_get("", "adjustment").or_else(|_| r.try_get::<i32>("", "adjustment").map(|v| v != 0))?;
        let n = count(r, 8)?;
        tally.add(&c, m, cell::EVENTS_ACCEPTED, n);
        if timely {
            tally.add(&c, m, cell::EVENTS_TIMELY, n);
        }
        if adjustment {
            tally.add(&c, m, cell::EVENTS_ADJUSTMENTS, n);
        }
        match kind {
            EventKind::Birth => {
                if let Some(sex) = sex {
                    tally.add(&c, m, &cell::births(sex), n);
                }
                tally.add(&c, m, &cell::birth_order(order.unwrap_or(1) as u8), n);
            }
            EventKind::Death => {
                if let Some(sex) = sex {
                    tally.add(&c, m, &cell::deaths(sex), n);
                }
            }
            EventKind::MoveIn => {
                tally.add(&c, m, cell::MOVES_IN, n);
                if let Some(p) = &province {
                    tally.add(&c, m, &cell::moves_in_from(p), n);
                }
            }
            EventKind::MoveOut => {
                tally.add(&c, m, cell::MOVES_OUT, n);
                if let Some(p) = &province {
                    tally.add(&c, m, &cell::moves_out_to(p), n);
                }
            }
            EventKind::Marriage => tally.add(&c, m, cell::MARRIAGES, n),
            EventKind::Divorce => tally.add(&c, m, cell::DIVORCES, n),
            EventKind::MoveWithin => tally.add(&c, m, cell::MOVES_WITHIN, n),
            EventKind::StatusChange => tally.add(&c, m, cell::STATUS_CHANGES, n),
            EventKind::Correction => tally.add(&c, m, cell::CORRECTIONS, n),
        }
    }
    Ok(())
}

fn verified_query(node: &DivisionCode, months: Option<(Month, Month)>) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["community_code", "counted_in"])
        .expr(Expr::cust("COUNT(DISTINCT resident_id)"))
        .from("resident_verification")
        .and_where(Expr::col("counted_in").is_not_null())
        .cond_where(subtree(node, "community_code"))
        .group_by_columns(["community_code", "counted_in"]);
    if let Some((first, last)) = months {
        q.and_where(Expr::col("counted_in").gte(first.key())).and_where(Expr::col("counted_in").lte(last.key()));
    }
    q
}

impl Reporting<'_> {
    /// Every cell of `node`'s subtree, recomputed from versions, exits, events and
    /// verifications (GROUP BY over the registry).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn recompute_cells(&self, node: &DivisionCode) -> StoreResult<Tally> {
        self.require_node(node)?;
        let db = &self.store.db;
        let mut tally = Tally::default();
        for (table, stock_is_people) in [("resident_version", true), ("household_version", false)] {
            for (column, sign) in [("counted_from", 1i64), ("counted_to", -1)] {
                let mut q = Query::select();
                q.column("community_code").column(column);
                if stock_is_people {
                    q.columns(["residence_status", "sex"]);
                }
                q.expr_as(Expr::cust("COUNT(*)"), "n")
                    .from(table)
                    .and_where(Expr::col(column).is_not_null())
                    .cond_where(subtree(node, "community_code"))
                    .add_group_by([Expr::col("community_code"), Expr::col(column)]);
                if stock_is_people {
                    q.add_group_by([Expr::col("residence_status"), Expr::col("sex")]);
                }
                for r in db.query_all(&q).await? {
                    let c = code(&r, "community_code")?;
                    let m = month(&r, column)?;
                    let n: i64 = r.try_get("", "n")?;
                    let name = if stock_is_people {
                        let (status, sex) = status_sex(&r)?;
                        cell::population(status, sex)
                    } else {
                        cell::HOUSEHOLDS.to_string()
                    };
                    tally.add(&c, m, &name, sign * n);
                }
                if stock_is_people {
                    let year = crate::dialect::Dialect::of(&self.store.db).year_of("birth_date");
                    let mut q = Query::select();
                    q.column("community_code")
                        .column(column)
                        .column("sex")
                        .expr_as(Expr::cust(year.clone()), "birth_year")
                        .expr_as(Expr::cust("COUNT(*)"), "n")
                        .from(table)
                        .and_where(Expr::col(column).is_not_null())
                        .cond_where(subtree(node, "community_code"))
                        .add_group_by([
                            Expr::col("community_code"),
                            Expr::col(column),
                            Expr::col("sex"),
                            Expr::cust(year.clone()),
                        ]);
                    for r in db.query_all(&q).await? {
                        let sex: String = r.try_get("", "sex")?;
                        let sex = decode_opt("resident_version", "sex", &sex, Sex::from_key)?;
                        let y: i32 = r.try_get("", "birth_year")?;
                        let n: i64 = r.try_get("", "n")?;
                        tally.add(&code(&r, "community_code")?, month(&r, column)?, &cell::cohort(sex, y), sign * n);
                    }
                }
            }
        }
        let rows = db.query_all(&events_query(node, None)).await?;
        tally_events(&rows, &mut tally)?;
        for r in db.query_all(&verified_query(node, None)).await? {
            tally.add(&code(&r, "community_code")?, month(&r, "counted_in")?, cell::VERIFIED, count(&r, 2)?);
        }
        Ok(tally)
    }

    /// Compares every stored cell in `node`'s subtree (the node and below) with the
    /// registry; lists each difference.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify(&self, node: &DivisionCode) -> StoreResult<VerifyOutcome> {
        let mut recomputed: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for (n, m, name, v) in self.recompute_cells(node).await?.drain() {
            if node.contains(&n) {
                recomputed.insert((n.as_str().to_string(), m.key(), name), v);
            }
        }
        let mut q = Query::select();
        q.columns(["node_code", "period", "indicator", "value"])
            .from("report_cell")
            .cond_where(subtree(node, "node_code"));
        let mut stored: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for r in self.store.db.query_all(&q).await? {
            let v: i64 = r.try_get("", "value")?;
            if v != 0 {
                stored.insert((r.try_get("", "node_code")?, r.try_get("", "period")?, r.try_get("", "indicator")?), v);
            }
        }
        let cells = stored.len().max(recomputed.len()) as u64;
        let mut differences = Vec::new();
        let keys: std::collections::BTreeSet<_> = stored.keys().chain(recomputed.keys()).cloned().collect();
        for key in keys {
            let s = stored.get(&key).copied().unwrap_or(0);
            let r = recomputed.get(&key).copied().unwrap_or(0);
            if s != r {
                differences.push(Difference { node: key.0, month: key.1, indicator: key.2, stored: s, recomputed: r });
            }
        }
        Ok(VerifyOutcome { node: node.as_str().to_string(), cells, differences })
    }

    /// One node's report recomputed from the registry (no cells): stocks as counted at
    /// the period's start and end, flows from the accepted events in it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn recompute_report(&self, node: &DivisionCode, period: Period) -> StoreResult<PeriodReport> {
        self.require_node(node)?;
        let db = &self.store.db;
        let (first, last) = (period.first_month(), period.last_month());
        // Counted at the end of month M: counted_from <= M and not counted_to <= M.
        let held_at = |m: Month| {
            Cond::all()
                .add(Expr::col("counted_from").lte(m.key()))
                .add(Cond::any().add(Expr::col("counted_to").is_null()).add(Expr::col("counted_to").gt(m.key())))
        };
        let mut start = Cells::new();
        let mut end = Cells::new();
        for (cells, m) in [(&mut start, first.previous()), (&mut end, last)] {
            let mut q = Query::select();
            q.columns(["residence_status", "sex"])
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from("resident_version")
                .cond_where(subtree(node, "community_code"))
                .cond_where(held_at(m))
                .group_by_columns(["residence_status", "sex"]);
            for r in db.query_all(&q).await? {
                let (status, sex) = status_sex(&r)?;
                cells.insert(cell::population(status, sex), r.try_get("", "n")?);
            }
            let year = crate::dialect::Dialect::of(&self.store.db).year_of("birth_date");
            let mut q = Query::select();
            q.column("sex")
                .expr_as(Expr::cust(year.clone()), "birth_year")
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from("resident_version")
                .cond_where(subtree(node, "community_code"))
                .cond_where(held_at(m))
                .add_group_by([Expr::col("sex"), Expr::cust(year.clone())]);
            for r in db.query_all(&q).await? {
                let sex: String = r.try_get("", "sex")?;
                let sex = decode_opt("resident_version", "sex", &sex, Sex::from_key)?;
                cells.insert(cell::cohort(sex, r.try_get("", "birth_year")?), r.try_get("", "n")?);
            }
            let mut q = Query::select();
            q.expr_as(Expr::cust("COUNT(*)"), "n")
                .from("household_version")
                .cond_where(subtree(node, "community_code"))
                .cond_where(held_at(m));
            if let Some(r) = db.query_one(&q).await? {
                cells.insert(cell::HOUSEHOLDS.to_string(), r.try_get("", "n")?);
            }
        }
        let mut tally = Tally::default();
        let rows = db.query_all(&events_query(node, Some((first, last)))).await?;
        tally_events(&rows, &mut tally)?;
        for r in db.query_all(&verified_query(node, Some((first, last)))).await? {
            tally.add(&code(&r, "community_code")?, month(&r, "counted_in")?, cell::VERIFIED, count(&r, 2)?);
        }
        let mut flows = Cells::new();
        for (n, _, name, v) in tally.drain() {
            if &n == node {
                *flows.entry(name).or_default() += v;
            }
        }
        Ok(PeriodReport::from_cells(node.clone(), period, &start, &flows, &end))
    }
}
