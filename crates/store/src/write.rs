//! The unit of work: how every change to the registry, the reporting chain and field
//! work is written (ADR 012).
//!
//! [`UnitOfWork::begin`] opens a transaction that writes from its first statement. The
//! write takes the period locks of the communities it touches ([`UnitOfWork::lock`]),
//! makes its rows and notes what it changed in [`Changes`]. [`UnitOfWork::commit`] then
//! runs every projection in [`PROJECTIONS`] over those changes, appends the audit entry
//! and commits: all of it or nothing. Each projection also has a `verify` that recomputes
//! what it keeps from the records and lists the differences (`jiceng verify`).
//!
//! A new projection (benefits, targets…) is one [`Projection`] value and one line in
//! [`PROJECTIONS`]; Kanidm's plugins (post_create/post_modify/verify) are the model.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;

use jiceng_domain::org::DivisionCode;
use jiceng_domain::reporting::Tally;
use sea_orm::DatabaseTransaction;
use time::Date;
use uuid::Uuid;

use crate::Store;
use crate::error::StoreResult;
use crate::org::NewAuditEntry;
use crate::reporting::cells::Locks;

/// What a write changed, for the projections.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Report cell deltas, and the households and floors whose people changed.
    pub(crate) tally: Tally,
    /// Visits and verifications to count on the floor where their household is, in order.
    pub(crate) floor_counts: Vec<FloorCount>,
    /// Residents whose last verification moved to this date (never back).
    pub(crate) verified: Vec<(DivisionCode, Uuid, Date)>,
    /// Residents whose tier in force changed.
    pub(crate) tiers_of: BTreeSet<(DivisionCode, Uuid)>,
    /// Communities whose residents' tiers were reassessed.
    pub(crate) tiers_in: BTreeSet<DivisionCode>,
    /// Communities loaded in bulk: everything kept for them is recounted.
    pub(crate) rebuilt: BTreeSet<DivisionCode>,
}

/// A visit to a household, or a resident's verification, counted once a month on the
/// household's floor (四不漏).
#[derive(Debug, Clone)]
pub(crate) enum FloorCount {
    Visit { county: DivisionCode, household: Uuid, day: Date },
    Verification { county: DivisionCode, resident: Uuid, household: Uuid, day: Date },
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// Something kept up to date from the records in the transaction of every change.
pub(crate) struct Projection {
    /// Its name in `jiceng verify` (and the table it keeps).
    pub(crate) name: &'static str,
    /// Brings it up to date with one write's changes.
    pub(crate) apply: for<'a> fn(&'a DatabaseTransaction, &'a Changes) -> Boxed<'a, ()>,
    /// Recomputes it from the records under a county and lists every difference.
    pub(crate) verify: for<'a> fn(&'a Store, &'a DivisionCode) -> Boxed<'a, Checked>,
}

/// What one projection's verify found under one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Rows (cells, floors, residents) compared.
    pub compared: u64,
    /// Every difference, each as "what: stored … recomputed …".
    pub differences: Vec<String>,
}

/// Every projection, in the order they run.
pub(crate) const PROJECTIONS: &[Projection] = &[
    crate::reporting::cells::PROJECTION,
    crate::fieldwork::floors::PROJECTION,
    crate::fieldwork::followup::PROJECTION,
];

/// One projection's verify of one county, for `jiceng verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionCheck {
    pub projection: &'static str,
    pub node: DivisionCode,
    pub checked: Checked,
}

impl Store {
    /// Runs every projection's verify for each county with records (or only `node`'s
    /// county).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_projections(&self, node: Option<&DivisionCode>) -> StoreResult<Vec<ProjectionCheck>> {
        let counties = match node.and_then(|n| n.at_level(jiceng_domain::org::DivisionLevel::County)) {
            Some(county) => vec![county],
            None => crate::registry::counties_with_records(&self.db).await?,
        };
        let mut out = Vec::new();
        for county in counties {
            for p in PROJECTIONS {
                let checked = (p.verify)(self, &county).await?;
                out.push(ProjectionCheck { projection: p.name, node: county.clone(), checked });
            }
        }
        Ok(out)
    }
}

/// One write in progress. Dropped without [`UnitOfWork::commit`], it leaves nothing.
pub(crate) struct UnitOfWork {
    pub(crate) txn: DatabaseTransaction,
    /// Approved months of every community locked so far, and their counties' opening.
    pub(crate) locks: Locks,
    locked: HashSet<DivisionCode>,
    pub(crate) changes: Changes,
    /// The reporting deadlines, read at the first decision of this write and kept for
    /// the rest of it (the demo decides a community's year of events in one).
    pub(crate) deadlines: Option<jiceng_domain::reporting::Deadlines>,
    /// The handover this write carries out: only it may change what the handover holds.
    pub(crate) handover: Option<Uuid>,
}

impl UnitOfWork {
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn begin(store: &Store) -> StoreResult<UnitOfWork> {
        Ok(UnitOfWork {
            txn: crate::org::audit::begin_writing(&store.db).await?,
            locks: Locks::default(),
            locked: HashSet::new(),
            changes: Changes::default(),
            deadlines: None,
            handover: None,
        })
    }

    /// Reads the period locks of `node` (a community, or a county for bulk work) once;
    /// [`Self::locks`] then counts changes there.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn lock(&mut self, node: &DivisionCode) -> StoreResult<()> {
        if self.locked.insert(node.clone()) {
            let locks = Locks::under(&self.txn, node).await?;
            self.locks.extend(locks);
        }
        Ok(())
    }

    /// Brings every projection up to date, appends the audit entry and commits.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn commit(self, entry: NewAuditEntry) -> StoreResult<()> {
        // Records in transit between two communities change with the handover only.
        crate::exchange::handover::refuse_held(&self.txn, self.changes.tally.places(), self.handover).await?;
        for p in PROJECTIONS {
            (p.apply)(&self.txn, &self.changes).await?;
        }
        crate::org::audit::append_in(&self.txn, &entry).await?;
        self.txn.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
