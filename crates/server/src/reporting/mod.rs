//! Pages of the reporting chain: event queues and forms (`events`), periodic reports
//! with charts, approval and exports (`reports`).

pub mod charts;
pub mod events;
pub mod reports;

use axum::routing::{get, post};

/// Change events and their review, periodic reports and their approval.
pub fn routes() -> crate::Routes {
    vec![
        ("/events", get(events::queue)),
        ("/events/decisions", post(events::decide_many)),
        ("/events/new", get(events::new_event_page).post(events::submit_event)),
        ("/events/{county}/{id}", get(events::event)),
        ("/events/{county}/{id}/decision", post(events::decide_one)),
        ("/events/{county}/{id}/resubmit", post(events::resubmit)),
        (
            "/events/{county}/{id}/attachments",
            post(events::attach).layer(axum::extract::DefaultBodyLimit::max(events::ATTACHMENT_LIMIT)),
        ),
        ("/events/{county}/{id}/attachments/{attachment}", get(events::attachment)),
        ("/reports", get(reports::reports_home)),
        ("/reports/{code}", get(reports::report)),
        ("/reports/{code}/approval", post(reports::approval)),
        ("/reports/{code}/export", get(reports::export)),
    ]
}

#[cfg(test)]
mod tests;
