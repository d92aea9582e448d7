//! The region tree and the people who work in it.

mod division;
mod role;

pub use division::{DivisionCode, DivisionCodeError, DivisionLevel};
pub use role::Role;
