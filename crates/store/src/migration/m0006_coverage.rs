//! 四不漏 counters: households and residents per floor (kept current by every registry
//! write), visits and coverage per floor and month (kept by visits and verifications),
//! and the marks that make "covered" count a household or resident once a month. Also
//! the index that lets a community's households be read without scanning the county.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0006_coverage");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("household_version_community")
                .table("household_version")
                .col("community_code")
                .col("valid_to")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("floor_stock")
                .col(text("county_code"))
                .col(uuid("building_id"))
                .col(small("floor_no"))
                .col(text("community_code"))
                .col(uuid("grid_id"))
                .col(count("households"))
                .col(count("residents"))
                .primary_key(Index::create().col("county_code").col("building_id").col("floor_no"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("floor_stock_community").table("floor_stock").col("community_code").take())
            .await?;
        m.create_table(
            Table::create()
                .table("floor_month")
                .col(text("county_code"))
                .col(uuid("building_id"))
                .col(small("floor_no"))
                .col(text("month"))
                .col(text("community_code"))
                .col(uuid("grid_id"))
                .col(count("visits"))
                .col(count("households_covered"))
                .col(count("residents_verified"))
                .primary_key(Index::create().col("county_code").col("building_id").col("floor_no").col("month"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("floor_month_community")
                .table("floor_month")
                .col("month")
                .col("community_code")
                .take(),
        )
        .await?;
        // One row per household or resident and month once it has been covered.
        m.create_table(
            Table::create()
                .table("coverage_mark")
                .col(text("county_code"))
                .col(text("month"))
                .col(text("kind"))
                .col(uuid("subject_id"))
                .primary_key(Index::create().col("county_code").col("month").col("kind").col("subject_id"))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        crate::fieldwork::floors::backfill(db).await.map_err(|e| DbErr::Migration(e.to_string()))?;
        Ok(())
    }
}
