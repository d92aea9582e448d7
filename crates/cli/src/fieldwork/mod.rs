//! Field work on the command line: follow-up tiers (`tiers`), visit plans, coverage and
//! responsibilities (`plan`).

pub mod bench;
pub mod plan;
pub mod tiers;
