//! Report files: a formatted workbook laid out the way Chinese statistical tables are
//! (title, reporting unit, unit of measure, filled-by and date), CSV, and DHIS2's
//! dataValueSets JSON and ADX XML so a DHIS2 instance can take the aggregates.

use jiceng_domain::reporting::{Figure, INDICATORS, Period, PeriodReport};
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};
use time::Date;

use crate::FilesError;
use crate::exchange::csv_cell;

/// Who and what a printed table names besides the figures.
#[derive(Debug, Clone)]
pub struct ReportHeading {
    pub node_name: String,
    pub filled_by: String,
    pub filled_on: Date,
    /// "已审核 approved by …" or "未审核 not approved".
    pub approval: String,
}

fn period_word(period: Period) -> &'static str {
    match period {
        Period::Month(_) => "月报",
        Period::Quarter { .. } => "季报",
        Period::Year(_) => "年报",
    }
}

fn value_text(f: Figure) -> String {
    match f {
        Figure::Count(n) => n.to_string(),
        Figure::Rate(Some(r)) => format!("{r:.2}"),
        Figure::Rate(None) => String::new(),
    }
}

fn workbook_error(e: rust_xlsxwriter::XlsxError) -> FilesError {
    FilesError::Workbook { what: "报表文件 / the report workbook", source: e }
}

/// The report as a formatted .xlsx workbook.
pub fn report_xlsx(report: &PeriodReport, heading: &ReportHeading) -> Result<Vec<u8>, FilesError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(period_word(report.period)).map_err(workbook_error)?;
    let title = Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center);
    let plain = Format::new();
    let header = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_background_color("#DDEBF7");
    let cell = Format::new().set_border(FormatBorder::Thin);
    let number = Format::new().set_border(FormatBorder::Thin).set_align(FormatAlign::Right);
    let rate = Format::new().set_border(FormatBorder::Thin).set_num_format("0.00");
    sheet.set_column_width(0, 34).map_err(workbook_error)?;
    sheet.set_column_width(1, 40).map_err(workbook_error)?;
    sheet.set_column_width(2, 24).map_err(workbook_error)?;
    sheet.set_column_width(3, 14).map_err(workbook_error)?;
    let title_text =
        format!("{}人口变动统计{}（{}）", heading.node_name, period_word(report.period), report.period.label_zh());
    sheet.merge_range(0, 0, 0, 3, &title_text, &title).map_err(workbook_error)?;
    sheet
        .write_string_with_format(
            1,
            0,
            format!("填报单位 Reporting unit：{}（{}）", heading.node_name, report.node),
            &plain,
        )
        .map_err(workbook_error)?;
    sheet
        .write_string_with_format(1, 2, "计量单位：人、户、‰、% / persons, households, ‰, %", &plain)
        .map_err(workbook_error)?;
    for (col, text) in ["指标", "Indicator", "代码 Code", "数值 Value"].iter().enumerate() {
        sheet.write_string_with_format(3, col as u16, *text, &header).map_err(workbook_error)?;
    }
    let mut row = 4;
    for (name, zh, en) in INDICATORS {
        sheet.write_string_with_format(row, 0, *zh, &cell).map_err(workbook_error)?;
        sheet.write_string_with_format(row, 1, *en, &cell).map_err(workbook_error)?;
        sheet.write_string_with_format(row, 2, *name, &cell).map_err(workbook_error)?;
        match report.figure(name) {
            Figure::Count(n) => sheet.write_number_with_format(row, 3, n as f64, &number),
            Figure::Rate(Some(r)) => sheet.write_number_with_format(row, 3, r, &rate),
            Figure::Rate(None) => sheet.write_string_with_format(row, 3, "—", &number),
        }
        .map_err(workbook_error)?;
        row += 1;
    }
    let migration = report.migration_by_province();
    if !migration.is_empty() {
        row += 1;
        for (col, text) in
            ["迁入迁出按省份 Moves by province", "省级代码 Province", "迁入 In", "迁出 Out"].iter().enumerate()
        {
            sheet.write_string_with_format(row, col as u16, *text, &header).map_err(workbook_error)?;
        }
        row += 1;
        for (province, moves_in, moves_out) in migration {
            sheet.write_string_with_format(row, 0, "", &cell).map_err(workbook_error)?;
            sheet.write_string_with_format(row, 1, &province, &cell).map_err(workbook_error)?;
            sheet.write_number_with_format(row, 2, moves_in as f64, &number).map_err(workbook_error)?;
            sheet.write_number_with_format(row, 3, moves_out as f64, &number).map_err(workbook_error)?;
            row += 1;
        }
    }
    row += 1;
    sheet
        .write_string_with_format(row, 0, format!("填表人 Filled by：{}", heading.filled_by), &plain)
        .map_err(workbook_error)?;
    sheet
        .write_string_with_format(row, 1, format!("填报日期 Date：{}", heading.filled_on), &plain)
        .map_err(workbook_error)?;
    sheet.write_string_with_format(row, 2, &heading.approval, &plain).map_err(workbook_error)?;
    workbook.save_to_buffer().map_err(workbook_error)
}

/// The report as CSV (UTF-8 with a BOM so Excel opens it): indicator, labels, value.
pub fn report_csv(report: &PeriodReport) -> Result<Vec<u8>, FilesError> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut csv = csv::Writer::from_writer(&mut out);
        let io = |e: csv::Error| FilesError::Csv(e.to_string());
        csv.write_record(["区划代码 node", "统计期 period", "指标 indicator", "名称", "name", "数值 value"])
            .map_err(io)?;
        let node = report.node.as_str().to_string();
        let period = report.period.to_string();
        for (name, zh, en) in INDICATORS {
            let value = value_text(report.figure(name));
            let row = [node.as_str(), period.as_str(), name, zh, en, value.as_str()];
            csv.write_record(row.iter().map(|c| csv_cell(c))).map_err(io)?;
        }
        for (province, moves_in, moves_out) in report.migration_by_province() {
            for (key, n) in
                [(format!("moves_in.from.{province}"), moves_in), (format!("moves_out.to.{province}"), moves_out)]
            {
                csv.write_record([node.as_str(), period.as_str(), key.as_str(), "", "", n.to_string().as_str()])
                    .map_err(io)?;
            }
        }
        csv.flush().map_err(|e| FilesError::Csv(e.to_string()))?;
    }
    Ok(out)
}

/// The DHIS2 data element code for an indicator (`births.male` → `JICENG_BIRTHS_MALE`).
/// DHIS2 imports it with `dataElementIdScheme=CODE&orgUnitIdScheme=CODE`, the org units
/// carrying the statistical division codes as their codes.
pub fn dhis2_code(indicator: &str) -> String {
    format!("JICENG_{}", indicator.to_ascii_uppercase().replace('.', "_"))
}

fn dhis2_values(report: &PeriodReport) -> impl Iterator<Item = (String, String)> + '_ {
    INDICATORS.iter().filter_map(|(name, _, _)| {
        let value = value_text(report.figure(name));
        (!value.is_empty()).then(|| (dhis2_code(name), value))
    })
}

/// DHIS2 dataValueSets JSON for one or more node reports.
pub fn dhis2_data_value_set(reports: &[PeriodReport]) -> serde_json::Value {
    let values: Vec<serde_json::Value> = reports
        .iter()
        .flat_map(|r| {
            dhis2_values(r).map(move |(code, value)| {
                serde_json::json!({
                    "dataElement": code,
                    "period": r.period.dhis2_id(),
                    "orgUnit": r.node.as_str(),
                    "value": value,
                })
            })
        })
        .collect();
    serde_json::json!({ "dataSet": "JICENG_POPULATION", "dataValues": values })
}

/// ADX (IHE QRPH aggregate data exchange) XML for one or more node reports.
pub fn adx_xml(reports: &[PeriodReport]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<adx xmlns=\"urn:ihe:qrph:adx:2015\">\n");
    for r in reports {
        let duration = match r.period {
            Period::Month(_) => "P1M",
            Period::Quarter { .. } => "P3M",
            Period::Year(_) => "P1Y",
        };
        xml.push_str(&format!(
            "  <group dataSet=\"JICENG_POPULATION\" orgUnit=\"{}\" period=\"{}/{duration}\">\n",
            r.node,
            r.period.first_day()
        ));
        for (code, value) in dhis2_values(r) {
            xml.push_str(&format!("    <dataValue dataElement=\"{code}\" value=\"{value}\"/>\n"));
        }
        xml.push_str("  </group>\n");
    }
    xml.push_str("</adx>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiceng_domain::org::DivisionCode;
    use jiceng_domain::reporting::{Cells, Month};

    fn report() -> PeriodReport {
        let mut flows = Cells::new();
        flows.insert("births.male".into(), 3);
        flows.insert("births.female".into(), 2);
        let mut end = Cells::new();
        end.insert("population.registered.male".into(), 1000);
        PeriodReport::from_cells(
            DivisionCode::parse("440307").unwrap(),
            Period::Month(Month::new(2026, 10).unwrap()),
            &end,
            &flows,
            &end,
        )
    }

    #[test]
    fn dhis2_and_adx_carry_codes_periods_and_values() {
        let json = dhis2_data_value_set(&[report()]);
        let values = json["dataValues"].as_array().unwrap();
        let births = values.iter().find(|v| v["dataElement"] == "JICENG_BIRTHS").unwrap();
        assert_eq!(births["period"], "202610");
        assert_eq!(births["orgUnit"], "440307");
        assert_eq!(births["value"], "5");
        // Undefined rates (no girls… here defined; timeliness has no events) are left out.
        assert!(values.iter().all(|v| v["dataElement"] != "JICENG_TIMELINESS_RATE"));
        let adx = adx_xml(&[report()]);
        assert!(adx.contains("period=\"2026-10-01/P1M\""), "{adx}");
        assert!(adx.contains("<dataValue dataElement=\"JICENG_BIRTHS_MALE\" value=\"3\"/>"), "{adx}");
    }

    #[test]
    fn workbook_and_csv_are_written() {
        let heading = ReportHeading {
            node_name: "龙岗区".into(),
            filled_by: "admin".into(),
            filled_on: Date::from_calendar_date(2026, time::Month::November, 3).unwrap(),
            approval: "未审核 not approved".into(),
        };
        let bytes = report_xlsx(&report(), &heading).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let csv = String::from_utf8(report_csv(&report()).unwrap()).unwrap();
        assert!(csv.contains("440307,2026-10,births,出生,births,5"), "{csv}");
    }
}
