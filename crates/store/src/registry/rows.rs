//! Reading registry rows back into domain types, and writing facts as column values.

use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::pinyin::name_initials;
use jiceng_domain::registry::{
    Ethnicity, HouseholdLocation, IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship,
    ResidenceStatus, ResidentFacts, Sex,
};
use jiceng_domain::reporting::Month;
use sea_orm::QueryResult;
use sea_orm::sea_query::Expr;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{StoreResult, decode, decode_opt};

/// When a version held and who recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStamp {
    pub version: i32,
    pub valid_from: Date,
    /// `None` while this is the current version.
    pub valid_to: Option<Date>,
    pub recorded_at: OffsetDateTime,
    pub recorded_by: String,
    /// The statistical month this version is counted from (ADR 007): the month of
    /// `valid_from`, or a later open month when that one was already approved.
    pub counted_from: Month,
    /// Set when the version is closed: the month it stops being counted.
    pub counted_to: Option<Month>,
}

impl VersionStamp {
    /// The first version of a record: valid from `valid_from`, counted from `counted`.
    pub fn first(
        valid_from: Date,
        counted_from: Month,
        recorded_at: OffsetDateTime,
        recorded_by: &str,
    ) -> VersionStamp {
        VersionStamp {
            version: 1,
            valid_from,
            valid_to: None,
            recorded_at,
            recorded_by: recorded_by.to_string(),
            counted_from,
            counted_to: None,
        }
    }
}

/// One version of a resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentVersion {
    pub county: DivisionCode,
    pub resident_id: Uuid,
    pub community: DivisionCode,
    pub stamp: VersionStamp,
    pub facts: ResidentFacts,
}

/// One version of a household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdVersion {
    pub county: DivisionCode,
    pub household_id: Uuid,
    pub household_no: String,
    pub stamp: VersionStamp,
    pub location: HouseholdLocation,
}

pub(crate) const VERSION_COLUMNS: [&str; 7] =
    ["version", "valid_from", "valid_to", "recorded_at", "recorded_by", "counted_from", "counted_to"];

pub(crate) const RESIDENT_FACT_COLUMNS: [&str; 15] = [
    "household_id",
    "name",
    "name_initials",
    "sex",
    "birth_date",
    "id_number",
    "id_missing_reason",
    "ethnicity",
    "phone",
    "registered_residence",
    "relationship",
    "residence_status",
    "arrival_date",
    "marital_status",
    "community_code",
];

pub(crate) const HOUSEHOLD_LOCATION_COLUMNS: [&str; 6] =
    ["community_code", "grid_id", "building_id", "unit_no", "floor_no", "room_no"];

pub(crate) fn stamp_values(stamp: &VersionStamp) -> [Expr; 7] {
    [
        stamp.version.into(),
        stamp.valid_from.into(),
        stamp.valid_to.into(),
        stamp.recorded_at.into(),
        stamp.recorded_by.as_str().into(),
        stamp.counted_from.key().into(),
        stamp.counted_to.map(Month::key).into(),
    ]
}

/// Values in the order of [`RESIDENT_FACT_COLUMNS`].
pub(crate) fn resident_fact_values(facts: &ResidentFacts, community: &DivisionCode) -> [Expr; 15] {
    let (id_number, missing) = match &facts.identity {
        Identity::Number(n) => (Some(n.as_str().to_string()), None),
        Identity::Missing(reason) => (None, Some(reason.key())),
    };
    [
        facts.household_id.into(),
        facts.name.as_str().into(),
        name_initials(facts.name.as_str()).into(),
        facts.sex.key().into(),
        facts.birth_date.into(),
        id_number.into(),
        missing.into(),
        facts.ethnicity.code().into(),
        facts.phone.as_ref().map(|p| p.as_str().to_string()).into(),
        facts.registered_residence.as_str().into(),
        facts.relationship.key().into(),
        facts.residence_status.key().into(),
        facts.arrival_date.into(),
        facts.marital_status.key().into(),
        community.as_str().into(),
    ]
}

pub(crate) fn location_values(location: &HouseholdLocation) -> [Expr; 6] {
    [
        location.community.as_str().into(),
        location.grid_id.into(),
        location.building_id.into(),
        location.unit_no.into(),
        location.floor_no.into(),
        location.room_no.as_str().into(),
    ]
}

fn stamp_row(r: &QueryResult) -> StoreResult<VersionStamp> {
    let valid_from: Date = r.try_get("", "valid_from")?;
    Ok(from_row!(r => VersionStamp {
        version, valid_to, recorded_at, recorded_by;
        valid_from,
        counted_from: month_column(r, "counted_from")?.unwrap_or(Month::of(valid_from)),
        counted_to: month_column(r, "counted_to")?,
    }))
}

/// A month stored as `YYYY-MM` text (NULL allowed).
pub(crate) fn month_column(r: &QueryResult, column: &'static str) -> StoreResult<Option<Month>> {
    let text: Option<String> = r.try_get("", column)?;
    text.map(|t| decode("statistics", column, &t, Month::parse)).transpose()
}

fn text(r: &QueryResult, column: &str) -> StoreResult<String> {
    Ok(r.try_get("", column)?)
}

/// A resident's facts as the database holds them: text where the registry's own types
/// parse it, typed where the driver reads it typed. Every reader of resident rows (a
/// version row, the export's JSON arrays) decodes through [`StoredFacts::decode`].
pub(crate) struct StoredFacts<'a> {
    pub name: &'a str,
    pub sex: &'a str,
    pub birth_date: Date,
    pub id_number: Option<&'a str>,
    pub id_missing_reason: Option<&'a str>,
    pub ethnicity: &'a str,
    pub phone: Option<&'a str>,
    pub registered_residence: &'a str,
    pub household_id: Uuid,
    pub relationship: &'a str,
    pub residence_status: &'a str,
    pub arrival_date: Option<Date>,
    pub marital_status: &'a str,
}

impl StoredFacts<'_> {
    /// Each value checked as the registry checks it; an ID number's birth date against
    /// `today`.
    pub(crate) fn decode(&self, today: Date) -> StoreResult<ResidentFacts> {
        const T: &str = "resident_version";
        let identity = match (self.id_number, self.id_missing_reason) {
            (Some(n), _) => Identity::Number(decode(T, "id_number", n, |n| IdNumber::parse_as_of(n, today))?),
            (None, Some(m)) => Identity::Missing(decode_opt(T, "id_missing_reason", m, IdMissingReason::from_key)?),
            (None, None) => Identity::Missing(IdMissingReason::Unknown),
        };
        Ok(ResidentFacts {
            name: decode(T, "name", self.name, PersonName::parse)?,
            sex: decode_opt(T, "sex", self.sex, Sex::from_key)?,
            birth_date: self.birth_date,
            identity,
            ethnicity: decode_opt(T, "ethnicity", self.ethnicity, Ethnicity::from_code)?,
            phone: self.phone.map(|p| decode(T, "phone", p, Phone::parse)).transpose()?,
            registered_residence: decode(T, "registered_residence", self.registered_residence, DivisionCode::parse)?,
            household_id: self.household_id,
            relationship: decode_opt(T, "relationship", self.relationship, Relationship::from_key)?,
            residence_status: decode_opt(T, "residence_status", self.residence_status, ResidenceStatus::from_key)?,
            arrival_date: self.arrival_date,
            marital_status: decode_opt(T, "marital_status", self.marital_status, MaritalStatus::from_key)?,
        })
    }
}

pub(crate) fn resident_row(r: &QueryResult) -> StoreResult<ResidentVersion> {
    const T: &str = "resident_version";
    let id_number: Option<String> = r.try_get("", "id_number")?;
    let id_missing_reason: Option<String> = r.try_get("", "id_missing_reason")?;
    let phone: Option<String> = r.try_get("", "phone")?;
    let facts = StoredFacts {
        name: &text(r, "name")?,
        sex: &text(r, "sex")?,
        birth_date: r.try_get("", "birth_date")?,
        id_number: id_number.as_deref(),
        id_missing_reason: id_missing_reason.as_deref(),
        ethnicity: &text(r, "ethnicity")?,
        phone: phone.as_deref(),
        registered_residence: &text(r, "registered_residence")?,
        household_id: r.try_get("", "household_id")?,
        relationship: &text(r, "relationship")?,
        residence_status: &text(r, "residence_status")?,
        arrival_date: r.try_get("", "arrival_date")?,
        marital_status: &text(r, "marital_status")?,
    }
    .decode(OffsetDateTime::now_utc().date())?;
    Ok(ResidentVersion {
        county: decode(T, "county_code", &text(r, "county_code")?, DivisionCode::parse)?,
        resident_id: r.try_get("", "resident_id")?,
        community: decode(T, "community_code", &text(r, "community_code")?, DivisionCode::parse)?,
        stamp: stamp_row(r)?,
        facts,
    })
}

pub(crate) fn household_row(r: &QueryResult) -> StoreResult<HouseholdVersion> {
    const T: &str = "household_version";
    Ok(HouseholdVersion {
        county: decode(T, "county_code", &text(r, "county_code")?, DivisionCode::parse)?,
        household_id: r.try_get("", "household_id")?,
        household_no: text(r, "household_no")?,
        stamp: stamp_row(r)?,
        location: from_row!(r => HouseholdLocation {
            grid_id, building_id, unit_no, floor_no;
            community: decode(T, "community_code", &text(r, "community_code")?, DivisionCode::parse)?,
            room_no: text(r, "room_no")?,
        }),
    })
}

/// A resident's place in an order that does not depend on the run: ID number (or none),
/// name, birth date. Synthetic data (demo, benchmarks) picks people by position with a
/// seeded generator; the database's row order and the UUIDs are new in every run.
pub(crate) fn person_order(v: &ResidentVersion) -> (String, String, time::Date) {
    let id = match &v.facts.identity {
        jiceng_domain::registry::Identity::Number(n) => n.to_string(),
        jiceng_domain::registry::Identity::Missing(_) => String::new(),
    };
    (id, v.facts.name.to_string(), v.facts.birth_date)
}
