//! Field work pages: follow-up tiers on the record (`tiers`).

pub mod tiers;
