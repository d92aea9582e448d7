//! 部门通报 Department feeds: `/feeds` (departments, their tokens, file uploads — the
//! district office), `/feeds/records/{code}` (what arrived and its outcome),
//! `/feeds/review/{county}/{id}` (a possible match side by side with the evidence,
//! accepted or rejected), `/feeds/thresholds/{county}` (precision and recall per
//! threshold on the decisions) and `POST /api/feeds/{kind}` (a department's records with
//! its token).

pub mod api;
pub mod pages;

use axum::routing::{get, post};

pub fn routes() -> crate::Routes {
    vec![
        ("/feeds", get(pages::feeds)),
        ("/feeds/departments", post(pages::register_department)),
        ("/feeds/departments/{county}/{id}/tokens", post(pages::create_token)),
        ("/feeds/departments/{county}/{id}/tokens/{token}/revoke", post(pages::revoke_token)),
        ("/feeds/upload", post(pages::upload)),
        ("/feeds/records/{code}", get(pages::records)),
        ("/feeds/review/{county}/{id}", get(pages::review).post(pages::decide)),
        ("/feeds/thresholds/{code}", get(pages::thresholds)),
        ("/api/feeds/{kind}", post(api::receive)),
    ]
}

#[cfg(test)]
mod tests;
