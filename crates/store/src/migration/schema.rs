//! The words every migration is written in: column kinds, indexes, the version columns
//! of versioned tables, and the name a migration is recorded under.

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
    /// A counter that starts at nought.
    count => integer.not_null().default(0);
}

/// `valid_from`/`valid_to` say when a fact held; `recorded_at`/`recorded_by` say
/// when and by whom it was written. `valid_to IS NULL` marks the current version.
pub(super) fn version_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(integer("version"))
        .col(date("valid_from"))
        .col(date_null("valid_to"))
        .col(timestamp("recorded_at"))
        .col(text("recorded_by"))
}

pub(super) fn index(name: &'static str, table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(*col);
    }
    index.take()
}
