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
        m.create_index(index("household_version_community", "household_version", &["community_code", "valid_to"]))
            .await?;
        m.create_table(table! { floor_stock (
            county_code: text, building_id: uuid, floor_no: small, community_code: text, grid_id: uuid,
            households: count, residents: count,
        ) key(county_code, building_id, floor_no) })
            .await?;
        m.create_index(index("floor_stock_community", "floor_stock", &["community_code"])).await?;
        m.create_table(table! { floor_month (
            county_code: text, building_id: uuid, floor_no: small, month: text, community_code: text,
            grid_id: uuid, visits: count, households_covered: count, residents_verified: count,
        ) key(county_code, building_id, floor_no, month) })
            .await?;
        m.create_index(index("floor_month_community", "floor_month", &["month", "community_code"])).await?;
        // One row per household or resident and month once it has been covered.
        m.create_table(table! { coverage_mark (
            county_code: text, month: text, kind: text, subject_id: uuid,
        ) key(county_code, month, kind, subject_id) })
            .await?;
        let db = m.get_connection();
        crate::fieldwork::floors::backfill(db).await.map_err(|e| DbErr::Migration(e.to_string()))?;
        Ok(())
    }
}
