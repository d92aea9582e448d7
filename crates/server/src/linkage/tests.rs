//! Department feeds through the server: the API with a department's token (a revoked
//! token and a kind not its own refused), and a possible match reviewed side by side
//! and accepted into the review chain.

use jiceng_domain::linkage::feed::{FeedColumn, read_record};
use jiceng_domain::linkage::{DepartmentKind, FeedKind, FeedOutcome};
use jiceng_files::linkage::feed::FeedRow;
use jiceng_store::linkage::{Department, NewDepartment};

use crate::testing::*;

async fn civil_affairs(store: &Store) -> Department {
    store
        .linkage()
        .register_department(&NewDepartment {
            code: "MZ".into(),
            name: "区民政局".into(),
            kind: DepartmentKind::CivilAffairs,
            region: code("440307"),
            feeds: Vec::new(),
        })
        .await
        .unwrap()
}

async fn send(client: &Client, kind: &str, token: Option<&str>, json: &str) -> (StatusCode, String) {
    let mut request = Request::post(format!("/api/feeds/{kind}")).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, _, body, _) = client.send(request.body(Body::from(json.to_string())).unwrap()).await;
    (status, body)
}

#[tokio::test]
async fn a_department_sends_records_with_its_token_once_and_a_revoked_token_is_refused() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        seed(store).await;
        let department = civil_affairs(store).await;
        let (token_id, token) = store.linkage().create_token(&department, "接口").await.unwrap();
        let person = resident_in(store, "440307003002").await;
        let yesterday = time::OffsetDateTime::now_utc().date() - time::Duration::days(1);
        let json = format!(
            r#"{{"records":[{{"record_no":"MZ-7","died_on":"{yesterday}","name":"{}","dob":"{}","id_number":"{}"}}]}}"#,
            person.facts.name,
            person.facts.birth_date,
            person.facts.identity.number().unwrap()
        );
        let client = Client::new(store);
        let (status, body) = send(&client, "death", Some(&token), &json).await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((answer["received"].as_u64(), answer["events"].as_u64()), (Some(1), Some(1)), "{label}: {body}");
        assert_eq!(answer["outcomes"]["matched"].as_u64(), Some(1));
        let (_, body) = send(&client, "death", Some(&token), &json).await;
        let again: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((again["received"].as_u64(), again["already_received"].as_u64()), (Some(0), Some(1)), "{label}");
        // A record that cannot be read is refused by its index, with the field named.
        let (_, body) =
            send(&client, "death", Some(&token), r#"{"records":[{"record_no":"MZ-8","died_on":"x","name":"某"}]}"#)
                .await;
        assert!(body.contains(r#""index":0"#) && body.contains("died_on"), "{label}: {body}");
        // Not its kind; no token; a wrong one; a revoked one.
        assert_eq!(send(&client, "vaccination", Some(&token), &json).await.0, StatusCode::FORBIDDEN);
        assert_eq!(send(&client, "death", None, &json).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(send(&client, "death", Some("jcf_guess"), &json).await.0, StatusCode::UNAUTHORIZED);
        store.linkage().revoke_token(&department, token_id).await.unwrap();
        let (status, body) = send(&client, "death", Some(&token), &json).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}: {body}");
        db.finish().await;
    }
}

#[tokio::test]
async fn a_reviewer_compares_a_possible_match_side_by_side_and_accepts_it() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        seed(store).await;
        add_user(store, "spec_a", Role::Specialist, "440307003002").await;
        let department = civil_affairs(store).await;
        let person = resident_in(store, "440307003002").await;
        // A sibling of the same name and birthday without an ID number: the department's
        // record, without one either, could be either of them.
        let twin = jiceng_domain::registry::ResidentFacts {
            identity: jiceng_domain::registry::Identity::Missing(jiceng_domain::registry::IdMissingReason::Unknown),
            relationship: jiceng_domain::registry::Relationship::Other,
            phone: None,
            ..person.facts.clone()
        };
        store.registry().add_resident(&code("440307"), &twin, date!(2020 - 01 - 01), "t").await.unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let on = (today - time::Duration::days(3)).to_string();
        let (name, born) = (person.facts.name.to_string(), person.facts.birth_date.to_string());
        let record = read_record(
            FeedKind::Marriage,
            &[
                (FeedColumn::RecordNo, "MZ-21"),
                (FeedColumn::OccurredOn, on.as_str()),
                (FeedColumn::Name, name.as_str()),
                (FeedColumn::BirthDate, born.as_str()),
                (FeedColumn::Community, "440307003002"),
            ],
        )
        .unwrap();
        let row = FeedRow { line: 2, cells: vec![("姓名".into(), name.clone())], record: Ok(record) };
        let settings = jiceng_domain::linkage::Settings { random_pairs: 20_000, ..Default::default() };
        let receipt = store
            .linkage()
            .receive(&department, FeedKind::Marriage, "m.csv", vec![row], &settings, today)
            .await
            .unwrap();
        assert_eq!(receipt.outcomes.get("possible"), Some(&1), "{label}: {receipt:?}");

        let client = Client::signed_in(store, "spec_a").await;
        let csrf = client.csrf().await;
        let (status, _, body) = client.get("/feeds/records/440307003002?outcome=possible").await;
        assert_eq!(status, StatusCode::OK, "{label}");
        let start = body.find("/feeds/review/440307/").expect("a link to the review");
        let path = body[start..start + "/feeds/review/440307/".len() + 36].to_string();
        let (status, _, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert!(body.contains("候选人") && body.contains(&name) && body.contains("权重"), "{label}: {body}");
        let (status, location, body) = client.post(&path, &format!("csrf={csrf}&person={}", person.resident_id)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{label}: {body}");
        assert!(location.unwrap().starts_with("/events/440307/"), "{label}: the marriage goes up the chain");
        let matched =
            store.linkage().records(&code("440307"), Some(FeedOutcome::Matched), FeedKind::ALL, 5).await.unwrap();
        assert_eq!(matched[0].person_id, Some(person.resident_id), "{label}");
        // The grid worker of the community may not take in files or manage departments.
        let worker = Client::signed_in(store, "worker_a").await;
        assert_eq!(worker.get("/feeds").await.0, StatusCode::FORBIDDEN);
        // The district office sees the thresholds page with the decision counted.
        let admin = Client::signed_in(store, "admin").await;
        let (status, _, body) = admin.get("/feeds/thresholds/440307").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<svg") && body.contains("100.0%"), "{label}: {body}");
        db.finish().await;
    }
}
