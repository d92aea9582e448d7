//! Field work on the command line: follow-up tiers (`tiers`), visit plans, coverage and
//! responsibilities (`plan`), demo landlords and employers (`parties`).

pub mod bench;
pub mod parties;
pub mod plan;
pub mod tiers;
