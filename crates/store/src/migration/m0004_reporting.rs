//! The reporting chain: change events and their steps, report cells kept per node and
//! month, approvals, deadlines, notifications; and the month each version is counted in.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0004_reporting");

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
                .col(uuid("id"))
                .col(text("kind"))
                .col(text("state"))
                .col(text("community_code"))
                .col(uuid_null("resident_id"))
                .col(uuid_null("household_id"))
                .col(date("occurred_on"))
                .col(date("reported_on"))
                .col(text("reported_by"))
                .col(boolean("urgent").default(false))
                .col(text("evidence"))
                .col(text("details"))
                .col(text_null("sex"))
                .col(small_null("birth_order"))
                .col(text_null("province"))
                .col(boolean("timely"))
                .col(date("step_since"))
                .col(date_null("due_on"))
                .col(text_null("return_reason"))
                .col(text_null("counted_in"))
                .col(text_null("adjusts"))
                .col(uuid_null("applied_resident_id"))
                .col(integer_null("subject_version"))
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
                .col(uuid("event_id"))
                .col(integer("seq"))
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
                .col(uuid("event_id"))
                .col(uuid("id"))
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
                .col(big("value"))
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
                .col(uuid("id").primary_key())
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
            Table::create().table("reporting_deadline").col(text("step").primary_key()).col(integer("days")).take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("notification")
                .col(uuid("id").primary_key())
                .col(text("division_code"))
                .col(text("role"))
                .col(text("title"))
                .col(text("link"))
                .col(timestamp("created_at"))
                .col(timestamp_null("read_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("notification_division").table("notification").col("division_code").take())
            .await?;
        Ok(())
    }
}
