//! What a visit plan needs of each current resident — household, tier in force, last
//! verification — in one narrow table kept by the registry's writes, so a district's
//! plan is one index scan rather than joins over millions of records.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0008_followup");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("resident_followup")
                .col(text("county_code"))
                .col(uuid("resident_id"))
                .col(text("community_code"))
                .col(uuid("household_id"))
                // The tier in force (an override, else the assessment); none before the first.
                .col(text_null("tier"))
                .col(date_null("last_verified_on"))
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .take(),
        )
        .await?;
        // Covers the plan's per-household aggregate, read in index order.
        m.create_index(
            Index::create()
                .name("resident_followup_plan")
                .table("resident_followup")
                .col("community_code")
                .col("household_id")
                .col("tier")
                .col("last_verified_on")
                .take(),
        )
        .await?;
        // Rewriting a touched household's members finds them by household.
        m.create_index(
            Index::create()
                .name("resident_followup_household")
                .table("resident_followup")
                .col("county_code")
                .col("household_id")
                .take(),
        )
        .await?;
        crate::fieldwork::followup::backfill(m.get_connection()).await.map_err(|e| DbErr::Migration(e.to_string()))?;
        Ok(())
    }
}
