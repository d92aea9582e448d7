//! 走访: a worker's visit to a household and what they found, and the visit plan —
//! what is due in a period, ordered for walking (grid → building → floor → unit).

use serde::{Deserialize, Serialize};
use time::Date;

use super::tier::Tier;
use super::verification::VerificationMethod;
use crate::registry::codes::coded_enum;

coded_enum!(
    /// What a visit found. One tap on the 今日走访 page.
    VisitOutcome {
        SeenInPerson => ("seen", "本人在家，当面核实", "seen in person"),
        HouseholdMember => ("member", "同户成员确认", "confirmed by a household member"),
        LandlordOrNeighbour => ("landlord", "房东或邻居提供", "from the landlord or a neighbour"),
        NobodyHome => ("nobody_home", "无人在家", "nobody home"),
        MovedAway => ("moved_away", "已搬走", "moved away"),
        NewOccupants => ("new_occupants", "发现新住户", "new occupants found"),
    }
);

impl VisitOutcome {
    /// What a change event proposed by a visit with this outcome says of where it came from.
    pub fn evidence(self, notes: &str) -> String {
        match self {
            VisitOutcome::MovedAway => format!("走访发现已搬走 / found moved away on a visit. {notes}"),
            other => format!("走访：{} / visit: {}. {notes}", other.label_zh(), other.label_en()),
        }
    }

    /// How the members' records count as verified by this visit, if they do.
    pub fn verification(self) -> Option<VerificationMethod> {
        match self {
            VisitOutcome::SeenInPerson => Some(VerificationMethod::InPerson),
            VisitOutcome::HouseholdMember => Some(VerificationMethod::HouseholdMember),
            VisitOutcome::LandlordOrNeighbour => Some(VerificationMethod::LandlordOrNeighbour),
            VisitOutcome::NobodyHome | VisitOutcome::MovedAway | VisitOutcome::NewOccupants => None,
        }
    }
}

/// Why a household is on the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanReason {
    /// This many members are due for re-verification; the closest tier among them.
    Due { residents: u32, tier: Tier },
    /// Its floor has not been walked in the period.
    FloorNotWalked,
    /// A reported change about it was returned and must be checked again.
    ReturnedEvent,
    /// Its landlord or employer reported an arrival or departure still under review.
    PartyReported,
}

impl PlanReason {
    pub fn label(&self, english: bool) -> String {
        match (self, english) {
            (PlanReason::Due { residents, tier }, false) => format!("{residents}人到期复核（{}）", tier.label_zh()),
            (PlanReason::Due { residents, tier }, true) => format!("{residents} due ({})", tier.label_en()),
            (PlanReason::FloorNotWalked, false) => "本期未走访楼层".into(),
            (PlanReason::FloorNotWalked, true) => "floor not walked this period".into(),
            (PlanReason::ReturnedEvent, false) => "退回事件待复查".into(),
            (PlanReason::ReturnedEvent, true) => "returned event to re-check".into(),
            (PlanReason::PartyReported, false) => "房东或用工单位报告变动，待核实".into(),
            (PlanReason::PartyReported, true) => "landlord or employer reported a change to check".into(),
        }
    }
}

/// One household to visit, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub county: String,
    /// The community (code) the household is in.
    pub community: String,
    pub household_id: uuid::Uuid,
    pub household_no: String,
    pub grid_number: i32,
    pub grid_name: String,
    pub building_name: String,
    pub unit_no: i16,
    pub floor_no: i16,
    pub room_no: String,
    pub members: u32,
    pub reasons: Vec<PlanReason>,
    /// The earliest re-verification date among the members (none: never verified).
    pub due_on: Option<Date>,
}

/// Compares building names the way people count them: "2栋" before "10栋".
pub fn natural_key(name: &str) -> (u64, String) {
    let digits: String = name.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
    (digits.parse().unwrap_or(u64::MAX), name.to_string())
}

/// Orders a plan for walking: community, grid, building, floor (bottom up), unit, room.
pub fn order_for_walking(items: &mut [PlanItem]) {
    // The key is built once per item: a district's plan has over a million.
    items.sort_by_cached_key(|i| {
        (i.community.clone(), i.grid_number, natural_key(&i.building_name), i.floor_no, i.unit_no, i.room_no.clone())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(grid: i32, building: &str, floor: i16, unit: i16, room: &str) -> PlanItem {
        PlanItem {
            county: "440307".into(),
            community: "440307003002".into(),
            household_id: uuid::Uuid::nil(),
            household_no: String::new(),
            grid_number: grid,
            grid_name: format!("第{grid}网格"),
            building_name: building.into(),
            unit_no: unit,
            floor_no: floor,
            room_no: room.into(),
            members: 1,
            reasons: vec![PlanReason::FloorNotWalked],
            due_on: None,
        }
    }

    #[test]
    fn walking_order_is_grid_building_floor_unit() {
        let mut items = vec![
            item(2, "1栋", 1, 1, "101"),
            item(1, "10栋", 1, 1, "101"),
            item(1, "2栋", 3, 1, "301"),
            item(1, "2栋", 1, 2, "102"),
            item(1, "2栋", 1, 1, "101"),
        ];
        order_for_walking(&mut items);
        let order: Vec<(i32, &str, i16, i16)> =
            items.iter().map(|i| (i.grid_number, i.building_name.as_str(), i.floor_no, i.unit_no)).collect();
        assert_eq!(order, [(1, "2栋", 1, 1), (1, "2栋", 1, 2), (1, "2栋", 3, 1), (1, "10栋", 1, 1), (2, "1栋", 1, 1)]);
        assert_eq!(VisitOutcome::SeenInPerson.verification(), Some(VerificationMethod::InPerson));
        assert_eq!(VisitOutcome::NobodyHome.verification(), None);
    }

    proptest! {
        /// Ordering keeps every item and never puts a later grid before an earlier one.
        #[test]
        fn ordering_is_a_permutation_sorted_by_grid(grids in proptest::collection::vec((1i32..5, 1u8..30, 1i16..30), 0..40)) {
            let mut items: Vec<PlanItem> = grids.iter().map(|(g, b, f)| item(*g, &format!("{b}栋"), *f, 1, "x")).collect();
            let before = items.len();
            order_for_walking(&mut items);
            prop_assert_eq!(items.len(), before);
            prop_assert!(items.windows(2).all(|w| w[0].grid_number <= w[1].grid_number));
        }
    }
}
