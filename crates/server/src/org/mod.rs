//! Logging in and out, and who may see what.

pub mod admin;
pub mod auth;
