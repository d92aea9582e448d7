//! Blocking: which registry records an incoming record is compared with at all. Each
//! rule is a key both records must share; the registry's keys are sorted once, so a
//! new month's records look their candidates up without touching the rest.

use serde::{Deserialize, Serialize};

use super::record::Features;

/// A blocking rule: the records compared are those sharing its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockingRule {
    /// The same ID number (18-digit form).
    IdNumber,
    /// The same date of birth and surname sound.
    BirthDateSurname,
    /// The same phone.
    Phone,
    /// The same name sound and year of birth.
    NameBirthYear,
    /// The same name sound and community.
    NameCommunity,
}

pub const RULES: [BlockingRule; 5] = [
    BlockingRule::IdNumber,
    BlockingRule::BirthDateSurname,
    BlockingRule::Phone,
    BlockingRule::NameBirthYear,
    BlockingRule::NameCommunity,
];

/// A block holding more records than this is left out (and counted): a key that
/// common does not tell people apart.
pub const MAX_BLOCK: usize = 2_000;

/// SplitMix64's finaliser: spreads combined keys.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl BlockingRule {
    pub fn label_zh(self) -> &'static str {
        match self {
            BlockingRule::IdNumber => "身份号码相同",
            BlockingRule::BirthDateSurname => "出生日期与姓的读音相同",
            BlockingRule::Phone => "电话相同",
            BlockingRule::NameBirthYear => "姓名读音与出生年份相同",
            BlockingRule::NameCommunity => "姓名读音与社区相同",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            BlockingRule::IdNumber => "same ID number",
            BlockingRule::BirthDateSurname => "same date of birth and surname sound",
            BlockingRule::Phone => "same phone",
            BlockingRule::NameBirthYear => "same name sound and year of birth",
            BlockingRule::NameCommunity => "same name sound and community",
        }
    }

    /// The record's key under this rule; `None` when a value it needs is missing.
    pub fn key(self, f: &Features) -> Option<u64> {
        let tag = self as u64;
        let name = (f.name.len > 0).then_some(f.name.plain);
        match self {
            BlockingRule::IdNumber => {
                let id = f.id?;
                Some(mix(tag, id.iter().fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(*b)))))
            }
            BlockingRule::BirthDateSurname => {
                let date = f.birth_date?;
                (f.name.len > 0).then(|| mix(mix(tag, date.to_julian_day() as u64), f.name.surname))
            }
            BlockingRule::Phone => (f.phone != 0).then(|| mix(tag, f.phone)),
            BlockingRule::NameBirthYear => {
                let year = f.birth_date?.year();
                Some(mix(mix(tag, name?), year as u64))
            }
            BlockingRule::NameCommunity => {
                if f.community == 0 {
                    return None;
                }
                Some(mix(mix(tag, name?), f.community))
            }
        }
    }
}

/// One rule's keys over the registry, sorted, with the record each came from.
#[derive(Debug, Clone, Default)]
struct RuleIndex {
    keys: Vec<u64>,
    rows: Vec<u32>,
}

/// The registry's blocking keys under every rule.
#[derive(Debug, Clone, Default)]
pub struct BlockingIndex {
    rules: Vec<(BlockingRule, RuleIndex)>,
}

/// What blocking brought, per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockingCounts {
    /// Pairs each rule brought, in the order of [`RULES`] (a pair two rules bring is
    /// counted under both).
    pub pairs: [u64; 5],
    /// Blocks left out for being larger than [`MAX_BLOCK`].
    pub oversized: [u64; 5],
    /// Distinct pairs compared.
    pub compared: u64,
}

impl BlockingIndex {
    pub fn build(registry: &[Features]) -> BlockingIndex {
        let rules = RULES
            .iter()
            .map(|&rule| {
                let mut pairs: Vec<(u64, u32)> =
                    registry.iter().enumerate().filter_map(|(i, f)| rule.key(f).map(|k| (k, i as u32))).collect();
                pairs.sort_unstable();
                let (keys, rows) = pairs.into_iter().unzip();
                (rule, RuleIndex { keys, rows })
            })
            .collect();
        BlockingIndex { rules }
    }

    /// The registry records `f` is to be compared with, each once with the rules that
    /// brought it (bit `i` for `RULES[i]`), in `out` (cleared first); the counts are
    /// added to.
    pub fn candidates(&self, f: &Features, out: &mut Vec<(u32, u8)>, counts: &mut BlockingCounts) {
        out.clear();
        self.extend_candidates(f, 0, out, counts);
        merge_rules(out);
        counts.compared += out.len() as u64;
    }

    /// Adds the records `f` is to be compared with to `out`, their positions moved by
    /// `offset` (an index over the records after the first `offset`), unmerged.
    pub fn extend_candidates(&self, f: &Features, offset: u32, out: &mut Vec<(u32, u8)>, counts: &mut BlockingCounts) {
        for (r, (rule, index)) in self.rules.iter().enumerate() {
            let Some(key) = rule.key(f) else { continue };
            let start = index.keys.partition_point(|k| *k < key);
            let end = start + index.keys[start..].partition_point(|k| *k == key);
            if end - start > MAX_BLOCK {
                counts.oversized[r] += 1;
                continue;
            }
            counts.pairs[r] += (end - start) as u64;
            out.extend(index.rows[start..end].iter().map(|&row| (row + offset, 1u8 << r)));
        }
    }
}

/// Sorts candidates and makes each record one entry with every rule that brought it.
pub fn merge_rules(out: &mut Vec<(u32, u8)>) {
    out.sort_unstable();
    let mut kept = 0;
    for i in 0..out.len() {
        if kept > 0 && out[kept - 1].0 == out[i].0 {
            out[kept - 1].1 |= out[i].1;
        } else {
            out[kept] = out[i];
            kept += 1;
        }
    }
    out.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkage::LinkRecord;
    use time::macros::date;

    fn person(name: &str, dob: time::Date, id: &str, phone: &str) -> Features {
        Features::of(&LinkRecord {
            name: name.into(),
            birth_date: Some(dob),
            id_number: (!id.is_empty()).then(|| id.into()),
            phone: (!phone.is_empty()).then(|| phone.into()),
            community: Some("440307001001".into()),
            ..Default::default()
        })
    }

    #[test]
    fn candidates_share_a_key_and_come_once() {
        let registry = vec![
            person("张伟", date!(1990 - 01 - 02), "11010519900102001X", "13800000001"),
            person("李娜", date!(1985 - 05 - 06), "110105198505060020", ""),
            person("张炜", date!(1990 - 01 - 02), "", ""),
        ];
        let index = BlockingIndex::build(&registry);
        let mut out = Vec::new();
        let mut counts = BlockingCounts::default();
        // Same ID and phone as the first, same sound and birth date as the third.
        index.candidates(
            &person("张伟", date!(1990 - 01 - 02), "11010519900102001X", "13800000001"),
            &mut out,
            &mut counts,
        );
        // The first by ID, birth date and surname, phone, name sound and year, name
        // sound and community; the third by birth date and surname, sound and year,
        // sound and community.
        assert_eq!(out, vec![(0, 0b11111), (2, 0b11010)]);
        assert!(counts.pairs.iter().sum::<u64>() > 2);
        assert_eq!(counts.compared, 2);
        index.candidates(&person("王芳", date!(2000 - 01 - 01), "", ""), &mut out, &mut counts);
        assert!(out.is_empty());
    }
}
