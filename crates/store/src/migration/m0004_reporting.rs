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

        m.create_table(table! { change_event (
            county_code: text, id: uuid, kind: text, state: text, community_code: text, resident_id: uuid_null,
            household_id: uuid_null, occurred_on: date, reported_on: date, reported_by: text,
            urgent: boolean.default(false), evidence: text, details: text, sex: text_null,
            birth_order: small_null, province: text_null, timely: boolean, step_since: date, due_on: date_null,
            return_reason: text_null, counted_in: text_null, adjusts: text_null,
            applied_resident_id: uuid_null, subject_version: integer_null, created_at: timestamp,
            updated_at: timestamp,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("change_event_queue", "change_event", &["state", "community_code", "reported_on"]))
            .await?;
        m.create_index(index("change_event_resident", "change_event", &["county_code", "resident_id"])).await?;
        m.create_index(index("change_event_counted", "change_event", &["community_code", "counted_in"])).await?;
        m.create_table(table! { change_event_step (
            county_code: text, event_id: uuid, seq: integer, at: timestamp, actor: text, action: text,
            from_state: text, to_state: text, reason: text_null,
        ) key(county_code, event_id, seq) })
            .await?;
        m.create_table(table! { change_event_attachment (
            county_code: text, event_id: uuid, id: uuid, file_name: text, media_type: text, content: blob,
            uploaded_at: timestamp, uploaded_by: text,
        ) key(county_code, event_id, id) })
            .await?;
        m.create_table(table! { report_cell (
            node_code: text, period: text, indicator: text, value: big,
        ) key(node_code, period, indicator) })
            .await?;
        m.create_table(table! { report_approval (
            node_code: text, period: text, approved_by: text, approved_at: timestamp,
        ) key(node_code, period) })
            .await?;
        m.create_table(table! { report_approval_log (
            id: uuid.primary_key(), node_code: text, period: text, action: text, actor: text, at: timestamp,
            reason: text_null,
        ) })
        .await?;
        m.create_table(table! { report_opening (
            county_code: text.primary_key(), opening_month: text,
        ) })
        .await?;
        m.create_table(table! { reporting_deadline (
            step: text.primary_key(), days: integer,
        ) })
        .await?;
        m.create_table(table! { notification (
            id: uuid.primary_key(), division_code: text, role: text, title: text, link: text,
            created_at: timestamp, read_at: timestamp_null,
        ) })
        .await?;
        m.create_index(index("notification_division", "notification", &["division_code"])).await?;
        Ok(())
    }
}
