//! Registry storage tests, run on SQLite and PostgreSQL.

use jiceng_domain::registry::synthetic::{PopulationGenerator, PopulationPlan};
use jiceng_domain::registry::{
    HouseholdLocation, IdMissingReason, Identity, MaritalStatus, PersonName, Phone, Relationship, ResidentFacts, Sex,
};
use time::macros::date;

use super::ChangeOutcome;
use crate::StoreError;
use crate::org::{Divisions, LoadScope, reference};
use crate::testing::{self, World, code};

#[tokio::test]
async fn resident_changes_are_versions_and_as_of_queries_see_the_past() {
    for db in testing::backends().await {
        let store = &db.store;
        let registry = store.registry();
        let other_community = code("440307003004");
        let world = World::new(&db.store, "101栋", 18, 2).await;
        let (county, community) = (world.county.clone(), world.community.clone());
        let (grid, _building) = (&world.grid, &world.building);
        let other_grid = registry.create_grid(&other_community, 1, "第1网格").await.unwrap();
        let other_building = registry.create_building(&other_grid, "201栋", 9, 1).await.unwrap();
        let location = world.location(1, 12, "1203");
        let household =
            registry.create_household(&county, "H0001", &location, date!(2020 - 01 - 01), "tester").await.unwrap();
        let facts = testing::zhang_san(household);
        let resident = registry.add_resident(&county, &facts, date!(2020 - 01 - 01), "tester").await.unwrap();

        let mut changed = facts.clone();
        changed.phone = Some(Phone::parse("13900139000").unwrap());
        let outcome = registry
            .record_resident_change(&county, resident, &changed, date!(2024 - 06 - 01), "tester")
            .await
            .unwrap();
        assert_eq!(outcome, ChangeOutcome::NewVersion(2), "{}", db.label);
        // The same facts again write nothing.
        let again = registry
            .record_resident_change(&county, resident, &changed, date!(2024 - 07 - 01), "tester")
            .await
            .unwrap();
        assert_eq!(again, ChangeOutcome::Unchanged, "{}", db.label);
        // A change dated before the current version is refused, and nothing is written.
        let mut backdated = changed.clone();
        backdated.marital_status = MaritalStatus::Married;
        let err = registry
            .record_resident_change(&county, resident, &backdated, date!(2023 - 01 - 01), "tester")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Retroactive { .. }), "{}: {err}", db.label);

        let current = registry.resident(&county, resident).await.unwrap().unwrap();
        assert_eq!(current.facts, changed);
        assert_eq!(current.stamp.version, 2);
        let past = registry.resident_as_of(&county, resident, date!(2022 - 01 - 01)).await.unwrap().unwrap();
        assert_eq!(past.facts.phone, facts.phone, "{}", db.label);
        assert_eq!(past.stamp.valid_to, Some(date!(2024 - 06 - 01)));
        assert!(registry.resident_as_of(&county, resident, date!(2019 - 01 - 01)).await.unwrap().is_none());
        let history = registry.resident_history(&county, resident).await.unwrap();
        assert_eq!(history.iter().map(|v| v.stamp.version).collect::<Vec<_>>(), [2, 1]);
        assert!(history.iter().all(|v| v.stamp.recorded_by == "tester"));

        // A newborn without an identity number joins the household.
        let newborn = ResidentFacts {
            name: PersonName::parse("张小宝").unwrap(),
            sex: Sex::Male,
            birth_date: date!(2026 - 10 - 01),
            identity: Identity::Missing(IdMissingReason::NewbornNotRegistered),
            relationship: Relationship::Grandchild,
            marital_status: MaritalStatus::Unmarried,
            arrival_date: None,
            phone: None,
            ..facts.clone()
        };
        let baby = registry.add_resident(&county, &newborn, date!(2026 - 10 - 01), "tester").await.unwrap();
        let members = registry.household_members(&county, household).await.unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].facts.relationship, Relationship::Head);
        assert_eq!(registry.resident(&county, baby).await.unwrap().unwrap().facts.identity, newborn.identity);

        // Assessed here before the move, so the old community's reassessment below
        // drops their tiers (and the plan's follow-up rows must lose them too).
        let today = time::OffsetDateTime::now_utc().date();
        store.fieldwork().reassess_community(&community, today).await.unwrap();
        // Moving the household to another community moves its members' counts too.
        let moved = HouseholdLocation {
            community: other_community.clone(),
            grid_id: other_grid.id,
            building_id: other_building.id,
            unit_no: 1,
            floor_no: 3,
            room_no: "302".into(),
        };
        let outcome =
            registry.move_household(&county, household, &moved, date!(2026 - 11 - 01), "tester").await.unwrap();
        assert_eq!(outcome, ChangeOutcome::NewVersion(2));
        assert_eq!(registry.household(&county, household).await.unwrap().unwrap().location, moved);
        let before = registry.household_as_of(&county, household, date!(2025 - 01 - 01)).await.unwrap().unwrap();
        assert_eq!(before.location, location);
        assert_eq!(registry.household_history(&county, household).await.unwrap().len(), 2);
        let counts = registry.community_counts(&code("440307003"), None).await.unwrap();
        assert_eq!(counts.len(), 1, "{}: {counts:?}", db.label);
        assert_eq!((counts[0].community.as_str(), counts[0].residents), ("440307003004", 2));
        let then = registry.community_counts(&county, Some(date!(2025 - 01 - 01))).await.unwrap();
        assert_eq!((then[0].community.as_str(), then[0].residents), ("440307003002", 1));
        db.assert_floor_counts("440307", "after a household moved").await;
        store.fieldwork().reassess_community(&community, today).await.unwrap();
        db.assert_floor_counts("440307", "after the old community was reassessed").await;
        // A building in the wrong grid is refused.
        let wrong = HouseholdLocation { grid_id: grid.id, ..moved.clone() };
        assert!(registry.move_household(&county, household, &wrong, date!(2026 - 11 - 02), "t").await.is_err());
        db.finish().await;
    }
}

#[tokio::test]
async fn a_generated_community_is_stored_whole_and_browsable() {
    for db in testing::backends().await {
        let store = &db.store;
        let county = code("440307");
        let communities = reference::communities_under(&code("440307003"))
            .unwrap()
            .into_iter()
            .take(2)
            .map(|d| (d.code, d.name))
            .collect();
        let plan = PopulationPlan {
            county: county.clone(),
            communities,
            all_counties: reference::counties().unwrap().into_iter().map(|d| d.code).collect(),
            residents: 1_500,
            seed: 3,
            reference_date: date!(2026 - 11 - 24),
        };
        let mut total = super::PopulationSummary::default();
        let mut first = None;
        for community in PopulationGenerator::new(plan) {
            first.get_or_insert(community.code.clone());
            total += store.registry().write_community(&county, &community, "demo").await.unwrap();
        }
        assert_eq!(total.residents, 1_500, "{}", db.label);
        assert!(store.registry().has_residents(&county).await.unwrap());
        let counts = store.registry().community_counts(&county, None).await.unwrap();
        assert_eq!(counts.iter().map(|c| c.residents).sum::<u64>(), 1_500);
        let community = first.unwrap();
        let grids = store.registry().grids_in_community(&community).await.unwrap();
        let in_grids: u64 = grids.iter().map(|g| g.residents).sum();
        let in_community: u64 = counts.iter().filter(|c| c.community == community).map(|c| c.residents).sum();
        assert_eq!(in_grids, in_community, "{}", db.label);
        let grid = &grids[0].grid;
        let buildings = store.registry().buildings_in_grid(&county, grid.id).await.unwrap();
        assert_eq!(buildings.iter().map(|b| b.households).sum::<u64>(), grids[0].households);
        let households = store.registry().households_in_building(&county, buildings[0].building.id).await.unwrap();
        assert_eq!(households.len() as u64, buildings[0].households);
        assert!(households.iter().all(|h| h.members >= 1 && h.head_name.is_some()), "{}", db.label);
        let members = store.registry().household_members(&county, households[0].household_id).await.unwrap();
        assert_eq!(members.len() as u64, households[0].members);
        db.assert_floor_counts("440307", "after a generated community").await;
        db.finish().await;
    }
}

#[tokio::test]
async fn divisions_load_idempotently_and_walk_the_tree() {
    for db in testing::backends().await {
        let divisions = db.store.divisions();
        let rows = Divisions::reference(&LoadScope::counties(vec![code("440307")])).unwrap();
        let loaded = divisions.load(&rows, |_| {}).await.unwrap();
        let count = divisions.count().await.unwrap();
        assert_eq!(loaded, count);
        // Loading again changes nothing.
        divisions.load(&rows, |_| {}).await.unwrap();
        assert_eq!(divisions.count().await.unwrap(), count, "{}", db.label);
        let longgang = divisions.get(&code("440307")).await.unwrap().unwrap();
        assert_eq!(longgang.name, "龙岗区");
        let streets = divisions.children(Some(&longgang.code)).await.unwrap();
        assert!(streets.iter().any(|s| s.name == "坂田街道"));
        let mut villages = 0;
        for street in &streets {
            villages += divisions.children(Some(&street.code)).await.unwrap().len();
        }
        assert_eq!(villages, 144, "{}", db.label);
        let path = divisions.path(&code("440307003002")).await.unwrap();
        let names: Vec<&str> = path.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["广东省", "深圳市", "龙岗区", "平湖街道", "良安田社区居委会"]);
        assert_eq!(divisions.children(None).await.unwrap().len(), 31);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_whole_country_loads() {
    let rows = Divisions::reference(&LoadScope::everything()).unwrap();
    let villages = rows.iter().filter(|r| r.code.level() == jiceng_domain::org::DivisionLevel::Village).count();
    assert_eq!(villages, 620_573);
    for db in testing::backends().await {
        let loaded = db.store.divisions().load(&rows, |_| {}).await.unwrap();
        assert_eq!(loaded, rows.len() as u64);
        assert_eq!(db.store.divisions().count().await.unwrap(), 665_276, "{}", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_scoped_registry_sees_and_changes_only_its_subtree() {
    use jiceng_domain::org::{Role, Scope};
    use jiceng_domain::registry::ExitReason;
    for db in testing::backends().await {
        let store = &db.store;
        let county = code("440307");
        let communities = ["440307003002", "440307003004"].iter().map(|c| (code(c), c.to_string())).collect();
        let plan = PopulationPlan {
            county: county.clone(),
            communities,
            all_counties: reference::counties().unwrap().into_iter().map(|d| d.code).collect(),
            residents: 600,
            seed: 9,
            reference_date: date!(2026 - 11 - 24),
        };
        for community in PopulationGenerator::new(plan) {
            store.registry().write_community(&county, &community, "demo").await.unwrap();
        }
        let scope_a = Scope::new(Role::GridWorker, vec![code("440307003002")]);
        let mine = store.registry_in(&scope_a);
        let everyone = store.registry();
        let in_a = everyone.search(&super::SearchQuery::Name(String::new()), 1000).await.unwrap();
        let a = in_a.iter().find(|r| r.community.as_str() == "440307003002").unwrap().clone();
        let b = in_a.iter().find(|r| r.community.as_str() == "440307003004").unwrap().clone();

        assert!(mine.resident(&county, a.resident_id).await.unwrap().is_some());
        assert!(mine.resident(&county, b.resident_id).await.unwrap().is_none(), "{}", db.label);
        assert!(mine.resident_history(&county, b.resident_id).await.unwrap().is_empty());
        assert!(mine.household(&county, b.facts.household_id).await.unwrap().is_none());
        assert!(mine.household_members(&county, b.facts.household_id).await.unwrap().is_empty());
        assert!(mine.grids_in_community(&code("440307003004")).await.is_err());
        let counts = mine.community_counts(&county, None).await.unwrap();
        assert!(counts.iter().all(|c| c.community.as_str() == "440307003002"), "{counts:?}");
        let err = mine.record_resident_change(&county, b.resident_id, &b.facts, date!(2026 - 11 - 20), "a").await;
        assert!(matches!(err, Err(StoreError::NotFound { .. })), "{}: writes outside scope are refused", db.label);
        let err = mine.record_exit(&county, b.resident_id, date!(2026 - 11 - 20), ExitReason::MovedAway, "a").await;
        assert!(matches!(err, Err(StoreError::NotFound { .. })));

        // Search by initials, phone and identity number, only in scope.
        let initials = jiceng_domain::registry::pinyin::name_initials(a.facts.name.as_str());
        let found = mine.search(&super::SearchQuery::Initials(initials.clone()), 100).await.unwrap();
        assert!(found.iter().any(|r| r.resident_id == a.resident_id), "{}: initials {initials}", db.label);
        assert!(found.iter().all(|r| r.community.as_str() == "440307003002"));
        let id = b.facts.identity.number().unwrap().to_string();
        assert!(mine.search(&super::SearchQuery::IdNumber(id.clone()), 10).await.unwrap().is_empty());
        assert_eq!(everyone.search(&super::SearchQuery::IdNumber(id.clone()), 10).await.unwrap().len(), 1);
        assert_eq!(
            everyone
                .search(&super::SearchQuery::IdPrefix(id[..10].to_string()), 500)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.resident_id == b.resident_id)
                .count(),
            1
        );
        if let Some(phone) = &a.facts.phone {
            let found = mine.search(&super::SearchQuery::Phone(phone.to_string()), 10).await.unwrap();
            assert!(found.iter().any(|r| r.resident_id == a.resident_id));
        }

        // A death ends the record: gone from the current registry, kept in history.
        mine.record_exit(&county, a.resident_id, date!(2026 - 11 - 20), ExitReason::Died, "a").await.unwrap();
        assert!(mine.resident(&county, a.resident_id).await.unwrap().is_none());
        assert!(mine.resident_as_of(&county, a.resident_id, date!(2026 - 11 - 19)).await.unwrap().is_some());
        assert_eq!(
            mine.exit_of(&county, a.resident_id).await.unwrap(),
            Some((date!(2026 - 11 - 20), ExitReason::Died)),
            "{}",
            db.label
        );
        db.finish().await;
    }
}

/// A search term is a prefix, matched and ordered byte by byte on both databases (the
/// search indexes of m0011): 王 finds 王芳 and 王小明, never 汪洋; the people of an
/// earlier version or of another county are not found.
#[tokio::test]
async fn searches_are_prefixes_in_byte_order_on_both_databases() {
    use super::SearchQuery;
    let mut orders = Vec::new();
    for db in testing::backends().await {
        let world = World::new(&db.store, "1栋", 6, 1).await;
        let home = world.location(1, 1, "101");
        let household = world.household("H1", &home, date!(2020 - 01 - 01)).await;
        for name in ["王小明", "汪洋", "王芳", "王", "黄晓"] {
            world
                .resident(&testing::person(name, Sex::Male, date!(1990 - 01 - 01), household), date!(2020 - 01 - 01))
                .await;
        }
        let registry = db.store.registry();
        let names = |found: Vec<super::ResidentVersion>| {
            found.into_iter().map(|r| r.facts.name.to_string()).collect::<Vec<_>>()
        };
        let wang = names(registry.search(&SearchQuery::Name("王".into()), 10).await.unwrap());
        assert_eq!(wang.len(), 3, "{}: {wang:?}", db.label);
        assert!(!wang.contains(&"汪洋".to_string()));
        assert_eq!(names(registry.search(&SearchQuery::Name("王小".into()), 10).await.unwrap()), ["王小明"]);
        assert_eq!(names(registry.search(&SearchQuery::Initials("wx".into()), 10).await.unwrap()), ["王小明"]);
        // `_` and `%` are letters of the term, not patterns.
        assert!(registry.search(&SearchQuery::Name("王_".into()), 10).await.unwrap().is_empty());
        assert!(registry.search(&SearchQuery::Initials("w%".into()), 10).await.unwrap().is_empty());
        let limited = names(registry.search(&SearchQuery::Name("王".into()), 2).await.unwrap());
        assert_eq!(limited, wang[..2], "{}: the first matches in order", db.label);
        orders.push(wang);
        db.finish().await;
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "the same order on both databases: {orders:?}");
}

/// Bulk rows land as they were given on every database: on PostgreSQL they travel as
/// one JSON document (`Batch::flush`), so quotes, backslashes, control characters,
/// Chinese, NULLs and instants must all come back unchanged (instants to the microsecond,
/// as the driver itself sends them).
#[tokio::test]
async fn bulk_rows_come_back_as_they_were_written() {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    for db in testing::backends().await {
        let store = &db.store;
        let at = time::macros::datetime!(2026-12-07 11:22:33.123456789 +08:00);
        let texts = ["H\"0\\1", "户 1/2\n\t第三行", "'; DROP TABLE household; --", "\u{1f}控制"];
        let mut batch = super::population::Batch::new(
            "household",
            ["county_code", "id", "household_no", "created_at", "created_by"],
        );
        let mut ids = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let id = uuid::Uuid::now_v7();
            ids.push(id);
            batch.rows.push(vec!["440307".into(), id.into(), (*text).into(), at.into(), format!("录入员{i}").into()]);
        }
        let txn = store.db.begin().await.unwrap();
        batch.flush(&txn).await.unwrap();
        txn.commit().await.unwrap();
        for (id, text) in ids.iter().zip(texts) {
            let q = Query::select()
                .columns(["household_no", "created_at", "created_by"])
                .from("household")
                .and_where(Expr::col("id").eq(*id))
                .to_owned();
            let row = store.db.query_one(&q).await.unwrap().expect("row written");
            assert_eq!(row.try_get::<String>("", "household_no").unwrap(), text, "{}", db.label);
            let stored: time::OffsetDateTime = row.try_get("", "created_at").unwrap();
            assert!((stored - at).abs() < time::Duration::microseconds(1), "{}: {stored} vs {at}", db.label);
            assert!(row.try_get::<String>("", "created_by").unwrap().starts_with("录入员"), "{}", db.label);
        }
        db.finish().await;
    }
}
