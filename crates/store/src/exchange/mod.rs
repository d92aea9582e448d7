//! Moving residents in and out of jiceng: files, import, export.

pub mod bench;
pub mod export;
pub mod handover;
#[cfg(test)]
mod handover_tests;
pub mod import;
#[cfg(test)]
mod package_tests;
pub mod packages;
pub mod partners;
pub mod places;
pub mod reconcile;

// The file formats are jiceng-files'; these are the ones this module's API carries.
pub use handover::{Batches, Handover, HandoverTarget, InTransit, NewHandover};
pub use import::{ImportTotals, Rejected, ResidentImport};
pub use jiceng_files::exchange::{
    FileError, FileFormat, Limit, ReadLimits, ResidentFileReader, ResidentFileWriter, SourceRow, TextEncoding, csv_cell,
};
pub use packages::{ExportReport, ImportOptions as PackageImportOptions, ImportReport as PackageImportReport};
pub use partners::{Exchange, LastPackage, NewPartner, Partner, PartnerStatus};
pub use places::PlaceIndex;
pub use reconcile::Reconciliation;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiceng_domain::exchange::{Column, ColumnMap};
use time::Date;

use crate::error::StoreResult;
use crate::registry::Registry;

/// How to run a file import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// For CSV: the encoding, when detection should be overridden.
    pub encoding: Option<TextEncoding>,
    /// Extra header names (from a mapping file).
    pub mapping: HashMap<String, Column>,
    /// Where rejected rows go; by default beside the input, `<name>.errors.<ext>`.
    pub error_file: Option<PathBuf>,
    pub recorded_by: String,
    pub today: Date,
    /// Rows per transaction.
    pub chunk_rows: usize,
    /// How much of the file may be read before it is refused.
    pub limits: ReadLimits,
}

/// What a file import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub totals: ImportTotals,
    /// The error file, when some rows were rejected.
    pub error_file: Option<PathBuf>,
    pub format: FileFormat,
    pub encoding: Option<TextEncoding>,
    /// Headers no column matched, with their column numbers: reported, not stored.
    pub unknown_columns: Vec<(usize, String)>,
}

/// Progress of a running import: rows read, and how far through the file (0–1).
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress {
    pub rows: u64,
    pub fraction: f64,
}

/// The default error file of `input`: `residents.csv` → `residents.errors.csv`.
pub fn default_error_file(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    let ext = FileFormat::of_path(input).extension();
    input.with_file_name(format!("{stem}.errors.{ext}"))
}

/// Imports a resident file into `registry`, chunk by chunk, writing rejected rows to an
/// error file in the input's format and encoding.
pub async fn import_file(
    registry: Registry<'_>,
    path: &Path,
    options: &ImportOptions,
    places: &PlaceIndex,
    mut progress: impl FnMut(ImportProgress),
) -> StoreResult<ImportReport> {
    // Files are read on blocking threads, a chunk at a time, so a slow or hostile file
    // never holds up the server's other requests.
    let (owned, encoding, limits) = (path.to_path_buf(), options.encoding, options.limits);
    let reader = off_runtime(move || ResidentFileReader::open_with(&owned, encoding, limits)).await??;
    let map = ColumnMap::from_headers(&reader.headers, &options.mapping)
        .map_err(|source| FileError::Header { path: path.to_path_buf(), source })?;
    let unknown_columns = map.unknown.clone();
    let (format, encoding, headers) = (reader.format, reader.encoding, reader.headers.clone());
    let error_path = options.error_file.clone().unwrap_or_else(|| default_error_file(path));
    let mut error_file: Option<ResidentFileWriter> = None;
    let mut import = ResidentImport::new(registry, &options.recorded_by, options.today);
    let chunk_rows = options.chunk_rows.max(1);
    // One blocking thread reads and parses chunk after chunk while the chunk before is
    // written: the two cores each have their half. One chunk waits at most, so memory
    // stays a few chunks whatever the file's size; when the writer stops (an error), the
    // reader's next send fails and it stops too.
    let (sender, mut chunks) = tokio::sync::mpsc::channel::<Result<(Vec<import::ParsedRow>, f64), FileError>>(1);
    let (places_owned, today) = (places.clone(), options.today);
    let reading = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        loop {
            let chunk: Result<Vec<SourceRow>, FileError> = reader.by_ref().take(chunk_rows).collect();
            let last = !matches!(&chunk, Ok(rows) if !rows.is_empty());
            let parsed = chunk.map(|rows| {
                let parsed = rows.into_iter().map(|row| import::parse_row(row, &map, today, &places_owned)).collect();
                (parsed, reader.fraction())
            });
            if sender.blocking_send(parsed).is_err() || last {
                break;
            }
        }
    });
    while let Some(chunk) = chunks.recv().await {
        let (chunk, fraction) = chunk?;
        if chunk.is_empty() {
            break;
        }
        for rejected in import.import_chunk(chunk).await? {
            let writer = match &mut error_file {
                Some(w) => w,
                None => {
                    let mut error_headers = headers.clone();
                    error_headers.push(Column::ErrorColumns.header_zh().into());
                    error_headers.push(Column::ErrorReason.header_zh().into());
                    let created = ResidentFileWriter::create(
                        &error_path,
                        format,
                        encoding.unwrap_or(TextEncoding::Utf8),
                        &error_headers,
                    )?;
                    error_file.insert(created)
                }
            };
            // The row's cells under the file's own headers, then the two error columns;
            // cells beyond the header are quoted in the reason so the columns stay aligned.
            let mut cells = rejected.row.cells.clone();
            let extra: Vec<String> = cells.split_off(headers.len().min(cells.len()));
            cells.resize(headers.len(), String::new());
            let mut reason = format!("第{}行 row {}: {}", rejected.row.line, rejected.row.line, rejected.reason);
            if extra.iter().any(|c| !c.trim().is_empty()) {
                reason.push_str(&format!("（多出的内容 / extra cells: {}）", extra.join(" | ")));
            }
            cells.push(rejected.columns.clone());
            cells.push(reason);
            writer.write_row(&cells)?;
        }
        progress(ImportProgress { rows: import.totals.read, fraction });
    }
    reading.await.map_err(|e| crate::StoreError::Internal(format!("file reader: {e}")))?;
    let error_file = match error_file {
        Some(writer) => Some(writer.finish()?),
        None => {
            // A stale error file from an earlier run would mislead: this run rejected nothing.
            if options.error_file.is_none() && error_path.exists() {
                std::fs::remove_file(&error_path)
                    .map_err(|source| FileError::Io { path: error_path.clone(), source })?;
            }
            None
        }
    };
    Ok(ImportReport { totals: import.totals, error_file, format, encoding, unknown_columns })
}

/// Runs blocking file work on tokio's blocking threads.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| crate::StoreError::Internal(format!("file reader: {e}")))
}
