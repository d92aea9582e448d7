//! Search indexes: the current versions of a county's residents by name, by pinyin
//! initials and by ID number, in byte order. A search is a prefix of one of them within
//! the county, ordered by the same column, so the index returns the first fifty matches
//! without reading the rest (ADR 015).
//!
//! PostgreSQL can use an index for a prefix only under the "C" collation; the database's
//! own (C.UTF-8, zh_CN.UTF-8 …) may order differently, so these columns are indexed
//! `COLLATE "C"` and searched the same way. SQLite's default (BINARY) is byte order.

use sea_orm_migration::prelude::*;

migration!("m0011_search_index");

/// (index, column)
const SEARCHED: [(&str, &str); 3] = [
    ("resident_search_name", "name"),
    ("resident_search_initials", "name_initials"),
    ("resident_search_id_number", "id_number"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let collate = match m.get_database_backend() {
            sea_orm::DbBackend::Postgres => " COLLATE \"C\"",
            _ => "",
        };
        for (index, column) in SEARCHED {
            m.get_connection()
                .execute_unprepared(&format!(
                    "CREATE INDEX IF NOT EXISTS {index} ON resident_version \
                     (county_code, {column}{collate}) WHERE valid_to IS NULL"
                ))
                .await?;
        }
        Ok(())
    }
}
