//! Field work pages: follow-up tiers on the record (`tiers`), 今日走访 and the visits
//! API (`visits`), landlords and employers and their reports (`parties`).

pub mod parties;
pub mod tiers;
pub mod visits;
