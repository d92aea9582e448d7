//! 居民信息表 — the resident file offices exchange: one row per resident, Chinese
//! headers, coded values written as their Chinese labels. `jiceng generate` writes it;
//! the import reads the same columns, so generate → import is a round trip.

use crate::registry::synthetic::{SyntheticCommunity, SyntheticHousehold, SyntheticResident};

/// The columns, in order: Chinese header and English name.
pub const COLUMNS: [(&str, &str); 19] = [
    ("户编号", "household_no"),
    ("社区代码", "community_code"),
    ("社区", "community"),
    ("网格", "grid"),
    ("楼栋", "building"),
    ("单元", "unit"),
    ("楼层", "floor"),
    ("房号", "room"),
    ("姓名", "name"),
    ("性别", "sex"),
    ("公民身份号码", "id_number"),
    ("出生日期", "birth_date"),
    ("民族", "ethnicity"),
    ("联系电话", "phone"),
    ("户籍地", "registered_residence"),
    ("与户主关系", "relationship"),
    ("人口类型", "residence_status"),
    ("来本地日期", "arrival_date"),
    ("婚姻状况", "marital_status"),
];

pub fn headers() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|(zh, _)| *zh)
}

/// The cells of one resident's row, in [`COLUMNS`] order.
pub fn row(
    community: &SyntheticCommunity,
    grid_name: &str,
    building_name: &str,
    household: &SyntheticHousehold,
    member: &SyntheticResident,
) -> [String; 19] {
    [
        household.household_no.clone(),
        community.code.to_string(),
        community.name.clone(),
        grid_name.to_string(),
        building_name.to_string(),
        household.unit_no.to_string(),
        household.floor_no.to_string(),
        household.room_no.clone(),
        member.name.to_string(),
        member.sex.label_zh().to_string(),
        member.id_number.to_string(),
        member.birth_date.to_string(),
        member.ethnicity.name().to_string(),
        member.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        member.registered_residence.to_string(),
        member.relationship.label_zh().to_string(),
        member.residence_status.label_zh().to_string(),
        member.arrival_date.map(|d| d.to_string()).unwrap_or_default(),
        member.marital_status.label_zh().to_string(),
    ]
}

/// Every row of a generated community, in household order.
pub fn community_rows(community: &SyntheticCommunity) -> impl Iterator<Item = [String; 19]> + '_ {
    community.grids.iter().flat_map(move |grid| {
        grid.buildings.iter().flat_map(move |building| {
            building.households.iter().flat_map(move |household| {
                household.members.iter().map(move |m| row(community, &grid.name, &building.name, household, m))
            })
        })
    })
}
