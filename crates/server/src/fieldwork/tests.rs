//! Tiers, visits and landlords through the pages.

use crate::testing::*;

/// The record shows the follow-up tier with its reasons; recording housing, work and
/// phone reassesses it; an override needs a reason; the tiers page lists the change.
#[tokio::test]
async fn the_record_shows_the_tier_and_staff_can_correct_its_inputs() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        let today = time::OffsetDateTime::now_utc().date();
        store.fieldwork().reassess_community(&code("440307003002"), today).await.unwrap();
        let own = resident_in(store, "440307003002").await;
        let path = format!("/residents/440307/{}", own.resident_id);
        let client = Client::signed_in(store, "worker_a").await;
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
        let client = Client::signed_in(store, "worker_a").await;
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
        assert_eq!(store.fieldwork().visit_count(&code("440307"), id).await.unwrap(), 1);
        assert_eq!(store.fieldwork().last_verified(&code("440307"), own.resident_id).await.unwrap(), Some(today));
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
        let client = Client::signed_in(store, "worker_a").await;
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
