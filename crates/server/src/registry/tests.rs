//! Registry pages through the router: browsing, finding, changing records, the language switch, audited reads and refused input.

use crate::testing::*;

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
        let was = store.fieldwork().last_verified(&code(county), resident.resident_id).await.unwrap();
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
    landlord(store, "440307003002", "甲房东", "13800001111").await;
    let client = Client::signed_in(store, "worker_a").await;
    for (path, target) in [
        (format!("/buildings/440307/{b}"), format!("building/440307/{b}")),
        (format!("/residents/440307/{r}/edit"), format!("resident/440307/{r}")),
        (format!("/households/440307/{h}/newborn"), format!("household/440307/{h}")),
        ("/parties/440307003002".to_string(), "parties/440307003002".to_string()),
        ("/coverage/440307003002".to_string(), "coverage/440307003002".to_string()),
        ("/coverage/440307003002?format=xlsx".to_string(), "coverage/440307003002".to_string()),
    ] {
        let before = store.audit().for_target(Some("440307"), &target, 100).await.unwrap().len();
        let (status, _, _) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let after = store.audit().for_target(Some("440307"), &target, 100).await.unwrap();
        assert_eq!(after.len(), before + 1, "{path} is not audited");
        assert_eq!(after[0].actor, "worker_a");
    }
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
    let client = Client::signed_in(store, "worker_a").await;
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
