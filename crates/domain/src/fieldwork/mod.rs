//! Field work: confirming that what the registry says about a person is still true.

mod verification;

pub use verification::{UNVERIFIED_AFTER_MONTHS, VerificationMethod, unverified_before};
