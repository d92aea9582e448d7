//! The region tree, users and sessions.

pub(crate) mod audit;
mod divisions;
pub mod reference;
mod users;

pub use audit::{Audit, AuditEntry, AuditHead, AuditVerifyError, NewAuditEntry};
pub use divisions::{Division, Divisions, LoadScope};
pub use users::{
    LOGIN_WINDOW, LoginLock, LoginOutcome, MAX_ATTEMPTS_PER_ACCOUNT, MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS,
    MAX_ATTEMPTS_PER_ADDRESS, NewUser, SessionUser, User, Users, generate_password,
};

#[cfg(test)]
mod tests;
