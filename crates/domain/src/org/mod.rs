//! The region tree and the people who work in it.

mod division;

pub use division::{DivisionCode, DivisionCodeError, DivisionLevel};
