//! Page tests through the router (no socket), on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
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

/// A server state with a private uploads folder of its own (kept for the test run).
fn test_state(store: &Store) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    let config = crate::ServerConfig {
        secure_cookies: false,
        data_dir: dir,
        read_limits: Default::default(),
        error_file_ttl: std::time::Duration::from_secs(3600),
    };
    AppState::new(store.clone(), config).unwrap()
}

struct Client {
    app: axum::Router,
    cookie: Option<String>,
}

impl Client {
    fn new(store: &Store) -> Self {
        Client { app: router(test_state(store)), cookie: None }
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

    async fn post(&self, path: &str, form: &str) -> (StatusCode, Option<String>, String) {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::from(form.to_string())).unwrap()).await;
        (status, location, body)
    }

    async fn post_json(&self, path: &str, json: &str, csrf: &str) -> (StatusCode, String) {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/json").header("x-csrf-token", csrf);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, _, body, _) = self.send(request.body(Body::from(json.to_string())).unwrap()).await;
        (status, body)
    }

    /// The session's CSRF token, as the pages carry it.
    async fn csrf(&self) -> String {
        let (_, _, body) = self.get("/account/password").await;
        let marker = "name=\"csrf\" value=\"";
        let start = body.find(marker).expect("a CSRF field") + marker.len();
        body[start..start + 32].to_string()
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

fn purpose(path: &str) -> String {
    format!("{path}?purpose=verification")
}

#[tokio::test]
async fn login_browse_find_edit_and_see_the_history() {
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
        let households: u64 = store
            .registry()
            .grids_in_community(&code("440307003002"))
            .await
            .unwrap()
            .iter()
            .map(|g| g.households)
            .sum();
        assert!(body.contains(&format!("户 Households<b>{households}</b>")), "{body}");

        let resident = resident_in(store, "440307003002").await;
        let county = "440307";
        let (status, _, body) = client.get(&format!("/households/{county}/{}", resident.facts.household_id)).await;
        assert_eq!(status, StatusCode::OK);
        let id = resident.facts.identity.number().unwrap();
        assert!(body.contains(&id.masked()) && !body.contains(id.as_str()), "lists show masked numbers");

        // Search by pinyin initials finds the resident; the list is masked.
        let initials = jiceng_domain::registry::pinyin::name_initials(resident.facts.name.as_str());
        let (status, _, body) = client.get(&format!("/search?q={initials}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(resident.facts.name.as_str()) && !body.contains(id.as_str()), "{body}");

        // The record asks for a purpose first; then it shows the full number.
        let path = format!("/residents/{county}/{}", resident.resident_id);
        let (status, _, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("name=\"purpose\"") && !body.contains(id.as_str()));
        let (_, _, body) = client.get(&purpose(&path)).await;
        assert!(body.contains(id.as_str()), "the record page shows the full number");

        // Edit the phone: a form with a CSRF token; errors name the field.
        let csrf = client.csrf().await;
        let form = |phone: &str, token: &str| {
            format!(
                "csrf={token}&name={}&phone={phone}&marital_status={}&residence_status={}&arrival_date={}&ethnicity={}&relationship={}&valid_from=2026-11-20",
                resident.facts.name,
                resident.facts.marital_status.key(),
                resident.facts.residence_status.key(),
                resident.facts.arrival_date.map(|d| d.to_string()).unwrap_or_default(),
                resident.facts.ethnicity.code(),
                resident.facts.relationship.key(),
            )
        };
        let edit = format!("{path}/edit");
        let (status, _, _) = client.post(&edit, &form("13912345678", "forged")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a missing or wrong CSRF token is refused");
        let (status, _, body) = client.post(&edit, &form("12345", &csrf)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-field=\"phone\""), "{body}");
        let (status, location, _) = client.post(&edit, &form("139-1234-5678", &csrf)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.label);
        let (_, _, body) = client.get(location.as_deref().unwrap()).await;
        assert!(body.contains("13912345678") && body.contains("变更：联系电话") && body.contains("admin"), "{body}");
        let (status, _, body) = client.get(&format!("{path}?purpose=verification&as_of=2026-11-19")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("<dd>13912345678</dd>"), "the past version shows the old phone");
        let (status, _, _) = client.get(&format!("{path}?purpose=verification&as_of=2026-13-01")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Who looked: the access log lists the reads with their purpose.
        let (status, _, body) = client.get(&format!("{path}/access")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.matches("核实信息").count() >= 2 && body.contains("修改"), "{body}");
        assert!(store.audit().verify(None).await.unwrap().entries >= 6);

        // A new household in a building, then moved to another room.
        let building = store
            .registry()
            .household(&code(county), resident.facts.household_id)
            .await
            .unwrap()
            .unwrap()
            .location
            .building_id;
        let (status, _, body) = client
            .post(
                &format!("/buildings/{county}/{building}/households"),
                &format!("csrf={csrf}&building={building}&unit_no=1&floor_no=999&room_no=&valid_from=2026-11-20"),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-field=\"floor_no\"") && body.contains("data-field=\"room_no\""), "{body}");
        let (status, location, _) = client
            .post(
                &format!("/buildings/{county}/{building}/households"),
                &format!("csrf={csrf}&building={building}&unit_no=1&floor_no=2&room_no=299&valid_from=2026-11-20"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.label);
        let new_household = location.unwrap();
        let (status, location, _) = client
            .post(
                &format!("{new_household}/move"),
                &format!("csrf={csrf}&building={building}&unit_no=1&floor_no=3&room_no=398&valid_from=2026-11-21"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, body) = client.get(location.as_deref().unwrap()).await;
        assert!(body.contains("398") && body.contains("299"), "the move is in the household's history: {body}");

        // A newborn joins the household; a departure ends a record.
        let household = resident.facts.household_id;
        let (status, location, body) = client
            .post(
                &format!("/households/{county}/{household}/newborn"),
                &format!("csrf={csrf}&name=张小花&sex=2&birth_date=2026-11-01&id_number=&ethnicity=01&relationship=30"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}: {body}", db.label);
        // A birth is reported through the chain: the event page, not yet the record.
        let event_page = location.unwrap();
        assert!(event_page.starts_with("/events/"), "{event_page}");
        let (_, _, body) = client.get(&event_page).await;
        assert!(body.contains("张小花") && body.contains("待社区审核"), "{body}");
        // Confirming the record stamps its last-verified date and lowers the unverified count.
        let unverified = |body: &str| {
            let marker = "未核实 Unverified<b>";
            let start = body.find(marker).expect("an unverified card") + marker.len();
            body[start..].split('<').next().unwrap().parse::<u64>().unwrap()
        };
        let (_, _, body) = client.get("/regions/440307003002").await;
        let before = unverified(&body);
        let cutoff = jiceng_domain::fieldwork::unverified_before(time::OffsetDateTime::now_utc().date());
        let was = store.registry().last_verified(&code(county), resident.resident_id).await.unwrap();
        let expected = if was.is_none_or(|d| d < cutoff) { before - 1 } else { before };
        let (status, _, _) =
            client.post(&format!("{path}/verify"), &format!("csrf={csrf}&method=in_person&date=2026-13-01")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "an impossible date is refused");
        let (status, _, _) =
            client.post(&format!("{path}/verify"), &format!("csrf={csrf}&method=phone&date=2026-11-21")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, body) = client.get(&purpose(&path)).await;
        assert!(body.contains("<dd>2026-11-21</dd>") && body.contains("电话核实"), "{body}");
        let (_, _, body) = client.get("/regions/440307003002").await;
        assert_eq!(unverified(&body), expected, "last verified {was:?}");

        let (status, location, _) =
            client.post(&format!("{path}/exit"), &format!("csrf={csrf}&reason=moved_away&date=2026-11-22")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(location.unwrap().starts_with("/events/"));
        let (_, _, body) = client.get(&purpose(&path)).await;
        assert!(body.contains("待审变动") && body.contains("迁出"), "the departure shows as pending: {body}");

        let (status, _, _) = client.get("/regions/44030700300x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = client.get(&purpose(&format!("/residents/{county}/{}", uuid::Uuid::nil()))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Logging out needs the token too, and ends the session.
        let (status, _, _) = client.post("/logout", "csrf=forged").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        client.post("/logout", &format!("csrf={csrf}")).await;
        let (status, _, _) = client.get("/regions/440307").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        db.finish().await;
    }
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_and_cross_site_posts_fail() {
    let db = testing::sqlite().await;
    seed(&db.store).await;
    let mut client = Client::new(&db.store);
    for _ in 0..5 {
        assert_eq!(client.login("worker_a", "nope").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::UNAUTHORIZED, "locked");
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "jiceng.example")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from("username=admin&password=password-123"))
        .unwrap();
    let (status, _, _, _) = client.send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    db.finish().await;
}

/// Every route of the router, with the IDs of community B filled in, refuses a user
/// scoped to community A: pages, forms, search and the record itself.
#[tokio::test]
async fn a_worker_scoped_to_one_community_cannot_reach_another_by_any_route() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let mut client = Client::new(store);
        assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
        let csrf = client.csrf().await;
        let own = resident_in(store, "440307003002").await;
        let other = resident_in(store, "440307003004").await;
        let (status, _, _) = client.get(&purpose(&format!("/residents/440307/{}", own.resident_id))).await;
        assert_eq!(status, StatusCode::OK);

        let registry = store.registry();
        let grid = registry.grids_in_community(&code("440307003004")).await.unwrap().remove(0).grid;
        let building = registry.buildings_in_grid(&code("440307"), grid.id).await.unwrap().remove(0).building;
        let (r, h, g, b) = (other.resident_id, other.facts.household_id, grid.id, building.id);
        let admin_b = store.users().by_username("worker_b").await.unwrap().unwrap().id;
        let job = uuid::Uuid::now_v7();
        // A change event about B's resident, with an attachment.
        let worker_b = jiceng_store::reporting::Actor { username: "worker_b", role: Role::GridWorker };
        let event = store
            .reporting()
            .submit(
                &jiceng_store::reporting::NewEvent {
                    county: code("440307"),
                    resident_id: Some(other.resident_id),
                    occurred_on: time::OffsetDateTime::now_utc().date(),
                    urgent: false,
                    evidence: String::new(),
                    details: jiceng_domain::reporting::EventDetails::Marriage { partner: None },
                },
                worker_b,
                time::OffsetDateTime::now_utc().date(),
            )
            .await
            .unwrap();
        let attachment = store
            .reporting()
            .attach(&code("440307"), event, "证明.pdf", "application/pdf", b"%PDF", worker_b)
            .await
            .unwrap();
        // A landlord in B.
        let party = registry
            .register_party(
                &jiceng_store::fieldwork::NewParty {
                    county: code("440307"),
                    community: code("440307003004"),
                    kind: jiceng_domain::fieldwork::PartyKind::Landlord,
                    name: "乙房东".into(),
                    contact: String::new(),
                    phone: jiceng_domain::registry::Phone::parse("13800002222").unwrap(),
                },
                "worker_b",
            )
            .await
            .unwrap();
        let gets = [
            "/admin/users".to_string(),
            "/regions/440307003004".to_string(),
            "/regions/440307003004/export?format=csv".to_string(),
            // Another user's import (tested with a real one in the upload test).
            format!("/imports/{job}"),
            format!("/imports/{job}/errors"),
            "/regions/440307003".to_string(),
            "/regions/440307".to_string(),
            format!("/grids/440307/{g}"),
            format!("/buildings/440307/{b}"),
            format!("/households/440307/{h}"),
            format!("/households/440307/{h}/newborn"),
            format!("/households/440307/{h}/move"),
            format!("/buildings/440307/{b}/households"),
            format!("/residents/440307/{r}"),
            purpose(&format!("/residents/440307/{r}")),
            format!("/residents/440307/{r}/edit"),
            format!("/residents/440307/{r}/access"),
            "/api/regions/440307003004".to_string(),
            format!("/api/residents/440307/{r}?purpose=verification"),
            format!("/api/residents/440307/{r}/history?purpose=verification"),
            format!("/api/households/440307/{h}"),
            "/events?node=440307003004".to_string(),
            format!("/events/new?county=440307&resident={r}&kind=death"),
            format!("/events/440307/{event}"),
            format!("/events/440307/{event}/attachments/{attachment}"),
            "/reports/440307003004?period=2026-10".to_string(),
            "/reports/440307003004/export?period=2026-10&format=csv".to_string(),
            "/api/reports/440307003004?period=2026-10".to_string(),
            "/tiers/440307003004".to_string(),
            "/today?node=440307003004".to_string(),
            "/coverage/440307003004".to_string(),
            "/parties/440307003004".to_string(),
            format!("/parties/440307/{party}"),
        ];
        let posts = [
            (
                format!("/households/440307/{h}/newborn"),
                format!("csrf={csrf}&name=某某&sex=1&birth_date=2026-11-01&id_number=&ethnicity=01&relationship=20"),
            ),
            (
                format!("/residents/440307/{r}/edit"),
                format!(
                    "csrf={csrf}&name=某某&phone=&marital_status=10&residence_status=inflow&arrival_date=&ethnicity=01&relationship=02&valid_from=2026-11-20"
                ),
            ),
            (format!("/residents/440307/{r}/exit"), format!("csrf={csrf}&reason=died&date=2026-11-20")),
            (format!("/residents/440307/{r}/verify"), format!("csrf={csrf}&method=in_person&date=2026-11-20")),
            ("/admin/users".to_string(), format!("csrf={csrf}&username=x&role=district&scopes=440307")),
            (
                format!("/buildings/440307/{b}/households"),
                format!("csrf={csrf}&building={b}&unit_no=1&floor_no=1&room_no=101&valid_from=2026-11-20"),
            ),
            (
                format!("/households/440307/{h}/move"),
                format!("csrf={csrf}&building={b}&unit_no=1&floor_no=1&room_no=109&valid_from=2026-11-20"),
            ),
            (format!("/admin/users/{admin_b}"), format!("csrf={csrf}&action=reset")),
            ("/admin/locks".to_string(), format!("csrf={csrf}&key=account:admin_b")),
            (
                "/events/decisions".to_string(),
                format!("csrf={csrf}&action=approve&id=440307:{event}&node=440307003002"),
            ),
            (
                "/events/new".to_string(),
                format!("csrf={csrf}&county=440307&resident={r}&kind=death&occurred_on=2026-11-20"),
            ),
            (format!("/events/440307/{event}/decision"), format!("csrf={csrf}&action=approve")),
            (format!("/events/440307/{event}/resubmit"), format!("csrf={csrf}&occurred_on=2026-11-20")),
            (format!("/events/440307/{event}/attachments"), format!("csrf={csrf}")),
            ("/reports/440307003004/approval".to_string(), format!("csrf={csrf}&month=2026-10&action=approve")),
            (
                format!("/residents/440307/{r}/stability"),
                format!("csrf={csrf}&housing=owned&work=fixed_employer&phone=yes"),
            ),
            (format!("/residents/440307/{r}/tier"), format!("csrf={csrf}&tier=concern&reason=x")),
            (
                "/parties/440307003004".to_string(),
                format!("csrf={csrf}&kind=landlord&name=x&contact=&phone=13800003333"),
            ),
            (format!("/parties/440307/{party}/units"), format!("csrf={csrf}&household_no=x")),
            (
                format!("/parties/440307/{party}/lines"),
                format!("csrf={csrf}&movement=arrival&name=某某&id_number=x&date=2026-11-20"),
            ),
            (format!("/parties/440307/{party}/upload"), format!("csrf={csrf}")),
        ];
        let visit_json = format!(
            r#"{{"id":"{}","county":"440307","household_id":"{h}","visited_on":"2026-11-20","outcome":"seen"}}"#,
            uuid::Uuid::now_v7()
        );
        let json_posts = [
            (format!("/api/residents/440307/{r}"), r#"{"valid_from":"2026-11-20","phone":"13900000000"}"#),
            (format!("/api/residents/440307/{r}/exit"), r#"{"reason":"died","date":"2026-11-20"}"#),
            (format!("/api/residents/440307/{r}/verifications"), r#"{"method":"phone","date":"2026-11-20"}"#),
            ("/api/visits".to_string(), visit_json.as_str()),
        ];
        // The test must cover every route the router has (all but the open ones).
        let covered: std::collections::HashSet<String> = gets
            .iter()
            .chain(posts.iter().map(|(p, _)| p))
            .chain(json_posts.iter().map(|(p, _)| p))
            .map(|p| {
                p.split('?')
                    .next()
                    .unwrap()
                    .replace(&r.to_string(), "{id}")
                    .replace(&h.to_string(), "{id}")
                    .replace(&g.to_string(), "{id}")
                    .replace(&b.to_string(), "{id}")
                    .replace(&admin_b.to_string(), "{id}")
                    .replace(&job.to_string(), "{id}")
                    .replace(&attachment.to_string(), "{attachment}")
                    .replace(&event.to_string(), "{id}")
                    .replace(&party.to_string(), "{id}")
                    .replace("440307003004", "{code}")
                    .replace("/440307/", "/{county}/")
            })
            .collect();
        for route in crate::routes() {
            // Routes that show no other community's data whatever the IDs: the user's own
            // pages, search (tested below with B's ID, name and initials) and the API description.
            let open = [
                "/",
                "/login",
                "/logout",
                "/regions",
                "/search",
                "/api/search",
                "/api/openapi.json",
                "/healthz",
                "/lang/{lang}",
                // The upload form; rows of other communities are rejected (upload test).
                "/imports",
                "/account/password",
                // Redirects to the user's own area's report.
                "/reports",
            ]
            .contains(&route);
            assert!(open || covered.contains(route), "route {route} is not exercised by the scope test");
        }
        for path in &gets {
            let (status, _, body) = client.get(path).await;
            assert!(
                matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "{}: {path} gave {status}",
                db.label
            );
            assert!(!body.contains(other.facts.name.as_str()), "{path} leaks a name");
        }
        for (path, form) in &posts {
            let (status, _, _) = client.post(path, form).await;
            assert!(
                matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "{}: POST {path} gave {status}",
                db.label
            );
        }
        for (path, json) in &json_posts {
            let (status, body) = client.post_json(path, json, &csrf).await;
            assert!(
                matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                "{}: POST {path} gave {status}: {body}",
                db.label
            );
        }
        // Out of scope reads exactly like unknown (ADR 004): each request again with every
        // real ID of B replaced by a random one gives the same status and the same text.
        let real_ids = [r, h, g, b, event, party, attachment, admin_b];
        let random_ids: Vec<uuid::Uuid> = real_ids.iter().map(|_| uuid::Uuid::now_v7()).collect();
        let unknown = |text: &str| {
            real_ids
                .iter()
                .zip(&random_ids)
                .fold(text.to_string(), |t, (real, random)| t.replace(&real.to_string(), &random.to_string()))
        };
        let same_text = |text: &str| {
            let mut text = text.to_string();
            for id in real_ids.iter().chain(&random_ids) {
                text = text.replace(&id.to_string(), "{id}");
            }
            text
        };
        for path in &gets {
            let ((s1, _, b1), (s2, _, b2)) = (client.get(path).await, client.get(&unknown(path)).await);
            assert_eq!((s1, same_text(&b1)), (s2, same_text(&b2)), "{}: GET {path}", db.label);
        }
        for (path, form) in &posts {
            let ((s1, _, b1), (s2, _, b2)) =
                (client.post(path, form).await, client.post(&unknown(path), &unknown(form)).await);
            assert_eq!((s1, same_text(&b1)), (s2, same_text(&b2)), "{}: POST {path}", db.label);
        }
        for (path, json) in &json_posts {
            let (s1, b1) = client.post_json(path, json, &csrf).await;
            let (s2, b2) = client.post_json(&unknown(path), &unknown(json), &csrf).await;
            assert_eq!((s1, same_text(&b1)), (s2, same_text(&b2)), "{}: POST {path}", db.label);
        }
        // Search: by ID number, name and initials, nothing of community B comes back.
        let id = other.facts.identity.number().unwrap().to_string();
        let initials = jiceng_domain::registry::pinyin::name_initials(other.facts.name.as_str());
        for q in [id.clone(), initials, other.facts.name.to_string()] {
            for page in ["/search", "/api/search"] {
                let (_, _, body) = client.get(&format!("{page}?q={q}")).await;
                assert!(!body.contains(&other.resident_id.to_string()), "{page} {q} leaks a resident of B");
            }
        }
        // Nothing was changed in B.
        let after = store.registry().resident(&code("440307"), r).await.unwrap().unwrap();
        assert_eq!(after.stamp.version, other.stamp.version);
        assert_eq!(
            store.registry().household_members(&code("440307"), h).await.unwrap().len(),
            registry.household_members(&code("440307"), h).await.unwrap().len()
        );
        db.finish().await;
    }
}

#[test]
fn every_path_is_mounted_once() {
    let mut paths = crate::routes();
    let all = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), all, "a path is mounted by two features");
}

#[tokio::test]
async fn an_administrator_creates_users_inside_their_own_scope() {
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    store
        .users()
        .add(&NewUser {
            username: "street_admin".into(),
            display_name: "街道管理员".into(),
            password: "password-123".into(),
            role: Role::Administrator,
            scopes: vec![code("440307003")],
        })
        .await
        .unwrap();
    let mut client = Client::new(store);
    assert_eq!(client.login("street_admin", "password-123").await, StatusCode::SEE_OTHER);
    let csrf = client.csrf().await;
    let (status, _, body) = client.get("/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("worker_a") && !body.contains(">admin<"), "only users inside the scope are listed");
    let (status, _, body) = client
        .post("/admin/users", &format!("csrf={csrf}&username=zhang&display_name=&role=specialist&scopes=440307006001"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a scope outside one's own is refused");
    assert!(body.contains("outside your own scope"));
    let (status, _, body) = client
        .post("/admin/users", &format!("csrf={csrf}&username=zhang&display_name=&role=specialist&scopes=440307003002"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let start = body.find("initial password: ").unwrap() + "initial password: ".len();
    let password: String = body[start..].chars().take(14).collect();
    let mut zhang = Client::new(store);
    assert_eq!(zhang.login("zhang", &password).await, StatusCode::SEE_OTHER);
    let id = store.users().by_username("zhang").await.unwrap().unwrap().id;
    let (status, _, _) = client.post(&format!("/admin/users/{id}"), &format!("csrf={csrf}&action=disable")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = zhang.get("/regions/440307003002").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "disabling ends the sessions");
    db.finish().await;
}

#[tokio::test]
async fn the_json_api_reads_and_changes_records_as_the_pages_do() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let mut client = Client::new(store);
        let (status, _, body) = client.get("/api/regions/440307").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
        let csrf = client.csrf().await;

        let (status, _, body) = client.get("/api/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        for route in crate::routes().into_iter().filter(|r| r.starts_with("/api/") && *r != "/api/openapi.json") {
            assert!(doc["paths"].get(route).is_some(), "{route} is missing from the OpenAPI document");
        }

        let (status, _, body) = client.get("/api/regions/440307003002").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let node: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(node["name"], "良安田社区居委会");
        assert!(node["residents"].as_u64().unwrap() > 0);

        let resident = resident_in(store, "440307003002").await;
        let path = format!("/api/residents/440307/{}", resident.resident_id);
        let (status, _, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a purpose is required: {body}");
        let (status, _, body) = client.get(&format!("{path}?purpose=service")).await;
        assert_eq!(status, StatusCode::OK);
        let record: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(record["id_number"], resident.facts.identity.number().unwrap().as_str());

        let change = r#"{"valid_from":"2026-11-21","phone":"139 0000 1111"}"#;
        let (status, body) = client.post_json(&path, change, "forged").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains(r#""code":"forbidden""#), "the API refuses in JSON: {body}");
        let (status, body) = client.post_json(&path, r#"{"valid_from":"2026-11-21","phone":"12"}"#, &csrf).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("\"code\":\"bad_request\"") && body.contains("phone"), "{body}");
        let (status, body) = client.post_json(&path, change, &csrf).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", db.label);
        let record: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((record["phone"].as_str(), record["version"].as_i64()), (Some("13900001111"), Some(2)));
        let (_, _, body) = client.get(&format!("{path}/history?purpose=verification")).await;
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len(), 2);

        let (status, _, body) = client.get("/api/search?q=%E2%80%8B").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let initials = jiceng_domain::registry::pinyin::name_initials(resident.facts.name.as_str());
        let (_, _, body) = client.get(&format!("/api/search?q={initials}")).await;
        assert!(
            body.contains(&resident.resident_id.to_string())
                && !body.contains(resident.facts.identity.number().unwrap().as_str())
        );
        let (status, _, body) = client.get(&format!("/api/households/440307/{}", resident.facts.household_id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = client
            .post_json(&format!("{path}/verifications"), r#"{"method":"by_magic","date":"2026-11-21"}"#, &csrf)
            .await;
        assert!(status == StatusCode::BAD_REQUEST && body.contains("method"), "{body}");
        let (status, body) = client
            .post_json(&format!("{path}/verifications"), r#"{"method":"document","date":"2026-11-21"}"#, &csrf)
            .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"last_verified":"2026-11-21"}"#));
        let (status, body) =
            client.post_json(&format!("{path}/exit"), r#"{"reason":"moved_away","date":"2026-11-22"}"#, &csrf).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let receipt: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (status, _, _) = client.get(&format!("{path}?purpose=service")).await;
        assert_eq!(status, StatusCode::OK, "the record stays current until the district accepts");
        let event = uuid::Uuid::parse_str(receipt["id"].as_str().unwrap()).unwrap();
        let admin = jiceng_store::reporting::Actor { username: "admin", role: Role::Administrator };
        for _ in 0..3 {
            let today = time::OffsetDateTime::now_utc().date();
            store
                .reporting()
                .decide(&code("440307"), event, jiceng_domain::reporting::EventAction::Approve, None, admin, today)
                .await
                .unwrap();
        }
        let (status, _, _) = client.get(&format!("{path}?purpose=service")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "an ended record is no longer current");
        db.finish().await;
    }
}

#[tokio::test]
async fn the_language_switch_shows_pages_in_english() {
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let mut client = Client::new(store);
    // The login page switches too, before anyone is logged in.
    let (status, location, body) = client.get("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<html lang=\"zh-CN\">") && body.contains("用户名 Username") && body.contains(">English</a>")
    );
    let request = Request::get("/lang/en?back=/login").body(Body::empty()).unwrap();
    let (status, location_en, _, cookies) = client.send(request).await;
    assert_eq!((status, location_en.as_deref()), (StatusCode::SEE_OTHER, Some("/login")), "{location:?}");
    assert!(cookies.iter().any(|c| c.starts_with("jiceng_lang=en")), "{cookies:?}");
    // The switch never sends anyone to another site.
    for back in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
        "/x%0d%0aSet-Cookie:%20a=b",
    ] {
        let request = Request::get(format!("/lang/en?back={back}")).body(Body::empty()).unwrap();
        let (_, location, _, _) = client.send(request).await;
        assert_eq!(location.as_deref(), Some("/"), "{back}");
    }

    assert_eq!(client.login("admin", "password-123").await, StatusCode::SEE_OTHER);
    let session = client.cookie.clone().unwrap();
    client.cookie = Some(format!("{session}; jiceng_lang=en"));
    let (_, _, body) = client.get("/regions/440307003002").await;
    assert!(body.contains("<html lang=\"en\">") && body.contains(">中文</a>"), "{body}");
    assert!(body.contains("Residents<b>") && body.contains("Households<b>") && !body.contains("居民"), "{body}");
    assert!(body.contains("village/community") && !body.contains("村级"), "levels are named in English");

    let resident = resident_in(store, "440307003002").await;
    let path = format!("/residents/440307/{}", resident.resident_id);
    let (_, _, body) = client.get(&path).await;
    assert!(body.contains("verifying the record") && !body.contains("核实信息"), "purposes in English: {body}");
    let (_, _, body) = client.get(&purpose(&path)).await;
    let sex = resident.facts.sex.label_en();
    assert!(body.contains("Date of birth") && body.contains(&format!("<dd>{sex}</dd>")), "{body}");
    assert!(body.contains(resident.facts.ethnicity.label_en()) && body.contains("First recorded"), "{body}");
    for label in ["出生日期", "性别", "变更记录", "首次登记", "登记死亡或迁出"] {
        assert!(!body.contains(label), "{label} is shown on the English page");
    }
    // Names, places and other data stay as recorded.
    assert!(body.contains(resident.facts.name.as_str()));

    let (_, _, body) = client.get(&format!("{path}/edit")).await;
    assert!(body.contains("Marital status") && !body.contains("婚姻状况"), "{body}");
    assert!(
        body.contains(jiceng_domain::registry::ResidenceStatus::Inflow.label_en()),
        "select options in English: {body}"
    );

    // Switching back brings the Chinese pages (with English beside each label) again.
    client.cookie = Some(format!("{session}; jiceng_lang=zh"));
    let (_, _, body) = client.get("/regions/440307003002").await;
    assert!(body.contains("居民 Residents<b>") && body.contains("<html lang=\"zh-CN\">"));
}

/// A multipart form with the CSRF token and one file, as a browser sends it.
fn multipart(csrf: &str, file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
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
    async fn upload(&self, csrf: &str, file_name: &str, content: &[u8]) -> (StatusCode, Option<String>, String) {
        let (content_type, body) = multipart(csrf, file_name, content);
        let mut request = Request::post("/imports").header(header::CONTENT_TYPE, content_type);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let (status, location, body, _) = self.send(request.body(Body::from(body)).unwrap()).await;
        (status, location, body)
    }

    /// Polls an import's page until it shows its summary.
    async fn finished(&self, path: &str) -> String {
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

fn summary_count(body: &str, key: &str) -> u64 {
    let marker = format!("data-key=\"{key}\">");
    let Some(start) = body.find(&marker) else { panic!("no summary card {key} in {body}") };
    let start = start + marker.len();
    let rest = &body[start..];
    let b = rest.find("<b>").unwrap() + 3;
    rest[b..].split('<').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_worker_uploads_a_sheet_sees_it_land_and_downloads_the_rejected_rows() {
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/src/exchange/import/fixtures");
    let mut client = Client::new(store);
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
    let csrf = client.csrf().await;
    let (status, _, body) = client.get("/imports").await;
    assert!(status == StatusCode::OK && body.contains("multipart/form-data"), "{body}");

    let content = std::fs::read(fixtures.join("duplicates.csv")).unwrap();
    let (status, _, _) = client.upload("forged", "dup.csv", &content).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the upload needs the form's token");
    let (status, _, body) = client.upload(&csrf, "dup.txt", &content).await;
    assert!(status == StatusCode::BAD_REQUEST && body.contains("not a .csv"), "{body}");
    let (status, location, _) = client.upload(&csrf, "dup.csv", &content).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location.unwrap();
    let body = client.finished(&job).await;
    assert_eq!((summary_count(&body, "created"), summary_count(&body, "rejected")), (3, 2), "{body}");
    let (status, _, errors) = client.get(&format!("{job}/errors")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(errors.contains("repeats row 2") && errors.contains("错误原因"), "{errors}");

    // The same sheet for community B: every row is outside worker A's scope.
    let text = String::from_utf8(std::fs::read(fixtures.join("valid-utf8-bom.csv")).unwrap()).unwrap();
    let other = text.replace("440307003002", "440307003004");
    let (_, location, _) = client.upload(&csrf, "other.csv", other.as_bytes()).await;
    let body = client.finished(&location.unwrap()).await;
    assert_eq!((summary_count(&body, "created"), summary_count(&body, "rejected")), (0, 4), "{body}");

    // Worker B cannot see worker A's import; the audit log has both imports.
    let mut other_client = Client::new(store);
    other_client.cookie = None;
    assert_eq!(other_client.login("worker_b", "password-123").await, StatusCode::SEE_OTHER);
    let (status, _, _) = other_client.get(&job).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = other_client.get(&format!("{job}/errors")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Export: the community as a file in the import's columns, audited.
    let (status, _, body) = client.get("/regions/440307003002/export?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("\u{feff}户编号,社区代码") && body.contains("张伟"), "{}", &body[..200.min(body.len())]);
    assert!(!body.contains("440307003004,"), "only the user's community is exported");
    let exports = store.audit().for_target("export/440307003002", 10).await.unwrap();
    assert_eq!(exports.len(), 1);
    let (status, _, _) = client.get("/regions/440307003004/export?format=csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    db.finish().await;
}

/// The chain on the pages: a worker reports a death, the specialist finds it in the
/// queue and approves it in bulk, the street returns it, the worker resubmits, and the
/// event page tells the story; the report pages and exports answer.
#[tokio::test]
async fn an_event_goes_through_the_pages_and_reports_export() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        for (username, role, scope) in
            [("spec_a", Role::Specialist, "440307003002"), ("street_a", Role::Street, "440307003")]
        {
            let user = NewUser {
                username: username.into(),
                display_name: username.into(),
                password: "password-123".into(),
                role,
                scopes: vec![code(scope)],
            };
            store.users().add(&user).await.unwrap();
        }
        let own = resident_in(store, "440307003002").await;
        let r = own.resident_id;
        let today = time::OffsetDateTime::now_utc().date();

        let mut worker = Client::new(store);
        worker.login("worker_a", "password-123").await;
        let csrf = worker.csrf().await;
        let (status, _, body) = worker.get(&format!("/events/new?county=440307&resident={r}")).await;
        assert_eq!(status, StatusCode::OK, "{}", db.label);
        assert!(body.contains("死亡"), "the form offers the kinds of event about a person");
        // A date in the future is refused beside the form, nothing is stored.
        let future = today + time::Duration::days(3);
        let (status, _, body) = worker
            .post("/events/new", &format!("csrf={csrf}&county=440307&resident={r}&kind=death&occurred_on={future}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("晚于今天"), "{}: {body}", db.label);
        let (status, location, _) = worker
            .post(
                "/events/new",
                &format!("csrf={csrf}&county=440307&resident={r}&kind=death&occurred_on={today}&evidence=死亡医学证明"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.label);
        let event_path = location.unwrap();
        let key = event_path.trim_start_matches("/events/").replace('/', ":");
        let (_, _, record) = worker.get(&purpose(&format!("/residents/440307/{r}"))).await;
        assert!(record.contains("待审变动"), "{}: the record shows the pending change", db.label);

        let mut specialist = Client::new(store);
        specialist.login("spec_a", "password-123").await;
        let spec_csrf = specialist.csrf().await;
        let (_, _, queue) = specialist.get("/events").await;
        assert!(queue.contains(own.facts.name.as_str()), "{}: the queue names the resident", db.label);
        let (status, _, body) = specialist
            .post(
                "/events/decisions",
                &format!("csrf={spec_csrf}&node=440307003002&state=submitted&action=approve&id={key}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("已处理 1 件"), "{}: {body}", db.label);

        let mut street = Client::new(store);
        street.login("street_a", "password-123").await;
        let street_csrf = street.csrf().await;
        let (status, _, body) =
            street.post(&format!("{event_path}/decision"), &format!("csrf={street_csrf}&action=return&reason=")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("退回必须说明原因"), "{}: a return needs a reason", db.label);
        street
            .post(&format!("{event_path}/decision"), &format!("csrf={street_csrf}&action=return&reason=缺少证明"))
            .await;
        let (status, _, _) = worker
            .post(&format!("{event_path}/resubmit"), &format!("csrf={csrf}&occurred_on={today}&evidence=已补证明"))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, page) = worker.get(&event_path).await;
        for step in ["上报", "审核通过", "退回", "修改后重报", "缺少证明", "待社区审核"] {
            assert!(page.contains(step), "{}: event page lacks {step}", db.label);
        }
        // Nothing reached the registry before acceptance.
        assert!(store.registry().resident(&code("440307"), r).await.unwrap().is_some());

        // Reports: the page, the files, the API.
        let month = jiceng_domain::reporting::Month::of(today).previous();
        let (status, _, page) = specialist.get(&format!("/reports/440307003002?period={month}")).await;
        assert_eq!(status, StatusCode::OK, "{}", db.label);
        assert!(page.contains("svg") && page.contains("population.end"), "{}", db.label);
        for (format, starts) in [("xlsx", "PK"), ("csv", "\u{feff}"), ("dhis2", "{"), ("adx", "<?xml")] {
            let (status, _, body) =
                specialist.get(&format!("/reports/440307003002/export?period={month}&format={format}")).await;
            assert_eq!(status, StatusCode::OK, "{format}");
            assert!(body.starts_with(starts), "{format}: {}", &body[..body.len().min(40)]);
        }
        let (status, _, json) = specialist.get(&format!("/api/reports/440307003002?period={month}")).await;
        assert_eq!(status, StatusCode::OK);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(value["figures"]["population.end"].as_f64().unwrap() > 0.0, "{}: {json}", db.label);
        // The street cannot approve its own month before the community has.
        let (_, _, body) = street
            .post("/reports/440307003/approval", &format!("csrf={street_csrf}&month={month}&action=approve"))
            .await;
        assert!(body.contains("下级尚未全部审核"), "{}: {body}", db.label);
        db.finish().await;
    }
}

/// The record shows the follow-up tier with its reasons; recording housing, work and
/// phone reassesses it; an override needs a reason; the tiers page lists the change.
#[tokio::test]
async fn the_record_shows_the_tier_and_staff_can_correct_its_inputs() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let today = time::OffsetDateTime::now_utc().date();
        store.registry().reassess_community(&code("440307003002"), today).await.unwrap();
        let own = resident_in(store, "440307003002").await;
        let path = format!("/residents/440307/{}", own.resident_id);
        let mut client = Client::new(store);
        client.login("worker_a", "password-123").await;
        let csrf = client.csrf().await;
        let (_, _, body) = client.get(&purpose(&path)).await;
        assert!(body.contains("随访等级") && body.contains("下次核实"), "{}: {body}", db.label);
        let (status, _, _) = client
            .post(&format!("{path}/stability"), &format!("csrf={csrf}&housing=dormitory&work=none_known&phone=no"))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{}", db.label);
        let (_, _, body) = client.get(&purpose(&path)).await;
        assert!(
            body.contains("集体宿舍") && body.contains("上次拨打未接通"),
            "{}: the reasons name the answers",
            db.label
        );
        let (status, _, body) =
            client.post(&format!("{path}/tier"), &format!("csrf={csrf}&tier=reassured&reason=")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", db.label);
        let (status, _, _) =
            client.post(&format!("{path}/tier"), &format!("csrf={csrf}&tier=reassured&reason=长期稳定租户")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _, body) = client.get("/tiers/440307003002").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("长期稳定租户") && body.contains(own.facts.name.as_str()), "{}: {body}", db.label);
        db.finish().await;
    }
}

/// 今日走访: the plan is on the page; a visit posted twice (as the page does after an
/// offline spell) is recorded once and verifies the household's members.
#[tokio::test]
async fn todays_visits_are_planned_and_recorded_once() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let own = resident_in(store, "440307003002").await;
        let mut client = Client::new(store);
        client.login("worker_a", "password-123").await;
        let csrf = client.csrf().await;
        let (status, _, body) = client.get("/today").await;
        assert_eq!(status, StatusCode::OK, "{}", db.label);
        assert!(body.contains(&own.facts.household_id.to_string()), "{}: the household is on the plan", db.label);
        let id = uuid::Uuid::now_v7();
        let today = time::OffsetDateTime::now_utc().date();
        let json = format!(
            r#"{{"id":"{id}","county":"440307","household_id":"{}","visited_on":"{today}","outcome":"member","notes":"女儿在家"}}"#,
            own.facts.household_id
        );
        let (status, body) = client.post_json("/api/visits", &json, &csrf).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", db.label);
        assert!(body.contains(r#""duplicate":false"#), "{body}");
        let (status, body) = client.post_json("/api/visits", &json, &csrf).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#""duplicate":true"#), "{}: {body}", db.label);
        assert_eq!(store.registry().visit_count(&code("440307"), id).await.unwrap(), 1);
        assert_eq!(store.registry().last_verified(&code("440307"), own.resident_id).await.unwrap(), Some(today));
        let (status, body) = client.post_json("/api/visits", &json.replace("member", "dancing"), &csrf).await;
        assert!(status == StatusCode::BAD_REQUEST && body.contains("outcome"), "{body}");
        let (_, _, body) = client.get("/today").await;
        assert!(body.contains("同户成员确认"), "{}: today's visit is marked", db.label);
        let (status, _, body) = client.get("/coverage/440307003002").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("无责任人的网格"), "{}: unassigned grids are flagged", db.label);
        assert!(
            body.contains("未走访楼层") && body.contains("未覆盖户"),
            "{}: a community lists what was not reached",
            db.label
        );
        let (status, _, body) = client.get("/coverage/440307003002?format=xlsx").await;
        assert!(status == StatusCode::OK && body.starts_with("PK"), "{}", db.label);
        db.finish().await;
    }
}

/// 房东与用工单位: a worker registers a landlord, adds the unit, reports an arrival on the
/// form and a sheet with a bad row (refused whole, naming the file, row and field), then
/// the corrected sheet twice (sent once); the lines wait in the community's queue.
#[tokio::test]
async fn a_landlord_is_registered_and_reports_reach_the_community_queue() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        seed(store).await;
        let own = resident_in(store, "440307003002").await;
        let household = store.registry().household(&code("440307"), own.facts.household_id).await.unwrap().unwrap();
        let mut client = Client::new(store);
        client.login("worker_a", "password-123").await;
        let csrf = client.csrf().await;
        let (status, _, body) = client.get("/parties/440307003002").await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        let (status, _, body) =
            client.post("/parties/440307003002", &format!("csrf={csrf}&kind=landlord&name=陈房东&phone=12")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: a bad phone is named: {body}");
        let (status, location, _) = client
            .post(
                "/parties/440307003002",
                &format!("csrf={csrf}&kind=landlord&name=陈房东&contact=陈先生&phone=13800001111"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{label}");
        let party = location.unwrap();
        let (status, _, _) = client
            .post(&format!("{party}/units"), &format!("csrf={csrf}&household_no={}", household.household_no))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{label}");
        let today = time::OffsetDateTime::now_utc().date();
        let form = format!(
            "csrf={csrf}&movement=arrival&name=吴新&id_number=440307199001011232&date={today}&ethnicity=汉&phone="
        );
        let (status, _, body) = client.post(&format!("{party}/lines"), &form).await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert!(body.contains("已提交社区审核 1 条"), "{label}: {body}");

        let upload = |csv: String| {
            let boundary = "jicengboundary";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"十一月租户.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
            );
            let mut request = Request::post(format!("{party}/upload"))
                .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
            if let Some(cookie) = &client.cookie {
                request = request.header(header::COOKIE, cookie);
            }
            request.body(Body::from(body)).unwrap()
        };
        let bad = format!(
            "类型,姓名,身份证号,日期,民族\n入住,赵某,440307198803033455,{today},汉\n入住,钱某,440307198803033456,{today},汉\n"
        );
        let (status, _, body, _) = client.send(upload(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {body}");
        assert!(
            body.contains("十一月租户.csv 第3行 公民身份号码"),
            "{label}: the file, row and field are named: {body}"
        );
        let lines_before = store
            .reporting()
            .queue(&code("440307003002"), &[jiceng_domain::reporting::EventState::Submitted], 100)
            .await
            .unwrap()
            .len();
        let good = format!("类型,姓名,身份证号,日期,民族\n入住,赵某,440307198803033455,{today},汉\n");
        for round in 0..2 {
            let (status, _, body, _) = client.send(upload(good.clone())).await;
            assert_eq!(status, StatusCode::OK, "{label}: {body}");
            let expected = if round == 0 { "已提交社区审核 1 条" } else { "重复报告 1 条" };
            assert!(body.contains(expected), "{label} round {round}: {body}");
        }
        let queue = store
            .reporting()
            .queue(&code("440307003002"), &[jiceng_domain::reporting::EventState::Submitted], 100)
            .await
            .unwrap();
        assert_eq!(queue.len(), lines_before + 1, "{label}: the bad sheet added nothing, the good one one line");
        let (_, _, body) = client.get(&party).await;
        assert!(body.contains("吴新") && body.contains("赵某") && body.contains("待社区审核"), "{label}: {body}");
        assert!(!body.contains("440307199001011232"), "{label}: ID numbers are masked in the list");
        db.finish().await;
    }
}

/// A service provider, who may not open events, cannot resubmit a returned one either:
/// every step of the chain goes through the one permission check (the review changed a
/// returned event to submitted as a service provider).
#[tokio::test]
async fn a_service_provider_cannot_resubmit_a_returned_event() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        store
            .users()
            .add(&NewUser {
                username: "provider".into(),
                display_name: "provider".into(),
                password: "password-123".into(),
                role: Role::ServiceProvider,
                scopes: vec![code("440307003002")],
            })
            .await
            .unwrap();
        let resident = resident_in(store, "440307003002").await;
        let today = time::OffsetDateTime::now_utc().date();
        let worker = jiceng_store::reporting::Actor { username: "worker_a", role: Role::GridWorker };
        let event = store
            .reporting()
            .submit(
                &jiceng_store::reporting::NewEvent {
                    county: code("440307"),
                    resident_id: Some(resident.resident_id),
                    occurred_on: today,
                    urgent: false,
                    evidence: String::new(),
                    details: jiceng_domain::reporting::EventDetails::Marriage { partner: None },
                },
                worker,
                today,
            )
            .await
            .unwrap();
        let admin = jiceng_store::reporting::Actor { username: "admin", role: Role::Administrator };
        let returned = jiceng_domain::reporting::EventAction::Return;
        store.reporting().decide(&code("440307"), event, returned, Some("证明不全"), admin, today).await.unwrap();
        let mut client = Client::new(store);
        assert_eq!(client.login("provider", "password-123").await, StatusCode::SEE_OTHER);
        let csrf = client.csrf().await;
        let (status, _, _) = client
            .post(
                &format!("/events/440307/{event}/resubmit"),
                &format!("csrf={csrf}&occurred_on={today}&evidence=forged"),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", db.label);
        let stored = store.reporting().event(&code("440307"), event).await.unwrap().unwrap();
        assert_eq!(stored.state, jiceng_domain::reporting::EventState::Returned);
        db.finish().await;
    }
}

/// Every response carries a Content-Security-Policy whose nonce is the one on the page's
/// scripts, forbids framing, and is not cached.
#[tokio::test]
async fn pages_carry_a_script_nonce_policy_and_are_not_cached() {
    let db = testing::sqlite().await;
    seed(&db.store).await;
    let mut client = Client::new(&db.store);
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
    let mut request = Request::get("/today").body(Body::empty()).unwrap();
    request.headers_mut().insert(header::COOKIE, client.cookie.clone().unwrap().parse().unwrap());
    let response = client.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let policy = headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().to_string();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.split(';').any(|d| d.contains("script-src") && d.contains("unsafe-inline")), "{policy}");
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let nonce = policy.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
    let body = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(body.matches("<script").count(), body.matches(&format!("<script nonce=\"{nonce}\"")).count());
    assert!(body.contains(&format!("<script nonce=\"{nonce}\"")));
    assert!(!body.contains(" onclick="));
    // Each response has its own nonce.
    let (_, _, other) = client.get("/today").await;
    assert!(!other.contains(&nonce));
    db.finish().await;
}

/// Pages that show personal data outside a resident's record are audited like a record
/// read: a building's floor map (household heads), the edit and newborn forms, the
/// landlords list and the coverage lists of households not reached (page and xlsx).
#[tokio::test]
async fn every_page_showing_personal_data_is_audited() {
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let own = resident_in(store, "440307003002").await;
    let (r, h) = (own.resident_id, own.facts.household_id);
    let b = store.registry().household(&code("440307"), h).await.unwrap().unwrap().location.building_id;
    store
        .registry()
        .register_party(
            &jiceng_store::fieldwork::NewParty {
                county: code("440307"),
                community: code("440307003002"),
                kind: jiceng_domain::fieldwork::PartyKind::Landlord,
                name: "甲房东".into(),
                contact: String::new(),
                phone: jiceng_domain::registry::Phone::parse("13800001111").unwrap(),
            },
            "worker_a",
        )
        .await
        .unwrap();
    let mut client = Client::new(store);
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
    for (path, target) in [
        (format!("/buildings/440307/{b}"), format!("building/440307/{b}")),
        (format!("/residents/440307/{r}/edit"), format!("resident/440307/{r}")),
        (format!("/households/440307/{h}/newborn"), format!("household/440307/{h}")),
        ("/parties/440307003002".to_string(), "parties/440307003002".to_string()),
        ("/coverage/440307003002".to_string(), "coverage/440307003002".to_string()),
        ("/coverage/440307003002?format=xlsx".to_string(), "coverage/440307003002".to_string()),
    ] {
        let before = store.audit().for_target(&target, 100).await.unwrap().len();
        let (status, _, _) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let after = store.audit().for_target(&target, 100).await.unwrap();
        assert_eq!(after.len(), before + 1, "{path} is not audited");
        assert_eq!(after[0].actor, "worker_a");
    }
    db.finish().await;
}

/// Uploads are read from a private folder and removed once read; a file over a reading
/// limit fails its job naming the file as the person called it and the limit, never the
/// server's path; a 300-character name is no error; error files expire.
#[tokio::test]
async fn uploads_are_private_short_lived_and_their_failures_name_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let dir = tempfile::tempdir().unwrap().keep();
    let config = crate::ServerConfig {
        secure_cookies: false,
        data_dir: dir.clone(),
        read_limits: Default::default(),
        error_file_ttl: std::time::Duration::ZERO,
    };
    let state = AppState::new(store.clone(), config).unwrap();
    let uploads = state.imports.dir.clone();
    assert_eq!(std::fs::metadata(&uploads).unwrap().permissions().mode() & 0o777, 0o700);
    let mut client = Client { app: router(state), cookie: None };
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
    let csrf = client.csrf().await;

    // 50,000 columns: refused by the reader, the job names the file and the limit.
    let wide = format!("姓名,公民身份号码,社区代码,楼栋,房号\n张三{}\n", ",x".repeat(50_000));
    let (status, location, _) = client.upload(&csrf, "宽表.csv", wide.as_bytes()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let body = client.finished(&location.unwrap()).await;
    assert!(body.contains("宽表.csv") && body.contains("64"), "{body}");
    assert!(!body.contains(&*uploads.to_string_lossy()) && !body.contains("/tmp"), "{body}");

    // A long name is shortened for showing, never a 500.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/src/exchange/import/fixtures");
    let content = std::fs::read(fixtures.join("duplicates.csv")).unwrap();
    let long = format!("{}.csv", "居".repeat(300));
    let (status, location, _) = client.upload(&csrf, &long, &content).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location.unwrap();
    let body = client.finished(&job).await;
    assert_eq!(summary_count(&body, "rejected"), 2, "{body}");
    // The uploads are gone; only the error file is left, readable by its owner only.
    let left: Vec<std::path::PathBuf> = std::fs::read_dir(&uploads).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_string_lossy().contains(".errors."), "{left:?}");
    assert_eq!(std::fs::metadata(&left[0]).unwrap().permissions().mode() & 0o777, 0o600);
    // With a keeping time of zero, the error file has expired by the next look.
    let (status, _, _) = client.get(&format!("{job}/errors")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0);
    db.finish().await;
}

/// Bad input is a 400 naming the field, never a 500: an exit dated before the record's
/// current version, and arbitrary bodies sent to the JSON endpoints.
#[tokio::test]
async fn bad_input_is_refused_as_bad_input() {
    use rand::{Rng, SeedableRng};
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let mut client = Client::new(store);
    assert_eq!(client.login("worker_a", "password-123").await, StatusCode::SEE_OTHER);
    let csrf = client.csrf().await;
    let own = resident_in(store, "440307003002").await;
    let path = format!("/residents/440307/{}", own.resident_id);
    let (status, _, body) =
        client.post(&format!("{path}/exit"), &format!("csrf={csrf}&reason=died&date=1901-01-01")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("日期") && body.contains("1901-01-01"), "{body}");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for i in 0..150 {
        let len = rng.random_range(0..400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let body = if i % 3 == 0 {
            // Almost a visit: valid JSON with odd values.
            format!(
                r#"{{"id":"{}","county":"{}","household_id":"{}","visited_on":"{}","outcome":"{}"}}"#,
                uuid::Uuid::now_v7(),
                String::from_utf8_lossy(&bytes[..len.min(6)]).replace(['"', '\\'], ""),
                uuid::Uuid::now_v7(),
                ["2026-13-40", "", "2026-11-20", "9999-01-01"][i % 4],
                ["seen", "", "x", "absent"][i % 4]
            )
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        for endpoint in ["/api/visits", &format!("/api{path}/verifications"), &format!("/api{path}/exit")] {
            let (status, text) = client.post_json(endpoint, &body, &csrf).await;
            assert!(status.is_client_error(), "{endpoint} gave {status} for {body:?}: {text}");
        }
    }
    db.finish().await;
}

#[tokio::test]
async fn every_response_carries_its_request_id() {
    let db = testing::sqlite().await;
    let client = Client::new(&db.store);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = client.app.clone().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
        let id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
        ids.push(id.expect("x-request-id is set"));
    }
    assert_ne!(ids[0], ids[1]);
    assert!(uuid::Uuid::parse_str(&ids[0]).is_ok(), "{}", ids[0]);
}
