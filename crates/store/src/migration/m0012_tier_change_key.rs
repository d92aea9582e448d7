//! `tier_change` keyed by `(county_code, id)` like every other person-level table: a
//! table sharded or partitioned by county can only have keys that include the county
//! (issue 15: Citus refused to distribute it, PostgreSQL refuses to partition it).
//! The old table is set aside, a new one made under the new key, the rows copied as
//! they are, and the old table dropped.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0012_tier_change_key");

const COLUMNS: &str = "county_code, id, resident_id, community_code, from_tier, to_tier, at, cause";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (sea-orm-migration wraps only PostgreSQL's): the
    /// steps then run on one connection, and a table set aside is never left half-moved.
    /// Without it the statements went to different pooled connections, and a fresh
    /// database once failed with "index tier_change_community already exists".
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX tier_change_community").await?;
        set_aside(m, "tier_change", "tier_change_unkeyed").await?;
        m.create_table(table! { tier_change (
            county_code: text, id: uuid, resident_id: uuid, community_code: text,
            from_tier: text_null, to_tier: text, at: timestamp, cause: text,
        ) key(county_code, id) })
            .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO tier_change ({COLUMNS}) SELECT {COLUMNS} FROM tier_change_unkeyed"
        ))
        .await?;
        db.execute_unprepared("DROP TABLE tier_change_unkeyed").await?;
        m.create_index(index("tier_change_community", "tier_change", &["community_code", "at"])).await?;
        Ok(())
    }
}
