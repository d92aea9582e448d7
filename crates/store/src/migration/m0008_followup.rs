//! What a visit plan needs of each current resident — household, tier in force, last
//! verification — in one narrow table kept by the registry's writes, so a district's
//! plan is one index scan rather than joins over millions of records.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0008_followup");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { resident_followup (
            county_code: text, resident_id: uuid, community_code: text, household_id: uuid,
            // The tier in force (an override, else the assessment); none before the first.
            tier: text_null, last_verified_on: date_null,
        ) key(county_code, resident_id) })
            .await?;
        // Covers the plan's per-household aggregate, read in index order.
        m.create_index(index(
            "resident_followup_plan",
            "resident_followup",
            &["community_code", "household_id", "tier", "last_verified_on"],
        ))
        .await?;
        // Rewriting a touched household's members finds them by household.
        m.create_index(index("resident_followup_household", "resident_followup", &["county_code", "household_id"]))
            .await?;
        crate::fieldwork::followup::backfill(m.get_connection()).await.map_err(|e| DbErr::Migration(e.to_string()))?;
        Ok(())
    }
}
