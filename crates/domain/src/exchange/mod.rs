//! Exchange of resident records with other systems and offices: the columns of the
//! 居民信息表, reading values as people type them, and turning a row into facts.
//! Files and databases are the store's business; this module only decides what a row means.

pub mod columns;
pub mod handover;
pub mod package;
pub mod reconciliation;
pub mod resident_file;
pub mod resident_row;
pub mod values;

pub use columns::{Column, ColumnMap, HeaderError};
pub use resident_row::{CommunityRef, FieldProblem, ResidentRow, RowProblems};
