//! The floor an import is measured against: the same file loaded the fastest way each
//! database has into one bare table of text columns with a unique index on the ID
//! number — `COPY … FROM STDIN` on PostgreSQL (what `psql \copy` does), and on SQLite
//! the file's rows inserted in one transaction by one prepared multi-row INSERT (what
//! `sqlite3 .import` does, with fewer calls). No checks, no history, no projections.

use std::io::Read;
use std::path::Path;

use jiceng_domain::exchange::Column;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use jiceng_files::exchange::{FileError, ResidentFileReader};

/// The bare table's name.
const FLOOR_TABLE: &str = "floor_rows";

/// Bytes sent to COPY per message.
const COPY_CHUNK: usize = 1 << 20;

/// Loads a file written by `jiceng generate` (UTF-8, jiceng's columns) into a fresh bare
/// table; returns how many rows it holds afterwards. `progress` gets how far through
/// the file the load is (0–1).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn floor_load(store: &Store, path: &Path, mut progress: impl FnMut(f64)) -> StoreResult<u64> {
    let reader = ResidentFileReader::open(path, None)?;
    if reader.headers.iter().map(String::as_str).ne(Column::EXPORTED.iter().map(|c| c.header_zh())) {
        return Err(StoreError::File(FileError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: "不是 jiceng generate 写的文件 / not a file written by jiceng generate".into(),
        }));
    }
    let columns: Vec<String> = (0..Column::EXPORTED.len()).map(|i| format!("c{i}")).collect();
    let id_column = Column::EXPORTED.iter().position(|c| *c == Column::IdNumber).unwrap_or(0);
    let db = &store.db;
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS {FLOOR_TABLE}")).await?;
    let definition = columns.iter().map(|c| format!("{c} TEXT")).collect::<Vec<_>>().join(", ");
    db.execute_unprepared(&format!("CREATE TABLE {FLOOR_TABLE} ({definition})")).await?;
    db.execute_unprepared(&format!("CREATE UNIQUE INDEX {FLOOR_TABLE}_id ON {FLOOR_TABLE} (c{id_column})")).await?;
    match db.get_database_backend() {
        DbBackend::Postgres => copy_file(store, path, &mut progress).await?,
        _ => insert_rows(store, reader, &columns, &mut progress).await?,
    }
    let counted = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), format!("SELECT COUNT(*) FROM {FLOOR_TABLE}")))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    Ok(counted as u64)
}

/// PostgreSQL: the file's bytes as they are, through COPY (empty cells are NULL, so rows
/// without an ID number do not collide in the unique index).
async fn copy_file(store: &Store, path: &Path, progress: &mut impl FnMut(f64)) -> StoreResult<()> {
    use sea_orm::sqlx::postgres::PgPoolCopyExt;
    let pool = store.db.get_postgres_connection_pool();
    let statement = format!("COPY {FLOOR_TABLE} FROM STDIN (FORMAT csv, HEADER true)");
    let mut copy = pool.copy_in_raw(&statement).await.map_err(copy_error)?;
    let io = |source| StoreError::File(FileError::Io { path: path.to_path_buf(), source });
    let mut file = std::fs::File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len().max(1) as f64;
    let mut buffer = vec![0u8; COPY_CHUNK];
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        // Without a UTF-8 BOM: COPY would take it for part of the first header.
        let bytes =
            if sent == 0 { buffer[..n].strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buffer[..n]) } else { &buffer[..n] };
        copy.send(bytes).await.map_err(copy_error)?;
        sent += n as u64;
        progress(sent as f64 / total);
    }
    copy.finish().await.map_err(copy_error)?;
    Ok(())
}

fn copy_error(e: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Internal(format!("COPY: {e}"))
}

/// SQLite: every row through one prepared multi-row INSERT, in one transaction.
async fn insert_rows(
    store: &Store,
    mut reader: ResidentFileReader,
    columns: &[String],
    progress: &mut impl FnMut(f64),
) -> StoreResult<()> {
    // SQLite binds at most 32,766 parameters a statement.
    let per_statement = 32_766 / columns.len();
    let row_marks = format!("({})", vec!["?"; columns.len()].join(", "));
    let insert = |rows: usize| {
        format!(
            "INSERT INTO {FLOOR_TABLE} ({}) VALUES {}",
            columns.join(", "),
            vec![row_marks.as_str(); rows].join(", ")
        )
    };
    let full = insert(per_statement);
    let txn = store.db.begin().await?;
    let mut values: Vec<Value> = Vec::with_capacity(per_statement * columns.len());
    let mut rows = 0usize;
    while let Some(row) = reader.next() {
        let cells = row?.cells;
        for i in 0..columns.len() {
            let cell = cells.get(i).filter(|c| !c.is_empty()).cloned();
            values.push(cell.into());
        }
        rows += 1;
        if rows == per_statement {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                full.clone(),
                std::mem::take(&mut values),
            ))
            .await?;
            rows = 0;
            progress(reader.fraction());
        }
    }
    if rows > 0 {
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, insert(rows), values)).await?;
    }
    txn.commit().await?;
    progress(1.0);
    Ok(())
}

/// A fresh PostgreSQL schema for one benchmark run (dropped with [`drop_postgres_schema`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn postgres_schema(url: &str, name: &str) -> StoreResult<Store> {
    let admin = sea_orm::Database::connect(url).await?;
    admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await?;
    admin.execute_unprepared(&format!("CREATE SCHEMA \"{name}\"")).await?;
    admin.close().await?;
    Store::open_in_schema(url, name).await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn drop_postgres_schema(url: &str, name: &str) -> StoreResult<()> {
    let admin = sea_orm::Database::connect(url).await?;
    admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await?;
    admin.close().await?;
    Ok(())
}

/// The person columns of a county's current residents, the floor an export is measured
/// against: read by the fastest path each database has — `COPY (SELECT …) TO STDOUT` on
/// PostgreSQL, one streamed SELECT on SQLite — and written to `out` as CSV, with no
/// joins, no grids or buildings, no sorting. Returns the rows written.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn floor_export(store: &Store, county: &jiceng_domain::org::DivisionCode, out: &Path) -> StoreResult<u64> {
    use std::io::Write;
    const COLUMNS: &str = "community_code, name, sex, birth_date, id_number, ethnicity, phone, \
                           registered_residence, relationship, residence_status, arrival_date, marital_status";
    let io = |source| StoreError::File(FileError::Io { path: out.to_path_buf(), source });
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(io)?);
    // County codes are six digits (a validated type), so the literal is safe.
    let select = format!(
        "SELECT {COLUMNS} FROM resident_version WHERE county_code = '{}' AND valid_to IS NULL",
        county.as_str()
    );
    let mut rows = 0u64;
    match store.db.get_database_backend() {
        DbBackend::Postgres => {
            use futures_util::TryStreamExt;
            use sea_orm::sqlx::postgres::PgPoolCopyExt;
            let pool = store.db.get_postgres_connection_pool();
            let mut copy =
                pool.copy_out_raw(&format!("COPY ({select}) TO STDOUT (FORMAT csv)")).await.map_err(copy_error)?;
            while let Some(bytes) = copy.try_next().await.map_err(copy_error)? {
                rows += bytes.iter().filter(|b| **b == b'\n').count() as u64;
                file.write_all(&bytes).map_err(io)?;
            }
        }
        _ => {
            use futures_util::TryStreamExt;
            use sea_orm::StreamTrait;
            let mut writer = csv::Writer::from_writer(&mut file);
            let statement = Statement::from_string(DbBackend::Sqlite, select);
            let mut stream = store.db.stream_raw(statement).await?;
            let mut cells: Vec<String> = Vec::with_capacity(12);
            while let Some(row) = stream.try_next().await? {
                cells.clear();
                for i in 0..12 {
                    cells.push(row.try_get_by_index::<Option<String>>(i)?.unwrap_or_default());
                }
                writer.write_record(&cells).map_err(|e| StoreError::Internal(format!("CSV: {e}")))?;
                rows += 1;
            }
            writer.flush().map_err(io)?;
        }
    }
    file.flush().map_err(io)?;
    Ok(rows)
}
