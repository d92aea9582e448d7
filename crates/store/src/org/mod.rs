//! The region tree, users and sessions.

mod audit;
mod divisions;
pub mod reference;
mod users;

pub use audit::{Audit, AuditEntry, AuditHead, AuditVerifyError, NewAuditEntry};
pub use divisions::{Division, Divisions, LoadScope};
pub use users::{LoginLock, LoginOutcome, NewUser, SessionUser, User, Users, generate_password};

#[cfg(test)]
mod tests;
