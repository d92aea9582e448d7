//! Sign-in, accounts and access through the router: locked accounts, scope on every route, administrators, headers and request ids.

use crate::testing::*;

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
        let client = Client::signed_in(store, "worker_a").await;
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
        let party = landlord(store, "440307003004", "乙房东", "13800002222").await;
        // A department of B with a token, and a record it sent about somebody in B.
        let linkage = store.linkage();
        let department = linkage
            .register_department(&jiceng_store::linkage::NewDepartment {
                code: "B-MZ".into(),
                name: "乙民政".into(),
                kind: jiceng_domain::linkage::DepartmentKind::CivilAffairs,
                region: code("440307003004"),
                feeds: Vec::new(),
            })
            .await
            .unwrap();
        let (token, _) = linkage.create_token(&department, "B").await.unwrap();
        let death = jiceng_domain::linkage::feed::read_record(
            jiceng_domain::linkage::FeedKind::Death,
            &[
                (jiceng_domain::linkage::FeedColumn::RecordNo, "B-1"),
                (jiceng_domain::linkage::FeedColumn::OccurredOn, "2026-11-01"),
                (jiceng_domain::linkage::FeedColumn::Name, "乙某"),
                (jiceng_domain::linkage::FeedColumn::Community, "440307003004"),
            ],
        )
        .unwrap();
        let row = jiceng_files::linkage::feed::FeedRow { line: 2, cells: Vec::new(), record: Ok(death) };
        let today = time::OffsetDateTime::now_utc().date();
        let settings = jiceng_domain::linkage::Settings { random_pairs: 1000, ..Default::default() };
        let receipt = linkage
            .receive(&department, jiceng_domain::linkage::FeedKind::Death, "b.csv", vec![row], &settings, today)
            .await
            .unwrap();
        let incoming =
            linkage.records(&code("440307003004"), None, jiceng_domain::linkage::FeedKind::ALL, 1).await.unwrap()[0].id;
        assert_eq!(receipt.received, 1);
        let dept = department.id;
        // B's grid handed to a third community: A is neither side.
        let handover = store
            .exchange()
            .propose_handover(&jiceng_store::exchange::NewHandover {
                county: code("440307"),
                kind: jiceng_domain::exchange::handover::HandoverKind::Grid,
                subject: g,
                target: jiceng_store::exchange::HandoverTarget::Community(code("440307003001")),
            })
            .await
            .unwrap()
            .id;
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
            // Departments' feeds are the district office's; B's records are B's.
            "/feeds".to_string(),
            "/feeds/records/440307003004".to_string(),
            format!("/feeds/review/440307/{incoming}"),
            "/feeds/thresholds/440307".to_string(),
            // Partner regions and packages are the district office's.
            "/exchange".to_string(),
            "/exchange/partners/440307/430702/reconciliation".to_string(),
            format!("/handovers/new/buildings/440307/{b}"),
            format!("/handovers/new/grids/440307/{g}"),
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
            ("/feeds/departments".to_string(), format!("csrf={csrf}&code=X&name=x&kind=education&region=440307003004")),
            (format!("/feeds/departments/440307/{dept}/tokens"), format!("csrf={csrf}&label=x")),
            (format!("/feeds/departments/440307/{dept}/tokens/{token}/revoke"), format!("csrf={csrf}")),
            ("/feeds/upload".to_string(), format!("csrf={csrf}")),
            (format!("/feeds/review/440307/{incoming}"), format!("csrf={csrf}&person=none")),
            (
                "/exchange/partners".to_string(),
                format!(
                    "csrf={csrf}&county=440307&partner=430702&name=x&starts_on=2026-01-01&every_months=6&public_key=x"
                ),
            ),
            ("/exchange/partners/440307/430702/export".to_string(), format!("csrf={csrf}")),
            ("/exchange/partners/440307/430702/acknowledge".to_string(), format!("csrf={csrf}")),
            ("/exchange/packages".to_string(), format!("csrf={csrf}")),
            ("/handovers".to_string(), format!("csrf={csrf}&kind=building&county=440307&subject={b}&target={g}")),
            (format!("/handovers/440307/{handover}/decide"), format!("csrf={csrf}&decision=accept")),
            (format!("/handovers/440307/{handover}/withdraw"), format!("csrf={csrf}")),
            (format!("/handovers/440307/{handover}/resume"), format!("csrf={csrf}")),
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
                    .replace(&dept.to_string(), "{id}")
                    .replace(&incoming.to_string(), "{id}")
                    .replace(&token.to_string(), "{token}")
                    .replace(&handover.to_string(), "{id}")
                    .replace("/430702/", "/{partner}/")
                    .replace("/feeds/thresholds/440307", "/feeds/thresholds/{code}")
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
                // Counts without personal data, behind its own token (ops tests).
                "/metrics",
                // A department's token, not a session: it reaches its own department's
                // county only (linkage tests).
                "/api/feeds/{kind}",
                // Lists only handovers from or to the user's own communities.
                "/handovers",
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
        let real_ids = [r, h, g, b, event, party, attachment, admin_b, dept, incoming, token, handover];
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
    let client = Client::signed_in(store, "street_admin").await;
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
