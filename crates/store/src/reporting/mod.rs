//! The reporting chain and periodic statistics: change events reviewed level by level
//! (`events`), report cells kept in the same transaction as every registry change
//! (`cells`), approval and locking of months (`approval`), recomputation from the
//! registry to check the cells (`recompute`).

mod approval;
pub(crate) mod cells;
mod events;
mod recompute;
mod synthetic;

use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::reporting::{Deadlines, Month, Period, PeriodReport};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use time::OffsetDateTime;
use uuid::Uuid;

pub use approval::{ApprovalStatus, ChildApproval};
pub use events::{Attachment, ChangeEvent, EventStep, NewEvent};
pub use recompute::{Difference, VerifyOutcome};
pub use synthetic::{HistoryPlan, HistorySummary};

use crate::error::{StoreError, StoreResult};
use crate::read_rows;

/// Who is acting, for the chain's rules and its records.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub username: &'a str,
    pub role: Role,
}

crate::access::domain_handle! {
    /// Reports and events as one caller sees them (see [`crate::access::Access`]).
    Reporting { reporting, reporting_in, reporting_as, reporting_by }
}

/// An in-app notice to the staff of one office (urgent events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub title: String,
    pub link: String,
    pub created_at: OffsetDateTime,
    pub read: bool,
}

impl Reporting<'_> {
    /// Refuses nodes outside the scope with the same error as a missing one.
    pub(crate) fn require_node(&self, node: &DivisionCode) -> StoreResult<()> {
        self.require_scope(node, &format!("区划 {node} / region {node}"))
    }

    /// A node's report for a period, read from its cells.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn report(&self, node: &DivisionCode, period: Period) -> StoreResult<PeriodReport> {
        self.require_node(node)?;
        cells::report(&self.store.db, node, period).await
    }

    /// Monthly reports from `first` to `last`, for charts.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn series(&self, node: &DivisionCode, first: Month, last: Month) -> StoreResult<Vec<PeriodReport>> {
        self.require_node(node)?;
        cells::series(&self.store.db, node, first, last).await
    }

    /// The configured deadlines (defaults where none is stored).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn deadlines(&self) -> StoreResult<Deadlines> {
        deadlines(&self.store.db).await
    }

    /// Sets one deadline ("report", "community", "street" or "district") in days.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_deadline(&self, step: &str, days: i64) -> StoreResult<()> {
        let mut probe = Deadlines::default();
        if !probe.set(step, days) || !(0..=366).contains(&days) {
            return Err(StoreError::Invalid(format!(
                "无效的时限 {step}={days}（步骤：report、community、street、district；0–366 天）/ invalid deadline {step}={days} (steps: report, community, street, district; 0–366 days)"
            )));
        }
        self.store
            .db
            .execute(
                Query::insert()
                    .into_table("reporting_deadline")
                    .columns(["step", "days"])
                    .values_panic([step.into(), days.into()])
                    .on_conflict(OnConflict::column("step").update_column("days").to_owned()),
            )
            .await?;
        Ok(())
    }

    /// Unread notices for the offices at and above `node` that `role` staffs.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn notifications(&self, nodes: &[DivisionCode], role: Role) -> StoreResult<Vec<Notification>> {
        let mut any = sea_orm::sea_query::Cond::any();
        for node in nodes {
            any = any.add(crate::registry::subtree(node, "division_code"));
        }
        let mut q = Query::select();
        q.columns(["id", "title", "link", "created_at", "read_at"])
            .from("notification")
            .and_where(Expr::col("role").eq(role.key()))
            .and_where(Expr::col("read_at").is_null())
            .cond_where(any)
            .order_by("created_at", Order::Desc)
            .limit(50);
        read_rows(&self.store.db, &q, |r| {
            let read_at: Option<OffsetDateTime> = r.try_get("", "read_at")?;
            Ok(from_row!(r => Notification {
                id, title, link, created_at;
                read: read_at.is_some(),
            }))
        })
        .await
    }

    /// Counties whose statistics have been opened (they hold figures).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn counties_with_figures(&self) -> StoreResult<Vec<DivisionCode>> {
        let q =
            Query::select().column("county_code").from("report_opening").order_by("county_code", Order::Asc).to_owned();
        read_rows(&self.store.db, &q, |r| {
            let code: String = r.try_get("", "county_code")?;
            crate::error::decode("report_opening", "county_code", &code, DivisionCode::parse)
        })
        .await
    }

    /// Whether any event has been reported under `node`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn has_events(&self, node: &DivisionCode) -> StoreResult<bool> {
        let mut q = Query::select();
        q.column("id").from("change_event").cond_where(crate::registry::subtree(node, "community_code")).limit(1);
        Ok(self.store.db.query_one(&q).await?.is_some())
    }

    /// Marks the notices of `county` pointing at `link` for `role` read (the office
    /// opened it).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_read(&self, county: &DivisionCode, link: &str, role: Role) -> StoreResult<()> {
        self.store
            .db
            .execute(
                Query::update()
                    .table("notification")
                    .value("read_at", OffsetDateTime::now_utc())
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("link").eq(link))
                    .and_where(Expr::col("role").eq(role.key()))
                    .and_where(Expr::col("read_at").is_null()),
            )
            .await?;
        Ok(())
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn deadlines(db: &impl ConnectionTrait) -> StoreResult<Deadlines> {
    let mut d = Deadlines::default();
    let q = Query::select().columns(["step", "days"]).from("reporting_deadline").to_owned();
    for row in db.query_all(&q).await? {
        let step: String = row.try_get("", "step")?;
        let days: i32 = row.try_get("", "days")?;
        d.set(&step, days as i64);
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
