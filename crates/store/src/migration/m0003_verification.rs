//! 核实: when each resident's record was last confirmed, and the log of confirmations
//! made in jiceng. Also an index for finding communities by name (imports).

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0003_verification");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // On the resident, not on a version: confirming a record changes no fact, so it
        // must not create a version. May also come from an older system (imports).
        m.alter_table(Table::alter().table("resident").add_column(date_null("last_verified_on")).take()).await?;
        m.create_table(
            Table::create()
                .table("resident_verification")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(uuid("resident_id"))
                .col(date("verified_on"))
                .col(text("method"))
                .col(timestamp("recorded_at"))
                .col(text("recorded_by"))
                .primary_key(Index::create().col("county_code").col("id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("resident_verification", ("county_code", "resident_id"))
                        .to("resident", ("county_code", "id")),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("resident_verification_resident")
                .table("resident_verification")
                .col("county_code")
                .col("resident_id")
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("division_name").table("division").col("name").take()).await?;
        Ok(())
    }
}
