//! The unit of work on SQLite and PostgreSQL: all or nothing with its audit entry, and
//! every projection's verify catches a corrupted row.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::{HouseholdLocation, Phone, ResidentFacts};
use time::macros::date;
use uuid::Uuid;

use crate::access::Caller;
use crate::testing::{self, TestDb};

fn code(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap()
}

/// A household with one resident in 440307003002, written by `caller`.
async fn household_with_resident(db: &TestDb, caller: &Caller) -> (DivisionCode, Uuid, ResidentFacts) {
    let registry = db.store.registry_by(caller);
    let county = code("440307");
    let community = code("440307003002");
    let grid = registry.create_grid(&community, 1, "第1网格").await.unwrap();
    let building = registry.create_building(&grid, "101栋", 18, 2).await.unwrap();
    let location = HouseholdLocation {
        community,
        grid_id: grid.id,
        building_id: building.id,
        unit_no: 1,
        floor_no: 12,
        room_no: "1203".into(),
    };
    let household =
        registry.create_household(&county, "H0001", &location, date!(2020 - 01 - 01), "wang").await.unwrap();
    let facts = testing::zhang_san(household);
    let resident = registry.add_resident(&county, &facts, date!(2020 - 01 - 01), "wang").await.unwrap();
    (county, resident, facts)
}

#[tokio::test]
async fn a_write_that_fails_after_its_changes_leaves_neither_the_change_nor_an_audit_entry() {
    for db in testing::backends().await {
        let caller = Caller::remote("wang", "10.0.0.7");
        let (county, resident, facts) = household_with_resident(&db, &caller).await;
        let registry = db.store.registry_by(&caller);
        let target = format!("resident/{county}/{resident}");
        let entries = db.store.audit().verify(None).await.unwrap().entries;
        let audited = db.store.audit().for_target(Some(county.as_str()), &target, 100).await.unwrap().len();

        // The floor counters' projection fails after the new version is written.
        db.store.raw_execute("ALTER TABLE floor_stock RENAME TO floor_stock_away").await.unwrap();
        let changed = ResidentFacts { phone: Some(Phone::parse("13900139000").unwrap()), ..facts.clone() };
        let failed = registry.record_resident_change(&county, resident, &changed, date!(2024 - 06 - 01), "wang").await;
        db.store.raw_execute("ALTER TABLE floor_stock_away RENAME TO floor_stock").await.unwrap();
        assert!(failed.is_err(), "{}", db.label);
        assert_eq!(registry.resident_history(&county, resident).await.unwrap().len(), 1, "{}", db.label);
        assert_eq!(db.store.audit().verify(None).await.unwrap().entries, entries, "{}", db.label);
        assert_eq!(
            db.store.audit().for_target(Some(county.as_str()), &target, 100).await.unwrap().len(),
            audited,
            "{}",
            db.label
        );

        // The same change succeeding leaves both, the entry naming the caller.
        registry.record_resident_change(&county, resident, &changed, date!(2024 - 06 - 01), "wang").await.unwrap();
        assert_eq!(registry.resident_history(&county, resident).await.unwrap().len(), 2, "{}", db.label);
        assert_eq!(db.store.audit().verify(None).await.unwrap().entries, entries + 1, "{}", db.label);
        let written = db.store.audit().for_target(Some(county.as_str()), &target, 100).await.unwrap();
        assert_eq!(written.len(), audited + 1, "{}", db.label);
        assert_eq!((written[0].actor.as_str(), written[0].origin.as_str()), ("wang", "10.0.0.7"), "{}", db.label);
        assert_eq!(written[0].action, "write", "{}", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn every_projection_verify_catches_a_corrupted_row() {
    for db in testing::backends().await {
        let (county, resident, _) = household_with_resident(&db, &Caller::SYSTEM).await;
        db.store
            .fieldwork()
            .record_verification(&county, resident, date!(2025 - 03 - 04), VerificationMethod::InPerson)
            .await
            .unwrap();
        let differences = |checks: &[crate::write::ProjectionCheck]| -> Vec<&'static str> {
            checks.iter().filter(|c| !c.checked.differences.is_empty()).map(|c| c.projection).collect()
        };
        let checks = db.store.verify_projections(None).await.unwrap();
        assert_eq!(checks.len(), super::PROJECTIONS.len(), "{}: one county, every projection", db.label);
        assert!(checks.iter().all(|c| c.checked.compared > 0), "{}: {checks:?}", db.label);
        assert!(differences(&checks).is_empty(), "{}: {checks:?}", db.label);

        let floors = "floor_stock, floor_month";
        for (corrupt, repair, caught) in [
            (
                "UPDATE report_cell SET value = value + 1 WHERE indicator = 'households'",
                "UPDATE report_cell SET value = value - 1 WHERE indicator = 'households'",
                "report_cell",
            ),
            (
                "UPDATE floor_stock SET residents = residents + 1",
                "UPDATE floor_stock SET residents = residents - 1",
                floors,
            ),
            ("UPDATE floor_month SET visits = visits + 1", "UPDATE floor_month SET visits = visits - 1", floors),
            (
                "UPDATE floor_month SET households_covered = households_covered + 1",
                "UPDATE floor_month SET households_covered = households_covered - 1",
                floors,
            ),
            (
                "UPDATE resident_followup SET last_verified_on = NULL",
                "UPDATE resident_followup SET last_verified_on = (SELECT r.last_verified_on FROM resident r \
                 WHERE r.county_code = resident_followup.county_code AND r.id = resident_followup.resident_id)",
                "resident_followup",
            ),
        ] {
            db.store.raw_execute(corrupt).await.unwrap();
            let checks = db.store.verify_projections(Some(&county)).await.unwrap();
            assert_eq!(differences(&checks), vec![caught], "{}: {corrupt}", db.label);
            db.store.raw_execute(repair).await.unwrap();
            let checks = db.store.verify_projections(None).await.unwrap();
            assert!(differences(&checks).is_empty(), "{}: after repairing {corrupt}: {checks:?}", db.label);
        }
        db.finish().await;
    }
}
