//! What every page test stands on: a seeded store (two communities of Longgang, three
//! users) and a client that drives the router without a socket, on SQLite and PostgreSQL.

pub(crate) use axum::body::Body;
pub(crate) use axum::http::{Request, StatusCode, header};
pub(crate) use jiceng_domain::org::{DivisionCode, Role};
pub(crate) use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
pub(crate) use jiceng_store::Store;
pub(crate) use jiceng_store::org::{Divisions, LoadScope, NewUser, reference};
pub(crate) use jiceng_store::registry::ResidentVersion;
pub(crate) use jiceng_store::testing;
pub(crate) use time::macros::date;
pub(crate) use tower::ServiceExt;

pub(crate) use crate::{AppState, router};

pub(crate) fn code(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap()
}

/// Two communities of Longgang with a small population, and three users.
pub(crate) async fn seed(store: &Store) {
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
        add_user(store, username, role, scope).await;
    }
}

/// A user named `username` (display name the same, password `password-123`) with one scope.
pub(crate) async fn add_user(store: &Store, username: &str, role: Role, scope: &str) {
    let user = NewUser {
        username: username.into(),
        display_name: username.into(),
        password: "password-123".into(),
        role,
        scopes: vec![code(scope)],
    };
    store.users().add(&user).await.unwrap();
}

/// A server state with a private uploads folder of its own (kept for the test run).
pub(crate) fn test_state(store: &Store) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    let config = crate::ServerConfig {
        secure_cookies: false,
        data_dir: dir,
        read_limits: Default::default(),
        error_file_ttl: std::time::Duration::from_secs(3600),
        metrics: Default::default(),
        linkage: Default::default(),
    };
    AppState::new(store.clone(), config).unwrap()
}

pub(crate) struct Client {
    pub(crate) app: axum::Router,
    pub(crate) cookie: Option<String>,
}

impl Client {
    pub(crate) fn new(store: &Store) -> Self {
        Client { app: router(test_state(store)), cookie: None }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, String, Vec<String>) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let cookies =
            response.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let body = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
        (status, location, String::from_utf8_lossy(&body).into_owned(), cookies)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Option<String>, String) {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::empty()).unwrap()).await;
        (status, location, body)
    }

    pub(crate) async fn post(&self, path: &str, form: &str) -> (StatusCode, Option<String>, String) {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::from(form.to_string())).unwrap()).await;
        (status, location, body)
    }

    pub(crate) async fn post_json(&self, path: &str, json: &str, csrf: &str) -> (StatusCode, String) {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/json").header("x-csrf-token", csrf);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, _, body, _) = self.send(request.body(Body::from(json.to_string())).unwrap()).await;
        (status, body)
    }

    /// The session's CSRF token, as the pages carry it.
    pub(crate) async fn csrf(&self) -> String {
        let (_, _, body) = self.get("/account/password").await;
        let marker = "name=\"csrf\" value=\"";
        let start = body.find(marker).expect("a CSRF field") + marker.len();
        body[start..start + 32].to_string()
    }

    /// A client signed in as `username` (a seeded user, password `password-123`).
    pub(crate) async fn signed_in(store: &Store, username: &str) -> Self {
        let mut client = Client::new(store);
        assert_eq!(client.login(username, "password-123").await, StatusCode::SEE_OTHER, "{username} signs in");
        client
    }

    pub(crate) async fn login(&mut self, username: &str, password: &str) -> StatusCode {
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
pub(crate) async fn resident_in(store: &Store, community: &str) -> ResidentVersion {
    let registry = store.registry();
    let grids = registry.grids_in_community(&code(community)).await.unwrap();
    let buildings = registry.buildings_in_grid(&code("440307"), grids[0].grid.id).await.unwrap();
    let households = registry.households_in_building(&code("440307"), buildings[0].building.id).await.unwrap();
    registry.household_members(&code("440307"), households[0].household_id).await.unwrap().remove(0)
}

/// Registers a landlord named `name` in `community` (county 440307).
pub(crate) async fn landlord(store: &Store, community: &str, name: &str, phone: &str) -> uuid::Uuid {
    store
        .fieldwork()
        .register_party(&jiceng_store::fieldwork::NewParty {
            county: code("440307"),
            community: code(community),
            kind: jiceng_domain::fieldwork::PartyKind::Landlord,
            name: name.into(),
            contact: String::new(),
            phone: jiceng_domain::registry::Phone::parse(phone).expect("a phone"),
        })
        .await
        .expect("a landlord")
}

pub(crate) fn purpose(path: &str) -> String {
    format!("{path}?purpose=verification")
}

/// A multipart form with the CSRF token and one file, as a browser sends it.
pub(crate) fn multipart(csrf: &str, file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "jicengBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"encoding\"\r\n\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Client {
    pub(crate) async fn upload(
        &self,
        csrf: &str,
        file_name: &str,
        content: &[u8],
    ) -> (StatusCode, Option<String>, String) {
        let (content_type, body) = multipart(csrf, file_name, content);
        let mut request = Request::post("/imports").header(header::CONTENT_TYPE, content_type);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::from(body)).unwrap()).await;
        (status, location, body)
    }

    /// Polls an import's page until it shows its summary.
    pub(crate) async fn finished(&self, path: &str) -> String {
        for _ in 0..200 {
            let (status, _, body) = self.get(path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body.contains("data-summary") || body.contains("class=\"error\"") {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the import at {path} did not finish");
    }
}

pub(crate) fn summary_count(body: &str, key: &str) -> u64 {
    let marker = format!("data-key=\"{key}\">");
    let Some(start) = body.find(&marker) else { panic!("no summary card {key} in {body}") };
    let start = start + marker.len();
    let rest = &body[start..];
    let b = rest.find("<b>").unwrap() + 3;
    rest[b..].split('<').next().unwrap().parse().unwrap()
}
