//! The national statistical division codes (2023), shipped inside the binary so that
//! jiceng needs no files at run time. Source: `data/divisions-2023/` (zstd CSV).

use std::io::Read;

use jiceng_domain::org::{DivisionCode, DivisionLevel};

use crate::error::{StoreError, StoreResult};

const PROVINCES: &[u8] = include_bytes!("../../../../data/divisions-2023/provinces.csv.zst");
const CITIES: &[u8] = include_bytes!("../../../../data/divisions-2023/cities.csv.zst");
const COUNTIES: &[u8] = include_bytes!("../../../../data/divisions-2023/areas.csv.zst");
const TOWNS: &[u8] = include_bytes!("../../../../data/divisions-2023/streets.csv.zst");
const VILLAGES: &[u8] = include_bytes!("../../../../data/divisions-2023/villages.csv.zst");

/// One row of the reference data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceDivision {
    pub code: DivisionCode,
    pub name: String,
}

fn file_of(level: DivisionLevel) -> (&'static str, &'static [u8]) {
    match level {
        DivisionLevel::Province => ("provinces.csv", PROVINCES),
        DivisionLevel::City => ("cities.csv", CITIES),
        DivisionLevel::County => ("areas.csv", COUNTIES),
        DivisionLevel::Town => ("streets.csv", TOWNS),
        DivisionLevel::Village => ("villages.csv", VILLAGES),
    }
}

/// The decompressed CSV text of one level, exactly as shipped (for checksums).
pub fn raw_csv(level: DivisionLevel) -> StoreResult<Vec<u8>> {
    let (file, bytes) = file_of(level);
    let mut out = Vec::new();
    zstd::Decoder::new(bytes)
        .and_then(|mut d| d.read_to_end(&mut out))
        .map_err(|e| StoreError::DivisionData(format!("{file}: {e}")))?;
    Ok(out)
}

/// Reads every division of `level` that `keep` accepts, in file order.
pub fn read_level(
    level: DivisionLevel,
    mut keep: impl FnMut(&DivisionCode) -> bool,
) -> StoreResult<Vec<ReferenceDivision>> {
    let (file, bytes) = file_of(level);
    let decoder = zstd::Decoder::new(bytes).map_err(|e| StoreError::DivisionData(format!("{file}: {e}")))?;
    let mut reader = csv::Reader::from_reader(decoder);
    let mut out = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 2; // the header is line 1
        let record = record.map_err(|e| StoreError::DivisionData(format!("{file} 第{row}行 / row {row}: {e}")))?;
        let (Some(code), Some(name)) = (record.get(0), record.get(1)) else {
            return Err(StoreError::DivisionData(format!(
                "{file} 第{row}行缺少字段 / row {row}: missing code or name"
            )));
        };
        let code = DivisionCode::parse(code)
            .map_err(|e| StoreError::DivisionData(format!("{file} 第{row}行 code / row {row} field code: {e}")))?;
        if code.level() != level {
            return Err(StoreError::DivisionData(format!(
                "{file} 第{row}行代码层级不符 / row {row}: code {code} is not at level {level:?}"
            )));
        }
        if keep(&code) {
            out.push(ReferenceDivision { code, name: name.to_string() });
        }
    }
    Ok(out)
}

/// Every county-level division in the country.
pub fn counties() -> StoreResult<Vec<ReferenceDivision>> {
    read_level(DivisionLevel::County, |_| true)
}

/// The codes of the counties under `node` (a province or a city), from the shipped
/// division data, read once: what `county_code IN (…)` names above county level.
pub fn counties_under(node: &DivisionCode) -> Vec<String> {
    static COUNTIES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = COUNTIES.get_or_init(|| match counties() {
        Ok(list) => list.into_iter().map(|d| d.code.as_str().to_string()).collect(),
        Err(e) => {
            tracing::error!(error = %e, "the shipped county list could not be read");
            Vec::new()
        }
    });
    all.iter().filter(|c| c.starts_with(node.as_str())).cloned().collect()
}

/// The village-level communities under `node` (a county or a town).
pub fn communities_under(node: &DivisionCode) -> StoreResult<Vec<ReferenceDivision>> {
    read_level(DivisionLevel::Village, |c| node.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn shipped_files_match_their_checksums() {
        let sums = include_str!("../../../../data/divisions-2023/SHA256SUMS");
        for level in DivisionLevel::ALL {
            let (file, _) = file_of(level);
            let expected = sums
                .lines()
                .find_map(|l| l.strip_suffix(file).map(|h| h.trim().to_string()))
                .unwrap_or_else(|| panic!("{file} missing from SHA256SUMS"));
            let actual = hex::encode(Sha256::digest(raw_csv(level).unwrap()));
            assert_eq!(actual, expected, "{file}");
        }
    }

    #[test]
    fn longgang_has_its_streets_and_144_communities() {
        let longgang = DivisionCode::parse("440307").unwrap();
        let towns = read_level(DivisionLevel::Town, |c| longgang.contains(c)).unwrap();
        assert!(towns.iter().any(|t| t.name == "坂田街道"));
        assert_eq!(communities_under(&longgang).unwrap().len(), 144);
        assert!(counties().unwrap().len() > 2_800);
    }
}
