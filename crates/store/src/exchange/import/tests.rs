//! Import tests: one fixture file per kind of trouble offices send (see fixtures/make.py),
//! each asserting the exact rejected rows and that nothing else changed; idempotence;
//! updates as versions; corrected error files; scope; export → import → export.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiceng_domain::org::{DivisionCode, Role, Scope};
use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
use jiceng_domain::registry::{Identity, MaritalStatus};
use sea_orm::ConnectionTrait;
use time::macros::date;

use crate::Store;
use crate::exchange::{
    FileFormat, ImportOptions, ImportReport, PlaceIndex, ResidentFileReader, ResidentFileWriter, TextEncoding,
    import_file,
};
use crate::org::reference;
use crate::registry::Registry;
use crate::testing;

fn code(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exchange/import/fixtures").join(name)
}

fn options() -> ImportOptions {
    ImportOptions {
        encoding: None,
        mapping: HashMap::new(),
        error_file: None,
        recorded_by: "importer".into(),
        today: date!(2026 - 11 - 24),
        chunk_rows: 2,
        limits: Default::default(),
    }
}

fn places() -> &'static PlaceIndex {
    static PLACES: std::sync::OnceLock<PlaceIndex> = std::sync::OnceLock::new();
    PLACES.get_or_init(|| PlaceIndex::from_reference().unwrap())
}

/// Copies the fixture into a fresh directory (the error file is written beside it).
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(fixture(name), &path).unwrap();
    (dir, path)
}

async fn import(registry: Registry<'_>, path: &Path) -> ImportReport {
    import_file(registry, path, &options(), places(), |_| {}).await.unwrap()
}

async fn count(store: &Store, table: &str) -> i64 {
    let q = sea_orm::sea_query::Query::select()
        .expr(sea_orm::sea_query::Expr::cust("COUNT(*)"))
        .from(sea_orm::sea_query::Alias::new(table))
        .to_owned();
    store.db.query_one(&q).await.unwrap().unwrap().try_get_by_index(0).unwrap()
}

/// The rejected rows of an error file: (line cited in the reason, columns at fault).
fn error_rows(report: &ImportReport) -> Vec<(String, String)> {
    let Some(path) = &report.error_file else { return Vec::new() };
    let reader = ResidentFileReader::open(path, None).unwrap();
    let width = reader.headers.len();
    reader
        .map(|r| {
            let cells = r.unwrap().cells;
            let reason = cells[width - 1].clone();
            let line = reason.split('行').next().unwrap().trim_start_matches('第').to_string();
            (line, cells[width - 2].clone())
        })
        .collect()
}

#[tokio::test]
async fn rows_typed_as_offices_type_them_land_and_a_second_import_changes_nothing() {
    for db in testing::backends().await {
        let store = &db.store;
        let (_dir, path) = copy("valid-utf8-bom.csv");
        let report = import(store.registry(), &path).await;
        let t = report.totals;
        assert_eq!((t.read, t.created, t.updated, t.unchanged, t.rejected), (4, 4, 0, 0, 0), "{}", db.label);
        assert_eq!((t.grids_created, t.buildings_created, t.households_created), (2, 2, 2));
        assert_eq!(report.encoding, Some(TextEncoding::Utf8));
        assert!(report.error_file.is_none());
        assert_eq!(report.unknown_columns, vec![]);

        let county = code("440307");
        let found = store.registry().search(&crate::registry::SearchQuery::parse("张小明").unwrap(), 5).await.unwrap();
        let child = &found[0].facts;
        assert_eq!(child.birth_date, date!(2015 - 01 - 05), "birth date read from the ID number");
        assert_eq!(child.registered_residence, county);
        let found = store.registry().search(&crate::registry::SearchQuery::parse("王芳").unwrap(), 5).await.unwrap();
        let wang = &found[0].facts;
        assert!(matches!(&wang.identity, Identity::Number(n) if n.as_str().ends_with('X')));
        assert_eq!((wang.arrival_date, wang.marital_status), (Some(date!(2019 - 01 - 01)), MaritalStatus::Divorced));
        assert_eq!(wang.phone.as_ref().map(|p| p.as_str()), Some("075528901234"));
        let households = store.registry().household_members(&county, wang.household_id).await.unwrap();
        assert_eq!(households.len(), 1);

        let versions = count(store, "resident_version").await;
        let again = import(store.registry(), &path).await.totals;
        assert_eq!((again.created, again.updated, again.unchanged, again.rejected), (0, 0, 4, 0));
        assert_eq!(count(store, "resident_version").await, versions, "the second import wrote nothing");
        assert_eq!(count(store, "household").await, 2);
        db.assert_floor_counts("440307", "after an import").await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_gbk_file_reads_like_the_utf8_one_and_a_wrong_encoding_is_named() {
    let db = testing::sqlite().await;
    let (_dir, path) = copy("gbk.csv");
    let report = import(db.store.registry(), &path).await;
    assert_eq!(report.encoding, Some(TextEncoding::Gb18030));
    assert_eq!((report.totals.created, report.totals.rejected), (4, 0));
    // The same rows in UTF-8 are the same people: nothing changes.
    let (_dir2, utf8) = copy("valid-utf8-bom.csv");
    assert_eq!(import(db.store.registry(), &utf8).await.totals.unchanged, 4);

    let forced = ImportOptions { encoding: Some(TextEncoding::Utf8), ..options() };
    let err = import_file(db.store.registry(), &path, &forced, places(), |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("gbk.csv"), "{err}");
}

#[tokio::test]
async fn blank_lines_are_skipped_and_bad_rows_go_to_the_error_file_naming_their_columns() {
    let db = testing::sqlite().await;
    let store = &db.store;
    // File, (created, rejected), the error file's (line, columns).
    type Case = (&'static str, (u64, u64), Vec<(&'static str, &'static str)>);
    let cases: [Case; 5] = [
        ("empty-lines.csv", (4, 0), vec![]),
        // The columns a short row lacks are the file's own; a long one's are beyond it.
        (
            "wrong-columns.csv",
            (2, 2),
            vec![
                ("3", "表头之外 beyond the header"),
                ("4", "来本地日期、婚姻状况、社区代码、网格、楼栋、单元、楼层、房号、现住址"),
            ],
        ),
        (
            "invalid-ids.csv",
            (1, 3),
            vec![("2", "公民身份号码 id_number"), ("3", "公民身份号码 id_number"), ("4", "公民身份号码 id_number")],
        ),
        (
            "impossible-dates.csv",
            (1, 3),
            vec![("3", "出生日期 birth_date"), ("4", "来本地日期 arrival_date"), ("5", "出生日期 birth_date")],
        ),
        ("duplicates.csv", (3, 2), vec![("4", "公民身份号码 id_number"), ("6", "姓名 name")]),
    ];
    for (name, (created, rejected), errors) in cases {
        // Each file into an empty registry, so "nothing else changed" is a count.
        store.raw_execute("DELETE FROM resident_version").await.unwrap();
        store.raw_execute("DELETE FROM resident").await.unwrap();
        let (_dir, path) = copy(name);
        let report = import(store.registry(), &path).await;
        assert_eq!((report.totals.created, report.totals.rejected), (created, rejected), "{name}");
        assert_eq!(report.totals.read, created + rejected, "{name}");
        let expected: Vec<(String, String)> = errors.iter().map(|(l, c)| (l.to_string(), c.to_string())).collect();
        assert_eq!(error_rows(&report), expected, "{name}");
        assert_eq!(count(store, "resident").await, created as i64, "{name}: only the good rows are stored");
        if let Some(error_file) = &report.error_file {
            let text = std::fs::read_to_string(error_file).unwrap();
            assert!(text.starts_with('\u{feff}') && text.contains("错误原因"), "{name}: {text}");
        }
    }
    // The duplicate rows name the row they repeat.
    let (_dir, path) = copy("duplicates.csv");
    store.raw_execute("DELETE FROM resident_version").await.unwrap();
    store.raw_execute("DELETE FROM resident").await.unwrap();
    let report = import(store.registry(), &path).await;
    let text = std::fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(text.contains("repeats row 2") && text.contains("same person as row 5"), "{text}");
}

#[tokio::test]
async fn a_workbook_with_a_title_and_merged_headings_imports_and_its_errors_come_back_as_a_workbook() {
    let db = testing::sqlite().await;
    let (_dir, path) = copy("merged-header.xlsx");
    let report = import(db.store.registry(), &path).await;
    assert_eq!((report.totals.created, report.totals.rejected), (2, 1));
    assert_eq!(report.format, FileFormat::Xlsx);
    let error_file = report.error_file.clone().unwrap();
    assert_eq!(error_file.extension().unwrap(), "xlsx");
    assert_eq!(error_rows(&report), vec![("6".to_string(), "公民身份号码 id_number".to_string())]);
    let reader = ResidentFileReader::open(&error_file, None).unwrap();
    assert!(reader.headers.starts_with(&["姓名".to_string(), "性别".to_string()]), "{:?}", reader.headers);
}

#[tokio::test]
async fn a_corrected_error_file_imports_on_its_own() {
    let db = testing::sqlite().await;
    let (dir, path) = copy("invalid-ids.csv");
    let report = import(db.store.registry(), &path).await;
    let error_file = report.error_file.unwrap();
    // The office fixes 张伟's number in the error file and imports that file alone.
    let text = std::fs::read_to_string(&error_file).unwrap();
    let fixed = dir.path().join("fixed.csv");
    let broken = text.lines().nth(1).unwrap().split(',').nth(3).unwrap().to_string();
    std::fs::write(&fixed, text.replace(&broken, "430582198803150116")).unwrap();
    let again = import(db.store.registry(), &fixed).await;
    assert_eq!((again.totals.created, again.totals.rejected), (1, 2), "{:?}", again.error_file);
    assert!(again.unknown_columns.is_empty(), "the error columns are known: {:?}", again.unknown_columns);
}

#[tokio::test]
async fn a_changed_row_becomes_a_new_version_and_rows_outside_the_scope_are_refused() {
    let db = testing::sqlite().await;
    let store = &db.store;
    let (dir, path) = copy("valid-utf8-bom.csv");
    import(store.registry(), &path).await;
    let changed = dir.path().join("changed.csv");
    let text = std::fs::read_to_string(&path).unwrap().replace("139-1234-5678", "13700001111");
    std::fs::write(&changed, text).unwrap();
    let report = import(store.registry(), &changed).await.totals;
    assert_eq!((report.updated, report.unchanged), (1, 3));
    let found = store.registry().search(&crate::registry::SearchQuery::parse("13700001111").unwrap(), 5).await.unwrap();
    let history = store.registry().resident_history(&code("440307"), found[0].resident_id).await.unwrap();
    assert_eq!(history.len(), 2, "the old phone number stays in the history");
    db.assert_floor_counts("440307", "after an updating import").await;

    let other = Scope::new(Role::Specialist, vec![code("440307003004")]);
    let report = import(store.registry_in(&other), &changed).await;
    assert_eq!((report.totals.rejected, report.totals.unchanged), (4, 0));
    let text = std::fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(text.contains("outside your scope"), "{text}");

    // The same people named under the other community's own code: the ID numbers are
    // recorded elsewhere, and the reason says so without naming where (ADR 004).
    let moved = dir.path().join("moved.csv");
    std::fs::write(&moved, std::fs::read_to_string(&path).unwrap().replace("440307003002", "440307003004")).unwrap();
    let report = import(store.registry_in(&other), &moved).await;
    assert_eq!(report.totals.rejected, 4);
    // The refused rows left no grid, building or household behind in 440307003004.
    let t = &report.totals;
    assert_eq!((t.grids_created, t.buildings_created, t.households_created), (0, 0, 0));
    let text = std::fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(text.contains(super::OUTSIDE_SCOPE), "{text}");
    assert!(!text.contains("440307003002"), "{text}");
}

#[tokio::test]
async fn export_then_import_into_an_empty_database_then_export_gives_the_same_file() {
    for db in testing::backends().await {
        let county = code("440307");
        let rows = crate::org::Divisions::reference(&crate::org::LoadScope::counties(vec![county.clone()])).unwrap();
        db.store.divisions().load(&rows, |_| {}).await.unwrap();
        let communities = ["440307003002", "440307003004"].iter().map(|c| (code(c), format!("社区{c}"))).collect();
        let plan = PopulationPlan {
            county: county.clone(),
            communities,
            all_counties: reference::counties().unwrap().into_iter().map(|d| d.code).collect(),
            residents: 600,
            seed: 5,
            reference_date: date!(2026 - 11 - 01),
        };
        for community in PopulationGenerator::new(plan) {
            db.store.registry().write_community(&county, &community, "seed").await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        for (format, encoding) in [(FileFormat::Csv, TextEncoding::Utf8), (FileFormat::Csv, TextEncoding::Gb18030)] {
            let export_of = |store: Store, node: DivisionCode, scope: Option<Scope>, name: &'static str| {
                let path = dir.path().join(name);
                async move {
                    let headers: Vec<String> =
                        jiceng_domain::exchange::resident_file::headers().map(String::from).collect();
                    let mut writer = ResidentFileWriter::create(&path, format, encoding, &headers).unwrap();
                    let registry = match &scope {
                        Some(scope) => store.registry_in(scope),
                        None => store.registry(),
                    };
                    let n = registry.export_residents(&node, &mut writer, |_| {}).await.unwrap();
                    writer.finish().unwrap();
                    (path, n)
                }
            };
            let export = |store: Store, name: &'static str| export_of(store, county.clone(), None, name);
            let (first, n) = export(db.store.clone(), "first.csv").await;
            assert_eq!(n, 600, "{}", db.label);
            // The same file from the city and the street above (the two communities are
            // both in street 440307003); a community's specialist gets only their own.
            for node in ["4403", "440307003"] {
                let (above, _) = export_of(db.store.clone(), code(node), None, "above.csv").await;
                assert!(std::fs::read(&first).unwrap() == std::fs::read(&above).unwrap(), "{} {node}", db.label);
            }
            let own = Scope::new(Role::Specialist, vec![code("440307003004")]);
            let (mine, n) = export_of(db.store.clone(), county.clone(), Some(own), "mine.csv").await;
            // Digits are ASCII in every encoding written.
            let other = std::fs::read(&mine).unwrap().windows(12).any(|w| w == b"440307003002");
            assert!(n > 0 && n < 600 && !other, "{}: {n}", db.label);
            let empty = testing::sqlite().await;
            let options = ImportOptions { encoding: Some(encoding), chunk_rows: 250, ..options() };
            let report = import_file(empty.store.registry(), &first, &options, places(), |_| {}).await.unwrap();
            assert_eq!((report.totals.created, report.totals.rejected), (600, 0), "{:?}", report.error_file);
            let (second, _) = export(empty.store.clone(), "second.csv").await;
            if std::fs::read(&first).unwrap() != std::fs::read(&second).unwrap() {
                let keep = std::env::temp_dir().join("jiceng-roundtrip");
                std::fs::create_dir_all(&keep).unwrap();
                std::fs::copy(&first, keep.join("first.csv")).unwrap();
                std::fs::copy(&second, keep.join("second.csv")).unwrap();
                panic!("{} {encoding:?}: the files differ (kept in {})", db.label, keep.display());
            }
        }
        db.finish().await;
    }
}

/// A short row names the file's own columns it lacks; a 社区 column holding codes reads
/// them as codes.
#[tokio::test]
async fn short_rows_name_their_missing_columns_and_codes_under_a_community_heading_are_codes() {
    let db = testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.csv");
    std::fs::write(
        &path,
        "姓名,身份证号码,社区,楼栋,房号,民族,户主关系,人员类别\n\
         张伟,430582198803150116,440307003002,8栋,1203,汉族,户主,户籍人口\n\
         李娜,430582199007200228,440307003002,8栋\n",
    )
    .unwrap();
    let report = import(db.store.registry(), &path).await;
    assert_eq!((report.totals.created, report.totals.rejected), (1, 1), "{:?}", report.error_file);
    let text = std::fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(text.contains("缺少：房号、民族、户主关系、人员类别") && text.contains("missing: 房号"), "{text}");
    assert!(!text.contains("序号"), "{text}");
}

/// A 街道 column with 9-digit codes is read as the street: it must contain the row's
/// community (a street name there is set aside).
#[tokio::test]
async fn a_street_code_column_checks_the_community() {
    let db = testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streets.csv");
    std::fs::write(
        &path,
        "姓名,身份证号码,街道,社区,楼栋,房号,民族,户主关系,人员类别\n\
         张伟,430582198803150116,440307003,440307003002,8栋,1203,汉族,户主,户籍人口\n\
         李娜,430582199007200228,440307006,440307003002,8栋,1204,汉族,户主,户籍人口\n\
         王芳,11010119751130038X,平湖街道,440307003002,8栋,1205,汉族,户主,户籍人口\n",
    )
    .unwrap();
    let report = import(db.store.registry(), &path).await;
    assert!(report.unknown_columns.is_empty(), "{:?}", report.unknown_columns);
    assert_eq!((report.totals.created, report.totals.rejected), (2, 1), "{:?}", report.error_file);
    let text = std::fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(text.contains("街道 street") && text.contains("is not in street 440307006"), "{text}");
}

/// A 户编号 already used by a household at another address (recorded, or named earlier
/// in the same file) refuses that row, naming the column and the address; the rest
/// lands. Before, the database's unique key stopped the whole import.
#[tokio::test]
async fn a_household_number_recorded_at_another_address_refuses_the_row() {
    for db in testing::backends().await {
        let store = &db.store;
        let dir = tempfile::tempdir().unwrap();
        let header =
            "户编号,姓名,性别,公民身份号码,出生日期,民族,与户主关系,人口类型,户籍地,社区代码,楼栋,单元,楼层,房号\n";
        let first = dir.path().join("first.csv");
        std::fs::write(&first, format!("{header}H-1,张伟,男,430582198803150116,1988/3/15,汉族,户主,流入人口,430582,440307003002,8栋,2,12,1203\n"))
            .unwrap();
        let report = import(store.registry(), &first).await;
        let errors = report.error_file.as_ref().map(|f| std::fs::read_to_string(f).unwrap()).unwrap_or_default();
        assert_eq!(report.totals.created, 1, "{}: {errors}", db.label);
        // H-1 is at 8栋 2-12-1203: a row putting it in room 1204 is refused; so is a
        // second row of one file naming H-2 in two rooms.
        let second = dir.path().join("second.csv");
        std::fs::write(
            &second,
            format!(
                "{header}H-1,李娜,女,430582199007200228,19900720,汉族,户主,流入人口,430582,440307003002,8栋,2,12,1204\n\
                 H-2,王芳,女,440307198501010020,19850101,汉族,户主,流入人口,430582,440307003002,9栋,1,3,301\n\
                 H-2,赵强,男,440307198001010016,19800101,汉族,户主,流入人口,430582,440307003002,9栋,1,3,302\n"
            ),
        )
        .unwrap();
        let report = import(store.registry(), &second).await;
        let t = report.totals;
        assert_eq!((t.created, t.rejected), (1, 2), "{}: {t:?}", db.label);
        let rows = error_rows(&report);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|(_, columns)| columns.contains("户编号")), "{rows:?}");
        let text = std::fs::read_to_string(report.error_file.as_ref().unwrap()).unwrap();
        assert!(
            text.contains("household number H-1 is recorded at another address (8栋 unit 2 floor 12 room 1203)"),
            "{text}"
        );
        assert_eq!(count(store, "household").await, 2, "{}", db.label);
        db.assert_floor_counts("440307", "after refused rows").await;
        // To an importer of another community the address is not shown (ADR 004).
        let theirs = dir.path().join("theirs.csv");
        std::fs::write(
            &theirs,
            format!(
                "{header}H-1,钱七,男,440307198001010016,19800101,汉族,户主,流入人口,430582,440307003004,1栋,1,1,101\n"
            ),
        )
        .unwrap();
        let scope = Scope::new(Role::Specialist, vec![code("440307003004")]);
        let report = import(store.registry_in(&scope), &theirs).await;
        assert_eq!(report.totals.rejected, 1, "{}", db.label);
        let text = std::fs::read_to_string(report.error_file.as_ref().unwrap()).unwrap();
        assert!(text.contains("household number H-1 is used for another address"), "{text}");
        assert!(!text.contains("8栋") && !text.contains("1203"), "{text}");
        db.finish().await;
    }
}
