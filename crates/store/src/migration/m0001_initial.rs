//! Region tree, users and sessions, and the versioned resident registry.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0001_initial");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("division")
                .col(text("code").primary_key())
                .col(text("name"))
                .col(small("level"))
                .col(text_null("parent_code"))
                .take(),
        )
        .await?;
        m.create_index(index("division_parent", "division", &["parent_code"])).await?;

        m.create_table(
            Table::create()
                .table("app_user")
                .col(uuid("id").primary_key())
                .col(text("username").unique_key())
                .col(text("display_name"))
                .col(text("password_hash"))
                .col(text("role"))
                .col(timestamp("created_at"))
                .col(boolean("disabled").default(false))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_scope")
                .col(uuid("user_id"))
                .col(text("division_code"))
                .primary_key(Index::create().col("user_id").col("division_code"))
                .foreign_key(ForeignKey::create().from("user_scope", "user_id").to("app_user", "id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_session")
                .col(text("token_hash").primary_key())
                .col(uuid("user_id"))
                .col(timestamp("created_at"))
                .col(timestamp("expires_at"))
                .foreign_key(ForeignKey::create().from("user_session", "user_id").to("app_user", "id"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("grid")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(text("community_code"))
                .col(integer("number"))
                .col(text("name"))
                .col(timestamp("created_at"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("grid_community", "grid", &["community_code", "number"])).await?;

        m.create_table(
            Table::create()
                .table("building")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(uuid("grid_id"))
                .col(text("community_code"))
                .col(text("name"))
                .col(small("floors"))
                .col(small("units"))
                .col(timestamp("created_at"))
                .primary_key(Index::create().col("county_code").col("id"))
                .foreign_key(
                    ForeignKey::create().from("building", ("county_code", "grid_id")).to("grid", ("county_code", "id")),
                )
                .take(),
        )
        .await?;
        m.create_index(index("building_grid", "building", &["county_code", "grid_id"])).await?;

        m.create_table(
            Table::create()
                .table("household")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(text("household_no"))
                .col(timestamp("created_at"))
                .col(text("created_by"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        m.create_index(index("household_no", "household", &["county_code", "household_no"]).unique().take()).await?;

        let mut household_version = Table::create();
        household_version.table("household_version").col(text("county_code")).col(uuid("household_id"));
        version_columns(&mut household_version)
            .col(text("community_code"))
            .col(uuid("grid_id"))
            .col(uuid("building_id"))
            .col(small("unit_no"))
            .col(small("floor_no"))
            .col(text("room_no"))
            .primary_key(Index::create().col("county_code").col("household_id").col("version"))
            .foreign_key(
                ForeignKey::create()
                    .from("household_version", ("county_code", "household_id"))
                    .to("household", ("county_code", "id")),
            )
            .foreign_key(
                ForeignKey::create()
                    .from("household_version", ("county_code", "building_id"))
                    .to("building", ("county_code", "id")),
            );
        m.create_table(household_version).await?;
        m.create_index(index(
            "household_version_building",
            "household_version",
            &["county_code", "building_id", "floor_no"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("resident")
                .col(text("county_code"))
                .col(uuid("id"))
                .col(timestamp("created_at"))
                .col(text("created_by"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;

        let mut resident_version = Table::create();
        resident_version.table("resident_version").col(text("county_code")).col(uuid("resident_id"));
        version_columns(&mut resident_version)
            // Copied from the household so that counts and scope need no join.
            .col(text("community_code"))
            .col(uuid("household_id"))
            .col(text("name"))
            // Pinyin initials of the name, for search ("zs" finds 张三).
            .col(text("name_initials"))
            .col(text("sex"))
            .col(date("birth_date"))
            .col(text_null("id_number"))
            .col(text_null("id_missing_reason"))
            .col(text("ethnicity"))
            .col(text_null("phone"))
            .col(text("registered_residence"))
            .col(text("relationship"))
            .col(text("residence_status"))
            .col(date_null("arrival_date"))
            .col(text("marital_status"))
            .primary_key(Index::create().col("county_code").col("resident_id").col("version"))
            .foreign_key(
                ForeignKey::create()
                    .from("resident_version", ("county_code", "resident_id"))
                    .to("resident", ("county_code", "id")),
            )
            .foreign_key(
                ForeignKey::create()
                    .from("resident_version", ("county_code", "household_id"))
                    .to("household", ("county_code", "id")),
            );
        m.create_table(resident_version).await?;
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
