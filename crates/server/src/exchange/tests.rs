//! Uploads through the router: imports landing, rejected rows, private short-lived files.

use crate::testing::*;

#[tokio::test]
async fn a_worker_uploads_a_sheet_sees_it_land_and_downloads_the_rejected_rows() {
    let db = testing::sqlite().await;
    let store = &db.store;
    seed(store).await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/src/exchange/import/fixtures");
    let client = Client::signed_in(store, "worker_a").await;
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
    let exports = store.audit().for_target(Some("440307"), "export/440307003002", 10).await.unwrap();
    assert_eq!(exports.len(), 1);
    let (status, _, _) = client.get("/regions/440307003004/export?format=csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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
        metrics: Default::default(),
        linkage: Default::default(),
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
