//! 半年对账: the people the partner says live in its area and are registered here
//! (its roster, sent in its packages), against the people this side believes live there
//! (its registered residents the partner told it arrived there and has not told it
//! left). Each person is on both lists, or only on one — and each difference is a
//! question for somebody: a status to check here, or a person the partner has lost.

use std::collections::BTreeMap;

use time::Date;
use uuid::Uuid;

use crate::registry::Sex;
use crate::registry::codes::coded_enum;

coded_enum!(
    /// Where a person stands in the reconciliation.
    Difference {
        OursOnly => ("ours_only", "仅本方认为在对方", "only we believe they live there"),
        TheirsOnly => ("theirs_only", "仅对方名单有", "only on the partner's roster"),
        Both => ("both", "双方一致", "on both lists"),
    }
);

/// A person as one side lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub id_number: Option<String>,
    /// Where they live, as the side listing them knows it (a division code).
    pub place: Option<String>,
    /// The person in this side's registry, when known.
    pub resident_id: Option<Uuid>,
}

impl Listed {
    fn id(&self) -> Option<String> {
        self.id_number.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_ascii_uppercase)
    }

    fn name(&self) -> String {
        self.name.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Without a shared ID number: the same name, and the same birth date where both
    /// sides give one (an agreement may not let the birth date through).
    fn same_person(&self, other: &Listed) -> bool {
        self.name() == other.name()
            && match (self.birth_date, other.birth_date) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// One person of the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub difference: Difference,
    pub ours: Option<Listed>,
    pub theirs: Option<Listed>,
}

impl Reconciled {
    /// The person as best known: ours if listed, else theirs.
    pub fn person(&self) -> Option<&Listed> {
        self.ours.as_ref().or(self.theirs.as_ref())
    }
}

/// Both lists compared: differences first (ours only, then theirs only), then those on
/// both; by name within each.
pub fn reconcile(ours: Vec<Listed>, theirs: Vec<Listed>) -> Vec<Reconciled> {
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()));
    // First by ID number where both sides give one.
    let mut by_id: BTreeMap<String, Listed> = BTreeMap::new();
    let mut theirs_left = Vec::new();
    for p in theirs {
        match p.id() {
            Some(id) if !by_id.contains_key(&id) => {
                by_id.insert(id, p);
            }
            _ => theirs_left.push(p),
        }
    }
    let mut ours_left = Vec::new();
    for p in ours {
        match p.id().and_then(|id| by_id.remove(&id)) {
            Some(t) => out.push(Reconciled { difference: Difference::Both, ours: Some(p), theirs: Some(t) }),
            None => ours_left.push(p),
        }
    }
    theirs_left.extend(by_id.into_values());
    // Then, among the rest, by name and birth date.
    let mut theirs_by_name: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for p in theirs_left {
        theirs_by_name.entry(p.name()).or_default().push(p);
    }
    for p in ours_left {
        let found = theirs_by_name.get_mut(&p.name()).and_then(|candidates| {
            // Two people with one ID number each are never the same by name alone.
            let at = candidates.iter().position(|t| t.same_person(&p) && (t.id().is_none() || p.id().is_none()))?;
            Some(candidates.swap_remove(at))
        });
        out.push(match found {
            Some(t) => Reconciled { difference: Difference::Both, ours: Some(p), theirs: Some(t) },
            None => Reconciled { difference: Difference::OursOnly, ours: Some(p), theirs: None },
        });
    }
    for t in theirs_by_name.into_values().flatten() {
        out.push(Reconciled { difference: Difference::TheirsOnly, ours: None, theirs: Some(t) });
    }
    out.sort_by(|a, b| {
        let name = |r: &Reconciled| r.person().map(|p| p.name.clone()).unwrap_or_default();
        a.difference.cmp(&b.difference).then_with(|| name(a).cmp(&name(b)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn listed(name: &str, id: Option<&str>) -> Listed {
        Listed {
            name: name.into(),
            sex: None,
            birth_date: Some(Date::from_calendar_date(1990, time::Month::May, 1).unwrap()),
            id_number: id.map(str::to_string),
            place: None,
            resident_id: None,
        }
    }

    #[test]
    fn without_id_numbers_on_their_side_people_match_by_name_and_birth_date() {
        let ours = vec![listed("何明", Some("43070219920618001X")), listed("林海", Some("1"))];
        let theirs = vec![listed("何明", None), Listed { birth_date: None, ..listed("林海", None) }];
        let r = reconcile(ours, theirs);
        assert!(r.iter().all(|r| r.difference == Difference::Both), "{r:?}");
        // Same name, different ID numbers: two people.
        let r = reconcile(vec![listed("张伟", Some("1"))], vec![listed("张伟", Some("2"))]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn people_are_matched_by_id_number_or_by_name_and_birth_date() {
        let ours = vec![listed("何明", Some("43070219920618001x")), listed("罗丹", None), listed("林海", Some("1"))];
        let theirs = vec![listed("何 明", Some("43070219920618001X")), listed("罗丹", None), listed("周强", Some("2"))];
        let r = reconcile(ours, theirs);
        let kinds: Vec<(Difference, String)> =
            r.iter().map(|r| (r.difference, r.person().unwrap().name.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (Difference::OursOnly, "林海".to_string()),
                (Difference::TheirsOnly, "周强".to_string()),
                (Difference::Both, "何明".to_string()),
                (Difference::Both, "罗丹".to_string()),
            ]
        );
    }

    proptest! {
        /// Every person of either list is in the result once; the sides add up.
        #[test]
        fn nobody_is_lost_or_counted_twice(ours in proptest::collection::btree_set(0u32..50, 0..30),
                                           theirs in proptest::collection::btree_set(0u32..50, 0..30)) {
            let make = |ids: &std::collections::BTreeSet<u32>| ids.iter().map(|i| listed("某", Some(&format!("ID{i}")))).collect::<Vec<_>>();
            let r = reconcile(make(&ours), make(&theirs));
            let both = ours.intersection(&theirs).count();
            prop_assert_eq!(r.len(), ours.union(&theirs).count());
            prop_assert_eq!(r.iter().filter(|x| x.difference == Difference::Both).count(), both);
            prop_assert_eq!(r.iter().filter(|x| x.difference == Difference::OursOnly).count(), ours.len() - both);
            prop_assert_eq!(r.iter().filter(|x| x.difference == Difference::TheirsOnly).count(), theirs.len() - both);
        }
    }
}
