//! jiceng's web server: axum routes and server-rendered pages, zh-CN first.

pub mod error;
pub mod org;
pub mod page;
pub mod registry;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use jiceng_store::Store;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Mark cookies `Secure`: set when the server is reached over TLS.
    pub secure_cookies: bool,
}

pub fn router(state: AppState) -> Router {
    use axum::http::{HeaderValue, header};
    Router::new()
        .route("/", get(registry::pages::home))
        .route("/login", get(org::auth::login_page).post(org::auth::login))
        .route("/logout", post(org::auth::logout))
        .route("/regions", get(registry::pages::roots))
        .route("/regions/{code}", get(registry::pages::region))
        .route("/grids/{county}/{id}", get(registry::pages::grid))
        .route("/buildings/{county}/{id}", get(registry::pages::building))
        .route("/households/{county}/{id}", get(registry::pages::household))
        .route("/residents/{county}/{id}", get(registry::pages::resident))
        .route("/healthz", get(|| async { "ok" }))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves on an already bound listener until Ctrl-C.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests;
