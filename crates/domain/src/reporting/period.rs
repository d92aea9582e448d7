//! 统计期: months, quarters and years, written the way statistical tables name them
//! (`2026-10`, `2026-Q4`, `2026`).

use std::fmt;

use time::{Date, Month as CalendarMonth};

/// One calendar month, the unit every figure is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "统计期“{0}”无法识别，应为 2026-10、2026-Q4 或 2026 / period “{0}” not understood: use 2026-10, 2026-Q4 or 2026"
    )]
    Unrecognised(String),
}

impl Month {
    pub fn new(year: i32, month: u8) -> Option<Month> {
        ((1..=12).contains(&month) && (1900..=9999).contains(&year)).then_some(Month { year, month })
    }

    pub fn of(date: Date) -> Month {
        Month { year: date.year(), month: date.month() as u8 }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn number(self) -> u8 {
        self.month
    }

    pub fn first_day(self) -> Date {
        // Month numbers are kept in 1..=12 by construction.
        let month = CalendarMonth::try_from(self.month).unwrap_or(CalendarMonth::January);
        Date::from_calendar_date(self.year, month, 1).unwrap_or(Date::MIN)
    }

    pub fn last_day(self) -> Date {
        self.next().first_day().previous_day().unwrap_or(Date::MIN)
    }

    pub fn next(self) -> Month {
        if self.month == 12 { Month { year: self.year + 1, month: 1 } } else { Month { month: self.month + 1, ..self } }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 { Month { year: self.year - 1, month: 12 } } else { Month { month: self.month - 1, ..self } }
    }

    /// Stored form, which sorts in time order as text.
    pub fn key(self) -> String {
        self.to_string()
    }

    pub fn parse(text: &str) -> Result<Month, PeriodError> {
        match Period::parse(text)? {
            Period::Month(m) => Ok(m),
            _ => Err(PeriodError::Unrecognised(text.to_string())),
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// 月报, 季报 or 年报.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Month(Month),
    Quarter { year: i32, quarter: u8 },
    Year(i32),
}

impl Period {
    /// Accepts `2026-10`, `2026-1`, `202610`, `2026-Q4`, `2026Q4`, `2026`, `2026年10月`.
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::Unrecognised(text.to_string());
        let t = text.trim().replace('年', "-").replace('月', "");
        let t = t.trim_end_matches('-');
        // Everything below slices by byte; periods are ASCII once 年/月 are replaced.
        if !t.is_ascii() {
            return Err(bad());
        }
        let number = |s: &str| -> Result<i32, PeriodError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<i32>().map_err(|_| bad())
        };
        let upper = t.to_ascii_uppercase();
        if let Some((year, quarter)) = upper.split_once('Q') {
            let year = number(year.trim_end_matches('-'))?;
            let quarter = number(quarter)?;
            if !(1..=4).contains(&quarter) || !(1900..=9999).contains(&year) {
                return Err(bad());
            }
            return Ok(Period::Quarter { year, quarter: quarter as u8 });
        }
        let (year, month) = match t.split_once('-') {
            Some((y, m)) => (number(y)?, Some(number(m)?)),
            None if t.len() == 6 => (number(&t[..4])?, Some(number(&t[4..])?)),
            None => (number(t)?, None),
        };
        match month {
            Some(m) => u8::try_from(m).ok().and_then(|m| Month::new(year, m)).map(Period::Month).ok_or_else(bad),
            None if (1900..=9999).contains(&year) => Ok(Period::Year(year)),
            None => Err(bad()),
        }
    }

    /// The months the period covers, in order.
    pub fn months(self) -> Vec<Month> {
        let (year, first, count) = match self {
            Period::Month(m) => return vec![m],
            Period::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1, 3),
            Period::Year(year) => (year, 1, 12),
        };
        (first..first + count).filter_map(|m| Month::new(year, m)).collect()
    }

    pub fn first_month(self) -> Month {
        self.months()[0]
    }

    pub fn last_month(self) -> Month {
        *self.months().last().unwrap_or(&self.first_month())
    }

    pub fn first_day(self) -> Date {
        self.first_month().first_day()
    }

    pub fn last_day(self) -> Date {
        self.last_month().last_day()
    }

    /// Days in the period, for annualising rates.
    pub fn days(self) -> i64 {
        (self.last_day() - self.first_day()).whole_days() + 1
    }

    pub fn label_zh(self) -> String {
        match self {
            Period::Month(m) => format!("{}年{}月", m.year, m.month),
            Period::Quarter { year, quarter } => format!("{year}年第{quarter}季度"),
            Period::Year(year) => format!("{year}年"),
        }
    }

    /// DHIS2's period identifiers: `202610`, `2026Q4`, `2026`.
    pub fn dhis2_id(self) -> String {
        match self {
            Period::Month(m) => format!("{:04}{:02}", m.year, m.month),
            Period::Quarter { year, quarter } => format!("{year}Q{quarter}"),
            Period::Year(year) => year.to_string(),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month(m) => m.fmt(f),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
            Period::Year(year) => write!(f, "{year}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn parses_the_usual_spellings() {
        let oct = Period::Month(Month::new(2026, 10).unwrap());
        for text in ["2026-10", "202610", "2026年10月", " 2026-10 "] {
            assert_eq!(Period::parse(text), Ok(oct), "{text}");
        }
        assert_eq!(Period::parse("2026-Q4"), Ok(Period::Quarter { year: 2026, quarter: 4 }));
        assert_eq!(Period::parse("2026q1"), Ok(Period::Quarter { year: 2026, quarter: 1 }));
        assert_eq!(Period::parse("2026"), Ok(Period::Year(2026)));
        for bad in ["2026-13", "2026-Q5", "x", "", "2026-00", "26-1", "20€6", "二〇二六"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quarter_and_year_cover_their_months() {
        let q = Period::Quarter { year: 2026, quarter: 4 };
        assert_eq!(q.months().iter().map(|m| m.to_string()).collect::<Vec<_>>(), ["2026-10", "2026-11", "2026-12"]);
        assert_eq!(q.first_day(), date!(2026 - 10 - 01));
        assert_eq!(q.last_day(), date!(2026 - 12 - 31));
        assert_eq!(Period::Year(2024).days(), 366);
        assert_eq!(Month::new(2026, 2).unwrap().last_day(), date!(2026 - 02 - 28));
    }

    proptest! {
        #[test]
        fn display_parses_back(year in 1900i32..9999, month in 1u8..=12, quarter in 1u8..=4) {
            let m = Period::Month(Month::new(year, month).unwrap());
            prop_assert_eq!(Period::parse(&m.to_string()), Ok(m));
            let q = Period::Quarter { year, quarter };
            prop_assert_eq!(Period::parse(&q.to_string()), Ok(q));
            prop_assert_eq!(Period::parse(&Period::Year(year).to_string()), Ok(Period::Year(year)));
        }

        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,12}") {
            let _ = Period::parse(&text);
        }

        #[test]
        fn next_and_previous_are_inverse(year in 1901i32..9998, month in 1u8..=12) {
            let m = Month::new(year, month).unwrap();
            prop_assert_eq!(m.next().previous(), m);
            prop_assert!(m.next() > m);
            prop_assert_eq!(Month::of(m.last_day()), m);
            prop_assert_eq!(m.last_day().next_day().map(Month::of), Some(m.next()));
        }
    }
}
