//! One county's work on a schema partitioned by county touches only that county's
//! partitions: every statement the main reads and writes send is planned again with
//! `EXPLAIN` (with its own values, so partitions are pruned as they were), and no plan
//! may name another county's partition (issue 15; what Citus needs to route a query
//! to one shard).

use std::sync::{Arc, Mutex};

use jiceng_domain::fieldwork::VisitOutcome;
use jiceng_domain::org::{Role, Scope};
use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
use jiceng_domain::reporting::{EventAction, Month, Period};
use sea_orm::{ConnectionTrait, Statement};
use time::{Duration, OffsetDateTime};

use crate::fieldwork::NewVisit;
use crate::org::reference;
use crate::reporting::Actor;
use crate::testing::{self, code};

const OURS: &str = "440306";
const THEIRS: &str = "440307";

/// Statements that read every county on purpose, and why (ADR 016).
const ACROSS_COUNTIES: [(&str, &str); 1] = [(
    r#"FROM "resident_version" WHERE "id_number" IN"#,
    "an import looks each ID number up in every county: a person recorded in another county must be found, not \
     recorded twice (once per chunk of 500 rows)",
)];

async fn populate(store: &crate::Store, county: &str, seed: u64) {
    testing::load_county(store, county).await;
    let communities: Vec<_> =
        reference::communities_under(&code(county)).unwrap().into_iter().take(3).map(|d| (d.code, d.name)).collect();
    let plan = PopulationPlan {
        county: code(county),
        communities,
        all_counties: reference::counties().unwrap().into_iter().map(|d| d.code).collect(),
        residents: 300,
        seed,
        reference_date: OffsetDateTime::now_utc().date() - Duration::days(400),
    };
    for community in PopulationGenerator::new(plan) {
        store.registry().write_community(&code(county), &community, "seed").await.unwrap();
    }
}

#[tokio::test]
async fn one_county_s_reads_and_writes_touch_only_its_partitions() {
    let Some(db) = testing::postgres_partitioned().await else { return };
    let store = &db.store;
    populate(store, OURS, 3).await;
    populate(store, THEIRS, 4).await;
    store.refresh_statistics().await.unwrap();

    let seen: Arc<Mutex<Vec<(String, Statement)>>> = Arc::default();
    let doing: Arc<Mutex<String>> = Arc::default();
    let observed = {
        let (seen, doing) = (seen.clone(), doing.clone());
        store.observed(move |statement| {
            let what = doing.lock().unwrap().clone();
            seen.lock().unwrap().push((what, statement.clone()));
        })
    };
    let step = |what: &str| *doing.lock().unwrap() = what.to_string();
    let county = code(OURS);
    let today = OffsetDateTime::now_utc().date();
    let month = Month::of(today);
    let community = reference::communities_under(&county).unwrap()[0].code.clone();
    let street = community.parent().unwrap();
    let scope = Scope::new(Role::District, vec![county.clone()]);

    step("report");
    for node in [&county, &street, &community] {
        observed.reporting().report(node, Period::Month(month.previous())).await.unwrap();
    }
    step("plan");
    let plan = observed.fieldwork().visit_plans(&county, month).await.unwrap();
    observed.fieldwork().visit_plan(&community, month).await.unwrap();
    step("coverage");
    observed.fieldwork().coverage(&county, month).await.unwrap();
    observed.fieldwork().coverage_gaps(&community, month).await.unwrap();
    step("search");
    let registry = observed.registry_in(&scope);
    registry.search(&crate::registry::SearchQuery::Initials("z".into()), 50).await.unwrap();
    registry.search(&crate::registry::SearchQuery::Name("王".into()), 50).await.unwrap();
    step("export");
    let dir = tempfile::tempdir().unwrap();
    let headers: Vec<String> = jiceng_domain::exchange::resident_file::headers().map(String::from).collect();
    let mut writer = jiceng_files::exchange::ResidentFileWriter::create(
        &dir.path().join("out.csv"),
        jiceng_files::exchange::FileFormat::Csv,
        jiceng_files::exchange::TextEncoding::Utf8,
        &headers,
    )
    .unwrap();
    assert_eq!(registry.export_residents(&county, &mut writer, |_| {}).await.unwrap(), 300);
    writer.finish().unwrap();
    step("import");
    // The county's own export again, with one resident's phone changed: every row is
    // looked up, one is written.
    let exported = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut lines: Vec<String> = exported.lines().map(String::from).collect();
    let phone = headers.iter().position(|h| h == "联系电话").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    cells[phone] = "13800138000".into();
    lines[1] = cells.join(",");
    let file = dir.path().join("again.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let options = crate::exchange::ImportOptions {
        encoding: None,
        mapping: Default::default(),
        error_file: None,
        recorded_by: "importer".into(),
        today,
        chunk_rows: 100,
        limits: Default::default(),
    };
    let places = crate::exchange::PlaceIndex::from_reference().unwrap();
    let report = crate::exchange::import_file(observed.registry(), &file, &options, &places, |_| {}).await.unwrap();
    assert_eq!((report.totals.rejected, report.totals.updated), (0, 1), "{report:?}");
    step("verify");
    observed.reporting().verify(&county).await.unwrap();
    observed.verify_projections(Some(&county)).await.unwrap();

    step("record a visit");
    let household = plan.iter().find(|p| p.community == community.as_str()).expect("a household due").household_id;
    let worker = Actor { username: "grid1", role: Role::GridWorker };
    let visit = NewVisit {
        id: uuid::Uuid::now_v7(),
        county: county.clone(),
        household_id: household,
        visited_on: today,
        outcome: VisitOutcome::MovedAway,
        notes: String::new(),
    };
    let recorded = observed.fieldwork().record_visit(&visit, worker, today).await.unwrap();
    step("accept an event");
    let event = *recorded.events.first().expect("a move-out event started");
    for role in [Role::Specialist, Role::Street, Role::District] {
        let actor = Actor { username: "reviewer", role };
        observed.reporting().decide(&county, event, EventAction::Approve, None, actor, today).await.unwrap();
    }

    // Every statement, planned again with its values.
    let statements = std::mem::take(&mut *seen.lock().unwrap());
    let mut explained = 0;
    let mut offenders = Vec::new();
    for (what, statement) in &statements {
        let sql = statement.sql.trim_start();
        if ACROSS_COUNTIES.iter().any(|(pattern, _)| sql.contains(pattern)) {
            continue;
        }
        let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if !["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(&first.as_str()) {
            continue;
        }
        let explain = Statement {
            sql: format!("EXPLAIN {sql}"),
            values: statement.values.clone(),
            db_backend: statement.db_backend,
        };
        let plan: Vec<String> = store
            .db
            .query_all_raw(explain)
            .await
            .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        explained += 1;
        let foreign: Vec<&String> =
            plan.iter().filter(|line| line.contains(&format!("_c{THEIRS}")) || line.contains("_rest")).collect();
        if !foreign.is_empty() {
            offenders.push(format!(
                "[{what}] {sql}\n    {}",
                foreign.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n    ")
            ));
        }
    }
    assert!(explained > 50, "the work was observed ({explained} statements)");
    assert!(
        offenders.is_empty(),
        "{} of {explained} statements of county {OURS}'s work reach other counties' partitions:\n{}",
        offenders.len(),
        offenders.join("\n")
    );
    db.finish().await;
}

/// Cells are kept up to the county; a city's report is its counties' summed, on every
/// database (ADR 016).
#[tokio::test]
async fn a_city_s_report_is_the_sum_of_its_counties() {
    for db in testing::backends().await {
        let store = &db.store;
        populate(store, OURS, 5).await;
        populate(store, THEIRS, 6).await;
        let month = Period::Month(Month::of(OffsetDateTime::now_utc().date()));
        let reporting = store.reporting();
        let city = reporting.report(&code("4403"), month).await.unwrap();
        let ours = reporting.report(&code(OURS), month).await.unwrap();
        let theirs = reporting.report(&code(THEIRS), month).await.unwrap();
        for figure in ["population.end", "households.end", "population.end.registered.female"] {
            assert_eq!(city.count(figure), ours.count(figure) + theirs.count(figure), "{} {figure}", db.label);
        }
        assert_eq!(city.count("population.end"), 600, "{}", db.label);
        assert_eq!(reporting.report(&code("44"), month).await.unwrap().count("population.end"), 600);
        db.finish().await;
    }
}
