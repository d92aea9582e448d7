//! Linking a batch of incoming records to the registry: block, compare, train, decide.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::blocking::{BlockingCounts, BlockingRule, RULES};
use super::compare::{Field, Gamma, birth, gamma, id};
use super::model::{Model, TermFrequencies};
use super::record::Features;
use super::registry_index::RegistryIndex;

/// Thresholds and training effort; configuration, not code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// At or above this probability the best candidate is a match.
    pub match_threshold: f64,
    /// At or above this (and below the match threshold), a possible match for review.
    pub review_threshold: f64,
    /// Random pairs counted for u.
    pub random_pairs: usize,
    /// EM iterations per training session.
    pub iterations: usize,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { match_threshold: 0.5, review_threshold: 0.05, random_pairs: 2_000_000, iterations: 40, seed: 2023 }
    }
}

/// One compared pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub incoming: u32,
    pub registry: u32,
    pub gamma: Gamma,
    /// The blocking rules that brought it (bit `i` for `RULES[i]`).
    pub rules: u8,
}

/// Every pair blocking brought for a batch.
#[derive(Debug, Clone, Default)]
pub struct Comparisons {
    pub pairs: Vec<Pair>,
    pub counts: BlockingCounts,
}

/// What became of an incoming record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Match,
    /// Between the thresholds, or above the match threshold on too little evidence.
    Possible,
    NoMatch,
}

/// An incoming record's best candidate and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    pub incoming: u32,
    /// The best candidate's registry index, levels and weight.
    pub best: Option<(u32, Gamma, f64)>,
    pub probability: f64,
    pub outcome: Outcome,
    /// The second best candidate: a second one that could be a match as well makes a
    /// match doubtful.
    pub runner_up: Option<(u32, Gamma, f64)>,
}

/// Links batches to a registry side ([`RegistryIndex`]: its features, blocking index and
/// term frequencies, built once and kept up to date between batches).
pub struct Linker<'a> {
    registry: &'a [Features],
    index: &'a RegistryIndex,
}

/// The training sessions: the pairs one rule brings, with the fields that rule made
/// agree left out of the estimate.
const SESSIONS: [(BlockingRule, &[Field]); 3] = [
    (BlockingRule::IdNumber, &[Field::IdNumber]),
    // Names are gendered: pairs alike in name agree on sex more than random pairs do.
    (BlockingRule::NameBirthYear, &[Field::Name, Field::BirthDate, Field::Sex]),
    (BlockingRule::Phone, &[Field::Phone]),
];

impl<'a> Linker<'a> {
    pub fn new(index: &'a RegistryIndex) -> Linker<'a> {
        Linker { registry: index.features(), index }
    }

    pub fn frequencies(&self) -> &TermFrequencies {
        self.index.frequencies()
    }

    /// Blocks and compares every incoming record, on `threads` threads.
    pub fn compare(&self, incoming: &[Features], threads: usize) -> Comparisons {
        let chunk = incoming.len().div_ceil(threads.max(1)).max(1);
        let parts: Vec<Comparisons> = std::thread::scope(|scope| {
            let handles: Vec<_> = incoming
                .chunks(chunk)
                .enumerate()
                .map(|(n, part)| {
                    scope.spawn(move || {
                        let mut out = Comparisons::default();
                        let mut candidates = Vec::new();
                        for (i, f) in part.iter().enumerate() {
                            self.index.candidates(f, &mut candidates, &mut out.counts);
                            let incoming = (n * chunk + i) as u32;
                            out.pairs.extend(candidates.iter().map(|&(r, rules)| Pair {
                                incoming,
                                registry: r,
                                gamma: gamma(f, &self.registry[r as usize]),
                                rules,
                            }));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        let mut all = Comparisons::default();
        for part in parts {
            all.pairs.extend(part.pairs);
            for r in 0..RULES.len() {
                all.counts.pairs[r] += part.counts.pairs[r];
                all.counts.oversized[r] += part.counts.oversized[r];
            }
            all.counts.compared += part.counts.compared;
        }
        all
    }

    /// Estimates a model from the registry and this batch alone: u on random pairs, m
    /// by EM in each session, the prior from the expected matches among the pairs.
    pub fn train(&self, incoming: &[Features], comparisons: &Comparisons, settings: &Settings) -> Model {
        let mut model = Model::initial();
        model.estimate_u(self.registry, incoming, settings.random_pairs, settings.seed);
        let sessions: Vec<_> = SESSIONS
            .iter()
            .map(|(rule, fixed)| {
                let bit = 1u8 << RULES.iter().position(|r| r == rule).unwrap_or(0);
                let mut patterns: HashMap<Gamma, u64> = HashMap::new();
                for p in comparisons.pairs.iter().filter(|p| p.rules & bit != 0) {
                    *patterns.entry(p.gamma).or_default() += 1;
                }
                model.estimate_m(&patterns, fixed, settings.iterations)
            })
            .collect();
        model.set_m(&sessions);
        self.train_prior(&mut model, incoming, comparisons);
        model
    }

    /// Re-estimates the prior of `model` for this batch.
    pub fn train_prior(&self, model: &mut Model, incoming: &[Features], comparisons: &Comparisons) {
        let weights: Vec<f64> = comparisons
            .pairs
            .iter()
            .map(|p| model.weight(&p.gamma, &incoming[p.incoming as usize], Some(self.index.frequencies())))
            .collect();
        model.estimate_prior(&weights, self.index.live() as f64 * incoming.len() as f64);
    }

    /// Each incoming record's best candidate and outcome.
    pub fn decide(
        &self,
        model: &Model,
        incoming: &[Features],
        comparisons: &Comparisons,
        settings: &Settings,
    ) -> Vec<Linked> {
        let mut linked: Vec<Linked> = (0..incoming.len() as u32)
            .map(|i| Linked { incoming: i, best: None, probability: 0.0, outcome: Outcome::NoMatch, runner_up: None })
            .collect();
        for p in &comparisons.pairs {
            let w = model.weight(&p.gamma, &incoming[p.incoming as usize], Some(self.index.frequencies()));
            let l = &mut linked[p.incoming as usize];
            match l.best {
                Some((_, _, best)) if best >= w => {
                    if l.runner_up.is_none_or(|(_, _, r)| r < w) {
                        l.runner_up = Some((p.registry, p.gamma, w));
                    }
                }
                _ => {
                    l.runner_up = l.best;
                    l.best = Some((p.registry, p.gamma, w));
                }
            }
        }
        for l in &mut linked {
            let Some((_, g, w)) = l.best else { continue };
            l.probability = model.probability(w);
            // Two registry records both above the threshold (a duplicate, twins): a
            // person decides which.
            let ambiguous = l
                .runner_up
                .is_some_and(|(_, rg, r)| model.probability(r) >= settings.match_threshold && enough_evidence(&rg));
            l.outcome = if l.probability >= settings.match_threshold {
                if enough_evidence(&g) && !ambiguous { Outcome::Match } else { Outcome::Possible }
            } else if l.probability >= settings.review_threshold {
                Outcome::Possible
            } else {
                Outcome::NoMatch
            };
        }
        linked
    }
}

/// Whether a pair agrees on more than its name, sex and year of birth: Chinese names
/// are short and shared by thousands, so a match never rests on those alone. Two valid
/// ID numbers that differ are two people, whatever else agrees.
pub fn enough_evidence(g: &Gamma) -> bool {
    if g[Field::IdNumber.index()] == id::OTHER_NUMBER {
        return false;
    }
    let id_close =
        matches!(g[Field::IdNumber.index()], id::EXACT | id::LEGACY_FORM | id::SUBSTITUTION | id::TRANSPOSITION);
    let birth_close = matches!(g[Field::BirthDate.index()], birth::EXACT | birth::SWAPPED | birth::ONE_DAY);
    let phone = g[Field::Phone.index()] == 1;
    let community = g[Field::Community.index()] == 1;
    id_close || birth_close || phone || community
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkage::LinkRecord;
    use crate::linkage::synthetic::{LinkagePlan, generate};
    use time::macros::date;

    /// A registry full of 张伟 born in 1990: name and year never make a match.
    #[test]
    fn a_match_never_rests_on_name_and_birth_year() {
        let mut registry: Vec<LinkRecord> = (0..2_000u32)
            .map(|i| LinkRecord {
                name: "张伟".into(),
                sex: Some(crate::registry::Sex::Male),
                birth_date: Some(date!(1990 - 01 - 01) + time::Duration::days(i64::from(i % 365))),
                id_number: Some({
                    let body = format!("440307199001{:02}{:03}", 1 + i % 28, i % 1000);
                    let check = crate::linkage::record::check_character(body.as_bytes()) as char;
                    format!("{body}{check}")
                }),
                community: Some(format!("4403070010{:02}", i % 50)),
                phone: Some(format!("139{:08}", i)),
            })
            .collect();
        // Other people, so that frequencies are those of a real registry.
        let plan = LinkagePlan { registry: 5_000, incoming: 10, seed: 3, ..LinkagePlan::default() };
        let (others, _, _) = generate(&plan);
        registry.extend(others.into_iter().map(|(_, r)| r));
        let features = RegistryIndex::build(registry.iter().map(Features::of).collect());
        let linker = Linker::new(&features);
        let incoming = vec![
            // Name, sex and year only: never a match.
            Features::of(&LinkRecord {
                name: "张伟".into(),
                sex: Some(crate::registry::Sex::Male),
                birth_date: Some(date!(1990 - 12 - 31)),
                ..Default::default()
            }),
            // With one of them's ID number: that one.
            Features::of(&LinkRecord {
                name: "張偉".into(),
                birth_date: Some(date!(1990 - 01 - 11)),
                id_number: Some(registry[10].id_number.clone().unwrap_or_default()),
                ..Default::default()
            }),
        ];
        let settings = Settings { random_pairs: 200_000, ..Settings::default() };
        let comparisons = linker.compare(&incoming, 2);
        let model = linker.train(&incoming, &comparisons, &settings);
        let linked = linker.decide(&model, &incoming, &comparisons, &settings);
        assert_ne!(linked[0].outcome, Outcome::Match, "{:?}", linked[0]);
        assert_eq!(linked[1].outcome, Outcome::Match, "{:?}", linked[1]);
        assert_eq!(linked[1].best.map(|b| b.0), Some(10));
        assert!(!enough_evidence(&[0, 1, 1, 4, 3, 0]));
        assert!(enough_evidence(&[0, 1, 1, 1, 3, 0]));
        assert!(!enough_evidence(&[id::OTHER_NUMBER, 1, 1, 1, 1, 1]));
    }

    /// On generated data with known truth, the linker finds nearly all true matches
    /// and little else.
    #[test]
    fn links_generated_records_accurately() {
        let plan = LinkagePlan { registry: 20_000, incoming: 2_000, seed: 11, ..LinkagePlan::default() };
        let (registry, incoming, truth) = generate(&plan);
        let r = RegistryIndex::build(registry.iter().map(|(_, rec)| Features::of(rec)).collect());
        let i: Vec<Features> = incoming.iter().map(|(_, rec)| Features::of(rec)).collect();
        let linker = Linker::new(&r);
        let settings = Settings { random_pairs: 500_000, ..Settings::default() };
        let comparisons = linker.compare(&i, 2);
        let model = linker.train(&i, &comparisons, &settings);
        let linked = linker.decide(&model, &i, &comparisons, &settings);
        let (mut correct, mut predicted) = (0, 0);
        for l in &linked {
            if l.outcome == Outcome::Match {
                predicted += 1;
                let person = l.best.map(|b| registry[b.0 as usize].0.as_str());
                if truth[l.incoming as usize].1.as_deref() == person {
                    correct += 1;
                }
            }
        }
        let actual = truth.iter().filter(|(_, p)| p.is_some()).count();
        let precision = f64::from(correct) / f64::from(predicted.max(1));
        let recall = f64::from(correct) / actual as f64;
        assert!(precision > 0.97 && recall > 0.9, "precision {precision}, recall {recall}");
        // An ID number agreeing is strong evidence; two valid numbers differing, against.
        assert!(model.field(Field::IdNumber).weight(id::EXACT) > 10.0);
        assert!(model.field(Field::IdNumber).weight(id::OTHER_NUMBER) < 0.0);
    }
}
