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
        m.create_table(table! { resident_verification (
            county_code: text, id: uuid, resident_id: uuid, verified_on: date, method: text,
            recorded_at: timestamp, recorded_by: text,
        ) key(county_code, id)
            foreign(county_code, resident_id) => resident(county_code, id) })
            .await?;
        m.create_index(index(
            "resident_verification_resident",
            "resident_verification",
            &["county_code", "resident_id"],
        ))
        .await?;
        m.create_index(index("division_name", "division", &["name"])).await?;
        Ok(())
    }
}
