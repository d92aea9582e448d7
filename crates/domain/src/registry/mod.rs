//! The resident registry: persons, households and their coded attributes.

pub(crate) mod codes;
mod household;
pub(crate) mod id_number;
pub mod names;
mod phone;
pub mod pinyin;
mod resident;
pub mod synthetic;

pub use codes::{Ethnicity, ExitReason, IdMissingReason, MaritalStatus, Relationship, ResidenceStatus, Sex};
pub use household::HouseholdLocation;
pub use id_number::{IdKind, IdNumber, IdNumberError};
pub use phone::{Phone, PhoneError};
pub use resident::{Identity, PersonName, PersonNameError, ResidentFacts, ResidentFactsError, check_consistency};

crate::labelled!(IdKind);
