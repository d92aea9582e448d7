//! The `jiceng` binary as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use jiceng_store::testing;

fn jiceng(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jiceng");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn id_check_prints_json_per_input_and_fails_on_invalid() {
    let out = jiceng(&["id", "check", "--json", "11010519491231002x", "1234"], None);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["input"], "11010519491231002x");
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["normalized"], "11010519491231002X");
    assert_eq!(lines[0]["birth_date"], "1949-12-31");
    assert_eq!(lines[0]["sex"], "female");
    assert_eq!(lines[0]["county"], "110105");
    assert!(lines[0]["error"].is_null());
    assert_eq!(lines[1]["valid"], false);
    assert!(lines[1]["error"].as_str().unwrap().contains("18 characters"));

    // Standard input, one per line; the text form names the county.
    let out = jiceng(&["id", "check"], Some("11010519491231002X\n110105491231002\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("朝阳区") && text.contains("1949-12-31"), "{text}");
}

#[test]
fn generate_is_deterministic_and_writes_the_import_columns() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for path in [&a, &b] {
        let out = jiceng(
            &[
                "generate",
                "--residents",
                "1200",
                "--seed",
                "5",
                "--as-of",
                "2026-11-24",
                "--out",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap(), "same seed, same file");
    let mut lines = text.lines();
    let header = lines.next().unwrap().trim_start_matches('\u{feff}');
    assert!(header.starts_with("户编号,社区代码,社区,网格,楼栋,单元,楼层,房号,姓名,性别,公民身份号码"), "{header}");
    assert_eq!(lines.count(), 1200);
}

/// The story of a first day: build the demo database, add a grid worker, log in data
/// ready — on SQLite and on PostgreSQL.
#[tokio::test]
async fn demo_builds_a_database_and_users_can_be_added() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("demo.db");
    let mut targets = vec![("sqlite", vec!["--db".to_string(), sqlite.to_str().unwrap().to_string()], None)];
    if let Some(pg) = testing::postgres().await {
        let url = pg.connection_url();
        targets.push(("postgres", vec!["--database-url".to_string(), url], Some(pg)));
    }
    for (label, db, pg) in targets {
        let db: Vec<&str> = db.iter().map(String::as_str).collect();
        let run = |extra: &[&str], stdin: Option<&str>| {
            let args: Vec<&str> = db.iter().copied().chain(extra.iter().copied()).collect();
            jiceng(&args, stdin)
        };
        let out = run(&["demo", "--no-serve", "--residents", "3000", "--seed", "2"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(stdout(&out).contains("3000 居民"), "{label}: {}", stdout(&out));
        // A second run keeps the population and prints a fresh login.
        let out = run(&["demo", "--no-serve", "--residents", "3000"], None);
        assert!(stdout(&out).contains("跳过生成"), "{label}: {}", stdout(&out));

        // A year of events went through the chain; the figures agree with the registry,
        // and the JSON report is one object keyed by the stable indicator names.
        let out = run(&["report", "verify"], None);
        assert!(out.status.success(), "{label}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("agree with the registry"), "{label}: {}", stdout(&out));
        // Every projection agrees with the records; a corrupted floor counter is caught.
        let out = run(&["verify"], None);
        assert!(out.status.success(), "{label}: {}{}", stdout(&out), stderr(&out));
        for projection in ["report_cell", "floor_stock, floor_month", "resident_followup"] {
            assert!(stdout(&out).contains(&format!("440307 {projection}: ")), "{label}: {}", stdout(&out));
        }
        let store = match &pg {
            Some(pg) => pg.store.clone(),
            None => jiceng_store::Store::open(&jiceng_store::sqlite_url(&sqlite)).await.unwrap(),
        };
        store.raw_execute("UPDATE floor_stock SET residents = residents + 1").await.unwrap();
        let out = run(&["verify"], None);
        assert_eq!(out.status.code(), Some(1), "{label}: {}", stdout(&out));
        assert!(stdout(&out).contains("floor_stock, floor_month: "), "{label}: {}", stdout(&out));
        store.raw_execute("UPDATE floor_stock SET residents = residents - 1").await.unwrap();
        let out = run(&["verify", "--json"], None);
        assert!(out.status.success(), "{label}: {}", stdout(&out));
        let month = jiceng_domain::reporting::Month::of(time::OffsetDateTime::now_utc().date()).previous().to_string();
        let out = run(&["report", "--node", "440307", "--period", &month, "--format", "json"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let figures: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
        for (key, _, _) in jiceng_domain::reporting::INDICATORS {
            assert!(figures.contains_key(*key), "{label}: {key} missing from the JSON report");
        }
        assert!(figures["events.accepted"].as_i64().unwrap() > 0, "{label}: last month has accepted events");
        assert_eq!(
            figures["population.end"].as_i64().unwrap() - figures["population.start"].as_i64().unwrap(),
            figures["births"].as_i64().unwrap() + figures["moves_in"].as_i64().unwrap()
                - figures["deaths"].as_i64().unwrap()
                - figures["moves_out"].as_i64().unwrap()
                + figures["other_changes"].as_i64().unwrap(),
            "{label}: the balance holds"
        );
        let xlsx = dir.path().join(format!("report-{label}.xlsx"));
        let out = run(
            &["report", "--node", "440307", "--period", &month, "--format", "xlsx", "--out", xlsx.to_str().unwrap()],
            None,
        );
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(std::fs::read(&xlsx).unwrap().starts_with(b"PK"));
        let out = run(&["report", "deadlines", "--set", "community=5"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(stdout(&out).contains("community   5"), "{label}: {}", stdout(&out));
        let out = run(&["report", "deadlines", "--set", "mayor=5"], None);
        assert_eq!(out.status.code(), Some(2), "{label}: unknown step");
        let out = run(&["report", "--node", "440307", "--period", "2026-13"], None);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("period"), "{label}: {}", stderr(&out));

        let out = run(
            &["user", "add", "wang", "--role", "grid_worker", "--scope", "440307003002"],
            Some("secret-password\n"),
        );
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(!stdout(&out).contains("secret-password"), "a given password is not echoed");
        // Field work: tiers reassessed on schedule, a community's plan, the district's
        // coverage, and a responsible worker for a grid.
        let out = run(&["tiers", "reassess"], None);
        assert!(
            out.status.success() && stdout(&out).contains("0 人等级变化"),
            "{label}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let out = run(&["plan", "--node", "440307003002", "--json"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let plan: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
        assert!(!plan.is_empty(), "{label}: the community has households to visit");
        assert!(plan.windows(2).all(|w| w[0]["grid_number"].as_i64() <= w[1]["grid_number"].as_i64()), "walking order");
        let out = run(&["responsible", "--grid", "440307003002:1", "--user", "wang"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let out = run(&["responsible", "--grid", "440307003002:1", "--user", "nobody"], None);
        assert_eq!(out.status.code(), Some(2), "{label}: an unknown user is refused");
        let out = run(&["coverage", "--node", "440307", "--format", "json"], None);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let coverage: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert!(coverage["totals"]["households"].as_u64().unwrap() > 0);
        assert!(
            coverage["grids"].as_array().unwrap().iter().any(|g| g["responsible"] == "wang"),
            "{label}: the grid shows its responsible worker"
        );
        let out = run(&["user", "add", "li", "--role", "specialist", "--scope", "440307003004"], None);
        assert!(stdout(&out).contains("密码 Password: "), "{label}: a generated password is printed");
        let out = run(&["user", "add", "zhao", "--role", "mayor", "--scope", "440307"], Some("secret-password\n"));
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("unknown role"), "{}", stderr(&out));
        let out = run(&["user", "add", "zhao", "--role", "street", "--scope", "110105001"], Some("secret-password\n"));
        assert!(stderr(&out).contains("not loaded"), "{label}: {}", stderr(&out));
        if let Some(pg) = pg {
            pg.finish().await;
        }
    }
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let out = jiceng(&["generate", "--county", "4403", "--out", "/dev/null"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a county code"), "{}", stderr(&out));
    let out = jiceng(&["--database-url", "mysql://x", "regions", "load"], None);
    assert!(stderr(&out).contains("sqlite:// or postgres://"), "{}", stderr(&out));
}

#[tokio::test]
async fn audit_verify_catches_a_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let db = path.to_str().unwrap();
    let out = jiceng(&["--db", db, "regions", "load", "--county", "440307"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["wang", "li", "zhao"] {
        let out = jiceng(
            &["--db", db, "user", "add", name, "--role", "specialist", "--scope", "440307003002"],
            Some("a-long-password\n"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = jiceng(&["--db", db, "audit", "verify"], None);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 条记录"), "{}", stdout(&out));
    let head = stdout(&out).lines().find_map(|l| l.strip_prefix("末条哈希 head hash: ")).unwrap().to_string();

    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&path)).await.unwrap();
    store.raw_execute("UPDATE audit_entry SET detail = 'created, role administrator' WHERE seq = 2").await.unwrap();
    store.close().await.unwrap();
    let out = jiceng(&["--db", db, "audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("entry 2 was altered"), "{}", stdout(&out));

    // Removing the last entry is caught against the head kept from before.
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&path)).await.unwrap();
    store.raw_execute("UPDATE audit_entry SET detail = 'created, role specialist' WHERE seq = 2").await.unwrap();
    store.raw_execute("DELETE FROM audit_entry WHERE seq = 3").await.unwrap();
    store.close().await.unwrap();
    let out = jiceng(&["--db", db, "audit", "verify"], None);
    assert!(out.status.success(), "a truncated chain is still a chain");
    let out = jiceng(&["--db", db, "audit", "verify", "--expect-head", &head], None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

/// Each target database as command-line arguments: SQLite always, PostgreSQL (a schema
/// of its own per target) when reachable.
async fn targets(dir: &std::path::Path, names: &[&str]) -> Vec<(String, Vec<String>, Option<testing::TestDb>)> {
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(format!("{name}.db"));
        out.push((format!("sqlite {name}"), vec!["--db".to_string(), path.to_str().unwrap().to_string()], None));
    }
    for name in names {
        if let Some(pg) = testing::postgres().await {
            let url = pg.connection_url();
            out.push((format!("postgres {name}"), vec!["--database-url".to_string(), url], Some(pg)));
        }
    }
    out
}

fn run_on(db: &[String], extra: &[&str]) -> Output {
    let args: Vec<&str> = db.iter().map(String::as_str).chain(extra.iter().copied()).collect();
    jiceng(&args, None)
}

#[tokio::test]
async fn import_prints_json_and_exits_3_when_rows_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/src/exchange/import/fixtures");
    let file = dir.path().join("dup.csv");
    std::fs::copy(fixtures.join("duplicates.csv"), &file).unwrap();
    let db = dir.path().join("j.db");
    let db = ["--db".to_string(), db.to_str().unwrap().to_string()];
    let out = run_on(&db, &["import", "residents", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let keys: Vec<&str> = summary.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["created", "error_file", "read", "rejected", "unchanged", "updated"]);
    assert_eq!(
        (summary["read"].as_u64(), summary["created"].as_u64(), summary["rejected"].as_u64()),
        (Some(5), Some(3), Some(2))
    );
    let error_file = summary["error_file"].as_str().unwrap();
    assert!(std::path::Path::new(error_file).exists());

    // Every row of a good file lands: exit 0, and the error file of the last run is gone.
    std::fs::copy(fixtures.join("valid-utf8-bom.csv"), &file).unwrap();
    let out = run_on(&db, &["import", "residents", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!std::path::Path::new(error_file).exists());
    let out = run_on(&db, &["import", "residents", "/nonexistent/file.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/file.csv"), "{}", stderr(&out));
}

/// An import killed halfway (with a chunk written but not committed) and run again ends
/// in the same database as an import that was never interrupted.
#[tokio::test]
async fn an_import_killed_halfway_and_rerun_ends_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("residents.csv");
    let out = jiceng(
        &["generate", "--residents", "3000", "--seed", "9", "--as-of", "2026-11-01", "--out", file.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let file = file.to_str().unwrap();
    let all = targets(dir.path(), &["killed", "whole"]).await;
    let mut exports = Vec::new();
    for (label, db, pg) in &all {
        if label.ends_with("killed") {
            let args: Vec<&str> =
                db.iter().map(String::as_str).chain(["import", "residents", file, "--chunk-rows", "500"]).collect();
            let killed = Command::new(env!("CARGO_BIN_EXE_jiceng"))
                .args(&args)
                .env("JICENG_FAULT_ABORT_IMPORT_AT_ROW", "1700")
                .output()
                .unwrap();
            assert!(!killed.status.success(), "{label}: the import was meant to die");
            let out = run_on(db, &["import", "residents", file, "--json"]);
            assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
            let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            // Rows 2–1501 were committed in three chunks before the abort; the rest is new.
            assert_eq!(
                (summary["unchanged"].as_u64(), summary["created"].as_u64()),
                (Some(1500), Some(1500)),
                "{label}: {summary}"
            );
        } else {
            let out = run_on(db, &["import", "residents", file]);
            assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
        }
        let export = dir.path().join(format!("{}.csv", label.replace(' ', "-")));
        let out = run_on(db, &["export", "residents", "--node", "440307", "--out", export.to_str().unwrap()]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        exports.push((label.clone(), std::fs::read(&export).unwrap()));
        let _ = pg;
    }
    for pair in exports.chunks(2) {
        assert_eq!(pair[0].1.len(), pair[1].1.len(), "{} vs {}", pair[0].0, pair[1].0);
        assert!(pair[0].1 == pair[1].1, "{} and {} differ", pair[0].0, pair[1].0);
    }
    for (_, _, pg) in all {
        if let Some(pg) = pg {
            pg.finish().await;
        }
    }
}

/// `bench fieldwork --keep` sets a district up once and times the same work again from
/// the kept database; a different size is set up afresh.
#[test]
fn bench_fieldwork_reuses_a_kept_database() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("fieldwork.db");
    let kept = kept.to_str().unwrap();
    let run = |residents: &str| {
        let out = jiceng(&["bench", "fieldwork", "--residents", residents, "--keep", kept, "--json"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    let first = run("1500");
    assert!(first["visits"].as_u64().unwrap() > 0 && first["plan_households"].as_u64().unwrap() > 0, "{first}");
    let again = run("1500");
    assert_eq!(again["visits"], first["visits"], "the kept visits are counted, none added");
    assert_eq!(again["plan_households"], first["plan_households"]);
    assert_eq!(again["coverage_households"], first["coverage_households"]);
    let other = run("1000");
    assert_ne!(other["coverage_households"], first["coverage_households"], "another size is set up afresh");
}

/// `bench logins`: a burst of wrong passwords at once (the right one 30th) checks at
/// most five passwords, on SQLite and PostgreSQL, and prints what it measured.
#[tokio::test]
async fn bench_logins_checks_no_guess_beyond_the_limit() {
    let mut args = vec!["bench".to_string(), "logins".into(), "--attempts".into(), "60".into(), "--json".into()];
    if let Some(db) = testing::postgres().await {
        args.extend(["--database-url".to_string(), db.url().to_string()]);
        db.finish().await;
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = jiceng(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    for r in results.as_array().unwrap() {
        assert_eq!(r["attempts"], 60);
        assert!(r["passwords_checked"].as_u64().unwrap() <= 5, "{r}");
        // Tasks race, so the right password may be among the five counted first; it
        // never gets in after them.
        let (logged_in, refused) = (r["logged_in"].as_u64().unwrap(), r["refused"].as_u64().unwrap());
        assert!(logged_in <= 1 && logged_in + refused == 60, "{r}");
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 0.0);
    }
}

/// A bench command's arguments made to run on PostgreSQL too, when it is here: the
/// databases its output should name.
async fn on_each_database(args: &mut Vec<String>) -> Vec<&'static str> {
    let mut databases = vec!["sqlite"];
    if let Some(db) = testing::postgres().await {
        args.extend(["--database-url".to_string(), db.url().to_string()]);
        databases.push("postgres");
        db.finish().await;
    }
    databases
}

/// `bench export` writes every resident of the county through `export residents` and
/// through the floor, on each database, and says how the two compare.
#[tokio::test]
async fn bench_export_writes_every_resident_on_each_database() {
    let mut args: Vec<String> = ["bench", "export", "--residents", "600", "--json"].map(String::from).into();
    let databases = on_each_database(&mut args).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = jiceng(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let measurements = result["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), databases.len() * 2, "{result}");
    let rows = measurements[0]["rows"].as_u64().unwrap();
    assert!(rows >= 600, "{result}");
    for m in measurements {
        assert!(databases.contains(&m["database"].as_str().unwrap()), "{m}");
        // The same people on every database and by both paths (the generator is seeded).
        assert_eq!(m["rows"].as_u64(), Some(rows), "{m}");
        assert!(m["rows_per_second"].as_f64().unwrap() > 0.0, "{m}");
    }
    assert_eq!(result["export_vs_floor"].as_array().unwrap().len(), databases.len(), "{result}");
}

/// `bench search` serves real search pages to every client, on each database, and
/// measures the store's own search beside them, in a closed loop and then at each
/// `--rate`, where the clients together send what was scheduled, no more (4 clients at
/// 20 a second for 1 s: 20 each way).
#[tokio::test]
async fn bench_search_serves_every_client_on_each_database() {
    let mut args: Vec<String> =
        ["bench", "search", "--residents", "400", "--clients", "4", "--seconds", "1", "--rate", "20", "--json"]
            .map(String::from)
            .into();
    let databases = on_each_database(&mut args).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = jiceng(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), databases.len() * 4, "{results:?}");
    for (i, r) in results.iter().enumerate() {
        assert!(databases.contains(&r["database"].as_str().unwrap()), "{r}");
        let (requests, errors) = (r["requests"].as_u64().unwrap(), r["errors"].as_u64().unwrap());
        // One failed page in about ten runs of the whole suite, not reproduced alone:
        // its reason (`first_error`) is in the message when it shows again.
        assert!(requests > 0 && errors * 100 <= requests, "{r}");
        assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap(), "{r}");
        // Per database: floor and page closed, then floor and page at 20 a second.
        if i % 4 < 2 {
            assert!(r["rate"].is_null(), "{r}");
        } else {
            assert_eq!((r["rate"].as_f64(), requests + errors), (Some(20.0), 20), "{r}");
        }
    }
}

/// `demo --seed N` twice gives the same year: the same summary and the same report cells,
/// on SQLite and PostgreSQL alike (the review found 2,646 / 2,644 / 2,637 accepted events
/// in three runs of one seed: on PostgreSQL the generator picked people by the order the
/// database returned rows in).
#[tokio::test]
async fn demo_with_one_seed_gives_the_same_figures_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let year = time::OffsetDateTime::now_utc().date().year().to_string();
    let mut targets: Vec<(String, Vec<String>, Option<testing::TestDb>)> = Vec::new();
    for run in ["a", "b"] {
        let db = dir.path().join(format!("demo-{run}.db"));
        targets.push((format!("sqlite {run}"), vec!["--db".into(), db.to_str().unwrap().into()], None));
    }
    for run in ["a", "b"] {
        if let Some(pg) = testing::postgres().await {
            let url = pg.connection_url();
            targets.push((format!("postgres {run}"), vec!["--database-url".into(), url], Some(pg)));
        }
    }
    let mut runs = Vec::new();
    for (label, db, pg) in targets {
        let run = |extra: &[&str]| {
            let args: Vec<&str> = db.iter().map(String::as_str).chain(extra.iter().copied()).collect();
            jiceng(&args, None)
        };
        let out = run(&["demo", "--no-serve", "--residents", "6000", "--seed", "11"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        // The summary lines without their timings.
        let summary: Vec<String> = stdout(&out)
            .lines()
            .filter(|l| l.contains("Generated") || l.contains("tiers") || l.contains("Registered"))
            .map(|l| l.split(" (").next().unwrap_or(l).to_string())
            .collect();
        let out = run(&["report", "--node", "440307", "--period", &year, "--format", "json"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        runs.push((label, summary, stdout(&out)));
        if let Some(pg) = pg {
            pg.finish().await;
        }
    }
    for (label, summary, report) in &runs[1..] {
        assert_eq!(&runs[0].1, summary, "{label}: the demo's summary differs from {}", runs[0].0);
        assert_eq!(&runs[0].2, report, "{label}: the report cells differ from {}", runs[0].0);
    }
}

/// A backup taken while an import is writing restores into an empty database where
/// every check passes (audit chain, projections, report cells); a restore never
/// replaces a database without --force. On SQLite and PostgreSQL.
#[tokio::test]
async fn a_backup_taken_while_importing_restores_and_every_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arrivals.csv");
    let out = jiceng(
        &[
            "generate",
            "--residents",
            "6000",
            "--county",
            "440306",
            "--seed",
            "31",
            "--as-of",
            "2026-11-01",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for (label, db, pg) in targets(dir.path(), &["source"]).await {
        // Longgang's demo, and Bao'an's divisions for the arrivals.
        let out = run_on(&db, &["demo", "--no-serve", "--residents", "1500", "--seed", "4"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let out = run_on(&db, &["regions", "load", "--county", "440306"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        if pg.is_some() && Command::new("pg_dump").arg("--version").output().is_err() {
            testing::skip_or_fail("pg_dump", "not on PATH (package postgresql-client)");
            continue;
        }
        // The import writes chunk after chunk while the backup is taken.
        let args: Vec<&str> = db
            .iter()
            .map(String::as_str)
            .chain(["import", "residents", file.to_str().unwrap(), "--chunk-rows", "300"])
            .collect();
        let mut import = Command::new(env!("CARGO_BIN_EXE_jiceng")).args(&args).stdout(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let backup = dir.path().join(format!("{}.backup", label.replace(' ', "-")));
        let out = run_on(&db, &["backup", "--out", backup.to_str().unwrap()]);
        let import_ended_first = import.try_wait().unwrap().is_some();
        assert!(out.status.success(), "{label}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("Backed up to"), "{label}: {}", stdout(&out));
        assert!(import.wait().unwrap().success(), "{label}: the import goes on during the backup");
        if import_ended_first {
            eprintln!("{label}: the import ended before the backup did; the backup still ran beside it");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{label}: a backup holds everyone's records");
        }
        // Never over a file, never of a database that is not there.
        let again = run_on(&db, &["backup", "--out", backup.to_str().unwrap()]);
        assert_eq!(again.status.code(), Some(2), "{label}");
        if pg.is_none() {
            let missing = dir.path().join("missing.db");
            let out = jiceng(
                &["--db", missing.to_str().unwrap(), "backup", "--out", dir.path().join("m.backup").to_str().unwrap()],
                None,
            );
            assert_eq!(out.status.code(), Some(2));
            assert!(stderr(&out).contains("does not exist") && !missing.exists(), "{}", stderr(&out));
        }

        let (target, scratch) = match &pg {
            None => (vec!["--db".to_string(), dir.path().join("restored.db").to_str().unwrap().to_string()], None),
            Some(pg) => {
                let scratch = testing::ScratchDatabase::create().await.expect("a scratch database");
                let schema = pg.schema().unwrap();
                let url = format!("{}?options=-c%20search_path%3D{schema}", scratch.url);
                (vec!["--database-url".to_string(), url], Some(scratch))
            }
        };
        let out = run_on(&target, &["restore", backup.to_str().unwrap()]);
        assert!(out.status.success(), "{label}: {}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("every check passed"), "{label}: {text}");
        assert!(text.contains("audit log intact") && text.contains("agree with the registry"), "{label}: {text}");
        // The restored database answers as the source did at the backup.
        for check in [&["audit", "verify"][..], &["verify"], &["report", "verify"]] {
            let out = run_on(&target, check);
            assert!(out.status.success(), "{label} {check:?}: {}{}", stdout(&out), stderr(&out));
        }
        let out = run_on(&target, &["restore", backup.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{label}: a restore never replaces a database unasked");
        assert!(stderr(&out).contains("--force"), "{label}: {}", stderr(&out));
        let out = run_on(&target, &["restore", "--force", backup.to_str().unwrap()]);
        assert!(out.status.success(), "{label}: {}{}", stdout(&out), stderr(&out));
        // Not a backup at all.
        let out = run_on(&target, &["restore", "--force", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{label}");
        assert!(stderr(&out).contains("not a jiceng backup"), "{label}: {}", stderr(&out));
        if let Some(scratch) = scratch {
            scratch.drop_now().await;
        }
        if let Some(pg) = pg {
            pg.finish().await;
        }
    }
}

/// `config check` shows where every setting came from and exits 1 on a problem; a
/// misspelt key is refused naming it; flags go over the file.
#[test]
fn config_check_names_each_setting_source_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jiceng.toml");
    let token = dir.path().join("metrics-token");
    std::fs::write(&token, "short\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[server]\nlisten = \"0.0.0.0:9000\"\ndata_dir = \"{}\"\n[metrics]\ntoken_file = \"{}\"\n",
            dir.path().join("j.db").display(),
            dir.path().display(),
            token.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = jiceng(&["--config", config, "config", "check", "--json"], None);
    assert_eq!(out.status.code(), Some(1), "a 5-character token is a problem: {}", stdout(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let setting =
        |name: &str| report["settings"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(setting("listen")["source"], "file");
    assert_eq!(setting("listen")["value"], "0.0.0.0:9000");
    assert_eq!(setting("database")["source"], "file");
    let status = |name: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).map(|c| c["status"].clone())
    };
    assert_eq!(status("metrics"), Some("problem".into()));
    assert_eq!(status("secure_cookies"), Some("warning".into()), "0.0.0.0 without secure cookies");

    std::fs::write(&token, "a-scraper-token-long-enough\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = jiceng(
        &["--config", config, "--db", dir.path().join("other.db").to_str().unwrap(), "config", "check", "--json"],
        None,
    );
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    let database = report["settings"].as_array().unwrap().iter().find(|s| s["name"] == "database").unwrap().clone();
    assert_eq!(database["source"], "flag", "{database}");
    assert!(database["value"].as_str().unwrap().contains("other.db"));

    std::fs::write(dir.path().join("bad.toml"), "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let out = jiceng(&["--config", dir.path().join("bad.toml").to_str().unwrap(), "config", "check"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("lisen") && stderr(&out).contains("bad.toml"), "{}", stderr(&out));
}

/// `linkage generate` writes the three files the benchmark reads, and `bench linkage`
/// links them with a model trained on the registry and incoming records alone, prints
/// the keys the issue names and writes the matches; a file with a wrong header is named.
#[test]
fn bench_linkage_scores_generated_records_against_their_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let generated = jiceng(&["linkage", "generate", "--registry", "3000", "--incoming", "300", "--out", out], None);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let truth = std::fs::read_to_string(file("truth.csv")).unwrap();
    assert!(truth.starts_with("incoming_id,person_id\n"), "{truth}");
    let (registry, incoming, truth, matches) =
        (file("registry.csv"), file("incoming.csv"), file("truth.csv"), file("matches.csv"));
    let args = ["bench", "linkage", "--registry", &registry, "--incoming", &incoming, "--truth", &truth];
    let run = jiceng(&[&args[..], &["--json", "--matches", &matches]].concat(), None);
    assert!(run.status.success(), "{}", stderr(&run));
    let result: serde_json::Value = serde_json::from_str(stdout(&run).trim()).unwrap();
    for key in ["seconds", "precision", "recall", "f1", "pairs_compared"] {
        assert!(result[key].is_number(), "{key}: {result}");
    }
    assert!(result["f1"].as_f64().unwrap() > 0.95, "{result}");
    let written = std::fs::read_to_string(&matches).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("incoming_id,person_id,probability"));
    assert_eq!(lines.count() as u64, result["matches"].as_u64().unwrap());

    std::fs::write(&registry, "id,name\nP1,张伟\n").unwrap();
    let refused = jiceng(&args, None);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("registry.csv") && message.contains("person_id,name,sex,dob"), "{message}");
}

/// `feed department add`, `feed import` of a sample file (a second send changes
/// nothing; a row that cannot be read goes to the error file, exit 3), a kind the
/// department may not send refused, tokens made, listed and revoked, and `linkage
/// train` on what was received — on both databases.
#[tokio::test]
async fn feeds_are_imported_once_with_an_error_file_and_tokens_are_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds");
    for (label, db, pg) in targets(dir.path(), &["feeds"]).await {
        let ok = |out: &Output| assert!(out.status.success(), "{label}: {}", stderr(out));
        ok(&run_on(&db, &["regions", "load", "--county", "440307"]));
        let add = ["feed", "department", "add", "--code", "MZ", "--name", "区民政局", "--kind", "civil_affairs"];
        ok(&run_on(&db, &[&add[..], &["--region", "440307"]].concat()));
        let listed = run_on(&db, &["feed", "department", "list", "--json"]);
        ok(&listed);
        let listed: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
        assert_eq!(listed[0]["feeds"], serde_json::json!(["marriage", "divorce", "death"]), "{label}");

        let file = dir.path().join(format!("{}-death.csv", label.replace(' ', "-")));
        std::fs::copy(docs.join("death.csv"), &file).unwrap();
        let import = |file: &std::path::Path, kind: &str| {
            run_on(&db, &["feed", "import", "--department", "MZ", "--kind", kind, file.to_str().unwrap(), "--json"])
        };
        let out = import(&file, "death");
        ok(&out);
        let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(
            (summary["received"].as_u64(), summary["outcomes"]["no_match"].as_u64()),
            (Some(1), Some(1)),
            "{label}"
        );
        let again: serde_json::Value = serde_json::from_str(stdout(&import(&file, "death")).trim()).unwrap();
        assert_eq!((again["received"].as_u64(), again["already_received"].as_u64()), (Some(0), Some(1)), "{label}");

        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("MZ-2026-9002,上周,某人,男,,,\n");
        std::fs::write(&file, text).unwrap();
        let out = import(&file, "death");
        assert_eq!(out.status.code(), Some(3), "{label}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        let errors = std::fs::read_to_string(summary["error_file"].as_str().unwrap()).unwrap();
        assert!(errors.contains("上周") && errors.contains("死亡日期"), "{label}: {errors}");

        let refused = import(&file, "vaccination");
        assert_eq!(refused.status.code(), Some(2));
        assert!(stderr(&refused).contains("may not send"), "{label}: {}", stderr(&refused));

        let made = run_on(&db, &["feed", "token", "create", "--department", "MZ", "--label", "接口"]);
        ok(&made);
        let id = stdout(&made).lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
        ok(&run_on(&db, &["feed", "token", "revoke", "--department", "MZ", &id]));
        let tokens = run_on(&db, &["feed", "token", "list", "--department", "MZ", "--json"]);
        let tokens: serde_json::Value = serde_json::from_str(stdout(&tokens).trim()).unwrap();
        assert!(tokens[0]["revoked_at"].is_string(), "{label}: {tokens}");
        assert_eq!(run_on(&db, &["feed", "token", "revoke", "--department", "MZ", &id]).status.code(), Some(2));

        let trained = run_on(&db, &["linkage", "train", "--county", "440307", "--json"]);
        ok(&trained);
        let trained: serde_json::Value = serde_json::from_str(stdout(&trained).trim()).unwrap();
        assert_eq!(trained["records"].as_u64(), Some(1), "{label}");
        if let Some(pg) = pg {
            pg.finish().await;
        }
    }
}

/// `exchange keygen`, `partner add|list`, `export`, `import` (twice: exit 0 both times;
/// a flipped byte or a package for another region: exit 1 with the reason) and the
/// acknowledgement back — 龙岗 on SQLite, 武陵 on PostgreSQL when reachable.
#[tokio::test]
async fn packages_are_exchanged_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let longgang = vec!["--db".to_string(), path("longgang.db")];
    let pg = testing::postgres().await;
    let wuling = match &pg {
        Some(pg) => vec!["--database-url".to_string(), pg.connection_url()],
        None => vec!["--db".to_string(), path("wuling.db")],
    };
    let ok = |out: &Output| assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    ok(&jiceng(&["exchange", "keygen", "--out", &path("keys-lg")], None));
    ok(&jiceng(&["exchange", "keygen", "--out", &path("keys-wl"), "--algorithm", "sm2"], None));
    // A second key pair never overwrites the first.
    assert!(!jiceng(&["exchange", "keygen", "--out", &path("keys-lg")], None).status.success());
    let lg_key = path("keys-lg/private.key");
    let wl_key = path("keys-wl/private.key");
    let add = |db: &[String], partner: &str, key: &str, name: &str, local: &str| {
        ok(&run_on(db, &["regions", "load", "--county", local]));
        let args = ["exchange", "partner", "add", "--county", partner, "--key", key, "--name", name];
        ok(&run_on(db, &[&args[..], &["--local-county", local, "--fields", "id_number,sex"]].concat()));
    };
    add(&longgang, "430702", &path("keys-wl/public.key"), "武陵区", "440307");
    add(&wuling, "440307", &path("keys-lg/public.key"), "龙岗区", "430702");

    let out = run_on(
        &longgang,
        &["exchange", "export", "--partner", "430702", "--key", &lg_key, "--out", &path("p1.jxp"), "--json"],
    );
    ok(&out);
    let written: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(written["sequence"].as_u64(), Some(1));

    let import = |db: &[String], file: &str| run_on(db, &["exchange", "import", file, "--json"]);
    let out = import(&wuling, &path("p1.jxp"));
    ok(&out);
    let applied: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(applied["result"], "applied");
    let again = import(&wuling, &path("p1.jxp"));
    ok(&again);
    let again: serde_json::Value = serde_json::from_str(stdout(&again).trim()).unwrap();
    assert_eq!(again["report"]["already_applied"], true);

    let mut bytes = std::fs::read(path("p1.jxp")).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(path("flipped.jxp"), bytes).unwrap();
    let refused = run_on(&wuling, &["exchange", "import", &path("flipped.jxp")]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("拒收 Refused"), "{}", stderr(&refused));
    let misaddressed = import(&longgang, &path("p1.jxp"));
    assert_eq!(misaddressed.status.code(), Some(1));
    let misaddressed: serde_json::Value = serde_json::from_str(stdout(&misaddressed).trim()).unwrap();
    assert!(misaddressed["reason"].as_str().unwrap().contains("addressed to 430702"), "{misaddressed}");

    let ack = ["exchange", "acknowledge", "--partner", "440307", "--key", &wl_key, "--out", &path("ack.jxp")];
    ok(&run_on(&wuling, &ack));
    ok(&import(&longgang, &path("ack.jxp")));
    let listed = run_on(&longgang, &["exchange", "partner", "list", "--json"]);
    ok(&listed);
    let listed: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(listed[0]["last_sent"]["state"], "acknowledged", "{listed}");
    assert_eq!(listed[0]["fields"], serde_json::json!(["id_number", "sex"]));
    let reconciled = run_on(
        &wuling,
        &["exchange", "reconcile", "--partner", "440307", "--json", "--out", &path("reconciliation.xlsx")],
    );
    ok(&reconciled);
    let reconciled: serde_json::Value = serde_json::from_str(stdout(&reconciled).trim()).unwrap();
    assert_eq!(reconciled["both"].as_u64(), Some(0), "{reconciled}");
    assert!(std::fs::read(path("reconciliation.xlsx")).unwrap().starts_with(b"PK"));
    if let Some(pg) = pg {
        pg.finish().await;
    }
}
