//! Login attempts counted per account and address, per address, and per account, each
//! in a window: one row per key, bumped atomically before a password is checked.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0010_login_attempts");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("login_attempt")
                .if_not_exists()
                // `pair:<address>:<username>`, `address:<address>` or `account:<username>`.
                .col(ColumnDef::new("key").string().not_null().primary_key())
                // The account the key counts for (pair and account keys), so a password
                // reset can lift its locks.
                .col(ColumnDef::new("username").string().null())
                // Unix seconds of the window's first attempt.
                .col(big("window_start"))
                .col(integer("attempts"))
                .to_owned(),
        )
        .await
    }
}
