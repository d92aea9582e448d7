//! 联系电话 — phone numbers as people type them.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("电话号码“{input}”含无效字符 / phone number '{input}' contains an invalid character")]
    Character { input: String },
    #[error(
        "电话号码“{input}”既不是11位手机号，也不是带区号的固定电话 / phone number '{input}' is neither an 11-digit mobile number nor a landline with area code"
    )]
    Shape { input: String },
}

/// A mainland mobile number (11 digits, 1[3-9]…) or a landline with its area code
/// (`0755-28901234`), stored as digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let text: String = input.nfkc().collect();
        let mut digits = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '+' | '\u{3000}' => {}
                _ => return Err(PhoneError::Character { input: input.to_string() }),
            }
        }
        // The country code 86 before an 11-digit mobile number is dropped.
        let digits = match digits.strip_prefix("86") {
            Some(rest) if rest.len() == 11 && rest.starts_with('1') => rest.to_string(),
            _ => digits,
        };
        let bytes = digits.as_bytes();
        let mobile = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
        let landline = (10..=12).contains(&bytes.len()) && bytes[0] == b'0' && bytes[1] != b'0';
        if mobile || landline { Ok(Phone(digits)) } else { Err(PhoneError::Shape { input: input.to_string() }) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_mobile(&self) -> bool {
        self.0.starts_with('1')
    }

    /// The number with the middle digits hidden, for lists: 138****5678.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}****{}", &self.0[..3], &self.0[n - 4..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phone::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_what_people_type() {
        assert_eq!(Phone::parse("138 0013 8000").unwrap().as_str(), "13800138000");
        assert_eq!(Phone::parse("138-0013-8000").unwrap().as_str(), "13800138000");
        assert_eq!(Phone::parse("+86 138 0013 8000").unwrap().as_str(), "13800138000");
        assert_eq!(Phone::parse("１３８００１３８０００").unwrap().as_str(), "13800138000");
        assert_eq!(Phone::parse("0755-28901234").unwrap().as_str(), "075528901234");
        assert_eq!(Phone::parse("13800138000").unwrap().masked(), "138****8000");
    }

    #[test]
    fn rejects_other_shapes() {
        assert!(matches!(Phone::parse("12345"), Err(PhoneError::Shape { .. })));
        assert!(matches!(Phone::parse("1280013800"), Err(PhoneError::Shape { .. })));
        assert!(matches!(Phone::parse("138o0138000"), Err(PhoneError::Character { .. })));
    }

    proptest! {
        #[test]
        fn mobile_numbers_survive_separators(rest in "[3-9][0-9]{9}", sep in prop::sample::select(vec!["", " ", "-"])) {
            let plain = format!("1{rest}");
            let typed = format!("{}{sep}{}{sep}{}", &plain[..3], &plain[3..7], &plain[7..]);
            prop_assert_eq!(Phone::parse(&typed).unwrap().to_string(), plain);
        }
    }
}
