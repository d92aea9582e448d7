//! 户籍地 as offices write it: a division code, or a name path such as
//! 湖南省邵阳市邵东市 (with or without the city, or the county's name alone when unique).

use std::collections::{HashMap, HashSet};

use jiceng_domain::exchange::values::normalize;
use jiceng_domain::org::{DivisionCode, DivisionLevel};

use crate::error::StoreResult;
use crate::org::reference;

/// Every province, city and county of the reference data, by code and by name path.
#[derive(Clone)]
pub struct PlaceIndex {
    codes: HashSet<String>,
    /// Name → code; `None` when the name means more than one place.
    names: HashMap<String, Option<DivisionCode>>,
}

/// City-level names that are placeholders, not places people write.
const PLACEHOLDER_CITIES: [&str; 4] = ["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"];

impl PlaceIndex {
    pub fn from_reference() -> StoreResult<PlaceIndex> {
        let provinces = reference::read_level(DivisionLevel::Province, |_| true)?;
        let cities = reference::read_level(DivisionLevel::City, |_| true)?;
        let counties = reference::read_level(DivisionLevel::County, |_| true)?;
        let name_of: HashMap<String, String> =
            provinces.iter().chain(&cities).map(|d| (d.code.to_string(), d.name.clone())).collect();
        let mut index = PlaceIndex { codes: HashSet::new(), names: HashMap::new() };
        for d in provinces.iter().chain(&cities).chain(&counties) {
            index.codes.insert(d.code.to_string());
            let province = d.code.at_level(DivisionLevel::Province).and_then(|c| name_of.get(c.as_str()));
            let city = (d.code.level() == DivisionLevel::County)
                .then(|| d.code.at_level(DivisionLevel::City).and_then(|c| name_of.get(c.as_str())))
                .flatten()
                .filter(|name| !PLACEHOLDER_CITIES.contains(&name.as_str()));
            let own = if PLACEHOLDER_CITIES.contains(&d.name.as_str()) { None } else { Some(d.name.as_str()) };
            let Some(own) = own else { continue };
            let mut paths = vec![own.to_string()];
            if let Some(p) = province.filter(|_| d.code.level() != DivisionLevel::Province) {
                paths.push(format!("{p}{own}"));
                if let Some(c) = city {
                    paths.push(format!("{p}{c}{own}"));
                }
            }
            if let Some(c) = city {
                paths.push(format!("{c}{own}"));
            }
            for path in paths {
                index.add(path, &d.code);
            }
        }
        Ok(index)
    }

    fn add(&mut self, name: String, code: &DivisionCode) {
        self.names
            .entry(name)
            .and_modify(|existing| {
                if existing.as_ref() != Some(code) {
                    *existing = None;
                }
            })
            .or_insert_with(|| Some(code.clone()));
    }

    /// The division `text` names, if it names exactly one known division. Codes below
    /// the county (towns, villages) are accepted when their county exists.
    pub fn resolve(&self, text: &str) -> Option<DivisionCode> {
        let text: String = normalize(text).chars().filter(|c| !c.is_whitespace()).collect();
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let code = DivisionCode::parse_padded(&text).ok()?;
            let known = match code.level() {
                DivisionLevel::Town | DivisionLevel::Village => code.at_level(DivisionLevel::County),
                _ => Some(code.clone()),
            };
            return known.filter(|k| self.codes.contains(k.as_str())).map(|_| code);
        }
        self.names.get(&text).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_name_paths_resolve_to_divisions() {
        let index = PlaceIndex::from_reference().unwrap();
        let shaodong = DivisionCode::parse("430582").unwrap();
        for text in ["湖南省邵阳市邵东市", "湖南省邵东市", "邵阳市邵东市", "邵东市", "430582", "430582000000"]
        {
            assert_eq!(index.resolve(text), Some(shaodong.clone()), "{text}");
        }
        assert_eq!(index.resolve("北京市东城区"), DivisionCode::parse("110101").ok());
        assert_eq!(index.resolve("湖南省"), DivisionCode::parse("43").ok());
        // 朝阳区 is in Beijing and in Changchun: the name alone is ambiguous.
        assert_eq!(index.resolve("朝阳区"), None);
        assert_eq!(index.resolve("999999"), None);
        assert_eq!(index.resolve("火星"), None);
    }
}
