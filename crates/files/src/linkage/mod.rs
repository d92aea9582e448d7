//! Linkage benchmark files: a registry (`person_id,name,sex,dob,id_number,community,phone`),
//! incoming records (`incoming_id,…` with the same columns) and the truth
//! (`incoming_id,person_id`), UTF-8 CSV; and the matches written back
//! (`incoming_id,person_id,probability`).

pub mod feed;

use std::io::{Read, Write};
use std::path::Path;

use jiceng_domain::linkage::LinkRecord;
use jiceng_domain::registry::Sex;
use time::Date;

const RECORD_COLUMNS: [&str; 6] = ["name", "sex", "dob", "id_number", "community", "phone"];

/// A rows limit for one file: a district's registry is 4.14 M; ten times that is an
/// error, not a registry.
pub const MAX_ROWS: usize = 50_000_000;

/// The longest record ID or name read: longer ones are not IDs or names.
pub const MAX_CELL: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum LinkageFileError {
    #[error("{file}: 无法读取 / cannot be read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: 表头应为 {expected}，实为 {found} / the header should be {expected}, found {found}")]
    Header { file: String, expected: String, found: String },
    #[error("{file} 第 {row} 行「{field}」: {reason_zh}「{value}」/ row {row}, {field}: {reason_en} \"{value}\"")]
    Field {
        file: String,
        row: usize,
        field: &'static str,
        value: String,
        reason_zh: &'static str,
        reason_en: &'static str,
    },
    #[error("{file} 第 {row} 行: {source} / row {row}: {source}")]
    Csv { file: String, row: usize, source: csv::Error },
    #[error("{file}: 超过 {MAX_ROWS} 行 / more than {MAX_ROWS} rows")]
    TooManyRows { file: String },
    #[error("{file}: 无法写入 / cannot be written: {source}")]
    Write { file: String, source: std::io::Error },
}

type Result<T> = std::result::Result<T, LinkageFileError>;

/// Reads a registry or incoming file: its first column is the record's ID (`id_column`).
pub fn read_records(path: &Path, id_column: &str) -> Result<Vec<(String, LinkRecord)>> {
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|source| LinkageFileError::Read { file: file.clone(), source })?;
    read_records_from(reader, &file, id_column)
}

pub fn read_records_from(reader: impl Read, file: &str, id_column: &str) -> Result<Vec<(String, LinkRecord)>> {
    let mut out = Vec::new();
    for_each_record(reader, file, id_column, |id, record| out.push((id.to_string(), record)))?;
    Ok(out)
}

/// Reads a registry or incoming file record by record, handing each with its ID to
/// `each`, so that a caller keeping less than the record needs no room for all of them.
pub fn read_each(path: &Path, id_column: &str, each: impl FnMut(&str, LinkRecord)) -> Result<usize> {
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|source| LinkageFileError::Read { file: file.clone(), source })?;
    for_each_record(std::io::BufReader::with_capacity(1 << 20, reader), &file, id_column, each)
}

fn for_each_record(
    reader: impl Read,
    file: &str,
    id_column: &str,
    mut each: impl FnMut(&str, LinkRecord),
) -> Result<usize> {
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let expected: Vec<&str> = std::iter::once(id_column).chain(RECORD_COLUMNS).collect();
    check_header(&mut csv, file, &expected)?;
    let mut count = 0usize;
    let mut row = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(source) => {
                let line = source.position().map_or(count + 2, |p| p.line() as usize);
                return Err(LinkageFileError::Csv { file: file.into(), row: line, source });
            }
        }
        // The file's line (a quoted cell holding a line break moves it on), not the
        // record's number.
        let line = row.position().map_or(count + 2, |p| p.line() as usize);
        if count >= MAX_ROWS {
            return Err(LinkageFileError::TooManyRows { file: file.into() });
        }
        count += 1;
        let field = |i: usize| row.get(i).unwrap_or("").trim();
        let bad = |field: &'static str, value: &str, reason_zh, reason_en| LinkageFileError::Field {
            file: file.into(),
            row: line,
            field,
            value: value.into(),
            reason_zh,
            reason_en,
        };
        let id = field(0);
        if id.is_empty() {
            return Err(bad(expected_static(id_column), id, "不能为空", "must not be empty"));
        }
        if id.len() > MAX_CELL || field(1).chars().count() > MAX_CELL {
            let (name, value) = if id.len() > MAX_CELL { (expected_static(id_column), id) } else { ("name", field(1)) };
            return Err(bad(name, value, "超过 64 个字符", "is longer than 64 characters"));
        }
        let sex = match field(2) {
            // GB/T 2261.1: 0 unknown, 9 unstated.
            "" | "0" | "9" | "未知" | "未说明" => None,
            "男" | "1" | "M" | "m" => Some(Sex::Male),
            "女" | "2" | "F" | "f" => Some(Sex::Female),
            other => return Err(bad("sex", other, "应为 男 或 女", "should be 男 or 女")),
        };
        let dob = match field(3) {
            "" => None,
            text => Some(
                Date::parse(text, DATE)
                    .map_err(|_| bad("dob", text, "应为 YYYY-MM-DD 日期", "should be a YYYY-MM-DD date"))?,
            ),
        };
        let optional = |i: usize| Some(field(i).to_string()).filter(|s| !s.is_empty());
        let record = LinkRecord {
            name: field(1).to_string(),
            sex,
            birth_date: dob,
            id_number: optional(4),
            community: optional(5),
            phone: optional(6),
        };
        each(id, record);
    }
    Ok(count)
}

/// The names of the ID columns as `'static` for errors.
fn expected_static(column: &str) -> &'static str {
    match column {
        "person_id" => "person_id",
        "incoming_id" => "incoming_id",
        _ => "id",
    }
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn check_header<R: Read>(csv: &mut csv::Reader<R>, file: &str, expected: &[&str]) -> Result<()> {
    let header = csv.headers().map_err(|source| LinkageFileError::Csv { file: file.into(), row: 1, source })?;
    let found: Vec<&str> = header.iter().map(|h| h.trim().trim_start_matches('\u{feff}')).collect();
    if found != expected {
        return Err(LinkageFileError::Header {
            file: file.into(),
            expected: expected.join(","),
            found: found.join(","),
        });
    }
    Ok(())
}

/// Reads the truth: each incoming record's person, `None` for no true match.
pub fn read_truth(path: &Path) -> Result<Vec<(String, Option<String>)>> {
    let file = path.display().to_string();
    let reader = std::fs::File::open(path).map_err(|source| LinkageFileError::Read { file: file.clone(), source })?;
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    check_header(&mut csv, &file, &["incoming_id", "person_id"])?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, row) in csv.records().enumerate() {
        let row = row.map_err(|source| LinkageFileError::Csv { file: file.clone(), row: i + 2, source })?;
        if out.len() >= MAX_ROWS {
            return Err(LinkageFileError::TooManyRows { file });
        }
        let line = row.position().map_or(i + 2, |p| p.line() as usize);
        let incoming = row.get(0).unwrap_or("").trim().to_string();
        let refuse = |reason_zh, reason_en| LinkageFileError::Field {
            file: file.clone(),
            row: line,
            field: "incoming_id",
            value: incoming.clone(),
            reason_zh,
            reason_en,
        };
        if incoming.is_empty() {
            return Err(refuse("不能为空", "must not be empty"));
        }
        if !seen.insert(incoming.clone()) {
            return Err(refuse("重复", "is repeated"));
        }
        let person = Some(row.get(1).unwrap_or("").trim().to_string()).filter(|p| !p.is_empty());
        out.push((incoming, person));
    }
    Ok(out)
}

/// Writes records with their ID column first (for generated benchmark data).
pub fn write_records(path: &Path, id_column: &str, records: &[(String, LinkRecord)]) -> Result<()> {
    let header: Vec<&str> = std::iter::once(id_column).chain(RECORD_COLUMNS).collect();
    write_csv(create(path)?, &path.display().to_string(), &header, |csv| {
        for (id, r) in records {
            let sex = match r.sex {
                Some(Sex::Male) => "男",
                Some(Sex::Female) => "女",
                None => "",
            };
            let dob = r.birth_date.map(|d| d.format(DATE).unwrap_or_default()).unwrap_or_default();
            csv.write_record([
                id.as_str(),
                &r.name,
                sex,
                &dob,
                r.id_number.as_deref().unwrap_or(""),
                r.community.as_deref().unwrap_or(""),
                r.phone.as_deref().unwrap_or(""),
            ])?;
        }
        Ok(())
    })
}

/// Writes the truth file.
pub fn write_truth(path: &Path, truth: &[(String, Option<String>)]) -> Result<()> {
    write_csv(create(path)?, &path.display().to_string(), &["incoming_id", "person_id"], |csv| {
        for (incoming, person) in truth {
            csv.write_record([incoming.as_str(), person.as_deref().unwrap_or("")])?;
        }
        Ok(())
    })
}

/// Writes `incoming_id,person_id,probability` for each match.
pub fn write_matches(out: impl Write, file: &str, matches: &[(&str, &str, f64)]) -> Result<()> {
    write_csv(out, file, &["incoming_id", "person_id", "probability"], |csv| {
        for (incoming, person, p) in matches {
            csv.write_record([*incoming, *person, &format!("{p:.6}")])?;
        }
        Ok(())
    })
}

fn create(path: &Path) -> Result<std::fs::File> {
    std::fs::File::create(path).map_err(|source| LinkageFileError::Write { file: path.display().to_string(), source })
}

/// A header, the rows `rows` writes, and a flush; any failure named with `file`.
fn write_csv<W: Write>(
    out: W,
    file: &str,
    header: &[&str],
    rows: impl FnOnce(&mut csv::Writer<W>) -> csv::Result<()>,
) -> Result<()> {
    let failed = |e: csv::Error| LinkageFileError::Write { file: file.into(), source: e.into() };
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(header).map_err(failed)?;
    rows(&mut csv).map_err(failed)?;
    csv.flush().map_err(|source| LinkageFileError::Write { file: file.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = (String, LinkRecord)> {
        let text = "[张王李伟芳a-z0-9,\"\n· ]{0,8}";
        (
            "[A-Z0-9]{1,10}",
            text,
            proptest::option::of(prop_oneof![Just(Sex::Male), Just(Sex::Female)]),
            proptest::option::of((1900i32..2030, 1u8..=12, 1u8..=28)),
            proptest::option::of("[0-9X]{1,18}"),
            proptest::option::of("[0-9]{12}"),
            proptest::option::of("[0-9]{11}"),
        )
            .prop_map(|(id, name, sex, dob, id_number, community, phone)| {
                let birth_date =
                    dob.and_then(|(y, m, d)| Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok());
                // The reader trims cells, as a person's spreadsheet needs.
                (id, LinkRecord { name: name.trim().to_string(), sex, birth_date, id_number, community, phone })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// What is written reads back the same, whatever the names hold.
        #[test]
        fn records_round_trip(records in proptest::collection::vec(record(), 0..20)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.csv");
            write_records(&path, "person_id", &records).unwrap();
            prop_assert_eq!(read_records(&path, "person_id").unwrap(), records);
        }

        /// Any bytes give records or an error, never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut text = b"incoming_id,name,sex,dob,id_number,community,phone\n".to_vec();
            text.extend(bytes);
            let _ = read_records_from(text.as_slice(), "i.csv", "incoming_id");
        }
    }

    #[test]
    fn records_read_back_and_bad_cells_are_named() {
        let text = "person_id,name,sex,dob,id_number,community,phone\nP1,张伟,男,1990-01-02,,440307001001,\n";
        let rows = read_records_from(text.as_bytes(), "r.csv", "person_id").unwrap();
        assert_eq!(rows[0].1.name, "张伟");
        assert_eq!(rows[0].1.id_number, None);
        let bad = "person_id,name,sex,dob,id_number,community,phone\nP1,张伟,男,1990-13-02,,,\n";
        let err = read_records_from(bad.as_bytes(), "r.csv", "person_id").unwrap_err().to_string();
        assert!(err.contains("r.csv") && err.contains("第 2 行") && err.contains("dob"), "{err}");
        let header = "id,name\n";
        let err = read_records_from(header.as_bytes(), "r.csv", "person_id").unwrap_err().to_string();
        assert!(err.contains("person_id,name,sex"), "{err}");
    }
}
