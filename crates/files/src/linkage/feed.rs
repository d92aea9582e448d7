//! Department feed files: a kind's columns under Chinese or English headings, in any
//! format and encoding the resident import reads (CSV in UTF-8/GBK/GB18030, xlsx),
//! under the same reading limits; rejected rows go to an error file in the input's
//! format, with the reason named by column.

use std::path::{Path, PathBuf};

use jiceng_domain::linkage::feed::{FeedColumn, FeedKind, FeedRecord, FieldProblem, map_headings, read_record};

use crate::exchange::{FileError, FileFormat, ReadLimits, ResidentFileReader, ResidentFileWriter, TextEncoding};

/// Rows one feed file may hold: a district's month of any kind is a few thousand; a
/// city's year of vaccinations some hundred thousand. The whole batch is linked at
/// once, so it is held in memory.
pub const MAX_FEED_ROWS: u64 = 1_000_000;

/// One row of a feed file: where it is, its cells as received (under the file's
/// headings) and what they say.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRow {
    pub line: u64,
    /// The row's cells paired with the file's headings, as received.
    pub cells: Vec<(String, String)>,
    pub record: Result<FeedRecord, Vec<FieldProblem>>,
}

/// A feed file opened for reading.
pub struct FeedFile {
    pub path: PathBuf,
    pub format: FileFormat,
    pub encoding: Option<TextEncoding>,
    pub headers: Vec<String>,
    kind: FeedKind,
    columns: Vec<Option<FeedColumn>>,
    reader: ResidentFileReader,
}

impl FeedFile {
    /// Opens a feed file of `kind` and checks its headings. Reading blocks: call it off
    /// the async runtime.
    pub fn open(
        path: &Path,
        kind: FeedKind,
        encoding: Option<TextEncoding>,
        limits: ReadLimits,
    ) -> Result<FeedFile, FileError> {
        let limits = ReadLimits { max_rows: limits.max_rows.min(MAX_FEED_ROWS), ..limits };
        let recognised =
            move |cells: &[String]| cells.iter().filter(|c| FeedColumn::of_heading(kind, c).is_some()).count();
        let reader = ResidentFileReader::open_with_header(path, encoding, limits, &recognised)?;
        let columns = map_headings(kind, &reader.headers).map_err(|missing| FileError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "缺少{}的必填列：{} / the {} file lacks the required columns: {}",
                kind.label_zh(),
                missing.iter().map(|c| c.heading(kind, false)).collect::<Vec<_>>().join("、"),
                kind.label_en(),
                missing.iter().map(|c| c.heading(kind, true)).collect::<Vec<_>>().join(", "),
            ),
        })?;
        Ok(FeedFile {
            path: path.to_path_buf(),
            format: reader.format,
            encoding: reader.encoding,
            headers: reader.headers.clone(),
            kind,
            columns,
            reader,
        })
    }

    /// Reads every row (the file is under [`MAX_FEED_ROWS`]).
    pub fn rows(self) -> Result<Vec<FeedRow>, FileError> {
        let FeedFile { kind, columns, headers, reader, .. } = self;
        let mut out = Vec::new();
        for row in reader {
            let row = row?;
            let cells: Vec<(FeedColumn, &str)> =
                columns.iter().zip(&row.cells).filter_map(|(c, text)| c.map(|c| (c, text.as_str()))).collect();
            let record = read_record(kind, &cells);
            let cells = headers.iter().cloned().zip(row.cells.iter().cloned()).collect();
            out.push(FeedRow { line: row.line, cells, record });
        }
        Ok(out)
    }
}

/// The default error file of `input`: `deaths.csv` → `deaths.errors.csv`.
pub fn error_file_of(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "feed".into());
    input.with_file_name(format!("{stem}.errors.{}", FileFormat::of_path(input).extension()))
}

/// Writes the rejected rows of a feed file: their cells under the file's headings, then
/// the line and the reasons.
pub fn write_error_file(
    path: &Path,
    format: FileFormat,
    encoding: Option<TextEncoding>,
    headers: &[String],
    rejected: &[(u64, Vec<String>, String)],
) -> Result<PathBuf, FileError> {
    let mut all = headers.to_vec();
    all.push("错误原因 Error".into());
    let mut writer = ResidentFileWriter::create(path, format, encoding.unwrap_or(TextEncoding::Utf8), &all)?;
    for (line, cells, reason) in rejected {
        let mut row = cells.clone();
        row.resize(headers.len(), String::new());
        row.push(format!("第{line}行 row {line}: {reason}"));
        writer.write_row(&row)?;
    }
    writer.finish()
}

/// A sample file of `kind` (the one in docs/feeds/), Chinese headings, UTF-8 CSV.
pub fn sample(kind: FeedKind) -> String {
    let rows: &[&[&str]] = match kind {
        FeedKind::Marriage => &[&[
            "MZ-2026-0001",
            "2026-11-02",
            "王芳",
            "女",
            "1996-04-12",
            "440307199604120024",
            "13800138001",
            "440307001001",
            "刘洋",
            "440307199301150031",
        ]],
        FeedKind::Divorce => &[&[
            "MZ-2026-0101",
            "2026-11-09",
            "陈静",
            "女",
            "1988-07-01",
            "44030719880701004X",
            "",
            "440307001002",
            "赵磊",
            "",
        ]],
        FeedKind::HukouChange => &[
            &["GA-2026-1001", "迁出", "2026-11-05", "周强", "男", "1990-02-03", "", "", "440307001001", "430700"],
            &["GA-2026-1002", "死亡注销", "2026-11-06", "吴秀英", "女", "1941-09-30", "", "", "", ""],
        ],
        FeedKind::HospitalBirth => &[&[
            "YY-2026-3001",
            "2026-11-08",
            "李娜",
            "1995-02-03",
            "440307199502030028",
            "13900139002",
            "440307001003",
            "男",
            "",
            "深圳市龙岗区人民医院",
        ]],
        FeedKind::Vaccination => &[&[
            "JZ-2026-5001",
            "2026-11-10",
            "孙小雨",
            "女",
            "2026-10-10",
            "",
            "440307001003",
            "孙伟",
            "13700137003",
            "龙城街道社区卫生服务中心接种门诊",
        ]],
        FeedKind::SchoolEntry => &[&[
            "JY-2026-7001",
            "2026-09-01",
            "郑浩",
            "男",
            "2020-05-20",
            "440307202005200019",
            "440307001004",
            "郑军",
            "13600136004",
            "龙岗区实验小学",
        ]],
        FeedKind::Death => &[&["MZ-2026-9001", "2026-11-11", "黄国华", "男", "1938-01-15", "", ""]],
        FeedKind::Residence => &[
            &[
                "JZ-2026-8001",
                "登记居住",
                "2026-11-03",
                "何明",
                "男",
                "1992-06-18",
                "430702199206180016",
                "",
                "",
                "440307",
                "龙城街道爱联社区如意路 12 号",
            ],
            &["JZ-2026-8002", "注销居住", "2026-11-12", "罗丹", "女", "1994-01-09", "", "", "", "440307", ""],
        ],
    };
    let mut out = kind.headings(false).join(",");
    out.push('\n');
    for row in rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// `docs/feeds/README.md`: every kind's columns, Chinese and English headings, whether
/// each is required, and its sample file.
pub fn columns_doc() -> String {
    let mut out = String::from(
        "# 部门通报文件格式 Department feed files\n\n\
         Generated from `FeedKind::columns` (a test checks it is current). A file has one header row \
         with these headings in Chinese or English (the English ones are also the JSON API's keys, \
         `POST /api/feeds/{kind}`), in any order; other columns are ignored. CSV in UTF-8, GBK or \
         GB18030, or xlsx. Dates as YYYY-MM-DD (other usual forms are read too). `record_no` is the \
         department's own number for the record: sending a record with the same number again \
         changes nothing.\n",
    );
    for kind in FeedKind::ALL {
        out.push_str(&format!(
            "\n## {} {} (`{}`)\n\nSample: [`{}.csv`]({}.csv)\n\n| 列 heading | column | 必填 required |\n|---|---|---|\n",
            kind.label_zh(),
            kind.label_en(),
            kind.key(),
            kind.key(),
            kind.key()
        ));
        for (column, required) in kind.columns() {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                column.heading(*kind, false),
                column.heading(*kind, true),
                if *required { "是 yes" } else { "" }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_in_docs_are_current_and_read_without_problems() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds");
        for kind in FeedKind::ALL {
            let path = docs.join(format!("{}.csv", kind.key()));
            // `JICENG_BLESS=1` rewrites them after a change of columns.
            if std::env::var_os("JICENG_BLESS").is_some() {
                std::fs::write(&path, sample(*kind)).unwrap();
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(text, sample(*kind), "{} is out of date: write sample({kind:?}) there", path.display());
            let rows = FeedFile::open(&path, *kind, None, ReadLimits::default()).unwrap().rows().unwrap();
            assert!(!rows.is_empty());
            for row in rows {
                assert!(row.record.is_ok(), "{kind:?} line {}: {:?}", row.line, row.record);
            }
        }
    }

    #[test]
    fn the_column_document_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds/README.md");
        if std::env::var_os("JICENG_BLESS").is_some() {
            std::fs::write(&path, columns_doc()).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, columns_doc(), "{} is out of date: run the test with JICENG_BLESS=1", path.display());
    }

    #[test]
    fn english_headings_a_gbk_file_and_an_error_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deaths.csv");
        let text = "record_no,died_on,name,sex,dob,id_number,community\nD1,2026-11-01,张三,男,1950-01-01,,\nD2,昨天,李四,男,,,\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        std::fs::write(&path, &gbk).unwrap();
        let file = FeedFile::open(&path, FeedKind::Death, None, ReadLimits::default()).unwrap();
        let (format, encoding, headers) = (file.format, file.encoding, file.headers.clone());
        let rows = file.rows().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].record.as_ref().unwrap().name, "张三");
        let problems = rows[1].record.as_ref().unwrap_err();
        assert_eq!(problems[0].column, Some(FeedColumn::OccurredOn));
        let rejected = vec![(rows[1].line, rows[1].cells.iter().map(|(_, c)| c.clone()).collect(), "x".to_string())];
        let out = write_error_file(&error_file_of(&path), format, encoding, &headers, &rejected).unwrap();
        let bytes = std::fs::read(out).unwrap();
        let (back, _, _) = encoding_rs::GBK.decode(&bytes);
        assert!(back.contains("李四") && back.contains("第3行 row 3"), "{back}");
    }

    #[test]
    fn a_file_without_a_required_column_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("births.csv");
        std::fs::write(&path, "记录编号,产妇姓名,分娩日期\nB1,李娜,2026-11-01\n").unwrap();
        let Err(e) = FeedFile::open(&path, FeedKind::HospitalBirth, None, ReadLimits::default()) else {
            panic!("opened")
        };
        let message = e.to_string();
        assert!(
            message.contains("婴儿性别") && message.contains("baby_sex") && message.contains("births.csv"),
            "{message}"
        );
    }
}
