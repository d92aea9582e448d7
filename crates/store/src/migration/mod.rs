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
mod m0012_tier_change_key;
mod m0013_county_keys;
mod m0014_audit_chains;
mod m0015_superseded_name_indexes;
mod m0016_feeds;
mod m0017_exchange;

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
            Box::new(m0012_tier_change_key::Migration),
            Box::new(m0013_county_keys::Migration),
            Box::new(m0014_audit_chains::Migration),
            Box::new(m0015_superseded_name_indexes::Migration),
            Box::new(m0016_feeds::Migration),
            Box::new(m0017_exchange::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use crate::testing;

    /// `tier_change` is keyed by county and id (m0012), as a table partitioned or
    /// sharded by county must be: the same id may recur in another county, not in one.
    #[tokio::test]
    async fn tier_changes_are_keyed_by_county_and_id() {
        for db in testing::backends().await {
            let insert = |county: &str| {
                format!(
                    "INSERT INTO tier_change (county_code, id, resident_id, community_code, from_tier, to_tier, at, cause) \
                     VALUES ('{county}', '0190b6c2-0000-7000-8000-000000000001', '0190b6c2-0000-7000-8000-000000000002', \
                     '{county}003002', NULL, 'assured', '2026-12-01T00:00:00Z', 'test')"
                )
            };
            let sql = &db.store.db;
            sql.execute_unprepared(&insert("440307")).await.unwrap();
            sql.execute_unprepared(&insert("440306")).await.unwrap();
            assert!(sql.execute_unprepared(&insert("440307")).await.is_err(), "{}", db.label);
            db.finish().await;
        }
    }
}
