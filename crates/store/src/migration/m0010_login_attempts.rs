//! Login attempts counted per account and address, per address, and per account, each
//! in a window: one row per key, bumped atomically before a password is checked.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_login_attempts"
    }
}

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
                .col(ColumnDef::new("window_start").big_integer().not_null())
                .col(ColumnDef::new("attempts").integer().not_null())
                .to_owned(),
        )
        .await
    }
}
