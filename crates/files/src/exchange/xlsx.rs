//! The first sheet of an .xlsx workbook read as a stream of rows under [`ReadLimits`].
//!
//! A workbook is a zip of XML parts. Nothing here trusts what the file declares: the
//! sheet's `<dimension>` is never read (a 1.6 KB file declaring A1:XFD1048576 made a
//! reader that allocates the declared range ask for 512 GiB), every part is decompressed
//! through a counter that stops at the unpacked-bytes limit whatever the zip directory
//! says, a run of text between two markup characters is bounded (so no single XML event
//! can grow without limit), and rows, columns, cells and time are counted as they come.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use quick_xml::events::{BytesStart, Event};

use super::{FileError, Limit, ReadLimits, SourceRow};

/// Counts decompressed bytes across all parts of one workbook and refuses to go past the
/// limit; also refuses a run of more than `max_run` bytes without `<` or `>`.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
    limit: u64,
    /// Reset by `event_done` after each XML event.
    since_event: std::cell::Cell<usize>,
    max_run: usize,
    /// The cell limit the run bound stands for (what the message names).
    cell_limit: usize,
    /// Set when a limit stopped the read, so the caller can name it rather than the
    /// XML error it caused.
    tripped: Arc<std::sync::Mutex<Option<Limit>>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let trip = |limit: Limit| {
            if let Ok(mut t) = self.tripped.lock() {
                t.get_or_insert(limit);
            }
            std::io::Error::other("limit")
        };
        if total > self.limit {
            return Err(trip(Limit::UnpackedBytes(self.limit)));
        }
        // Bytes since the reader last finished an event: no single event (a text, a
        // tag, a comment) may grow past the bound, whatever it holds.
        let since = self.since_event.get() + n;
        self.since_event.set(since);
        if since > self.max_run {
            return Err(trip(Limit::CellBytes(self.cell_limit)));
        }
        Ok(n)
    }
}

type Xml<'a> = quick_xml::Reader<BufReader<Counted<zip::read::ZipFile<'a, File>>>>;

/// What every part of one workbook shares: its name, the limits, the unpacked-bytes
/// counter and the clock.
struct Workbook {
    path: PathBuf,
    limits: ReadLimits,
    unpacked: Arc<AtomicU64>,
    tripped: Arc<std::sync::Mutex<Option<Limit>>>,
    started: Instant,
}

impl Workbook {
    fn error(&self, message: impl std::fmt::Display) -> FileError {
        if let Some(limit) = self.tripped.lock().ok().and_then(|t| *t) {
            return FileError::TooLarge { path: self.path.clone(), line: None, limit };
        }
        FileError::Workbook { path: self.path.clone(), message: message.to_string() }
    }

    fn too_large(&self, line: Option<u64>, limit: Limit) -> FileError {
        FileError::TooLarge { path: self.path.clone(), line, limit }
    }

    fn check_time(&self) -> Result<(), FileError> {
        if self.started.elapsed().as_secs() > self.limits.max_seconds {
            return Err(self.too_large(None, Limit::Seconds(self.limits.max_seconds)));
        }
        Ok(())
    }

    fn counted<'a>(&self, file: zip::read::ZipFile<'a, File>) -> Counted<zip::read::ZipFile<'a, File>> {
        Counted {
            inner: file,
            read: self.unpacked.clone(),
            limit: self.limits.max_unpacked_bytes,
            since_event: std::cell::Cell::new(0),
            // Escaped text (`&amp;`, `_x000D_`) may take up to seven bytes a character;
            // the buffered reader reads 64 KiB ahead.
            max_run: self.limits.max_cell_bytes.saturating_mul(7).saturating_add(128 << 10),
            cell_limit: self.limits.max_cell_bytes,
            tripped: self.tripped.clone(),
        }
    }

    /// Reads one small part whole (workbook.xml, its relationships), bounded by the
    /// unpacked-bytes limit like every other read.
    fn part_text(&self, archive: &mut zip::ZipArchive<File>, name: &str) -> Result<Option<String>, FileError> {
        let file = match archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        // workbook.xml and its relationships are a few KB; anything past 16 MiB is not a
        // workbook anyone wrote.
        const PART_LIMIT: u64 = 16 << 20;
        let mut text = String::new();
        self.counted(file).take(PART_LIMIT + 1).read_to_string(&mut text).map_err(|e| self.error(e))?;
        if text.len() as u64 > PART_LIMIT {
            return Err(self.too_large(None, Limit::UnpackedBytes(PART_LIMIT)));
        }
        Ok(Some(text))
    }

    /// A part as a stream of XML events, with its declared size (for progress only).
    fn part_reader<'a>(
        &self,
        archive: &'a mut zip::ZipArchive<File>,
        name: &str,
    ) -> Result<Option<(Xml<'a>, u64)>, FileError> {
        let file = match archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        let declared = file.size();
        let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(64 << 10, self.counted(file)));
        xml.config_mut().trim_text(false);
        Ok(Some((xml, declared)))
    }
}

/// Tells the byte counter under `xml` that an event is complete (see `Counted`).
fn event_done(xml: &Xml<'_>) {
    xml.get_ref().get_ref().since_event.set(0);
}

/// Where the first sheet's XML lives: workbook.xml names the sheets in order and their
/// relationship ids; the relationships give the part names.
fn first_sheet_part(book: &Workbook, archive: &mut zip::ZipArchive<File>) -> Result<String, FileError> {
    let workbook = book
        .part_text(archive, "xl/workbook.xml")?
        .ok_or_else(|| book.error("没有 xl/workbook.xml / no xl/workbook.xml"))?;
    let mut xml = quick_xml::Reader::from_str(&workbook);
    let mut rel_id = None;
    loop {
        match xml.read_event().map_err(|e| book.error(e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                rel_id = e
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == "id")
                    .map(|a| a.value.into_owned());
                break;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let rel_id = rel_id.ok_or_else(|| book.error("没有工作表 / no worksheet"))?;
    let rels = book.part_text(archive, "xl/_rels/workbook.xml.rels")?.unwrap_or_default();
    let mut xml = quick_xml::Reader::from_str(&rels);
    loop {
        match xml.read_event().map_err(|e| book.error(e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let id = attribute(&e, "Id");
                if id.as_deref() == Some(rel_id.as_str()) {
                    let target = attribute(&e, "Target").unwrap_or_default();
                    return Ok(match target.strip_prefix('/') {
                        Some(absolute) => absolute.to_string(),
                        None => format!("xl/{target}"),
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Workbooks written without relationships still put the first sheet here.
    Ok("xl/worksheets/sheet1.xml".into())
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().map(|a| a.value.into_owned())
}

/// Excel's own escape for characters XML cannot carry: `_x000D_` is a carriage return,
/// `_xD83D__xDE00_` a surrogate pair, `_x005F_` an underscore.
fn unescape_excel(text: &str) -> String {
    if !text.contains("_x") {
        return text.to_string();
    }
    let unit_at = |s: &str, i: usize| -> Option<u16> {
        let b = s.as_bytes();
        if b.len() >= i + 7 && &b[i..i + 2] == b"_x" && b[i + 6] == b'_' {
            u16::from_str_radix(s.get(i + 2..i + 6)?, 16).ok()
        } else {
            None
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if let Some(unit) = unit_at(text, i) {
            if (0xD800..0xDC00).contains(&unit)
                && let Some(low @ 0xDC00..=0xDFFF) = unit_at(text, i + 7)
            {
                let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                i += 14;
                continue;
            }
            out.push(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER));
            i += 7;
            continue;
        }
        let Some(c) = text[i..].chars().next() else { break };
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Appends an entity reference (`&amp;`, `&#x4E00;`) to `out`.
fn push_entity(out: &mut String, entity: &quick_xml::events::BytesRef<'_>) -> Result<(), String> {
    match entity.as_ref() {
        "amp" => out.push('&'),
        "lt" => out.push('<'),
        "gt" => out.push('>'),
        "quot" => out.push('"'),
        "apos" => out.push('\''),
        _ => match entity.resolve_char_ref() {
            Ok(Some(c)) => out.push(c),
            _ => return Err(format!("未知的实体 / unknown entity &{};", entity.as_ref())),
        },
    }
    Ok(())
}

/// Reads the text inside the current element until its end tag named `end`, skipping
/// phonetic runs (`<rPh>`), bounded by the cell limit.
fn read_text(xml: &mut Xml, buf: &mut Vec<u8>, end: &str, max: usize) -> Result<String, TextError> {
    let mut out = String::new();
    let mut in_t = false;
    let mut phonetic = 0usize;
    loop {
        buf.clear();
        let event = xml.read_event_into(buf).map_err(|e| TextError::Xml(e.to_string()))?;
        event_done(xml);
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "rPh" => phonetic += 1,
                "t" => in_t = true,
                _ => {}
            },
            Event::End(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    "rPh" => phonetic = phonetic.saturating_sub(1),
                    "t" => in_t = false,
                    n if n == end => return Ok(unescape_excel(&out)),
                    _ => {}
                }
            }
            Event::Text(t) if in_t && phonetic == 0 => out.push_str(&t.xml10_content()),
            Event::CData(t) if in_t && phonetic == 0 => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_t && phonetic == 0 => push_entity(&mut out, &r).map_err(TextError::Xml)?,
            Event::Eof => return Err(TextError::Xml(format!("文件提前结束 / the part ends inside <{end}>"))),
            _ => {}
        }
        if out.len() > max {
            return Err(TextError::TooLong);
        }
    }
}

enum TextError {
    Xml(String),
    TooLong,
}

/// The shared strings of the workbook, bounded by `max_shared_strings_bytes`.
fn shared_strings(book: &Workbook, archive: &mut zip::ZipArchive<File>) -> Result<Vec<String>, FileError> {
    let Some((mut xml, _)) = book.part_reader(archive, "xl/sharedStrings.xml")? else { return Ok(Vec::new()) };
    let mut strings = Vec::new();
    let mut bytes = 0usize;
    let mut buf = Vec::new();
    let mut events = 0u32;
    loop {
        buf.clear();
        let event = xml.read_event_into(&mut buf).map_err(|e| book.error(e))?;
        event_done(&xml);
        match event {
            Event::Start(e) if e.local_name().as_ref() == "si" => {
                let text = match read_text(&mut xml, &mut buf, "si", book.limits.max_cell_bytes) {
                    Ok(t) => t,
                    Err(TextError::TooLong) => {
                        return Err(book.too_large(None, Limit::CellBytes(book.limits.max_cell_bytes)));
                    }
                    Err(TextError::Xml(m)) => return Err(book.error(m)),
                };
                bytes += text.len() + std::mem::size_of::<String>();
                if bytes > book.limits.max_shared_strings_bytes {
                    return Err(book.too_large(None, Limit::SharedStringsBytes(book.limits.max_shared_strings_bytes)));
                }
                strings.push(text);
            }
            Event::Empty(e) if e.local_name().as_ref() == "si" => {
                bytes += std::mem::size_of::<String>();
                if bytes > book.limits.max_shared_strings_bytes {
                    return Err(book.too_large(None, Limit::SharedStringsBytes(book.limits.max_shared_strings_bytes)));
                }
                strings.push(String::new());
            }
            Event::Eof => break,
            _ => {}
        }
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            book.check_time()?;
        }
    }
    Ok(strings)
}

/// "BC12" → column 54 (0-based 54), row 12.
fn cell_reference(r: &str) -> Option<(usize, u64)> {
    let split = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = r.split_at(split);
    if letters.is_empty() || letters.len() > 3 || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let col = letters.bytes().fold(0usize, |n, b| n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1)) - 1;
    Some((col, digits.parse().ok()?))
}

/// A number as the text a person typed: whole numbers without ".0", ID numbers that
/// Excel turned into numbers in exponent form so the importer can say what happened.
fn number_text(raw: &str) -> String {
    match raw.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Ok(f) if f.is_finite() && f.abs() >= 1e15 => format!("{f:E}"),
        Ok(f) if f.is_finite() => f.to_string(),
        _ => raw.trim().to_string(),
    }
}

/// Reads the first sheet, handing each non-empty row to `emit` (which returns false to
/// stop). `progress` gets decompressed bytes of the sheet read so far; `total` its
/// declared size (only for showing progress; nothing relies on it).
pub(crate) fn read_first_sheet(
    path: &Path,
    limits: ReadLimits,
    total: &AtomicU64,
    progress: &AtomicU64,
    mut emit: impl FnMut(Result<SourceRow, FileError>) -> bool,
) {
    let book = Workbook {
        path: path.to_path_buf(),
        limits,
        unpacked: Arc::new(AtomicU64::new(0)),
        tripped: Default::default(),
        started: Instant::now(),
    };
    let result = (|| -> Result<(), FileError> {
        let file = File::open(path).map_err(|source| FileError::Io { path: path.to_path_buf(), source })?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| FileError::Workbook { path: path.to_path_buf(), message: e.to_string() })?;
        let sheet = first_sheet_part(&book, &mut archive)?;
        let strings = shared_strings(&book, &mut archive)?;
        let (mut xml, declared) = book
            .part_reader(&mut archive, &sheet)?
            .ok_or_else(|| book.error(format!("缺少 {sheet} / {sheet} is missing")))?;
        total.store(declared.max(1), Ordering::Relaxed);
        let start = book.unpacked.load(Ordering::Relaxed);
        read_rows(&book, &mut xml, &strings, &mut emit, || {
            progress.store(book.unpacked.load(Ordering::Relaxed) - start, Ordering::Relaxed)
        })
    })();
    if let Err(e) = result {
        emit(Err(e));
    }
}

fn read_rows(
    book: &Workbook,
    xml: &mut Xml,
    strings: &[String],
    emit: &mut impl FnMut(Result<SourceRow, FileError>) -> bool,
    progress: impl Fn(),
) -> Result<(), FileError> {
    let limits = book.limits;
    let mut buf = Vec::new();
    let mut text_buf = Vec::new();
    let mut row_number = 0u64;
    let mut row: Vec<String> = Vec::new();
    let mut next_col = 0usize;
    let mut row_bytes = 0usize;
    let mut events = 0u32;
    loop {
        buf.clear();
        let event = xml.read_event_into(&mut buf).map_err(|e| book.error(e))?;
        event_done(xml);
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            book.check_time()?;
            progress();
        }
        match event {
            Event::Start(e) if e.local_name().as_ref() == "row" => {
                row_number = attribute(&e, "r").and_then(|r| r.parse().ok()).unwrap_or(row_number + 1);
                row.clear();
                next_col = 0;
                row_bytes = 0;
            }
            Event::Empty(e) if e.local_name().as_ref() == "row" => {
                row_number = attribute(&e, "r").and_then(|r| r.parse().ok()).unwrap_or(row_number + 1);
            }
            // Rows and cells are counted against their limits by the caller, as for CSV.
            Event::End(e)
                if e.local_name().as_ref() == "row"
                    && row.iter().any(|c| !c.trim().is_empty())
                    && !emit(Ok(SourceRow { line: row_number, cells: std::mem::take(&mut row) })) =>
            {
                return Ok(());
            }
            Event::Start(e) if e.local_name().as_ref() == "c" => {
                let (col, kind) = cell_start(&e, next_col);
                next_col = col + 1;
                let value = match kind.as_deref() {
                    Some("inlineStr") => read_text(xml, &mut text_buf, "c", limits.max_cell_bytes),
                    _ => read_value(xml, &mut text_buf, limits.max_cell_bytes),
                };
                let value = match value {
                    Ok(v) => v,
                    Err(TextError::TooLong) => {
                        return Err(book.too_large(Some(row_number), Limit::CellBytes(limits.max_cell_bytes)));
                    }
                    Err(TextError::Xml(m)) => return Err(book.error(m)),
                };
                let text = match kind.as_deref() {
                    Some("s") => match value.trim().parse::<usize>().ok().and_then(|i| strings.get(i)) {
                        Some(s) => s.clone(),
                        None => {
                            return Err(book.error(format!(
                                "第{row_number}行：共享字符串编号 {value} 不存在 / row {row_number}: shared string {value} does not exist"
                            )));
                        }
                    },
                    Some("inlineStr" | "str" | "d") => value,
                    Some("b") => (if value.trim() == "1" { "true" } else { "false" }).to_string(),
                    Some("e") => format!("#{}", value.trim()),
                    _ if value.is_empty() => value,
                    _ => number_text(&value),
                };
                if text.is_empty() {
                    continue;
                }
                if col >= limits.max_columns {
                    return Err(book.too_large(Some(row_number), Limit::Columns(limits.max_columns)));
                }
                // Checked here, before the row waits in the channel: cells pointing at one
                // long shared string would otherwise multiply it.
                row_bytes += text.len();
                if row_bytes > limits.max_row_bytes {
                    return Err(book.too_large(Some(row_number), Limit::RowBytes(limits.max_row_bytes)));
                }
                if row.len() <= col {
                    row.resize(col + 1, String::new());
                }
                row[col] = text;
            }
            Event::Empty(e) if e.local_name().as_ref() == "c" => {
                let (col, _) = cell_start(&e, next_col);
                next_col = col + 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    progress();
    Ok(())
}

/// A cell's column (from `r`, else the one after the last) and its type `t`.
fn cell_start(e: &BytesStart<'_>, next_col: usize) -> (usize, Option<String>) {
    let col = attribute(e, "r").and_then(|r| cell_reference(&r)).map(|(c, _)| c).unwrap_or(next_col);
    (col, attribute(e, "t"))
}

/// The text of a cell's `<v>` (its formula, `<f>`, is never evaluated: the value Excel
/// saved is what the person saw).
fn read_value(xml: &mut Xml, buf: &mut Vec<u8>, max: usize) -> Result<String, TextError> {
    let mut out = String::new();
    let mut in_v = false;
    loop {
        buf.clear();
        let event = xml.read_event_into(buf).map_err(|e| TextError::Xml(e.to_string()))?;
        event_done(xml);
        match event {
            Event::Start(e) if e.local_name().as_ref() == "v" => in_v = true,
            Event::End(e) => match e.local_name().as_ref() {
                "v" => in_v = false,
                "c" => return Ok(unescape_excel(&out)),
                _ => {}
            },
            Event::Text(t) if in_v => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_v => push_entity(&mut out, &r).map_err(TextError::Xml)?,
            Event::Eof => return Err(TextError::Xml("文件提前结束 / the sheet ends inside a cell".into())),
            _ => {}
        }
        if out.len() > max {
            return Err(TextError::TooLong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_give_column_and_row() {
        assert_eq!(cell_reference("A1"), Some((0, 1)));
        assert_eq!(cell_reference("BC12"), Some((54, 12)));
        assert_eq!(cell_reference("XFD1048576"), Some((16383, 1_048_576)));
        assert_eq!(cell_reference("12"), None);
        assert_eq!(cell_reference("ABCD1"), None);
    }

    #[test]
    fn excel_escapes_are_undone() {
        assert_eq!(unescape_excel("a_x000D_b"), "a\rb");
        assert_eq!(unescape_excel("_xD83D__xDE00_"), "😀");
        assert_eq!(unescape_excel("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescape_excel("no escapes"), "no escapes");
        assert_eq!(unescape_excel("_x12"), "_x12");
    }

    #[test]
    fn numbers_read_as_typed() {
        assert_eq!(number_text("43835"), "43835");
        assert_eq!(number_text("43835.5"), "43835.5");
        assert_eq!(number_text("4.4030719900101101E+17"), "4.40307199001011E17");
        assert_eq!(number_text("abc"), "abc");
    }

    #[test]
    fn the_counter_stops_at_its_limit() {
        let tripped = Arc::new(std::sync::Mutex::new(None));
        let counted = Counted {
            inner: std::io::Cursor::new(vec![b'a'; 10_000]),
            read: Arc::new(AtomicU64::new(0)),
            limit: 5_000,
            since_event: std::cell::Cell::new(0),
            max_run: 1 << 20,
            cell_limit: 1 << 10,
            tripped: tripped.clone(),
        };
        assert!(BufReader::with_capacity(1024, counted).read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(*tripped.lock().unwrap(), Some(Limit::UnpackedBytes(5_000))));
    }
}
