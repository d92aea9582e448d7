//! 四不漏 coverage as a workbook for the people who answer for it.

use jiceng_domain::fieldwork::coverage::{Coverage, CoverageCounts, CoverageGaps};

use crate::FilesError;

/// The coverage report as a workbook: totals, streets, communities and the grid ranking;
/// for a community also the floors and households not reached, each with its worker.
pub fn coverage_xlsx(c: &Coverage, gaps: Option<&CoverageGaps>) -> Result<Vec<u8>, FilesError> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| FilesError::Workbook {
        what: "覆盖率表 / the coverage workbook",
        source: e,
    };
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("四不漏").map_err(e)?;
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    sheet
        .write_string_with_format(0, 0, format!("{} {} 四不漏覆盖情况 / coverage", c.node, c.month), &bold)
        .map_err(e)?;
    let headers = [
        "层级 Level",
        "区划或网格 Area",
        "责任人 Responsible",
        "楼栋 Buildings",
        "已走访 Walked",
        "楼层 Floors",
        "已走访 Walked",
        "户 Households",
        "已覆盖 Covered",
        "人 Residents",
        "已核实 Verified",
        "核实率 Share",
    ];
    header_row(sheet, 2, &headers, 14.0, &bold).map_err(e)?;
    let mut row = 3u32;
    let mut write = |level: &str, name: &str, who: Option<&str>, k: &CoverageCounts| -> Result<(), FilesError> {
        sheet.write_string(row, 0, level).map_err(e)?;
        sheet.write_string(row, 1, name).map_err(e)?;
        sheet.write_string(row, 2, who.unwrap_or("无 nobody")).map_err(e)?;
        for (col, v) in [
            k.buildings,
            k.buildings_walked,
            k.floors,
            k.floors_walked,
            k.households,
            k.households_covered,
            k.residents,
            k.residents_verified,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_number(row, 3 + col as u16, v as f64).map_err(e)?;
        }
        if let Some(s) = k.resident_share() {
            sheet.write_number_with_format(row, 11, s / 100.0, &percent).map_err(e)?;
        }
        row += 1;
        Ok(())
    };
    write("合计 Total", &c.node, None, &c.totals)?;
    for (code, who, k) in &c.streets {
        write("街道 Street", code, who.as_deref(), k)?;
    }
    for (code, who, k) in &c.communities {
        write("社区 Community", code, who.as_deref(), k)?;
    }
    for g in &c.grids {
        write("网格 Grid", &format!("{} {}", g.community, g.name), g.responsible.as_deref(), &g.counts)?;
    }
    if let Some(gaps) = gaps {
        let nobody = "无 nobody";
        let sheet = book.add_worksheet();
        sheet.set_name("未走访楼层").map_err(e)?;
        let headers = [
            "网格 Grid",
            "楼栋 Building",
            "整栋未走访 Building not walked",
            "楼层 Floor",
            "户 Households",
            "人 Residents",
            "责任人 Responsible",
        ];
        header_row(sheet, 0, &headers, 16.0, &bold).map_err(e)?;
        for (i, f) in gaps.floors.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &f.grid).map_err(e)?;
            sheet.write_string(row, 1, &f.building).map_err(e)?;
            sheet.write_string(row, 2, if f.building_not_walked { "是 yes" } else { "" }).map_err(e)?;
            sheet.write_number(row, 3, f64::from(f.floor_no)).map_err(e)?;
            sheet.write_number(row, 4, f.households as f64).map_err(e)?;
            sheet.write_number(row, 5, f.residents as f64).map_err(e)?;
            sheet.write_string(row, 6, f.responsible.as_deref().unwrap_or(nobody)).map_err(e)?;
        }
        let sheet = book.add_worksheet();
        sheet.set_name("未覆盖户").map_err(e)?;
        let headers = [
            "户编号 Household no.",
            "网格 Grid",
            "楼栋 Building",
            "单元 Unit",
            "楼层 Floor",
            "房号 Room",
            "人 Residents",
            "责任人 Responsible",
        ];
        header_row(sheet, 0, &headers, 16.0, &bold).map_err(e)?;
        for (i, h) in gaps.households.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &h.household_no).map_err(e)?;
            sheet.write_string(row, 1, &h.grid).map_err(e)?;
            sheet.write_string(row, 2, &h.building).map_err(e)?;
            sheet.write_number(row, 3, f64::from(h.unit_no)).map_err(e)?;
            sheet.write_number(row, 4, f64::from(h.floor_no)).map_err(e)?;
            sheet.write_string(row, 5, &h.room_no).map_err(e)?;
            sheet.write_number(row, 6, h.residents as f64).map_err(e)?;
            sheet.write_string(row, 7, h.responsible.as_deref().unwrap_or(nobody)).map_err(e)?;
        }
    }
    book.save_to_buffer().map_err(e)
}

/// Writes `headers` in bold across `row` and gives each column `width`.
fn header_row(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    headers: &[&str],
    width: f64,
    bold: &rust_xlsxwriter::Format,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    for (i, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(row, i as u16, *h, bold)?;
        sheet.set_column_width(i as u16, width)?;
    }
    Ok(())
}
