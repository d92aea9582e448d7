//! Field work: what is recorded about residents' housing, work and phone, the
//! versioned tier rules, each resident's tier with its reasons and any override, the
//! list of tier changes, and visits (走访) with their outcomes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_fieldwork"
    }
}

fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}
fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}
fn timestamp(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("resident_stability")
                .col(text("county_code"))
                .col(ColumnDef::new("resident_id").uuid().not_null())
                .col(text("housing"))
                .col(text("work"))
                .col(ColumnDef::new("phone_answered").boolean().null())
                .col(timestamp("recorded_at"))
                .col(text("recorded_by"))
                .primary_key(Index::create().col("county_code").col("resident_id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tier_rules")
                .col(ColumnDef::new("version").integer().not_null().primary_key())
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
                .col(ColumnDef::new("resident_id").uuid().not_null())
                .col(text("community_code"))
                .col(text("tier"))
                .col(ColumnDef::new("points").integer().not_null())
                .col(text("reasons"))
                .col(ColumnDef::new("rules_version").integer().not_null())
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
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(text("county_code"))
                .col(ColumnDef::new("resident_id").uuid().not_null())
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
                .col(ColumnDef::new("id").uuid().not_null())
                .col(ColumnDef::new("household_id").uuid().not_null())
                .col(text("community_code"))
                .col(ColumnDef::new("building_id").uuid().not_null())
                .col(ColumnDef::new("floor_no").small_integer().not_null())
                .col(ColumnDef::new("visited_on").date().not_null())
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
