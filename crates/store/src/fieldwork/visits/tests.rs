//! Visits and plans on SQLite and PostgreSQL: a plan holds exactly the households due
//! by tier, on floors not walked, or with a returned event; a visit sent twice is
//! recorded once; outcomes verify members or start move-out events.

use jiceng_domain::fieldwork::{Housing, PlanReason, RecordedStability, VerificationMethod, VisitOutcome, Work};
use jiceng_domain::org::Role;
use jiceng_domain::registry::{
    HouseholdLocation, IdMissingReason, Identity, MaritalStatus, Relationship, ResidentFacts, Sex,
};
use jiceng_domain::reporting::{EventState, Month};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::NewVisit;
use crate::reporting::Actor;
use crate::testing::{self, World, code, person};

const WORKER: Actor<'static> = Actor { username: "grid1", role: Role::GridWorker };

#[tokio::test]
async fn plans_hold_exactly_what_is_due_and_visits_count_once() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let fieldwork = store.fieldwork();
        let world = World::new(&db.store, "3栋", 6, 1).await;
        let (county, community) = (world.county.clone(), world.community.clone());
        let (grid, building) = (&world.grid, &world.building);
        let today = OffsetDateTime::now_utc().date();
        let long_ago = today - Duration::days(3000);
        let mut households = Vec::new();
        let mut residents = Vec::new();
        for (n, floor) in [(1, 1i16), (2, 2), (3, 1)] {
            let location = HouseholdLocation {
                community: community.clone(),
                grid_id: grid.id,
                building_id: building.id,
                unit_no: 1,
                floor_no: floor,
                room_no: format!("{floor}0{n}"),
            };
            let h = fieldwork
                .registry()
                .create_household(&county, &format!("V{n}"), &location, long_ago, "t")
                .await
                .unwrap();
            let facts = ResidentFacts {
                identity: Identity::Missing(IdMissingReason::Unknown),
                marital_status: MaritalStatus::Married,
                ..person(
                    &format!("孙{}", ["一", "二", "三"][n - 1]),
                    Sex::Female,
                    time::macros::date!(1980 - 01 - 01),
                    h,
                )
            };
            residents.push(fieldwork.registry().add_resident(&county, &facts, long_ago, "t").await.unwrap());
            households.push(h);
        }
        // Households 1 and 3: stable and verified today (放心, due in six months).
        let stable =
            RecordedStability { housing: Housing::Owned, work: Work::FixedEmployer, phone_answered: Some(true) };
        for i in [0, 2] {
            fieldwork.record_stability(&county, residents[i], stable, today).await.unwrap();
            fieldwork.record_verification(&county, residents[i], today, VerificationMethod::Phone).await.unwrap();
        }
        fieldwork.reassess_community(&community, today).await.unwrap();
        let month = Month::of(today);
        let plan = fieldwork.visit_plan(&community, month).await.unwrap();
        let on_plan: Vec<_> = plan.iter().map(|p| (p.household_id, p.reasons.clone())).collect();
        assert_eq!(plan.len(), 3, "{label}: every floor is still to be walked");
        assert!(on_plan.contains(&(households[0], vec![PlanReason::FloorNotWalked])), "{label}: {on_plan:?}");
        assert!(matches!(
            on_plan.iter().find(|p| p.0 == households[1]).unwrap().1[0],
            PlanReason::Due { residents: 1, .. }
        ));
        // Walking order: floor 1 (rooms 101, 103), then floor 2.
        assert_eq!(plan.iter().map(|p| p.floor_no).collect::<Vec<_>>(), [1, 1, 2]);

        // A visit to household 1 walks floor 1: households 1 and 3 drop off.
        let visit = NewVisit {
            id: Uuid::now_v7(),
            county: county.clone(),
            household_id: households[0],
            visited_on: today,
            outcome: VisitOutcome::SeenInPerson,
            notes: String::new(),
        };
        let first = fieldwork.record_visit(&visit, WORKER, today).await.unwrap();
        assert!(!first.duplicate && first.verified == 1, "{label}");
        // Sent again (the page was offline and retried): recorded once.
        let again = fieldwork.record_visit(&visit, WORKER, today).await.unwrap();
        assert!(again.duplicate, "{label}");
        assert_eq!(fieldwork.visit_count(&county, visit.id).await.unwrap(), 1);
        assert_eq!(
            fieldwork.verifications(&county, residents[0]).await.unwrap().len(),
            2,
            "{label}: one verification from the visit"
        );
        let plan = fieldwork.visit_plan(&community, month).await.unwrap();
        assert_eq!(plan.iter().map(|p| p.household_id).collect::<Vec<_>>(), [households[1]], "{label}");

        // Nobody home at household 2: the floor is walked, the member still due.
        let nobody = NewVisit {
            id: Uuid::now_v7(),
            household_id: households[1],
            outcome: VisitOutcome::NobodyHome,
            ..visit.clone()
        };
        fieldwork.record_visit(&nobody, WORKER, today).await.unwrap();
        let plan = fieldwork.visit_plan(&community, month).await.unwrap();
        assert!(matches!(plan[0].reasons.as_slice(), [PlanReason::Due { .. }]), "{label}: {:?}", plan[0].reasons);
        // A member confirms: verified, no longer due this month.
        let member = NewVisit {
            id: Uuid::now_v7(),
            household_id: households[1],
            outcome: VisitOutcome::HouseholdMember,
            ..visit.clone()
        };
        fieldwork.record_visit(&member, WORKER, today).await.unwrap();
        assert!(fieldwork.visit_plan(&community, month).await.unwrap().is_empty(), "{label}");

        // Moved away: a move-out event is started for the member, not applied.
        let gone = NewVisit {
            id: Uuid::now_v7(),
            household_id: households[2],
            outcome: VisitOutcome::MovedAway,
            ..visit.clone()
        };
        let recorded = fieldwork.record_visit(&gone, WORKER, today).await.unwrap();
        assert_eq!(recorded.events.len(), 1, "{label}");
        let event = store.reporting().event(&county, recorded.events[0]).await.unwrap().unwrap();
        assert_eq!(event.state, EventState::Submitted);
        assert!(
            fieldwork.registry().resident(&county, residents[2]).await.unwrap().is_some(),
            "{label}: not applied before review"
        );
        // Coverage (四不漏) of the community this month: everything reached; the grid has
        // nobody responsible until one is assigned (五定).
        let coverage = fieldwork.coverage(&community, month).await.unwrap();
        let t = &coverage.totals;
        assert_eq!(
            (t.buildings, t.buildings_walked, t.floors, t.floors_walked, t.households, t.households_covered),
            (1, 1, 2, 2, 3, 3),
            "{label}: {t:?}"
        );
        assert_eq!((t.residents, t.residents_verified), (3, 3), "{label}");
        assert_eq!(coverage.grids[0].responsible, None);
        db.assert_floor_counts("440307", "after visits").await;
        store
            .users()
            .add(&crate::org::NewUser {
                username: "wang".into(),
                display_name: "王网格".into(),
                password: "password-123".into(),
                role: Role::GridWorker,
                scopes: vec![community.clone()],
            })
            .await
            .unwrap();
        assert!(
            fieldwork.assign_responsible(&county, super::super::Responsibility::Grid(grid.id), "nobody").await.is_err()
        );
        fieldwork.assign_responsible(&county, super::super::Responsibility::Grid(grid.id), "wang").await.unwrap();
        let coverage = fieldwork.coverage(&county, month).await.unwrap();
        assert_eq!(coverage.grids[0].responsible.as_deref(), Some("wang"), "{label}");
        assert_eq!(coverage.streets.len(), 1);
        // Last month nothing was reached.
        let before = fieldwork.coverage(&community, month.previous()).await.unwrap();
        assert_eq!((before.totals.households_covered, before.totals.floors_walked), (0, 0), "{label}");
        // The lists of what was not reached: nothing this month; last month both floors of
        // the building (not walked at all), all three households and residents, each with
        // the grid's worker.
        let gaps = fieldwork.coverage_gaps(&community, month).await.unwrap();
        assert!(gaps.floors.is_empty() && gaps.households.is_empty(), "{label}: {gaps:?}");
        assert_eq!(gaps.residents_not_verified, 0);
        let gaps = fieldwork.coverage_gaps(&community, month.previous()).await.unwrap();
        assert_eq!(gaps.floors.iter().map(|f| f.floor_no).collect::<Vec<_>>(), [1, 2], "{label}");
        assert!(gaps.floors.iter().all(|f| f.building_not_walked && f.responsible.as_deref() == Some("wang")));
        assert_eq!(gaps.households.len(), 3, "{label}");
        assert_eq!(gaps.residents_not_verified, 3, "{label}");
        assert!(fieldwork.coverage_gaps(&county, month).await.is_err(), "lists are per community");
        // A visit in the future is refused.
        let future = NewVisit { id: Uuid::now_v7(), visited_on: today + Duration::days(2), ..visit.clone() };
        assert!(fieldwork.record_visit(&future, WORKER, today).await.is_err());
        db.finish().await;
    }
}

/// The plan is read packed (one text per community): free text with quotes, commas,
/// semicolons and backslashes reads back exactly, a household without residents is on
/// the plan with nobody due, and members, due counts and due dates add up per household.
#[tokio::test]
async fn packed_plan_rows_read_back_exactly() {
    for db in testing::backends().await {
        let label = db.label;
        let fieldwork = db.store.fieldwork();
        let county = code("440307");
        let community = code("440307003002");
        let world = World::in_community(&db.store, "440307003002", 2, "5栋", 6, 1).await;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = today - Duration::days(3000);
        let location = |room: &str| world.location(2, 3, room);
        let odd_room = "3\"0,1;室\\B";
        let empty =
            fieldwork.registry().create_household(&county, "P,1\"", &location(odd_room), long_ago, "t").await.unwrap();
        let family =
            fieldwork.registry().create_household(&county, "P2", &location("302"), long_ago, "t").await.unwrap();
        let mut members = Vec::new();
        for name in ["钱一", "钱二"] {
            let facts = ResidentFacts {
                identity: Identity::Missing(IdMissingReason::Unknown),
                relationship: if members.is_empty() { Relationship::Head } else { Relationship::Spouse },
                marital_status: MaritalStatus::Married,
                ..person(name, Sex::Male, time::macros::date!(1985 - 05 - 05), family)
            };
            members.push(fieldwork.registry().add_resident(&county, &facts, long_ago, "t").await.unwrap());
        }
        // One member verified today: the other (never verified) is due.
        fieldwork.record_verification(&county, members[0], today, VerificationMethod::Phone).await.unwrap();
        fieldwork.reassess_community(&community, today).await.unwrap();
        let plan = fieldwork.visit_plan(&community, Month::of(today)).await.unwrap();
        let empty_item = plan.iter().find(|p| p.household_id == empty).expect("empty household on the plan");
        assert_eq!(empty_item.room_no, odd_room, "{label}");
        assert_eq!(empty_item.household_no, "P,1\"", "{label}");
        assert_eq!((empty_item.members, empty_item.due_on), (0, None), "{label}");
        assert_eq!(empty_item.reasons, [PlanReason::FloorNotWalked], "{label}");
        assert_eq!((empty_item.grid_number, empty_item.building_name.as_str()), (2, "5栋"), "{label}");
        let family_item = plan.iter().find(|p| p.household_id == family).expect("family on the plan");
        assert_eq!(family_item.members, 2, "{label}");
        assert!(
            matches!(family_item.reasons.first(), Some(PlanReason::Due { residents: 1, .. })),
            "{label}: {:?}",
            family_item.reasons
        );
        let due_on = family_item.due_on.expect("the verified member's next date");
        assert!(due_on > today, "{label}: {due_on}");
        assert_eq!((family_item.unit_no, family_item.floor_no), (2, 3), "{label}");
        assert_eq!(family_item.county, "440307", "{label}");
        // A plan over several communities reads the 户编号 in one pass of its own.
        let other = code("440307003003");
        let other_grid = fieldwork.registry().create_grid(&other, 1, "第1网格").await.unwrap();
        let other_building = fieldwork.registry().create_building(&other_grid, "1栋", 3, 1).await.unwrap();
        let elsewhere = HouseholdLocation {
            community: other.clone(),
            grid_id: other_grid.id,
            building_id: other_building.id,
            unit_no: 1,
            floor_no: 1,
            room_no: "101".into(),
        };
        let far = fieldwork.registry().create_household(&county, "Q;9", &elsewhere, long_ago, "t").await.unwrap();
        let district = fieldwork.visit_plans(&county, Month::of(today)).await.unwrap();
        let numbers: Vec<(&str, &str)> =
            district.iter().map(|p| (p.community.as_str(), p.household_no.as_str())).collect();
        assert!(numbers.contains(&("440307003002", "P,1\"")), "{label}: {numbers:?}");
        assert!(numbers.contains(&("440307003003", "Q;9")), "{label}: {numbers:?}");
        assert_eq!(district.iter().find(|p| p.household_id == far).map(|p| p.members), Some(0), "{label}");
        assert_eq!(district.len(), plan.len() + 1, "{label}");
    }
}
