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
    /// The same person on both lists: the same ID number, or for a person listed
    /// without one, the same name and birth date.
    fn key(&self) -> String {
        match &self.id_number {
            Some(id) if !id.trim().is_empty() => id.trim().to_ascii_uppercase(),
            _ => format!("{}|{}", self.name.trim(), self.birth_date.map(|d| d.to_string()).unwrap_or_default()),
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
    let mut by_key: BTreeMap<String, (Option<Listed>, Option<Listed>)> = BTreeMap::new();
    for p in ours {
        let key = p.key();
        by_key.entry(key).or_default().0 = Some(p);
    }
    for p in theirs {
        let key = p.key();
        by_key.entry(key).or_default().1 = Some(p);
    }
    let mut out: Vec<Reconciled> = by_key
        .into_values()
        .map(|(ours, theirs)| Reconciled {
            difference: match (&ours, &theirs) {
                (Some(_), Some(_)) => Difference::Both,
                (Some(_), None) => Difference::OursOnly,
                _ => Difference::TheirsOnly,
            },
            ours,
            theirs,
        })
        .collect();
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
