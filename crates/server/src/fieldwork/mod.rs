//! Field work pages: follow-up tiers on the record (`tiers`), 今日走访 and the visits
//! API (`visits`), landlords and employers and their reports (`parties`).

pub mod parties;
pub mod tiers;
pub mod visits;

use axum::routing::{get, post};

/// Follow-up tiers, visits and coverage, landlords and employers.
pub fn routes() -> crate::Routes {
    vec![
        ("/residents/{county}/{id}/stability", post(tiers::record_stability)),
        ("/residents/{county}/{id}/tier", post(tiers::override_tier)),
        ("/tiers/{code}", get(tiers::tiers)),
        ("/today", get(visits::today_page)),
        ("/api/visits", post(visits::record_visit)),
        ("/coverage/{code}", get(visits::coverage_page)),
        ("/parties/{code}", get(parties::parties).post(parties::register)),
        ("/parties/{county}/{id}", get(parties::party)),
        ("/parties/{county}/{id}/units", post(parties::add_unit)),
        ("/parties/{county}/{id}/lines", post(parties::add_line)),
        ("/parties/{county}/{id}/upload", post(parties::upload)),
    ]
}

#[cfg(test)]
mod tests;
