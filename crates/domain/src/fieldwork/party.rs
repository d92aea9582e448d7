//! 谁出租谁负责，谁用工谁负责: landlords and employers (责任主体, "responsible parties")
//! report who arrives at and leaves the units they let or the dormitories they run.
//! Each line is a proposal for the community to review, never applied blind; this
//! module reads lines as people type them and names every problem by field.

use time::Date;

use crate::exchange::values::{normalize, parse_date};
use crate::registry::codes::coded_enum;
use crate::registry::{Ethnicity, IdNumber, PersonName, Phone};

coded_enum!(
    /// Who a responsible party is.
    PartyKind {
        Landlord => ("landlord", "房东（出租人）", "landlord"),
        Employer => ("employer", "用工单位", "employer"),
    }
);

coded_enum!(
    /// What a line reports.
    Movement {
        Arrival => ("arrival", "入住/入职", "arrival"),
        Departure => ("departure", "退租/离职", "departure"),
    }
);

impl Movement {
    /// Reads the words landlords and employers use: 入住, 搬入, 入职, 退租, 搬离, 离职 …
    pub fn parse(text: &str) -> Option<Movement> {
        let t = normalize(text).to_lowercase();
        const ARRIVAL: [&str; 9] = ["入住", "搬入", "租住", "入职", "到岗", "新入住", "来", "arrival", "in"];
        const DEPARTURE: [&str; 9] = ["退租", "搬离", "搬出", "离职", "离开", "退宿", "走", "departure", "out"];
        if ARRIVAL.contains(&t.as_str()) || Movement::Arrival.label_zh() == t {
            Some(Movement::Arrival)
        } else if DEPARTURE.contains(&t.as_str()) || Movement::Departure.label_zh() == t {
            Some(Movement::Departure)
        } else {
            None
        }
    }
}

coded_enum!(
    /// The fields of a line, as headed in a sheet.
    PartyField {
        Movement => ("movement", "类型", "movement"),
        Name => ("name", "姓名", "name"),
        IdNumber => ("id_number", "公民身份号码", "ID number"),
        Phone => ("phone", "联系电话", "phone"),
        Date => ("date", "日期", "date"),
        Unit => ("unit", "房号", "unit"),
        Ethnicity => ("ethnicity", "民族", "ethnicity"),
    }
);

impl PartyKind {
    /// What a change event proposed by a party's line says of where it came from.
    pub fn evidence(self, name: &str, source: &str, row: u64) -> String {
        let (zh, en) = (self.label_zh(), self.label_en());
        format!("{zh}“{name}”报告（{source} 第{row}行）/ reported by {en} '{name}' ({source}, row {row})")
    }
}

impl PartyField {
    /// Reads a column heading: the field's own names and the variants offices write.
    pub fn from_header(header: &str) -> Option<PartyField> {
        let h: String = normalize(header).chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
        let field = match h.as_str() {
            "类型" | "变动类型" | "入住/退租" | "入住或退租" | "入职/离职" | "变动" | "movement" => {
                PartyField::Movement
            }
            "姓名" | "name" => PartyField::Name,
            "公民身份号码" | "身份证号" | "身份证号码" | "身份号码" | "id_number" | "idnumber" => {
                PartyField::IdNumber
            }
            "联系电话" | "电话" | "手机" | "手机号" | "phone" => PartyField::Phone,
            "日期" | "入住日期" | "退租日期" | "入职日期" | "离职日期" | "变动日期" | "date" => {
                PartyField::Date
            }
            "房号" | "房间" | "房间号" | "宿舍" | "出租屋" | "unit" | "room" => PartyField::Unit,
            "民族" | "ethnicity" => PartyField::Ethnicity,
            _ => return None,
        };
        Some(field)
    }
}

/// One reported arrival or departure, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyLine {
    pub movement: Movement,
    pub name: PersonName,
    pub id_number: IdNumber,
    pub phone: Option<Phone>,
    pub date: Date,
    /// The party's unit (房号 or 户编号) as written; may be left out when it has one.
    pub unit: Option<String>,
    /// Needed for an arrival of someone not yet recorded.
    pub ethnicity: Option<Ethnicity>,
}

/// A problem with one field of a line, in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub field: PartyField,
    pub message: String,
}

/// Reads a line from its fields as typed. Every problem is returned, each naming its
/// field; dates after `today` are refused.
pub fn read_line(fields: &[(PartyField, &str)], today: Date) -> Result<PartyLine, Vec<LineProblem>> {
    let get = |f: PartyField| fields.iter().find(|(k, _)| *k == f).map(|(_, v)| normalize(v)).filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    let mut problem = |field: PartyField, message: String| problems.push(LineProblem { field, message });
    let required = |f: PartyField| format!("{}必填 / {} is required", f.label_zh(), f.label_en());
    let movement = match get(PartyField::Movement) {
        None => {
            problem(PartyField::Movement, required(PartyField::Movement));
            None
        }
        Some(t) => Movement::parse(&t).or_else(|| {
            problem(
                PartyField::Movement,
                format!("“{t}”应为 入住 或 退租（入职 或 离职） / '{t}' should be arrival or departure"),
            );
            None
        }),
    };
    let name = match get(PartyField::Name) {
        None => {
            problem(PartyField::Name, required(PartyField::Name));
            None
        }
        Some(t) => PersonName::parse(&t).map_err(|e| problem(PartyField::Name, e.to_string())).ok(),
    };
    let id_number = match get(PartyField::IdNumber) {
        None => {
            problem(PartyField::IdNumber, required(PartyField::IdNumber));
            None
        }
        Some(t) => IdNumber::parse_as_of(&t, today).map_err(|e| problem(PartyField::IdNumber, e.to_string())).ok(),
    };
    let phone = match get(PartyField::Phone) {
        None => None,
        Some(t) => Phone::parse(&t).map_err(|e| problem(PartyField::Phone, e.to_string())).ok(),
    };
    let date = match get(PartyField::Date) {
        None => {
            problem(PartyField::Date, required(PartyField::Date));
            None
        }
        Some(t) => match parse_date(&t) {
            Ok(d) if d > today => {
                problem(PartyField::Date, format!("日期{d}晚于今天 / date {d} is in the future"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                problem(PartyField::Date, e.to_string());
                None
            }
        },
    };
    let ethnicity = match get(PartyField::Ethnicity) {
        None => None,
        Some(t) => Ethnicity::from_text(&t)
            .ok_or_else(|| problem(PartyField::Ethnicity, format!("“{t}”不是民族名称 / '{t}' is not an ethnic group")))
            .ok(),
    };
    let unit = get(PartyField::Unit);
    if let (Some(id), Some(d)) = (&id_number, date)
        && d < id.birth_date()
    {
        problem(PartyField::Date, format!("日期{d}早于出生日期 / date {d} is before the date of birth"));
    }
    match (movement, name, id_number, date) {
        (Some(movement), Some(name), Some(id_number), Some(date)) if problems.is_empty() => {
            Ok(PartyLine { movement, name, id_number, phone, date, unit, ethnicity })
        }
        _ => Err(problems),
    }
}

/// One problem with one line, by row and field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowProblem {
    pub row: u64,
    pub field: Option<PartyField>,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field {
            Some(field) => {
                write!(
                    f,
                    "第{}行 {} / row {} {}: {}",
                    self.row,
                    field.label_zh(),
                    self.row,
                    field.label_en(),
                    self.message
                )
            }
            None => write!(f, "第{}行 / row {}: {}", self.row, self.row, self.message),
        }
    }
}

/// A sheet row read: the line, or every problem with it.
pub type SheetLine = Result<PartyLine, Vec<RowProblem>>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 24);

    #[test]
    fn a_line_as_landlords_type_it_reads() {
        let line = read_line(
            &[
                (PartyField::Movement, "入住"),
                (PartyField::Name, " 李四 "),
                (PartyField::IdNumber, "11010519491231002x"),
                (PartyField::Phone, "139-1234-5678"),
                (PartyField::Date, "2026/11/3"),
                (PartyField::Unit, "1203"),
                (PartyField::Ethnicity, "汉族"),
            ],
            TODAY,
        )
        .unwrap();
        assert_eq!(line.movement, Movement::Arrival);
        assert_eq!(line.date, date!(2026 - 11 - 03));
        assert_eq!(line.unit.as_deref(), Some("1203"));
        assert_eq!(line.ethnicity, Some(Ethnicity::HAN));
        assert_eq!(Movement::parse("离职"), Some(Movement::Departure));
        assert_eq!(PartyField::from_header("身份证号"), Some(PartyField::IdNumber));
        assert_eq!(PartyField::from_header(" 入住日期 "), Some(PartyField::Date));
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let problems = read_line(
            &[
                (PartyField::Movement, "租"),
                (PartyField::IdNumber, "110105194912310021"),
                (PartyField::Date, "2027-01-01"),
            ],
            TODAY,
        )
        .unwrap_err();
        let fields: Vec<PartyField> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, [PartyField::Movement, PartyField::Name, PartyField::IdNumber, PartyField::Date]);
        assert!(problems.iter().all(|p| p.message.contains(" / ")), "{problems:?}");
    }

    proptest! {
        /// Whatever is typed, reading a line never panics, and a line that reads has
        /// every required field.
        #[test]
        fn reading_never_panics(
            movement in "\\PC{0,8}", name in "\\PC{0,8}", id in "[0-9Xx]{0,20}", date in "\\PC{0,12}",
            phone in "\\PC{0,14}", ethnicity in "\\PC{0,4}",
        ) {
            let fields = [
                (PartyField::Movement, movement.as_str()),
                (PartyField::Name, name.as_str()),
                (PartyField::IdNumber, id.as_str()),
                (PartyField::Date, date.as_str()),
                (PartyField::Phone, phone.as_str()),
                (PartyField::Ethnicity, ethnicity.as_str()),
            ];
            if let Ok(line) = read_line(&fields, TODAY) {
                prop_assert!(line.date <= TODAY);
                prop_assert!(line.date >= line.id_number.birth_date());
            }
        }
    }
}
