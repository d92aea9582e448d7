//! Resident files on disk: CSV in UTF-8 (with or without BOM), GBK or GB18030, and
//! Excel workbooks. Reading streams CSV row by row; headers may sit under title rows and
//! merged group headings. Writing produces the same formats (exports and error files).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use calamine::{Data, Reader as _};
use jiceng_domain::exchange::ColumnMap;

/// The two kinds of file offices use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    /// By extension: .xlsx/.xlsm/.xls/.ods are workbooks, everything else CSV.
    pub fn of_path(path: &Path) -> FileFormat {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("xlsx" | "xlsm" | "xls" | "ods") => FileFormat::Xlsx,
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
    /// How far through the file reading has got, of `total` (bytes for CSV, rows for Excel).
    pub progress: Arc<AtomicU64>,
    pub total: u64,
    rows: Box<dyn Iterator<Item = Result<SourceRow, FileError>> + Send>,
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
const HEADER_SEARCH_ROWS: usize = 10;

fn is_blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// The header row among the first rows: the one naming the most known columns, where a
/// cell left empty under a merged heading takes the heading above it.
fn find_header(rows: &[Vec<String>]) -> Option<(usize, Vec<String>)> {
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
        let known = ColumnMap::recognised(&combined);
        if known >= 2 && best.as_ref().is_none_or(|(_, k, _)| known > *k) {
            best = Some((i, known, combined));
        }
    }
    best.map(|(i, _, headers)| (i, headers))
}

impl ResidentFileReader {
    pub fn open(path: &Path, encoding: Option<TextEncoding>) -> Result<ResidentFileReader, FileError> {
        match FileFormat::of_path(path) {
            FileFormat::Csv => Self::open_csv(path, encoding),
            FileFormat::Xlsx => Self::open_workbook(path),
        }
    }

    fn open_csv(path: &Path, chosen: Option<TextEncoding>) -> Result<ResidentFileReader, FileError> {
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
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(CrlfToLf { inner: decoded, pending_cr: false });
        let owned = path.to_path_buf();
        let mut records = reader.into_records().map(move |record| {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let message = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "文字编码错误，请用 --encoding 指定 / the text encoding is wrong; choose one with --encoding"
                            .into()
                    }
                    _ => e.to_string(),
                };
                FileError::Row { path: owned.clone(), line, message }
            })?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            Ok(SourceRow { line, cells: record.iter().map(str::to_string).collect() })
        });
        let mut head = Vec::new();
        for record in records.by_ref() {
            let row = record?;
            if is_blank(&row.cells) {
                continue;
            }
            head.push(row);
            if head.len() == HEADER_SEARCH_ROWS {
                break;
            }
        }
        let cells: Vec<Vec<String>> = head.iter().map(|r| r.cells.clone()).collect();
        let (index, headers) = find_header(&cells).ok_or_else(|| FileError::NoHeader { path: path.to_path_buf() })?;
        let rest = head.into_iter().skip(index + 1).map(Ok).chain(records);
        Ok(ResidentFileReader {
            path: path.to_path_buf(),
            format: FileFormat::Csv,
            encoding: Some(encoding),
            headers,
            progress,
            total,
            rows: Box::new(rest.filter(|r| !matches!(r, Ok(row) if is_blank(&row.cells)))),
        })
    }

    fn open_workbook(path: &Path) -> Result<ResidentFileReader, FileError> {
        let workbook_error = |message: String| FileError::Workbook { path: path.to_path_buf(), message };
        let mut workbook = calamine::open_workbook_auto(path).map_err(|e| workbook_error(e.to_string()))?;
        let range = workbook
            .worksheet_range_at(0)
            .ok_or_else(|| workbook_error("没有工作表 / no worksheet".into()))?
            .map_err(|e| workbook_error(e.to_string()))?;
        // Rows keep their sheet numbers and cells their sheet columns, so a sheet whose
        // used range starts at row 3 or column C still lines up with what people see.
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        let to_cells = |row: &[Data]| -> Vec<String> {
            let mut cells = vec![String::new(); first_col as usize];
            cells.extend(row.iter().map(cell_text));
            cells
        };
        let mut rows: Vec<SourceRow> = range
            .rows()
            .enumerate()
            .map(|(i, row)| SourceRow { line: u64::from(first_row) + i as u64 + 1, cells: to_cells(row) })
            .filter(|r| !is_blank(&r.cells))
            .collect();
        let head: Vec<Vec<String>> = rows.iter().take(HEADER_SEARCH_ROWS).map(|r| r.cells.clone()).collect();
        let (index, headers) = find_header(&head).ok_or_else(|| FileError::NoHeader { path: path.to_path_buf() })?;
        let data = rows.split_off(index + 1);
        let total = data.len() as u64;
        let progress = Arc::new(AtomicU64::new(0));
        let counter = progress.clone();
        Ok(ResidentFileReader {
            path: path.to_path_buf(),
            format: FileFormat::Xlsx,
            encoding: None,
            headers,
            progress,
            total,
            rows: Box::new(data.into_iter().map(move |row| {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(row)
            })),
        })
    }
}

/// A cell as the text a person would have typed. Large numbers (ID numbers Excel turned
/// into numbers) keep Excel's exponent form so the importer can say what happened.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) if f.abs() >= 1e15 => format!("{f:E}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        // Dates stay Excel serial numbers; the date reader understands them.
        Data::DateTime(d) => format!("{}", d.as_f64().trunc() as i64),
        Data::Error(e) => format!("#{e:?}"),
    }
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
                let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_error(path))?);
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
                writer.write_record(cells.iter().map(|c| c.as_ref())).map_err(|e| FileError::Row {
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
                    record.write_record(cells.iter().map(|c| c.as_ref())).map_err(|e| FileError::Row {
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
            Sink::Xlsx { mut workbook, .. } => workbook
                .save(&path)
                .map_err(|e| FileError::WriteWorkbook { path: path.clone(), message: e.to_string() })?,
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
    fn the_header_is_found_under_a_title_and_merged_headings() {
        let rows = vec![
            vec!["XX社区居民信息表".to_string(), String::new(), String::new()],
            vec!["姓名".to_string(), "居住地址".to_string(), String::new()],
            vec![String::new(), "楼栋".to_string(), "房号".to_string()],
            vec!["张三".to_string(), "1栋".to_string(), "101".to_string()],
        ];
        let (index, headers) = find_header(&rows).unwrap();
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
