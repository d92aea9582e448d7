//! 核实: when each resident's record was last confirmed, and the log of confirmations
//! made in jiceng. Also an index for finding communities by name (imports).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_verification"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // On the resident, not on a version: confirming a record changes no fact, so it
        // must not create a version. May also come from an older system (imports).
        m.alter_table(
            Table::alter().table("resident").add_column(ColumnDef::new("last_verified_on").date().null()).take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("resident_verification")
                .col(ColumnDef::new("county_code").text().not_null())
                .col(ColumnDef::new("id").uuid().not_null())
                .col(ColumnDef::new("resident_id").uuid().not_null())
                .col(ColumnDef::new("verified_on").date().not_null())
                .col(ColumnDef::new("method").text().not_null())
                .col(ColumnDef::new("recorded_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("recorded_by").text().not_null())
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
