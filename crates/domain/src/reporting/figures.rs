//! 统计数: the figures of a periodic report, kept per region node and month as named
//! cells, and the report derived from them.
//!
//! Two kinds of cell: *stock* cells (`population.*`, `households`) hold the month's net
//! change, so a stock at the end of month M is the sum of its cells up to M; *flow* cells
//! (births, deaths, moves …) hold what happened in the month. Every change adds to the
//! cells of the community and of each ancestor up to the province, so any node's report
//! is a handful of cells, never a scan of the registry.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::period::{Month, Period};
use crate::org::{DivisionCode, DivisionLevel};
use crate::registry::{ResidenceStatus, Sex};

/// Cell names, stable: they are stored and exported.
pub mod cell {
    use crate::org::DivisionCode;
    use crate::registry::{ResidenceStatus, Sex};

    pub const HOUSEHOLDS: &str = "households";
    pub const MARRIAGES: &str = "marriages";
    pub const DIVORCES: &str = "divorces";
    pub const MOVES_IN: &str = "moves_in";
    pub const MOVES_OUT: &str = "moves_out";
    pub const MOVES_WITHIN: &str = "moves_within";
    pub const STATUS_CHANGES: &str = "status_changes";
    pub const CORRECTIONS: &str = "corrections";
    pub const EVENTS_ACCEPTED: &str = "events.accepted";
    pub const EVENTS_TIMELY: &str = "events.timely";
    pub const EVENTS_ADJUSTMENTS: &str = "events.adjustments";
    pub const VERIFIED: &str = "verified";

    pub fn population(status: ResidenceStatus, sex: Sex) -> String {
        format!("population.{}.{}", status.key(), sex_key(sex))
    }
    pub fn births(sex: Sex) -> String {
        format!("births.{}", sex_key(sex))
    }
    /// 孩次: first, second, third or later.
    pub fn birth_order(order: u8) -> String {
        match order {
            0 | 1 => "births.order1".into(),
            2 => "births.order2".into(),
            _ => "births.order3plus".into(),
        }
    }
    pub fn deaths(sex: Sex) -> String {
        format!("deaths.{}", sex_key(sex))
    }
    pub fn moves_in_from(province: &DivisionCode) -> String {
        format!("moves_in.from.{}", province.province().as_str())
    }
    pub fn moves_out_to(province: &DivisionCode) -> String {
        format!("moves_out.to.{}", province.province().as_str())
    }
    pub fn sex_key(sex: Sex) -> &'static str {
        match sex {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
    /// Residents by sex and year of birth, for the age pyramid.
    pub fn cohort(sex: Sex, birth_year: i32) -> String {
        format!("cohort.{}.{birth_year}", sex_key(sex))
    }
    /// Stock cells hold net changes; a stock is their running sum.
    pub fn is_stock(name: &str) -> bool {
        name.starts_with("population.") || name.starts_with("cohort.") || name == HOUSEHOLDS
    }
}

/// Named cell values (one node, one month or summed over months).
pub type Cells = BTreeMap<String, i64>;

/// Changes to cells, gathered in memory and written in one go. Adding to a community
/// adds to all its ancestors too.
///
/// A tally also names the places (households, floors) whose people or households
/// changed, so the store refreshes their 四不漏 counts in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    deltas: BTreeMap<(DivisionCode, Month, String), i64>,
    places: TouchedPlaces,
}

/// Households and floors (county, building, floor) whose counts a change touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchedPlaces {
    pub households: BTreeSet<(DivisionCode, uuid::Uuid)>,
    pub floors: BTreeSet<(DivisionCode, uuid::Uuid, i16)>,
}

impl TouchedPlaces {
    pub fn is_empty(&self) -> bool {
        self.households.is_empty() && self.floors.is_empty()
    }
}

impl Tally {
    /// Counts `delta` in the community and each node above it up to its county. A
    /// city's or a province's figures are the sum of its counties' (so every cell a
    /// change touches belongs to one county: one partition, one shard).
    pub fn add(&mut self, community: &DivisionCode, month: Month, cell: &str, delta: i64) {
        if delta == 0 {
            return;
        }
        let mut node = Some(community.clone());
        while let Some(n) = node {
            let parent = n.parent().filter(|p| p.at_level(crate::org::DivisionLevel::County).is_some());
            *self.deltas.entry((n, month, cell.to_string())).or_default() += delta;
            node = parent;
        }
    }

    /// A person counted from `month`: by residence status and sex, and by sex and year
    /// of birth (the pyramid).
    pub fn enter_person(
        &mut self,
        community: &DivisionCode,
        month: Month,
        status: ResidenceStatus,
        sex: Sex,
        birth: time::Date,
    ) {
        self.add(community, month, &cell::population(status, sex), 1);
        self.add(community, month, &cell::cohort(sex, birth.year()), 1);
    }

    pub fn leave_person(
        &mut self,
        community: &DivisionCode,
        month: Month,
        status: ResidenceStatus,
        sex: Sex,
        birth: time::Date,
    ) {
        self.add(community, month, &cell::population(status, sex), -1);
        self.add(community, month, &cell::cohort(sex, birth.year()), -1);
    }

    /// A household (or other stock) counted from `month` in this stock cell.
    pub fn enter(&mut self, community: &DivisionCode, month: Month, cell: &str) {
        self.add(community, month, cell, 1);
    }

    pub fn leave(&mut self, community: &DivisionCode, month: Month, cell: &str) {
        self.add(community, month, cell, -1);
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.values().all(|d| *d == 0) && self.places.is_empty()
    }

    /// A household whose members changed (someone joined, left or changed facts).
    pub fn touch_household(&mut self, county: &DivisionCode, household: uuid::Uuid) {
        self.places.households.insert((county.clone(), household));
    }

    /// A floor that gained or lost a household.
    pub fn touch_floor(&mut self, county: &DivisionCode, building: uuid::Uuid, floor: i16) {
        self.places.floors.insert((county.clone(), building, floor));
    }

    /// The touched places, for refreshing; the tally forgets them.
    pub fn take_places(&mut self) -> TouchedPlaces {
        std::mem::take(&mut self.places)
    }

    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    /// The non-zero changes, for writing.
    pub fn deltas(&self) -> impl Iterator<Item = (&DivisionCode, Month, &str, i64)> {
        self.deltas.iter().filter(|(_, d)| **d != 0).map(|((n, m, c), d)| (n, *m, c.as_str(), *d))
    }

    /// The households and floors touched so far.
    pub fn places(&self) -> &TouchedPlaces {
        &self.places
    }

    /// The non-zero changes, taken out of the tally.
    pub fn drain(&mut self) -> impl Iterator<Item = (DivisionCode, Month, String, i64)> {
        std::mem::take(&mut self.deltas).into_iter().filter(|(_, d)| *d != 0).map(|((n, m, c), d)| (n, m, c, d))
    }

    pub fn get(&self, node: &DivisionCode, month: Month, cell: &str) -> i64 {
        self.deltas.get(&(node.clone(), month, cell.to_string())).copied().unwrap_or(0)
    }
}

/// The month a change is counted in: its own, unless a month from it onwards is already
/// approved (locked) for the community — then the month after the latest approved one,
/// where it shows as an adjustment. Counting it in an earlier open month would change
/// the approved stocks of every later month, so it goes past all of them. Never earlier
/// than `not_before` (a record's previous counted month, or the opening month).
pub fn counted_month(happened: Month, locked: &[Month], not_before: Option<Month>) -> Month {
    let month = match not_before {
        Some(floor) if floor > happened => floor,
        _ => happened,
    };
    match locked.iter().copied().filter(|m| *m >= month).max() {
        Some(latest) => latest.next(),
        None => month,
    }
}

/// Whether approved months push a change dated `happened` later (an adjustment).
pub fn is_adjustment(happened: Month, locked: &[Month]) -> bool {
    locked.iter().any(|m| *m >= happened)
}

/// Whether `role` approves reports of nodes at `level` (communities, streets, the
/// district; administrators at any of them).
pub fn approves_at(role: crate::org::Role, level: DivisionLevel) -> bool {
    use crate::org::Role;
    match role {
        Role::Administrator => APPROVAL_LEVELS.contains(&level),
        Role::Specialist => level == DivisionLevel::Village,
        Role::Street => level == DivisionLevel::Town,
        Role::District => level == DivisionLevel::County,
        Role::GridWorker | Role::ServiceProvider => false,
    }
}

/// A value in a report: a count, or a rate that may be undefined (division by zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Figure {
    Count(i64),
    Rate(Option<f64>),
}

impl Figure {
    pub fn count(self) -> Option<i64> {
        match self {
            Figure::Count(n) => Some(n),
            Figure::Rate(_) => None,
        }
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::Count(n) => write!(f, "{n}"),
            Figure::Rate(Some(r)) => write!(f, "{r:.2}"),
            Figure::Rate(None) => f.write_str("—"),
        }
    }
}

/// One node's report for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodReport {
    pub node: DivisionCode,
    #[serde(serialize_with = "as_text")]
    pub period: Period,
    /// Indicator name → value, in a stable order.
    pub figures: BTreeMap<String, Figure>,
    /// Residents at the end of the period by five-year age band: (lowest age, male,
    /// female), youngest first; the last band is 90 and over.
    #[serde(skip)]
    pub age_pyramid: Vec<(i32, i64, i64)>,
}

fn as_text<S: serde::Serializer>(p: &Period, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string())
}

/// Report indicator names with Chinese and English labels, in the order tables show them.
pub const INDICATORS: &[(&str, &str, &str)] = &[
    ("population.start", "期初人口", "population at start"),
    ("population.end", "期末人口", "population at end"),
    ("population.end.registered", "期末户籍人口", "registered residents at end"),
    ("population.end.inflow", "期末流入人口", "inflow migrants at end"),
    ("population.end.outflow", "期末流出人口", "registered, living elsewhere, at end"),
    ("population.end.male", "期末男性", "male at end"),
    ("population.end.female", "期末女性", "female at end"),
    ("households.start", "期初户数", "households at start"),
    ("households.end", "期末户数", "households at end"),
    ("births", "出生", "births"),
    ("births.male", "出生（男）", "births, boys"),
    ("births.female", "出生（女）", "births, girls"),
    ("births.order1", "一孩", "first births"),
    ("births.order2", "二孩", "second births"),
    ("births.order3plus", "三孩及以上", "third and later births"),
    ("deaths", "死亡", "deaths"),
    ("deaths.male", "死亡（男）", "deaths, male"),
    ("deaths.female", "死亡（女）", "deaths, female"),
    ("marriages", "结婚", "marriages"),
    ("divorces", "离婚", "divorces"),
    ("moves_in", "迁入", "moves in"),
    ("moves_out", "迁出", "moves out"),
    ("moves_within", "区内迁移", "moves within the area"),
    ("status_changes", "人口类型变更", "residence status changes"),
    ("corrections", "信息更正", "corrections"),
    ("other_changes", "其他增减（登记、更正等）", "other changes (registrations, corrections)"),
    ("crude_birth_rate", "出生率（‰）", "crude birth rate (‰)"),
    ("crude_death_rate", "死亡率（‰）", "crude death rate (‰)"),
    ("sex_ratio_at_birth", "出生人口性别比（女=100）", "sex ratio at birth (girls = 100)"),
    ("events.accepted", "接收事件数", "events accepted"),
    ("events.timely", "及时上报数", "events reported on time"),
    ("timeliness_rate", "上报及时率（%）", "reporting timeliness (%)"),
    ("events.adjustments", "补报调整（往期事件）", "adjustments for earlier periods"),
    ("verified", "本期核实人数", "residents verified in the period"),
    ("verified_share", "核实率（%）", "share of residents verified (%)"),
];

pub fn indicator_label(name: &str) -> Option<(&'static str, &'static str)> {
    INDICATORS.iter().find(|(n, _, _)| *n == name).map(|(_, zh, en)| (*zh, *en))
}

impl PeriodReport {
    /// Derives a report from the stocks at the start (sum of stock cells before the
    /// period), the flows during it and the stocks at its end.
    pub fn from_cells(node: DivisionCode, period: Period, start: &Cells, flows: &Cells, end: &Cells) -> PeriodReport {
        let get = |cells: &Cells, key: &str| cells.get(key).copied().unwrap_or(0);
        let mut f: BTreeMap<String, Figure> = BTreeMap::new();
        let mut put = |k: &str, v: i64| {
            f.insert(k.to_string(), Figure::Count(v));
        };
        for (when, cells) in [("start", start), ("end", end)] {
            let mut total = 0;
            let mut by_sex = [0i64; 2];
            for status in ResidenceStatus::ALL {
                let mut status_total = 0;
                for (i, sex) in [Sex::Male, Sex::Female].into_iter().enumerate() {
                    let n = get(cells, &cell::population(*status, sex));
                    put(&format!("population.{when}.{}.{}", status.key(), cell::sex_key(sex)), n);
                    status_total += n;
                    by_sex[i] += n;
                }
                put(&format!("population.{when}.{}", status.key()), status_total);
                total += status_total;
            }
            put(&format!("population.{when}.male"), by_sex[0]);
            put(&format!("population.{when}.female"), by_sex[1]);
            put(&format!("population.{when}"), total);
            put(&format!("households.{when}"), get(cells, cell::HOUSEHOLDS));
        }
        let births_m = get(flows, &cell::births(Sex::Male));
        let births_f = get(flows, &cell::births(Sex::Female));
        let deaths = get(flows, &cell::deaths(Sex::Male)) + get(flows, &cell::deaths(Sex::Female));
        put("births", births_m + births_f);
        put("deaths", deaths);
        for (name, value) in flows {
            if !cell::is_stock(name) {
                put(name, *value);
            }
        }
        for name in [
            "births.male",
            "births.female",
            "births.order1",
            "births.order2",
            "births.order3plus",
            "deaths.male",
            "deaths.female",
            cell::MARRIAGES,
            cell::DIVORCES,
            cell::MOVES_WITHIN,
            cell::STATUS_CHANGES,
            cell::CORRECTIONS,
            cell::EVENTS_ACCEPTED,
            cell::EVENTS_TIMELY,
            cell::EVENTS_ADJUSTMENTS,
            cell::VERIFIED,
            // Totals; `moves_in.from.*` / `moves_out.to.*` break them down where the
            // province is known.
            cell::MOVES_IN,
            cell::MOVES_OUT,
        ] {
            put(name, get(flows, name));
        }
        let count = |f: &BTreeMap<String, Figure>, k: &str| f.get(k).and_then(|v| v.count()).unwrap_or(0);
        let start_total = count(&f, "population.start");
        let end_total = count(&f, "population.end");
        let explained = births_m + births_f + count(&f, cell::MOVES_IN) - deaths - count(&f, cell::MOVES_OUT);
        f.insert("other_changes".into(), Figure::Count(end_total - start_total - explained));
        let mid = (start_total + end_total) as f64 / 2.0;
        let years = period.days() as f64 / 365.25;
        let per_thousand = |n: i64| (mid > 0.0).then(|| n as f64 / mid / years * 1000.0);
        f.insert("crude_birth_rate".into(), Figure::Rate(per_thousand(births_m + births_f)));
        f.insert("crude_death_rate".into(), Figure::Rate(per_thousand(deaths)));
        f.insert(
            "sex_ratio_at_birth".into(),
            Figure::Rate((births_f > 0).then(|| births_m as f64 / births_f as f64 * 100.0)),
        );
        let accepted = get(flows, cell::EVENTS_ACCEPTED);
        f.insert(
            "timeliness_rate".into(),
            Figure::Rate((accepted > 0).then(|| get(flows, cell::EVENTS_TIMELY) as f64 / accepted as f64 * 100.0)),
        );
        f.insert(
            "verified_share".into(),
            Figure::Rate((end_total > 0).then(|| get(flows, cell::VERIFIED) as f64 / end_total as f64 * 100.0)),
        );
        let age_pyramid = age_pyramid(end, period.last_day().year());
        PeriodReport { node, period, figures: f, age_pyramid }
    }

    pub fn count(&self, name: &str) -> i64 {
        self.figures.get(name).and_then(|f| f.count()).unwrap_or(0)
    }

    pub fn figure(&self, name: &str) -> Figure {
        self.figures.get(name).copied().unwrap_or(Figure::Count(0))
    }

    /// Provinces moves came from or went to: (province code, in, out), busiest first.
    pub fn migration_by_province(&self) -> Vec<(String, i64, i64)> {
        let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (name, value) in &self.figures {
            let Some(n) = value.count() else { continue };
            if let Some(p) = name.strip_prefix("moves_in.from.") {
                by.entry(p.to_string()).or_default().0 += n;
            } else if let Some(p) = name.strip_prefix("moves_out.to.") {
                by.entry(p.to_string()).or_default().1 += n;
            }
        }
        let mut rows: Vec<_> = by.into_iter().map(|(p, (i, o))| (p, i, o)).collect();
        rows.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
        rows
    }
}

/// Five-year age bands from the cohort stocks, age taken as the year's difference.
fn age_pyramid(end: &Cells, year: i32) -> Vec<(i32, i64, i64)> {
    let mut bands = vec![(0i32, 0i64, 0i64); 19];
    for (i, band) in bands.iter_mut().enumerate() {
        band.0 = i as i32 * 5;
    }
    for (name, value) in end {
        let Some(rest) = name.strip_prefix("cohort.") else { continue };
        let Some((sex, birth_year)) = rest.split_once('.') else { continue };
        let Ok(birth_year) = birth_year.parse::<i32>() else { continue };
        let band = ((year - birth_year).max(0) / 5).min(18) as usize;
        if sex == "male" {
            bands[band].1 += value;
        } else {
            bands[band].2 += value;
        }
    }
    bands
}

/// Sums cells month by month: `(month, cells)` rows into start-of-period stocks, flows in
/// the period and end-of-period stocks.
pub fn split_by_period(period: Period, rows: impl IntoIterator<Item = (Month, String, i64)>) -> (Cells, Cells, Cells) {
    let first = period.first_month();
    let last = period.last_month();
    let (mut start, mut flows, mut end) = (Cells::new(), Cells::new(), Cells::new());
    for (month, name, value) in rows {
        if cell::is_stock(&name) {
            if month < first {
                *start.entry(name.clone()).or_default() += value;
            }
            if month <= last {
                *end.entry(name).or_default() += value;
            }
        } else if month >= first && month <= last {
            *flows.entry(name).or_default() += value;
        }
    }
    (start, flows, end)
}

/// The levels a report can be approved at, bottom up.
pub const APPROVAL_LEVELS: [DivisionLevel; 3] = [DivisionLevel::Village, DivisionLevel::Town, DivisionLevel::County];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap()
    }

    #[test]
    fn adding_to_a_community_adds_to_every_ancestor_up_to_its_county() {
        let mut t = Tally::default();
        let oct = Month::new(2026, 10).unwrap();
        t.add(&code("440307001001"), oct, "births.male", 2);
        for node in ["440307001001", "440307001", "440307"] {
            assert_eq!(t.get(&code(node), oct, "births.male"), 2, "{node}");
        }
        // A city's and a province's figures are their counties' cells summed: none kept.
        for node in ["4403", "44"] {
            assert_eq!(t.get(&code(node), oct, "births.male"), 0, "{node}");
        }
        assert!(t.deltas().all(|(n, ..)| n.as_str().starts_with("440307")));
        assert_eq!(t.get(&code("440307002"), oct, "births.male"), 0);
    }

    #[test]
    fn locked_months_push_changes_forward() {
        let m = |n| Month::new(2026, n).unwrap();
        assert_eq!(counted_month(m(9), &[], None), m(9));
        assert_eq!(counted_month(m(9), &[m(9), m(10)], None), m(11));
        assert_eq!(counted_month(m(9), &[], Some(m(10))), m(10));
        // An open month before an approved one is skipped too: November's approved
        // stocks would change otherwise.
        assert_eq!(counted_month(m(10), &[m(11)], None), m(12));
        assert_eq!(counted_month(m(12), &[m(11)], None), m(12));
        assert!(is_adjustment(m(10), &[m(11)]));
        assert!(!is_adjustment(m(12), &[m(11)]));
    }

    #[test]
    fn the_balance_adds_up() {
        let oct = Period::Month(Month::new(2026, 10).unwrap());
        let mut start = Cells::new();
        start.insert(cell::population(ResidenceStatus::Registered, Sex::Male), 100);
        let mut flows = Cells::new();
        flows.insert(cell::births(Sex::Female), 3);
        flows.insert("moves_out.to.11".into(), 2);
        flows.insert(cell::MOVES_OUT.into(), 2);
        let mut end = start.clone();
        end.insert(cell::population(ResidenceStatus::Registered, Sex::Male), 99);
        end.insert(cell::population(ResidenceStatus::Registered, Sex::Female), 3);
        let r = PeriodReport::from_cells(code("440307"), oct, &start, &flows, &end);
        assert_eq!(r.count("population.end"), 102);
        assert_eq!(r.count("moves_out"), 2);
        assert_eq!(r.count("other_changes"), 102 - 100 - (3 - 2));
        assert_eq!(r.figure("sex_ratio_at_birth"), Figure::Rate(Some(0.0)));
        assert_eq!(r.migration_by_province(), vec![("11".to_string(), 0, 2)]);
    }

    /// A random region tree: province 44, city 4403, two counties, towns and
    /// communities under them.
    fn tree() -> impl Strategy<Value = Vec<DivisionCode>> {
        proptest::collection::btree_set((1u32..=2, 1u32..=3, 1u32..=4), 1..12)
            .prop_map(|set| set.into_iter().map(|(c, t, v)| code(&format!("44030{c}{t:03}{v:03}"))).collect::<Vec<_>>())
    }

    #[derive(Debug, Clone)]
    struct Change {
        community: usize,
        month: u8,
        cell: usize,
        delta: i64,
    }

    fn cell_names() -> Vec<String> {
        let mut names = vec![
            cell::population(ResidenceStatus::Registered, Sex::Male),
            cell::population(ResidenceStatus::Inflow, Sex::Female),
            cell::HOUSEHOLDS.to_string(),
            cell::births(Sex::Male),
            cell::births(Sex::Female),
            cell::deaths(Sex::Female),
            "moves_in.from.11".into(),
            "moves_out.to.45".into(),
            cell::MOVES_IN.into(),
            cell::EVENTS_ACCEPTED.into(),
            cell::VERIFIED.into(),
        ];
        names.sort();
        names
    }

    proptest! {
        /// Every node's report is the sum of its children's reports, count by count.
        #[test]
        fn a_node_is_the_sum_of_its_children(
            communities in tree(),
            changes in proptest::collection::vec((0usize..64, 1u8..=12, 0usize..10, -3i64..=5), 0..200),
            period_kind in 0u8..3,
        ) {
            let names = cell_names();
            let changes: Vec<Change> = changes.into_iter().map(|(c, m, k, d)| Change { community: c, month: m, cell: k, delta: d }).collect();
            let mut tally = Tally::default();
            for ch in &changes {
                let community = &communities[ch.community % communities.len()];
                tally.add(community, Month::new(2026, ch.month).unwrap(), &names[ch.cell], ch.delta);
            }
            let rows: Vec<(DivisionCode, Month, String, i64)> = tally.drain().collect();
            let period = match period_kind {
                0 => Period::Month(Month::new(2026, 6).unwrap()),
                1 => Period::Quarter { year: 2026, quarter: 2 },
                _ => Period::Year(2026),
            };
            let report = |node: &DivisionCode| {
                let (s, f, e) = split_by_period(period, rows.iter().filter(|r| &r.0 == node).map(|r| (r.1, r.2.clone(), r.3)));
                PeriodReport::from_cells(node.clone(), period, &s, &f, &e)
            };
            let mut nodes: Vec<DivisionCode> = rows.iter().map(|r| r.0.clone()).collect();
            nodes.dedup();
            nodes.sort();
            nodes.dedup();
            for node in &nodes {
                if node.level() == DivisionLevel::Village {
                    continue;
                }
                let children: Vec<&DivisionCode> = nodes.iter().filter(|c| c.parent().as_ref() == Some(node)).collect();
                let parent = report(node);
                let kids: Vec<PeriodReport> = children.iter().map(|c| report(c)).collect();
                for (name, figure) in &parent.figures {
                    if let Figure::Count(n) = figure {
                        let sum: i64 = kids.iter().map(|k| k.count(name)).sum();
                        prop_assert_eq!(*n, sum, "{} at {}", name, node);
                    }
                }
            }
        }
    }
}
