//! Verification storage tests, run on SQLite and PostgreSQL.

use jiceng_domain::fieldwork::VerificationMethod;
use jiceng_domain::org::{Role, Scope};
use jiceng_domain::registry::{IdNumber, Identity, ResidentFacts, Sex};
use time::OffsetDateTime;
use time::macros::date;

use crate::testing::{self, World, code, person};
use crate::{Caller, StoreError};

#[tokio::test]
async fn a_confirmation_moves_the_last_verified_date_forward_only() {
    for db in testing::backends().await {
        let fieldwork = db.store.fieldwork();
        let world = World::new(&db.store, "1栋", 6, 1).await;
        let (county, community) = (world.county.clone(), world.community.clone());
        let location = world.location(1, 2, "201");
        let household = fieldwork
            .registry()
            .create_household(&county, "H1", &location, date!(2020 - 01 - 01), "tester")
            .await
            .unwrap();
        let facts = ResidentFacts {
            identity: Identity::Number(IdNumber::parse("440307199005010018").unwrap()),
            ..person("李四", Sex::Male, date!(1990 - 05 - 01), household)
        };
        let resident =
            fieldwork.registry().add_resident(&county, &facts, date!(2020 - 01 - 01), "tester").await.unwrap();
        assert_eq!(fieldwork.last_verified(&county, resident).await.unwrap(), None, "{}", db.label);
        let since = date!(2026 - 05 - 01);
        assert_eq!(fieldwork.unverified_counts(&county, since).await.unwrap(), vec![(community.clone(), 1)]);

        fieldwork
            .record_verification(&county, resident, date!(2026 - 10 - 01), VerificationMethod::InPerson)
            .await
            .unwrap();
        assert_eq!(fieldwork.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        assert_eq!(fieldwork.unverified_counts(&county, since).await.unwrap(), vec![]);
        // An older confirmation entered late is logged but keeps the newer date; the
        // log names who recorded each one (the handle's caller).
        let grid1 = Caller::local("grid1");
        db.store
            .fieldwork_by(&grid1)
            .record_verification(&county, resident, date!(2026 - 03 - 01), VerificationMethod::Phone)
            .await
            .unwrap();
        assert_eq!(fieldwork.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        let log = fieldwork.verifications(&county, resident).await.unwrap();
        assert_eq!(
            log.iter().map(|v| (v.verified_on, v.method, v.recorded_by.as_str())).collect::<Vec<_>>(),
            [
                (date!(2026 - 10 - 01), VerificationMethod::InPerson, "system"),
                (date!(2026 - 03 - 01), VerificationMethod::Phone, "grid1")
            ]
        );

        // A future date, a date before birth, and a resident outside the scope are refused
        // and leave nothing behind.
        let tomorrow = OffsetDateTime::now_utc().date().next_day().unwrap();
        let future = fieldwork.record_verification(&county, resident, tomorrow, VerificationMethod::Phone).await;
        assert!(matches!(future, Err(StoreError::Invalid(_))), "{future:?}");
        let before_birth =
            fieldwork.record_verification(&county, resident, date!(1980 - 01 - 01), VerificationMethod::Phone).await;
        assert!(matches!(before_birth, Err(StoreError::Invalid(_))));
        let other = Scope::new(Role::GridWorker, vec![code("440307003004")]);
        let outside = db
            .store
            .fieldwork_in(&other)
            .record_verification(&county, resident, date!(2026 - 11 - 01), VerificationMethod::InPerson)
            .await;
        assert!(matches!(outside, Err(StoreError::NotFound { .. })), "{outside:?}");
        assert_eq!(db.store.fieldwork_in(&other).last_verified(&county, resident).await.unwrap(), None);
        assert!(db.store.fieldwork_in(&other).verifications(&county, resident).await.unwrap().is_empty());
        assert_eq!(fieldwork.verifications(&county, resident).await.unwrap().len(), 2);
        assert_eq!(fieldwork.last_verified(&county, resident).await.unwrap(), Some(date!(2026 - 10 - 01)));
        db.assert_floor_counts("440307", "after verifications").await;
    }
}

/// Verifications written together (the demo writes a community's year in one unit of
/// work) count as they would one by one: each resident and each household once a month,
/// on the floor where the household is.
#[tokio::test]
async fn verifications_written_together_count_each_resident_and_household_once_a_month() {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    for db in testing::backends().await {
        let store = &db.store;
        let world = World::new(store, "1栋", 6, 1).await;
        let county = world.county.clone();
        let household = store
            .registry()
            .create_household(&county, "H1", &world.location(1, 2, "201"), date!(2020 - 01 - 01), "tester")
            .await
            .unwrap();
        let mut residents = Vec::new();
        for (name, sex) in [("李四", Sex::Male), ("王芳", Sex::Female)] {
            let facts = person(name, sex, date!(1990 - 05 - 01), household);
            residents
                .push(store.registry().add_resident(&county, &facts, date!(2020 - 01 - 01), "tester").await.unwrap());
        }
        let mut work = crate::write::UnitOfWork::begin(store).await.unwrap();
        for (resident, day) in [
            (residents[0], date!(2026 - 03 - 02)),
            (residents[0], date!(2026 - 03 - 20)),
            (residents[1], date!(2026 - 03 - 09)),
            (residents[1], date!(2026 - 04 - 01)),
        ] {
            let current = crate::registry::current_resident(&work.txn, &county, resident).await.unwrap();
            crate::fieldwork::verify_in(&mut work, &current, day, VerificationMethod::InPerson, "tester")
                .await
                .unwrap();
        }
        work.commit(testing::audit_entry("tester")).await.unwrap();
        let q = Query::select()
            .columns(["month"])
            .expr_as(Expr::cust("CAST(SUM(households_covered) AS BIGINT)"), "households")
            .expr_as(Expr::cust("CAST(SUM(residents_verified) AS BIGINT)"), "residents")
            .from("floor_month")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("floor_no").eq(2))
            .group_by_col("month")
            .order_by("month", sea_orm::Order::Asc)
            .to_owned();
        let counted: Vec<(String, i64, i64)> = store
            .db
            .query_all(&q)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.try_get("", "month").unwrap(),
                    r.try_get("", "households").unwrap(),
                    r.try_get("", "residents").unwrap(),
                )
            })
            .collect();
        assert_eq!(counted, [("2026-03".to_string(), 1, 2), ("2026-04".to_string(), 1, 1)], "{}", db.label);
        for check in store.verify_projections(Some(&county)).await.unwrap() {
            assert!(
                check.checked.differences.is_empty(),
                "{} {}: {:?}",
                db.label,
                check.projection,
                check.checked.differences
            );
        }
    }
}
