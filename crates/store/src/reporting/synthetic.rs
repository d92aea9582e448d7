//! A year of synthetic change events for the demo and the benchmark: births, deaths,
//! marriages, moves and corrections at realistic yearly rates, each reported by a grid
//! worker and passed through the same chain (and code) a real event takes. Events whose
//! district acceptance would fall before this month are accepted; later ones are left
//! pending at the level they would have reached, a few returned.

use std::collections::{HashMap, HashSet};

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};
use jiceng_domain::registry::{
    IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus,
    ResidentFacts, Sex,
};
use jiceng_domain::reporting::{EventAction, EventDetails, Month};
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use time::{Date, Duration};
use uuid::Uuid;

use super::{Actor, NewEvent, Reporting};
use crate::error::{StoreError, StoreResult};
use crate::fieldwork::verify_in;
use crate::org::reference;
use crate::registry::rows::{person_order, resident_row};
use crate::registry::{ResidentVersion, resident_select};
use crate::write::UnitOfWork;

/// What to generate.
#[derive(Debug, Clone)]
pub struct HistoryPlan {
    pub county: DivisionCode,
    pub seed: u64,
    pub today: Date,
    /// Share of residents verified in each month (0.02 = 2 %).
    pub verified_per_month: f64,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistorySummary {
    pub accepted: u64,
    pub pending: u64,
    pub returned: u64,
    pub verifications: u64,
    pub communities: u64,
}

/// Yearly rates per resident (births ≈ 9 ‰ as the seeds quote; moves at the scale of a
/// district with many migrants).
const YEARLY: [(Kind, f64); 9] = [
    (Kind::Birth, 0.009),
    (Kind::Death, 0.005),
    (Kind::Marriage, 0.006),
    (Kind::Divorce, 0.002),
    (Kind::MoveIn, 0.06),
    (Kind::MoveOut, 0.05),
    (Kind::MoveWithin, 0.01),
    (Kind::StatusChange, 0.003),
    (Kind::Correction, 0.004),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Birth,
    Death,
    Marriage,
    Divorce,
    MoveIn,
    MoveOut,
    MoveWithin,
    StatusChange,
    Correction,
}

const GRID: Actor<'static> = Actor { username: "demo-grid", role: Role::GridWorker };
const COMMUNITY: Actor<'static> = Actor { username: "demo-community", role: Role::Specialist };
const STREET: Actor<'static> = Actor { username: "demo-street", role: Role::Street };
const DISTRICT: Actor<'static> = Actor { username: "demo-district", role: Role::District };

fn age_on(v: &ResidentVersion, on: Date) -> i32 {
    v.facts.age_on(on)
}

fn given(rng: &mut ChaCha8Rng, sex: Sex) -> &'static str {
    let pool = if sex == Sex::Male { MALE_GIVEN } else { FEMALE_GIVEN };
    pool[rng.random_range(0..pool.len())]
}

impl Reporting<'_> {
    /// Writes a year of events (and monthly verifications) for every community of the
    /// county that has residents, one transaction per community.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_synthetic_history(
        &self,
        plan: &HistoryPlan,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<HistorySummary> {
        let communities = reference::communities_under(&plan.county)?;
        let counties: Vec<DivisionCode> = reference::counties()?.into_iter().map(|d| d.code).collect();
        let total = communities.len() as u64;
        let mut summary = HistorySummary::default();
        for (i, community) in communities.iter().enumerate() {
            let mut q = resident_select();
            q.cond_where(crate::registry::subtree(&community.code, "community_code"))
                .and_where(Expr::col("valid_to").is_null());
            let mut residents: Vec<ResidentVersion> = sea_orm::ConnectionTrait::query_all(&self.store.db, &q)
                .await?
                .iter()
                .map(resident_row)
                .collect::<StoreResult<_>>()?;
            // The seed picks residents and households by position: the order must come
            // from what the seed made (names, ID numbers, birth dates, rooms), never from
            // the database's row order or the UUIDs, which are new in every run.
            residents.sort_by_cached_key(person_order);
            if !residents.is_empty() {
                let seed = plan.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                self.community_history(plan, &residents, &counties, seed, &mut summary).await?;
                summary.communities += 1;
            }
            progress(i as u64 + 1, total);
        }
        Ok(summary)
    }

    async fn community_history(
        &self,
        plan: &HistoryPlan,
        residents: &[ResidentVersion],
        counties: &[DivisionCode],
        seed: u64,
        summary: &mut HistorySummary,
    ) -> StoreResult<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let today = plan.today;
        let this_month = Month::of(today);
        let mut first = this_month;
        for _ in 0..12 {
            first = first.previous();
        }
        let window_start = first.first_day();
        let window_days = Ord::max((today - window_start).whole_days(), 1);
        // Households in the order of their first member (see `person_order`).
        let households: Vec<Uuid> = {
            let mut seen: HashSet<Uuid> = HashSet::new();
            residents.iter().map(|r| r.facts.household_id).filter(|h| seen.insert(*h)).collect()
        };
        let mut children: HashMap<Uuid, u8> = HashMap::new();
        for r in residents {
            if matches!(r.facts.relationship, Relationship::Son | Relationship::Daughter) {
                *children.entry(r.facts.household_id).or_default() += 1;
            }
        }
        let n = residents.len() as f64;
        let mut planned: Vec<(Date, Kind)> = Vec::new();
        for (kind, rate) in YEARLY {
            let expected = n * rate * window_days as f64 / 365.0;
            let count = expected.floor() as u64 + u64::from(rng.random_bool(expected.fract()));
            for _ in 0..count {
                planned.push((window_start + Duration::days(rng.random_range(0..=window_days)), kind));
            }
        }
        planned.sort_by_key(|p| p.0);

        let mut work = UnitOfWork::begin(self.store).await?;
        let county = &residents[0].county;
        // The last day each person changed, and who has left: later events respect both.
        let mut changed: HashMap<Uuid, Date> = residents.iter().map(|r| (r.resident_id, r.stamp.valid_from)).collect();
        let mut gone: HashSet<Uuid> = HashSet::new();
        for (date, kind) in planned {
            let pick = |rng: &mut ChaCha8Rng, ok: &dyn Fn(&ResidentVersion) -> bool| {
                (0..8).find_map(|_| {
                    let r = &residents[rng.random_range(0..residents.len())];
                    (ok(r) && !gone.contains(&r.resident_id) && changed.get(&r.resident_id).is_none_or(|d| *d <= date))
                        .then_some(r)
                })
            };
            let (resident, details) = match kind {
                Kind::Birth => {
                    let Some(mother) = pick(&mut rng, &|r| {
                        r.facts.sex == Sex::Female
                            && r.facts.marital_status == MaritalStatus::Married
                            && (20..=42).contains(&age_on(r, date))
                    }) else {
                        continue;
                    };
                    let sex = if rng.random_bool(0.52) { Sex::Male } else { Sex::Female };
                    let surname = mother.facts.name.as_str().chars().next().map(String::from).unwrap_or_default();
                    let Ok(name) = PersonName::parse(&format!("{surname}{}", given(&mut rng, sex))) else { continue };
                    let head_or_spouse = matches!(mother.facts.relationship, Relationship::Head | Relationship::Spouse);
                    let relationship = match (head_or_spouse, sex) {
                        (true, Sex::Male) => Relationship::Son,
                        (true, Sex::Female) => Relationship::Daughter,
                        (false, _) => Relationship::Grandchild,
                    };
                    let order = children.entry(mother.facts.household_id).or_default();
                    *order = order.saturating_add(1);
                    let child = ResidentFacts {
                        name,
                        sex,
                        birth_date: date,
                        identity: Identity::Missing(IdMissingReason::NewbornNotRegistered),
                        phone: None,
                        relationship,
                        arrival_date: None,
                        marital_status: MaritalStatus::Unmarried,
                        ..mother.facts.clone()
                    };
                    (
                        None,
                        EventDetails::Birth {
                            child,
                            birth_order: (*order).clamp(1, 3),
                            mother: Some(mother.resident_id),
                        },
                    )
                }
                Kind::MoveIn => {
                    let sex = if rng.random_bool(0.55) { Sex::Male } else { Sex::Female };
                    let birth = date - Duration::days(rng.random_range(18 * 365..50 * 365));
                    let origin = &counties[rng.random_range(0..counties.len())];
                    let seq = rng.random_range(0..500u16) * 2 + u16::from(sex == Sex::Male);
                    let Some(id) = IdNumber::from_parts(origin.as_str(), birth, seq) else { continue };
                    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())].0;
                    let Ok(name) = PersonName::parse(&format!("{surname}{}", given(&mut rng, sex))) else { continue };
                    let phone = Phone::parse(&format!("13{:09}", rng.random_range(0..1_000_000_000u64))).ok();
                    let newcomer = ResidentFacts {
                        name,
                        sex,
                        birth_date: birth,
                        identity: Identity::Number(id),
                        ethnicity: residents[0].facts.ethnicity,
                        phone,
                        registered_residence: origin.clone(),
                        household_id: households[rng.random_range(0..households.len())],
                        relationship: Relationship::Other,
                        residence_status: ResidenceStatus::Inflow,
                        arrival_date: Some(date),
                        marital_status: if rng.random_bool(0.5) {
                            MaritalStatus::Married
                        } else {
                            MaritalStatus::Unmarried
                        },
                    };
                    (None, EventDetails::MoveIn { newcomer, origin: None })
                }
                Kind::Death => {
                    let elderly = rng.random_bool(0.85);
                    let Some(r) = pick(&mut rng, &|r| !elderly || age_on(r, date) >= 60) else { continue };
                    (Some(r), EventDetails::Death)
                }
                Kind::Marriage => {
                    let Some(r) = pick(&mut rng, &|r| {
                        r.facts.marital_status == MaritalStatus::Unmarried && (22..=40).contains(&age_on(r, date))
                    }) else {
                        continue;
                    };
                    (Some(r), EventDetails::Marriage { partner: None })
                }
                Kind::Divorce => {
                    let Some(r) = pick(&mut rng, &|r| {
                        r.facts.marital_status == MaritalStatus::Married && (25..=60).contains(&age_on(r, date))
                    }) else {
                        continue;
                    };
                    (Some(r), EventDetails::Divorce { partner: None })
                }
                Kind::MoveOut => {
                    let migrant = rng.random_bool(0.75);
                    let Some(r) = pick(&mut rng, &|r| {
                        (r.facts.residence_status == ResidenceStatus::Inflow) == migrant && age_on(r, date) >= 16
                    }) else {
                        continue;
                    };
                    let to = counties[rng.random_range(0..counties.len())].province();
                    (Some(r), EventDetails::MoveOut { destination: Some(to) })
                }
                Kind::MoveWithin => {
                    let Some(r) = pick(&mut rng, &|r| r.facts.relationship != Relationship::Head) else { continue };
                    let target = households[rng.random_range(0..households.len())];
                    if target == r.facts.household_id {
                        continue;
                    }
                    (Some(r), EventDetails::MoveWithin { household_id: target })
                }
                Kind::StatusChange => {
                    let Some(r) = pick(&mut rng, &|r| r.facts.residence_status == ResidenceStatus::Inflow) else {
                        continue;
                    };
                    (Some(r), EventDetails::StatusChange { status: ResidenceStatus::Registered })
                }
                Kind::Correction => {
                    let Some(r) = pick(&mut rng, &|_| true) else { continue };
                    let phone = Phone::parse(&format!("13{:09}", rng.random_range(0..1_000_000_000u64))).ok();
                    (Some(r), EventDetails::Correction { facts: ResidentFacts { phone, ..r.facts.clone() } })
                }
            };
            let delay = if rng.random_bool(0.9) { rng.random_range(0..=2) } else { rng.random_range(3..=12) };
            let reported = Ord::min(date + Duration::days(delay), today);
            let event = NewEvent {
                county: county.clone(),
                resident_id: resident.map(|r| r.resident_id),
                occurred_on: date,
                urgent: kind == Kind::Death && rng.random_bool(0.1),
                evidence: String::new(),
                details,
            };
            // Refused events (a rule the generator missed) are skipped: the checks run
            // before anything is written. A database error ends the load.
            let id = match self.submit_in(&mut work, &event, GRID, reported).await {
                Ok(id) => id,
                Err(StoreError::Invalid(_) | StoreError::Retroactive { .. } | StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let mut at = reported;
            let mut accepted = true;
            for actor in [COMMUNITY, STREET, DISTRICT] {
                at += Duration::days(rng.random_range(1..=6));
                let last = actor.role == Role::District;
                // Acceptance must fall before this month; earlier steps must have happened by today.
                if (last && at >= this_month.first_day()) || at > today {
                    accepted = false;
                    break;
                }
                if actor.role == Role::Street && !last && Month::of(at) == this_month && rng.random_bool(0.1) {
                    self.decide_in(
                        &mut work,
                        county,
                        id,
                        EventAction::Return,
                        Some("证明材料不全 / evidence incomplete"),
                        actor,
                        at,
                    )
                    .await?;
                    summary.returned += 1;
                    accepted = false;
                    break;
                }
                self.decide_in(&mut work, county, id, EventAction::Approve, None, actor, at).await?;
            }
            if accepted {
                summary.accepted += 1;
                if let Some(r) = resident {
                    changed.insert(r.resident_id, date);
                    if matches!(kind, Kind::Death | Kind::MoveOut) {
                        gone.insert(r.resident_id);
                    }
                }
            } else {
                summary.pending += 1;
            }
        }

        // Monthly verification rounds.
        let mut month = first;
        while month <= this_month {
            let last_day = Ord::min(month.last_day(), today);
            let count = (n * plan.verified_per_month).round() as usize;
            for _ in 0..count {
                let r = &residents[rng.random_range(0..residents.len())];
                let day = month.first_day()
                    + Duration::days(rng.random_range(0..=(last_day - month.first_day()).whole_days()));
                if gone.contains(&r.resident_id)
                    || day < r.facts.birth_date
                    || changed.get(&r.resident_id).is_some_and(|d| *d > day)
                {
                    continue;
                }
                let method = VerificationMethod::ALL[rng.random_range(0..VerificationMethod::ALL.len())];
                verify_in(&mut work, r, day, method, GRID.username).await?;
                summary.verifications += 1;
            }
            month = month.next();
        }
        work.commit(self.change_entry(format!("history/{county}"), county, "synthetic history".into())).await?;
        Ok(())
    }

    /// Approves every month from `first` to `last` bottom up (communities with data,
    /// streets, the county), as the demo's past months would be.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn approve_months(
        &self,
        county: &DivisionCode,
        first: Month,
        last: Month,
        today: Date,
    ) -> StoreResult<u64> {
        let mut approved = 0;
        let mut month = first;
        while month <= last {
            approved += self.approve_month_bottom_up(county, month, [COMMUNITY, STREET, DISTRICT], today).await?;
            month = month.next();
        }
        Ok(approved)
    }
}
