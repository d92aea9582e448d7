//! `jiceng tiers …`: follow-up tiers (放心/关心/挂心) — reassessment on schedule, the rules.

pub mod tiers;
