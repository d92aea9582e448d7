//! Resident files on disk: CSV in UTF-8 (with or without BOM), GBK or GB18030, and
//! Excel workbooks. Reading streams CSV row by row; headers may sit under title rows and
//! merged group headings. Writing produces the same formats (exports and error files).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiceng_domain::exchange::ColumnMap;

#[cfg(test)]
mod hostile_tests;
pub mod package;
pub mod reconciliation;
mod xlsx;

/// The two kinds of file offices use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    /// By extension: .xlsx/.xlsm are workbooks, everything else CSV (.xls and .ods are
    /// refused when opened, see `ResidentFileReader::open`).
    pub fn of_path(path: &Path) -> FileFormat {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("xlsx" | "xlsm") => FileFormat::Xlsx,
            _ => FileFormat::Csv,
        }
    }

    pub fn from_name(name: &str) -> Option<FileFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(FileFormat::Csv),
            "xlsx" => Some(FileFormat::Xlsx),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }
}

/// The text encodings of CSV files met in Chinese offices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Gbk,
    Gb18030,
}

impl TextEncoding {
    pub fn from_name(name: &str) -> Option<TextEncoding> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(TextEncoding::Utf8),
            "gbk" | "cp936" | "gb2312" => Some(TextEncoding::Gbk),
            "gb18030" => Some(TextEncoding::Gb18030),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gbk => "GBK",
            TextEncoding::Gb18030 => "GB18030",
        }
    }

    fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
        }
    }

    /// UTF-8 when the start of the file is UTF-8 (with or without BOM), else GB18030,
    /// which reads GBK files too. Office files are one or the other; a Chinese header in
    /// GBK is never valid UTF-8.
    pub fn detect(start: &[u8]) -> TextEncoding {
        if start.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return TextEncoding::Utf8;
        }
        match std::str::from_utf8(start) {
            Ok(_) => TextEncoding::Utf8,
            // Cut in the middle of a character at the end of the sample: still UTF-8.
            Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
            Err(_) => TextEncoding::Gb18030,
        }
    }
}

/// How much of an uploaded or imported file jiceng will read before refusing it. The
/// defaults fit the largest real office file (a district's register: 5 million rows of
/// some 30 columns); each can be set in the environment (`JICENG_READ_MAX_ROWS`, …, see
/// `from_env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Data rows (not counting blank rows and the rows above the header).
    pub max_rows: u64,
    /// Columns with content: a cell with text beyond this column refuses the file.
    pub max_columns: usize,
    /// Cells with content in the whole file.
    pub max_cells: u64,
    /// Bytes of one cell's text.
    pub max_cell_bytes: usize,
    /// Bytes of one row's text (all its cells; a real row is under 2 KB). Bounds what
    /// a chunk of rows can hold, whatever the cells refer to.
    pub max_row_bytes: usize,
    /// Bytes a workbook's parts may unpack to, whatever its zip directory declares.
    pub max_unpacked_bytes: u64,
    /// Bytes of a workbook's shared strings (held in memory while the sheet is read).
    pub max_shared_strings_bytes: usize,
    /// Seconds of reading.
    pub max_seconds: u64,
}

impl Default for ReadLimits {
    fn default() -> ReadLimits {
        ReadLimits {
            max_rows: 5_000_000,
            max_columns: 64,
            max_cells: 5_000_000 * 40,
            max_cell_bytes: 32 << 10,
            max_row_bytes: 64 << 10,
            max_unpacked_bytes: 8 << 30,
            max_shared_strings_bytes: 512 << 20,
            max_seconds: 3 * 3600,
        }
    }
}

impl ReadLimits {
    /// The defaults, with any of `JICENG_READ_MAX_ROWS`, `_COLUMNS`, `_CELLS`,
    /// `_CELL_BYTES`, `_ROW_BYTES`, `_UNPACKED_BYTES`, `_SHARED_STRINGS_BYTES`, `_SECONDS` from the
    /// environment.
    pub fn from_env() -> Result<ReadLimits, String> {
        ReadLimits::default().with_env()
    }

    /// These limits, with any set in the environment in their place (the environment
    /// goes over a configuration file).
    pub fn with_env(self) -> Result<ReadLimits, String> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
            match std::env::var(format!("JICENG_READ_MAX_{name}")) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("JICENG_READ_MAX_{name}={v}：应为正整数 / expected a positive whole number")),
                Err(_) => Ok(default),
            }
        }
        let d = self;
        Ok(ReadLimits {
            max_rows: var("ROWS", d.max_rows)?,
            max_columns: var("COLUMNS", d.max_columns)?,
            max_cells: var("CELLS", d.max_cells)?,
            max_cell_bytes: var("CELL_BYTES", d.max_cell_bytes)?,
            max_row_bytes: var("ROW_BYTES", d.max_row_bytes)?,
            max_unpacked_bytes: var("UNPACKED_BYTES", d.max_unpacked_bytes)?,
            max_shared_strings_bytes: var("SHARED_STRINGS_BYTES", d.max_shared_strings_bytes)?,
            max_seconds: var("SECONDS", d.max_seconds)?,
        })
    }

    /// Bytes one CSV record may take as read (quotes doubled, plus the csv reader's
    /// 8 KiB buffer).
    fn max_record_bytes(&self) -> u64 {
        (self.max_row_bytes as u64).saturating_mul(2).saturating_add(8 << 10)
    }
}

/// Which limit a file went over, with its value (shown to people in both languages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rows(u64),
    Columns(usize),
    Cells(u64),
    CellBytes(usize),
    RowBytes(usize),
    UnpackedBytes(u64),
    SharedStringsBytes(usize),
    Seconds(u64),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Limit::Rows(n) => write!(f, "数据行超过 {n} 行 / more than {n} data rows"),
            Limit::Columns(n) => write!(f, "有内容的列超过 {n} 列 / content beyond column {n}"),
            Limit::Cells(n) => write!(f, "有内容的单元格超过 {n} 个 / more than {n} cells with content"),
            Limit::CellBytes(n) => write!(f, "单元格内容超过 {n} 字节 / a cell longer than {n} bytes"),
            Limit::RowBytes(n) => write!(f, "一行内容超过 {n} 字节 / a row longer than {n} bytes"),
            Limit::UnpackedBytes(n) => {
                write!(f, "解压后超过 {} MB / unpacks to more than {} MB", n >> 20, n >> 20)
            }
            Limit::SharedStringsBytes(n) => {
                write!(f, "共享字符串超过 {} MB / shared strings over {} MB", n >> 20, n >> 20)
            }
            Limit::Seconds(n) => write!(f, "读取超过 {n} 秒 / reading took more than {n} s"),
        }
    }
}

fn at_row(line: &Option<u64>) -> String {
    line.map(|l| format!(" 第{l}行 / row {l}")).unwrap_or_default()
}

/// Why a file cannot be read or written. Each message names the file (and row).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: 无法读写 / cannot read or write: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} 第{line}行 / row {line}: {message}")]
    Row { path: PathBuf, line: u64, message: String },
    #[error("{path}: 不是可读的 Excel 工作簿 / not a readable Excel workbook: {message}")]
    Workbook { path: PathBuf, message: String },
    #[error(
        "{path}: 前10行中找不到表头（需含 姓名、公民身份号码 等列名）/ no header row in the first 10 rows (with column names such as 姓名, 公民身份号码)"
    )]
    NoHeader { path: PathBuf },
    #[error("{path}: 表头 / header: {source}")]
    Header { path: PathBuf, source: jiceng_domain::exchange::HeaderError },
    #[error("{path}{}: 文件超出可读取的限制 / the file is over a reading limit: {limit}", at_row(line))]
    TooLarge { path: PathBuf, line: Option<u64>, limit: Limit },
    #[error(
        "{path}: 不读取 .{extension} 文件，请在 Excel 或 WPS 中另存为 .xlsx 或 .csv / .{extension} files are not read; save it as .xlsx or .csv in Excel or WPS"
    )]
    OldFormat { path: PathBuf, extension: String },
    #[error("{path}: 写入 Excel 失败 / cannot write the workbook: {message}")]
    WriteWorkbook { path: PathBuf, message: String },
}

/// One data row: the line (CSV) or sheet row (Excel) people see, and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A resident file opened for reading: its header row and a stream of data rows.
pub struct ResidentFileReader {
    pub path: PathBuf,
    pub format: FileFormat,
    /// For CSV: the encoding read (detected or chosen).
    pub encoding: Option<TextEncoding>,
    pub headers: Vec<String>,
    /// How far through the file reading has got, of `total` (bytes of the file for CSV,
    /// unpacked bytes of the sheet for Excel).
    pub progress: Arc<AtomicU64>,
    pub total: u64,
    total_hint: Arc<AtomicU64>,
    rows: RowStream,
}

impl Iterator for ResidentFileReader {
    type Item = Result<SourceRow, FileError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Turns CRLF line ends into LF. The csv reader numbers the lines of CRLF files one
/// short (it counts a line when it reads the LF that starts the next record); rows must
/// carry the line numbers people see in their editor.
struct CrlfToLf<R> {
    inner: R,
    /// A CR read at the end of the last chunk, not yet known to precede an LF.
    pending_cr: bool,
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.len() < 2 {
            return self.inner.read(buf);
        }
        let start = usize::from(self.pending_cr);
        if self.pending_cr {
            buf[0] = b'\r';
        }
        let n = self.inner.read(&mut buf[start..])?;
        if n == 0 {
            self.pending_cr = false;
            return Ok(start);
        }
        let end = start + n;
        let mut out = 0;
        let mut i = 0;
        while i < end {
            let b = buf[i];
            if b == b'\r' && i + 1 < end && buf[i + 1] == b'\n' {
                i += 1;
                continue;
            }
            buf[out] = b;
            out += 1;
            i += 1;
        }
        // A trailing CR may be the first half of a CRLF split across reads.
        self.pending_cr = out > 0 && buf[out - 1] == b'\r';
        if self.pending_cr {
            out -= 1;
            if out == 0 {
                // Only the CR so far: read on rather than report an empty read.
                return self.read(buf);
            }
        }
        Ok(out)
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_path_buf(), source }
}

/// How many rows from the top may hold titles before the header row.
const HEADER_ROWS: u64 = 10;
const HEADER_SEARCH_ROWS: usize = HEADER_ROWS as usize;

fn is_blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// The header row among the first rows: the one naming the most known columns, where a
/// cell left empty under a merged heading takes the heading above it.
fn find_header(rows: &[Vec<String>], recognised: &dyn Fn(&[String]) -> usize) -> Option<(usize, Vec<String>)> {
    let mut best: Option<(usize, usize, Vec<String>)> = None;
    for i in 0..rows.len() {
        let mut combined = rows[i].clone();
        if i > 0 {
            for (c, cell) in combined.iter_mut().enumerate() {
                if cell.trim().is_empty() {
                    *cell = rows[i - 1].get(c).cloned().unwrap_or_default();
                }
            }
        }
        let known = recognised(&combined);
        if known >= 2 && best.as_ref().is_none_or(|(_, k, _)| known > *k) {
            best = Some((i, known, combined));
        }
    }
    best.map(|(i, _, headers)| (i, headers))
}

/// Between the CSV decoder and the csv reader: counts the bytes of the record being
/// read (reset by the row loop after each record) and stops a record that would grow
/// past the limit, which the csv reader would otherwise buffer whole.
struct RecordGuard<R> {
    inner: R,
    since_record: Arc<AtomicU64>,
    limit: u64,
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.since_record.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > self.limit {
            return Err(std::io::Error::other(RecordTooLong));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// Checks one row against the limits: columns with content, cell size, NUL characters
/// (which PostgreSQL cannot store and no office file means).
fn check_row(path: &Path, row: &mut SourceRow, limits: &ReadLimits) -> Result<(), FileError> {
    let too_large = |limit| FileError::TooLarge { path: path.to_path_buf(), line: Some(row.line), limit };
    if let Some(last) = row.cells.iter().rposition(|c| !c.is_empty())
        && last >= limits.max_columns
    {
        return Err(too_large(Limit::Columns(limits.max_columns)));
    }
    // Empty cells past the last column count for nothing and would cost 24 bytes each.
    if row.cells.len() > limits.max_columns {
        row.cells.truncate(limits.max_columns);
        row.cells.shrink_to_fit();
    }
    if row.cells.iter().map(String::len).sum::<usize>() > limits.max_row_bytes {
        return Err(too_large(Limit::RowBytes(limits.max_row_bytes)));
    }
    for (i, cell) in row.cells.iter().enumerate() {
        if cell.len() > limits.max_cell_bytes {
            return Err(too_large(Limit::CellBytes(limits.max_cell_bytes)));
        }
        // The decoder puts U+FFFD where bytes were not text in the file's encoding: a
        // file that changes encoding part way (two sheets pasted together).
        if cell.contains('\u{FFFD}') {
            return Err(FileError::Row {
                path: path.to_path_buf(),
                line: row.line,
                message: format!(
                    "第{}列文字编码错误（文件中混有不同编码），请用 --encoding 指定或另存为 UTF-8 / column {}: the text encoding is wrong (the file mixes encodings); choose one with --encoding or save it as UTF-8",
                    i + 1,
                    i + 1
                ),
            });
        }
        if cell.contains('\0') {
            return Err(FileError::Row {
                path: path.to_path_buf(),
                line: row.line,
                message: format!(
                    "第{}列含有空字符（NUL），文件可能已损坏 / column {} holds a NUL character; the file may be damaged",
                    i + 1,
                    i + 1
                ),
            });
        }
    }
    Ok(())
}

/// Counts rows and cells with content against the limits and the clock.
struct Budget {
    limits: ReadLimits,
    rows: u64,
    cells: u64,
    started: std::time::Instant,
}

impl Budget {
    fn new(limits: ReadLimits) -> Budget {
        Budget { limits, rows: 0, cells: 0, started: std::time::Instant::now() }
    }

    fn take(&mut self, path: &Path, row: &SourceRow) -> Result<(), FileError> {
        let too_large = |limit| FileError::TooLarge { path: path.to_path_buf(), line: Some(row.line), limit };
        self.rows += 1;
        self.cells += row.cells.iter().filter(|c| !c.is_empty()).count() as u64;
        if self.rows > self.limits.max_rows.saturating_add(HEADER_ROWS) {
            return Err(too_large(Limit::Rows(self.limits.max_rows)));
        }
        if self.cells > self.limits.max_cells {
            return Err(too_large(Limit::Cells(self.limits.max_cells)));
        }
        if self.rows.is_multiple_of(1024) && self.started.elapsed().as_secs() > self.limits.max_seconds {
            return Err(too_large(Limit::Seconds(self.limits.max_seconds)));
        }
        Ok(())
    }
}

impl ResidentFileReader {
    /// Opens a file with the default limits (see [`ReadLimits`]).
    pub fn open(path: &Path, encoding: Option<TextEncoding>) -> Result<ResidentFileReader, FileError> {
        Self::open_with(path, encoding, ReadLimits::default())
    }

    /// Opens a file and reads up to its header row. Reading blocks: from async code, call
    /// this and pull rows inside `spawn_blocking`.
    pub fn open_with(
        path: &Path,
        encoding: Option<TextEncoding>,
        limits: ReadLimits,
    ) -> Result<ResidentFileReader, FileError> {
        Self::open_with_header(path, encoding, limits, &|cells| ColumnMap::recognised(cells))
    }

    /// [`Self::open_with`] for a file of other columns: the header row is the one of the
    /// first ten in which `recognised` finds the most (at least two) headings.
    pub fn open_with_header(
        path: &Path,
        encoding: Option<TextEncoding>,
        limits: ReadLimits,
        recognised: &dyn Fn(&[String]) -> usize,
    ) -> Result<ResidentFileReader, FileError> {
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if let Some(old @ ("xls" | "ods" | "et")) = extension.as_deref() {
            return Err(FileError::OldFormat { path: path.to_path_buf(), extension: old.to_string() });
        }
        let (format, encoding, progress, total, rows): (_, _, _, _, RowStream) = match FileFormat::of_path(path) {
            FileFormat::Csv => {
                let (encoding, progress, total, rows) = Self::csv_rows(path, encoding, limits)?;
                (FileFormat::Csv, Some(encoding), progress, total, rows)
            }
            FileFormat::Xlsx => {
                let (progress, total, rows) = Self::workbook_rows(path, limits);
                (FileFormat::Xlsx, None, progress, total, rows)
            }
        };
        let mut budget = Budget::new(limits);
        let owned = path.to_path_buf();
        let mut rows = rows.filter(|r| !matches!(r, Ok(row) if is_blank(&row.cells))).map(move |r| {
            let mut row = r?;
            check_row(&owned, &mut row, &limits)?;
            budget.take(&owned, &row)?;
            Ok(row)
        });
        let mut head = Vec::new();
        for record in rows.by_ref() {
            head.push(record?);
            if head.len() == HEADER_SEARCH_ROWS {
                break;
            }
        }
        let cells: Vec<Vec<String>> = head.iter().map(|r| r.cells.clone()).collect();
        let (index, mut headers) =
            find_header(&cells, recognised).ok_or_else(|| FileError::NoHeader { path: path.to_path_buf() })?;
        // The header ends at its last named column (a header row of a million commas
        // would make every row "short" by a million columns).
        headers.truncate(headers.iter().rposition(|h| !h.trim().is_empty()).map_or(0, |i| i + 1));
        let rest = head.into_iter().skip(index + 1).map(Ok).chain(rows);
        // A workbook leaves empty cells out, trailing ones too: its rows are as wide as
        // the header. (A CSV row with fewer cells is really short and is refused.)
        let width = headers.len();
        let rest: RowStream = match format {
            FileFormat::Xlsx => Box::new(rest.map(move |r| {
                r.map(|mut row| {
                    if row.cells.len() < width {
                        row.cells.resize(width, String::new());
                    }
                    row
                })
            })),
            FileFormat::Csv => Box::new(rest),
        };
        Ok(ResidentFileReader {
            path: path.to_path_buf(),
            format,
            encoding,
            headers,
            total: total.load(Ordering::Relaxed),
            progress,
            total_hint: total,
            rows: rest,
        })
    }

    /// How far through the file reading has got, 0–1.
    pub fn fraction(&self) -> f64 {
        let total = self.total_hint.load(Ordering::Relaxed).max(1);
        (self.progress.load(Ordering::Relaxed) as f64 / total as f64).clamp(0.0, 1.0)
    }

    fn csv_rows(
        path: &Path,
        chosen: Option<TextEncoding>,
        limits: ReadLimits,
    ) -> Result<(TextEncoding, Arc<AtomicU64>, Arc<AtomicU64>, RowStream), FileError> {
        let mut file = File::open(path).map_err(io_error(path))?;
        let total = file.metadata().map_err(io_error(path))?.len();
        let encoding = match chosen {
            Some(e) => e,
            None => {
                let mut start = Vec::with_capacity(1 << 20);
                (&mut file).take(1 << 20).read_to_end(&mut start).map_err(io_error(path))?;
                file = File::open(path).map_err(io_error(path))?;
                TextEncoding::detect(&start)
            }
        };
        let progress = Arc::new(AtomicU64::new(0));
        let counted = Counting { inner: BufReader::with_capacity(1 << 20, file), count: progress.clone() };
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding.encoding()))
            .bom_sniffing(true)
            .strip_bom(true)
            .build(counted);
        let since_record = Arc::new(AtomicU64::new(0));
        let guarded = RecordGuard {
            inner: CrlfToLf { inner: decoded, pending_cr: false },
            since_record: since_record.clone(),
            limit: limits.max_record_bytes(),
        };
        let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(guarded);
        let owned = path.to_path_buf();
        let (mut failed, mut last_line) = (false, 0);
        let records = reader.into_records().map_while(move |record| {
            if failed {
                return None;
            }
            let record = record.map_err(|e| {
                failed = true;
                // I/O errors carry no position: the record after the last one read.
                let line = e.position().map(|p| p.line()).unwrap_or(last_line + 1);
                if let csv::ErrorKind::Io(io) = e.kind()
                    && io.get_ref().is_some_and(|inner| inner.is::<RecordTooLong>())
                {
                    let limit = Limit::RowBytes(limits.max_row_bytes);
                    return FileError::TooLarge { path: owned.clone(), line: Some(line), limit };
                }
                let message = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "文字编码错误，请用 --encoding 指定 / the text encoding is wrong; choose one with --encoding"
                            .into()
                    }
                    _ => e.to_string(),
                };
                FileError::Row { path: owned.clone(), line, message }
            });
            since_record.store(0, Ordering::Relaxed);
            Some(record.map(|record| {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                last_line = line;
                SourceRow { line, cells: record.iter().map(read_csv_cell).collect() }
            }))
        });
        Ok((encoding, progress, Arc::new(AtomicU64::new(total)), Box::new(records)))
    }

    /// The first sheet's rows, read on a thread of their own (the zip entry being read
    /// borrows the archive, so the reading loop owns both) and handed over a bounded
    /// channel: memory stays at a few thousand rows whatever the sheet holds.
    fn workbook_rows(path: &Path, limits: ReadLimits) -> (Arc<AtomicU64>, Arc<AtomicU64>, RowStream) {
        let progress = Arc::new(AtomicU64::new(0));
        let total = Arc::new(AtomicU64::new(1));
        let (send, receive) = std::sync::mpsc::sync_channel(1024);
        let (owned, p, t) = (path.to_path_buf(), progress.clone(), total.clone());
        let spawned = std::thread::Builder::new().name("jiceng-xlsx".into()).spawn(move || {
            xlsx::read_first_sheet(&owned, limits, &t, &p, |row| send.send(row).is_ok());
        });
        let rows: RowStream = match spawned {
            Ok(_) => Box::new(receive.into_iter()),
            Err(source) => Box::new(std::iter::once(Err(FileError::Io { path: path.to_path_buf(), source }))),
        };
        (progress, total, rows)
    }
}

type RowStream = Box<dyn Iterator<Item = Result<SourceRow, FileError>> + Send>;

/// A cell as it is written to CSV: text starting with `= + - @`, a tab or a carriage
/// return gets a leading `'`, so Excel and WPS show it as text instead of running it as
/// a formula (`=HYPERLINK(…)` in a name). The reader takes the `'` off again.
pub fn csv_cell(cell: &str) -> CsvCell<'_> {
    // A cell that already starts with `'` before such a character gets one more, so that
    // reading takes exactly one off.
    if cell.trim_start_matches('\'').starts_with(FORMULA_STARTS) {
        CsvCell(std::borrow::Cow::Owned(format!("'{cell}")))
    } else {
        CsvCell(std::borrow::Cow::Borrowed(cell))
    }
}

/// A cell made safe by [`csv_cell`]; allocates only when it was escaped.
pub struct CsvCell<'a>(std::borrow::Cow<'a, str>);

impl AsRef<[u8]> for CsvCell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Undoes [`csv_cell`] on a cell read from CSV, so an export imports exactly.
fn read_csv_cell(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_STARTS) => rest.to_string(),
        _ => cell.to_string(),
    }
}

/// Creates (or truncates) a file only its owner can read: exports and error files hold
/// names and ID numbers.
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes rows of text in one of the file formats (exports and error files).
pub struct ResidentFileWriter {
    path: PathBuf,
    sink: Sink,
    pub rows: u64,
}

enum Sink {
    Utf8(Box<csv::Writer<BufWriter<File>>>),
    /// GBK/GB18030: each record is written as UTF-8 into `line`, then encoded.
    Encoded {
        out: BufWriter<File>,
        encoding: TextEncoding,
        line: Vec<u8>,
    },
    Xlsx {
        workbook: Box<rust_xlsxwriter::Workbook>,
        next_row: u32,
    },
}

impl ResidentFileWriter {
    /// Creates the file and writes the header row. UTF-8 CSV starts with a BOM so that
    /// Excel opens it as UTF-8.
    pub fn create(
        path: &Path,
        format: FileFormat,
        encoding: TextEncoding,
        headers: &[String],
    ) -> Result<ResidentFileWriter, FileError> {
        let sink = match format {
            FileFormat::Csv => {
                let mut out = BufWriter::with_capacity(1 << 20, private_file(path).map_err(io_error(path))?);
                if encoding == TextEncoding::Utf8 {
                    out.write_all("\u{feff}".as_bytes()).map_err(io_error(path))?;
                    Sink::Utf8(Box::new(csv::WriterBuilder::new().flexible(true).from_writer(out)))
                } else {
                    Sink::Encoded { out, encoding, line: Vec::with_capacity(1024) }
                }
            }
            FileFormat::Xlsx => {
                let mut workbook = Box::new(rust_xlsxwriter::Workbook::new());
                workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(|e| FileError::WriteWorkbook { path: path.to_path_buf(), message: e.to_string() })?;
                Sink::Xlsx { workbook, next_row: 0 }
            }
        };
        let mut writer = ResidentFileWriter { path: path.to_path_buf(), sink, rows: 0 };
        writer.write_row(headers)?;
        writer.rows = 0;
        Ok(writer)
    }

    pub fn write_row<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<(), FileError> {
        let path = &self.path;
        match &mut self.sink {
            Sink::Utf8(writer) => {
                writer.write_record(cells.iter().map(|c| csv_cell(c.as_ref()))).map_err(|e| FileError::Row {
                    path: path.clone(),
                    line: self.rows + 1,
                    message: e.to_string(),
                })?;
            }
            Sink::Encoded { out, encoding, line } => {
                line.clear();
                {
                    let mut record =
                        csv::WriterBuilder::new().flexible(true).buffer_capacity(1024).from_writer(&mut *line);
                    record.write_record(cells.iter().map(|c| csv_cell(c.as_ref()))).map_err(|e| FileError::Row {
                        path: path.clone(),
                        line: self.rows + 1,
                        message: e.to_string(),
                    })?;
                    record.flush().map_err(io_error(path))?;
                }
                // A whole record is whole UTF-8 text.
                let text = String::from_utf8_lossy(line);
                let (bytes, _, _) = encoding.encoding().encode(&text);
                out.write_all(&bytes).map_err(io_error(path))?;
            }
            Sink::Xlsx { workbook, next_row } => {
                let sheet = workbook
                    .worksheet_from_index(0)
                    .map_err(|e| FileError::WriteWorkbook { path: path.clone(), message: e.to_string() })?;
                for (col, cell) in cells.iter().enumerate() {
                    // Every cell is text: ID numbers and phone numbers must not become numbers.
                    sheet
                        .write_string(*next_row, col as u16, cell.as_ref())
                        .map_err(|e| FileError::WriteWorkbook { path: path.clone(), message: e.to_string() })?;
                }
                *next_row += 1;
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<PathBuf, FileError> {
        let path = self.path;
        match self.sink {
            Sink::Utf8(mut writer) => writer.flush().map_err(io_error(&path))?,
            Sink::Encoded { mut out, .. } => out.flush().map_err(io_error(&path))?,
            Sink::Xlsx { mut workbook, .. } => {
                let file = private_file(&path).map_err(io_error(&path))?;
                workbook
                    .save_to_writer(BufWriter::new(file))
                    .map_err(|e| FileError::WriteWorkbook { path: path.clone(), message: e.to_string() })?
            }
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_told_apart_by_their_first_bytes() {
        assert_eq!(TextEncoding::detect("姓名,性别".as_bytes()), TextEncoding::Utf8);
        assert_eq!(TextEncoding::detect(b"\xEF\xBB\xBF\xE5\xA7\x93"), TextEncoding::Utf8);
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名,性别");
        assert_eq!(TextEncoding::detect(&gbk), TextEncoding::Gb18030);
        // A sample cut inside a character is still UTF-8.
        assert_eq!(TextEncoding::detect(&"姓名".as_bytes()[..4]), TextEncoding::Utf8);
    }

    #[test]
    fn formula_cells_are_escaped_in_csv_and_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let hostile = [
            "=HYPERLINK(\"http://evil.example\",\"张三\")",
            "+86 138",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=kept",
            "王五",
        ];
        let mut writer = ResidentFileWriter::create(
            &path,
            FileFormat::Csv,
            TextEncoding::Utf8,
            &["姓名".into(), "公民身份号码".into()],
        )
        .unwrap();
        for cell in hostile {
            writer.write_row(&[cell, "440307199001011234"]).unwrap();
        }
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().skip(1) {
            assert!(!line.trim_start_matches('"').starts_with(['=', '+', '-', '@', '\t', '\r']), "{line}");
        }
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o600
        );
        let read: Vec<String> =
            ResidentFileReader::open(&path, None).unwrap().map(|r| r.unwrap().cells[0].clone()).collect();
        assert_eq!(read, hostile.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn the_header_is_found_under_a_title_and_merged_headings() {
        let rows = vec![
            vec!["XX社区居民信息表".to_string(), String::new(), String::new()],
            vec!["姓名".to_string(), "居住地址".to_string(), String::new()],
            vec![String::new(), "楼栋".to_string(), "房号".to_string()],
            vec!["张三".to_string(), "1栋".to_string(), "101".to_string()],
        ];
        let (index, headers) = find_header(&rows, &|cells| ColumnMap::recognised(cells)).unwrap();
        assert_eq!(index, 2);
        assert_eq!(headers, vec!["姓名", "楼栋", "房号"]);
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_across_read_boundaries() {
        for size in 2..8 {
            let mut reader = CrlfToLf { inner: std::io::Cursor::new(b"a\r\nb\r\r\nc\r".to_vec()), pending_cr: false };
            let mut out = Vec::new();
            let mut buf = vec![0u8; size];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, b"a\nb\r\nc\r", "buffer of {size}");
        }
    }

    #[test]
    fn rows_carry_the_line_numbers_people_see() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.csv");
        std::fs::write(
            &path,
            "\u{feff}标题\r\n姓名,楼栋,房号\r\n张三,1栋,101\r\n\r\n,,\r\n李四,2栋,\"20\r\n1\"\r\n王五,3栋,301\r\n",
        )
        .unwrap();
        let reader = ResidentFileReader::open(&path, None).unwrap();
        assert_eq!(reader.headers, vec!["姓名", "楼栋", "房号"]);
        let lines: Vec<u64> = reader.map(|r| r.unwrap().line).collect();
        assert_eq!(lines, vec![3, 6, 8]);
    }
}
