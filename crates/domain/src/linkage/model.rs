//! The Fellegi–Sunter model: for each field and level, how likely a true match (m) and
//! a random pair of different people (u) are to reach it; a pair's match weight is the
//! sum of log₂(m/u) over its fields, adjusted for how common the shared name is.
//!
//! u is counted on random pairs; m is estimated by expectation–maximisation on the
//! pairs each training blocking rule brings, leaving out the fields that rule already
//! made agree (as Splink does); the prior that a random pair is a match is the fixed
//! point of the expected matches among all candidate pairs.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::compare::{FIELDS, Field, Gamma, MISSING, gamma, name};
use super::record::{Features, text_key};

/// m and u of one field, by level (index 0, "missing", carries no evidence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldParameters {
    pub field: Field,
    pub m: Vec<f64>,
    pub u: Vec<f64>,
}

impl FieldParameters {
    /// log₂(m/u) of a level; 0 for "missing".
    pub fn weight(&self, level: u8) -> f64 {
        let l = usize::from(level);
        if level == MISSING || l >= self.m.len() {
            return 0.0;
        }
        (self.m[l] / self.u[l]).log2()
    }
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// In the order of [`FIELDS`].
    pub fields: Vec<FieldParameters>,
    /// The probability that two records drawn at random are the same person.
    pub prior: f64,
}

/// Smallest u a level is given, so that no level is impossible among random pairs.
const FLOOR: f64 = 1e-7;

/// Smallest m a level is given: data where true matches never disagree on a field
/// (synthetic, or a small clean batch) would otherwise make one disagreement veto a
/// match outright. One true match in a thousand disagreeing is assumed possible.
const M_FLOOR: f64 = 1e-3;

impl Model {
    /// Starting values before anything is estimated: m from what such data usually
    /// shows, u uniform.
    pub fn initial() -> Model {
        let m_of = |field: Field| -> Vec<f64> {
            let m: &[f64] = match field {
                Field::IdNumber => &[0.85, 0.02, 0.05, 0.03, 0.01, 0.04],
                Field::Name => &[0.80, 0.02, 0.05, 0.05, 0.03, 0.03, 0.02],
                Field::Sex => &[0.98, 0.02],
                Field::BirthDate => &[0.85, 0.03, 0.04, 0.03, 0.05],
                Field::Community => &[0.70, 0.15, 0.15],
                Field::Phone => &[0.70, 0.30],
            };
            std::iter::once(1.0).chain(m.iter().copied()).collect()
        };
        Model {
            fields: FIELDS
                .iter()
                .map(|&field| {
                    let n = field.level_count();
                    let mut u = vec![1.0 / (n - 1) as f64; n];
                    u[0] = 1.0;
                    FieldParameters { field, m: m_of(field), u }
                })
                .collect(),
            prior: 1e-6,
        }
    }

    pub fn field(&self, field: Field) -> &FieldParameters {
        &self.fields[field.index()]
    }

    /// The match weight of a pair (log₂ of its Bayes factor, without the prior), with
    /// the name's term-frequency adjustment where `frequencies` is given.
    pub fn weight(&self, gamma: &Gamma, a: &Features, frequencies: Option<&TermFrequencies>) -> f64 {
        let base: f64 = self.fields.iter().zip(gamma).map(|(p, &level)| p.weight(level)).sum();
        match frequencies {
            Some(tf) => base + tf.adjustment(self.field(Field::Name), gamma[Field::Name.index()], a),
            None => base,
        }
    }

    /// The probability that a pair with this weight is a match.
    pub fn probability(&self, weight: f64) -> f64 {
        let prior_weight = (self.prior / (1.0 - self.prior)).log2();
        1.0 / (1.0 + (-(weight + prior_weight)).exp2())
    }

    /// Counts each field's levels on `pairs` random pairs of a registry record and an
    /// incoming one: almost all of them different people.
    pub fn estimate_u(&mut self, registry: &[Features], incoming: &[Features], pairs: usize, seed: u64) {
        if registry.is_empty() || incoming.is_empty() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts: Vec<Vec<u64>> = FIELDS.iter().map(|f| vec![0; f.level_count()]).collect();
        for _ in 0..pairs {
            let a = &registry[rng.random_range(0..registry.len())];
            let b = &incoming[rng.random_range(0..incoming.len())];
            for (field, level) in gamma(a, b).iter().enumerate() {
                counts[field][usize::from(*level)] += 1;
            }
        }
        for (p, counts) in self.fields.iter_mut().zip(counts) {
            // Add-one smoothing: a level never seen among random pairs is rare, not
            // impossible.
            let seen: u64 = counts[1..].iter().sum();
            let levels = counts.len() - 1;
            for (u, count) in p.u.iter_mut().zip(&counts).skip(1) {
                *u = ((*count as f64 + 1.0) / (seen as f64 + levels as f64)).max(FLOOR);
            }
        }
    }

    /// Expectation–maximisation of m on the pairs' level patterns (`patterns`: how many
    /// pairs had each), u held fixed, leaving out `fixed` fields (those the pairs were
    /// chosen by). Returns m of each field it estimated.
    pub fn estimate_m(
        &self,
        patterns: &HashMap<Gamma, u64>,
        fixed: &[Field],
        iterations: usize,
    ) -> Vec<(Field, Vec<f64>)> {
        let active: Vec<Field> = FIELDS.iter().copied().filter(|f| !fixed.contains(f)).collect();
        let mut m: Vec<Vec<f64>> = self.fields.iter().map(|p| p.m.clone()).collect();
        let mut lambda: f64 = 0.5;
        let patterns: Vec<(&Gamma, f64)> = patterns.iter().map(|(g, &n)| (g, n as f64)).collect();
        let total: f64 = patterns.iter().map(|(_, n)| n).sum();
        if total == 0.0 {
            return Vec::new();
        }
        for _ in 0..iterations {
            let mut expected: Vec<Vec<f64>> = FIELDS.iter().map(|f| vec![0.0; f.level_count()]).collect();
            let mut matches = 0.0;
            for (g, n) in &patterns {
                let mut log_ratio = (lambda / (1.0 - lambda)).ln();
                for f in &active {
                    let l = usize::from(g[f.index()]);
                    if l != 0 {
                        log_ratio += (m[f.index()][l] / self.fields[f.index()].u[l]).ln();
                    }
                }
                let p = 1.0 / (1.0 + (-log_ratio).exp());
                matches += p * n;
                for f in &active {
                    expected[f.index()][usize::from(g[f.index()])] += p * n;
                }
            }
            lambda = (matches / total).clamp(1e-9, 1.0 - 1e-9);
            for f in &active {
                let e = &expected[f.index()];
                let seen: f64 = e[1..].iter().sum();
                if seen <= 0.0 {
                    continue;
                }
                let fm = &mut m[f.index()];
                for l in 1..fm.len() {
                    fm[l] = (e[l] / seen).max(M_FLOOR);
                }
                let sum: f64 = fm[1..].iter().sum();
                for v in fm[1..].iter_mut() {
                    *v /= sum;
                }
            }
        }
        active.into_iter().map(|f| (f, m[f.index()].clone())).collect()
    }

    /// Sets m of each field to the mean of the sessions' estimates of it.
    pub fn set_m(&mut self, sessions: &[Vec<(Field, Vec<f64>)>]) {
        for p in &mut self.fields {
            let estimates: Vec<&Vec<f64>> =
                sessions.iter().flatten().filter(|(f, _)| *f == p.field).map(|(_, m)| m).collect();
            if estimates.is_empty() {
                continue;
            }
            for l in 1..p.m.len() {
                p.m[l] = estimates.iter().map(|m| m[l]).sum::<f64>() / estimates.len() as f64;
            }
        }
    }

    /// Moves m toward the levels of pairs reviewers confirmed as matches: each field's
    /// m becomes the estimate weighted as [`PRIOR_PAIRS`] pairs plus the confirmed
    /// pairs' own counts (missing values count for nothing), floored like EM's.
    pub fn learn_from_matches(&mut self, confirmed: &[Gamma]) {
        for p in &mut self.fields {
            let mut counts = vec![0.0f64; p.m.len()];
            for g in confirmed {
                let l = usize::from(g[p.field.index()]);
                if l != usize::from(MISSING) && l < counts.len() {
                    counts[l] += 1.0;
                }
            }
            let seen: f64 = counts.iter().sum();
            if seen == 0.0 {
                continue;
            }
            for (m, count) in p.m.iter_mut().zip(&counts).skip(1) {
                *m = ((PRIOR_PAIRS * *m + count) / (PRIOR_PAIRS + seen)).max(M_FLOOR);
            }
            let total: f64 = p.m[1..].iter().sum();
            for m in &mut p.m[1..] {
                *m /= total;
            }
        }
    }

    /// The prior: the fixed point of "expected matches among the candidate pairs
    /// (whose weights are `weights`) divided by all pairs". Blocking leaves out almost
    /// no true match, so the candidates hold almost all of them.
    pub fn estimate_prior(&mut self, weights: &[f64], all_pairs: f64) {
        if all_pairs <= 0.0 || weights.is_empty() {
            return;
        }
        for _ in 0..100 {
            let expected: f64 = weights.iter().map(|&w| self.probability(w)).sum();
            let next = (expected / all_pairs).clamp(1e-15, 0.5);
            let done = (next - self.prior).abs() <= self.prior * 1e-6;
            self.prior = next;
            if done {
                break;
            }
        }
    }
}

/// How many pairs the estimate from data counts as when reviewers' decisions are added.
pub const PRIOR_PAIRS: f64 = 50.0;

/// How often each name, name sound and surname occurs, for the term-frequency
/// adjustment: agreeing on 张伟 says less than agreeing on 欧阳子轩.
#[derive(Debug, Clone, Default)]
pub struct TermFrequencies {
    total: f64,
    names: HashMap<u64, u32>,
    sounds: HashMap<u64, u32>,
    surnames: HashMap<u64, u32>,
    /// Σ f² of each: the chance two random records share a value, on average.
    names_square: f64,
    sounds_square: f64,
    surnames_square: f64,
}

impl TermFrequencies {
    pub fn count<'a>(records: impl IntoIterator<Item = &'a Features>) -> TermFrequencies {
        let mut tf = TermFrequencies::default();
        for r in records {
            tf.add(r);
        }
        tf.settle();
        tf
    }

    /// Counts one more record (a registry change; call [`Self::settle`] after a batch).
    pub fn add(&mut self, r: &Features) {
        if r.name.len == 0 {
            return;
        }
        self.total += 1.0;
        *self.names.entry(r.name.simplified).or_default() += 1;
        *self.sounds.entry(r.name.plain).or_default() += 1;
        *self.surnames.entry(r.name.surname).or_default() += 1;
    }

    /// Counts one record fewer (one that [`Self::add`] or [`Self::count`] counted).
    pub fn remove(&mut self, r: &Features) {
        if r.name.len == 0 {
            return;
        }
        self.total = (self.total - 1.0).max(0.0);
        for (map, key) in [
            (&mut self.names, r.name.simplified),
            (&mut self.sounds, r.name.plain),
            (&mut self.surnames, r.name.surname),
        ] {
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }

    /// Recomputes the averages after records were added or removed.
    pub fn settle(&mut self) {
        let square =
            |map: &HashMap<u64, u32>, total: f64| map.values().map(|&n| (f64::from(n) / total).powi(2)).sum::<f64>();
        if self.total > 0.0 {
            self.names_square = square(&self.names, self.total);
            self.sounds_square = square(&self.sounds, self.total);
            self.surnames_square = square(&self.surnames, self.total);
        }
    }

    fn frequency(&self, map: &HashMap<u64, u32>, key: u64) -> f64 {
        f64::from(map.get(&key).copied().unwrap_or(0).max(1)) / self.total.max(1.0)
    }

    /// How many records carry this exact (simplified) name.
    pub fn name_count(&self, name: &str) -> u32 {
        self.names.get(&text_key(&super::record::simplified_name(name))).copied().unwrap_or(0)
    }

    /// log₂ of how much rarer than average the value the pair shares is, at the
    /// name level reached. Exact names replace the level's u by the name's frequency.
    pub fn adjustment(&self, params: &FieldParameters, level: u8, a: &Features) -> f64 {
        if self.total == 0.0 {
            return 0.0;
        }
        match level {
            // The exact level's u for both: a name in traditional characters is as
            // common as in simplified ones (the simplified level's u is small only
            // because few records are written in traditional characters).
            name::EXACT | name::SIMPLIFIED => {
                (params.u[usize::from(name::EXACT)] / self.frequency(&self.names, a.name.simplified)).log2()
            }
            name::PINYIN_TONES | name::PINYIN => {
                (self.sounds_square / self.frequency(&self.sounds, a.name.plain)).log2()
            }
            name::SURNAME | name::TWO_AND_THREE => {
                (self.surnames_square / self.frequency(&self.surnames, a.name.surname)).log2()
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Confirmed matches that all agree exactly on the ID number pull its m there; a
    /// field they never had (missing) keeps its estimate; m still sums to one.
    #[test]
    fn reviewers_matches_move_m_toward_what_they_confirmed() {
        let mut model = Model::initial();
        let before = model.clone();
        let mut g: Gamma = [0; 6];
        g[Field::IdNumber.index()] = 1;
        model.learn_from_matches(&vec![g; 150]);
        let id = model.field(Field::IdNumber);
        let expected = (PRIOR_PAIRS * before.field(Field::IdNumber).m[1] + 150.0) / (PRIOR_PAIRS + 150.0);
        assert!((id.m[1] - expected).abs() < 0.01, "{} vs {expected}", id.m[1]);
        assert!((id.m[1..].iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(id.m[1..].iter().all(|&m| m >= M_FLOOR / 2.0));
        assert_eq!(model.field(Field::Phone), before.field(Field::Phone));
    }

    /// EM recovers m from patterns drawn from a model with known parameters.
    #[test]
    fn em_recovers_known_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut truth = Model::initial();
        // Two-level-ish fields for clarity: m and u chosen, λ = 0.3 among the pairs.
        let set = |p: &mut FieldParameters, m: &[f64], u: &[f64]| {
            p.m[1..].copy_from_slice(m);
            p.u[1..].copy_from_slice(u);
        };
        set(&mut truth.fields[0], &[0.9, 0.01, 0.03, 0.02, 0.01, 0.03], &[1e-5, 1e-6, 1e-5, 1e-6, 0.01, 0.98997]);
        set(
            &mut truth.fields[1],
            &[0.85, 0.02, 0.04, 0.04, 0.02, 0.02, 0.01],
            &[0.001, 0.0001, 0.002, 0.003, 0.001, 0.05, 0.9429],
        );
        set(&mut truth.fields[2], &[0.97, 0.03], &[0.5, 0.5]);
        set(&mut truth.fields[3], &[0.9, 0.02, 0.03, 0.02, 0.03], &[0.00004, 0.00001, 0.0001, 0.003, 0.99685]);
        set(&mut truth.fields[4], &[0.6, 0.2, 0.2], &[0.02, 0.1, 0.88]);
        set(&mut truth.fields[5], &[0.7, 0.3], &[0.0001, 0.9999]);
        let draw = |rng: &mut ChaCha8Rng, probs: &[f64]| -> u8 {
            let x: f64 = rng.random();
            let mut acc = 0.0;
            for (l, p) in probs.iter().enumerate().skip(1) {
                acc += p;
                if x < acc {
                    return l as u8;
                }
            }
            (probs.len() - 1) as u8
        };
        let mut patterns: HashMap<Gamma, u64> = HashMap::new();
        for _ in 0..200_000 {
            let is_match = rng.random_bool(0.3);
            let g: Gamma = std::array::from_fn(|f| {
                let p = &truth.fields[f];
                draw(&mut rng, if is_match { &p.m } else { &p.u })
            });
            *patterns.entry(g).or_default() += 1;
        }
        let mut model = Model::initial();
        for (p, t) in model.fields.iter_mut().zip(&truth.fields) {
            p.u = t.u.clone();
        }
        let estimated = model.estimate_m(&patterns, &[], 50);
        for (field, m) in estimated {
            let t = &truth.field(field).m;
            for l in 1..m.len() {
                assert!((m[l] - t[l]).abs() < 0.02, "{field:?} level {l}: estimated {} against {}", m[l], t[l]);
            }
        }
    }

    #[test]
    fn common_names_weigh_less_than_rare_ones() {
        let rec = |n: &str| Features::of(&crate::linkage::LinkRecord { name: n.into(), ..Default::default() });
        let mut people: Vec<Features> = (0..90).map(|_| rec("张伟")).collect();
        people.extend((0..10).map(|i| {
            rec(["欧阳子轩", "司马光", "诸葛亮", "上官婉", "东方明", "慕容复", "令狐冲", "独孤求", "皇甫嵩", "公孙胜"]
                [i])
        }));
        let tf = TermFrequencies::count(&people);
        let model = Model::initial();
        let p = model.field(Field::Name);
        let common = tf.adjustment(p, name::EXACT, &rec("张伟")) + p.weight(name::EXACT);
        let rare = tf.adjustment(p, name::EXACT, &rec("欧阳子轩")) + p.weight(name::EXACT);
        assert!(rare > common + 3.0, "rare {rare} common {common}");
        // The exact weight with the adjustment is log₂(m / frequency).
        assert!((common - (p.m[1] / 0.9).log2()).abs() < 1e-9);
        assert_eq!(tf.name_count("張偉"), 90);
    }

    #[test]
    fn the_prior_is_the_expected_share_of_matches() {
        let mut model = Model::initial();
        // 100 pairs of certain matches among 10⁶ pairs: prior ≈ 10⁻⁴.
        let weights = vec![60.0; 100];
        model.estimate_prior(&weights, 1e6);
        assert!((model.prior - 1e-4).abs() < 1e-6, "{}", model.prior);
    }
}
