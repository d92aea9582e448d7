//! Field work pages: follow-up tiers on the record (`tiers`), 今日走访 and the visits
//! API (`visits`).

pub mod tiers;
pub mod visits;
