//! jiceng's domain: the types and rules of population-service work, with no I/O.
//!
//! Values that reach this crate's types have been parsed and are valid; code that
//! holds an [`registry::IdNumber`] or an [`org::DivisionCode`] never checks it again.

pub mod exchange;
pub mod fieldwork;
pub mod label;
pub mod linkage;
pub mod org;
pub mod registry;
pub mod reporting;
