//! jiceng's web server: axum routes and server-rendered pages, zh-CN first.

pub mod api;
pub mod error;
pub mod exchange;
pub mod fieldwork;
mod form;
pub mod linkage;
pub mod ops;
pub mod org;
pub mod page;
pub mod registry;
pub mod reporting;

use std::net::SocketAddr;

use axum::Router;
use jiceng_store::Store;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// What a server is told when it starts.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark cookies `Secure`: set when the server is reached over TLS.
    pub secure_cookies: bool,
    /// Where uploads are kept while they are read (a private `uploads/` folder is made
    /// in it, 0700, files 0600).
    pub data_dir: std::path::PathBuf,
    /// How much of an uploaded file is read before it is refused.
    pub read_limits: jiceng_store::exchange::ReadLimits,
    /// How long an import's error file (names, ID numbers) is kept for its owner.
    pub error_file_ttl: std::time::Duration,
    /// Who may read `/metrics` (nobody by default).
    pub metrics: ops::MetricsAccess,
    /// Record linkage thresholds for departments' feeds.
    pub linkage: jiceng_domain::linkage::Settings,
}

impl ServerConfig {
    /// The defaults for a data directory: read limits from the environment
    /// (`JICENG_READ_MAX_*`), error files kept 24 hours.
    pub fn new(data_dir: std::path::PathBuf) -> Result<ServerConfig, String> {
        Ok(ServerConfig {
            secure_cookies: false,
            data_dir,
            read_limits: jiceng_store::exchange::ReadLimits::from_env()?,
            error_file_ttl: std::time::Duration::from_secs(24 * 3600),
            metrics: ops::MetricsAccess::Off,
            linkage: jiceng_domain::linkage::Settings::default(),
        })
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Mark cookies `Secure`: set when the server is reached over TLS.
    pub secure_cookies: bool,
    pub read_limits: jiceng_store::exchange::ReadLimits,
    /// Uploads being imported, and where their files are kept.
    pub imports: exchange::ImportJobs,
    /// Place names for 户籍地 columns, read from the division data on the first upload
    /// and kept for the server's life.
    pub places: std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<jiceng_store::exchange::PlaceIndex>>>,
    /// Who may read `/metrics`.
    pub metrics: std::sync::Arc<ops::MetricsAccess>,
    /// Record linkage thresholds for departments' feeds.
    pub linkage: std::sync::Arc<jiceng_domain::linkage::Settings>,
    /// Where each county's exchange key pair is (`<county>/private.key`): never in the
    /// database; the server signs packages with it.
    pub exchange_keys: std::path::PathBuf,
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig) -> std::io::Result<AppState> {
        let imports = exchange::ImportJobs::new(config.data_dir.join("uploads"), config.error_file_ttl)?;
        ops::install(&config.metrics);
        Ok(AppState {
            store,
            secure_cookies: config.secure_cookies,
            read_limits: config.read_limits,
            imports,
            places: Default::default(),
            metrics: std::sync::Arc::new(config.metrics),
            linkage: std::sync::Arc::new(config.linkage),
            exchange_keys: config.data_dir.join("exchange-keys"),
        })
    }
}

/// One feature's routes: each path with its handlers. Every feature module exports its
/// own `routes()`; [`FEATURES`] mounts them.
pub type Routes = Vec<(&'static str, axum::routing::MethodRouter<AppState>)>;

/// Every feature's routes, mounted in this order. A new domain adds one line here.
const FEATURES: &[fn() -> Routes] = &[
    registry::routes,
    org::routes,
    api::routes,
    exchange::routes,
    reporting::routes,
    fieldwork::routes,
    linkage::routes,
    page::routes,
    ops::routes,
];

/// Every path the router serves (read from the mounted features, so the scope test covers
/// a new module the moment it is mounted).
pub fn routes() -> Vec<&'static str> {
    FEATURES.iter().flat_map(|f| f()).map(|(path, _)| path).collect()
}

pub fn router(state: AppState) -> Router {
    use axum::http::{HeaderValue, header};
    let mut router = Router::new();
    for (path, handlers) in FEATURES.iter().flat_map(|f| f()) {
        router = router.route(path, handlers);
    }
    router
        .layer(axum::middleware::from_fn(org::guard::read_csrf_token))
        .layer(axum::middleware::from_fn(same_origin_writes))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(ops::track_requests))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span every handler's and store method's span sits in: the request id (also sent
/// back as `x-request-id`), the method and the path. Never the query: a search's query is
/// a name, an ID number or a phone.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Refuses a state-changing request whose `Origin` names another site: a second
/// line of defence beside the per-session CSRF token and `SameSite=Strict` cookies.
async fn same_origin_writes(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{Method, StatusCode, header};
    use axum::response::IntoResponse;
    if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if let (Some(origin), Some(host)) = (origin, host) {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            if origin_host != host {
                return (StatusCode::FORBIDDEN, "跨站请求被拒绝 / cross-site request refused").into_response();
            }
        }
    }
    next.run(request).await
}

/// Every response: a Content-Security-Policy that runs only scripts carrying this
/// response's nonce and lets no other site frame the page, and `Cache-Control: no-store`
/// (pages and files show personal data; nothing here is a static asset worth caching).
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use rand::Rng;
    let nonce = hex::encode(rand::rng().random::<[u8; 16]>());
    let mut response = page::SCRIPT_NONCE.scope(nonce.clone(), next.run(request)).await;
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Serves on an already bound listener until Ctrl-C or SIGTERM (what systemd sends on
/// stop), letting requests under way finish.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let anchors = tokio::spawn(anchor_hourly(state.store.clone()));
    let served = axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await;
    anchors.abort();
    served
}

/// Every hour, every county chain's head is recorded in the system chain (ADR 016), so
/// the head hash an operator keeps covers the county chains too.
async fn anchor_hourly(store: Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = store.audit().anchor("jiceng-serve").await {
            tracing::error!(error = %e, "audit anchor failed");
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod testing;
