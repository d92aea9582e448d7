//! 谁出租谁负责，谁用工谁负责: landlords and employers (responsible parties), the units
//! they let or the dormitories they run (households), and the arrival and departure
//! lines they report, each with the change event it proposed.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0007_parties");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("responsible_party")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(text("community_code"))
                .col(text("kind"))
                .col(text("name"))
                .col(text("contact"))
                .col(text("phone"))
                .col(timestamp("registered_at"))
                .col(text("registered_by"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("responsible_party_community").table("responsible_party").col("community_code").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("party_unit")
                .col(text("county_code"))
                .col(uuid("party_id"))
                .col(uuid("household_id"))
                .col(timestamp("added_at"))
                .col(text("added_by"))
                .primary_key(Index::create().col("county_code").col("party_id").col("household_id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("party_line")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(uuid("party_id"))
                .col(text("community_code"))
                .col(uuid("household_id"))
                .col(text("movement"))
                .col(text("id_number"))
                .col(text("name"))
                .col(date("occurred_on"))
                .col(uuid_null("event_id"))
                .col(text("source"))
                .col(big("source_row"))
                .col(text("submitted_by"))
                .col(timestamp("submitted_at"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        // The same report sent twice (a sheet uploaded again) is one line.
        m.create_index(
            Index::create()
                .name("party_line_once")
                .table("party_line")
                .col("county_code")
                .col("party_id")
                .col("movement")
                .col("id_number")
                .col("occurred_on")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("party_line_community").table("party_line").col("community_code").take())
            .await?;
        Ok(())
    }
}
