//! 核实: recording that a worker confirmed a resident's record, and counting the records
//! nobody has confirmed lately.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::DivisionCode;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, JoinType, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::Fieldwork;
use crate::error::{StoreError, StoreResult, decode, decode_opt};
use crate::read_rows;
use crate::registry::{current_resident, subtree};
use crate::write::{FloorCount, UnitOfWork};
use jiceng_domain::reporting::cell;

/// One confirmation of a resident's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub verified_on: Date,
    pub method: VerificationMethod,
    pub recorded_at: OffsetDateTime,
    pub recorded_by: String,
}

impl Fieldwork<'_> {
    /// Records that the resident's record was confirmed on `date`. The resident's last
    /// verification date moves forward only: entering an older confirmation late keeps
    /// the newer date.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_verification(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        date: Date,
        method: VerificationMethod,
    ) -> StoreResult<()> {
        let recorded_by: &str = &self.caller.username;
        let today = OffsetDateTime::now_utc().date();
        if date > today {
            return Err(StoreError::Invalid(format!(
                "核实日期{date}晚于今天 / verification date {date} is in the future"
            )));
        }
        let mut work = UnitOfWork::begin(self.store).await?;
        let current = current_resident(&work.txn, county, resident_id).await?;
        self.require_scope(&current.community, "居民 / resident")?;
        verify_in(&mut work, &current, date, method, recorded_by).await?;
        // Fresh information can lower the follow-up tier at once.
        super::tiers::reassess_in(&mut work, &current, today, "verified").await?;
        let entry = self.change_entry(
            format!("resident/{county}/{resident_id}"),
            county,
            format!("verified {date} {}", method.key()),
        );
        work.commit(entry).await?;
        Ok(())
    }

    /// When the resident's record was last confirmed (`None`: never, or out of scope).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn last_verified(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Option<Date>> {
        let mut q = Query::select();
        q.column(("r", "last_verified_on"))
            .from_as("resident", "r")
            .join_as(JoinType::InnerJoin, "resident_version", "v", resident_is_version())
            .and_where(Expr::col(("r", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("r", "id")).eq(resident_id))
            .cond_where(self.in_scope(("v", "community_code")))
            .limit(1);
        match self.store.db.query_one(&q).await? {
            Some(row) => Ok(row.try_get("", "last_verified_on")?),
            None => Ok(None),
        }
    }

    /// The confirmations recorded in jiceng, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verifications(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Vec<Verification>> {
        // Scope: the resident must be visible to this registry.
        if self.registry().resident_history(county, resident_id).await?.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::select();
        q.columns(["verified_on", "method", "recorded_at", "recorded_by"])
            .from("resident_verification")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id))
            .order_by("verified_on", Order::Desc)
            .order_by("recorded_at", Order::Desc);
        read_rows(&self.store.db, &q, |row| {
            let method: String = row.try_get("", "method")?;
            Ok(from_row!(row => Verification {
                verified_on, recorded_at, recorded_by;
                method: decode_opt("resident_verification", "method", &method, VerificationMethod::from_key)?,
            }))
        })
        .await
    }

    /// Current residents of each community under `node` whose record was not confirmed
    /// on or after `since` (or never).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unverified_counts(&self, node: &DivisionCode, since: Date) -> StoreResult<Vec<(DivisionCode, u64)>> {
        let mut q = Query::select();
        q.column(("v", "community_code"))
            .expr(Expr::col(("v", "resident_id")).count())
            .from_as("resident_version", "v")
            .join_as(JoinType::InnerJoin, "resident", "r", resident_is_version())
            .cond_where(subtree(node, ("v", "community_code")))
            .cond_where(self.in_scope(("v", "community_code")))
            .and_where(Expr::col(("v", "valid_to")).is_null())
            .cond_where(
                Cond::any()
                    .add(Expr::col(("r", "last_verified_on")).is_null())
                    .add(Expr::col(("r", "last_verified_on")).lt(since)),
            )
            .group_by_col(("v", "community_code"));
        read_rows(&self.store.db, &q, |row| {
            let community: String = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            Ok((decode("resident_version", "community_code", &community, DivisionCode::parse)?, n as u64))
        })
        .await
    }
}

/// The join of `resident` as "r" with its versions as "v".
fn resident_is_version() -> sea_orm::sea_query::Expr {
    crate::registry::same_county(("r", "id"), ("v", "resident_id"))
}

/// Records a verification inside a caller's transaction (the resident is loaded and in
/// scope): the row, the statistics cell, the last-verified date.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn verify_in(
    work: &mut UnitOfWork,
    current: &crate::registry::ResidentVersion,
    date: Date,
    method: VerificationMethod,
    recorded_by: &str,
) -> StoreResult<()> {
    if date < current.facts.birth_date {
        return Err(StoreError::Invalid(format!(
            "核实日期{date}早于出生日期 / verification date {date} is before the date of birth"
        )));
    }
    // The report counts each resident once per month (and community) they were verified in.
    work.lock(&current.community).await?;
    let counted = work.locks.counted(&[&current.community], date, None);
    let txn = &work.txn;
    let mut already = Query::select();
    already
        .column("id")
        .from("resident_verification")
        .and_where(Expr::col("county_code").eq(current.county.as_str()))
        .and_where(Expr::col("resident_id").eq(current.resident_id))
        .cond_where(crate::registry::subtree(&current.community, "community_code"))
        .and_where(Expr::col("counted_in").eq(counted.key()))
        .limit(1);
    let first_this_month = txn.query_one(&already).await?.is_none();
    txn.execute(
        Query::insert()
            .into_table("resident_verification")
            .columns([
                "county_code",
                "id",
                "resident_id",
                "verified_on",
                "method",
                "recorded_at",
                "recorded_by",
                "community_code",
                "counted_in",
            ])
            .values_panic([
                current.county.as_str().into(),
                Uuid::now_v7().into(),
                current.resident_id.into(),
                date.into(),
                method.key().into(),
                OffsetDateTime::now_utc().into(),
                recorded_by.into(),
                current.community.as_str().into(),
                counted.key().into(),
            ]),
    )
    .await?;
    txn.execute(
        Query::update()
            .table("resident")
            .value("last_verified_on", date)
            .and_where(Expr::col("county_code").eq(current.county.as_str()))
            .and_where(Expr::col("id").eq(current.resident_id))
            .cond_where(
                Cond::any().add(Expr::col("last_verified_on").is_null()).add(Expr::col("last_verified_on").lt(date)),
            ),
    )
    .await?;
    let changes = &mut work.changes;
    if first_this_month {
        changes.tally.add(&current.community, counted, cell::VERIFIED, 1);
    }
    changes.floor_counts.push(FloorCount::Verification {
        county: current.county.clone(),
        resident: current.resident_id,
        household: current.facts.household_id,
        day: date,
    });
    changes.verified.push((current.county.clone(), current.resident_id, date));
    Ok(())
}

#[cfg(test)]
mod tests;
