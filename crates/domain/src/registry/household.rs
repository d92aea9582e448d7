//! 户 — where a household lives: community → grid → building → unit → floor → room.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::org::DivisionCode;

/// The dwelling a household occupies. Grids and buildings are identified by UUID;
/// the community is a village-level division code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdLocation {
    pub community: DivisionCode,
    pub grid_id: Uuid,
    pub building_id: Uuid,
    /// 单元 (1-based).
    pub unit_no: i16,
    /// 楼层 (1-based; negative for basements).
    pub floor_no: i16,
    /// 房号 as written on the door, e.g. "1203".
    pub room_no: String,
}
