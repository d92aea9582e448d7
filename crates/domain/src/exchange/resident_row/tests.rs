use std::collections::HashMap;

use time::macros::date;

use super::*;

fn map(headers: &[&str]) -> ColumnMap {
    let headers: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
    ColumnMap::from_headers(&headers, &HashMap::new()).unwrap()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

fn place(text: &str) -> Option<DivisionCode> {
    match text {
        "湖南省邵阳市邵东市" | "430521" => DivisionCode::parse("430521").ok(),
        _ => None,
    }
}

const HEADERS: [&str; 12] = [
    "社区代码",
    "楼栋",
    "单元",
    "楼层",
    "房号",
    "姓名",
    "公民身份号码",
    "民族",
    "联系电话",
    "户籍地",
    "与户主关系",
    "人口类型",
];
const TODAY: Date = date!(2026 - 11 - 24);

#[test]
fn a_row_typed_the_way_offices_type_it_reads_cleanly() {
    let r = ResidentRow::parse(
        &row(&[
            "440307003002",
            "8栋",
            "２",
            "",
            "1203室",
            " 张三 ",
            "43052119900307003x",
            "汉",
            "139-1234 5678",
            "湖南省邵阳市邵东市",
            "本人",
            "流入",
        ]),
        &map(&HEADERS),
        TODAY,
        &place,
    )
    .unwrap();
    assert_eq!((r.unit, r.floor, r.room.as_str()), (2, 12, "1203"));
    assert_eq!((r.sex, r.birth_date), (Sex::Male, date!(1990 - 03 - 07)), "sex and birth date come from the ID");
    assert_eq!(r.phone.as_ref().map(Phone::as_str), Some("13912345678"));
    assert_eq!(r.registered_residence, DivisionCode::parse("430521").ok().map(Some).unwrap());
    assert_eq!(r.relationship, Relationship::Head);
    assert_eq!(r.marital_status, MaritalStatus::Unspecified);
}

#[test]
fn every_problem_of_a_row_names_its_column() {
    let err = ResidentRow::parse(
        &row(&["44030700300x", "", "0", "x", "", "", "4.40307E+17", "火星族", "123", "某地", "邻居", "游客"]),
        &map(&HEADERS),
        TODAY,
        &place,
    )
    .unwrap_err();
    let columns: Vec<Column> = err.0.iter().map(|p| p.column).collect();
    for column in [
        Column::CommunityCode,
        Column::Building,
        Column::Unit,
        Column::Floor,
        Column::Room,
        Column::Name,
        Column::IdNumber,
        Column::Ethnicity,
        Column::Phone,
        Column::RegisteredResidence,
        Column::Relationship,
        Column::ResidenceStatus,
    ] {
        assert!(columns.contains(&column), "{column:?} not reported: {err}");
    }
    assert!(err.to_string().contains("Excel"), "{err}");
}

#[test]
fn impossible_dates_and_contradictions_are_rejected() {
    let headers = ["社区代码", "楼栋", "房号", "姓名", "性别", "出生日期", "民族", "与户主关系", "人口类型", "户籍地"];
    let parse = |sex: &str, birth: &str| {
        ResidentRow::parse(
            &row(&["440307003002", "1栋", "301", "李四", sex, birth, "汉族", "户主", "户籍人口", ""]),
            &map(&headers),
            TODAY,
            &place,
        )
    };
    let ok = parse("女", "2020年1月5日").unwrap();
    assert_eq!(
        (ok.floor, ok.registered_residence.clone()),
        (3, None),
        "registered here: the county is filled in later"
    );
    assert!(matches!(ok.identity, Identity::Missing(IdMissingReason::Unknown)));
    let err = parse("女", "2021-02-29").unwrap_err();
    assert_eq!(err.0[0].column, Column::BirthDate);
    let err = parse("女", "2030-01-01").unwrap_err();
    assert_eq!(err.0[0].column, Column::BirthDate, "{err}");
    let err = parse("外星", "2020-01-01").unwrap_err();
    assert_eq!(err.0[0].column, Column::Sex);
}

/// A 12-digit community code under a 社区 (or 所属社区, 社区名称) heading is that
/// community; a name there is looked up by name.
#[test]
fn a_community_code_under_a_name_heading_is_that_community() {
    for heading in ["社区", "所属社区", "社区名称", "现住址社区"] {
        let m = map(&[heading, "楼栋", "房号", "姓名", "公民身份号码", "民族", "与户主关系", "人口类型"]);
        let cells = |community: &str| {
            row(&[community, "8栋", "1203", "张伟", "430582198803150116", "汉族", "户主", "户籍人口"])
        };
        let coded = ResidentRow::parse(&cells("440307003002"), &m, TODAY, &place).unwrap();
        assert_eq!(coded.community, CommunityRef::Code(DivisionCode::parse("440307003002").unwrap()), "{heading}");
        let named = ResidentRow::parse(&cells("平湖社区"), &m, TODAY, &place).unwrap();
        assert_eq!(named.community, CommunityRef::Name("平湖社区".into()));
    }
}

proptest::proptest! {
    /// Any cells under any headers read as a row or a list of problems, never a panic.
    #[test]
    fn any_row_reads_or_is_refused(cells in proptest::collection::vec("\\PC{0,30}", 0..14)) {
        let m = map(&HEADERS);
        let row: Vec<String> = cells;
        let _ = ResidentRow::parse(&row, &m, TODAY, &place);
    }
}
