//! Region tree, users and sessions, and the versioned resident registry.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0001_initial");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { division (
            code: text.primary_key(), name: text, level: small, parent_code: text_null,
        ) })
        .await?;
        m.create_index(index("division_parent", "division", &["parent_code"])).await?;

        m.create_table(table! { app_user (
            id: uuid.primary_key(), username: text.unique_key(), display_name: text, password_hash: text,
            role: text, created_at: timestamp, disabled: boolean.default(false),
        ) })
        .await?;
        m.create_table(table! { user_scope (
            user_id: uuid, division_code: text,
        ) key(user_id, division_code)
            foreign(user_id) => app_user(id) })
            .await?;
        m.create_table(table! { user_session (
            token_hash: text.primary_key(), user_id: uuid, created_at: timestamp, expires_at: timestamp,
        )
            foreign(user_id) => app_user(id) })
            .await?;

        m.create_table(table! { grid (
            county_code: text, id: uuid, community_code: text, number: integer, name: text,
            created_at: timestamp,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("grid_community", "grid", &["community_code", "number"])).await?;

        m.create_table(table! { building (
            county_code: text, id: uuid, grid_id: uuid, community_code: text, name: text, floors: small,
            units: small, created_at: timestamp,
        ) key(county_code, id)
            foreign(county_code, grid_id) => grid(county_code, id) })
            .await?;
        m.create_index(index("building_grid", "building", &["county_code", "grid_id"])).await?;

        m.create_table(table! { household (
            county_code: text, id: uuid, household_no: text, created_at: timestamp, created_by: text,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("household_no", "household", &["county_code", "household_no"]).unique().take()).await?;

        // valid_from/valid_to say when a fact held; recorded_at/recorded_by when and by
        // whom it was written. `valid_to IS NULL` marks the current version (ADR 003).
        m.create_table(table! { household_version (
            county_code: text, household_id: uuid,
            version: integer, valid_from: date, valid_to: date_null, recorded_at: timestamp, recorded_by: text,
            community_code: text, grid_id: uuid, building_id: uuid, unit_no: small, floor_no: small, room_no: text,
        ) key(county_code, household_id, version)
            foreign(county_code, household_id) => household(county_code, id)
            foreign(county_code, building_id) => building(county_code, id) })
            .await?;
        m.create_index(index(
            "household_version_building",
            "household_version",
            &["county_code", "building_id", "floor_no"],
        ))
        .await?;

        m.create_table(table! { resident (
            county_code: text, id: uuid, created_at: timestamp, created_by: text,
        ) key(county_code, id) })
            .await?;

        m.create_table(table! { resident_version (
            county_code: text, resident_id: uuid,
            version: integer, valid_from: date, valid_to: date_null, recorded_at: timestamp, recorded_by: text,
            // Copied from the household so that counts and scope need no join.
            community_code: text, household_id: uuid, name: text,
            // Pinyin initials of the name, for search ("zs" finds 张三).
            name_initials: text, sex: text, birth_date: date, id_number: text_null, id_missing_reason: text_null,
            ethnicity: text, phone: text_null, registered_residence: text, relationship: text,
            residence_status: text, arrival_date: date_null, marital_status: text,
        ) key(county_code, resident_id, version)
            foreign(county_code, resident_id) => resident(county_code, id)
            foreign(county_code, household_id) => household(county_code, id) })
            .await?;
        m.create_index(index("resident_version_household", "resident_version", &["county_code", "household_id"]))
            .await?;
        m.create_index(index("resident_version_id_number", "resident_version", &["id_number"])).await?;
        m.create_index(index(
            "resident_version_community",
            "resident_version",
            &["community_code", "valid_to", "residence_status"],
        ))
        .await?;
        m.create_index(index("resident_version_name", "resident_version", &["name"])).await?;
        m.create_index(index("resident_version_initials", "resident_version", &["name_initials"])).await?;
        m.create_index(index("resident_version_phone", "resident_version", &["phone"])).await?;
        Ok(())
    }
}
