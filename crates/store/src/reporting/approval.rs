//! 审核锁定: a month's report is approved node by node, bottom up, as DHIS2 does it. A
//! node can be approved only when every child with data is; approval locks the month
//! for that subtree (later changes are counted in the next open month); reopening needs
//! a reason, is logged, and is refused while the parent is still approved.

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::reporting::{APPROVAL_LEVELS, Month, approves_at};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{Actor, Reporting};
use crate::error::{StoreError, StoreResult};
use crate::read_rows;
use crate::reporting::cells::{cells_of, county_of};
use crate::write::UnitOfWork;
use jiceng_domain::org::audit::AuditAction;

/// One child node's state for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildApproval {
    pub node: DivisionCode,
    pub name: String,
    /// Nodes without any figures need no approval.
    pub has_data: bool,
    pub approved: Option<(String, OffsetDateTime)>,
}

/// A node's approval state for a month, with its parent's and children's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStatus {
    pub node: DivisionCode,
    pub month: Month,
    pub approved: Option<(String, OffsetDateTime)>,
    pub parent_approved: bool,
    pub children: Vec<ChildApproval>,
}

/// One line of a month's approval log: (action, actor, when, reason).
pub type ApprovalLogEntry = (String, String, OffsetDateTime, Option<String>);

impl ApprovalStatus {
    /// Children with data that are not approved yet.
    pub fn waiting_for(&self) -> Vec<&ChildApproval> {
        self.children.iter().filter(|c| c.has_data && c.approved.is_none()).collect()
    }
}

fn invalid(zh: String, en: String) -> StoreError {
    StoreError::Invalid(format!("{zh} / {en}"))
}

impl Reporting<'_> {
    async fn approval_of(
        &self,
        db: &impl ConnectionTrait,
        node: &DivisionCode,
        month: Month,
    ) -> StoreResult<Option<(String, OffsetDateTime)>> {
        let mut q = Query::select();
        q.columns(["approved_by", "approved_at"])
            .from("report_approval")
            .cond_where(cells_of(node))
            .and_where(Expr::col("period").eq(month.key()));
        match db.query_one(&q).await? {
            Some(r) => Ok(Some((r.try_get("", "approved_by")?, r.try_get("", "approved_at")?))),
            None => Ok(None),
        }
    }

    async fn has_data(&self, db: &impl ConnectionTrait, node: &DivisionCode, month: Month) -> StoreResult<bool> {
        let mut q = Query::select();
        q.column("node_code")
            .from("report_cell")
            .cond_where(cells_of(node))
            .and_where(Expr::col("period").lte(month.key()))
            .limit(1);
        Ok(db.query_one(&q).await?.is_some())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approval_status(&self, node: &DivisionCode, month: Month) -> StoreResult<ApprovalStatus> {
        self.require_node(node)?;
        let db = &self.store.db;
        let parent_approved = match node.parent() {
            Some(p) if APPROVAL_LEVELS.contains(&p.level()) => self.approval_of(db, &p, month).await?.is_some(),
            _ => false,
        };
        let mut children = Vec::new();
        if node.level() != DivisionLevel::Village {
            for child in self.store.divisions().children(Some(node)).await? {
                children.push(ChildApproval {
                    has_data: self.has_data(db, &child.code, month).await?,
                    approved: self.approval_of(db, &child.code, month).await?,
                    node: child.code,
                    name: child.name,
                });
            }
        }
        Ok(ApprovalStatus {
            node: node.clone(),
            month,
            approved: self.approval_of(db, node, month).await?,
            parent_approved,
            children,
        })
    }

    fn check_level(&self, node: &DivisionCode, actor: Actor<'_>) -> StoreResult<()> {
        self.require_node(node)?;
        if !approves_at(actor.role, node.level()) {
            return Err(invalid(
                format!("{}不能审核{}级报表", actor.role.label_zh(), node.level().label_zh()),
                format!("a {} cannot approve {} reports", actor.role.label_en(), node.level().label_en()),
            ));
        }
        Ok(())
    }

    /// Approves `node`'s report for `month`, locking it for the subtree.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve(&self, node: &DivisionCode, month: Month, actor: Actor<'_>, today: Date) -> StoreResult<()> {
        self.check_level(node, actor)?;
        if month.last_day() >= today {
            return Err(invalid(
                format!("{month}尚未结束，不能审核"),
                format!("{month} has not ended yet; it cannot be approved"),
            ));
        }
        let status = self.approval_status(node, month).await?;
        if status.approved.is_some() {
            return Err(invalid(format!("{node} {month}已审核"), format!("{node} {month} is already approved")));
        }
        let waiting = status.waiting_for();
        if !waiting.is_empty() {
            let names: Vec<&str> = waiting.iter().map(|c| c.name.as_str()).collect();
            return Err(invalid(
                format!("下级尚未全部审核：{}", names.join("、")),
                format!("not every child is approved yet: {}", names.join(", ")),
            ));
        }
        let work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        // Checked again inside the transaction: two approvals at once must not both pass.
        if self.approval_of(txn, node, month).await?.is_some() {
            return Err(invalid(format!("{node} {month}已审核"), format!("{node} {month} is already approved")));
        }
        let now = OffsetDateTime::now_utc();
        txn.execute(
            Query::insert()
                .into_table("report_approval")
                .columns(["county_code", "node_code", "period", "approved_by", "approved_at"])
                .values_panic([
                    county_of(node).into(),
                    node.as_str().into(),
                    month.key().into(),
                    actor.username.into(),
                    now.into(),
                ]),
        )
        .await?;
        log(txn, node, month, "approve", actor.username, None).await?;
        let entry =
            self.entry(AuditAction::Configure, format!("report/{node}/{month}"), &county_of(node), "approve".into());
        work.commit(entry).await?;
        Ok(())
    }

    /// Reopens an approved month for `node` (with a reason, logged). Refused while the
    /// parent is approved: reopen from the top down.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reopen(&self, node: &DivisionCode, month: Month, actor: Actor<'_>, reason: &str) -> StoreResult<()> {
        self.check_level(node, actor)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("重新打开须说明原因".into(), "reopening needs a reason".into()));
        }
        let status = self.approval_status(node, month).await?;
        if status.approved.is_none() {
            return Err(invalid(format!("{node} {month}未审核"), format!("{node} {month} is not approved")));
        }
        if status.parent_approved {
            return Err(invalid(
                "上级已审核，须先由上级重新打开".into(),
                "the parent is approved; it must be reopened first".into(),
            ));
        }
        let work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        txn.execute(
            Query::delete()
                .from_table("report_approval")
                .cond_where(cells_of(node))
                .and_where(Expr::col("period").eq(month.key())),
        )
        .await?;
        log(txn, node, month, "reopen", actor.username, Some(reason)).await?;
        let entry =
            self.entry(AuditAction::Configure, format!("report/{node}/{month}"), &county_of(node), "reopen".into());
        work.commit(entry).await?;
        Ok(())
    }

    /// Who approved and reopened `node`'s month, oldest first: (action, actor, when, reason).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approval_log(&self, node: &DivisionCode, month: Month) -> StoreResult<Vec<ApprovalLogEntry>> {
        self.require_node(node)?;
        let mut q = Query::select();
        q.columns(["action", "actor", "at", "reason"])
            .from("report_approval_log")
            .cond_where(cells_of(node))
            .and_where(Expr::col("period").eq(month.key()))
            .order_by("at", Order::Asc);
        read_rows(&self.store.db, &q, |r| {
            Ok((r.try_get("", "action")?, r.try_get("", "actor")?, r.try_get("", "at")?, r.try_get("", "reason")?))
        })
        .await
    }
}

async fn log(
    db: &impl ConnectionTrait,
    node: &DivisionCode,
    month: Month,
    action: &str,
    actor: &str,
    reason: Option<&str>,
) -> StoreResult<()> {
    db.execute(
        Query::insert()
            .into_table("report_approval_log")
            .columns(["county_code", "id", "node_code", "period", "action", "actor", "at", "reason"])
            .values_panic([
                county_of(node).into(),
                Uuid::now_v7().into(),
                node.as_str().into(),
                month.key().into(),
                action.into(),
                actor.into(),
                OffsetDateTime::now_utc().into(),
                reason.into(),
            ]),
    )
    .await?;
    Ok(())
}
