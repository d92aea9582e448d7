//! Page tests through the router (no socket), on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
use jiceng_domain::registry::{Phone, ResidentFacts};
use jiceng_store::Store;
use jiceng_store::org::{Divisions, LoadScope, NewUser, reference};
use jiceng_store::registry::ResidentVersion;
use jiceng_store::testing;
use time::macros::date;
use tower::ServiceExt;

use crate::{AppState, router};

fn code(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap()
}

/// Two communities of Longgang with a small population, and three users.
async fn seed(store: &Store) {
    let rows = Divisions::reference(&LoadScope::counties(vec![code("440307")])).unwrap();
    store.divisions().load(&rows, |_| {}).await.unwrap();
    let communities = ["440307003002", "440307003004"].iter().map(|c| (code(c), format!("社区{c}"))).collect();
    let plan = PopulationPlan {
        county: code("440307"),
        communities,
        all_counties: reference::counties().unwrap().into_iter().map(|d| d.code).collect(),
        residents: 400,
        seed: 11,
        reference_date: date!(2026 - 11 - 24),
    };
    for community in PopulationGenerator::new(plan) {
        store.registry().write_community(&code("440307"), &community, "seed").await.unwrap();
    }
    for (username, role, scope) in [
        ("admin", Role::Administrator, "440307"),
        ("worker_a", Role::GridWorker, "440307003002"),
        ("worker_b", Role::GridWorker, "440307003004"),
    ] {
        let user = NewUser {
            username: username.into(),
            display_name: username.into(),
            password: "password-123".into(),
            role,
            scopes: vec![code(scope)],
        };
        store.users().add(&user).await.unwrap();
    }
}

struct Client {
    app: axum::Router,
    cookie: Option<String>,
}

impl Client {
    fn new(store: &Store) -> Self {
        Client { app: router(AppState { store: store.clone(), secure_cookies: false }), cookie: None }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, String, Vec<String>) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let cookies =
            response.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let body = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
        (status, location, String::from_utf8_lossy(&body).into_owned(), cookies)
    }

    async fn get(&self, path: &str) -> (StatusCode, Option<String>, String) {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::empty()).unwrap()).await;
        (status, location, body)
    }

    async fn login(&mut self, username: &str, password: &str) -> StatusCode {
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("username={username}&password={password}")))
            .unwrap();
        let (status, _, _, cookies) = self.send(request).await;
        if let Some(cookie) = cookies.iter().find(|c| c.starts_with("jiceng_session=")) {
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
            self.cookie = cookie.split(';').next().map(str::to_string);
        }
        status
    }
}

/// A resident of `community` (the first household's head).
async fn resident_in(store: &Store, community: &str) -> ResidentVersion {
    let registry = store.registry();
    let grids = registry.grids_in_community(&code(community)).await.unwrap();
    let buildings = registry.buildings_in_grid(&code("440307"), grids[0].grid.id).await.unwrap();
    let households = registry.households_in_building(&code("440307"), buildings[0].building.id).await.unwrap();
    registry.household_members(&code("440307"), households[0].household_id).await.unwrap().remove(0)
}

#[tokio::test]
async fn login_browse_to_a_resident_and_see_their_history() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let mut client = Client::new(store);
        let (status, location, _) = client.get("/regions/440307").await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")), "login required");
        assert_eq!(client.login("admin", "wrong-password").await, StatusCode::UNAUTHORIZED);
        assert_eq!(client.login("admin", "password-123").await, StatusCode::SEE_OTHER);

        let (_, location, _) = client.get("/").await;
        assert_eq!(location.as_deref(), Some("/regions/440307"));
        let (status, _, body) = client.get("/regions/440307").await;
        assert_eq!(status, StatusCode::OK, "{}", db.label);
        assert!(body.contains("龙岗区") && body.contains("平湖街道") && body.contains(">400<"), "{body}");
        let (status, _, body) = client.get("/regions/440307003002").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("第1网格"));

        let resident = resident_in(store, "440307003002").await;
        let county = "440307";
        let (status, _, body) = client.get(&format!("/households/{county}/{}", resident.facts.household_id)).await;
        assert_eq!(status, StatusCode::OK);
        let id = resident.facts.identity.number().unwrap();
        assert!(body.contains(&id.masked()) && !body.contains(id.as_str()), "lists show masked numbers");

        // Change the phone number: a new version appears in the history.
        let mut changed: ResidentFacts = resident.facts.clone();
        changed.phone = Some(Phone::parse("13912345678").unwrap());
        store
            .registry()
            .record_resident_change(&code(county), resident.resident_id, &changed, date!(2026 - 11 - 20), "worker_a")
            .await
            .unwrap();
        let path = format!("/residents/{county}/{}", resident.resident_id);
        let (status, _, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{}", db.label);
        assert!(body.contains(id.as_str()), "the record page shows the full number");
        assert!(body.contains("13912345678") && body.contains("变更：联系电话") && body.contains("worker_a"), "{body}");
        let (status, _, body) = client.get(&format!("{path}?as_of=2026-11-19")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("<dd>13912345678</dd>"), "the past version shows the old phone");
        let (status, _, _) = client.get(&format!("{path}?as_of=2026-13-01")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, _, _) = client.get("/regions/44030700300x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = client.get(&format!("/residents/{county}/{}", uuid::Uuid::nil())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Logging out ends the session.
        let request = Request::post("/logout")
            .header(header::COOKIE, client.cookie.clone().unwrap())
            .body(Body::empty())
            .unwrap();
        client.send(request).await;
        let (status, _, _) = client.get("/regions/440307").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_worker_cannot_open_another_community() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let mut client = Client::new(store);
        assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
        let own = resident_in(store, "440307003002").await;
        let other = resident_in(store, "440307003004").await;
        let (status, _, _) = client.get(&format!("/residents/440307/{}", own.resident_id)).await;
        assert_eq!(status, StatusCode::OK);
        for path in [
            format!("/residents/440307/{}", other.resident_id),
            format!("/households/440307/{}", other.facts.household_id),
            "/regions/440307003004".to_string(),
            "/regions/440307".to_string(),
        ] {
            let (status, _, body) = client.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{}: {path}", db.label);
            assert!(!body.contains(other.facts.name.as_str()), "{path} leaks a name");
        }
        db.finish().await;
    }
}
