//! Access and accountability: the audit chain, login lockout, CSRF tokens, and the
//! end of a resident's record (death or departure).

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0002_access");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Append-only; each entry's hash commits to the previous entry's hash.
        m.create_table(table! { audit_entry (
            seq: big.primary_key(),
            // Stored as the exact RFC 3339 text that was hashed.
            at: text, actor: text, action: text, target: text, county: text, origin: text, purpose: text,
            detail: text, previous_hash: text, hash: text,
        ) })
        .await?;
        m.create_index(index("audit_entry_target", "audit_entry", &["target"])).await?;
        m.create_index(index("audit_entry_actor", "audit_entry", &["actor"])).await?;

        m.create_table(table! { resident_exit (
            county_code: text, resident_id: uuid, exited_on: date, reason: text, recorded_at: timestamp,
            recorded_by: text,
        ) key(county_code, resident_id)
            foreign(county_code, resident_id) => resident(county_code, id) })
            .await?;

        m.alter_table(Table::alter().table("app_user").add_column(count("failed_logins")).take()).await?;
        m.alter_table(Table::alter().table("app_user").add_column(timestamp_null("locked_until")).take()).await?;
        m.alter_table(Table::alter().table("user_session").add_column(text("csrf_token").default("")).take()).await?;
        Ok(())
    }
}
