//! The reporting chain on SQLite and PostgreSQL: an event through every level with a
//! return and resubmission, the figures it adds, approval bottom up, a late event for a
//! locked month counted as an adjustment, reopening, and `verify` agreeing throughout.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::{
    HouseholdLocation, IdMissingReason, IdNumber, Identity, MaritalStatus, PersonName, Relationship, ResidenceStatus,
    ResidentFacts, Sex,
};
use jiceng_domain::reporting::{EventAction, EventDetails, EventState, Month, Period};
use time::macros::date;
use time::{Duration, OffsetDateTime};

use super::{Actor, NewEvent};
use crate::testing::{self, World, code, person};

const GRID: Actor<'static> = Actor { username: "grid1", role: Role::GridWorker };
const SPECIALIST: Actor<'static> = Actor { username: "spec1", role: Role::Specialist };
const STREET: Actor<'static> = Actor { username: "street1", role: Role::Street };
const DISTRICT: Actor<'static> = Actor { username: "district1", role: Role::District };

#[tokio::test]
async fn an_event_climbs_the_chain_and_approved_months_stay_put() {
    for db in testing::backends().await {
        let store = &db.store;
        let label = db.label;
        let county = code("440307");
        let street = code("440307003");
        let community = code("440307003002");
        let rows = crate::org::Divisions::reference(&crate::org::LoadScope::counties(vec![county.clone()])).unwrap();
        store.divisions().load(&rows, |_| {}).await.unwrap();
        let registry = store.registry();
        let world = World::new(&db.store, "101栋", 18, 2).await;
        let location = world.location(1, 12, "1203");
        let household =
            registry.create_household(&county, "H0001", &location, date!(2020 - 01 - 01), "tester").await.unwrap();
        let mother_facts = ResidentFacts {
            identity: Identity::Number(IdNumber::parse_as_of("440307199403083829", date!(2026 - 01 - 01)).unwrap()),
            marital_status: MaritalStatus::Married,
            ..person("李芳", Sex::Female, date!(1994 - 03 - 08), household)
        };
        let mother = registry.add_resident(&county, &mother_facts, date!(2020 - 01 - 01), "tester").await.unwrap();

        let today = OffsetDateTime::now_utc().date();
        let this_month = Month::of(today);
        let last_month = this_month.previous();
        let born = last_month.first_day() + Duration::days(4);
        let reporting = store.reporting();
        let child = ResidentFacts {
            name: PersonName::parse("李小雨").unwrap(),
            sex: Sex::Female,
            birth_date: born,
            identity: Identity::Missing(IdMissingReason::NewbornNotRegistered),
            relationship: Relationship::Daughter,
            marital_status: MaritalStatus::Unmarried,
            ..mother_facts.clone()
        };
        let birth = NewEvent {
            county: county.clone(),
            resident_id: None,
            occurred_on: born,
            urgent: true,
            evidence: "出生医学证明 Q440000001".into(),
            details: EventDetails::Birth { child: child.clone(), birth_order: 1, mother: Some(mother) },
        };
        let id = reporting.submit(&birth, GRID, born + Duration::days(1)).await.unwrap();
        let event = reporting.event(&county, id).await.unwrap().unwrap();
        assert_eq!(event.state, EventState::Submitted, "{label}");
        assert!(event.timely);
        assert_eq!(event.community, community);
        // Urgent: the street office has a notice at once.
        let notices = reporting.notifications(std::slice::from_ref(&street), Role::Street).await.unwrap();
        assert_eq!(notices.len(), 1, "{label}");
        assert!(notices[0].link.contains(&id.to_string()));
        reporting.mark_read(&county, &notices[0].link, Role::Street).await.unwrap();
        assert!(reporting.notifications(std::slice::from_ref(&street), Role::Street).await.unwrap().is_empty());

        // Only the awaited level decides; a return needs a reason.
        assert!(reporting.decide(&county, id, EventAction::Approve, None, STREET, today).await.is_err());
        assert_eq!(
            reporting.decide(&county, id, EventAction::Approve, None, SPECIALIST, today).await.unwrap(),
            EventState::Reviewed
        );
        assert!(reporting.decide(&county, id, EventAction::Return, Some(" "), STREET, today).await.is_err());
        assert_eq!(
            reporting.decide(&county, id, EventAction::Return, Some("孩次有误"), STREET, today).await.unwrap(),
            EventState::Returned
        );
        let returned = reporting.event(&county, id).await.unwrap().unwrap();
        assert_eq!(returned.return_reason.as_deref(), Some("孩次有误"));
        // Nothing reached the registry.
        assert_eq!(registry.household_members(&county, household).await.unwrap().len(), 1, "{label}");
        assert_eq!(reporting.report(&community, Period::Month(last_month)).await.unwrap().count("births"), 0);

        // Corrected and resubmitted, it climbs again and is applied on acceptance.
        let corrected = NewEvent {
            details: EventDetails::Birth { child: child.clone(), birth_order: 2, mother: Some(mother) },
            ..birth.clone()
        };
        reporting.resubmit(id, &corrected, GRID, today).await.unwrap();
        assert!(reporting.resubmit(id, &corrected, GRID, today).await.is_err(), "only returned events resubmit");
        for (actor, state) in
            [(SPECIALIST, EventState::Reviewed), (STREET, EventState::Confirmed), (DISTRICT, EventState::Accepted)]
        {
            assert_eq!(reporting.decide(&county, id, EventAction::Approve, None, actor, today).await.unwrap(), state);
        }
        let steps = reporting.steps(&county, id).await.unwrap();
        assert_eq!(
            steps.iter().map(|s| s.action.key()).collect::<Vec<_>>(),
            ["submit", "approve", "return", "resubmit", "approve", "approve", "approve"],
            "{label}"
        );
        let members = registry.household_members(&county, household).await.unwrap();
        assert_eq!(members.len(), 2, "{label}");
        let accepted = reporting.event(&county, id).await.unwrap().unwrap();
        assert_eq!(accepted.counted_in, Some(last_month));
        assert_eq!(accepted.adjusts, None);
        assert!(members.iter().any(|m| Some(m.resident_id) == accepted.applied_resident_id));

        // The month's figures, at every level up the tree.
        store
            .fieldwork()
            .record_verification(
                &county,
                mother,
                last_month.first_day() + Duration::days(9),
                VerificationMethod::InPerson,
            )
            .await
            .unwrap();
        for node in [&community, &street, &county] {
            let r = reporting.report(node, Period::Month(last_month)).await.unwrap();
            assert_eq!(r.count("births"), 1, "{label} {node}");
            assert_eq!(r.count("births.female"), 1);
            assert_eq!(r.count("births.order2"), 1);
            assert_eq!(r.count("events.accepted"), 1);
            assert_eq!(r.count("events.timely"), 1);
            assert_eq!(r.count("verified"), 1);
            assert_eq!(r.count("population.end"), r.count("population.start") + 1, "{label} {node}");
            assert_eq!(r.count("population.end.registered.female"), 2);
        }
        let recomputed = reporting.recompute_report(&county, Period::Month(last_month)).await.unwrap();
        assert_eq!(recomputed, reporting.report(&county, Period::Month(last_month)).await.unwrap(), "{label}");
        let check = reporting.verify(&county).await.unwrap();
        assert!(check.differences.is_empty(), "{label}: {:?}", check.differences);
        db.assert_floor_counts("440307", "after accepted events").await;

        // Approval goes bottom up; the current month cannot be approved.
        let month = last_month;
        assert!(reporting.approve(&county, month, DISTRICT, today).await.is_err(), "children first");
        assert!(reporting.approve(&street, month, STREET, today).await.is_err(), "community first");
        assert!(reporting.approve(&community, month, STREET, today).await.is_err(), "wrong level");
        assert!(reporting.approve(&community, this_month, SPECIALIST, today).await.is_err(), "month not over");
        reporting.approve(&community, month, SPECIALIST, today).await.unwrap();
        let status = reporting.approval_status(&street, month).await.unwrap();
        assert!(status.waiting_for().is_empty(), "{label}: communities without data need no approval");
        reporting.approve(&street, month, STREET, today).await.unwrap();
        reporting.approve(&county, month, DISTRICT, today).await.unwrap();
        let approved = reporting.report(&county, Period::Month(month)).await.unwrap();

        // A late death dated in the locked month is counted in the next open month.
        let died = month.first_day() + Duration::days(20);
        let death = NewEvent {
            county: county.clone(),
            resident_id: Some(mother),
            occurred_on: died,
            urgent: false,
            evidence: "死亡医学证明".into(),
            details: EventDetails::Death,
        };
        let late = reporting.submit(&death, SPECIALIST, today).await.unwrap();
        assert!(!reporting.event(&county, late).await.unwrap().unwrap().timely, "{label}");
        assert_eq!(reporting.pending_for_resident(&county, mother).await.unwrap().len(), 1);
        reporting.decide(&county, late, EventAction::Approve, None, STREET, today).await.unwrap();
        reporting.decide(&county, late, EventAction::Approve, None, DISTRICT, today).await.unwrap();
        let late = reporting.event(&county, late).await.unwrap().unwrap();
        assert_eq!(late.counted_in, Some(this_month), "{label}");
        assert_eq!(late.adjusts, Some(month));
        assert_eq!(
            reporting.report(&county, Period::Month(month)).await.unwrap(),
            approved,
            "{label}: approved figures unchanged"
        );
        let now = reporting.report(&county, Period::Month(this_month)).await.unwrap();
        assert_eq!(now.count("deaths"), 1);
        assert_eq!(now.count("events.adjustments"), 1);
        assert_eq!(now.count("population.start"), approved.count("population.end"));
        let check = reporting.verify(&county).await.unwrap();
        assert!(check.differences.is_empty(), "{label}: {:?}", check.differences);

        // Reopening goes top down, with a reason, and is logged.
        assert!(reporting.reopen(&community, month, SPECIALIST, "补报").await.is_err(), "parent approved");
        assert!(reporting.reopen(&county, month, DISTRICT, "  ").await.is_err(), "reason required");
        reporting.reopen(&county, month, DISTRICT, "区县复核发现漏报").await.unwrap();
        reporting.reopen(&street, month, STREET, "配合复核").await.unwrap();
        reporting.reopen(&community, month, SPECIALIST, "补报漏报").await.unwrap();
        let log = reporting.approval_log(&county, month).await.unwrap();
        assert_eq!(log.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["approve", "reopen"], "{label}");
        assert_eq!(log[1].3.as_deref(), Some("区县复核发现漏报"));
        db.finish().await;
    }
}

#[tokio::test]
async fn events_outside_the_scope_are_not_found() {
    for db in testing::backends().await {
        let store = &db.store;
        let county = code("440307");
        let registry = store.registry();
        let community = code("440307003002");
        let world = World::new(&db.store, "1栋", 6, 1).await;
        let location = world.location(1, 1, "101");
        let household =
            registry.create_household(&county, "H1", &location, date!(2020 - 01 - 01), "tester").await.unwrap();
        let today = OffsetDateTime::now_utc().date();
        let newcomer = ResidentFacts {
            identity: Identity::Missing(IdMissingReason::Unknown),
            registered_residence: code("450102"),
            residence_status: ResidenceStatus::Inflow,
            arrival_date: Some(today),
            ..person("王五", Sex::Male, date!(1990 - 01 - 01), household)
        };
        let id = store
            .reporting()
            .submit(
                &NewEvent {
                    county: county.clone(),
                    resident_id: None,
                    occurred_on: today,
                    urgent: false,
                    evidence: String::new(),
                    details: EventDetails::MoveIn { newcomer, origin: None },
                },
                GRID,
                today,
            )
            .await
            .unwrap();
        let elsewhere = jiceng_domain::org::Scope::new(Role::Specialist, vec![code("440307003004")]);
        let theirs = store.reporting_in(&elsewhere);
        assert!(theirs.event(&county, id).await.unwrap().is_none(), "{}", db.label);
        assert!(theirs.decide(&county, id, EventAction::Approve, None, SPECIALIST, today).await.is_err());
        assert!(theirs.report(&code("440307003002"), Period::Month(Month::of(today))).await.is_err());
        let ours = jiceng_domain::org::Scope::new(Role::Specialist, vec![community.clone()]);
        let queue = store
            .reporting_in(&ours)
            .awaiting(&community, jiceng_domain::reporting::ReviewLevel::Community, 50)
            .await
            .unwrap();
        assert_eq!(queue.len(), 1, "{}", db.label);
        // The province of origin comes from the registered residence.
        assert_eq!(queue[0].details.province().map(|p| p.as_str().to_string()), Some("45".to_string()));
        db.finish().await;
    }
}

/// An approved street locks the month for its communities that had nothing to approve,
/// and a change dated in an open month before an approved one is counted after the
/// approved one: approved figures never move.
#[tokio::test]
async fn approved_months_stay_put_for_children_without_figures_and_for_earlier_open_months() {
    for db in testing::backends().await {
        let store = &db.store;
        let label = db.label;
        let county = code("440307");
        let street = code("440307003");
        let with_people = code("440307003002");
        let empty = code("440307003004");
        let rows = crate::org::Divisions::reference(&crate::org::LoadScope::counties(vec![county.clone()])).unwrap();
        store.divisions().load(&rows, |_| {}).await.unwrap();
        let registry = store.registry();
        let place = |community: &DivisionCode, grid: &crate::registry::Grid, building: &crate::registry::Building| {
            HouseholdLocation {
                community: community.clone(),
                grid_id: grid.id,
                building_id: building.id,
                unit_no: 1,
                floor_no: 2,
                room_no: "201".into(),
            }
        };
        let grid = registry.create_grid(&with_people, 1, "第1网格").await.unwrap();
        let building = registry.create_building(&grid, "1栋", 6, 1).await.unwrap();
        let household = registry
            .create_household(&county, "A1", &place(&with_people, &grid, &building), date!(2020 - 01 - 01), "t")
            .await
            .unwrap();
        let facts = ResidentFacts {
            identity: Identity::Missing(IdMissingReason::Unknown),
            residence_status: ResidenceStatus::Inflow,
            arrival_date: Some(date!(2020 - 01 - 01)),
            ..person("赵敏", Sex::Female, date!(1990 - 05 - 01), household)
        };
        let resident = registry.add_resident(&county, &facts, date!(2020 - 01 - 01), "t").await.unwrap();
        let today = OffsetDateTime::now_utc().date();
        let this_month = Month::of(today);
        let last_month = this_month.previous();
        let reporting = store.reporting();
        reporting.approve(&with_people, last_month, SPECIALIST, today).await.unwrap();
        reporting.approve(&street, last_month, STREET, today).await.unwrap();
        let approved = reporting.report(&street, Period::Month(last_month)).await.unwrap();

        // A household registered late in the community that had no figures.
        let grid_b = registry.create_grid(&empty, 1, "第1网格").await.unwrap();
        let building_b = registry.create_building(&grid_b, "2栋", 6, 1).await.unwrap();
        registry
            .create_household(&county, "B1", &place(&empty, &grid_b, &building_b), last_month.first_day(), "t")
            .await
            .unwrap();
        assert_eq!(reporting.report(&street, Period::Month(last_month)).await.unwrap(), approved, "{label}");
        assert_eq!(reporting.report(&empty, Period::Month(this_month)).await.unwrap().count("households.end"), 1);

        // A change dated in an open month before the approved one.
        let earlier = last_month.previous().first_day();
        let changed = ResidentFacts { residence_status: ResidenceStatus::Registered, ..facts.clone() };
        registry.record_resident_change(&county, resident, &changed, earlier, "t").await.unwrap();
        let version = registry.resident(&county, resident).await.unwrap().unwrap();
        assert_eq!(version.stamp.counted_from, this_month, "{label}");
        assert_eq!(reporting.report(&street, Period::Month(last_month)).await.unwrap(), approved, "{label}");
        assert!(reporting.verify(&county).await.unwrap().differences.is_empty(), "{label}");

        // A correction made against an older version of the record is refused on acceptance.
        let correction = NewEvent {
            county: county.clone(),
            resident_id: Some(resident),
            occurred_on: today,
            urgent: false,
            evidence: String::new(),
            details: EventDetails::Correction { facts: ResidentFacts { phone: None, ..changed.clone() } },
        };
        let id = reporting.submit(&correction, SPECIALIST, today).await.unwrap();
        let moved_on = ResidentFacts { marital_status: MaritalStatus::Married, ..changed.clone() };
        registry.record_resident_change(&county, resident, &moved_on, today, "t").await.unwrap();
        reporting.decide(&county, id, EventAction::Approve, None, STREET, today).await.unwrap();
        let refused = reporting.decide(&county, id, EventAction::Approve, None, DISTRICT, today).await;
        assert!(refused.is_err_and(|e| e.to_string().contains("changed after this report")), "{label}");
        assert_eq!(registry.resident(&county, resident).await.unwrap().unwrap().facts, moved_on);
        // The district's own report starts at the community like anyone's.
        let own = NewEvent { details: EventDetails::Marriage { partner: None }, ..correction.clone() };
        let id = reporting.submit(&own, DISTRICT, today).await.unwrap();
        assert_eq!(reporting.event(&county, id).await.unwrap().unwrap().state, EventState::Submitted, "{label}");
        db.finish().await;
    }
}

/// The demo's past months are approved in one write a month, with the same outcome as
/// approving node by node: every community and street with figures, then the county;
/// communities without figures are left alone; a second run approves nothing more.
#[tokio::test]
async fn past_months_are_approved_bottom_up_in_one_write() {
    for db in testing::backends().await {
        let store = &db.store;
        let label = db.label;
        let county = code("440307");
        let street = code("440307003");
        let with_people = code("440307003002");
        let empty = code("440307003004");
        testing::load_county(store, "440307").await;
        let registry = store.registry();
        let world = World::new(store, "1栋", 6, 1).await;
        assert_eq!(world.community, with_people);
        let location = world.location(1, 2, "201");
        let household = registry.create_household(&county, "A1", &location, date!(2020 - 01 - 01), "t").await.unwrap();
        let facts = person("赵敏", Sex::Female, date!(1990 - 05 - 01), household);
        registry.add_resident(&county, &facts, date!(2020 - 01 - 01), "t").await.unwrap();
        let today = OffsetDateTime::now_utc().date();
        let last_month = Month::of(today).previous();
        let first = last_month.previous();
        let reporting = store.reporting();
        // Two months, three approvals each: the community, its street, the county.
        assert_eq!(reporting.approve_months(&county, first, last_month, today).await.unwrap(), 6, "{label}");
        for month in [first, last_month] {
            let status = reporting.approval_status(&street, month).await.unwrap();
            assert!(status.approved.is_some() && status.parent_approved, "{label} {month}");
            let child = |node: &DivisionCode| status.children.iter().find(|c| &c.node == node).unwrap().clone();
            assert!(child(&with_people).has_data && child(&with_people).approved.is_some(), "{label}");
            assert!(!child(&empty).has_data && child(&empty).approved.is_none(), "{label}");
            let community = reporting.approval_status(&with_people, month).await.unwrap();
            assert_eq!(community.approved.map(|(by, _)| by), Some("demo-community".to_string()), "{label}");
        }
        assert_eq!(reporting.approve_months(&county, first, last_month, today).await.unwrap(), 0, "{label}");
        // A month not yet over is refused.
        assert!(reporting.approve_months(&county, Month::of(today), Month::of(today), today).await.is_err());
        // And the figures agree with the records (the approvals locked nothing wrongly).
        assert!(reporting.verify(&county).await.unwrap().differences.is_empty(), "{label}");
        db.finish().await;
    }
}
