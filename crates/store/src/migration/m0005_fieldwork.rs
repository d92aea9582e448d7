//! Field work: what is recorded about residents' housing, work and phone, the
//! versioned tier rules, each resident's tier with its reasons and any override, the
//! list of tier changes, and visits (走访) with their outcomes.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0005_fieldwork");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("resident_stability")
                .col(text("county_code"))
                .col(uuid("resident_id"))
                .col(text("housing"))
                .col(text("work"))
                .col(boolean_null("phone_answered"))
                .col(timestamp("recorded_at"))
                .col(text("recorded_by"))
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tier_rules")
                .col(integer("version").primary_key())
                .col(text("rules"))
                .col(timestamp("created_at"))
                .col(text("created_by"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("resident_tier")
                .col(text("county_code"))
                .col(uuid("resident_id"))
                .col(text("community_code"))
                .col(text("tier"))
                .col(integer("points"))
                .col(text("reasons"))
                .col(integer("rules_version"))
                .col(timestamp("computed_at"))
                .col(text_null("override_tier"))
                .col(text_null("override_reason"))
                .col(text_null("override_by"))
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("resident_tier_community")
                .table("resident_tier")
                .col("community_code")
                .col("tier")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tier_change")
                .col(uuid("id").primary_key())
                .col(text("county_code"))
                .col(uuid("resident_id"))
                .col(text("community_code"))
                .col(text_null("from_tier"))
                .col(text("to_tier"))
                .col(timestamp("at"))
                .col(text("cause"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("tier_change_community").table("tier_change").col("community_code").col("at").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("visit")
                .col(text("county_code"))
                // Made by the page that recorded it, so a visit sent twice is stored once.
                .col(uuid("id"))
                .col(uuid("household_id"))
                .col(text("community_code"))
                .col(uuid("building_id"))
                .col(small("floor_no"))
                .col(date("visited_on"))
                .col(text("outcome"))
                .col(text("notes"))
                .col(text("recorded_by"))
                .col(timestamp("recorded_at"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("visit_community").table("visit").col("community_code").col("visited_on").take(),
        )
        .await?;
        // 五定: who answers for each community, street, grid and building.
        m.create_table(
            Table::create()
                .table("responsibility")
                .col(text("county_code"))
                .col(text("node_kind"))
                .col(text("node_id"))
                .col(text("username"))
                .col(timestamp("assigned_at"))
                .col(text("assigned_by"))
                .primary_key(Index::create().col("county_code").col("node_kind").col("node_id"))
                .take(),
        )
        .await?;
        Ok(())
    }
}
