//! Drops the first name and initials indexes of `resident_version` (m0001). Every search
//! by name or initials is within counties and reads the current versions, through the
//! per-county, byte-order indexes of m0011; nothing else looks a name up. Each index
//! cost every registry write a B-tree insert (ADR 017).

use sea_orm_migration::prelude::*;

migration!("m0015_superseded_name_indexes");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for index in ["resident_version_name", "resident_version_initials"] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        Ok(())
    }
}
