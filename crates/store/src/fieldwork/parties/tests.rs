//! Landlord and employer reports on SQLite and PostgreSQL: lines become change events for
//! the community (never applied before review), a report sent twice changes nothing, a
//! report with a bad line is refused whole with every problem named by row and field,
//! and reported households are on the visit plan.

use jiceng_domain::fieldwork::{Movement, PartyField, PartyKind, PartyLine, PlanReason};
use jiceng_domain::org::Role;
use jiceng_domain::registry::{
    Ethnicity, IdNumber, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidenceStatus, ResidentFacts, Sex,
};
use jiceng_domain::reporting::{EventAction, EventState, Month};
use time::{Duration, OffsetDateTime};

use super::NewParty;
use crate::reporting::Actor;
use crate::testing::{self, World, code, person};
use jiceng_files::fieldwork::read_party_file;

const GRID: Actor<'static> = Actor { username: "grid1", role: Role::GridWorker };
const SPECIALIST: Actor<'static> = Actor { username: "spec1", role: Role::Specialist };
const STREET: Actor<'static> = Actor { username: "street1", role: Role::Street };
const DISTRICT: Actor<'static> = Actor { username: "district1", role: Role::District };

fn line(movement: Movement, name: &str, id: &str, unit: Option<&str>, days_ago: i64) -> PartyLine {
    let today = OffsetDateTime::now_utc().date();
    PartyLine {
        movement,
        name: PersonName::parse(name).unwrap(),
        id_number: IdNumber::parse(id).unwrap(),
        phone: Some(Phone::parse("13912345678").unwrap()),
        date: today - Duration::days(days_ago),
        unit: unit.map(str::to_string),
        ethnicity: Some(Ethnicity::HAN),
    }
}

#[tokio::test]
async fn landlord_reports_become_reviewed_changes_once() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let fieldwork = store.fieldwork();
        let today = OffsetDateTime::now_utc().date();
        let long_ago = today - Duration::days(2000);
        let world = World::new(&db.store, "8栋", 6, 1).await;
        let (county, community) = (world.county.clone(), world.community.clone());
        let mut households = Vec::new();
        for room in ["101", "102"] {
            let location = world.location(1, 1, room);
            households.push(
                fieldwork
                    .registry()
                    .create_household(&county, &format!("R{room}"), &location, long_ago, "t")
                    .await
                    .unwrap(),
            );
        }
        // A tenant already recorded in 101.
        let tenant_id = "11010519491231002X";
        let tenant = ResidentFacts {
            identity: Identity::Number(IdNumber::parse(tenant_id).unwrap()),
            registered_residence: code("110105"),
            residence_status: ResidenceStatus::Inflow,
            arrival_date: Some(long_ago),
            marital_status: MaritalStatus::Married,
            ..person("周租", Sex::Female, time::macros::date!(1949 - 12 - 31), households[0])
        };
        let tenant_resident = fieldwork.registry().add_resident(&county, &tenant, long_ago, "t").await.unwrap();

        let party = fieldwork
            .register_party(&NewParty {
                county: county.clone(),
                community: community.clone(),
                kind: PartyKind::Landlord,
                name: "陈房东".into(),
                contact: "陈先生".into(),
                phone: Phone::parse("13800001111").unwrap(),
            })
            .await
            .unwrap();
        // No units yet: refused.
        let arrival = line(Movement::Arrival, "吴新", "440307199001011232", Some("102"), 3);
        assert!(
            fieldwork
                .submit_party_lines(&county, party, &[(1, arrival.clone())], "表单 form", GRID, today)
                .await
                .is_err()
        );
        for no in ["R101", "R102", "R102"] {
            fieldwork.add_party_unit(&county, party, no).await.unwrap();
        }
        assert!(fieldwork.add_party_unit(&county, party, "NOPE").await.is_err(), "{label}");
        assert_eq!(fieldwork.party_units(&county, party).await.unwrap().len(), 2, "{label}: a unit added twice is one");

        // A bad report is refused whole: every problem by row and field, nothing written.
        let bad = [
            (2, arrival.clone()),
            (3, line(Movement::Departure, "王无", "440307199202022341", Some("101"), 1)),
            (4, line(Movement::Arrival, "赵某", "440307198803033455", Some("999"), 1)),
        ];
        let refused =
            fieldwork.submit_party_lines(&county, party, &bad, "a.csv", GRID, today).await.unwrap().unwrap_err();
        let named: Vec<(u64, Option<PartyField>)> = refused.iter().map(|p| (p.row, p.field)).collect();
        assert_eq!(named, [(3, Some(PartyField::IdNumber)), (4, Some(PartyField::Unit))], "{label}: {refused:?}");
        assert!(fieldwork.party_lines(&county, party).await.unwrap().is_empty(), "{label}: nothing written");

        // A good report: an arrival into 102, the tenant leaving 101, and the tenant's
        // own arrival, already recorded there.
        let good = [
            (2, arrival.clone()),
            (3, line(Movement::Departure, "周租", tenant_id, Some("101"), 1)),
            (4, line(Movement::Arrival, "周租", tenant_id, Some("R101"), 400)),
        ];
        let done = fieldwork.submit_party_lines(&county, party, &good, "a.csv", GRID, today).await.unwrap().unwrap();
        assert_eq!(done.proposed.len(), 2, "{label}: {done:?}");
        assert_eq!(done.already_recorded, [4]);
        let reporting = store.reporting();
        for (_, event) in &done.proposed {
            let e = reporting.event(&county, *event).await.unwrap().unwrap();
            assert_eq!(e.state, EventState::Submitted, "{label}: waits for the community");
            assert!(e.evidence.contains("陈房东"), "{label}: {}", e.evidence);
        }
        assert!(
            fieldwork.registry().resident(&county, tenant_resident).await.unwrap().is_some(),
            "{label}: not applied blind"
        );
        assert!(fieldwork.registry().household_members(&county, households[1]).await.unwrap().is_empty());

        // The same sheet again: nothing new.
        let again = fieldwork.submit_party_lines(&county, party, &good, "a.csv", GRID, today).await.unwrap().unwrap();
        assert_eq!((again.proposed.len(), again.repeated.len()), (0, 3), "{label}: {again:?}");
        assert_eq!(fieldwork.party_lines(&county, party).await.unwrap().len(), 3);
        let p = fieldwork.party(&county, party).await.unwrap().unwrap();
        assert_eq!((p.units, p.pending), (2, 2), "{label}");

        // Both households are on the plan to be checked.
        let plan = fieldwork.visit_plan(&community, Month::of(today)).await.unwrap();
        for h in &households {
            let item = plan.iter().find(|i| i.household_id == *h).unwrap();
            assert!(item.reasons.contains(&PlanReason::PartyReported), "{label}: {:?}", item.reasons);
        }

        // Through the chain, the newcomer is registered in 102.
        let (_, arrival_event) = done.proposed[0];
        for actor in [SPECIALIST, STREET, DISTRICT] {
            reporting.decide(&county, arrival_event, EventAction::Approve, None, actor, today).await.unwrap();
        }
        let members = fieldwork.registry().household_members(&county, households[1]).await.unwrap();
        assert_eq!(members.len(), 1, "{label}");
        assert_eq!(members[0].facts.name.as_str(), "吴新");
        assert_eq!(members[0].facts.relationship, Relationship::Head);
        assert_eq!(members[0].facts.residence_status, ResidenceStatus::Registered, "{label}: 户籍 in this county");
        db.assert_floor_counts("440307", "after a party's arrival was accepted").await;
        // The departure accepted too: the tenant is no longer recorded, and the same sheet
        // sent again is still only repeats (not refused for a person no longer there).
        let (_, departure_event) = done.proposed[1];
        for actor in [SPECIALIST, STREET, DISTRICT] {
            reporting.decide(&county, departure_event, EventAction::Approve, None, actor, today).await.unwrap();
        }
        assert!(fieldwork.registry().resident(&county, tenant_resident).await.unwrap().is_none(), "{label}");
        let resent = fieldwork.submit_party_lines(&county, party, &good, "a.csv", GRID, today).await.unwrap();
        assert_eq!(resent.map(|d| d.repeated.len()), Ok(3), "{label}");
        let plan = fieldwork.visit_plan(&community, Month::of(today)).await.unwrap();
        let item = plan.iter().find(|i| i.household_id == households[1]).unwrap();
        assert!(!item.reasons.contains(&PlanReason::PartyReported), "{label}: accepted, no longer pending");
        db.finish().await;
    }
}

#[test]
fn a_sheet_names_each_bad_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("房东报告.csv");
    std::fs::write(
        &path,
        "类型,姓名,身份证号,入住日期,房号,民族\n入住,吴新,440307199001011232,2026-11-01,102,汉\n租,,440307199001011239,2026-11-01,102,汉\n",
    )
    .unwrap();
    let today = time::macros::date!(2026 - 11 - 24);
    let rows = read_party_file(&path, today, Default::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].1.is_ok());
    let problems = rows[1].1.as_ref().unwrap_err();
    let named: Vec<(u64, Option<PartyField>)> = problems.iter().map(|p| (p.row, p.field)).collect();
    assert_eq!(named, [(3, Some(PartyField::Movement)), (3, Some(PartyField::Name)), (3, Some(PartyField::IdNumber))]);
    let shown = problems[0].to_string();
    assert!(shown.contains("第3行") && shown.contains("row 3"), "{shown}");
    std::fs::write(&path, "姓名,身份证号\n吴新,440307199001011232\n").unwrap();
    let missing = read_party_file(&path, today, Default::default()).unwrap_err().to_string();
    assert!(missing.contains("房东报告.csv") && missing.contains("类型"), "{missing}");
}
