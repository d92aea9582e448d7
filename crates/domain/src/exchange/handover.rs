//! 委托交接: a household, a building or a whole grid (a block demolished for
//! redevelopment) handed by one community to another, so that "联系不断线、管理不断档、
//! 服务不断人". The sending side proposes; the receiving side accepts or refuses; while
//! it waits and while it moves, the records are held: visible to both, changed by
//! neither.

use crate::registry::codes::coded_enum;

coded_enum!(
    /// What is handed over.
    HandoverKind {
        Household => ("household", "户", "household"),
        Building => ("building", "楼栋", "building"),
        Grid => ("grid", "网格", "grid"),
    }
);

coded_enum!(
    /// Where a handover stands.
    HandoverState {
        Proposed => ("proposed", "待接收方确认", "awaiting the receiving side"),
        Moving => ("moving", "交接中", "moving"),
        Completed => ("completed", "已交接", "completed"),
        Refused => ("refused", "接收方已拒绝", "refused by the receiving side"),
        Withdrawn => ("withdrawn", "已撤回", "withdrawn"),
    }
);

/// Why a handover step cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoverError {
    #[error("交接{state}，不能再作决定 / the handover is {state_en}: it cannot be decided again")]
    Decided { state: &'static str, state_en: &'static str },
    #[error("拒绝交接须说明原因 / refusing a handover needs a reason")]
    ReasonMissing,
    #[error("接收方与移交方相同 / the receiving side is the sending side")]
    SameSide,
}

impl HandoverState {
    /// Whether the records are held (visible to both sides, changed by neither).
    pub fn holds(self) -> bool {
        matches!(self, HandoverState::Proposed | HandoverState::Moving)
    }

    /// The state after the receiving side's decision.
    pub fn decide(self, accept: bool, reason: Option<&str>) -> Result<HandoverState, HandoverError> {
        if self != HandoverState::Proposed {
            return Err(HandoverError::Decided { state: self.label_zh(), state_en: self.label_en() });
        }
        if accept {
            return Ok(HandoverState::Moving);
        }
        if reason.map(str::trim).is_none_or(str::is_empty) {
            return Err(HandoverError::ReasonMissing);
        }
        Ok(HandoverState::Refused)
    }

    /// The state after the sending side withdraws its proposal.
    pub fn withdraw(self) -> Result<HandoverState, HandoverError> {
        if self != HandoverState::Proposed {
            return Err(HandoverError::Decided { state: self.label_zh(), state_en: self.label_en() });
        }
        Ok(HandoverState::Withdrawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handover_is_decided_once() {
        assert_eq!(HandoverState::Proposed.decide(true, None), Ok(HandoverState::Moving));
        assert_eq!(HandoverState::Proposed.decide(false, Some(" ")), Err(HandoverError::ReasonMissing));
        assert_eq!(HandoverState::Proposed.decide(false, Some("地址不符")), Ok(HandoverState::Refused));
        for state in [HandoverState::Moving, HandoverState::Completed, HandoverState::Refused, HandoverState::Withdrawn]
        {
            assert!(state.decide(true, None).is_err());
            assert!(state.withdraw().is_err());
        }
        assert_eq!(HandoverState::Proposed.withdraw(), Ok(HandoverState::Withdrawn));
        assert!(HandoverState::Proposed.holds() && HandoverState::Moving.holds());
        assert!(!HandoverState::Completed.holds());
    }
}
