//! Landlords' and employers' sheets (谁出租谁负责，谁用工谁负责): each row read into a
//! line, or every problem with it by row and field.

use std::path::Path;

use jiceng_domain::fieldwork::{PartyField, RowProblem, SheetLine, read_line};
use time::Date;

use crate::exchange::{FileError, ReadLimits, ResidentFileReader};

/// Reads a party's sheet (CSV in UTF-8/GBK/GB18030 or a workbook): each row's line or its
/// problems. Headers: 类型, 姓名, 公民身份号码, 日期 (required), 联系电话, 房号, 民族.
pub fn read_party_file(path: &Path, today: Date, limits: ReadLimits) -> Result<Vec<(u64, SheetLine)>, FileError> {
    let reader = ResidentFileReader::open_with(path, None, limits)?;
    let fields: Vec<Option<PartyField>> = reader.headers.iter().map(|h| PartyField::from_header(h)).collect();
    for required in [PartyField::Movement, PartyField::Name, PartyField::IdNumber, PartyField::Date] {
        if !fields.contains(&Some(required)) {
            return Err(FileError::Row {
                path: path.to_path_buf(),
                line: 1,
                message: format!("缺少“{}”列 / the column '{}' is missing", required.label_zh(), required.label_en()),
            });
        }
    }
    let mut out = Vec::new();
    for row in reader {
        let row = row?;
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells: Vec<(PartyField, &str)> =
            fields.iter().zip(&row.cells).filter_map(|(f, v)| f.map(|f| (f, v.as_str()))).collect();
        let line = read_line(&cells, today).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| RowProblem { row: row.line, field: Some(p.field), message: p.message })
                .collect()
        });
        out.push((row.line, line));
    }
    Ok(out)
}
