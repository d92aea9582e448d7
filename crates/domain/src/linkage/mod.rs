//! 记录匹配 (record linkage): which registry person a department's record is about.
//!
//! Fellegi–Sunter, as Splink does it, with what Chinese records need: ID numbers in
//! their 15- and 18-digit forms, names compared by characters, simplified form and
//! sound (surnames in their surname readings), term frequencies so that a shared 张伟
//! counts for little, and a rule that a match never rests on name and year of birth.
//! Pure: the store keeps the records and decisions, the CLI and server drive it.

pub mod blocking;
pub mod compare;
pub mod feed;
pub mod linker;
pub mod model;
pub mod record;
pub mod registry_index;
pub mod synthetic;

pub use blocking::{BlockingCounts, BlockingIndex, BlockingRule};
pub use compare::{FIELDS, Field, Gamma};
pub use feed::{DepartmentKind, Effect, FeedColumn, FeedDetails, FeedKind, FeedOutcome, FeedRecord, HukouChange};
pub use linker::{Comparisons, Linked, Linker, Outcome, Settings};
pub use model::{Model, TermFrequencies};
pub use record::{Features, LinkRecord};
pub use registry_index::RegistryIndex;
