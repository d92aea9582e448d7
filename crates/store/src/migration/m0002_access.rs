//! Access and accountability: the audit chain, login lockout, CSRF tokens, and the
//! end of a resident's record (death or departure).

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0002_access");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Append-only; each entry's hash commits to the previous entry's hash.
        m.create_table(
            Table::create()
                .table("audit_entry")
                .col(big("seq").primary_key())
                // Stored as the exact RFC 3339 text that was hashed.
                .col(text("at"))
                .col(text("actor"))
                .col(text("action"))
                .col(text("target"))
                .col(text("county"))
                .col(text("origin"))
                .col(text("purpose"))
                .col(text("detail"))
                .col(text("previous_hash"))
                .col(text("hash"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("audit_entry_target").table("audit_entry").col("target").take()).await?;
        m.create_index(Index::create().name("audit_entry_actor").table("audit_entry").col("actor").take()).await?;

        m.create_table(
            Table::create()
                .table("resident_exit")
                .col(text("county_code"))
                .col(uuid("resident_id"))
                .col(date("exited_on"))
                .col(text("reason"))
                .col(timestamp("recorded_at"))
                .col(text("recorded_by"))
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("resident_exit", ("county_code", "resident_id"))
                        .to("resident", ("county_code", "id")),
                )
                .take(),
        )
        .await?;

        m.alter_table(Table::alter().table("app_user").add_column(count("failed_logins")).take()).await?;
        m.alter_table(Table::alter().table("app_user").add_column(timestamp_null("locked_until")).take()).await?;
        m.alter_table(Table::alter().table("user_session").add_column(text("csrf_token").default("")).take()).await?;
        Ok(())
    }
}
