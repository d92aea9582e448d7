//! Hostile files: each reader must refuse them with the file named and the limit stated,
//! without panicking and without allocating what the file declares.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::{FileError, Limit, ReadLimits, ResidentFileReader};

fn workbook(dir: &Path, name: &str, fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> PathBuf {
    let path = dir.join(name);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "姓名").unwrap();
    sheet.write_string(0, 1, "公民身份号码").unwrap();
    sheet.write_string(1, 0, "张三").unwrap();
    sheet.write_string(1, 1, "440307199001011234").unwrap();
    fill(sheet);
    book.save(&path).unwrap();
    path
}

/// Reads every row; the first error, if any.
fn read_all(path: &Path, limits: ReadLimits) -> Result<usize, FileError> {
    let reader = ResidentFileReader::open_with(path, None, limits)?;
    let mut rows = 0;
    for row in reader {
        row?;
        rows += 1;
    }
    Ok(rows)
}

fn limit_of(error: &FileError) -> Option<Limit> {
    match error {
        FileError::TooLarge { limit, .. } => Some(*limit),
        _ => None,
    }
}

#[test]
fn a_sheet_declaring_a1_to_xfd1048576_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    // The 1.6 KB workbook of the review: two cells, A1 and XFD1048576. A reader that
    // allocates the declared range asks for 512 GiB and aborts the process.
    let path = workbook(dir.path(), "bomb.xlsx", |sheet| {
        sheet.write_string(1_048_575, 16_383, "x").unwrap();
    });
    assert!(std::fs::metadata(&path).unwrap().len() < 10_000);
    let error = read_all(&path, ReadLimits::default()).unwrap_err();
    assert_eq!(limit_of(&error), Some(Limit::Columns(64)), "{error}");
    let text = error.to_string();
    assert!(text.contains("bomb.xlsx") && text.contains("第1048576行") && text.contains("64"), "{text}");
}

#[test]
fn a_sheet_whose_last_row_is_far_down_reads_its_few_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "far.xlsx", |sheet| {
        sheet.write_string(1_048_575, 1, "440307199001011234").unwrap();
    });
    assert_eq!(read_all(&path, ReadLimits::default()).unwrap(), 2);
}

#[test]
fn unpacked_bytes_are_counted_whatever_the_zip_declares() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "big.xlsx", |sheet| {
        for row in 2..20_000u32 {
            sheet.write_number(row, 0, f64::from(row)).unwrap();
            sheet.write_number(row, 1, f64::from(row) * 3.0).unwrap();
        }
    });
    let limits = ReadLimits { max_unpacked_bytes: 200_000, ..ReadLimits::default() };
    let error = read_all(&path, limits).unwrap_err();
    assert_eq!(limit_of(&error), Some(Limit::UnpackedBytes(200_000)), "{error}");
    assert!(error.to_string().contains("big.xlsx"));
    // Within the limit, the same file reads whole.
    assert_eq!(read_all(&path, ReadLimits::default()).unwrap(), 19_999);
}

#[test]
fn rows_cells_and_shared_strings_have_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "rows.xlsx", |sheet| {
        for row in 2..500u32 {
            sheet.write_string(row, 0, format!("名字{row}")).unwrap();
            sheet.write_string(row, 1, format!("{row:018}")).unwrap();
        }
    });
    let rows = read_all(&path, ReadLimits { max_rows: 100, ..ReadLimits::default() }).unwrap_err();
    assert_eq!(limit_of(&rows), Some(Limit::Rows(100)), "{rows}");
    let cells = read_all(&path, ReadLimits { max_cells: 300, ..ReadLimits::default() }).unwrap_err();
    assert_eq!(limit_of(&cells), Some(Limit::Cells(300)), "{cells}");
    let strings = read_all(&path, ReadLimits { max_shared_strings_bytes: 4_000, ..ReadLimits::default() });
    assert_eq!(limit_of(&strings.unwrap_err()), Some(Limit::SharedStringsBytes(4_000)));
}

/// Cells that all point at one long shared string cannot make a row larger than the
/// row limit.
#[test]
fn shared_strings_repeated_across_a_row_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let long = "长".repeat(10_000);
    let path = workbook(dir.path(), "repeat.xlsx", |sheet| {
        for col in 0..40u16 {
            sheet.write_string(2, col, &long).unwrap();
        }
    });
    let error = read_all(&path, ReadLimits::default()).unwrap_err();
    assert_eq!(limit_of(&error), Some(Limit::RowBytes(64 << 10)), "{error}");
}

/// A comment full of `<` is one XML event however long it is: it is bounded too.
#[test]
fn a_long_comment_in_the_sheet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = workbook(dir.path(), "base.xlsx", |_| {});
    let path = dir.path().join("comment.xlsx");
    let comment = format!("<!--{}-->", "<>".repeat(400_000));
    replace_sheet(&good, &path, &format!("<worksheet><sheetData>{comment}</sheetData></worksheet>"));
    let error = read_all(&path, ReadLimits::default()).unwrap_err();
    assert_eq!(limit_of(&error), Some(Limit::CellBytes(32 << 10)), "{error}");
}

#[test]
fn a_huge_cell_in_a_workbook_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "cell.xlsx", |sheet| {
        sheet.write_string(2, 0, "长".repeat(20_000)).unwrap();
    });
    let error = read_all(&path, ReadLimits { max_cell_bytes: 1 << 10, ..ReadLimits::default() }).unwrap_err();
    assert_eq!(limit_of(&error), Some(Limit::CellBytes(1 << 10)), "{error}");
}

/// Excel writes no cell for an empty one, trailing ones included: such rows read as wide
/// as the header (the streaming reader first read them as short rows and refused 8 % of
/// a 200,000-row workbook).
#[test]
fn empty_trailing_cells_of_a_workbook_row_read_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "trailing.xlsx", |sheet| {
        sheet.write_string(0, 2, "联系电话").unwrap();
        sheet.write_string(1, 2, "13800001111").unwrap();
        sheet.write_string(2, 0, "李四").unwrap();
    });
    let rows: Vec<Vec<String>> = ResidentFileReader::open(&path, None).unwrap().map(|r| r.unwrap().cells).collect();
    assert_eq!(rows, vec![vec!["张三", "440307199001011234", "13800001111"], vec!["李四", "", ""]]);
}

#[test]
fn formula_cells_read_as_the_value_saved_never_the_formula() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path(), "formula.xlsx", |sheet| {
        let formula = rust_xlsxwriter::Formula::new("=HYPERLINK(\"http://evil.example\",\"王五\")").set_result("王五");
        sheet.write_formula(2, 0, formula).unwrap();
        sheet.write_string(2, 1, "440307199001011234").unwrap();
    });
    let reader = ResidentFileReader::open(&path, None).unwrap();
    let rows: Vec<_> = reader.map(|r| r.unwrap().cells).collect();
    assert_eq!(rows[1][0], "王五");
}

#[test]
fn broken_and_truncated_workbooks_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = workbook(dir.path(), "good.xlsx", |_| {});
    let bytes = std::fs::read(&good).unwrap();
    for (name, content) in [
        ("truncated.xlsx", bytes[..bytes.len() / 2].to_vec()),
        ("not-a-zip.xlsx", b"this is no workbook".to_vec()),
        ("empty.xlsx", Vec::new()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let error = read_all(&path, ReadLimits::default()).unwrap_err().to_string();
        assert!(error.contains(name), "{error}");
    }
    // Bytes flipped inside the compressed sheet: a clear error, never a panic.
    let mut flipped = bytes.clone();
    for i in (bytes.len() / 3..bytes.len() / 2).step_by(7) {
        flipped[i] ^= 0x5A;
    }
    let path = dir.path().join("flipped.xlsx");
    std::fs::write(&path, flipped).unwrap();
    let _ = read_all(&path, ReadLimits::default());
}

#[test]
fn old_workbook_formats_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.xls");
    std::fs::write(&path, b"\xD0\xCF\x11\xE0").unwrap();
    let error = read_all(&path, ReadLimits::default()).unwrap_err().to_string();
    assert!(error.contains("old.xls") && error.contains(".xlsx"), "{error}");
}

#[test]
fn csv_with_nul_huge_cells_or_many_columns_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let header = "姓名,公民身份号码\n";
    let cases: Vec<(&str, String, Option<Limit>)> = vec![
        ("nul.csv", format!("{header}张\0三,440307199001011234\n"), None),
        ("cell.csv", format!("{header}{},440307199001011234\n", "长".repeat(14_000)), Some(Limit::CellBytes(32 << 10))),
        ("row.csv", format!("{header}{},440307199001011234\n", "长".repeat(400_000)), Some(Limit::RowBytes(64 << 10))),
        ("quoted.csv", format!("{header}\"{}\",1\n", "a\n".repeat(3_000_000)), Some(Limit::RowBytes(64 << 10))),
        ("columns.csv", format!("{header}张三{}\n", ",x".repeat(50_000)), Some(Limit::Columns(64))),
    ];
    for (name, content, limit) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let error = read_all(&path, ReadLimits::default()).unwrap_err();
        assert_eq!(limit_of(&error), limit, "{name}: {error}");
        let text = error.to_string();
        assert!(text.contains(name) && text.contains("row"), "{text}");
    }
}

/// A header row of a million commas, or a record of a million empty fields, costs
/// nothing: the header ends at its last name, empty cells past the last column go.
#[test]
fn csv_with_a_million_empty_fields_is_cut_to_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commas.csv");
    let commas = ",".repeat(60_000);
    std::fs::write(&path, format!("姓名,公民身份号码{commas}\n张三,440307199001011234{commas}\n")).unwrap();
    let reader = ResidentFileReader::open(&path, None).unwrap();
    assert_eq!(reader.headers.len(), 2);
    let rows: Vec<Vec<String>> = reader.map(|r| r.unwrap().cells).collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].len() <= 64, "{}", rows[0].len());
}

#[test]
fn csv_in_mixed_encodings_is_an_error_with_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.csv");
    let mut bytes = "姓名,公民身份号码\n张三,440307199001011234\n".repeat(40_000).into_bytes();
    let (gbk, _, _) = encoding_rs::GBK.encode("李四,440307199001011234\n");
    bytes.extend_from_slice(&gbk);
    std::fs::write(&path, bytes).unwrap();
    let error = read_all(&path, ReadLimits::default()).unwrap_err().to_string();
    assert!(error.contains("mixed.csv") && error.contains("encoding"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_any_reader(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let limits = ReadLimits { max_unpacked_bytes: 1 << 20, max_cells: 10_000, ..ReadLimits::default() };
        for name in ["any.csv", "any.xlsx"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            if let Err(e) = read_all(&path, limits) {
                prop_assert!(e.to_string().contains(name));
            }
            let _ = crate::fieldwork::read_party_file(&path, time::macros::date!(2026 - 12 - 01), limits);
        }
    }

    #[test]
    fn a_workbook_with_arbitrary_sheet_xml_never_panics(xml in "[<>a-z/=\" 0-9&;#x_]{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        let good = workbook(dir.path(), "base.xlsx", |_| {});
        let path = dir.path().join("xml.xlsx");
        replace_sheet(&good, &path, &format!("<worksheet><sheetData>{xml}</sheetData></worksheet>"));
        let _ = read_all(&path, ReadLimits::default());
    }
}

/// A copy of `from` whose first sheet's XML is `sheet`.
fn replace_sheet(from: &Path, to: &Path, sheet: &str) {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            out.write_all(sheet.as_bytes()).unwrap();
        } else {
            out.write_all(&content).unwrap();
        }
    }
    out.finish().unwrap();
}
