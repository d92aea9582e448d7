//! Field work's files: the coverage workbook and the sheets landlords and employers send.

mod coverage;
mod parties;

pub use coverage::coverage_xlsx;
pub use parties::read_party_file;
