//! 公民身份号码 — citizen identity numbers (GB 11643-1999).
//!
//! An [`IdNumber`] can only hold a valid, normalised 18-character number. Parsing
//! accepts what people type (full-width characters, spaces, a lowercase `x`, the
//! legacy 15-digit form) and explains every rejection in Chinese and English.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};
use unicode_normalization::UnicodeNormalization;

use crate::org::DivisionCode;
use crate::registry::Sex;

/// ISO 7064 MOD 11-2 weights for the first 17 characters.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum modulo 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Province-level codes that may open a mainland number (GB/T 2260).
const PROVINCE_CODES: [&str; 32] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
];

/// What kind of document the number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// 居民身份证 of a mainland resident.
    Mainland,
    /// 港澳居民居住证 issued to a Hong Kong resident (prefix 810000).
    HongKongResidencePermit,
    /// 港澳居民居住证 issued to a Macao resident (prefix 820000).
    MacaoResidencePermit,
    /// 台湾居民居住证 (prefix 830000).
    TaiwanResidencePermit,
    /// 外国人永久居留身份证 (2023 format, leading 9).
    ForeignPermanentResident,
}

impl IdKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            IdKind::Mainland => "居民身份证",
            IdKind::HongKongResidencePermit => "港澳居民居住证（香港）",
            IdKind::MacaoResidencePermit => "港澳居民居住证（澳门）",
            IdKind::TaiwanResidencePermit => "台湾居民居住证",
            IdKind::ForeignPermanentResident => "外国人永久居留身份证",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            IdKind::Mainland => "resident identity card",
            IdKind::HongKongResidencePermit => "residence permit (Hong Kong)",
            IdKind::MacaoResidencePermit => "residence permit (Macao)",
            IdKind::TaiwanResidencePermit => "residence permit (Taiwan)",
            IdKind::ForeignPermanentResident => "foreign permanent residence card",
        }
    }
}

/// Why a string is not an identity number. Each message is Chinese first, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("公民身份号码为空 / the identity number is empty")]
    Empty,
    #[error(
        "公民身份号码应为18位（或旧式15位），实际为{found}位 / must have 18 characters (or 15 in the legacy form), found {found}"
    )]
    Length { found: usize },
    #[error(
        "第{position}位字符“{found}”无效：前17位须为数字，末位为数字或X / character {position} '{found}' is invalid: the first 17 must be digits, the last a digit or X"
    )]
    Character { position: usize, found: char },
    #[error("地址码“{code}”不是有效的省级代码 / area code '{code}' does not start with a valid province code")]
    AreaCode { code: String },
    #[error("出生日期“{digits}”不存在 / birth date '{digits}' does not exist")]
    ImpossibleDate { digits: String },
    #[error("出生日期{date}早于1900年 / birth date {date} is before 1900")]
    DateBefore1900 { date: Date },
    #[error("出生日期{date}晚于今天 / birth date {date} is in the future")]
    DateInFuture { date: Date },
    #[error("校验位应为“{expected}”，实际为“{found}” / check character should be '{expected}', found '{found}'")]
    CheckCharacter { expected: char, found: char },
}

/// A valid 18-character identity number in canonical form (ASCII, uppercase `X`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

impl IdNumber {
    /// Parses what a person typed, judging the birth date against today's date.
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        Self::parse_as_of(input, time::OffsetDateTime::now_utc().date())
    }

    /// Parses what a person typed; a birth date after `today` is rejected.
    pub fn parse_as_of(input: &str, today: Date) -> Result<Self, IdNumberError> {
        let normalized = normalize(input);
        let chars: Vec<char> = normalized.chars().collect();
        match chars.len() {
            0 => Err(IdNumberError::Empty),
            15 => Self::upgrade_legacy(&chars, today),
            18 => Self::parse_18(&chars, today),
            found => Err(IdNumberError::Length { found }),
        }
    }

    fn parse_18(chars: &[char], today: Date) -> Result<Self, IdNumberError> {
        for (i, c) in chars.iter().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && *c == 'X');
            if !ok {
                return Err(IdNumberError::Character { position: i + 1, found: *c });
            }
        }
        let text: String = chars.iter().collect();
        check_area(&text)?;
        birth_date_of(&text[6..14], today)?;
        let expected = check_char(&text[..17]);
        if chars[17] != expected {
            return Err(IdNumberError::CheckCharacter { expected, found: chars[17] });
        }
        Ok(IdNumber(text))
    }

    /// 15-digit numbers (issued before 1999): YYMMDD in the 20th century, no check
    /// character. Upgraded by inserting "19" and computing the check character.
    fn upgrade_legacy(chars: &[char], today: Date) -> Result<Self, IdNumberError> {
        for (i, c) in chars.iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdNumberError::Character { position: i + 1, found: *c });
            }
        }
        let text: String = chars.iter().collect();
        let body = format!("{}19{}", &text[..6], &text[6..]);
        check_area(&body)?;
        birth_date_of(&body[6..14], today)?;
        let check = check_char(&body);
        Ok(IdNumber(format!("{body}{check}")))
    }

    /// Builds the number from its parts, computing the check character. Used by the
    /// synthetic population; `area` must be six digits and `sequence` below 1000.
    pub fn from_parts(area: &str, birth: Date, sequence: u16) -> Option<Self> {
        if area.len() != 6 || !area.bytes().all(|b| b.is_ascii_digit()) || sequence > 999 {
            return None;
        }
        let body = format!("{area}{:04}{:02}{:02}{sequence:03}", birth.year(), u8::from(birth.month()), birth.day());
        let check = check_char(&body);
        Some(IdNumber(format!("{body}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> IdKind {
        match &self.0[..2] {
            "81" => IdKind::HongKongResidencePermit,
            "82" => IdKind::MacaoResidencePermit,
            "83" => IdKind::TaiwanResidencePermit,
            s if s.starts_with('9') => IdKind::ForeignPermanentResident,
            _ => IdKind::Mainland,
        }
    }

    pub fn birth_date(&self) -> Date {
        // Validated at construction, so the digits form a real date.
        parse_date_digits(&self.0[6..14]).unwrap_or(Date::MIN)
    }

    /// Sex from the parity of the 17th character: odd for men, even for women.
    pub fn sex(&self) -> Sex {
        let digit = self.0.as_bytes()[16] - b'0';
        if digit % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// Where the number was issued: the county for mainland numbers, the province-level
    /// code for residence permits and foreign permanent-residence numbers. This never
    /// changes when a person moves, so it is never used as their current county.
    pub fn issuing_region(&self) -> Option<DivisionCode> {
        let code = match self.kind() {
            IdKind::Mainland => &self.0[..6],
            IdKind::ForeignPermanentResident => &self.0[1..3],
            _ => &self.0[..2],
        };
        // Padding to twelve digits lets a city-level area ("440300") name the city.
        DivisionCode::parse_padded(&format!("{code:0<12}")).ok()
    }

    /// The number with all but the first four and last four characters hidden, for lists.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IdNumber {
    type Error = IdNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        IdNumber::parse(&value)
    }
}

impl From<IdNumber> for String {
    fn from(value: IdNumber) -> Self {
        value.0
    }
}

/// NFKC folds full-width digits and letters to ASCII; spaces inside are dropped
/// because people group digits when they type.
/// What a person typed, as the number is compared: NFKC, no spaces, upper case.
pub(crate) fn normalize(input: &str) -> String {
    input.nfkc().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect()
}

fn check_char(first17: &str) -> char {
    check_character(first17.as_bytes()) as char
}

/// The check character (GB 11643) of an ID number's first 17 digits, as a byte; a
/// non-digit among them gives some character, never a panic (record linkage reads
/// mistyped numbers).
pub(crate) fn check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w).sum();
    CHECK_CHARS[(sum % 11) as usize] as u8
}

fn check_area(text: &str) -> Result<(), IdNumberError> {
    let province = &text[..2];
    let valid =
        PROVINCE_CODES.contains(&province) || matches!(province, "81" | "82" | "83") || province.starts_with('9');
    if valid { Ok(()) } else { Err(IdNumberError::AreaCode { code: text[..6].to_string() }) }
}

fn parse_date_digits(digits: &str) -> Option<Date> {
    let year: i32 = digits.get(0..4)?.parse().ok()?;
    let month: u8 = digits.get(4..6)?.parse().ok()?;
    let day: u8 = digits.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

fn birth_date_of(digits: &str, today: Date) -> Result<Date, IdNumberError> {
    let date = parse_date_digits(digits).ok_or_else(|| IdNumberError::ImpossibleDate { digits: digits.to_string() })?;
    if date.year() < 1900 {
        return Err(IdNumberError::DateBefore1900 { date });
    }
    if date > today {
        return Err(IdNumberError::DateInFuture { date });
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 24);

    #[test]
    fn accepts_a_known_valid_number() {
        // The sample number printed in GB 11643-1999.
        let id = IdNumber::parse_as_of("11010519491231002X", TODAY).unwrap();
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.issuing_region().unwrap().as_str(), "110105");
        assert_eq!(id.kind(), IdKind::Mainland);
        assert_eq!(id.masked(), "1101**********002X");
    }

    #[test]
    fn normalizes_full_width_spaces_and_lowercase_x() {
        let id = IdNumber::parse_as_of(" １１０１０５ 19491231 002x ", TODAY).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn upgrades_legacy_fifteen_digit_numbers() {
        let id = IdNumber::parse_as_of("110105491231002", TODAY).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.sex(), Sex::Female);
    }

    #[test]
    fn every_rejection_says_why() {
        use IdNumberError::*;
        let cases: [(&str, IdNumberError); 8] = [
            ("", Empty),
            ("1234", Length { found: 4 }),
            ("1101051949123100AX", Character { position: 17, found: 'A' }),
            ("00010519491231002X", AreaCode { code: "000105".into() }),
            ("110105194902300027", ImpossibleDate { digits: "19490230".into() }),
            ("110105189912310026", DateBefore1900 { date: date!(1899 - 12 - 31) }),
            ("110105203001010022", DateInFuture { date: date!(2030 - 01 - 01) }),
            ("110105194912310021", CheckCharacter { expected: 'X', found: '1' }),
        ];
        for (input, expected) in cases {
            assert_eq!(IdNumber::parse_as_of(input, TODAY), Err(expected), "{input}");
        }
        let message = IdNumber::parse_as_of("1234", TODAY).unwrap_err().to_string();
        assert!(message.contains("18位") && message.contains("18 characters"), "{message}");
    }

    #[test]
    fn recognises_residence_permits_and_foreign_permanent_residents() {
        let hk = IdNumber::from_parts("810000", date!(1990 - 05 - 01), 21).unwrap();
        let parsed = IdNumber::parse_as_of(hk.as_str(), TODAY).unwrap();
        assert_eq!(parsed.kind(), IdKind::HongKongResidencePermit);
        assert_eq!(parsed.issuing_region().unwrap().as_str(), "81");
        let tw = IdNumber::from_parts("830000", date!(1980 - 01 - 01), 11).unwrap();
        assert_eq!(tw.kind(), IdKind::TaiwanResidencePermit);
        let foreign = IdNumber::from_parts("944840", date!(1985 - 07 - 14), 1).unwrap();
        let parsed = IdNumber::parse_as_of(foreign.as_str(), TODAY).unwrap();
        assert_eq!(parsed.kind(), IdKind::ForeignPermanentResident);
        assert_eq!(parsed.issuing_region().unwrap().as_str(), "44");
    }

    fn area_strategy() -> impl Strategy<Value = String> {
        (prop::sample::select(PROVINCE_CODES.to_vec()), 0u32..10_000).prop_map(|(p, rest)| format!("{p}{rest:04}"))
    }

    fn date_strategy() -> impl Strategy<Value = Date> {
        (1900i32..=2026, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
            Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), d)
                .unwrap_or(date!(2000 - 01 - 01))
                .min(TODAY)
        })
    }

    proptest! {
        /// Whatever is typed (any characters, full-width, 18 digits or 1 MB), parsing
        /// gives a number or an error, never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}", digits in "[0-9Xx０-９]{15,19}") {
            let _ = IdNumber::parse_as_of(&text, TODAY);
            let _ = IdNumber::parse_as_of(&digits, TODAY);
        }

        #[test]
        fn generated_numbers_round_trip(area in area_strategy(), birth in date_strategy(), seq in 0u16..1000) {
            let id = IdNumber::from_parts(&area, birth, seq).unwrap();
            let parsed = IdNumber::parse_as_of(id.as_str(), TODAY).unwrap();
            prop_assert_eq!(&parsed, &id);
            prop_assert_eq!(parsed.birth_date(), birth);
            let expected_sex = if (seq % 10) % 2 == 1 { Sex::Male } else { Sex::Female };
            prop_assert_eq!(parsed.sex(), expected_sex);
            prop_assert_eq!(parsed.issuing_region(), DivisionCode::parse_padded(&format!("{area}000000")).ok());
            // Lowercase x and full-width forms parse to the same number.
            let typed: String = id.as_str().to_lowercase().chars()
                .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap() } else { c })
                .collect();
            prop_assert_eq!(IdNumber::parse_as_of(&typed, TODAY).unwrap(), id);
        }

        #[test]
        fn any_single_changed_character_is_caught(
            area in area_strategy(), birth in date_strategy(), seq in 0u16..1000,
            position in 0usize..18, replacement in prop::sample::select("0123456789X".chars().collect::<Vec<_>>()),
        ) {
            let id = IdNumber::from_parts(&area, birth, seq).unwrap();
            let mut chars: Vec<char> = id.as_str().chars().collect();
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(IdNumber::parse_as_of(&changed, TODAY).is_err(), "{} accepted", changed);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,24}") {
            let _ = IdNumber::parse_as_of(&input, TODAY);
        }
    }
}
