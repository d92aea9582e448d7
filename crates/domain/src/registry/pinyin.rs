//! 拼音首字母 — the pinyin initials of a name, so that "zs" finds 张三.

use pinyin::ToPinyin;

/// Surnames whose reading differs from the character's most common one.
const SURNAME_READINGS: [(char, char); 12] = [
    ('曾', 'z'),
    ('单', 's'),
    ('解', 'x'),
    ('仇', 'q'),
    ('区', 'o'),
    ('朴', 'p'),
    ('查', 'z'),
    ('盖', 'g'),
    ('乐', 'y'),
    ('缪', 'm'),
    ('覃', 'q'),
    ('尉', 'y'),
];

/// Lowercase initials: one letter per Chinese character, the first letter of each
/// Latin word; other characters (the middle dot, spaces) are skipped.
pub fn name_initials(name: &str) -> String {
    let mut out = String::new();
    let mut in_word = false;
    for (i, c) in name.chars().enumerate() {
        if i == 0
            && let Some((_, letter)) = SURNAME_READINGS.iter().find(|(s, _)| *s == c)
        {
            out.push(*letter);
            continue;
        }
        if let Some(p) = c.to_pinyin() {
            out.push_str(p.first_letter());
            in_word = false;
        } else if c.is_ascii_alphabetic() {
            if !in_word {
                out.push(c.to_ascii_lowercase());
            }
            in_word = true;
        } else {
            in_word = false;
        }
    }
    out
}

/// Whether a search term looks like pinyin initials (2–8 Latin letters).
pub fn looks_like_initials(term: &str) -> bool {
    (2..=8).contains(&term.len()) && term.bytes().all(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn initials_of_common_names() {
        assert_eq!(name_initials("张三"), "zs");
        assert_eq!(name_initials("欧阳娜娜"), "oynn");
        assert_eq!(name_initials("曾小贤"), "zxx");
        assert_eq!(name_initials("单田芳"), "stf");
        assert_eq!(name_initials("阿依古丽·买买提"), "ayglmmt");
        assert_eq!(name_initials("John Smith"), "js");
    }

    proptest! {
        #[test]
        fn one_letter_per_chinese_character(name in "[\\u{4e00}-\\u{9fa5}]{1,6}") {
            let initials = name_initials(&name);
            prop_assert!(initials.bytes().all(|b| b.is_ascii_lowercase()));
            prop_assert!(initials.len() <= name.chars().count());
        }
    }
}
