//! The region tree and the people who work in it.

pub mod audit;
mod division;
mod role;
mod scope;

pub use division::{DivisionCode, DivisionCodeError, DivisionLevel};
pub use role::Role;
pub use scope::{Permission, Scope};

crate::labelled!(Role, DivisionLevel, audit::AuditAction, audit::AccessPurpose);
