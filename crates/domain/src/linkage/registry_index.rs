//! The registry side of linkage kept between batches: the features of every record,
//! their blocking index and term frequencies — built once, then brought up to date
//! with what changed (a new version replaces its record, an exit retires it) instead of
//! being rebuilt for each month's feed. Changed records go to a small overlay index;
//! when the overlay grows past an eighth of the base, the owner rebuilds (compacts).

use super::blocking::{BlockingCounts, BlockingIndex, merge_rules};
use super::model::TermFrequencies;
use super::record::Features;

pub struct RegistryIndex {
    features: Vec<Features>,
    /// Over `features[..base_len]`.
    base: BlockingIndex,
    base_len: usize,
    /// Over `features[base_len..]`, rebuilt (it is small) at each update.
    overlay: BlockingIndex,
    /// Records replaced by a later version or gone from the registry.
    retired: Vec<bool>,
    live: usize,
    frequencies: TermFrequencies,
}

impl RegistryIndex {
    pub fn build(features: Vec<Features>) -> RegistryIndex {
        let base = BlockingIndex::build(&features);
        let frequencies = TermFrequencies::count(&features);
        let n = features.len();
        RegistryIndex {
            base,
            base_len: n,
            overlay: BlockingIndex::default(),
            retired: vec![false; n],
            live: n,
            features,
            frequencies,
        }
    }

    /// Every record by position, retired ones included (their positions stay valid).
    pub fn features(&self) -> &[Features] {
        &self.features
    }

    pub fn frequencies(&self) -> &TermFrequencies {
        &self.frequencies
    }

    /// Records in the registry now.
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn is_retired(&self, position: u32) -> bool {
        self.retired.get(position as usize).copied().unwrap_or(true)
    }

    /// Whether so much has changed that a rebuild would pay.
    pub fn wants_compaction(&self) -> bool {
        let overlay = self.features.len() - self.base_len;
        overlay > 1_000 && overlay * 8 > self.base_len
    }

    /// The live records `f` is to be compared with, each once with the rules that brought
    /// it, in `out` (cleared first).
    pub fn candidates(&self, f: &Features, out: &mut Vec<(u32, u8)>, counts: &mut BlockingCounts) {
        out.clear();
        self.base.extend_candidates(f, 0, out, counts);
        self.overlay.extend_candidates(f, self.base_len as u32, out, counts);
        out.retain(|(p, _)| !self.retired[*p as usize]);
        merge_rules(out);
        counts.compared += out.len() as u64;
    }

    /// Applies changes: each retires the record at its position (if any) and adds its
    /// new features (if any: `None` is a record gone). Returns the positions of the added
    /// records, in order (`None` for a removal).
    pub fn update(&mut self, changes: Vec<(Option<u32>, Option<Features>)>) -> Vec<Option<u32>> {
        let mut added = Vec::with_capacity(changes.len());
        for (old, new) in changes {
            if let Some(p) = old
                && let Some(retired) = self.retired.get_mut(p as usize)
                && !*retired
            {
                *retired = true;
                self.live -= 1;
                self.frequencies.remove(&self.features[p as usize]);
            }
            added.push(new.map(|f| {
                self.frequencies.add(&f);
                self.features.push(f);
                self.retired.push(false);
                self.live += 1;
                (self.features.len() - 1) as u32
            }));
        }
        self.overlay = BlockingIndex::build(&self.features[self.base_len..]);
        self.frequencies.settle();
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkage::LinkRecord;
    use time::macros::date;

    fn person(name: &str, id: &str) -> Features {
        Features::of(&LinkRecord {
            name: name.into(),
            birth_date: Some(date!(1990 - 01 - 01)),
            id_number: Some(id.into()),
            ..LinkRecord::default()
        })
    }

    /// An update finds a new record, stops finding a retired one, and gives the same
    /// candidates and frequencies as a rebuild of the records now in the registry.
    #[test]
    fn an_updated_index_answers_like_a_rebuilt_one() {
        let (a, b, c) = (
            person("张伟", "110105199001010011"),
            person("李娜", "110105199001010020"),
            person("王芳", "110105199001010046"),
        );
        let mut index = RegistryIndex::build(vec![a, b]);
        let mut found = Vec::new();
        let mut counts = BlockingCounts::default();
        let positions = index.update(vec![(Some(0), None), (None, Some(c)), (Some(1), Some(b))]);
        assert_eq!(positions, vec![None, Some(2), Some(3)]);
        assert_eq!(index.live(), 2);
        index.candidates(&a, &mut found, &mut counts);
        assert!(found.is_empty(), "the retired record is not a candidate: {found:?}");
        index.candidates(&c, &mut found, &mut counts);
        assert_eq!(found.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![2]);
        index.candidates(&b, &mut found, &mut counts);
        assert_eq!(found.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![3], "only the newer version of 李娜");
        let rebuilt = TermFrequencies::count(&[b, c]);
        assert_eq!(index.frequencies().name_count("李娜"), rebuilt.name_count("李娜"));
        assert_eq!(index.frequencies().name_count("张伟"), 0);
    }
}
