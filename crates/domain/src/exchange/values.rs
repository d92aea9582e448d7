//! Values as people type them into sheets: full-width digits, dates in half a dozen
//! shapes and Excel serial numbers, labels with small variations.

use time::{Date, Duration, Month};
use unicode_normalization::UnicodeNormalization;

use crate::registry::{MaritalStatus, Relationship, ResidenceStatus, Sex};

/// NFKC (full-width digits and letters become ASCII), trimmed, without zero-width
/// characters.
pub fn normalize(text: &str) -> String {
    let text: String =
        text.nfkc().filter(|c| !matches!(c, '\u{feff}' | '\u{200b}' | '\u{200c}' | '\u{200d}')).collect();
    text.trim().to_string()
}

/// Why a date cell is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error(
        "“{input}”不是日期，应如 2020-01-05、2020/1/5、2020年1月5日 或 20200105 / '{input}' is not a date such as 2020-01-05, 2020/1/5, 2020年1月5日 or 20200105"
    )]
    Shape { input: String },
    #[error("日期“{input}”不存在 / there is no such date as '{input}'")]
    Impossible { input: String },
}

/// Reads a date: `2020-01-05`, `2020/1/5`, `2020.1.5`, `2020年1月5日`, `20200105`, an
/// Excel serial number (`43835`), optionally followed by a time (`2020-01-05 00:00:00`).
pub fn parse_date(input: &str) -> Result<Date, DateError> {
    let text = normalize(input);
    let shape = || DateError::Shape { input: input.trim().to_string() };
    // A time after the date (Excel exports "2020-01-05 00:00:00") is dropped.
    let text = text.split([' ', 'T']).next().unwrap_or("");
    let parts: Vec<&str> = text.split(['-', '/', '.', '年', '月', '日']).filter(|p| !p.is_empty()).collect::<Vec<_>>();
    let numbers = |parts: &[&str]| -> Option<(i32, u8, u8)> {
        if parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4) {
            return None;
        }
        Some((parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?))
    };
    let (year, month, day) = match parts.as_slice() {
        [y, _, _] if y.len() == 4 => numbers(&parts).ok_or_else(shape)?,
        [digits] if digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()) => (
            digits[..4].parse().map_err(|_| shape())?,
            digits[4..6].parse().map_err(|_| shape())?,
            digits[6..].parse().map_err(|_| shape())?,
        ),
        _ => return excel_serial(text).ok_or_else(shape),
    };
    let month = Month::try_from(month).map_err(|_| DateError::Impossible { input: input.trim().to_string() })?;
    Date::from_calendar_date(year, month, day).map_err(|_| DateError::Impossible { input: input.trim().to_string() })
}

/// An Excel serial date (days since 1899-12-30, as Excel counts after its 1900 leap-year
/// bug); only values from 1900-03-01 to 9999-12-31 are taken.
pub fn excel_serial(text: &str) -> Option<Date> {
    let whole = text.split_once('.').map_or(
        text,
        |(w, fraction)| {
            if fraction.bytes().all(|b| b.is_ascii_digit()) { w } else { "" }
        },
    );
    if whole.is_empty() || whole.len() > 7 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let serial: i64 = whole.parse().ok()?;
    if !(61..=2_958_465).contains(&serial) {
        return None;
    }
    let base = Date::from_calendar_date(1899, Month::December, 30).ok()?;
    base.checked_add(Duration::days(serial))
}

/// A whole number in a cell such as "3", "３", "03", "3单元", "12层", "12F".
pub fn parse_number(input: &str, min: i16, max: i16) -> Option<i16> {
    let text = normalize(input);
    let text = text.trim_end_matches(['单', '元', '层', '楼', 'F', 'f', '栋', '号']).trim_start_matches('第');
    let n: i16 = text.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

/// 性别 as written: 男/女, 男性/女性, the GB code 1/2, male/female, M/F.
pub fn parse_sex(input: &str) -> Option<Sex> {
    let text = normalize(input);
    Sex::from_text(&text).or(match text.to_ascii_lowercase().as_str() {
        "男性" | "m" => Some(Sex::Male),
        "女性" | "f" => Some(Sex::Female),
        _ => None,
    })
}

pub fn parse_marital_status(input: &str) -> Option<MaritalStatus> {
    let text = normalize(input);
    MaritalStatus::from_text(&text).or(match text.as_str() {
        "初婚" | "再婚" | "复婚" | "有配偶" | "已婚有配偶" => Some(MaritalStatus::Married),
        "未婚单身" | "单身" => Some(MaritalStatus::Unmarried),
        "" | "不详" => Some(MaritalStatus::Unspecified),
        _ => None,
    })
}

pub fn parse_relationship(input: &str) -> Option<Relationship> {
    let text = normalize(input);
    Relationship::from_text(&text).or(match text.as_str() {
        "本人" | "户主本人" => Some(Relationship::Head),
        "妻" | "夫" | "妻子" | "丈夫" | "配偶" => Some(Relationship::Spouse),
        "儿子" | "长子" | "次子" | "三子" | "独生子" | "养子" | "继子" => Some(Relationship::Son),
        "女儿" | "长女" | "次女" | "三女" | "独生女" | "养女" | "继女" => Some(Relationship::Daughter),
        "孙子" | "孙女" | "外孙子" | "外孙女" => Some(Relationship::Grandchild),
        "父亲" | "母亲" | "父" | "母" | "公公" | "婆婆" | "岳父" | "岳母" => Some(Relationship::Parent),
        "祖父" | "祖母" | "外祖父" | "外祖母" => Some(Relationship::Grandparent),
        "兄" | "弟" | "姐" | "妹" | "哥哥" | "弟弟" | "姐姐" | "妹妹" => Some(Relationship::Sibling),
        "租客" | "合租" | "同住" | "朋友" | "亲属" => Some(Relationship::Other),
        _ => None,
    })
}

pub fn parse_residence_status(input: &str) -> Option<ResidenceStatus> {
    let text = normalize(input);
    ResidenceStatus::from_text(&text).or(match text.as_str() {
        "户籍" | "常住户籍人口" | "本地户籍" => Some(ResidenceStatus::Registered),
        "流入" | "流动人口" | "外来人口" | "暂住人口" => Some(ResidenceStatus::Inflow),
        "流出" | "外出人口" => Some(ResidenceStatus::Outflow),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn dates_as_people_type_them() {
        for text in [
            "2020-01-05",
            "2020/1/5",
            "2020.1.5",
            "2020年1月5日",
            "20200105",
            "２０２０－０１－０５",
            "43835",
            "2020-01-05 00:00:00",
            " 2020/01/05 ",
        ] {
            assert_eq!(parse_date(text), Ok(date!(2020 - 01 - 05)), "{text}");
        }
        assert!(matches!(parse_date("2021-02-29"), Err(DateError::Impossible { .. })));
        assert!(matches!(parse_date("2021-13-01"), Err(DateError::Impossible { .. })));
        assert!(matches!(parse_date("20211301"), Err(DateError::Impossible { .. })));
        for text in ["", "昨天", "1/5/2020", "2020-01", "12", "2020-01-05x"] {
            assert!(matches!(parse_date(text), Err(DateError::Shape { .. })), "{text}");
        }
    }

    #[test]
    fn numbers_and_labels_with_their_usual_decorations() {
        assert_eq!(parse_number("３单元", 1, 50), Some(3));
        assert_eq!(parse_number("12F", 1, 200), Some(12));
        assert_eq!(parse_number("0", 1, 50), None);
        assert_eq!(parse_sex("女性"), Some(Sex::Female));
        assert_eq!(parse_sex("1"), Some(Sex::Male));
        assert_eq!(parse_relationship("长女"), Some(Relationship::Daughter));
        assert_eq!(parse_relationship("户主"), Some(Relationship::Head));
        assert_eq!(parse_residence_status("流入人口"), Some(ResidenceStatus::Inflow));
        assert_eq!(parse_marital_status("初婚"), Some(MaritalStatus::Married));
    }

    proptest! {
        #[test]
        fn every_date_reads_back_in_every_written_shape(days in 0i64..60_000) {
            let d = date!(1900 - 03 - 01) + Duration::days(days);
            let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
            for text in [
                d.to_string(),
                format!("{y}/{m}/{day}"),
                format!("{y}年{m}月{day}日"),
                format!("{y:04}{m:02}{day:02}"),
                format!("{}", (d - date!(1899 - 12 - 30)).whole_days()),
            ] {
                prop_assert_eq!(parse_date(&text), Ok(d), "{}", text);
            }
        }

        #[test]
        fn date_parsing_never_panics(text in "\\PC{0,24}") {
            let _ = parse_date(&text);
        }
    }
}
