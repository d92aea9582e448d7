//! The JSON API through the router, read and changed as the pages do.

use crate::testing::*;

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
