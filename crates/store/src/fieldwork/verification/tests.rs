//! Verification storage tests, run on SQLite and PostgreSQL.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::{DivisionCode, Role, Scope};
use jiceng_domain::registry::{
    Ethnicity, HouseholdLocation, IdNumber, Identity, MaritalStatus, PersonName, Relationship, ResidenceStatus,
    ResidentFacts, Sex,
};
use time::OffsetDateTime;
use time::macros::date;

use crate::StoreError;
use crate::testing;

fn code(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap()
}

#[tokio::test]
async fn a_confirmation_moves_the_last_verified_date_forward_only() {
    for db in testing::backends().await {
        let registry = db.store.registry();
        let county = code("440307");
        let community = code("440307003002");
        let grid = registry.create_grid(&community, 1, "第1网格").await.unwrap();
        let building = registry.create_building(&grid, "1栋", 6, 1).await.unwrap();
        let location = HouseholdLocation {
            community: community.clone(),
            grid_id: grid.id,
            building_id: building.id,
            unit_no: 1,
            floor_no: 2,
            room_no: "201".into(),
        };
        let household =
            registry.create_household(&county, "H1", &location, date!(2020 - 01 - 01), "tester").await.unwrap();
        let facts = ResidentFacts {
            name: PersonName::parse("李四").unwrap(),
            sex: Sex::Male,
            birth_date: date!(1990 - 05 - 01),
            identity: Identity::Number(IdNumber::parse("440307199005010018").unwrap()),
            ethnicity: Ethnicity::HAN,
            phone: None,
            registered_residence: code("440307"),
            household_id: household,
            relationship: Relationship::Head,
            residence_status: ResidenceStatus::Registered,
            arrival_date: None,
            marital_status: MaritalStatus::Unmarried,
        };
        let resident = registry.add_resident(&county, &facts, date!(2020 - 01 - 01), "tester").await.unwrap();
        assert_eq!(registry.last_verified(&county, resident).await.unwrap(), None, "{}", db.label);
        let since = date!(2026 - 05 - 01);
        assert_eq!(registry.unverified_counts(&county, since).await.unwrap(), vec![(community.clone(), 1)]);

        registry
            .record_verification(&county, resident, date!(2026 - 10 - 01), VerificationMethod::InPerson, "w1")
            .await
            .unwrap();
        assert_eq!(registry.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        assert_eq!(registry.unverified_counts(&county, since).await.unwrap(), vec![]);
        // An older confirmation entered late is logged but keeps the newer date.
        registry
            .record_verification(&county, resident, date!(2026 - 03 - 01), VerificationMethod::Phone, "w2")
            .await
            .unwrap();
        assert_eq!(registry.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        let log = registry.verifications(&county, resident).await.unwrap();
        assert_eq!(
            log.iter().map(|v| (v.verified_on, v.method)).collect::<Vec<_>>(),
            [(date!(2026 - 10 - 01), VerificationMethod::InPerson), (date!(2026 - 03 - 01), VerificationMethod::Phone)]
        );

        // A future date, a date before birth, and a resident outside the scope are refused
        // and leave nothing behind.
        let tomorrow = OffsetDateTime::now_utc().date().next_day().unwrap();
        let future = registry.record_verification(&county, resident, tomorrow, VerificationMethod::Phone, "w").await;
        assert!(matches!(future, Err(StoreError::Invalid(_))), "{future:?}");
        let before_birth = registry
            .record_verification(&county, resident, date!(1980 - 01 - 01), VerificationMethod::Phone, "w")
            .await;
        assert!(matches!(before_birth, Err(StoreError::Invalid(_))));
        let other = Scope::new(Role::GridWorker, vec![code("440307003004")]);
        let outside = db
            .store
            .registry_in(&other)
            .record_verification(&county, resident, date!(2026 - 11 - 01), VerificationMethod::InPerson, "w")
            .await;
        assert!(matches!(outside, Err(StoreError::NotFound { .. })), "{outside:?}");
        assert_eq!(db.store.registry_in(&other).last_verified(&county, resident).await.unwrap(), None);
        assert!(db.store.registry_in(&other).verifications(&county, resident).await.unwrap().is_empty());
        assert_eq!(registry.verifications(&county, resident).await.unwrap().len(), 2);
        assert_eq!(registry.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        db.assert_floor_counts("440307", "after verifications").await;
    }
}
