//! One row of a resident file read into an address and resident facts, or into the
//! list of what is wrong with it, field by field.

use std::fmt;

use time::Date;
use uuid::Uuid;

use super::columns::{Column, ColumnMap};
use super::values::{
    normalize, parse_date, parse_marital_status, parse_number, parse_relationship, parse_residence_status, parse_sex,
};
use crate::org::{DivisionCode, DivisionLevel};
use crate::registry::{
    Ethnicity, IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus,
    ResidentFacts, ResidentFactsError, Sex, check_consistency,
};

/// The community a row names: by code (preferred) or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CommunityRef {
    Code(DivisionCode),
    Name(String),
}

/// A row that reads cleanly: where the person lives and what is recorded about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRow {
    pub household_no: Option<String>,
    pub community: CommunityRef,
    /// The street, when a 街道 column holds its 9-digit code.
    pub street: Option<DivisionCode>,
    pub grid: Option<String>,
    pub building: String,
    pub unit: i16,
    pub floor: i16,
    pub room: String,
    pub name: PersonName,
    pub sex: Sex,
    pub birth_date: Date,
    pub identity: Identity,
    pub ethnicity: Ethnicity,
    pub phone: Option<Phone>,
    /// `None`: left empty for a resident registered here (the community's county).
    pub registered_residence: Option<DivisionCode>,
    pub relationship: Relationship,
    pub residence_status: ResidenceStatus,
    pub arrival_date: Option<Date>,
    pub marital_status: MaritalStatus,
    pub last_verified: Option<Date>,
}

/// What is wrong with one field of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub column: Column,
    pub message: String,
}

/// Everything wrong with a row, each naming its column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowProblems(pub Vec<FieldProblem>);

impl RowProblems {
    pub fn single(column: Column, message: impl Into<String>) -> Self {
        RowProblems(vec![FieldProblem { column, message: message.into() }])
    }

    fn add(&mut self, column: Column, message: impl fmt::Display) {
        self.0.push(FieldProblem { column, message: message.to_string() });
    }

    fn take<T, E: fmt::Display>(&mut self, column: Column, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(column, e)).ok()
    }
}

impl fmt::Display for RowProblems {
    /// "姓名 name: 姓名为空 / the name is empty; 出生日期 birth_date: …"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {}: {}", p.column.header_zh(), p.column.key(), p.message)?;
        }
        Ok(())
    }
}

fn required<'a>(problems: &mut RowProblems, column: Column, text: &'a str) -> Option<&'a str> {
    if text.is_empty() {
        problems.add(column, format!("{}为空 / {} is empty", column.header_zh(), column.key()));
        None
    } else {
        Some(text)
    }
}

fn choice<T>(problems: &mut RowProblems, column: Column, text: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    let text = required(problems, column, text)?;
    let parsed = parse(text);
    if parsed.is_none() {
        problems.add(column, format!("“{text}”不是可选的值 / '{text}' is not one of the accepted values"));
    }
    parsed
}

fn optional_date(problems: &mut RowProblems, column: Column, text: &str) -> Option<Option<Date>> {
    if text.is_empty() {
        return Some(None);
    }
    problems.take(column, parse_date(text)).map(Some)
}

impl ResidentRow {
    /// Reads a row. `place` resolves 户籍地 (a division code or a name path such as
    /// 湖南省邵阳市邵东市) to a known division; `today` bounds dates.
    pub fn parse(
        row: &[String],
        map: &ColumnMap,
        today: Date,
        place: &dyn Fn(&str) -> Option<DivisionCode>,
    ) -> Result<ResidentRow, RowProblems> {
        let mut p = RowProblems::default();
        let cell = |column: Column| normalize(map.cell(row, column));

        let household_no = Some(cell(Column::HouseholdNo)).filter(|s| !s.is_empty());
        let community = match (cell(Column::CommunityCode), cell(Column::Community)) {
            (code, _) if !code.is_empty() => {
                p.take(Column::CommunityCode, DivisionCode::parse_padded(&code)).map(CommunityRef::Code)
            }
            // Offices often put the 12-digit code under a 社区 heading: a valid community
            // code there is that community; anything else is a name.
            (_, name) if !name.is_empty() => match DivisionCode::parse(&name) {
                Ok(code) if code.level() == DivisionLevel::Village => Some(CommunityRef::Code(code)),
                _ => Some(CommunityRef::Name(name)),
            },
            _ => {
                p.add(Column::CommunityCode, "社区代码和社区名称都为空 / both community code and name are empty");
                None
            }
        };
        // Only a street code is used; a street's name is set aside like 现住址.
        let street = DivisionCode::parse(&cell(Column::Street)).ok().filter(|c| c.level() == DivisionLevel::Town);
        let grid = Some(cell(Column::Grid)).filter(|s| !s.is_empty());
        let building = required(&mut p, Column::Building, &cell(Column::Building)).map(str::to_string);
        let room_text = cell(Column::Room);
        let room = required(&mut p, Column::Room, &room_text).and_then(|r| {
            let r = r.trim_end_matches(['室', '房']).trim();
            if r.is_empty() || r.chars().count() > 20 {
                p.add(Column::Room, format!("房号“{r}”应为1–20个字符 / room '{r}' must have 1–20 characters"));
                None
            } else {
                Some(r.to_string())
            }
        });
        let unit = match cell(Column::Unit) {
            text if text.is_empty() => Some(1),
            text => parse_number(&text, 1, 50).or_else(|| {
                p.add(
                    Column::Unit,
                    format!("单元“{text}”应为1到50的整数 / unit '{text}' must be a whole number from 1 to 50"),
                );
                None
            }),
        };
        let floor = match cell(Column::Floor) {
            // "1203" is on floor 12 when the sheet has no floor column.
            text if text.is_empty() => room.as_deref().and_then(floor_from_room).or_else(|| {
                p.add(
                    Column::Floor,
                    "楼层为空，且无法从房号推出 / the floor is empty and the room number does not show it",
                );
                None
            }),
            text => parse_number(&text, 1, 200).or_else(|| {
                p.add(
                    Column::Floor,
                    format!("楼层“{text}”应为1到200的整数 / floor '{text}' must be a whole number from 1 to 200"),
                );
                None
            }),
        };

        let name = required(&mut p, Column::Name, &cell(Column::Name))
            .and_then(|n| p.take(Column::Name, PersonName::parse(n)));
        let id_text = cell(Column::IdNumber);
        let id_number = if id_text.is_empty() {
            None
        } else if id_text.contains(['E', 'e']) && id_text.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) {
            p.add(
                Column::IdNumber,
                format!("身份号码“{id_text}”已被 Excel 转成数字，后几位已丢失；请把该列设为文本后重新录入 / Excel turned the ID number '{id_text}' into a number and lost its last digits; format the column as text and enter it again"),
            );
            None
        } else {
            p.take(Column::IdNumber, IdNumber::parse_as_of(&id_text, today))
        };
        // An ID number that failed to read explains empty sex and birth-date cells already.
        let id_failed = !id_text.is_empty() && id_number.is_none();
        let sex = match cell(Column::Sex) {
            text if text.is_empty() && id_failed => None,
            text if text.is_empty() && id_number.is_some() => id_number.as_ref().map(IdNumber::sex),
            text => choice(&mut p, Column::Sex, &text, parse_sex),
        };
        let birth_date = match cell(Column::BirthDate) {
            text if text.is_empty() && id_failed => None,
            text if text.is_empty() && id_number.is_some() => id_number.as_ref().map(IdNumber::birth_date),
            text => required(&mut p, Column::BirthDate, &text).and_then(|t| p.take(Column::BirthDate, parse_date(t))),
        };
        let reason_text = cell(Column::IdMissingReason);
        let identity = match id_number {
            Some(id) => Some(Identity::Number(id)),
            None if !id_text.is_empty() => None,
            None if !reason_text.is_empty() => {
                choice(&mut p, Column::IdMissingReason, &reason_text, IdMissingReason::from_text).map(Identity::Missing)
            }
            // No number and no reason: a baby not yet registered, else unknown.
            None => Some(Identity::Missing(match birth_date {
                Some(b) if (today - b).whole_days() < 366 => IdMissingReason::NewbornNotRegistered,
                _ => IdMissingReason::Unknown,
            })),
        };
        let ethnicity = choice(&mut p, Column::Ethnicity, &cell(Column::Ethnicity), Ethnicity::from_text);
        let phone = match cell(Column::Phone) {
            text if text.is_empty() => Some(None),
            text => p.take(Column::Phone, Phone::parse(&text)).map(Some),
        };
        let relationship = choice(&mut p, Column::Relationship, &cell(Column::Relationship), parse_relationship);
        let residence_status =
            choice(&mut p, Column::ResidenceStatus, &cell(Column::ResidenceStatus), parse_residence_status);
        let arrival_date = optional_date(&mut p, Column::ArrivalDate, &cell(Column::ArrivalDate));
        let marital_status = match cell(Column::MaritalStatus) {
            text if text.is_empty() => Some(MaritalStatus::Unspecified),
            text => choice(&mut p, Column::MaritalStatus, &text, parse_marital_status),
        };
        let last_verified = optional_date(&mut p, Column::LastVerified, &cell(Column::LastVerified));
        let residence_text = cell(Column::RegisteredResidence);
        let registered_residence = if residence_text.is_empty() {
            match residence_status {
                Some(ResidenceStatus::Registered | ResidenceStatus::Outflow) => Some(None),
                _ => {
                    p.add(
                        Column::RegisteredResidence,
                        "流入人口的户籍地为空 / the registered residence of an inflow migrant is empty",
                    );
                    None
                }
            }
        } else {
            let code = place(&residence_text);
            if code.is_none() {
                p.add(
                    Column::RegisteredResidence,
                    format!("户籍地“{residence_text}”不是已知的区划代码或名称 / registered residence '{residence_text}' is not a known division code or name"),
                );
            }
            code.map(Some)
        };

        // Every Option is Some when no problem was recorded.
        let (
            Some(community),
            Some(building),
            Some(room),
            Some(unit),
            Some(floor),
            Some(name),
            Some(sex),
            Some(birth_date),
            Some(identity),
            Some(ethnicity),
            Some(phone),
        ) = (community, building, room, unit, floor, name, sex, birth_date, identity, ethnicity, phone)
        else {
            return Err(p);
        };
        let (
            Some(relationship),
            Some(residence_status),
            Some(arrival_date),
            Some(marital_status),
            Some(last_verified),
            Some(registered_residence),
        ) = (relationship, residence_status, arrival_date, marital_status, last_verified, registered_residence)
        else {
            return Err(p);
        };
        if !p.0.is_empty() {
            return Err(p);
        }
        if let Err(e) = check_consistency(sex, birth_date, &identity, arrival_date, today) {
            let column = match e {
                ResidentFactsError::BirthDateMismatch { .. } | ResidentFactsError::BirthInFuture { .. } => {
                    Column::BirthDate
                }
                ResidentFactsError::SexMismatch => Column::Sex,
                ResidentFactsError::ArrivalBeforeBirth { .. } => Column::ArrivalDate,
            };
            return Err(RowProblems::single(column, e.to_string()));
        }
        if let Some(d) = arrival_date
            && d > today
        {
            return Err(RowProblems::single(
                Column::ArrivalDate,
                format!("来本地日期{d}晚于今天 / arrival date {d} is in the future"),
            ));
        }
        if let Some(d) = last_verified
            && (d > today || d < birth_date)
        {
            return Err(RowProblems::single(
                Column::LastVerified,
                format!(
                    "核实日期{d}不在出生日期与今天之间 / verification date {d} is not between the birth date and today"
                ),
            ));
        }
        Ok(ResidentRow {
            household_no,
            community,
            street,
            grid,
            building,
            unit,
            floor,
            room,
            name,
            sex,
            birth_date,
            identity,
            ethnicity,
            phone,
            registered_residence,
            relationship,
            residence_status,
            arrival_date,
            marital_status,
            last_verified,
        })
    }

    /// The resident facts of the row, once its household is known. `county` is the
    /// community's county, the registered residence of a row that left it empty.
    pub fn facts(&self, household_id: Uuid, county: &DivisionCode) -> ResidentFacts {
        ResidentFacts {
            name: self.name.clone(),
            sex: self.sex,
            birth_date: self.birth_date,
            identity: self.identity.clone(),
            ethnicity: self.ethnicity,
            phone: self.phone.clone(),
            registered_residence: self.registered_residence.clone().unwrap_or_else(|| county.clone()),
            household_id,
            relationship: self.relationship,
            residence_status: self.residence_status,
            arrival_date: self.arrival_date,
            marital_status: self.marital_status,
        }
    }
}

/// "1203" → 12, "301" → 3; other shapes say nothing.
fn floor_from_room(room: &str) -> Option<i16> {
    if !(3..=4).contains(&room.len()) || !room.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let floor: i16 = room[..room.len() - 2].parse().ok()?;
    (floor >= 1).then_some(floor)
}

#[cfg(test)]
mod tests;
