//! A year of synthetic events for a county (demo and benchmark), with a progress bar.

use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::Month;
use jiceng_store::Store;
use jiceng_store::reporting::{HistoryPlan, HistorySummary};

use crate::progress;

/// Writes the events and verifications, then approves every month up to two months
/// ago (last month stays open for people to approve).
pub async fn write(
    store: &Store,
    county: &DivisionCode,
    seed: u64,
    verified_per_month: f64,
) -> anyhow::Result<HistorySummary> {
    let today = time::OffsetDateTime::now_utc().date();
    let plan = HistoryPlan { county: county.clone(), seed, today, verified_per_month };
    let bar = progress::bar(0, "变动事件 Events");
    let summary = store
        .reporting()
        .write_synthetic_history(&plan, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish_and_clear();
    let this_month = Month::of(today);
    let mut first = this_month;
    for _ in 0..12 {
        first = first.previous();
    }
    let last_approved = this_month.previous().previous();
    store.reporting().approve_months(county, first, last_approved, today).await?;
    Ok(summary)
}
