//! The half-yearly reconciliation with a partner as a workbook: one row per person,
//! differences first, with what each side knows of them.

use jiceng_domain::exchange::reconciliation::{Listed, Reconciled};

use crate::FilesError;

/// The reconciliation as an .xlsx workbook; `title` names the two sides.
pub fn reconciliation_xlsx(title: &str, rows: &[Reconciled]) -> Result<Vec<u8>, FilesError> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| FilesError::Workbook {
        what: "对账表 / the reconciliation workbook",
        source: e,
    };
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("对账 Reconciliation").map_err(e)?;
    let bold = Format::new().set_bold();
    sheet.write_string_with_format(0, 0, title, &bold).map_err(e)?;
    let headers = [
        "情况 Difference",
        "姓名 Name",
        "性别 Sex",
        "出生日期 Date of birth",
        "公民身份号码 ID number",
        "本方所知住址 Where we believe",
        "对方名单住址 Where the partner lists",
        "本方登记 In our registry",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *h, &bold).map_err(e)?;
        sheet.set_column_width(col as u16, if col == 0 { 26.0 } else { 18.0 }).map_err(e)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        let Some(p) = r.person() else { continue };
        let place = |l: &Option<Listed>| l.as_ref().and_then(|l| l.place.clone()).unwrap_or_default();
        let registered = r.ours.as_ref().or(r.theirs.as_ref()).and_then(|l| l.resident_id).is_some();
        let cells = [
            format!("{} {}", r.difference.label_zh(), r.difference.label_en()),
            p.name.clone(),
            p.sex.map(|s| s.label_zh().to_string()).unwrap_or_default(),
            p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            p.id_number.clone().unwrap_or_default(),
            place(&r.ours),
            place(&r.theirs),
            if registered { "是 yes".into() } else { "未找到 not found".into() },
        ];
        for (col, text) in cells.iter().enumerate() {
            // Text cells: a value people typed is never read as a formula.
            sheet.write_string(row, col as u16, text).map_err(e)?;
        }
    }
    book.save_to_buffer().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiceng_domain::exchange::reconciliation::reconcile;

    #[test]
    fn the_workbook_has_a_row_per_person() {
        let p = |name: &str, id: &str| Listed {
            name: name.into(),
            sex: None,
            birth_date: None,
            id_number: Some(id.into()),
            place: Some("440307003002".into()),
            resident_id: None,
        };
        let rows = reconcile(vec![p("何明", "1"), p("=cmd()", "2")], vec![p("何明", "1")]);
        let bytes = reconciliation_xlsx("440307 ↔ 430702", &rows).unwrap();
        assert!(bytes.starts_with(b"PK"));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut sheet).unwrap();
        assert!(!sheet.contains("<f>"), "no formulas: {sheet}");
    }
}
