//! Verification storage tests, run on SQLite and PostgreSQL.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::{Role, Scope};
use jiceng_domain::registry::{IdNumber, Identity, ResidentFacts, Sex};
use time::OffsetDateTime;
use time::macros::date;

use crate::StoreError;
use crate::testing::{self, World, code, person};

#[tokio::test]
async fn a_confirmation_moves_the_last_verified_date_forward_only() {
    for db in testing::backends().await {
        let registry = db.store.registry();
        let county = code("440307");
        let community = code("440307003002");
        let world = World::new(&db.store, "1栋", 6, 1).await;
        let location = world.location(1, 2, "201");
        let household =
            registry.create_household(&county, "H1", &location, date!(2020 - 01 - 01), "tester").await.unwrap();
        let facts = ResidentFacts {
            identity: Identity::Number(IdNumber::parse("440307199005010018").unwrap()),
            ..person("李四", Sex::Male, date!(1990 - 05 - 01), household)
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
