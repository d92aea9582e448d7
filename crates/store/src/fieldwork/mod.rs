//! Field work records: confirmations of residents' records.

mod verification;

pub use verification::Verification;
pub(crate) use verification::verify_in;
