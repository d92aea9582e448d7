//! 谁出租谁负责，谁用工谁负责: landlords and employers (responsible parties), the units
//! they let or the dormitories they run (households), and the arrival and departure
//! lines they report, each with the change event it proposed.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0007_parties");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { responsible_party (
            county_code: text, id: uuid, community_code: text, kind: text, name: text, contact: text,
            phone: text, registered_at: timestamp, registered_by: text,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("responsible_party_community", "responsible_party", &["community_code"])).await?;
        m.create_table(table! { party_unit (
            county_code: text, party_id: uuid, household_id: uuid, added_at: timestamp, added_by: text,
        ) key(county_code, party_id, household_id) })
            .await?;
        m.create_table(table! { party_line (
            county_code: text, id: uuid, party_id: uuid, community_code: text, household_id: uuid,
            movement: text, id_number: text, name: text, occurred_on: date, event_id: uuid_null, source: text,
            source_row: big, submitted_by: text, submitted_at: timestamp,
        ) key(county_code, id) })
            .await?;
        // The same report sent twice (a sheet uploaded again) is one line.
        m.create_index(
            index(
                "party_line_once",
                "party_line",
                &["county_code", "party_id", "movement", "id_number", "occurred_on"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index("party_line_community", "party_line", &["community_code"])).await?;
        Ok(())
    }
}
