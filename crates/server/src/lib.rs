//! jiceng's web server: axum routes and server-rendered pages, zh-CN first.

pub mod api;
pub mod error;
pub mod exchange;
pub mod fieldwork;
pub mod org;
pub mod page;
pub mod registry;
pub mod reporting;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use jiceng_store::Store;
use tower_http::compression::CompressionLayer;
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
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig) -> std::io::Result<AppState> {
        let imports = exchange::ImportJobs::new(config.data_dir.join("uploads"), config.error_file_ttl)?;
        Ok(AppState {
            store,
            secure_cookies: config.secure_cookies,
            read_limits: config.read_limits,
            imports,
            places: Default::default(),
        })
    }
}

/// Every path the router serves; the scope test checks that it exercises each one.
pub const ROUTES: &[&str] = &[
    "/",
    "/login",
    "/logout",
    "/account/password",
    "/search",
    "/admin/users",
    "/admin/users/{id}",
    "/admin/locks",
    "/regions",
    "/regions/{code}",
    "/grids/{county}/{id}",
    "/buildings/{county}/{id}",
    "/households/{county}/{id}",
    "/households/{county}/{id}/newborn",
    "/buildings/{county}/{id}/households",
    "/households/{county}/{id}/move",
    "/residents/{county}/{id}",
    "/residents/{county}/{id}/edit",
    "/residents/{county}/{id}/exit",
    "/residents/{county}/{id}/verify",
    "/residents/{county}/{id}/access",
    "/api/openapi.json",
    "/api/regions/{code}",
    "/api/search",
    "/api/residents/{county}/{id}",
    "/api/residents/{county}/{id}/history",
    "/api/residents/{county}/{id}/exit",
    "/api/residents/{county}/{id}/verifications",
    "/api/households/{county}/{id}",
    "/healthz",
    "/lang/{lang}",
    "/imports",
    "/imports/{id}",
    "/imports/{id}/errors",
    "/regions/{code}/export",
    "/events",
    "/events/decisions",
    "/events/new",
    "/events/{county}/{id}",
    "/events/{county}/{id}/decision",
    "/events/{county}/{id}/resubmit",
    "/events/{county}/{id}/attachments",
    "/events/{county}/{id}/attachments/{attachment}",
    "/reports",
    "/reports/{code}",
    "/reports/{code}/approval",
    "/reports/{code}/export",
    "/api/reports/{code}",
    "/residents/{county}/{id}/stability",
    "/residents/{county}/{id}/tier",
    "/tiers/{code}",
    "/today",
    "/api/visits",
    "/coverage/{code}",
    "/parties/{code}",
    "/parties/{county}/{id}",
    "/parties/{county}/{id}/units",
    "/parties/{county}/{id}/lines",
    "/parties/{county}/{id}/upload",
];

pub fn router(state: AppState) -> Router {
    use axum::http::{HeaderValue, header};
    Router::new()
        .route("/", get(registry::pages::home))
        .route("/login", get(org::auth::login_page).post(org::auth::login))
        .route("/logout", post(org::auth::logout))
        .route("/account/password", get(org::auth::password_page).post(org::auth::change_password))
        .route("/search", get(registry::search::search))
        .route("/admin/users", get(org::admin::users).post(org::admin::create_user))
        .route("/admin/users/{id}", post(org::admin::user_action))
        .route("/admin/locks", post(org::admin::clear_lock))
        .route("/regions", get(registry::pages::roots))
        .route("/regions/{code}", get(registry::pages::region))
        .route("/grids/{county}/{id}", get(registry::pages::grid))
        .route("/buildings/{county}/{id}", get(registry::pages::building))
        .route(
            "/buildings/{county}/{id}/households",
            get(registry::forms::new_household_page).post(registry::forms::new_household),
        )
        .route(
            "/households/{county}/{id}/move",
            get(registry::forms::move_household_page).post(registry::forms::move_household),
        )
        .route("/households/{county}/{id}", get(registry::pages::household))
        .route("/households/{county}/{id}/newborn", get(registry::forms::newborn_page).post(registry::forms::newborn))
        .route("/residents/{county}/{id}", get(registry::pages::resident))
        .route(
            "/residents/{county}/{id}/edit",
            get(registry::forms::edit_resident_page).post(registry::forms::edit_resident),
        )
        .route("/residents/{county}/{id}/exit", post(registry::forms::record_exit))
        .route("/residents/{county}/{id}/verify", post(registry::forms::record_verification))
        .route("/residents/{county}/{id}/access", get(registry::forms::access_log))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/regions/{code}", get(api::registry::region))
        .route("/api/search", get(api::registry::search))
        .route("/api/residents/{county}/{id}", get(api::registry::resident).post(api::registry::change_resident))
        .route("/api/residents/{county}/{id}/history", get(api::registry::resident_history))
        .route("/api/residents/{county}/{id}/exit", post(api::registry::record_exit))
        .route("/api/residents/{county}/{id}/verifications", post(api::registry::record_verification))
        .route("/api/households/{county}/{id}", get(api::registry::household))
        .route("/healthz", get(|| async { "ok" }))
        .route("/lang/{lang}", get(page::switch_lang))
        .route(
            "/imports",
            get(exchange::pages::imports)
                .post(exchange::pages::upload)
                .layer(axum::extract::DefaultBodyLimit::max(exchange::pages::UPLOAD_LIMIT)),
        )
        .route("/imports/{id}", get(exchange::pages::job))
        .route("/imports/{id}/errors", get(exchange::pages::error_file))
        .route("/regions/{code}/export", get(exchange::pages::export))
        .route("/events", get(reporting::events::queue))
        .route("/events/decisions", post(reporting::events::decide_many))
        .route("/events/new", get(reporting::events::new_event_page).post(reporting::events::submit_event))
        .route("/events/{county}/{id}", get(reporting::events::event))
        .route("/events/{county}/{id}/decision", post(reporting::events::decide_one))
        .route("/events/{county}/{id}/resubmit", post(reporting::events::resubmit))
        .route(
            "/events/{county}/{id}/attachments",
            post(reporting::events::attach)
                .layer(axum::extract::DefaultBodyLimit::max(reporting::events::ATTACHMENT_LIMIT)),
        )
        .route("/events/{county}/{id}/attachments/{attachment}", get(reporting::events::attachment))
        .route("/reports", get(reporting::reports::reports_home))
        .route("/reports/{code}", get(reporting::reports::report))
        .route("/reports/{code}/approval", post(reporting::reports::approval))
        .route("/reports/{code}/export", get(reporting::reports::export))
        .route("/api/reports/{code}", get(api::reporting::report))
        .route("/residents/{county}/{id}/stability", post(fieldwork::tiers::record_stability))
        .route("/residents/{county}/{id}/tier", post(fieldwork::tiers::override_tier))
        .route("/tiers/{code}", get(fieldwork::tiers::tiers))
        .route("/today", get(fieldwork::visits::today_page))
        .route("/api/visits", post(fieldwork::visits::record_visit))
        .route("/coverage/{code}", get(fieldwork::visits::coverage_page))
        .route("/parties/{code}", get(fieldwork::parties::parties).post(fieldwork::parties::register))
        .route("/parties/{county}/{id}", get(fieldwork::parties::party))
        .route("/parties/{county}/{id}/units", post(fieldwork::parties::add_unit))
        .route("/parties/{county}/{id}/lines", post(fieldwork::parties::add_line))
        .route("/parties/{county}/{id}/upload", post(fieldwork::parties::upload))
        .layer(axum::middleware::from_fn(same_origin_writes))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
