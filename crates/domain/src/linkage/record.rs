//! A record to link, as a department or the registry gives it, and the features the
//! comparisons read: computed once per record, so that comparing a pair is integer work.

use pinyin::{ToPinyin, ToPinyinMulti};
use time::Date;
use unicode_normalization::UnicodeNormalization;

use crate::registry::Sex;

/// A person as a record to link describes them; any field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRecord {
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    /// As typed: 18 or 15 characters, possibly mistyped.
    pub id_number: Option<String>,
    /// A 12-digit community code.
    pub community: Option<String>,
    pub phone: Option<String>,
}

/// Surnames read otherwise than the character's most common reading (百家姓 readings).
const SURNAME_READINGS: [(char, &str, &str); 12] = [
    ('曾', "zēng", "zeng"),
    ('单', "shàn", "shan"),
    ('解', "xiè", "xie"),
    ('仇', "qiú", "qiu"),
    ('区', "ōu", "ou"),
    ('朴', "piáo", "piao"),
    ('查', "zhā", "zha"),
    ('盖', "gě", "ge"),
    ('乐', "yuè", "yue"),
    ('缪', "miào", "miao"),
    ('覃', "qín", "qin"),
    ('尉', "yù", "yu"),
];

/// How many characters of a name are kept for the comparisons that look at single
/// characters; longer names (most minority names) compare by their keys alone.
pub const NAME_CHARS: usize = 4;

/// What the name comparisons read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameFeatures {
    /// Simplified characters, the first [`NAME_CHARS`].
    pub chars: [char; NAME_CHARS],
    /// Characters in the whole name; 0 for no name.
    pub len: u8,
    /// Key of the name as written (cleaned).
    pub written: u64,
    /// Keys of the simplified name, its pinyin with tones and without (the surname in
    /// its surname reading).
    pub simplified: u64,
    pub tone: u64,
    pub plain: u64,
    /// The surname's reading without tones.
    pub surname: u64,
}

/// A record's features. An absent value is 0 (or `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    pub name: NameFeatures,
    /// 1 male, 2 female, 0 unknown.
    pub sex: u8,
    pub birth_date: Option<Date>,
    /// The 18-character form (a 15-digit number upgraded).
    pub id: Option<[u8; 18]>,
    /// Whether the number was written in its 15-digit form.
    pub id_legacy: bool,
    /// Whether its check character is right. Two right numbers that differ are two
    /// people: a clerk's typo almost always leaves the check character wrong.
    pub id_valid: bool,
    pub community: u64,
    pub phone: u64,
}

impl Features {
    pub fn of(record: &LinkRecord) -> Features {
        let (id, id_legacy) = record.id_number.as_deref().map(normalize_id).unwrap_or((None, false));
        // A 15-digit number has no check character: its 18-digit form's is computed, so
        // it proves nothing.
        let id_valid = !id_legacy && id.is_some_and(|id| check_character(&id[..17]) == id[17]);
        Features {
            name: name_features(&record.name),
            sex: match record.sex {
                Some(Sex::Male) => 1,
                Some(Sex::Female) => 2,
                None => 0,
            },
            birth_date: record.birth_date,
            id,
            id_legacy,
            id_valid,
            community: record.community.as_deref().map_or(0, digits),
            phone: record.phone.as_deref().map_or(0, phone_digits),
        }
    }
}

/// A number written only in digits (spaces and dashes dropped), 0 when there are none
/// or other characters.
fn digits(text: &str) -> u64 {
    let mut value: u64 = 0;
    let mut any = false;
    for c in text.nfkc() {
        match c {
            '0'..='9' => {
                value = value.wrapping_mul(10).wrapping_add(u64::from(c as u32 - '0' as u32));
                any = true;
            }
            ' ' | '-' => {}
            _ => return 0,
        }
    }
    if any { value } else { 0 }
}

/// A phone's digits without the country code (+86, 0086, 86-) or an extension
/// (转 123, ext. 123).
fn phone_digits(text: &str) -> u64 {
    let text: String = text.nfkc().collect();
    let main = text.split(['转', '#', 'x', 'X', 'e', 'E']).next().unwrap_or("");
    let main = main.trim();
    let main = main.strip_prefix("+86").or_else(|| main.strip_prefix("0086")).unwrap_or(main);
    let number = digits(main);
    // 86 followed by an 11-digit mobile number.
    const COUNTRY: u64 = 86 * 100_000_000_000;
    if (COUNTRY..COUNTRY + 100_000_000_000).contains(&number) { number - COUNTRY } else { number }
}

/// The 18-character form of an ID number and whether it was written as 15 digits;
/// `None` when it has neither length. A wrong check character is kept: a mistyped
/// number is evidence too.
pub fn normalize_id(text: &str) -> (Option<[u8; 18]>, bool) {
    let chars: Vec<u8> = crate::registry::id_number::normalize(text)
        .chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .collect();
    match chars.len() {
        18 if chars[..17].iter().all(u8::is_ascii_digit) => {
            let mut id = [0u8; 18];
            id.copy_from_slice(&chars);
            (Some(id), false)
        }
        15 if chars.iter().all(u8::is_ascii_digit) => {
            let mut id = [0u8; 18];
            id[..6].copy_from_slice(&chars[..6]);
            id[6..8].copy_from_slice(b"19");
            id[8..17].copy_from_slice(&chars[6..]);
            id[17] = check_character(&id[..17]);
            (Some(id), true)
        }
        _ => (None, false),
    }
}

/// The check character of an ID number's first 17 digits: the registry's own.
pub(crate) use crate::registry::id_number::check_character;

/// FNV-1a: a stable key for text (the same in every run and on every machine, unlike
/// the standard library's hasher).
pub fn text_key(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A name without spaces or middle dots, NFKC-normalized.
fn cleaned_name(name: &str) -> String {
    name.nfkc().filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.' | '・' | '‧')).collect()
}

/// The simplified form of a name: cleaned, traditional characters simplified.
pub fn simplified_name(name: &str) -> String {
    fast2s::convert(&cleaned_name(name))
}

/// The readings a surname character may have, with and without tones: its surname
/// reading first where it has one, then every reading of the character.
pub fn surname_readings(c: char) -> Vec<(&'static str, &'static str)> {
    let mut readings = Vec::new();
    if let Some((_, tone, plain)) = SURNAME_READINGS.iter().find(|(s, _, _)| *s == c) {
        readings.push((*tone, *plain));
    }
    if let Some(multi) = c.to_pinyin_multi() {
        for p in multi {
            if !readings.iter().any(|(t, _)| *t == p.with_tone()) {
                readings.push((p.with_tone(), p.plain()));
            }
        }
    }
    readings
}

/// The pinyin of a name's characters after the surname (other characters as they are),
/// with tones or without.
pub fn given_pinyin(chars: impl Iterator<Item = char>, tones: bool) -> String {
    let mut out = String::new();
    for c in chars {
        match c.to_pinyin() {
            Some(p) => out.push_str(if tones { p.with_tone() } else { p.plain() }),
            None => out.push(c),
        }
        out.push(' ');
    }
    out
}

fn name_features(name: &str) -> NameFeatures {
    let cleaned = cleaned_name(name);
    let simplified = fast2s::convert(&cleaned);
    let mut chars = ['\0'; NAME_CHARS];
    let mut len = 0usize;
    for c in simplified.chars() {
        if let Some(slot) = chars.get_mut(len) {
            *slot = c;
        }
        len += 1;
    }
    if len == 0 {
        return NameFeatures::default();
    }
    let surname = chars[0];
    let (surname_tone, surname_plain) = surname_readings(surname).first().copied().unwrap_or(("", ""));
    let (tone, plain) = if surname_tone.is_empty() {
        (given_pinyin(simplified.chars(), true), given_pinyin(simplified.chars(), false))
    } else {
        (
            format!("{surname_tone} {}", given_pinyin(simplified.chars().skip(1), true)),
            format!("{surname_plain} {}", given_pinyin(simplified.chars().skip(1), false)),
        )
    };
    NameFeatures {
        chars,
        len: len.min(usize::from(u8::MAX)) as u8,
        written: text_key(&cleaned),
        simplified: text_key(&simplified),
        tone: text_key(&tone),
        plain: text_key(&plain),
        surname: text_key(if surname_plain.is_empty() { &simplified[..surname.len_utf8()] } else { surname_plain }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_digit_numbers_are_upgraded_and_marked() {
        let (id, legacy) = normalize_id("110105491231002");
        assert_eq!(id.as_ref().map(|i| std::str::from_utf8(i).unwrap()), Some("11010519491231002X"));
        assert!(legacy);
        let (id, legacy) = normalize_id(" １１０１０５ 19491231 002x ");
        assert_eq!(id.as_ref().map(|i| std::str::from_utf8(i).unwrap()), Some("11010519491231002X"));
        assert!(!legacy);
        assert_eq!(normalize_id("1101051949123100"), (None, false));
    }

    #[test]
    fn traditional_names_are_simplified_and_keyed_alike() {
        let simple = name_features("张伟");
        let traditional = name_features("張偉");
        assert_eq!(simple.simplified, traditional.simplified);
        assert_ne!(simple.written, traditional.written);
        assert_eq!(simple.chars[..2], ['张', '伟']);
    }

    #[test]
    fn a_surname_is_read_as_a_surname() {
        // 曾 is céng in most words and zēng as a surname; 增 is zēng.
        assert_eq!(name_features("曾伟").tone, name_features("增伟").tone);
        assert_eq!(name_features("单芳").plain, name_features("善芳").plain);
        assert_ne!(name_features("张伟").plain, name_features("李伟").plain);
    }

    #[test]
    fn digits_ignore_separators_and_refuse_letters() {
        assert_eq!(digits("138-0013 8000"), 13800138000);
        assert_eq!(phone_digits("+86 138 0013 8000"), 13800138000);
        assert_eq!(phone_digits("86-13800138000"), 13800138000);
        assert_eq!(phone_digits("0755-2345 6789转 123"), 75523456789);
        assert_eq!(phone_digits("13800138000"), 13800138000);
        assert_eq!(digits("unknown"), 0);
        assert_eq!(digits(""), 0);
    }
}
