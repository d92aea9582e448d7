//! What an operator runs: the configuration file and its check, backups and restores.

pub mod backup;
pub mod check;
pub mod config;
pub mod distribute;
