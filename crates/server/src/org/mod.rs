//! Logging in and out, and who may see what.

pub mod auth;
