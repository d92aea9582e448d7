//! Reporting: change events reviewed level by level, and the periodic statistics they
//! feed (月报/季报/年报), approved and locked up the region tree.

mod birth;
mod event;
mod figures;
mod period;

pub use birth::{BirthReport, MAX_BIRTH_ORDER, Member, birth_details};
pub use event::{
    Deadlines, EventAction, EventDetails, EventKind, EventState, NewResident, ReviewLevel, TransitionError, decide,
};
pub use figures::{
    APPROVAL_LEVELS, Cells, Figure, INDICATORS, PeriodReport, Tally, TouchedPlaces, approves_at, cell, counted_month,
    indicator_label, is_adjustment, split_by_period,
};
pub use period::{Month, Period, PeriodError};
