//! The exchange page: an administrator adds a partner with its public key; with the
//! county's key on the server, a package downloads signed and addressed to the
//! partner; the partner's package uploads once (again: nothing changes) and a damaged
//! one is refused with the reason.

use std::collections::BTreeMap;

use jiceng_domain::exchange::package::{Manifest, PackageKind, RecordKind};
use jiceng_files::exchange::ReadLimits;
use jiceng_files::exchange::package::{self as files, Algorithm, PackageWriter, PrivateKey};
use uuid::Uuid;

use crate::testing::*;

fn upload_request(client: &Client, csrf: &str, bytes: &[u8]) -> Request<Body> {
    let boundary = "jicengBoundaryExchange";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"武陵-1.jxp\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = Request::post("/exchange/packages")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    if let Some(cookie) = &client.cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(body)).unwrap()
}

/// 武陵's package to 龙岗: the death of one of 龙岗's residents, by ID number.
fn partner_package(key: &PrivateKey, person: &ResidentVersion) -> Vec<u8> {
    let mut writer = PackageWriter::new(key.algorithm).unwrap();
    let died = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    let fields = BTreeMap::from([
        ("record_no".to_string(), "x".to_string()),
        ("died_on".to_string(), died.to_string()),
        ("name".to_string(), person.facts.name.as_str().to_string()),
        ("id_number".to_string(), person.facts.identity.number().unwrap().as_str().to_string()),
    ]);
    writer.push(RecordKind::Death, Uuid::now_v7(), fields).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let manifest = Manifest {
        sender_name: "武陵区".into(),
        receiver_name: "龙岗区".into(),
        fields: vec!["id_number".into()],
        ..Manifest::new(PackageKind::Exchange, code("430702"), code("440307"), 1, now)
    };
    let mut out = Vec::new();
    writer.finish(manifest, key, &mut out).unwrap();
    out
}

#[tokio::test]
async fn partners_are_added_and_packages_go_both_ways_through_the_page() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        seed(store).await;
        let state = test_state(store);
        let keys = state.exchange_keys.clone();
        let mut client = Client { app: router(state), cookie: None };
        assert_eq!(client.login("admin", "password-123").await, StatusCode::SEE_OTHER);
        let csrf = client.csrf().await;
        let (status, _, body) = client.get("/exchange").await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert!(body.contains("尚未登记协作地区"), "{label}");

        let partner_key = PrivateKey::generate(Algorithm::Sm2);
        let public = partner_key.public();
        let encoded: String = url_encode(&public.to_text());
        let form = format!(
            "csrf={csrf}&county=440307&partner=430702&name=%E6%AD%A6%E9%99%B5%E5%8C%BA&contact_name=&contact_phone=&starts_on=2026-01-01&ends_on=&field_id_number=on&field_sex=on&every_months=6&public_key={encoded}"
        );
        let (status, location, body) = client.post("/exchange/partners", &form).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/exchange")), "{label}: {body}");
        let (_, _, body) = client.get("/exchange").await;
        assert!(body.contains("430702 武陵区") && body.contains(&public.fingerprint()), "{label}: {body}");
        // Without this county's key on the server there is no export button.
        assert!(body.contains("服务器无本方私钥"), "{label}");

        let ours = files::keygen(&keys.join("440307"), Algorithm::Ed25519).unwrap();
        let (_, _, body) = client.get("/exchange").await;
        assert!(body.contains("/exchange/partners/440307/430702/export"), "{label}");
        let mut request = Request::post("/exchange/partners/440307/430702/export")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        request = request.header(header::COOKIE, client.cookie.clone().unwrap());
        let response =
            client.app.clone().oneshot(request.body(Body::from(format!("csrf={csrf}"))).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let disposition = response.headers().get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().to_string();
        assert!(disposition.contains("exchange-440307-to-430702-1.jxp"), "{label}: {disposition}");
        let bytes = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        let verified = files::verify(file.path(), &ReadLimits::default(), |_| Ok(ours.clone())).unwrap();
        assert_eq!(verified.manifest.receiver, code("430702"), "{label}");
        assert_eq!(verified.manifest.fields, vec!["sex".to_string(), "id_number".to_string()], "{label}");

        // The partner's package: applied once, then again changes nothing.
        let person = resident_in(store, "440307003002").await;
        let package = partner_package(&partner_key, &person);
        let (status, _, body, _) = client.send(upload_request(&client, &csrf, &package)).await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert!(body.contains("新收 1 条") && body.contains("提交变动 1 件"), "{label}: {body}");
        let (status, _, body, _) = client.send(upload_request(&client, &csrf, &package)).await;
        assert_eq!(status, StatusCode::OK, "{label}");
        assert!(body.contains("已导入过"), "{label}: {body}");
        let mut damaged = package.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 0x20;
        let (status, _, body, _) = client.send(upload_request(&client, &csrf, &damaged)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}: {body}");
        assert!(body.contains("武陵-1.jxp：拒收"), "{label}: {body}");
        // The partner's row shows what was received and that it waits for an acknowledgement.
        let (_, _, body) = client.get("/exchange").await;
        assert!(body.contains("第1号") && body.contains("/acknowledge"), "{label}: {body}");
        // The reconciliation page, and its workbook.
        let (status, _, body) = client.get("/exchange/partners/440307/430702/reconciliation").await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert!(body.contains("半年对账") && body.contains("?format=xlsx"), "{label}");
        let mut request = Request::get("/exchange/partners/440307/430702/reconciliation?format=xlsx");
        request = request.header(header::COOKIE, client.cookie.clone().unwrap());
        let response = client.app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let bytes = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
        assert!(bytes.starts_with(b"PK"), "{label}: an xlsx file");
        db.finish().await;
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}
