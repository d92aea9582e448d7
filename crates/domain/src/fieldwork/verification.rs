//! 核实: a worker confirms a resident's record. The date of the last confirmation is what
//! the "unverified" counts and, later, the follow-up tiers read.

use time::{Date, Month};

use crate::registry::codes::coded_enum;

coded_enum!(
    /// How the record was confirmed.
    VerificationMethod {
        InPerson => ("in_person", "本人当面核实", "seen in person"),
        HouseholdMember => ("household_member", "同户成员确认", "confirmed by a household member"),
        LandlordOrNeighbour => ("landlord_or_neighbour", "房东或邻居提供", "from the landlord or a neighbour"),
        Phone => ("phone", "电话核实", "by telephone"),
        Document => ("document", "证件材料核实", "from documents"),
    }
);

/// A record not confirmed for this many months counts as unverified (the longest
/// follow-up interval of the default tiers, 放心: six months).
pub const UNVERIFIED_AFTER_MONTHS: u8 = 6;

/// Records last verified before the returned date (or never) are unverified on `today`.
/// Months are calendar months; a day missing in the earlier month (31 August → 31 February)
/// falls back to that month's last day.
pub fn unverified_before(today: Date) -> Date {
    months_before(today, UNVERIFIED_AFTER_MONTHS)
}

/// The same day `months` calendar months before `today` (the month's last day when it
/// is shorter).
pub fn months_before(today: Date, months: u8) -> Date {
    shift_months(today, -i32::from(months))
}

/// The same day `months` calendar months after `day` (the month's last day when shorter).
pub fn months_after(day: Date, months: u8) -> Date {
    shift_months(day, i32::from(months))
}

fn shift_months(today: Date, by: i32) -> Date {
    let months = -by;
    let index = today.year() * 12 + i32::from(u8::from(today.month())) - 1 - months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u8 + 1);
    let month = Month::try_from(month).unwrap_or(Month::January);
    let day = today.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn six_calendar_months_back() {
        assert_eq!(unverified_before(date!(2026 - 11 - 24)), date!(2026 - 05 - 24));
        assert_eq!(unverified_before(date!(2026 - 03 - 15)), date!(2025 - 09 - 15));
        assert_eq!(unverified_before(date!(2026 - 08 - 31)), date!(2026 - 02 - 28));
        assert_eq!(unverified_before(date!(2024 - 08 - 31)), date!(2024 - 02 - 29));
    }

    proptest! {
        #[test]
        fn the_cutoff_is_between_181_and_184_days_back(days in 0i64..40_000) {
            let today = date!(1950 - 01 - 01) + time::Duration::days(days);
            let back = (today - unverified_before(today)).whole_days();
            prop_assert!((181..=184).contains(&back), "{today}: {back} days");
        }
    }
}
