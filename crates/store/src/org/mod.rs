//! The region tree, users and sessions.

mod divisions;
pub mod reference;
mod users;

pub use divisions::{Division, Divisions, LoadScope};
pub use users::{NewUser, User, Users};

#[cfg(test)]
mod tests;
