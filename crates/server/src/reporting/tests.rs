//! The review chain and reports through the pages.

use crate::testing::*;

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
            add_user(store, username, role, scope).await;
        }
        let own = resident_in(store, "440307003002").await;
        let r = own.resident_id;
        let today = time::OffsetDateTime::now_utc().date();

        let worker = Client::signed_in(store, "worker_a").await;
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

        let specialist = Client::signed_in(store, "spec_a").await;
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

        let street = Client::signed_in(store, "street_a").await;
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

/// A service provider, who may not open events, cannot resubmit a returned one either:
/// every step of the chain goes through the one permission check (the review changed a
/// returned event to submitted as a service provider).
#[tokio::test]
async fn a_service_provider_cannot_resubmit_a_returned_event() {
    for db in testing::backends().await {
        let store = &db.store;
        seed(store).await;
        add_user(store, "provider", Role::ServiceProvider, "440307003002").await;
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
        let client = Client::signed_in(store, "provider").await;
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
