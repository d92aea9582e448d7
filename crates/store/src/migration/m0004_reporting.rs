//! The reporting chain: change events and their steps, report cells kept per node and
//! month, approvals, deadlines, notifications; and the month each version is counted in.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_reporting"
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
        // The statistical month a version is counted from and to (ADR 007): the month it
        // took effect, or the next open month when that one was already approved.
        for table in ["resident_version", "household_version"] {
            m.alter_table(Table::alter().table(table).add_column(text_null("counted_from")).take()).await?;
            m.alter_table(Table::alter().table(table).add_column(text_null("counted_to")).take()).await?;
            // Versions written before this migration stay uncounted (NULL); their
            // databases are rebuilt with `jiceng demo --fresh` or a re-import (ADR 007).
        }
        // One column per statement: SQLite alters one thing at a time.
        for column in ["community_code", "counted_in"] {
            m.alter_table(Table::alter().table("resident_verification").add_column(text_null(column)).take()).await?;
        }
        m.alter_table(Table::alter().table("resident_exit").add_column(text_null("counted_in")).take()).await?;

        m.create_table(
            Table::create()
                .table("change_event")
                .col(text("county_code"))
                .col(ColumnDef::new("id").uuid().not_null())
                .col(text("kind"))
                .col(text("state"))
                .col(text("community_code"))
                .col(ColumnDef::new("resident_id").uuid().null())
                .col(ColumnDef::new("household_id").uuid().null())
                .col(ColumnDef::new("occurred_on").date().not_null())
                .col(ColumnDef::new("reported_on").date().not_null())
                .col(text("reported_by"))
                .col(ColumnDef::new("urgent").boolean().not_null().default(false))
                .col(text("evidence"))
                .col(text("details"))
                .col(text_null("sex"))
                .col(ColumnDef::new("birth_order").small_integer().null())
                .col(text_null("province"))
                .col(ColumnDef::new("timely").boolean().not_null())
                .col(ColumnDef::new("step_since").date().not_null())
                .col(ColumnDef::new("due_on").date().null())
                .col(text_null("return_reason"))
                .col(text_null("counted_in"))
                .col(text_null("adjusts"))
                .col(ColumnDef::new("applied_resident_id").uuid().null())
                .col(ColumnDef::new("subject_version").integer().null())
                .col(timestamp("created_at"))
                .col(timestamp("updated_at"))
                .primary_key(Index::create().col("county_code").col("id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("change_event_queue")
                .table("change_event")
                .col("state")
                .col("community_code")
                .col("reported_on")
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("change_event_resident")
                .table("change_event")
                .col("county_code")
                .col("resident_id")
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("change_event_counted")
                .table("change_event")
                .col("community_code")
                .col("counted_in")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_event_step")
                .col(text("county_code"))
                .col(ColumnDef::new("event_id").uuid().not_null())
                .col(ColumnDef::new("seq").integer().not_null())
                .col(timestamp("at"))
                .col(text("actor"))
                .col(text("action"))
                .col(text("from_state"))
                .col(text("to_state"))
                .col(text_null("reason"))
                .primary_key(Index::create().col("county_code").col("event_id").col("seq"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_event_attachment")
                .col(text("county_code"))
                .col(ColumnDef::new("event_id").uuid().not_null())
                .col(ColumnDef::new("id").uuid().not_null())
                .col(text("file_name"))
                .col(text("media_type"))
                .col(ColumnDef::new("content").blob().not_null())
                .col(timestamp("uploaded_at"))
                .col(text("uploaded_by"))
                .primary_key(Index::create().col("county_code").col("event_id").col("id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("report_cell")
                .col(text("node_code"))
                .col(text("period"))
                .col(text("indicator"))
                .col(ColumnDef::new("value").big_integer().not_null())
                .primary_key(Index::create().col("node_code").col("period").col("indicator"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("report_approval")
                .col(text("node_code"))
                .col(text("period"))
                .col(text("approved_by"))
                .col(timestamp("approved_at"))
                .primary_key(Index::create().col("node_code").col("period"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("report_approval_log")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(text("node_code"))
                .col(text("period"))
                .col(text("action"))
                .col(text("actor"))
                .col(timestamp("at"))
                .col(text_null("reason"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("report_opening")
                .col(text("county_code").primary_key())
                .col(text("opening_month"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("reporting_deadline")
                .col(text("step").primary_key())
                .col(ColumnDef::new("days").integer().not_null())
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("notification")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(text("division_code"))
                .col(text("role"))
                .col(text("title"))
                .col(text("link"))
                .col(timestamp("created_at"))
                .col(ColumnDef::new("read_at").timestamp_with_time_zone().null())
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("notification_division").table("notification").col("division_code").take())
            .await?;
        Ok(())
    }
}
