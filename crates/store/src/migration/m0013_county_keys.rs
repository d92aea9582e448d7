//! Report cells, approvals, their log and notifications carry `county_code` first in
//! their keys, like every person-level table, so a database partitioned or sharded by
//! county keeps each county's figures in its own partition or shard (issue 15; before,
//! they could only be Citus reference tables, where every write is a two-phase commit).
//!
//! Cells are kept from the community up to its county only: a city's or a province's
//! figures are the sum of its counties' cells, read with `county_code IN (…)`. Cells
//! above county level are dropped here; they were always that sum.
//!
//! Each table is set aside, made again under its new key, its rows copied with the
//! county taken from the node's code, and the old table dropped (SQLite cannot change
//! a key in place), in one transaction.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0013_county_keys");

/// (table, the columns copied, the node column the county is taken from, which rows)
const MOVES: [(&str, &str, &str, &str); 4] = [
    ("report_cell", "node_code, period, indicator, value", "node_code", "length(node_code) >= 6"),
    ("report_approval", "node_code, period, approved_by, approved_at", "node_code", "length(node_code) >= 6"),
    ("report_approval_log", "id, node_code, period, action, actor, at, reason", "node_code", "length(node_code) >= 6"),
    (
        "notification",
        "id, division_code, role, title, link, created_at, read_at",
        "division_code",
        "length(division_code) >= 6",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (see m0012): the steps run on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX notification_division").await?;
        for (table, _, _, _) in MOVES {
            set_aside(m, table, &format!("{table}_unkeyed")).await?;
        }
        m.create_table(table! { report_cell (
            county_code: text, node_code: text, period: text, indicator: text, value: big,
        ) key(county_code, node_code, period, indicator) })
            .await?;
        m.create_table(table! { report_approval (
            county_code: text, node_code: text, period: text, approved_by: text, approved_at: timestamp,
        ) key(county_code, node_code, period) })
            .await?;
        m.create_table(table! { report_approval_log (
            county_code: text, id: uuid, node_code: text, period: text, action: text, actor: text, at: timestamp,
            reason: text_null,
        ) key(county_code, id) })
            .await?;
        m.create_table(table! { notification (
            county_code: text, id: uuid, division_code: text, role: text, title: text, link: text,
            created_at: timestamp, read_at: timestamp_null,
        ) key(county_code, id) })
            .await?;
        for (table, columns, node, rows) in MOVES {
            db.execute_unprepared(&format!(
                "INSERT INTO {table} (county_code, {columns}) \
                 SELECT substr({node}, 1, 6), {columns} FROM {table}_unkeyed WHERE {rows}"
            ))
            .await?;
            db.execute_unprepared(&format!("DROP TABLE {table}_unkeyed")).await?;
        }
        m.create_index(index("notification_division", "notification", &["county_code", "division_code", "read_at"]))
            .await?;
        Ok(())
    }
}
