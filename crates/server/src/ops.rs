//! What an operator watches: `/metrics` in Prometheus text format — requests and their
//! latency by route, the database pool, import jobs, notifications and the audit chain.
//! Off unless configured (then 404, like any unknown path), or behind a bearer token.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Not served: `/metrics` answers 404.
    #[default]
    Off,
    /// Anyone who reaches the server (for a scrape on a private interface).
    Open,
    /// Requests carrying `Authorization: Bearer <token>`.
    Token(String),
}

/// Seconds-long buckets for page latency: most pages take milliseconds, exports seconds.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

const REQUESTS: &str = "jiceng_http_requests_total";
const LATENCY: &str = "jiceng_http_request_duration_seconds";

/// The process's one Prometheus recorder, installed by the first server that serves
/// metrics (the `metrics` macros write to one global recorder).
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder when `access` serves metrics; without it the request counters
/// cost nothing.
pub(crate) fn install(access: &MetricsAccess) {
    if *access == MetricsAccess::Off {
        return;
    }
    RECORDER.get_or_init(|| {
        let builder =
            PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(LATENCY.to_string()), &LATENCY_BUCKETS);
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => {
                metrics::describe_counter!(REQUESTS, "HTTP requests by method, route and status");
                metrics::describe_histogram!(
                    LATENCY,
                    metrics::Unit::Seconds,
                    "HTTP request latency by method and route"
                );
                Some(handle)
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics recorder not installed");
                None
            }
        }
    });
}

/// Counts every request and times it, labelled by the route's pattern (never the path:
/// paths carry record ids, and unmatched paths would be unbounded).
pub(crate) async fn track_requests(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(LATENCY, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

pub fn routes() -> crate::Routes {
    vec![("/metrics", get(metrics_page))]
}

#[tracing::instrument(level = "debug", skip_all)]
async fn metrics_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &*state.metrics {
        MetricsAccess::Off => return StatusCode::NOT_FOUND.into_response(),
        MetricsAccess::Open => {}
        MetricsAccess::Token(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|g| same_secret(g.trim().as_bytes(), token.as_bytes())) {
                let mut response =
                    (StatusCode::UNAUTHORIZED, "需要令牌 / a bearer token is required\n").into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
        }
    }
    let Some(Some(handle)) = RECORDER.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "指标记录器未安装 / the metrics recorder is not installed\n")
            .into_response();
    };
    let gauges = match state.store.gauges().await {
        Ok(g) => g,
        Err(e) => return crate::error::AppError::from(e).into_response(),
    };
    let pool = gauges.pool;
    metrics::gauge!("jiceng_db_pool_connections", "state" => "idle").set(pool.idle);
    metrics::gauge!("jiceng_db_pool_connections", "state" => "in_use").set(pool.open.saturating_sub(pool.idle));
    metrics::gauge!("jiceng_db_pool_max_connections").set(pool.max);
    let (running, finished) = state.imports.counts();
    metrics::gauge!("jiceng_import_jobs", "state" => "running").set(running as f64);
    metrics::gauge!("jiceng_import_jobs", "state" => "finished").set(finished as f64);
    metrics::gauge!("jiceng_notifications_unread").set(gauges.notifications_unread as f64);
    metrics::gauge!("jiceng_audit_entries").set(gauges.audit_entries as f64);
    metrics::gauge!("jiceng_audit_queue_waiting").set(gauges.audit_waiting as f64);
    let mut response = handle.render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
