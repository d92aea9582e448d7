//! Field work: confirming that what the registry says about a person is still true.

pub mod coverage;
mod party;
mod tier;
mod verification;
mod visit;

pub use party::{LineProblem, Movement, PartyField, PartyKind, PartyLine, RowProblem, SheetLine, read_line};
pub use tier::{
    Assessment, Housing, Reason, RecordedStability, StabilityFacts, Tier, TierRules, TierRulesError, TierSetting, Work,
};
pub use verification::{UNVERIFIED_AFTER_MONTHS, VerificationMethod, months_before, unverified_before};
pub use visit::{PlanItem, PlanReason, VisitOutcome, natural_key, order_for_walking};
