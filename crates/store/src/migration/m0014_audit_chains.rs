//! One audit chain per county (issue 15): `audit_entry` keyed by `(county_code, seq)`,
//! where `county_code` names the chain — the county an entry is about, or `000000` for
//! entries about no single county (logins, users, searches across counties) and for the
//! anchors that record every county's head. A county's appends no longer wait for
//! another county's, and the log partitions and shards by county like the rest.
//!
//! The entries written before, one global chain, are kept as they were, hashes and all,
//! as the beginning of chain `000000`.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0014_audit_chains");

const COLUMNS: &str = "seq, at, actor, action, target, county, origin, purpose, detail, previous_hash, hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (see m0012).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX audit_entry_target").await?;
        db.execute_unprepared("DROP INDEX audit_entry_actor").await?;
        set_aside(m, "audit_entry", "audit_entry_global").await?;
        m.create_table(table! { audit_entry (
            county_code: text, seq: big,
            // Stored as the exact RFC 3339 text that was hashed.
            at: text, actor: text, action: text, target: text, county: text, origin: text, purpose: text,
            detail: text, previous_hash: text, hash: text,
        ) key(county_code, seq) })
            .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO audit_entry (county_code, {COLUMNS}) SELECT '000000', {COLUMNS} FROM audit_entry_global"
        ))
        .await?;
        db.execute_unprepared("DROP TABLE audit_entry_global").await?;
        m.create_index(index("audit_entry_target", "audit_entry", &["county_code", "target"])).await?;
        m.create_index(index("audit_entry_actor", "audit_entry", &["actor"])).await?;
        Ok(())
    }
}
