//! The words every migration is written in: column kinds, tables, indexes, and the name
//! a migration is recorded under.

use sea_orm_migration::prelude::*;

/// Declares `Migration` recorded under `$name` (the file's own name, by convention).
macro_rules! migration {
    ($name:literal) => {
        pub struct Migration;

        impl sea_orm_migration::MigrationName for Migration {
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

macro_rules! columns {
    ($($(#[$doc:meta])* $name:ident => $kind:ident $(.$more:ident($($arg:expr)?))*;)*) => {
        $($(#[$doc])* pub(super) fn $name(name: &'static str) -> ColumnDef {
            ColumnDef::new(name).$kind()$(.$more($($arg)?))*.take()
        })*
    };
}

columns! {
    text => text.not_null();
    text_null => text.null();
    uuid => uuid.not_null();
    uuid_null => uuid.null();
    small => small_integer.not_null();
    small_null => small_integer.null();
    integer => integer.not_null();
    integer_null => integer.null();
    big => big_integer.not_null();
    date => date.not_null();
    date_null => date.null();
    timestamp => timestamp_with_time_zone.not_null();
    timestamp_null => timestamp_with_time_zone.null();
    boolean => boolean.not_null();
    boolean_null => boolean.null();
    blob => blob.not_null();
    /// A counter that starts at nought.
    count => integer.not_null().default(0);
}

/// Renames `table` to `aside` so that a new `table` can be made under a new key. On
/// PostgreSQL its key constraint is renamed too, so the new table's key takes the
/// usual name, as on a database made fresh. (Migrations that change a key: SQLite
/// cannot change one in place.)
pub(super) async fn set_aside(m: &SchemaManager<'_>, table: &str, aside: &str) -> Result<(), DbErr> {
    let db = m.get_connection();
    db.execute_unprepared(&format!("ALTER TABLE {table} RENAME TO {aside}")).await?;
    if m.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared(&format!("ALTER TABLE {aside} RENAME CONSTRAINT {table}_pkey TO {aside}_pkey")).await?;
    }
    Ok(())
}

pub(super) fn index(name: &'static str, table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(*col);
    }
    index.take()
}

/// Declares a table the way the schema reads: its name, its columns in order with
/// their kinds (the words of `columns!` above, with any further settings), then its
/// primary key and its foreign keys.
macro_rules! table {
    ($name:ident ($($col:ident: $kind:ident $(.$more:ident($($arg:expr)?))*),* $(,)?)
        $(key($($key:ident),+))?
        $(foreign($($from:ident),+) => $to:ident($($to_col:ident),+))*
    ) => {{
        let mut table = Table::create();
        table.table(stringify!($name));
        $(table.col($kind(stringify!($col))$(.$more($($arg)?))*);)*
        $(table.primary_key(Index::create()$(.col(stringify!($key)))+);)?
        $(table.foreign_key(
            ForeignKey::create()
                .from(stringify!($name), ($(stringify!($from)),+))
                .to(stringify!($to), ($(stringify!($to_col)),+)),
        );)*
        table
    }};
}
