//! The browser story (tests/browser/story.mjs) against a real server, in Debian's
//! chromium. Missing node, npm or chromium is a loud skip, or a failure under
//! JICENG_REQUIRE_ALL=1. Screenshots go to target/screenshots/.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiceng_domain::org::{DivisionCode, Role, Scope};
use jiceng_store::registry::SearchQuery;
use jiceng_store::testing::skip_or_fail;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn jiceng(db: &str, args: &[&str], stdin: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(["--db", db])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "jiceng {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Chromium's path and the story directory, or `None` after a loud skip.
fn browser_setup() -> Option<(String, PathBuf)> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        skip_or_fail("chromium", &format!("{chromium} not found (apt-get install chromium)"));
        return None;
    }
    if !have("node") || !have("npm") {
        skip_or_fail("node", "node and npm are needed for the browser tests");
        return None;
    }
    let browser_dir = workspace().join("tests/browser");
    if !browser_dir.join("node_modules/playwright-core").exists() {
        let status =
            Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&browser_dir).status().unwrap();
        if !status.success() {
            skip_or_fail("playwright-core", "npm ci in tests/browser failed");
            return None;
        }
    }
    Some((chromium, browser_dir))
}

/// Starts `jiceng serve` on the database and returns it with its URL.
fn serve(db: &str) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split("http://")
        .nth(1)
        .map(|rest| format!("http://{}", rest.trim().trim_end_matches('/')))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    (server, url)
}

#[tokio::test]
async fn a_grid_worker_finds_and_edits_a_resident_in_chromium() {
    let Some((chromium, browser_dir)) = browser_setup() else { return };

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("browser.db");
    let db = db_path.to_str().unwrap();
    jiceng(db, &["demo", "--no-serve", "--residents", "2000", "--seed", "4"], "");
    jiceng(db, &["user", "add", "wang", "--role", "grid_worker", "--scope", "440307003002"], "password-a\n");
    jiceng(db, &["user", "add", "li", "--role", "grid_worker", "--scope", "440307003004"], "password-b\n");

    // A resident of 440307003002 whose initials find few enough people to click.
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let scope = Scope::new(Role::GridWorker, vec![DivisionCode::parse("440307003002").unwrap()]);
    let everyone = store.registry_in(&scope).search(&SearchQuery::Name(String::new()), 1000).await.unwrap();
    let resident = everyone.iter().find(|r| r.facts.phone.is_some()).expect("a resident with a phone").clone();
    store.close().await.unwrap();
    let initials = jiceng_domain::registry::pinyin::name_initials(resident.facts.name.as_str());

    let (server, url) = serve(db);

    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir.join("story.mjs"))
        .env("JICENG_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("USER_A", "wang")
        .env("PASSWORD_A", "password-a")
        .env("USER_B", "li")
        .env("PASSWORD_B", "password-b")
        .env("RESIDENT_NAME", resident.facts.name.as_str())
        .env("RESIDENT_INITIALS", &initials)
        .env("RESIDENT_PATH", format!("/residents/{}/{}", resident.county, resident.resident_id))
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "browser story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join("resident.png").exists());
}

/// Last month's report approved in the browser from a community up to the district:
/// the specialist, then the street office, then the district bureau. Every other
/// community and street is approved beforehand through the store, so the chain has
/// exactly one path left to walk.
#[tokio::test]
async fn a_month_is_approved_from_community_to_district_in_chromium() {
    let Some((chromium, browser_dir)) = browser_setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("approval.db");
    let db = db_path.to_str().unwrap();
    jiceng(db, &["demo", "--no-serve", "--residents", "3000", "--seed", "5"], "");
    let community = "440307003002";
    let street = "440307003";
    jiceng(db, &["user", "add", "zhuan", "--role", "specialist", "--scope", community], "password-c\n");
    jiceng(db, &["user", "add", "jie", "--role", "street", "--scope", street], "password-s\n");
    jiceng(db, &["user", "add", "qu", "--role", "district", "--scope", "440307"], "password-d\n");

    let today = time::OffsetDateTime::now_utc().date();
    let month = jiceng_domain::reporting::Month::of(today).previous();
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let reporting = store.reporting();
    let county = DivisionCode::parse("440307").unwrap();
    let specialist = jiceng_store::reporting::Actor { username: "setup", role: Role::Specialist };
    let street_office = jiceng_store::reporting::Actor { username: "setup", role: Role::Street };
    for town in reporting.approval_status(&county, month).await.unwrap().children {
        let status = reporting.approval_status(&town.node, month).await.unwrap();
        for c in status.children.iter().filter(|c| c.has_data && c.node.as_str() != community) {
            reporting.approve(&c.node, month, specialist, today).await.unwrap();
        }
        if town.has_data && town.node.as_str() != street {
            reporting.approve(&town.node, month, street_office, today).await.unwrap();
        }
    }
    let before = reporting.report(&county, jiceng_domain::reporting::Period::Month(month)).await.unwrap();
    store.close().await.unwrap();

    let (server, url) = serve(db);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir.join("approval.mjs"))
        .env("JICENG_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("MONTH", month.to_string())
        .env("COMMUNITY", community)
        .env("STREET", street)
        .env("COUNTY", "440307")
        .env("BIRTHS", before.count("births").to_string())
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "approval story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let status = store.reporting().approval_status(&county, month).await.unwrap();
    assert_eq!(status.approved.map(|a| a.0).as_deref(), Some("qu"));
    assert!(store.reporting().verify(&county).await.unwrap().differences.is_empty());
    store.close().await.unwrap();
}

/// 今日走访 on a 360 px phone: one visit online, one offline that is sent when the
/// connection returns, and a resend recorded once.
#[tokio::test]
async fn a_days_visits_are_recorded_on_a_phone_including_one_offline() {
    let Some((chromium, browser_dir)) = browser_setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("visits.db");
    let db = db_path.to_str().unwrap();
    jiceng(db, &["demo", "--no-serve", "--residents", "2000", "--seed", "6"], "");
    jiceng(db, &["user", "add", "wang", "--role", "grid_worker", "--scope", "440307003002"], "password-w\n");
    // A household of the community, for the landlord's unit.
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let registry = store.registry();
    let community = DivisionCode::parse("440307003002").unwrap();
    let grid = registry.grids_in_community(&community).await.unwrap().remove(0).grid;
    let county = DivisionCode::parse("440307").unwrap();
    let building = registry.buildings_in_grid(&county, grid.id).await.unwrap().remove(0).building;
    let household_no = registry.households_in_building(&county, building.id).await.unwrap().remove(0).household_no;
    store.close().await.unwrap();
    let (server, url) = serve(db);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir.join("visits.mjs"))
        .env("JICENG_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("USER", "wang")
        .env("PASSWORD", "password-w")
        .env("HOUSEHOLD_NO", &household_no)
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "visits story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let visits = store.fieldwork().visits_on(&DivisionCode::parse("440307003002").unwrap(), today).await.unwrap();
    assert_eq!(visits.len(), 2, "two households visited, each recorded once: {visits:?}");
    store.close().await.unwrap();
}

/// A department's record that could be either of two registry people (same name and
/// birthday, no ID number) is reviewed side by side in chromium and accepted; the
/// marriage it proposes is in the review chain and the record is matched.
#[tokio::test]
async fn a_possible_match_is_reviewed_side_by_side_and_accepted_in_chromium() {
    use jiceng_domain::linkage::feed::{FeedColumn, read_record};
    use jiceng_domain::linkage::{FeedKind, FeedOutcome};
    let Some((chromium, browser_dir)) = browser_setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("feeds.db");
    let db = db_path.to_str().unwrap();
    jiceng(db, &["demo", "--no-serve", "--residents", "2000", "--seed", "6"], "");
    let community = "440307003002";
    jiceng(db, &["user", "add", "zhuan", "--role", "specialist", "--scope", community], "password-c\n");

    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let county = DivisionCode::parse("440307").unwrap();
    let scope = Scope::new(Role::Specialist, vec![DivisionCode::parse(community).unwrap()]);
    let everyone = store.registry_in(&scope).search(&SearchQuery::Name(String::new()), 1000).await.unwrap();
    let person = everyone
        .iter()
        .find(|r| {
            r.facts.identity.number().is_some()
                && r.facts.marital_status != jiceng_domain::registry::MaritalStatus::Married
        })
        .expect("an unmarried resident with an ID number")
        .clone();
    let twin = jiceng_domain::registry::ResidentFacts {
        identity: jiceng_domain::registry::Identity::Missing(jiceng_domain::registry::IdMissingReason::Unknown),
        relationship: jiceng_domain::registry::Relationship::Other,
        phone: None,
        ..person.facts.clone()
    };
    let since = time::macros::date!(2020 - 01 - 01);
    store.registry().add_resident(&county, &twin, since, "setup").await.unwrap();
    let linkage = store.linkage();
    // The demo registered the district's civil affairs bureau.
    let department = linkage.department_by_code("MZ", Some(&county)).await.unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let (name, born, on) = (
        person.facts.name.to_string(),
        person.facts.birth_date.to_string(),
        (today - time::Duration::days(2)).to_string(),
    );
    let cells = [
        (FeedColumn::RecordNo, "MZ-2026-0042"),
        (FeedColumn::OccurredOn, on.as_str()),
        (FeedColumn::Name, name.as_str()),
        (FeedColumn::BirthDate, born.as_str()),
        (FeedColumn::Community, community),
    ];
    let headed = cells.iter().map(|(c, v)| (c.heading(FeedKind::Marriage, false).to_string(), v.to_string())).collect();
    let row = jiceng_files::linkage::feed::FeedRow {
        line: 2,
        cells: headed,
        record: Ok(read_record(FeedKind::Marriage, &cells).unwrap()),
    };
    let settings = jiceng_domain::linkage::Settings::default();
    let receipt =
        linkage.receive(&department, FeedKind::Marriage, "婚姻登记.csv", vec![row], &settings, today).await.unwrap();
    assert_eq!(receipt.outcomes.get("possible"), Some(&1), "{receipt:?}");
    let waiting = linkage.records(&county, Some(FeedOutcome::Possible), FeedKind::ALL, 5).await.unwrap();
    let review_path = format!("/feeds/review/440307/{}", waiting[0].id);
    store.close().await.unwrap();

    let (server, url) = serve(db);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir.join("feeds.mjs"))
        .env("JICENG_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("REVIEWER", "zhuan")
        .env("PASSWORD", "password-c")
        .env("COMMUNITY", community)
        .env("REVIEW_PATH", &review_path)
        .env("NAME", &name)
        .env("PERSON_ID", person.resident_id.to_string())
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "feeds story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let decided = store.linkage().incoming(&county, waiting[0].id).await.unwrap();
    assert_eq!((decided.outcome, decided.person_id), (FeedOutcome::Matched, Some(person.resident_id)));
    assert!(decided.event_id.is_some(), "the marriage was proposed");
    store.close().await.unwrap();
}

/// A building handed over in chromium by its community's specialist and accepted by the
/// receiving community's: it and its people are the receiving side's, with every
/// projection still agreeing with the records.
#[tokio::test]
async fn a_building_is_handed_over_and_accepted_in_chromium() {
    let Some((chromium, browser_dir)) = browser_setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("handover.db");
    let db = db_path.to_str().unwrap();
    jiceng(db, &["demo", "--no-serve", "--residents", "2000", "--seed", "8"], "");
    let (from, to) = ("440307003002", "440307003004");
    jiceng(db, &["user", "add", "song", "--role", "specialist", "--scope", from], "password-h\n");
    jiceng(db, &["user", "add", "shou", "--role", "specialist", "--scope", to], "password-h\n");
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let county = DivisionCode::parse("440307").unwrap();
    let registry = store.registry();
    let buildings = registry.buildings_in_community(&DivisionCode::parse(from).unwrap()).await.unwrap();
    let mut chosen = None;
    for b in buildings {
        let households = registry.households_in_building(&county, b.id).await.unwrap();
        if let Some(h) = households.iter().find(|h| h.members > 0) {
            let members = registry.household_members(&county, h.household_id).await.unwrap();
            chosen = Some((b.id, members[0].facts.name.to_string()));
            break;
        }
    }
    let (building, member) = chosen.expect("a lived-in building");
    let grid = registry.grids_in_community(&DivisionCode::parse(to).unwrap()).await.unwrap()[0].grid.id;
    store.close().await.unwrap();

    let (server, url) = serve(db);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir.join("handover.mjs"))
        .env("JICENG_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &shots)
        .env("SENDER", "song")
        .env("RECEIVER", "shou")
        .env("PASSWORD", "password-h")
        .env("BUILDING", building.to_string())
        .env("GRID", grid.to_string())
        .env("MEMBER", &member)
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "handover story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let store = jiceng_store::Store::open(&jiceng_store::sqlite_url(&db_path)).await.unwrap();
    let moved = store.registry().building(&county, building).await.unwrap().unwrap();
    assert_eq!((moved.community.as_str(), moved.grid_id), (to, grid));
    for check in store.verify_projections(Some(&county)).await.unwrap() {
        assert!(check.checked.differences.is_empty(), "{}: {:?}", check.projection, check.checked.differences);
    }
    store.close().await.unwrap();
}
