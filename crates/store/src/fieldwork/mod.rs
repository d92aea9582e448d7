//! Field work records: confirmations of residents' records.

mod coverage;
pub(crate) mod floors;
pub(crate) mod followup;
mod parties;
mod tiers;
mod verification;
mod visits;

pub use coverage::{Coverage, CoverageCounts, CoverageGaps, FloorGap, GridCoverage, HouseholdGap, Responsibility};
pub use floors::stock_differences;
pub use followup::followup_differences;
pub use parties::{NewParty, Party, PartyLineRecord, PartySubmission, PartyUnit};
pub use tiers::{ReassessSummary, ResidentTier, TierChange};
pub use verification::Verification;
pub(crate) use verification::verify_in;
pub use visits::{NewVisit, VisitRecorded};

crate::access::domain_handle! {
    /// Field work (confirmations, tiers, visits, parties, coverage) as one caller sees
    /// it (see [`crate::access::Access`]).
    Fieldwork { fieldwork, fieldwork_in, fieldwork_as, fieldwork_by }
}

impl<'a> Fieldwork<'a> {
    /// The registry with the same scope and caller, for the residents field work is about.
    pub fn registry(&self) -> crate::registry::Registry<'a> {
        crate::registry::Registry { access: self.access }
    }
}
