//! Comparison levels: how closely two records agree on each field, from exact down to
//! "different". Level 0 is always "one of them has no value" and carries no evidence.

use time::Date;

use super::record::{Features, NAME_CHARS, given_pinyin, surname_readings};

/// The fields compared, in the order of a [`Gamma`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Field {
    IdNumber,
    Name,
    Sex,
    BirthDate,
    Community,
    Phone,
}

pub const FIELDS: [Field; 6] =
    [Field::IdNumber, Field::Name, Field::Sex, Field::BirthDate, Field::Community, Field::Phone];

/// The level of agreement on each field of [`FIELDS`].
pub type Gamma = [u8; 6];

/// Level 0 of every field: a value is missing.
pub const MISSING: u8 = 0;

impl Field {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Field::IdNumber => "身份号码",
            Field::Name => "姓名",
            Field::Sex => "性别",
            Field::BirthDate => "出生日期",
            Field::Community => "社区",
            Field::Phone => "电话",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Field::IdNumber => "ID number",
            Field::Name => "name",
            Field::Sex => "sex",
            Field::BirthDate => "date of birth",
            Field::Community => "community",
            Field::Phone => "phone",
        }
    }

    /// The field's levels after "missing", best first, in Chinese and English.
    pub fn levels(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Field::IdNumber => &[
                ("相同", "exact"),
                ("15 位与 18 位相同", "same number, 15- and 18-digit forms"),
                ("一位不同", "one character substituted"),
                ("相邻两位颠倒", "two adjacent characters transposed"),
                ("两个有效号码不同", "two valid numbers that differ"),
                ("不同", "different"),
            ],
            Field::Name => &[
                ("相同", "exact"),
                ("繁简相同", "same in simplified characters"),
                ("同音同调", "same pinyin with tones"),
                ("同音", "same pinyin without tones"),
                ("两字与三字", "two characters against three"),
                ("同姓", "same surname only"),
                ("不同", "different"),
            ],
            Field::Sex => &[("相同", "same"), ("不同", "different")],
            Field::BirthDate => &[
                ("相同", "exact"),
                ("月日颠倒", "day and month swapped"),
                ("相差一天", "one day apart"),
                ("同年同月", "same year and month"),
                ("不同", "different"),
            ],
            Field::Community => &[("相同", "same"), ("同街道", "same street"), ("不同", "different")],
            Field::Phone => &[("相同", "same"), ("不同", "different")],
        }
    }

    /// Levels including "missing".
    pub fn level_count(self) -> usize {
        self.levels().len() + 1
    }

    /// The level a pair of records reaches on this field.
    pub fn compare(self, a: &Features, b: &Features) -> u8 {
        match self {
            Field::IdNumber => id_level(a, b),
            Field::Name => name_level(a, b),
            Field::Sex => match (a.sex, b.sex) {
                (0, _) | (_, 0) => MISSING,
                (x, y) if x == y => 1,
                _ => 2,
            },
            Field::BirthDate => match (a.birth_date, b.birth_date) {
                (Some(x), Some(y)) => date_level(x, y),
                _ => MISSING,
            },
            Field::Community => match (a.community, b.community) {
                (0, _) | (_, 0) => MISSING,
                (x, y) if x == y => 1,
                // A 12-digit community code's first nine digits are its street (乡镇/街道).
                (x, y) if x / 1000 == y / 1000 => 2,
                _ => 3,
            },
            Field::Phone => match (a.phone, b.phone) {
                (0, _) | (_, 0) => MISSING,
                (x, y) if x == y => 1,
                _ => 2,
            },
        }
    }
}

/// Every field's level for a pair.
pub fn gamma(a: &Features, b: &Features) -> Gamma {
    FIELDS.map(|f| f.compare(a, b))
}

pub mod id {
    pub const EXACT: u8 = 1;
    pub const LEGACY_FORM: u8 = 2;
    pub const SUBSTITUTION: u8 = 3;
    pub const TRANSPOSITION: u8 = 4;
    /// Both check characters right: two people.
    pub const OTHER_NUMBER: u8 = 5;
    pub const DIFFERENT: u8 = 6;
}

pub mod name {
    pub const EXACT: u8 = 1;
    pub const SIMPLIFIED: u8 = 2;
    pub const PINYIN_TONES: u8 = 3;
    pub const PINYIN: u8 = 4;
    pub const TWO_AND_THREE: u8 = 5;
    pub const SURNAME: u8 = 6;
    pub const DIFFERENT: u8 = 7;
}

pub mod birth {
    pub const EXACT: u8 = 1;
    pub const SWAPPED: u8 = 2;
    pub const ONE_DAY: u8 = 3;
    pub const YEAR_MONTH: u8 = 4;
    pub const DIFFERENT: u8 = 5;
}

fn id_level(a: &Features, b: &Features) -> u8 {
    let (Some(x), Some(y)) = (&a.id, &b.id) else { return MISSING };
    if x == y {
        return if a.id_legacy != b.id_legacy { id::LEGACY_FORM } else { id::EXACT };
    }
    // Two numbers with right check characters are two people, however alike: people
    // born on the same day in the same county differ only in the three-digit sequence.
    if a.id_valid && b.id_valid {
        return id::OTHER_NUMBER;
    }
    let differing: Vec<usize> = (0..18).filter(|&i| x[i] != y[i]).collect();
    let swapped = |i: usize, j: usize| j == i + 1 && x[i] == y[j] && x[j] == y[i];
    match differing.as_slice() {
        [_] => id::SUBSTITUTION,
        [i, j] if swapped(*i, *j) => id::TRANSPOSITION,
        // A typo in the first 17 digits of a number whose check character is wrong,
        // against one whose check character differs from it too.
        [i, j, 17] if swapped(*i, *j) => id::TRANSPOSITION,
        [i, 17] if *i < 17 => id::SUBSTITUTION,
        _ => id::DIFFERENT,
    }
}

fn date_level(x: Date, y: Date) -> u8 {
    if x == y {
        return birth::EXACT;
    }
    let (xm, ym) = (u8::from(x.month()), u8::from(y.month()));
    if x.year() == y.year() && xm == y.day() && x.day() == ym {
        return birth::SWAPPED;
    }
    if (x - y).whole_days().abs() == 1 {
        return birth::ONE_DAY;
    }
    if x.year() == y.year() && xm == ym {
        return birth::YEAR_MONTH;
    }
    birth::DIFFERENT
}

fn name_level(a: &Features, b: &Features) -> u8 {
    let (x, y) = (&a.name, &b.name);
    if x.len == 0 || y.len == 0 {
        return MISSING;
    }
    if x.written == y.written {
        return name::EXACT;
    }
    if x.simplified == y.simplified {
        return name::SIMPLIFIED;
    }
    if x.tone == y.tone {
        return name::PINYIN_TONES;
    }
    if x.plain == y.plain {
        return name::PINYIN;
    }
    let short = usize::from(x.len) <= NAME_CHARS && usize::from(y.len) <= NAME_CHARS;
    if short && x.len == y.len && polyphone_surname_match(x, y) {
        return name::PINYIN;
    }
    let same_surname = x.chars[0] == y.chars[0] || x.surname == y.surname;
    if same_surname && two_against_three(x, y) {
        return name::TWO_AND_THREE;
    }
    if same_surname { name::SURNAME } else { name::DIFFERENT }
}

/// Same given name by sound, and surnames that share any reading (曾 céng/zēng).
fn polyphone_surname_match(x: &super::record::NameFeatures, y: &super::record::NameFeatures) -> bool {
    let given = |n: &super::record::NameFeatures| given_pinyin(n.chars[1..usize::from(n.len)].iter().copied(), false);
    if given(x) != given(y) {
        return false;
    }
    let xs = surname_readings(x.chars[0]);
    let ys = surname_readings(y.chars[0]);
    xs.iter().any(|(_, p)| ys.iter().any(|(_, q)| p == q))
}

/// A two-character name against a three-character one with the same surname whose
/// given name holds the shorter one's (王芳 and 王小芳, 李明 and 李明辉).
fn two_against_three(x: &super::record::NameFeatures, y: &super::record::NameFeatures) -> bool {
    let (short, long) = match (x.len, y.len) {
        (2, 3) => (x, y),
        (3, 2) => (y, x),
        _ => return false,
    };
    long.chars[1..3].contains(&short.chars[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkage::record::LinkRecord;
    use time::macros::date;

    fn with_name(n: &str) -> Features {
        Features::of(&LinkRecord { name: n.into(), ..Default::default() })
    }

    fn with_id(n: &str) -> Features {
        Features::of(&LinkRecord { id_number: Some(n.into()), ..Default::default() })
    }

    fn with_date(d: Date) -> Features {
        Features::of(&LinkRecord { birth_date: Some(d), ..Default::default() })
    }

    /// An 18-character number from 17 digits, with its right check character.
    fn valid(first17: &str) -> String {
        format!("{first17}{}", crate::linkage::record::check_character(first17.as_bytes()) as char)
    }

    fn is_valid(id: &str) -> bool {
        crate::linkage::record::check_character(&id.as_bytes()[..17]) == id.as_bytes()[17]
    }

    #[test]
    fn id_number_levels() {
        let number = valid("11010519491231002");
        let base = with_id(&number);
        let level = |other: &str| Field::IdNumber.compare(&base, &with_id(other));
        let typo = |body: &str| {
            // The check character left as it was: a clerk's typo.
            let typed = format!("{body}{}", &number[17..]);
            assert!(!is_valid(&typed), "{typed} must be a mistyped number for this case");
            typed
        };
        assert_eq!(level(&number), id::EXACT);
        assert_eq!(level("110105491231002"), id::LEGACY_FORM);
        assert_eq!(level(&typo("11010519491231003")), id::SUBSTITUTION);
        assert_eq!(level(&typo("11010519491321002")), id::TRANSPOSITION);
        assert_eq!(
            level(&format!("{}{}", &number[..17], if &number[17..] == "0" { "1" } else { "0" })),
            id::SUBSTITUTION
        );
        // Two right numbers a digit apart are two people born the same day.
        assert_eq!(level(&valid("11010519491231004")), id::OTHER_NUMBER);
        assert_eq!(level(&valid("44030519800101001")), id::OTHER_NUMBER);
        assert_eq!(level(&typo("44030519800101001")), id::DIFFERENT);
        assert_eq!(Field::IdNumber.compare(&base, &with_id("")), MISSING);
    }

    #[test]
    fn name_levels() {
        let level = |a: &str, b: &str| Field::Name.compare(&with_name(a), &with_name(b));
        assert_eq!(level("张伟", "张伟"), name::EXACT);
        assert_eq!(level("张伟", "張偉"), name::SIMPLIFIED);
        assert_eq!(level("張偉", "張 偉"), name::EXACT);
        assert_eq!(level("张伟", "张炜"), name::PINYIN_TONES);
        assert_eq!(level("张伟", "张威"), name::PINYIN);
        assert_eq!(level("曾伟", "增伟"), name::PINYIN_TONES);
        assert_eq!(level("曾伟", "层伟"), name::PINYIN, "曾 read céng, typed as 层");
        assert_eq!(level("单芳", "丹芳"), name::PINYIN, "单 read dān");
        assert_eq!(level("解明", "谢明"), name::PINYIN_TONES);
        assert_eq!(level("仇勇", "球勇"), name::PINYIN_TONES);
        assert_eq!(level("区华", "欧华"), name::PINYIN_TONES);
        assert_eq!(level("王芳", "王小芳"), name::TWO_AND_THREE);
        assert_eq!(level("李明辉", "李明"), name::TWO_AND_THREE);
        assert_eq!(level("王芳", "王丽"), name::SURNAME);
        assert_eq!(level("王芳", "李丽"), name::DIFFERENT);
        assert_eq!(level("王芳", ""), MISSING);
    }

    #[test]
    fn birth_date_levels() {
        let base = with_date(date!(1990 - 03 - 05));
        let level = |d: Date| Field::BirthDate.compare(&base, &with_date(d));
        assert_eq!(level(date!(1990 - 03 - 05)), birth::EXACT);
        assert_eq!(level(date!(1990 - 05 - 03)), birth::SWAPPED);
        assert_eq!(level(date!(1990 - 03 - 04)), birth::ONE_DAY);
        assert_eq!(level(date!(1990 - 03 - 28)), birth::YEAR_MONTH);
        assert_eq!(level(date!(1991 - 03 - 05)), birth::DIFFERENT);
    }

    #[test]
    fn other_levels() {
        let rec = |community: &str, phone: &str, sex: Option<crate::registry::Sex>| {
            Features::of(&LinkRecord {
                community: Some(community.into()),
                phone: Some(phone.into()),
                sex,
                ..Default::default()
            })
        };
        let a = rec("440307001001", "13800138000", Some(crate::registry::Sex::Male));
        let b = rec("440307001002", "13800138001", Some(crate::registry::Sex::Female));
        let c = rec("440307002001", "", None);
        assert_eq!(Field::Community.compare(&a, &a), 1);
        assert_eq!(Field::Community.compare(&a, &b), 2);
        assert_eq!(Field::Community.compare(&a, &c), 3);
        assert_eq!(Field::Phone.compare(&a, &a), 1);
        assert_eq!(Field::Phone.compare(&a, &b), 2);
        assert_eq!(Field::Phone.compare(&a, &c), MISSING);
        assert_eq!(Field::Sex.compare(&a, &b), 2);
        assert_eq!(Field::Sex.compare(&a, &c), MISSING);
        for field in FIELDS {
            assert_eq!(field.level_count(), field.levels().len() + 1);
        }
    }
}
