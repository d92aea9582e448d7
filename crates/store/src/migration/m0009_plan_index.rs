//! A covering index for the visit plan: every household version of a range of
//! communities in community order with the columns the plan shows, so a district's
//! plan reads the index alone, never the table rows.

use sea_orm_migration::prelude::*;

migration!("m0009_plan_index");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut index = Index::create();
        index.name("household_version_plan").table("household_version").if_not_exists();
        for col in [
            "community_code",
            "household_id",
            "grid_id",
            "building_id",
            "unit_no",
            "floor_no",
            "room_no",
            "valid_to",
            "county_code",
        ] {
            index.col(col);
        }
        m.create_index(index).await?;
        Ok(())
    }
}
