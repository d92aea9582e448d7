//! Versioned schema migrations, written once for SQLite and PostgreSQL.
//!
//! Rules that keep the PostgreSQL path open to partitioning and sharding by county
//! (DESIGN.md): application-made UUID keys, `county_code` first in every
//! person-level primary key and inside its foreign keys, no triggers or sequences.

use sea_orm_migration::prelude::*;

#[macro_use]
mod schema;

mod m0001_initial;
mod m0002_access;
mod m0003_verification;
mod m0004_reporting;
mod m0005_fieldwork;
mod m0006_coverage;
mod m0007_parties;
mod m0008_followup;
mod m0009_plan_index;
mod m0010_login_attempts;
mod m0011_search_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_access::Migration),
            Box::new(m0003_verification::Migration),
            Box::new(m0004_reporting::Migration),
            Box::new(m0005_fieldwork::Migration),
            Box::new(m0006_coverage::Migration),
            Box::new(m0007_parties::Migration),
            Box::new(m0008_followup::Migration),
            Box::new(m0009_plan_index::Migration),
            Box::new(m0010_login_attempts::Migration),
            Box::new(m0011_search_index::Migration),
        ]
    }
}
