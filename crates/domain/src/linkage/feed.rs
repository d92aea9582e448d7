//! 部门通报 (department feeds): the notices civil affairs, public security, health,
//! disease control and education send the population office, each kind with its
//! columns, read from a file row or a JSON object into one [`FeedRecord`].

use serde::{Deserialize, Serialize};
use time::Date;

use super::LinkRecord;
use crate::exchange::values::{normalize, parse_date, parse_sex};
use crate::org::DivisionCode;
use crate::registry::Sex;
use crate::registry::codes::coded_enum;

coded_enum!(
    /// The kind of department that sends notices.
    DepartmentKind {
        CivilAffairs => ("civil_affairs", "民政", "civil affairs"),
        PublicSecurity => ("public_security", "公安", "public security"),
        Health => ("health", "卫健/医院", "health commission or hospital"),
        DiseaseControl => ("disease_control", "疾控/接种点", "disease control or vaccination clinic"),
        Education => ("education", "教育", "education"),
        PartnerRegion => ("partner_region", "协作地区", "partner region"),
    }
);

coded_enum!(
    /// 通报类型: what a notice is about.
    FeedKind {
        Marriage => ("marriage", "结婚登记", "marriage registration"),
        Divorce => ("divorce", "离婚登记", "divorce registration"),
        HukouChange => ("hukou_change", "户口登记变动", "household registration change"),
        HospitalBirth => ("hospital_birth", "医院出生", "hospital birth"),
        Vaccination => ("vaccination", "新生儿预防接种", "newborn vaccination"),
        SchoolEntry => ("school_entry", "入学", "school entry"),
        Death => ("death", "死亡", "death"),
        Residence => ("residence", "居住登记变动", "residence registration change"),
    }
);

coded_enum!(
    /// 居住登记变动的类别: where a person lives, as the place they live in knows it
    /// (a partner region's exchange, or public security's 居住证 office).
    ResidenceChange {
        Arrival => ("arrival", "登记居住", "arrived"),
        Departure => ("departure", "注销居住", "left"),
        AddressChange => ("address_change", "变更居住地址", "changed address"),
    }
);

coded_enum!(
    /// 户口登记变动的类别.
    HukouChange {
        MoveIn => ("move_in", "迁入", "moved in"),
        MoveOut => ("move_out", "迁出", "moved out"),
        BirthRegistration => ("birth", "出生登记", "birth registration"),
        DeathCancellation => ("death", "死亡注销", "cancelled on death"),
    }
);

coded_enum!(
    /// What became of an incoming record.
    FeedOutcome {
        Matched => ("matched", "已匹配", "matched"),
        Possible => ("possible", "疑似匹配待审核", "possible match under review"),
        NoMatch => ("no_match", "未匹配", "no match"),
        Duplicate => ("duplicate", "重复通报", "duplicate of an earlier record"),
        Rejected => ("rejected", "退回", "rejected"),
    }
);

impl DepartmentKind {
    /// The kinds a department of this kind usually sends (what registering one offers).
    pub fn usual_feeds(self) -> &'static [FeedKind] {
        match self {
            DepartmentKind::CivilAffairs => &[FeedKind::Marriage, FeedKind::Divorce, FeedKind::Death],
            DepartmentKind::PublicSecurity => &[FeedKind::HukouChange, FeedKind::Death],
            DepartmentKind::Health => &[FeedKind::HospitalBirth, FeedKind::Death],
            DepartmentKind::DiseaseControl => &[FeedKind::Vaccination],
            DepartmentKind::Education => &[FeedKind::SchoolEntry],
            // What an exchange package carries (`exchange::package::RecordKind`).
            DepartmentKind::PartnerRegion => {
                &[FeedKind::Residence, FeedKind::HospitalBirth, FeedKind::Death, FeedKind::Marriage, FeedKind::Divorce]
            }
        }
    }
}

impl FeedKind {
    /// Health feeds (a delivery, a vaccination) are shown only to roles that need them
    /// and every read of one is audited.
    pub fn is_health(self) -> bool {
        matches!(self, FeedKind::HospitalBirth | FeedKind::Vaccination)
    }

    /// Whether `role` may see records of this kind. Health feeds (a delivery, a
    /// vaccination) go only to those who review births and receive the feeds: the
    /// community specialist, the district office and administrators — not grid workers,
    /// street offices or service providers.
    pub fn visible_to(self, role: crate::org::Role) -> bool {
        use crate::org::Role;
        match role {
            Role::Specialist | Role::District | Role::Administrator => true,
            Role::GridWorker | Role::Street => !self.is_health(),
            Role::ServiceProvider => false,
        }
    }

    /// The columns of this kind's file, in order, with whether each is required.
    pub fn columns(self) -> &'static [(FeedColumn, bool)] {
        use FeedColumn::*;
        match self {
            FeedKind::Marriage | FeedKind::Divorce => &[
                (RecordNo, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, false),
                (IdNumber, false),
                (Phone, false),
                (Community, false),
                (PartnerName, false),
                (PartnerIdNumber, false),
            ],
            FeedKind::HukouChange => &[
                (RecordNo, true),
                (ChangeType, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, false),
                (IdNumber, false),
                (Phone, false),
                (Community, false),
                (Region, false),
            ],
            FeedKind::HospitalBirth => &[
                (RecordNo, true),
                (OccurredOn, true),
                (Name, true),
                (BirthDate, false),
                (IdNumber, false),
                (Phone, false),
                (Community, false),
                (ChildSex, true),
                (ChildName, false),
                (Hospital, true),
            ],
            FeedKind::Vaccination => &[
                (RecordNo, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, true),
                (IdNumber, false),
                (Community, false),
                (GuardianName, false),
                (GuardianPhone, false),
                (Clinic, true),
            ],
            FeedKind::SchoolEntry => &[
                (RecordNo, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, true),
                (IdNumber, false),
                (Community, false),
                (GuardianName, false),
                (GuardianPhone, false),
                (School, true),
            ],
            FeedKind::Death => &[
                (RecordNo, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, false),
                (IdNumber, false),
                (Community, false),
            ],
            FeedKind::Residence => &[
                (RecordNo, true),
                (ChangeType, true),
                (OccurredOn, true),
                (Name, true),
                (Sex, false),
                (BirthDate, false),
                (IdNumber, false),
                (Phone, false),
                (Community, false),
                (Region, true),
                (Address, false),
            ],
        }
    }

    /// The date column's heading for this kind (the same column, named as the
    /// department names it).
    pub fn date_heading(self) -> (&'static str, &'static str) {
        match self {
            FeedKind::Marriage | FeedKind::Divorce => ("登记日期", "registered_on"),
            FeedKind::HukouChange => ("变动日期", "changed_on"),
            FeedKind::HospitalBirth => ("分娩日期", "delivered_on"),
            FeedKind::Vaccination => ("接种日期", "vaccinated_on"),
            FeedKind::SchoolEntry => ("入学日期", "entered_on"),
            FeedKind::Death => ("死亡日期", "died_on"),
            FeedKind::Residence => ("变动日期", "changed_on"),
        }
    }

    /// Headings of this kind's file: Chinese, or English.
    pub fn headings(self, english: bool) -> Vec<&'static str> {
        self.columns().iter().map(|(c, _)| c.heading(self, english)).collect()
    }
}

/// A column of a feed file. The person the record is about (the mother, for a birth;
/// the child, for vaccination and school entry) is described by the columns from
/// `Name` to `Community`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedColumn {
    /// The department's own number for the record: sending it again changes nothing.
    RecordNo,
    OccurredOn,
    Name,
    Sex,
    BirthDate,
    IdNumber,
    Phone,
    /// 12-digit code of the community the person lives in, when the department knows it.
    Community,
    PartnerName,
    PartnerIdNumber,
    ChangeType,
    /// Where the person moved from or to (a division code).
    Region,
    ChildSex,
    ChildName,
    Hospital,
    GuardianName,
    GuardianPhone,
    Clinic,
    School,
    /// Where the person lives, as the region they live in writes it.
    Address,
}

impl FeedColumn {
    /// The heading in Chinese or English (the English one is the JSON API's key).
    pub fn heading(self, kind: FeedKind, english: bool) -> &'static str {
        let (zh, en) = match self {
            FeedColumn::RecordNo => ("记录编号", "record_no"),
            FeedColumn::OccurredOn => kind.date_heading(),
            FeedColumn::Name => match kind {
                FeedKind::HospitalBirth => ("产妇姓名", "mother_name"),
                FeedKind::Vaccination | FeedKind::SchoolEntry => ("儿童姓名", "child_name"),
                _ => ("姓名", "name"),
            },
            FeedColumn::Sex => ("性别", "sex"),
            FeedColumn::BirthDate => ("出生日期", "dob"),
            FeedColumn::IdNumber => ("公民身份号码", "id_number"),
            FeedColumn::Phone => ("联系电话", "phone"),
            FeedColumn::Community => ("现居住社区代码", "community"),
            FeedColumn::PartnerName => ("配偶姓名", "partner_name"),
            FeedColumn::PartnerIdNumber => ("配偶公民身份号码", "partner_id_number"),
            FeedColumn::ChangeType => ("变动类别", "change_type"),
            FeedColumn::Region => match kind {
                FeedKind::Residence => ("居住地区代码", "region"),
                _ => ("迁自或迁往地区代码", "region"),
            },
            FeedColumn::ChildSex => ("婴儿性别", "baby_sex"),
            FeedColumn::ChildName => ("婴儿姓名", "baby_name"),
            FeedColumn::Hospital => ("助产机构", "hospital"),
            FeedColumn::GuardianName => ("监护人姓名", "guardian_name"),
            FeedColumn::GuardianPhone => ("监护人电话", "guardian_phone"),
            FeedColumn::Clinic => ("接种单位", "clinic"),
            FeedColumn::School => ("学校", "school"),
            FeedColumn::Address => ("居住地址", "address"),
        };
        if english { en } else { zh }
    }

    /// The column a heading names in a file of `kind`, in either language.
    pub fn of_heading(kind: FeedKind, heading: &str) -> Option<FeedColumn> {
        let h = heading.trim().trim_start_matches('\u{feff}');
        kind.columns()
            .iter()
            .map(|(c, _)| *c)
            .find(|c| c.heading(kind, false) == h || c.heading(kind, true).eq_ignore_ascii_case(h))
    }
}

/// What a record says beyond the person it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedDetails {
    Marriage {
        partner_name: Option<String>,
        partner_id_number: Option<String>,
    },
    Divorce {
        partner_name: Option<String>,
        partner_id_number: Option<String>,
    },
    HukouChange {
        change: HukouChange,
        region: Option<DivisionCode>,
    },
    HospitalBirth {
        baby_sex: Sex,
        baby_name: Option<String>,
        hospital: String,
    },
    Vaccination {
        guardian_name: Option<String>,
        guardian_phone: Option<String>,
        clinic: String,
    },
    SchoolEntry {
        guardian_name: Option<String>,
        guardian_phone: Option<String>,
        school: String,
    },
    Death,
    /// Where the person now lives (`region`), outside the registry's own knowledge.
    Residence {
        change: ResidenceChange,
        region: DivisionCode,
        address: Option<String>,
    },
}

/// A department's record, read and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRecord {
    pub record_no: String,
    pub occurred_on: Date,
    /// The person the record is about, as the department describes them.
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub community: Option<DivisionCode>,
    pub details: FeedDetails,
}

/// What the record would change in the registry once linked to a person: two records
/// with the same effect on the same person and day are one notice sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Marriage,
    Divorce,
    MoveOut,
    Death,
    /// A child born to the matched mother.
    Birth,
    /// The person is known and the record only confirms them (move in, birth
    /// registration, vaccination, school entry).
    Confirms,
    /// The person lives in another region now (an arrival there): a registered resident
    /// recorded as living here becomes 流出人口.
    LivesElsewhere,
}

impl Effect {
    pub fn key(self) -> &'static str {
        match self {
            Effect::Marriage => "marriage",
            Effect::Divorce => "divorce",
            Effect::MoveOut => "move_out",
            Effect::Death => "death",
            Effect::Birth => "birth",
            Effect::Confirms => "confirms",
            Effect::LivesElsewhere => "lives_elsewhere",
        }
    }
}

impl FeedRecord {
    pub fn kind(&self) -> FeedKind {
        match self.details {
            FeedDetails::Marriage { .. } => FeedKind::Marriage,
            FeedDetails::Divorce { .. } => FeedKind::Divorce,
            FeedDetails::HukouChange { .. } => FeedKind::HukouChange,
            FeedDetails::HospitalBirth { .. } => FeedKind::HospitalBirth,
            FeedDetails::Vaccination { .. } => FeedKind::Vaccination,
            FeedDetails::SchoolEntry { .. } => FeedKind::SchoolEntry,
            FeedDetails::Death => FeedKind::Death,
            FeedDetails::Residence { .. } => FeedKind::Residence,
        }
    }

    pub fn effect(&self) -> Effect {
        match &self.details {
            FeedDetails::Marriage { .. } => Effect::Marriage,
            FeedDetails::Divorce { .. } => Effect::Divorce,
            FeedDetails::HukouChange { change: HukouChange::MoveOut, .. } => Effect::MoveOut,
            FeedDetails::HukouChange { change: HukouChange::DeathCancellation, .. } | FeedDetails::Death => {
                Effect::Death
            }
            FeedDetails::HospitalBirth { .. } => Effect::Birth,
            FeedDetails::Residence { change: ResidenceChange::Arrival, .. } => Effect::LivesElsewhere,
            FeedDetails::HukouChange { .. }
            | FeedDetails::Vaccination { .. }
            | FeedDetails::SchoolEntry { .. }
            | FeedDetails::Residence { .. } => Effect::Confirms,
        }
    }

    /// The person as the linkage reads them.
    pub fn link_record(&self) -> LinkRecord {
        LinkRecord {
            name: self.name.clone(),
            sex: self.sex,
            birth_date: self.birth_date,
            id_number: self.id_number.clone(),
            community: self.community.as_ref().map(|c| c.as_str().to_string()),
            phone: self.phone.clone(),
        }
    }

    /// Whether the record says the person lives outside the area (a move out to
    /// another region): with no match, a note for the partner region rather than a
    /// new registration.
    pub fn lives_elsewhere(&self, county: &DivisionCode) -> bool {
        match &self.details {
            FeedDetails::HukouChange { change: HukouChange::MoveOut, region: Some(r) } => {
                r.at_level(crate::org::DivisionLevel::County).as_ref() != Some(county)
            }
            FeedDetails::Residence {
                change: ResidenceChange::Arrival | ResidenceChange::AddressChange,
                region,
                ..
            } => !county.contains(region),
            _ => self.community.as_ref().is_some_and(|c| !c.as_str().starts_with(county.as_str())),
        }
    }
}

/// One field's problem in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub column: Option<FeedColumn>,
    pub message: String,
}

/// Longest text kept in a field (names, places): a longer one is refused, not cut.
pub const MAX_FIELD_CHARS: usize = 64;

/// Reads one record of `kind` from its cells (column, text). Empty cells are missing.
/// Every problem of the row is given, each naming its column.
pub fn read_record(kind: FeedKind, cells: &[(FeedColumn, &str)]) -> Result<FeedRecord, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let text = |column: FeedColumn| -> Option<String> {
        cells.iter().find(|(c, _)| *c == column).map(|(_, t)| normalize(t)).filter(|t| !t.is_empty())
    };
    let mut problem = |column: FeedColumn, zh: &str, en: &str| {
        problems.push(FieldProblem {
            column: Some(column),
            message: format!("{}：{zh} / {}: {en}", column.heading(kind, false), column.heading(kind, true)),
        });
    };
    for (column, required) in kind.columns() {
        if *required && text(*column).is_none() {
            problem(*column, "必填", "required");
        }
        if text(*column).is_some_and(|t| t.chars().count() > MAX_FIELD_CHARS) {
            problem(*column, "内容过长", "too long");
        }
    }
    let date = |column: FeedColumn, problem: &mut dyn FnMut(FeedColumn, &str, &str)| -> Option<Date> {
        let t = text(column)?;
        match parse_date(&t) {
            Ok(d) => Some(d),
            Err(_) => {
                problem(column, "不是日期（如 2026-03-01）", "not a date (such as 2026-03-01)");
                None
            }
        }
    };
    let occurred_on = date(FeedColumn::OccurredOn, &mut problem);
    let birth_date = date(FeedColumn::BirthDate, &mut problem);
    let sex_of = |column: FeedColumn, problem: &mut dyn FnMut(FeedColumn, &str, &str)| -> Option<Sex> {
        let t = text(column)?;
        let sex = parse_sex(&t);
        if sex.is_none() {
            problem(column, "应为 男 或 女", "should be 男 (male) or 女 (female)");
        }
        sex
    };
    let mut sex = sex_of(FeedColumn::Sex, &mut problem);
    if kind == FeedKind::HospitalBirth {
        sex = Some(Sex::Female);
    }
    let community = text(FeedColumn::Community).and_then(|t| match DivisionCode::parse(&t) {
        Ok(c) if c.as_str().len() == 12 => Some(c),
        _ => {
            problem(FeedColumn::Community, "应为12位社区代码", "should be a 12-digit community code");
            None
        }
    });
    let region = text(FeedColumn::Region).and_then(|t| match DivisionCode::parse_padded(&t) {
        Ok(c) => Some(c),
        Err(_) => {
            problem(FeedColumn::Region, "不是行政区划代码", "not a division code");
            None
        }
    });
    let id_number = text(FeedColumn::IdNumber).map(|t| t.to_ascii_uppercase());
    if let Some(id) = &id_number
        && !(id.len() == 15 || id.len() == 18)
    {
        problem(FeedColumn::IdNumber, "应为15或18位", "should have 15 or 18 characters");
    }
    let details = match kind {
        FeedKind::Marriage => FeedDetails::Marriage {
            partner_name: text(FeedColumn::PartnerName),
            partner_id_number: text(FeedColumn::PartnerIdNumber),
        },
        FeedKind::Divorce => FeedDetails::Divorce {
            partner_name: text(FeedColumn::PartnerName),
            partner_id_number: text(FeedColumn::PartnerIdNumber),
        },
        FeedKind::HukouChange => {
            let change = text(FeedColumn::ChangeType).and_then(|t| {
                let found = HukouChange::from_text(&t);
                if found.is_none() {
                    problem(
                        FeedColumn::ChangeType,
                        "应为 迁入、迁出、出生登记 或 死亡注销",
                        "should be 迁入, 迁出, 出生登记 or 死亡注销 (move_in, move_out, birth, death)",
                    );
                }
                found
            });
            match change {
                Some(change) => FeedDetails::HukouChange { change, region },
                None => FeedDetails::Death,
            }
        }
        FeedKind::HospitalBirth => FeedDetails::HospitalBirth {
            baby_sex: sex_of(FeedColumn::ChildSex, &mut problem).unwrap_or(Sex::Female),
            baby_name: text(FeedColumn::ChildName),
            hospital: text(FeedColumn::Hospital).unwrap_or_default(),
        },
        FeedKind::Vaccination => FeedDetails::Vaccination {
            guardian_name: text(FeedColumn::GuardianName),
            guardian_phone: text(FeedColumn::GuardianPhone),
            clinic: text(FeedColumn::Clinic).unwrap_or_default(),
        },
        FeedKind::SchoolEntry => FeedDetails::SchoolEntry {
            guardian_name: text(FeedColumn::GuardianName),
            guardian_phone: text(FeedColumn::GuardianPhone),
            school: text(FeedColumn::School).unwrap_or_default(),
        },
        FeedKind::Death => FeedDetails::Death,
        FeedKind::Residence => {
            let change = text(FeedColumn::ChangeType).and_then(|t| {
                let found = ResidenceChange::from_text(&t);
                if found.is_none() {
                    problem(
                        FeedColumn::ChangeType,
                        "应为 登记居住、注销居住 或 变更居住地址",
                        "should be 登记居住, 注销居住 or 变更居住地址 (arrival, departure, address_change)",
                    );
                }
                found
            });
            match (change, region.clone()) {
                (Some(change), Some(region)) => {
                    FeedDetails::Residence { change, region, address: text(FeedColumn::Address) }
                }
                // The problems are already noted (a required column); the row is refused.
                _ => FeedDetails::Death,
            }
        }
    };
    if let (Some(born), Some(on)) = (birth_date, occurred_on)
        && born > on
    {
        problem(FeedColumn::BirthDate, "晚于事件日期", "after the date of the record");
    }
    match (problems.is_empty(), occurred_on) {
        (true, Some(occurred_on)) => Ok(FeedRecord {
            record_no: text(FeedColumn::RecordNo).unwrap_or_default(),
            occurred_on,
            name: text(FeedColumn::Name).unwrap_or_default(),
            sex,
            birth_date,
            id_number,
            phone: text(FeedColumn::Phone),
            community,
            details,
        }),
        _ => Err(problems),
    }
}

/// Matches a file's headings to the columns of `kind`: the column of each heading (or
/// `None` for one not of this kind), or the required columns missing.
pub fn map_headings(kind: FeedKind, headings: &[String]) -> Result<Vec<Option<FeedColumn>>, Vec<FeedColumn>> {
    let map: Vec<Option<FeedColumn>> = headings.iter().map(|h| FeedColumn::of_heading(kind, h)).collect();
    let missing: Vec<FeedColumn> =
        kind.columns().iter().filter(|(c, required)| *required && !map.contains(&Some(*c))).map(|(c, _)| *c).collect();
    if missing.is_empty() { Ok(map) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn cells<'a>(kind: FeedKind, values: &[&'a str]) -> Vec<(FeedColumn, &'a str)> {
        kind.columns().iter().map(|(c, _)| *c).zip(values.iter().copied()).collect()
    }

    #[test]
    fn every_kind_reads_its_headings_in_both_languages() {
        for kind in FeedKind::ALL {
            for english in [false, true] {
                let headings: Vec<String> = kind.headings(english).iter().map(|h| h.to_string()).collect();
                let map = map_headings(*kind, &headings).unwrap();
                assert!(map.iter().all(Option::is_some), "{kind:?} {english}");
            }
            let unique: std::collections::HashSet<_> = kind.headings(false).into_iter().collect();
            assert_eq!(unique.len(), kind.columns().len(), "{kind:?}: headings repeat");
        }
    }

    #[test]
    fn a_missing_required_heading_is_named() {
        let headings = vec!["记录编号".to_string(), "姓名".to_string()];
        assert_eq!(map_headings(FeedKind::Death, &headings), Err(vec![FeedColumn::OccurredOn]));
    }

    #[test]
    fn a_hospital_birth_reads_the_mother_and_the_baby() {
        let kind = FeedKind::HospitalBirth;
        let r = read_record(
            kind,
            &cells(kind, &["B-1", "2026-11-03", "李娜", "1995-02-03", "", "13800001111", "", "女", "", "区人民医院"]),
        )
        .unwrap();
        assert_eq!(r.sex, Some(Sex::Female));
        assert_eq!(r.occurred_on, date!(2026 - 11 - 03));
        assert_eq!(r.effect(), Effect::Birth);
        assert_eq!(
            r.details,
            FeedDetails::HospitalBirth { baby_sex: Sex::Female, baby_name: None, hospital: "区人民医院".into() }
        );
    }

    #[test]
    fn every_problem_of_a_row_names_its_column() {
        let kind = FeedKind::HukouChange;
        let problems =
            read_record(kind, &cells(kind, &["", "搬走", "2026-13-01", "王五", "x", "", "123", "", "4403", "9"]))
                .unwrap_err();
        let columns: Vec<_> = problems.iter().filter_map(|p| p.column).collect();
        for c in [
            FeedColumn::RecordNo,
            FeedColumn::ChangeType,
            FeedColumn::OccurredOn,
            FeedColumn::Sex,
            FeedColumn::IdNumber,
            FeedColumn::Community,
        ] {
            assert!(columns.contains(&c), "{c:?} not named in {problems:?}");
        }
        assert!(problems.iter().all(|p| p.message.contains(" / ")), "bilingual");
    }

    #[test]
    fn move_out_to_another_county_lives_elsewhere() {
        let kind = FeedKind::HukouChange;
        let r = read_record(kind, &cells(kind, &["H-1", "迁出", "2026-10-01", "王五", "", "", "", "", "", "430700"]))
            .unwrap();
        assert_eq!(r.effect(), Effect::MoveOut);
        assert!(r.lives_elsewhere(&DivisionCode::parse("440307").unwrap()));
        let back =
            read_record(kind, &cells(kind, &["H-1", "迁出", "2026-10-01", "王五", "", "", "", "", "", "440307"]))
                .unwrap();
        assert!(!back.lives_elsewhere(&DivisionCode::parse("440307").unwrap()));
    }

    #[test]
    fn health_feeds_are_seen_only_by_the_roles_that_need_them() {
        use crate::org::Role;
        for role in [Role::GridWorker, Role::Street, Role::ServiceProvider] {
            assert!(!FeedKind::HospitalBirth.visible_to(role) && !FeedKind::Vaccination.visible_to(role), "{role:?}");
        }
        assert!(FeedKind::HospitalBirth.visible_to(Role::Specialist));
        assert!(FeedKind::Death.visible_to(Role::Street));
    }

    #[test]
    fn the_english_keys_are_the_json_keys() {
        let kind = FeedKind::Death;
        assert_eq!(kind.headings(true), ["record_no", "died_on", "name", "sex", "dob", "id_number", "community"]);
    }

    proptest::proptest! {
        /// No text in any cell panics the reader, and a record it accepts has its
        /// required fields.
        #[test]
        fn any_cells_read_or_refuse(values in proptest::collection::vec(".{0,20}", 10), k in 0usize..7) {
            let kind = FeedKind::ALL[k];
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            if let Ok(r) = read_record(kind, &cells(kind, &refs)) {
                proptest::prop_assert!(!r.record_no.is_empty() && !r.name.is_empty());
            }
        }
    }
}
