//! 居民 — the facts recorded about one resident at one time (one version).

use serde::{Deserialize, Serialize};
use time::Date;
use uuid::Uuid;

use crate::org::DivisionCode;
use crate::registry::{Ethnicity, IdMissingReason, IdNumber, MaritalStatus, Phone, Relationship, ResidenceStatus, Sex};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("姓名为空 / the name is empty")]
    Empty,
    #[error("姓名超过50个字符 / the name is longer than 50 characters")]
    TooLong,
    #[error("姓名含控制字符或数字 / the name contains a control character or a digit")]
    Character,
}

/// 姓名: trimmed, 1–50 characters, no digits or control characters. Minority names
/// with the middle dot (阿依古丽·买买提) and foreign names with spaces are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, PersonNameError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(PersonNameError::Empty);
        }
        if name.chars().count() > 50 {
            return Err(PersonNameError::TooLong);
        }
        if name.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
            return Err(PersonNameError::Character);
        }
        // The dot people type in minority names comes in several forms; keep one.
        Ok(PersonName(name.replace(['•', '・', '．'], "·")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PersonName {
    type Error = PersonNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PersonName::parse(&value)
    }
}

impl From<PersonName> for String {
    fn from(value: PersonName) -> Self {
        value.0
    }
}

/// How a resident is identified: by an identity number, or by the reason there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    Number(IdNumber),
    Missing(IdMissingReason),
}

impl Identity {
    pub fn number(&self) -> Option<&IdNumber> {
        match self {
            Identity::Number(n) => Some(n),
            Identity::Missing(_) => None,
        }
    }
}

/// The facts of one resident version. Everything here can change over time; each
/// change is stored as a new version, never as an overwrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentFacts {
    pub name: PersonName,
    pub sex: Sex,
    pub birth_date: Date,
    pub identity: Identity,
    pub ethnicity: Ethnicity,
    pub phone: Option<Phone>,
    /// 户籍地: where the person's household registration is.
    pub registered_residence: DivisionCode,
    pub household_id: Uuid,
    pub relationship: Relationship,
    pub residence_status: ResidenceStatus,
    /// 来本地日期: for inflow migrants, when they arrived.
    pub arrival_date: Option<Date>,
    pub marital_status: MaritalStatus,
}

/// A contradiction between the facts of one resident.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResidentFactsError {
    #[error(
        "出生日期{recorded}与身份号码中的{from_id}不符 / birth date {recorded} does not match {from_id} in the identity number"
    )]
    BirthDateMismatch { recorded: Date, from_id: Date },
    #[error("性别与身份号码不符 / sex does not match the identity number")]
    SexMismatch,
    #[error("来本地日期{arrival}早于出生日期{birth} / arrival date {arrival} is before the birth date {birth}")]
    ArrivalBeforeBirth { arrival: Date, birth: Date },
    #[error("出生日期{birth}晚于今天 / birth date {birth} is in the future")]
    BirthInFuture { birth: Date },
}

/// The checks of [`ResidentFacts::check`], for callers that hold the facts in parts.
pub fn check_consistency(
    sex: Sex,
    birth_date: Date,
    identity: &Identity,
    arrival_date: Option<Date>,
    today: Date,
) -> Result<(), ResidentFactsError> {
    if birth_date > today {
        return Err(ResidentFactsError::BirthInFuture { birth: birth_date });
    }
    if let Identity::Number(id) = identity {
        if id.birth_date() != birth_date {
            return Err(ResidentFactsError::BirthDateMismatch { recorded: birth_date, from_id: id.birth_date() });
        }
        if id.sex() != sex {
            return Err(ResidentFactsError::SexMismatch);
        }
    }
    if let Some(arrival) = arrival_date
        && arrival < birth_date
    {
        return Err(ResidentFactsError::ArrivalBeforeBirth { arrival, birth: birth_date });
    }
    Ok(())
}

impl ResidentFacts {
    /// Checks the facts against each other; field-level validity is in the types.
    pub fn check(&self, today: Date) -> Result<(), ResidentFactsError> {
        check_consistency(self.sex, self.birth_date, &self.identity, self.arrival_date, today)
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: Date) -> i32 {
        let mut age = on.year() - self.birth_date.year();
        if (on.month() as u8, on.day()) < (self.birth_date.month() as u8, self.birth_date.day()) {
            age -= 1;
        }
        age
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn facts() -> ResidentFacts {
        let id = IdNumber::parse_as_of("11010519491231002X", date!(2026 - 01 - 01)).unwrap();
        ResidentFacts {
            name: PersonName::parse(" 张三 ").unwrap(),
            sex: Sex::Female,
            birth_date: date!(1949 - 12 - 31),
            identity: Identity::Number(id),
            ethnicity: Ethnicity::HAN,
            phone: None,
            registered_residence: DivisionCode::parse("110105").unwrap(),
            household_id: Uuid::nil(),
            relationship: Relationship::Head,
            residence_status: ResidenceStatus::Inflow,
            arrival_date: Some(date!(2010 - 03 - 01)),
            marital_status: MaritalStatus::Widowed,
        }
    }

    #[test]
    fn consistent_facts_pass() {
        let f = facts();
        assert_eq!(f.name.as_str(), "张三");
        assert_eq!(f.check(date!(2026 - 11 - 24)), Ok(()));
        assert_eq!(f.age_on(date!(2026 - 11 - 24)), 76);
        assert_eq!(f.age_on(date!(2026 - 12 - 31)), 77);
    }

    #[test]
    fn contradictions_are_named() {
        let today = date!(2026 - 11 - 24);
        let mut f = facts();
        f.sex = Sex::Male;
        assert_eq!(f.check(today), Err(ResidentFactsError::SexMismatch));
        let mut f = facts();
        f.birth_date = date!(1950 - 01 - 01);
        assert!(matches!(f.check(today), Err(ResidentFactsError::BirthDateMismatch { .. })));
        let mut f = facts();
        f.arrival_date = Some(date!(1940 - 01 - 01));
        assert!(matches!(f.check(today), Err(ResidentFactsError::ArrivalBeforeBirth { .. })));
    }

    #[test]
    fn names() {
        assert_eq!(PersonName::parse("阿依古丽•买买提").unwrap().as_str(), "阿依古丽·买买提");
        assert_eq!(PersonName::parse("  "), Err(PersonNameError::Empty));
        assert_eq!(PersonName::parse("张3"), Err(PersonNameError::Character));
    }
}
