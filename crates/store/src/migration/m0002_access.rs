//! Access and accountability: the audit chain, login lockout, CSRF tokens, and the
//! end of a resident's record (death or departure).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_access"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Append-only; each entry's hash commits to the previous entry's hash.
        m.create_table(
            Table::create()
                .table("audit_entry")
                .col(ColumnDef::new("seq").big_integer().not_null().primary_key())
                // Stored as the exact RFC 3339 text that was hashed.
                .col(ColumnDef::new("at").text().not_null())
                .col(ColumnDef::new("actor").text().not_null())
                .col(ColumnDef::new("action").text().not_null())
                .col(ColumnDef::new("target").text().not_null())
                .col(ColumnDef::new("county").text().not_null())
                .col(ColumnDef::new("origin").text().not_null())
                .col(ColumnDef::new("purpose").text().not_null())
                .col(ColumnDef::new("detail").text().not_null())
                .col(ColumnDef::new("previous_hash").text().not_null())
                .col(ColumnDef::new("hash").text().not_null())
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("audit_entry_target").table("audit_entry").col("target").take()).await?;
        m.create_index(Index::create().name("audit_entry_actor").table("audit_entry").col("actor").take()).await?;

        m.create_table(
            Table::create()
                .table("resident_exit")
                .col(ColumnDef::new("county_code").text().not_null())
                .col(ColumnDef::new("resident_id").uuid().not_null())
                .col(ColumnDef::new("exited_on").date().not_null())
                .col(ColumnDef::new("reason").text().not_null())
                .col(ColumnDef::new("recorded_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("recorded_by").text().not_null())
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("resident_exit", ("county_code", "resident_id"))
                        .to("resident", ("county_code", "id")),
                )
                .take(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table("app_user")
                .add_column(ColumnDef::new("failed_logins").integer().not_null().default(0))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("app_user")
                .add_column(ColumnDef::new("locked_until").timestamp_with_time_zone().null())
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("user_session")
                .add_column(ColumnDef::new("csrf_token").text().not_null().default(""))
                .take(),
        )
        .await?;
        Ok(())
    }
}
