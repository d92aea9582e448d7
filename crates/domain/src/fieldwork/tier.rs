//! 放心 / 关心 / 挂心: how often a resident's record is re-verified, decided ONLY by how
//! stable and how fresh the information is — housing, work, whether the phone answered,
//! how long since arrival, how long since the last verification. Never by sex, age,
//! marital status, children, health or anything reproductive (DESIGN.md, Scope): those
//! are not even inputs — [`StabilityFacts`] is all [`TierRules::assess`] sees.
//!
//! The rules are data (points per answer, thresholds), versioned, shown to the worker
//! with the reason for each resident's tier.

use serde::{Deserialize, Serialize};
use time::Date;

use super::verification::{months_after, months_before};
use crate::registry::ResidentFacts;
use crate::registry::codes::coded_enum;

coded_enum!(
    /// 随访等级: the follow-up tier.
    Tier {
        Reassured => ("reassured", "放心", "reassured"),
        Attention => ("attention", "关心", "attention"),
        Concern => ("concern", "挂心", "close follow-up"),
    }
);

coded_enum!(
    /// 住房: the kind of housing.
    Housing {
        Owned => ("owned", "自有住房", "owned"),
        LongLease => ("long_lease", "长期租住（一年以上）", "long lease (a year or more)"),
        ShortRental => ("short_rental", "短期租住", "short rental"),
        Dormitory => ("dormitory", "集体宿舍", "dormitory"),
        NoFixedHousing => ("none", "无固定住所", "no fixed housing"),
        Unknown => ("unknown", "不详", "not known"),
    }
);

coded_enum!(
    /// 就业: work.
    Work {
        FixedEmployer => ("fixed_employer", "固定单位", "fixed employer"),
        SelfEmployed => ("self_employed", "个体经营", "self-employed"),
        NoneKnown => ("none_known", "无/不详", "none known"),
    }
);

/// What the tier is computed from: nothing else about a person reaches the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StabilityFacts {
    pub housing: Housing,
    pub work: Work,
    /// Whether the phone answered at the last attempt (`None`: never tried, or no phone).
    pub phone_answered: Option<bool>,
    /// When the person came to live here (`None`: has always lived here).
    pub arrival: Option<Date>,
    pub last_verified: Option<Date>,
}

/// What is recorded about a resident's housing, work and phone (`None`: nothing yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedStability {
    pub housing: Housing,
    pub work: Work,
    pub phone_answered: Option<bool>,
}

impl StabilityFacts {
    /// The facts the rules see, taken from a resident's record: of everything in
    /// `facts` only the arrival date is read. Sex, birth date, marital status,
    /// relationships (children), ethnicity and the rest never reach the rules.
    pub fn of(
        facts: &ResidentFacts,
        recorded: Option<RecordedStability>,
        last_verified: Option<Date>,
    ) -> StabilityFacts {
        let recorded = recorded.unwrap_or(RecordedStability {
            housing: Housing::Unknown,
            work: Work::NoneKnown,
            phone_answered: None,
        });
        StabilityFacts {
            housing: recorded.housing,
            work: recorded.work,
            phone_answered: recorded.phone_answered,
            arrival: facts.arrival_date,
            last_verified,
        }
    }
}

/// One tier's name, colour and re-verification interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSetting {
    pub tier: Tier,
    pub name_zh: String,
    pub name_en: String,
    /// A CSS colour (`#2b6cb0`).
    pub colour: String,
    pub interval_months: u8,
}

/// Points for each answer; more points, less stable or less fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRules {
    pub version: u32,
    pub settings: Vec<TierSetting>,
    pub housing: Vec<(Housing, u8)>,
    pub work: Vec<(Work, u8)>,
    pub phone_answered: u8,
    pub phone_not_answered: u8,
    pub phone_unknown: u8,
    /// (arrived less than this many months ago, points), checked in order.
    pub arrival: Vec<(u8, u8)>,
    /// (last verified more than this many months ago, points), checked in order.
    pub staleness: Vec<(u8, u8)>,
    pub never_verified: u8,
    /// At most this many points: 放心; at most `attention_max`: 关心; more: 挂心.
    pub reassured_max: u8,
    pub attention_max: u8,
}

impl Default for TierRules {
    fn default() -> Self {
        TierRules {
            version: 1,
            settings: vec![
                TierSetting {
                    tier: Tier::Reassured,
                    name_zh: "放心".into(),
                    name_en: "reassured".into(),
                    colour: "#2b6cb0".into(),
                    interval_months: 6,
                },
                TierSetting {
                    tier: Tier::Attention,
                    name_zh: "关心".into(),
                    name_en: "attention".into(),
                    colour: "#b7791f".into(),
                    interval_months: 3,
                },
                TierSetting {
                    tier: Tier::Concern,
                    name_zh: "挂心".into(),
                    name_en: "close follow-up".into(),
                    colour: "#c53030".into(),
                    interval_months: 1,
                },
            ],
            housing: vec![
                (Housing::Owned, 0),
                (Housing::LongLease, 1),
                (Housing::ShortRental, 2),
                (Housing::Dormitory, 2),
                (Housing::NoFixedHousing, 3),
                (Housing::Unknown, 1),
            ],
            work: vec![(Work::FixedEmployer, 0), (Work::SelfEmployed, 1), (Work::NoneKnown, 2)],
            phone_answered: 0,
            phone_not_answered: 2,
            phone_unknown: 1,
            arrival: vec![(6, 2), (24, 1)],
            staleness: vec![(12, 3), (6, 2), (3, 1)],
            never_verified: 3,
            reassured_max: 2,
            attention_max: 5,
        }
    }
}

/// One line of "why": the factor, the answer and the points it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub factor_zh: String,
    pub factor_en: String,
    pub answer_zh: String,
    pub answer_en: String,
    pub points: u8,
}

/// A tier with its reasons and the rules version that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub tier: Tier,
    pub points: u32,
    pub reasons: Vec<Reason>,
    pub rules_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierRulesError {
    #[error("随访规则无效：{zh} / invalid follow-up rules: {en}")]
    Invalid { zh: String, en: String },
}

fn reason(factor_zh: &str, factor_en: &str, answer_zh: String, answer_en: String, points: u8) -> Reason {
    Reason { factor_zh: factor_zh.into(), factor_en: factor_en.into(), answer_zh, answer_en, points }
}

impl TierRules {
    /// Checks that every answer has points, every tier a setting, and thresholds rise.
    pub fn check(&self) -> Result<(), TierRulesError> {
        let invalid = |zh: &str, en: &str| Err(TierRulesError::Invalid { zh: zh.into(), en: en.into() });
        for h in Housing::ALL {
            if !self.housing.iter().any(|(k, _)| k == h) {
                return invalid(
                    &format!("住房“{}”没有分值", h.label_zh()),
                    &format!("housing '{}' has no points", h.key()),
                );
            }
        }
        for w in Work::ALL {
            if !self.work.iter().any(|(k, _)| k == w) {
                return invalid(
                    &format!("就业“{}”没有分值", w.label_zh()),
                    &format!("work '{}' has no points", w.key()),
                );
            }
        }
        for t in Tier::ALL {
            match self.settings.iter().find(|s| s.tier == *t) {
                None => {
                    return invalid(&format!("缺少“{}”的设置", t.label_zh()), &format!("no setting for '{}'", t.key()));
                }
                Some(s) if s.interval_months == 0 || s.interval_months > 24 => {
                    return invalid("复核间隔应为1到24个月", "intervals must be 1 to 24 months");
                }
                Some(s)
                    if !s.colour.starts_with('#')
                        || s.colour.len() != 7
                        || !s.colour[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    return invalid("颜色应写作 #RRGGBB", "colours are written #RRGGBB");
                }
                Some(_) => {}
            }
        }
        if self.reassured_max >= self.attention_max {
            return invalid("放心的分数上限应低于关心", "the reassured limit must be below the attention limit");
        }
        Ok(())
    }

    pub fn setting(&self, tier: Tier) -> Option<&TierSetting> {
        self.settings.iter().find(|s| s.tier == tier)
    }

    /// Months between re-verifications for a tier.
    pub fn interval(&self, tier: Tier) -> u8 {
        self.setting(tier).map(|s| s.interval_months).unwrap_or(1)
    }

    /// The tier for these facts on `today`, with the reason for each point.
    pub fn assess(&self, facts: &StabilityFacts, today: Date) -> Assessment {
        let mut reasons = Vec::new();
        let points_of =
            |list: &[(Housing, u8)], h: Housing| list.iter().find(|(k, _)| *k == h).map(|(_, p)| *p).unwrap_or(0);
        reasons.push(reason(
            "住房",
            "housing",
            facts.housing.label_zh().into(),
            facts.housing.label_en().into(),
            points_of(&self.housing, facts.housing),
        ));
        let work = self.work.iter().find(|(k, _)| *k == facts.work).map(|(_, p)| *p).unwrap_or(0);
        reasons.push(reason("就业", "work", facts.work.label_zh().into(), facts.work.label_en().into(), work));
        let (zh, en, p) = match facts.phone_answered {
            Some(true) => ("上次拨打接通", "answered at the last attempt", self.phone_answered),
            Some(false) => ("上次拨打未接通", "did not answer at the last attempt", self.phone_not_answered),
            None => ("未拨打或无电话", "not tried, or no phone", self.phone_unknown),
        };
        reasons.push(reason("电话", "phone", zh.into(), en.into(), p));
        if let Some(arrival) = facts.arrival {
            let rule = self.arrival.iter().find(|(months, _)| arrival > months_before(today, *months));
            let (zh, en, p) = match rule {
                Some((months, p)) => {
                    (format!("来本地不足{months}个月"), format!("arrived less than {months} months ago"), *p)
                }
                None => ("来本地较久".to_string(), "arrived long ago".to_string(), 0),
            };
            reasons.push(reason("来本地时间", "time since arrival", zh, en, p));
        }
        let (zh, en, p) = match facts.last_verified {
            None => ("从未核实".to_string(), "never verified".to_string(), self.never_verified),
            Some(d) => match self.staleness.iter().find(|(months, _)| d < months_before(today, *months)) {
                Some((months, p)) => {
                    (format!("超过{months}个月未核实"), format!("not verified for over {months} months"), *p)
                }
                None => (format!("{d}核实"), format!("verified {d}"), 0),
            },
        };
        reasons.push(reason("核实", "last verification", zh, en, p));
        let points: u32 = reasons.iter().map(|r| u32::from(r.points)).sum();
        let tier = if points <= u32::from(self.reassured_max) {
            Tier::Reassured
        } else if points <= u32::from(self.attention_max) {
            Tier::Attention
        } else {
            Tier::Concern
        };
        Assessment { tier, points, reasons, rules_version: self.version }
    }

    /// When a resident of `tier` last verified on `last_verified` is due again.
    pub fn due_on(&self, tier: Tier, last_verified: Option<Date>) -> Option<Date> {
        Some(months_after(last_verified?, self.interval(tier)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn stable() -> StabilityFacts {
        StabilityFacts {
            housing: Housing::Owned,
            work: Work::FixedEmployer,
            phone_answered: Some(true),
            arrival: None,
            last_verified: Some(date!(2026 - 11 - 01)),
        }
    }

    #[test]
    fn default_rules_are_valid_and_explain_themselves() {
        let rules = TierRules::default();
        rules.check().unwrap();
        let today = date!(2026 - 11 - 24);
        let a = rules.assess(&stable(), today);
        assert_eq!(a.tier, Tier::Reassured);
        assert_eq!(a.points, 0);
        let newcomer = StabilityFacts {
            housing: Housing::ShortRental,
            work: Work::NoneKnown,
            phone_answered: Some(false),
            arrival: Some(date!(2026 - 10 - 01)),
            last_verified: None,
        };
        let a = rules.assess(&newcomer, today);
        assert_eq!(a.tier, Tier::Concern);
        assert_eq!(a.points, 2 + 2 + 2 + 2 + 3);
        assert!(a.reasons.iter().any(|r| r.answer_zh == "来本地不足6个月" && r.points == 2));
        let middling =
            StabilityFacts { housing: Housing::LongLease, last_verified: Some(date!(2026 - 03 - 01)), ..stable() };
        assert_eq!(rules.assess(&middling, today).tier, Tier::Attention, "1 + 3 = 4 points");
        assert_eq!(rules.due_on(Tier::Concern, Some(date!(2026 - 01 - 31))), Some(date!(2026 - 02 - 28)));
        assert_eq!(rules.due_on(Tier::Reassured, Some(date!(2026 - 05 - 24))), Some(date!(2026 - 11 - 24)));
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let mut rules = TierRules::default();
        rules.housing.retain(|(h, _)| *h != Housing::Dormitory);
        assert!(rules.check().unwrap_err().to_string().contains("dormitory"));
        let mut rules = TierRules::default();
        rules.settings[0].colour = "blue".into();
        assert!(rules.check().is_err());
        let rules = TierRules { reassured_max: 9, ..TierRules::default() };
        assert!(rules.check().is_err());
        // Rules travel as JSON and come back the same.
        let json = serde_json::to_string(&TierRules::default()).unwrap();
        assert_eq!(serde_json::from_str::<TierRules>(&json).unwrap(), TierRules::default());
    }

    fn facts() -> impl Strategy<Value = StabilityFacts> {
        (
            0usize..6,
            0usize..3,
            proptest::option::of(any::<bool>()),
            proptest::option::of(0i64..4000),
            proptest::option::of(0i64..1200),
        )
            .prop_map(|(h, w, phone, arrival, verified)| StabilityFacts {
                housing: Housing::ALL[h],
                work: Work::ALL[w],
                phone_answered: phone,
                arrival: arrival.map(|d| date!(2026 - 11 - 24) - time::Duration::days(d)),
                last_verified: verified.map(|d| date!(2026 - 11 - 24) - time::Duration::days(d)),
            })
    }

    fn person(sex: usize, birth: i64, marital: usize, relationship: usize, status: usize) -> ResidentFacts {
        use crate::registry::*;
        ResidentFacts {
            name: PersonName::parse("林某").unwrap(),
            sex: Sex::ALL[sex],
            birth_date: date!(2026 - 01 - 01) - time::Duration::days(birth),
            identity: Identity::Missing(IdMissingReason::Unknown),
            ethnicity: Ethnicity::HAN,
            phone: None,
            registered_residence: crate::org::DivisionCode::parse("440307").unwrap(),
            household_id: uuid::Uuid::nil(),
            relationship: Relationship::ALL[relationship],
            residence_status: ResidenceStatus::ALL[status],
            arrival_date: Some(date!(2026 - 09 - 01)),
            marital_status: MaritalStatus::ALL[marital],
        }
    }

    proptest! {
        /// Changing sex, age, marital status, relationship (children), residence status
        /// or anything else about the person but housing, work, phone, arrival and the
        /// last verification never changes the tier or its reasons.
        #[test]
        fn forbidden_attributes_never_change_the_tier(
            recorded in (0usize..6, 0usize..3, proptest::option::of(any::<bool>())),
            a in (0usize..2, 0i64..36500, 0usize..5, 0usize..9, 0usize..3),
            b in (0usize..2, 0i64..36500, 0usize..5, 0usize..9, 0usize..3),
            verified in proptest::option::of(0i64..1000),
        ) {
            let rules = TierRules::default();
            let today = date!(2026 - 11 - 24);
            let recorded = Some(RecordedStability { housing: Housing::ALL[recorded.0], work: Work::ALL[recorded.1], phone_answered: recorded.2 });
            let last = verified.map(|d| today - time::Duration::days(d));
            let one = StabilityFacts::of(&person(a.0, a.1, a.2, a.3, a.4), recorded, last);
            let other = StabilityFacts::of(&person(b.0, b.1, b.2, b.3, b.4), recorded, last);
            prop_assert_eq!(rules.assess(&one, today), rules.assess(&other, today));
        }

        /// Less stable or less fresh never means a lower tier.
        #[test]
        fn worse_facts_never_lower_the_tier(f in facts()) {
            let rules = TierRules::default();
            let today = date!(2026 - 11 - 24);
            let base = rules.assess(&f, today).tier;
            let worse = [
                StabilityFacts { housing: Housing::NoFixedHousing, ..f },
                StabilityFacts { work: Work::NoneKnown, ..f },
                StabilityFacts { phone_answered: Some(false), ..f },
                StabilityFacts { last_verified: None, ..f },
            ];
            for w in worse {
                prop_assert!(rules.assess(&w, today).tier >= base);
            }
            let a = rules.assess(&f, today);
            prop_assert_eq!(a.points, a.reasons.iter().map(|r| u32::from(r.points)).sum::<u32>());
        }
    }
}
