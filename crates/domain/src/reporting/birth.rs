//! A birth's facts, worked out once for every form that reports one (the household's
//! "add a newborn" form, the event form, the API): what the reporter said, completed
//! from the household the child is born into.

use time::Date;
use uuid::Uuid;

use super::EventDetails;
use crate::org::DivisionCode;
use crate::registry::{
    Ethnicity, IdMissingReason, Identity, MaritalStatus, PersonName, Relationship, ResidenceStatus, ResidentFacts, Sex,
};

/// The highest birth order recorded (孩次: 1, 2, 3 and more are counted as 3).
pub const MAX_BIRTH_ORDER: u8 = 3;

/// What the reporter gave; `None` where the form left it to the household.
#[derive(Debug, Clone)]
pub struct BirthReport {
    pub name: PersonName,
    pub sex: Sex,
    pub born_on: Date,
    /// `None`: no number yet (a newborn is registered later).
    pub identity: Option<Identity>,
    pub ethnicity: Option<Ethnicity>,
    pub relationship: Option<Relationship>,
    pub birth_order: Option<u8>,
}

/// A current member of the household the child is born into.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub resident_id: Uuid,
    pub facts: &'a ResidentFacts,
}

/// The birth event's details. The mother is the first woman who heads the household or
/// is the head's spouse. The child takes registration and residence status from the
/// mother, else from the first member (the head), else the household's community as a
/// registered resident; the ethnic group given, else that member's, else Han; the
/// relationship given, else son or daughter; the birth order given, else one more than
/// the sons and daughters already in the household — both capped at [`MAX_BIRTH_ORDER`].
pub fn birth_details(
    report: BirthReport,
    household_id: Uuid,
    household_community: &DivisionCode,
    members: &[Member<'_>],
) -> EventDetails {
    let mother = members.iter().find(|m| {
        m.facts.sex == Sex::Female && matches!(m.facts.relationship, Relationship::Head | Relationship::Spouse)
    });
    let base = mother.or(members.first()).map(|m| m.facts);
    let children =
        members.iter().filter(|m| matches!(m.facts.relationship, Relationship::Son | Relationship::Daughter)).count();
    let counted = u8::try_from(children.saturating_add(1)).unwrap_or(MAX_BIRTH_ORDER);
    let birth_order = report.birth_order.unwrap_or(counted).clamp(1, MAX_BIRTH_ORDER);
    let child = ResidentFacts {
        name: report.name,
        sex: report.sex,
        birth_date: report.born_on,
        identity: report.identity.unwrap_or(Identity::Missing(IdMissingReason::NewbornNotRegistered)),
        ethnicity: report.ethnicity.or(base.map(|b| b.ethnicity)).unwrap_or(Ethnicity::HAN),
        phone: None,
        registered_residence: base
            .map(|b| b.registered_residence.clone())
            .unwrap_or_else(|| household_community.clone()),
        household_id,
        relationship: report.relationship.unwrap_or(match report.sex {
            Sex::Male => Relationship::Son,
            Sex::Female => Relationship::Daughter,
        }),
        residence_status: base.map(|b| b.residence_status).unwrap_or(ResidenceStatus::Registered),
        arrival_date: None,
        marital_status: MaritalStatus::Unmarried,
    };
    EventDetails::Birth { child, birth_order, mother: mother.map(|m| m.resident_id) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn person(sex: Sex, relationship: Relationship, residence: &str, status: ResidenceStatus) -> ResidentFacts {
        ResidentFacts {
            name: PersonName::parse("某某").unwrap(),
            sex,
            birth_date: date!(1990 - 01 - 01),
            identity: Identity::Missing(IdMissingReason::NotYetIssued),
            ethnicity: Ethnicity::from_code("03").unwrap(),
            phone: None,
            registered_residence: DivisionCode::parse(residence).unwrap(),
            household_id: Uuid::nil(),
            relationship,
            residence_status: status,
            arrival_date: None,
            marital_status: MaritalStatus::Married,
        }
    }

    fn report(sex: Sex) -> BirthReport {
        BirthReport {
            name: PersonName::parse("小明").unwrap(),
            sex,
            born_on: date!(2026 - 11 - 01),
            identity: None,
            ethnicity: None,
            relationship: None,
            birth_order: None,
        }
    }

    fn birth(details: EventDetails) -> (ResidentFacts, u8, Option<Uuid>) {
        match details {
            EventDetails::Birth { child, birth_order, mother } => (child, birth_order, mother),
            other => panic!("not a birth: {other:?}"),
        }
    }

    #[test]
    fn the_child_follows_the_mother_and_counts_the_children_already_there() {
        let community = DivisionCode::parse("440307003002").unwrap();
        let head = person(Sex::Male, Relationship::Head, "440307003002", ResidenceStatus::Registered);
        let wife = person(Sex::Female, Relationship::Spouse, "430102001001", ResidenceStatus::Inflow);
        let son = person(Sex::Male, Relationship::Son, "440307003002", ResidenceStatus::Registered);
        let (h, w, s) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let members = [
            Member { resident_id: h, facts: &head },
            Member { resident_id: w, facts: &wife },
            Member { resident_id: s, facts: &son },
        ];
        let (child, order, mother) = birth(birth_details(report(Sex::Female), Uuid::nil(), &community, &members));
        assert_eq!(mother, Some(w));
        assert_eq!(order, 2);
        assert_eq!(child.relationship, Relationship::Daughter);
        assert_eq!(child.registered_residence, wife.registered_residence);
        assert_eq!(child.residence_status, ResidenceStatus::Inflow);
        assert_eq!(child.ethnicity, wife.ethnicity);
        assert_eq!(child.identity, Identity::Missing(IdMissingReason::NewbornNotRegistered));
        assert_eq!(child.marital_status, MaritalStatus::Unmarried);
    }

    #[test]
    fn what_the_reporter_gave_wins_and_an_empty_household_gives_its_community() {
        let community = DivisionCode::parse("440307003002").unwrap();
        let mut given = report(Sex::Male);
        given.ethnicity = Some(Ethnicity::HAN);
        given.relationship = Some(Relationship::Grandchild);
        given.birth_order = Some(1);
        let (child, order, mother) = birth(birth_details(given, Uuid::nil(), &community, &[]));
        assert_eq!((child.relationship, order, mother), (Relationship::Grandchild, 1, None));
        assert_eq!(child.ethnicity, Ethnicity::HAN);
        assert_eq!(child.registered_residence, community);
        assert_eq!(child.residence_status, ResidenceStatus::Registered);
        // No mother: the head's facts.
        let head = person(Sex::Male, Relationship::Head, "430102001001", ResidenceStatus::Inflow);
        let members = [Member { resident_id: Uuid::now_v7(), facts: &head }];
        let (child, _, mother) = birth(birth_details(report(Sex::Male), Uuid::nil(), &community, &members));
        assert_eq!((mother, child.registered_residence), (None, head.registered_residence.clone()));
        assert_eq!(child.relationship, Relationship::Son);
    }

    proptest! {
        #[test]
        fn the_birth_order_is_always_one_to_three(children in 0usize..400, given in proptest::option::of(any::<u8>())) {
            let community = DivisionCode::parse("440307003002").unwrap();
            let son = person(Sex::Male, Relationship::Son, "440307003002", ResidenceStatus::Registered);
            let members: Vec<Member<'_>> =
                (0..children).map(|_| Member { resident_id: Uuid::nil(), facts: &son }).collect();
            let mut r = report(Sex::Male);
            r.birth_order = given;
            let (_, order, _) = birth(birth_details(r, Uuid::nil(), &community, &members));
            prop_assert!((1..=MAX_BIRTH_ORDER).contains(&order));
            if given.is_none() {
                prop_assert_eq!(usize::from(order), (children + 1).min(3));
            }
        }
    }
}
