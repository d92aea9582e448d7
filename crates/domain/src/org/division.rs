//! 行政区划代码 — statistical division codes (province → city → county → town → village).

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The five levels of the statistical division codes and their code lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DivisionLevel {
    Province,
    City,
    County,
    Town,
    Village,
}

impl DivisionLevel {
    pub const ALL: [DivisionLevel; 5] = [
        DivisionLevel::Province,
        DivisionLevel::City,
        DivisionLevel::County,
        DivisionLevel::Town,
        DivisionLevel::Village,
    ];

    pub fn code_len(self) -> usize {
        match self {
            DivisionLevel::Province => 2,
            DivisionLevel::City => 4,
            DivisionLevel::County => 6,
            DivisionLevel::Town => 9,
            DivisionLevel::Village => 12,
        }
    }

    pub fn from_code_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code_len() == len)
    }

    /// Stored as a small integer: 1 for provinces up to 5 for villages.
    pub fn number(self) -> i16 {
        match self {
            DivisionLevel::Province => 1,
            DivisionLevel::City => 2,
            DivisionLevel::County => 3,
            DivisionLevel::Town => 4,
            DivisionLevel::Village => 5,
        }
    }

    pub fn from_number(n: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.number() == n)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            DivisionLevel::Province => "省级",
            DivisionLevel::City => "地级",
            DivisionLevel::County => "县级",
            DivisionLevel::Town => "乡级（街道）",
            DivisionLevel::Village => "村级（社区）",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            DivisionLevel::Province => "province",
            DivisionLevel::City => "prefecture",
            DivisionLevel::County => "county/district",
            DivisionLevel::Town => "town/street",
            DivisionLevel::Village => "village/community",
        }
    }

    pub fn child(self) -> Option<Self> {
        Self::from_number(self.number() + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionCodeError {
    #[error("区划代码为空 / the division code is empty")]
    Empty,
    #[error("区划代码“{input}”含非数字字符 / division code '{input}' contains a character that is not a digit")]
    NotDigits { input: String },
    #[error("区划代码“{input}”应为2、4、6、9或12位 / division code '{input}' must have 2, 4, 6, 9 or 12 digits")]
    Length { input: String },
    #[error("区划代码“{input}”的省级代码为00 / division code '{input}' has no province (00)")]
    ZeroLevel { input: String },
}

/// A statistical division code at one of the five levels.
///
/// A 12-digit code padded with zeros (`440307000000`) is read as the level it names
/// (`440307`), because that is how the codes are often written in spreadsheets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

impl DivisionCode {
    /// Parses a code of 2, 4, 6, 9 or 12 digits, taken literally: the statistical
    /// codes have real all-zero levels (东莞市 441900 has no counties, so its towns hang
    /// under a county code ending in 00).
    pub fn parse(input: &str) -> Result<Self, DivisionCodeError> {
        // Plain ASCII digits (nearly every input) skip the Unicode normalisation.
        let code: String = if input.bytes().all(|b| b.is_ascii_digit()) {
            input.to_string()
        } else {
            input.nfkc().filter(|c| !c.is_whitespace()).collect()
        };
        if code.is_empty() {
            return Err(DivisionCodeError::Empty);
        }
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DivisionCodeError::NotDigits { input: input.to_string() });
        }
        if DivisionLevel::from_code_len(code.len()).is_none() {
            return Err(DivisionCodeError::Length { input: input.to_string() });
        }
        if code.starts_with("00") {
            return Err(DivisionCodeError::ZeroLevel { input: input.to_string() });
        }
        Ok(DivisionCode(code))
    }

    /// Parses a code written padded with zeros to twelve digits, as spreadsheets often
    /// do (`440307000000` is the county `440307`): trailing all-zero levels are dropped.
    pub fn parse_padded(input: &str) -> Result<Self, DivisionCodeError> {
        let code = Self::parse(input)?;
        if code.0.len() != 12 {
            return Ok(code);
        }
        Ok(DivisionCode(trim_zero_levels(&code.0).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> DivisionLevel {
        DivisionLevel::from_code_len(self.0.len()).unwrap_or(DivisionLevel::Village)
    }

    pub fn parent(&self) -> Option<DivisionCode> {
        let parent_level = DivisionLevel::from_number(self.level().number() - 1)?;
        Some(DivisionCode(self.0[..parent_level.code_len()].to_string()))
    }

    /// The ancestor (or self) at `level`, if this code is at that level or below.
    pub fn at_level(&self, level: DivisionLevel) -> Option<DivisionCode> {
        (level.code_len() <= self.0.len()).then(|| DivisionCode(self.0[..level.code_len()].to_string()))
    }

    /// True when `other` lies in this node's subtree (a node contains itself).
    pub fn contains(&self, other: &DivisionCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The province-level code, e.g. `44` for Guangdong.
    pub fn province(&self) -> DivisionCode {
        DivisionCode(self.0[..2].to_string())
    }
}

fn trim_zero_levels(code: &str) -> &str {
    let mut end = code.len();
    for level in DivisionLevel::ALL.iter().rev().skip(1) {
        let cut = level.code_len();
        if code[cut..end].bytes().all(|b| b == b'0') {
            end = cut;
        } else {
            break;
        }
    }
    &code[..end]
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DivisionCode {
    type Error = DivisionCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DivisionCode::parse(&value)
    }
}

impl From<DivisionCode> for String {
    fn from(value: DivisionCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn levels_and_parents() {
        let village = DivisionCode::parse("440307003002").unwrap();
        assert_eq!(village.level(), DivisionLevel::Village);
        let chain: Vec<String> =
            std::iter::successors(Some(village.clone()), |c| c.parent()).map(|c| c.to_string()).collect();
        assert_eq!(chain, ["440307003002", "440307003", "440307", "4403", "44"]);
        assert!(DivisionCode::parse("440307").unwrap().contains(&village));
        assert!(!DivisionCode::parse("440308").unwrap().contains(&village));
        assert_eq!(village.at_level(DivisionLevel::County).unwrap().as_str(), "440307");
    }

    #[test]
    fn padded_twelve_digit_codes_name_their_level() {
        assert_eq!(DivisionCode::parse_padded("440307000000").unwrap().as_str(), "440307");
        assert_eq!(DivisionCode::parse_padded("440000000000").unwrap().as_str(), "44");
        assert_eq!(DivisionCode::parse("440307000000").unwrap().level(), DivisionLevel::Village);
        // Real codes with an all-zero level: 东莞市 has no counties.
        assert_eq!(DivisionCode::parse("441900").unwrap().parent().unwrap().as_str(), "4419");
        assert_eq!(DivisionCode::parse("４４０３０７").unwrap().as_str(), "440307");
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(DivisionCode::parse(""), Err(DivisionCodeError::Empty));
        assert!(matches!(DivisionCode::parse("44a307"), Err(DivisionCodeError::NotDigits { .. })));
        assert!(matches!(DivisionCode::parse("4403071"), Err(DivisionCodeError::Length { .. })));
        assert!(matches!(DivisionCode::parse("000007"), Err(DivisionCodeError::ZeroLevel { .. })));
        assert!(matches!(DivisionCode::parse("000000000000"), Err(DivisionCodeError::ZeroLevel { .. })));
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(input in "[0-9]{1,13}") {
            if let Ok(code) = DivisionCode::parse(&input) {
                prop_assert_eq!(DivisionCode::parse(code.as_str()).unwrap(), code.clone());
                let padded = DivisionCode::parse_padded(&format!("{code:0<12}")).unwrap();
                prop_assert!(padded.contains(&code) || code.contains(&padded));
                if let Some(parent) = code.parent() {
                    prop_assert!(parent.contains(&code));
                    prop_assert_eq!(parent.level().number() + 1, code.level().number());
                }
            }
        }
    }
}
