use crate::ops::MetricsAccess;
use crate::testing::*;

fn client_with(store: &Store, metrics: MetricsAccess) -> Client {
    let mut config = crate::ServerConfig::new(tempfile::tempdir().unwrap().keep()).unwrap();
    config.metrics = metrics;
    Client { app: router(AppState::new(store.clone(), config).unwrap()), cookie: None }
}

async fn scrape(client: &Client, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get("/metrics");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, _, body, _) = client.send(request.body(Body::empty()).unwrap()).await;
    (status, body)
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_are_off_by_default_and_behind_their_token() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        // Off: like any unknown path.
        let off = Client::new(store);
        assert_eq!(scrape(&off, None).await.0, StatusCode::NOT_FOUND, "{}", db.label);
        assert_eq!(off.get("/no-such-page").await.0, StatusCode::NOT_FOUND);

        let client = client_with(store, MetricsAccess::Token("s3cret-token-of-the-scraper".into()));
        assert_eq!(scrape(&client, None).await.0, StatusCode::UNAUTHORIZED, "{}", db.label);
        assert_eq!(scrape(&client, Some("s3cret-token-of-the-scrapes")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&client, Some("s3cret")).await.0, StatusCode::UNAUTHORIZED);

        // Requests are counted by route pattern, never by the path (which carries ids).
        let mut worker = client_with(store, MetricsAccess::Token("s3cret-token-of-the-scraper".into()));
        assert_eq!(worker.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
        let resident = uuid::Uuid::new_v4();
        assert_eq!(worker.get(&format!("/residents/440307/{resident}")).await.0, StatusCode::NOT_FOUND);
        let (status, text) = scrape(&client, Some("s3cret-token-of-the-scraper")).await;
        assert_eq!(status, StatusCode::OK, "{}: {text}", db.label);
        assert!(
            sample(&text, r#"jiceng_http_requests_total{method="POST",route="/login",status="303"}"#)
                .is_some_and(|n| n >= 1.0),
            "{}: {text}",
            db.label
        );
        assert!(text.contains(r#"route="/residents/{county}/{id}""#), "{text}");
        assert!(!text.contains(&resident.to_string()), "no path in the labels");
        assert!(text.contains("jiceng_http_request_duration_seconds_bucket{"), "a histogram: {text}");
        // The login was audited: the chain has entries; the pool has connections.
        assert!(sample(&text, "jiceng_audit_entries").is_some_and(|n| n >= 1.0), "{text}");
        assert!(sample(&text, r#"jiceng_db_pool_connections{state="idle"}"#).is_some(), "{text}");
        assert!(sample(&text, "jiceng_db_pool_max_connections").is_some_and(|n| n >= 1.0), "{text}");
        assert!(sample(&text, r#"jiceng_import_jobs{state="running"}"#).is_some(), "{text}");
        assert!(sample(&text, "jiceng_notifications_unread").is_some(), "{text}");
        assert!(sample(&text, "jiceng_audit_queue_waiting").is_some(), "{text}");

        // Open: no token needed (for a scrape on a private interface).
        let open = client_with(store, MetricsAccess::Open);
        assert_eq!(scrape(&open, None).await.0, StatusCode::OK);
        db.finish().await;
    }
}
