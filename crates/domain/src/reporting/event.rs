//! 变动事件: a birth, death, marriage, move or correction, reported at the bottom of
//! the hierarchy and reviewed level by level before it changes the registry.

use serde::{Deserialize, Serialize};
use time::Date;
use uuid::Uuid;

use crate::org::{DivisionCode, Permission, Role};
use crate::registry::codes::coded_enum;
use crate::registry::{ResidenceStatus, ResidentFacts};

coded_enum!(
    /// 变动类型.
    EventKind {
        Birth => ("birth", "出生", "birth"),
        Death => ("death", "死亡", "death"),
        Marriage => ("marriage", "结婚", "marriage"),
        Divorce => ("divorce", "离婚", "divorce"),
        MoveIn => ("move_in", "迁入", "move into the area"),
        MoveOut => ("move_out", "迁出", "move out of the area"),
        MoveWithin => ("move_within", "区内迁移", "move within the area"),
        StatusChange => ("status_change", "人口类型变更", "change of residence status"),
        Correction => ("correction", "信息更正", "correction of a record"),
    }
);

coded_enum!(
    /// Where an event stands in the chain.
    EventState {
        Submitted => ("submitted", "待社区审核", "awaiting community review"),
        Reviewed => ("reviewed", "待街道确认", "awaiting street confirmation"),
        Confirmed => ("confirmed", "待区县接收", "awaiting district acceptance"),
        Accepted => ("accepted", "已接收", "accepted"),
        Returned => ("returned", "已退回", "returned"),
    }
);

coded_enum!(
    /// 审核层级: the levels an event passes on its way up.
    ReviewLevel {
        Community => ("community", "社区", "community"),
        Street => ("street", "街道", "street/town"),
        District => ("district", "区县", "district"),
    }
);

coded_enum!(
    /// What somebody did to an event.
    EventAction {
        Submit => ("submit", "上报", "submitted"),
        Approve => ("approve", "审核通过", "approved"),
        Return => ("return", "退回", "returned"),
        Resubmit => ("resubmit", "修改后重报", "resubmitted"),
    }
);

impl ReviewLevel {
    /// The level a role reviews at, if it reviews at all.
    pub fn of_role(role: Role) -> Option<ReviewLevel> {
        match role {
            Role::Specialist => Some(ReviewLevel::Community),
            Role::Street => Some(ReviewLevel::Street),
            Role::District => Some(ReviewLevel::District),
            Role::GridWorker | Role::ServiceProvider | Role::Administrator => None,
        }
    }
}

impl EventState {
    /// The level whose decision the event waits for.
    pub fn awaiting(self) -> Option<ReviewLevel> {
        match self {
            EventState::Submitted => Some(ReviewLevel::Community),
            EventState::Reviewed => Some(ReviewLevel::Street),
            EventState::Confirmed => Some(ReviewLevel::District),
            EventState::Accepted | EventState::Returned => None,
        }
    }

    /// The state after `level` approves.
    fn approved_by(level: ReviewLevel) -> EventState {
        match level {
            ReviewLevel::Community => EventState::Reviewed,
            ReviewLevel::Street => EventState::Confirmed,
            ReviewLevel::District => EventState::Accepted,
        }
    }

    /// Where a new (or resubmitted) report starts: a community specialist's own review
    /// counts as done, so it goes to the street. Everything else — a street's or the
    /// district's own reports too — starts with the community, who knows the facts on
    /// the ground; so no office both reports and accepts an event alone.
    pub fn first_for(role: Role) -> EventState {
        match role {
            Role::Specialist => EventState::Reviewed,
            Role::GridWorker | Role::Street | Role::District | Role::ServiceProvider | Role::Administrator => {
                EventState::Submitted
            }
        }
    }
}

/// Why a step in the chain cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("该事件{state}，不等待{level}审核 / the event is {state_en}; it does not wait for the {level_en}")]
    NotAwaiting { state: &'static str, state_en: &'static str, level: &'static str, level_en: &'static str },
    #[error("退回必须说明原因 / a return needs a reason")]
    ReasonMissing,
    #[error("只有已退回的事件可以重报 / only returned events can be resubmitted")]
    NotReturned,
    #[error("该角色不参与审核 / this role does not review events")]
    NotAReviewer,
    #[error("该角色不能报告或重报事件 / this role does not report events")]
    NotAReporter,
}

/// Applies a reviewer's decision. `reason` is required for a return.
pub fn decide(
    state: EventState,
    role: Role,
    action: EventAction,
    reason: Option<&str>,
) -> Result<EventState, TransitionError> {
    // Every step, reporting included, is checked here: the one permission check of the
    // chain (a service provider once resubmitted a returned event).
    if matches!(action, EventAction::Submit | EventAction::Resubmit) && !role.may(Permission::ReportEvents) {
        return Err(TransitionError::NotAReporter);
    }
    match action {
        EventAction::Submit => Ok(EventState::first_for(role)),
        EventAction::Resubmit => {
            if state == EventState::Returned {
                Ok(EventState::first_for(role))
            } else {
                Err(TransitionError::NotReturned)
            }
        }
        EventAction::Approve | EventAction::Return => {
            let level = match role {
                // Administrators act for whichever level the event waits for.
                Role::Administrator => state.awaiting(),
                _ => ReviewLevel::of_role(role),
            };
            let Some(level) = level else {
                return Err(if ReviewLevel::of_role(role).is_none() && role != Role::Administrator {
                    TransitionError::NotAReviewer
                } else {
                    not_awaiting(state, ReviewLevel::District)
                });
            };
            if state.awaiting() != Some(level) {
                return Err(not_awaiting(state, level));
            }
            if action == EventAction::Return {
                if reason.map(str::trim).is_none_or(str::is_empty) {
                    return Err(TransitionError::ReasonMissing);
                }
                return Ok(EventState::Returned);
            }
            Ok(EventState::approved_by(level))
        }
    }
}

fn not_awaiting(state: EventState, level: ReviewLevel) -> TransitionError {
    TransitionError::NotAwaiting {
        state: state.label_zh(),
        state_en: state.label_en(),
        level: level.label_zh(),
        level_en: level.label_en(),
    }
}

/// 时限: how many days each step may take (configuration; defaults from the seeds:
/// grid leads report within two days, communities review weekly, streets and the
/// district monthly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// From the day something happened to the day it is reported.
    pub report_days: i64,
    pub community_days: i64,
    pub street_days: i64,
    pub district_days: i64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines { report_days: 2, community_days: 7, street_days: 30, district_days: 30 }
    }
}

impl Deadlines {
    pub const KEYS: [&'static str; 4] = ["report", "community", "street", "district"];

    pub fn days_for(&self, level: ReviewLevel) -> i64 {
        match level {
            ReviewLevel::Community => self.community_days,
            ReviewLevel::Street => self.street_days,
            ReviewLevel::District => self.district_days,
        }
    }

    pub fn set(&mut self, key: &str, days: i64) -> bool {
        match key {
            "report" => self.report_days = days,
            "community" => self.community_days = days,
            "street" => self.street_days = days,
            "district" => self.district_days = days,
            _ => return false,
        }
        true
    }

    /// Was the event reported in time?
    pub fn timely(&self, occurred_on: Date, reported_on: Date) -> bool {
        (reported_on - occurred_on).whole_days() <= self.report_days
    }

    /// When the decision the event now waits for is due, counted from `since` (the
    /// day it reached that level).
    pub fn due(&self, state: EventState, since: Date) -> Option<Date> {
        let level = state.awaiting()?;
        since.checked_add(time::Duration::days(self.days_for(level)))
    }
}

/// A newcomer's facts (birth or move into the area).
pub type NewResident = ResidentFacts;

/// What an event says, by kind. The residents it touches are named on the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventDetails {
    Birth {
        child: NewResident,
        /// 孩次: 1 for a first child.
        birth_order: u8,
        mother: Option<Uuid>,
    },
    Death,
    Marriage {
        partner: Option<Uuid>,
    },
    Divorce {
        partner: Option<Uuid>,
    },
    MoveIn {
        newcomer: NewResident,
        /// Province the person came from.
        origin: Option<DivisionCode>,
    },
    MoveOut {
        /// Province the person went to.
        destination: Option<DivisionCode>,
    },
    MoveWithin {
        household_id: Uuid,
    },
    StatusChange {
        status: ResidenceStatus,
    },
    Correction {
        facts: ResidentFacts,
    },
}

impl EventDetails {
    pub fn kind(&self) -> EventKind {
        match self {
            EventDetails::Birth { .. } => EventKind::Birth,
            EventDetails::Death => EventKind::Death,
            EventDetails::Marriage { .. } => EventKind::Marriage,
            EventDetails::Divorce { .. } => EventKind::Divorce,
            EventDetails::MoveIn { .. } => EventKind::MoveIn,
            EventDetails::MoveOut { .. } => EventKind::MoveOut,
            EventDetails::MoveWithin { .. } => EventKind::MoveWithin,
            EventDetails::StatusChange { .. } => EventKind::StatusChange,
            EventDetails::Correction { .. } => EventKind::Correction,
        }
    }

    /// Kinds that add a person rather than change one already recorded.
    pub fn adds_person(&self) -> bool {
        matches!(self, EventDetails::Birth { .. } | EventDetails::MoveIn { .. })
    }

    /// The province a move came from or went to, for the migration tables.
    pub fn province(&self) -> Option<DivisionCode> {
        match self {
            EventDetails::MoveIn { origin, newcomer } => {
                origin.as_ref().map(DivisionCode::province).or_else(|| Some(newcomer.registered_residence.province()))
            }
            EventDetails::MoveOut { destination } => destination.as_ref().map(DivisionCode::province),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn only_roles_that_report_may_submit_or_resubmit() {
        for action in [EventAction::Submit, EventAction::Resubmit] {
            assert_eq!(
                decide(EventState::Returned, Role::ServiceProvider, action, None),
                Err(TransitionError::NotAReporter)
            );
            for role in [Role::GridWorker, Role::Specialist, Role::Street, Role::District, Role::Administrator] {
                assert!(decide(EventState::Returned, role, action, None).is_ok(), "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn an_event_climbs_every_level() {
        let mut state = decide(EventState::Submitted, Role::GridWorker, EventAction::Submit, None).unwrap();
        assert_eq!(state, EventState::Submitted);
        for (role, next) in [
            (Role::Specialist, EventState::Reviewed),
            (Role::Street, EventState::Confirmed),
            (Role::District, EventState::Accepted),
        ] {
            // Nobody but the awaited level may decide.
            for other in [Role::Specialist, Role::Street, Role::District].into_iter().filter(|r| *r != role) {
                assert!(decide(state, other, EventAction::Approve, None).is_err());
            }
            state = decide(state, role, EventAction::Approve, None).unwrap();
            assert_eq!(state, next);
        }
        assert!(decide(state, Role::District, EventAction::Return, Some("x")).is_err());
    }

    #[test]
    fn return_needs_a_reason_and_resubmission_restarts() {
        assert_eq!(
            decide(EventState::Reviewed, Role::Street, EventAction::Return, Some("  ")),
            Err(TransitionError::ReasonMissing)
        );
        let returned = decide(EventState::Reviewed, Role::Street, EventAction::Return, Some("证明缺失")).unwrap();
        assert_eq!(returned, EventState::Returned);
        assert_eq!(decide(returned, Role::GridWorker, EventAction::Resubmit, None), Ok(EventState::Submitted));
        assert_eq!(decide(returned, Role::Specialist, EventAction::Resubmit, None), Ok(EventState::Reviewed));
        assert_eq!(
            decide(EventState::Submitted, Role::GridWorker, EventAction::Resubmit, None),
            Err(TransitionError::NotReturned)
        );
        assert_eq!(
            decide(EventState::Submitted, Role::GridWorker, EventAction::Approve, None),
            Err(TransitionError::NotAReviewer)
        );
    }

    #[test]
    fn administrators_act_for_the_awaited_level() {
        assert_eq!(
            decide(EventState::Confirmed, Role::Administrator, EventAction::Approve, None),
            Ok(EventState::Accepted)
        );
        assert!(decide(EventState::Accepted, Role::Administrator, EventAction::Approve, None).is_err());
    }

    #[test]
    fn deadlines() {
        let d = Deadlines::default();
        assert!(d.timely(date!(2026 - 10 - 01), date!(2026 - 10 - 03)));
        assert!(!d.timely(date!(2026 - 10 - 01), date!(2026 - 10 - 04)));
        assert_eq!(d.due(EventState::Submitted, date!(2026 - 10 - 03)), Some(date!(2026 - 10 - 10)));
        assert_eq!(d.due(EventState::Accepted, date!(2026 - 10 - 03)), None);
    }
}
