//! A synthetic but realistic population for demonstrations, tests and benchmarks.
//!
//! Deterministic for a given seed. Each community is generated from its own random
//! stream, one at a time, so memory stays flat however many residents are asked for.
//! The shape follows what the seeds report for Longgang: 84% inflow migrants from the
//! main sending provinces, a young age pyramid, small migrant households, grids of
//! 300–500 households in buildings of 6–33 floors.

use std::collections::HashSet;

use rand::distr::weighted::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration};

use crate::org::DivisionCode;
use crate::registry::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};
use crate::registry::{Ethnicity, IdNumber, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus, Sex};

/// Main sending provinces of Shenzhen's migrants with rough shares (percent).
const SENDING_PROVINCES: [(&str, u32); 12] = [
    ("44", 25),
    ("43", 16),
    ("45", 12),
    ("36", 9),
    ("42", 8),
    ("41", 8),
    ("51", 6),
    ("34", 4),
    ("50", 3),
    ("35", 3),
    ("52", 3),
    ("61", 3),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct PopulationPlan {
    /// The county the population lives in (e.g. 440307 Longgang).
    pub county: DivisionCode,
    /// The village-level communities of that county, with their names.
    pub communities: Vec<(DivisionCode, String)>,
    /// Every county-level code in the country; migrants' registered residence is
    /// drawn from those in the sending provinces, outside the plan's own city.
    pub all_counties: Vec<DivisionCode>,
    pub residents: u64,
    pub seed: u64,
    /// Ages and arrival dates are computed relative to this date.
    pub reference_date: Date,
}

#[derive(Debug, Clone)]
pub struct SyntheticCommunity {
    pub code: DivisionCode,
    pub name: String,
    pub grids: Vec<SyntheticGrid>,
}

#[derive(Debug, Clone)]
pub struct SyntheticGrid {
    /// Sequence within the community, from 1.
    pub number: u32,
    pub name: String,
    pub buildings: Vec<SyntheticBuilding>,
}

#[derive(Debug, Clone)]
pub struct SyntheticBuilding {
    pub name: String,
    pub floors: i16,
    pub units: i16,
    pub households: Vec<SyntheticHousehold>,
}

#[derive(Debug, Clone)]
pub struct SyntheticHousehold {
    /// 户编号, unique within the county.
    pub household_no: String,
    pub unit_no: i16,
    pub floor_no: i16,
    pub room_no: String,
    pub members: Vec<SyntheticResident>,
}

#[derive(Debug, Clone)]
pub struct SyntheticResident {
    pub name: PersonName,
    pub sex: Sex,
    pub birth_date: Date,
    pub id_number: IdNumber,
    pub ethnicity: Ethnicity,
    pub phone: Option<Phone>,
    pub registered_residence: DivisionCode,
    pub relationship: Relationship,
    pub residence_status: ResidenceStatus,
    pub arrival_date: Option<Date>,
    pub marital_status: MaritalStatus,
    /// When a worker last confirmed the record (the older system's date); `None`: never.
    pub last_verified: Option<Date>,
}

impl SyntheticCommunity {
    pub fn resident_count(&self) -> usize {
        self.households().map(|h| h.members.len()).sum()
    }

    pub fn households(&self) -> impl Iterator<Item = &SyntheticHousehold> {
        self.grids.iter().flat_map(|g| g.buildings.iter()).flat_map(|b| b.households.iter())
    }
}

/// Generates the plan's communities one at a time.
pub struct PopulationGenerator {
    plan: PopulationPlan,
    targets: Vec<u64>,
    next: usize,
    sending: Vec<(Vec<DivisionCode>, u32)>,
    issued: HashSet<u64>,
    surnames: WeightedIndex<u32>,
}

impl PopulationGenerator {
    pub fn new(plan: PopulationPlan) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        // Communities differ in size: weights between 0.5 and 1.5, scaled to the total.
        let weights: Vec<f64> = plan.communities.iter().map(|_| rng.random_range(0.5..1.5)).collect();
        let total: f64 = weights.iter().sum();
        let mut targets: Vec<u64> =
            weights.iter().map(|w| (w / total * plan.residents as f64).floor() as u64).collect();
        let assigned: u64 = targets.iter().sum();
        let count = targets.len().max(1);
        for i in 0..(plan.residents - assigned.min(plan.residents)) as usize {
            if let Some(t) = targets.get_mut(i % count) {
                *t += 1;
            }
        }
        let own_city = plan.county.at_level(crate::org::DivisionLevel::City);
        let sending = SENDING_PROVINCES
            .iter()
            .map(|(province, share)| {
                let counties: Vec<DivisionCode> = plan
                    .all_counties
                    .iter()
                    .filter(|c| c.province().as_str() == *province)
                    .filter(|c| own_city.as_ref().is_none_or(|city| !city.contains(c)))
                    .cloned()
                    .collect();
                (counties, *share)
            })
            .filter(|(counties, _)| !counties.is_empty())
            .collect();
        let surnames = WeightedIndex::new(SURNAMES.iter().map(|(_, w)| *w))
            .unwrap_or_else(|_| unreachable!("surname weights are positive constants"));
        PopulationGenerator { plan, targets, next: 0, sending, issued: HashSet::new(), surnames }
    }

    pub fn plan(&self) -> &PopulationPlan {
        &self.plan
    }

    /// Residents each community will receive, in plan order.
    pub fn community_targets(&self) -> &[u64] {
        &self.targets
    }

    fn community(&mut self, index: usize) -> SyntheticCommunity {
        let (code, name) = self.plan.communities[index].clone();
        let target = self.targets[index];
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.plan.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut grids = Vec::new();
        let mut residents = 0u64;
        let mut household_seq = 0u32;
        while residents < target {
            let number = grids.len() as u32 + 1;
            let grid_target = rng.random_range(300..=500);
            let mut grid = SyntheticGrid { number, name: format!("第{number}网格"), buildings: Vec::new() };
            let mut grid_households = 0;
            // Urban villages (城中村) have low-rise hand-shake buildings; estates go higher.
            let urban_village = rng.random_bool(0.4);
            while grid_households < grid_target && residents < target {
                let floors: i16 = if urban_village { rng.random_range(6..=9) } else { rng.random_range(6..=33) };
                let units: i16 = if urban_village { 1 } else { rng.random_range(1..=4) };
                let rooms_per_floor: i16 =
                    if urban_village { rng.random_range(4..=8) } else { rng.random_range(2..=6) };
                let occupancy = rng.random_range(0.6..0.95);
                let building_no = grid.buildings.len() + 1;
                let mut building = SyntheticBuilding {
                    name: format!("{}{}栋", if urban_village { "村" } else { "" }, number * 100 + building_no as u32),
                    floors,
                    units,
                    households: Vec::new(),
                };
                'rooms: for unit_no in 1..=units {
                    for floor_no in 1..=floors {
                        for room in 1..=rooms_per_floor {
                            if grid_households >= grid_target || residents >= target {
                                break 'rooms;
                            }
                            if !rng.random_bool(occupancy) {
                                continue;
                            }
                            household_seq += 1;
                            let remaining = (target - residents) as usize;
                            let mut members = self.household_members(&mut rng, &code);
                            members.truncate(remaining);
                            residents += members.len() as u64;
                            grid_households += 1;
                            building.households.push(SyntheticHousehold {
                                household_no: format!("{}{:06}", code.as_str(), household_seq),
                                unit_no,
                                floor_no,
                                room_no: format!("{}{:02}", floor_no, room),
                                members,
                            });
                        }
                    }
                }
                grid.buildings.push(building);
            }
            grids.push(grid);
        }
        SyntheticCommunity { code, name, grids }
    }

    fn household_members(&mut self, rng: &mut ChaCha8Rng, community: &DivisionCode) -> Vec<SyntheticResident> {
        let today = self.plan.reference_date;
        // Registered households are larger than migrant ones, so 88.5% of households
        // give the 84% of residents the seeds report as migrants.
        let status = match rng.random_range(0..1000) {
            0..885 => ResidenceStatus::Inflow,
            885..978 => ResidenceStatus::Registered,
            _ => ResidenceStatus::Outflow,
        };
        let origin = match status {
            ResidenceStatus::Inflow => self.sending_county(rng),
            _ => community.clone(),
        };
        let id_area = match status {
            ResidenceStatus::Inflow => origin.as_str().to_string(),
            _ => self.plan.county.as_str().to_string(),
        };
        let migrant = status == ResidenceStatus::Inflow;
        let head_age: i32 = if migrant {
            pick(rng, &[(18..25, 15), (25..35, 35), (35..45, 28), (45..55, 14), (55..65, 6), (65..80, 2)])
        } else {
            pick(rng, &[(20..25, 5), (25..35, 20), (35..45, 25), (45..55, 22), (55..65, 15), (65..90, 13)])
        };
        let kind = rng.random_range(0..100);
        let (single, with_spouse, children, with_parent, roommates) = if migrant {
            match kind {
                0..38 => (true, false, 0, false, 0),
                38..58 => (false, true, 0, false, 0),
                58..86 => (false, true, rng.random_range(1..=2), false, 0),
                86..93 => (false, true, rng.random_range(1..=2), true, 0),
                _ => (false, false, 0, false, rng.random_range(1..=3)),
            }
        } else {
            match kind {
                0..15 => (true, false, 0, false, 0),
                15..40 => (false, true, 0, false, 0),
                40..80 => (false, true, rng.random_range(1..=3), false, 0),
                _ => (false, true, rng.random_range(1..=2), true, 0),
            }
        };
        let _ = single;
        let head_sex = if rng.random_bool(if with_spouse { 0.75 } else { 0.56 }) { Sex::Male } else { Sex::Female };
        let surname = SURNAMES[self.surnames.sample(rng)].0;
        let head_arrival = migrant.then(|| {
            let max_years = (head_age - 16).clamp(1, 15);
            today - Duration::days(rng.random_range(0..(max_years as i64 * 365)))
        });
        let ethnicity = ethnicity_for(rng, &origin);
        let mut members = Vec::new();
        let person = |this: &mut Self,
                      rng: &mut ChaCha8Rng,
                      surname: &str,
                      sex: Sex,
                      age: i32,
                      relationship: Relationship,
                      marital: MaritalStatus,
                      arrival: Option<Date>| {
            let birth = birth_date_for_age(rng, today, age);
            let id_number = this.issue_id(rng, &id_area, birth, sex);
            let name = person_name(rng, surname, sex);
            let phone = (age >= 16 && rng.random_bool(0.95)).then(|| mobile(rng));
            // Most records were confirmed within the last eight months, some never.
            let arrived = arrival.unwrap_or(birth).max(birth);
            let last_verified = rng
                .random_bool(0.92)
                .then(|| (today - Duration::days(rng.random_range(0..240))).max(arrived))
                .filter(|d| *d <= today);
            SyntheticResident {
                name,
                sex,
                birth_date: birth,
                id_number,
                ethnicity,
                phone,
                registered_residence: origin.clone(),
                relationship,
                residence_status: status,
                arrival_date: arrival.map(|a| a.max(birth)),
                marital_status: marital,
                last_verified,
            }
        };
        let head_marital = if with_spouse {
            MaritalStatus::Married
        } else if head_age < 30 || rng.random_bool(0.6) {
            MaritalStatus::Unmarried
        } else if rng.random_bool(0.6) {
            MaritalStatus::Divorced
        } else {
            MaritalStatus::Widowed
        };
        members.push(person(self, rng, surname, head_sex, head_age, Relationship::Head, head_marital, head_arrival));
        if with_spouse {
            let spouse_age = (head_age + rng.random_range(-5..=3)).max(20);
            let spouse_surname = SURNAMES[self.surnames.sample(rng)].0;
            let spouse_sex = if head_sex == Sex::Male { Sex::Female } else { Sex::Male };
            members.push(person(
                self,
                rng,
                spouse_surname,
                spouse_sex,
                spouse_age,
                Relationship::Spouse,
                MaritalStatus::Married,
                head_arrival,
            ));
        }
        let child_max_age = if migrant { (head_age - 20).min(17) } else { head_age - 20 };
        for _ in 0..children {
            if child_max_age < 0 {
                break;
            }
            let age = rng.random_range(0..=child_max_age);
            let sex = if rng.random_bool(0.53) { Sex::Male } else { Sex::Female };
            let relationship = if sex == Sex::Male { Relationship::Son } else { Relationship::Daughter };
            let marital =
                if age >= 25 && rng.random_bool(0.6) { MaritalStatus::Married } else { MaritalStatus::Unmarried };
            members.push(person(self, rng, surname, sex, age, relationship, marital, head_arrival));
        }
        if with_parent {
            let age = (head_age + rng.random_range(22..=32)).min(99);
            let sex = if rng.random_bool(0.6) { Sex::Female } else { Sex::Male };
            let parent_surname = if sex == Sex::Male { surname } else { SURNAMES[self.surnames.sample(rng)].0 };
            let marital = if rng.random_bool(0.7) { MaritalStatus::Married } else { MaritalStatus::Widowed };
            let arrival = head_arrival.map(|a| a + Duration::days(rng.random_range(0..365)).min(today - a));
            members.push(person(self, rng, parent_surname, sex, age, Relationship::Parent, marital, arrival));
        }
        for _ in 0..roommates {
            let age = rng.random_range(18..40);
            let other_surname = SURNAMES[self.surnames.sample(rng)].0;
            let sex = if rng.random_bool(0.55) { Sex::Male } else { Sex::Female };
            members.push(person(
                self,
                rng,
                other_surname,
                sex,
                age,
                Relationship::Other,
                MaritalStatus::Unmarried,
                head_arrival,
            ));
        }
        members
    }

    fn sending_county(&self, rng: &mut ChaCha8Rng) -> DivisionCode {
        let weights: Vec<u32> = self.sending.iter().map(|(_, w)| *w).collect();
        match WeightedIndex::new(&weights) {
            Ok(index) => {
                let (counties, _) = &self.sending[index.sample(rng)];
                counties[rng.random_range(0..counties.len())].clone()
            }
            // No division data for the sending provinces: migrants come from the county itself.
            Err(_) => self.plan.county.clone(),
        }
    }

    /// An identity number not issued before in this population: the sequence
    /// number's parity carries the sex, as the standard requires.
    fn issue_id(&mut self, rng: &mut ChaCha8Rng, area: &str, birth: Date, sex: Sex) -> IdNumber {
        let parity = if sex == Sex::Male { 1 } else { 0 };
        let mut start = rng.random_range(0..500u16);
        loop {
            let sequence = start % 500 * 2 + parity;
            let id = IdNumber::from_parts(area, birth, sequence)
                .unwrap_or_else(|| unreachable!("area is a six-digit county code"));
            let key: u64 = id.as_str()[..17].parse().unwrap_or_default();
            if self.issued.insert(key) {
                return id;
            }
            start += 1;
        }
    }
}

impl Iterator for PopulationGenerator {
    type Item = SyntheticCommunity;

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.plan.communities.len() {
            let index = self.next;
            self.next += 1;
            if self.targets[index] > 0 {
                return Some(self.community(index));
            }
        }
        None
    }
}

fn pick(rng: &mut ChaCha8Rng, bands: &[(std::ops::Range<i32>, u32)]) -> i32 {
    let index = WeightedIndex::new(bands.iter().map(|(_, w)| *w)).map(|w| w.sample(rng)).unwrap_or(0);
    rng.random_range(bands[index].0.clone())
}

fn birth_date_for_age(rng: &mut ChaCha8Rng, today: Date, age: i32) -> Date {
    let year_ago = today.replace_year(today.year() - age).unwrap_or_else(|_| {
        // 29 February in a year without one.
        today.replace_day(28).and_then(|d| d.replace_year(today.year() - age)).unwrap_or(today)
    });
    (year_ago - Duration::days(rng.random_range(0..365))).max(Date::MIN)
}

pub(crate) fn person_name(rng: &mut ChaCha8Rng, surname: &str, sex: Sex) -> PersonName {
    let chars = if sex == Sex::Male { MALE_GIVEN } else { FEMALE_GIVEN };
    let first = chars[rng.random_range(0..chars.len())];
    let given = if rng.random_bool(0.7) {
        format!("{first}{}", chars[rng.random_range(0..chars.len())])
    } else {
        first.to_string()
    };
    PersonName::parse(&format!("{surname}{given}"))
        .unwrap_or_else(|_| unreachable!("names are built from constant characters"))
}

pub(crate) fn mobile(rng: &mut ChaCha8Rng) -> Phone {
    let second = rng.random_range(3..=9);
    let rest: u32 = rng.random_range(0..1_000_000_000);
    Phone::parse(&format!("1{second}{rest:09}"))
        .unwrap_or_else(|_| unreachable!("generated mobile numbers are well-formed"))
}

fn ethnicity_for(rng: &mut ChaCha8Rng, origin: &DivisionCode) -> Ethnicity {
    let minority = |name: &str| Ethnicity::from_text(name).unwrap_or(Ethnicity::HAN);
    let roll = rng.random_range(0..100);
    match (origin.province().as_str(), roll) {
        ("45", 0..30) => minority("壮族"),
        ("45", 30..33) => minority("瑶族"),
        ("52", 0..12) => minority("苗族"),
        ("52", 12..20) => minority("布依族"),
        ("43", 0..5) => minority("土家族"),
        ("43", 5..8) => minority("苗族"),
        ("42", 0..4) => minority("土家族"),
        ("44", 0..1) => minority("瑶族"),
        (_, 0..1) => minority("回族"),
        _ => Ethnicity::HAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn plan(residents: u64, seed: u64) -> PopulationPlan {
        let communities =
            (1..=5).map(|i| (DivisionCode::parse(&format!("440307003{i:03}")).unwrap(), format!("社区{i}"))).collect();
        let all_counties = ["430521", "450102", "360121", "440307", "440106", "421002"]
            .iter()
            .map(|c| DivisionCode::parse(c).unwrap())
            .collect();
        PopulationPlan {
            county: DivisionCode::parse("440307").unwrap(),
            communities,
            all_counties,
            residents,
            seed,
            reference_date: date!(2026 - 11 - 24),
        }
    }

    #[test]
    fn generates_exactly_the_requested_residents_deterministically() {
        let a: Vec<_> = PopulationGenerator::new(plan(3_000, 7)).collect();
        let b: Vec<_> = PopulationGenerator::new(plan(3_000, 7)).collect();
        let c: Vec<_> = PopulationGenerator::new(plan(3_000, 8)).collect();
        assert_eq!(a.iter().map(|c| c.resident_count()).sum::<usize>(), 3_000);
        let ids = |p: &[SyntheticCommunity]| -> Vec<String> {
            p.iter()
                .flat_map(|c| c.households())
                .flat_map(|h| h.members.iter())
                .map(|m| m.id_number.to_string())
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        let unique: HashSet<String> = ids(&a).into_iter().collect();
        assert_eq!(unique.len(), 3_000, "identity numbers are unique");
    }

    #[test]
    fn residents_are_consistent_and_mostly_migrants() {
        let today = date!(2026 - 11 - 24);
        let population: Vec<_> = PopulationGenerator::new(plan(20_000, 1)).collect();
        let members: Vec<&SyntheticResident> =
            population.iter().flat_map(|c| c.households()).flat_map(|h| h.members.iter()).collect();
        for m in &members {
            assert_eq!(m.id_number.birth_date(), m.birth_date);
            assert_eq!(m.id_number.sex(), m.sex);
            assert!(m.birth_date <= today);
            assert!(IdNumber::parse_as_of(m.id_number.as_str(), today).is_ok());
            if m.residence_status == ResidenceStatus::Inflow {
                assert_eq!(m.id_number.issuing_region().unwrap(), m.registered_residence);
                assert!(!m.registered_residence.as_str().starts_with("4403"), "migrants come from outside Shenzhen");
                assert!(m.arrival_date.is_some_and(|a| a >= m.birth_date && a <= today));
            }
        }
        let inflow = members.iter().filter(|m| m.residence_status == ResidenceStatus::Inflow).count();
        let share = inflow as f64 / members.len() as f64;
        assert!((0.81..0.87).contains(&share), "inflow share {share}");
        let households: usize = population.iter().map(|c| c.households().count()).sum();
        let size = members.len() as f64 / households as f64;
        assert!((1.8..3.2).contains(&size), "household size {size}");
        for community in &population {
            for grid in &community.grids[..community.grids.len() - 1] {
                let n: usize = grid.buildings.iter().map(|b| b.households.len()).sum();
                assert!((300..=500).contains(&n), "grid of {n} households");
            }
            for b in community.grids.iter().flat_map(|g| &g.buildings) {
                assert!((6..=33).contains(&b.floors));
                assert!(b.households.iter().all(|h| h.floor_no >= 1 && h.floor_no <= b.floors));
            }
        }
        let heads = members.iter().filter(|m| m.relationship == Relationship::Head).count();
        assert_eq!(heads, households, "one head per household");
    }
}
