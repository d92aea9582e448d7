//! 居民信息表 — the resident file offices exchange: one row per resident, Chinese
//! headers, coded values written as their Chinese labels. Export, `jiceng generate` and
//! error files write it; import reads it, so export → import → export is a round trip.

use time::Date;

use super::columns::Column;
use crate::org::DivisionCode;
use crate::registry::synthetic::{SyntheticCommunity, SyntheticHousehold, SyntheticResident};
use crate::registry::{Ethnicity, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus, Sex};

/// The headers jiceng writes, in order.
pub fn headers() -> impl Iterator<Item = &'static str> {
    Column::EXPORTED.iter().map(|c| c.header_zh())
}

/// One resident as a file row.
#[derive(Debug, Clone)]
pub struct ResidentLine<'a> {
    pub household_no: &'a str,
    pub community_code: &'a DivisionCode,
    pub community_name: &'a str,
    pub grid: &'a str,
    pub building: &'a str,
    pub unit: i16,
    pub floor: i16,
    pub room: &'a str,
    pub name: &'a PersonName,
    pub sex: Sex,
    pub identity: &'a Identity,
    pub birth_date: Date,
    pub ethnicity: Ethnicity,
    pub phone: Option<&'a Phone>,
    pub registered_residence: &'a DivisionCode,
    pub relationship: Relationship,
    pub residence_status: ResidenceStatus,
    pub arrival_date: Option<Date>,
    pub marital_status: MaritalStatus,
    pub last_verified: Option<Date>,
}

impl ResidentLine<'_> {
    /// The cells, in [`Column::EXPORTED`] order.
    pub fn cells(&self) -> [String; 21] {
        let (id, missing) = match self.identity {
            Identity::Number(n) => (n.to_string(), String::new()),
            Identity::Missing(reason) => (String::new(), reason.label_zh().to_string()),
        };
        let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
        [
            self.household_no.to_string(),
            self.community_code.to_string(),
            self.community_name.to_string(),
            self.grid.to_string(),
            self.building.to_string(),
            self.unit.to_string(),
            self.floor.to_string(),
            self.room.to_string(),
            self.name.to_string(),
            self.sex.label_zh().to_string(),
            id,
            missing,
            self.birth_date.to_string(),
            self.ethnicity.name().to_string(),
            self.phone.map(|p| p.to_string()).unwrap_or_default(),
            self.registered_residence.to_string(),
            self.relationship.label_zh().to_string(),
            self.residence_status.label_zh().to_string(),
            date(self.arrival_date),
            self.marital_status.label_zh().to_string(),
            date(self.last_verified),
        ]
    }
}

fn synthetic_line<'a>(
    community: &'a SyntheticCommunity,
    grid: &'a str,
    building: &'a str,
    household: &'a SyntheticHousehold,
    member: &'a SyntheticResident,
    identity: &'a Identity,
) -> [String; 21] {
    ResidentLine {
        household_no: &household.household_no,
        community_code: &community.code,
        community_name: &community.name,
        grid,
        building,
        unit: household.unit_no,
        floor: household.floor_no,
        room: &household.room_no,
        name: &member.name,
        sex: member.sex,
        identity,
        birth_date: member.birth_date,
        ethnicity: member.ethnicity,
        phone: member.phone.as_ref(),
        registered_residence: &member.registered_residence,
        relationship: member.relationship,
        residence_status: member.residence_status,
        arrival_date: member.arrival_date,
        marital_status: member.marital_status,
        last_verified: member.last_verified,
    }
    .cells()
}

/// Every row of a generated community, in household order.
pub fn community_rows(community: &SyntheticCommunity) -> impl Iterator<Item = [String; 21]> + '_ {
    community.grids.iter().flat_map(move |grid| {
        grid.buildings.iter().flat_map(move |building| {
            building.households.iter().flat_map(move |household| {
                household.members.iter().map(move |m| {
                    let identity = Identity::Number(m.id_number.clone());
                    synthetic_line(community, &grid.name, &building.name, household, m, &identity)
                })
            })
        })
    })
}
