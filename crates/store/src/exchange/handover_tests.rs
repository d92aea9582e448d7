//! 委托交接 on SQLite and PostgreSQL: a building proposed by its community is held
//! (neither side may change it), refused with a reason (released), proposed again and
//! accepted by the receiving community — its households and people move with their
//! history, counts and projections; a grid's handover stopped after two batches
//! completes when carried out again; every projection's verify passes on both sides.

use jiceng_domain::exchange::handover::{HandoverKind, HandoverState};
use jiceng_domain::org::{Role, Scope};
use jiceng_domain::registry::{Phone, ResidentFacts, Sex};
use time::OffsetDateTime;
use time::macros::date;

use super::{Batches, HandoverTarget, NewHandover};
use crate::testing::{self, World, code, person};
use crate::{Caller, Store};

/// Names have no digits.
const NUMERALS: [&str; 8] = ["零", "一", "二", "三", "四", "五", "六", "七"];

async fn verify_clean(store: &Store, label: &str) {
    for check in store.verify_projections(Some(&code("440307"))).await.unwrap() {
        assert!(check.checked.differences.is_empty(), "{label}: {} {:?}", check.projection, check.checked.differences);
    }
}

async fn residents_in(store: &Store, community: &str) -> u64 {
    store.registry().community_counts(&code(community), None).await.unwrap().iter().map(|c| c.residents).sum()
}

#[tokio::test]
async fn a_building_is_held_refused_then_accepted_and_moves_with_everything() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = date!(2015 - 01 - 01);
        let sending = World::new(store, "拆迁楼", 4, 1).await;
        let receiving = World::in_community(store, "440307003004", 7, "安置楼", 10, 2).await;
        let mut people = Vec::new();
        for (i, room) in ["101", "201", "301"].iter().enumerate() {
            let home =
                sending.household(&format!("C{room}"), &sending.location(1, (i + 1) as i16, room), long_ago).await;
            for second in &NUMERALS[..2] {
                let name = format!("住户{}{second}", NUMERALS[i]);
                let facts = person(&name, Sex::Female, date!(1980 - 01 - 01), home);
                people.push(sending.resident(&facts, long_ago).await);
            }
        }
        assert_eq!(residents_in(store, "440307003002").await, 6, "{label}");
        let before_receiving = residents_in(store, "440307003004").await;

        let specialist_a = Caller::local("spec_a");
        let scope_a = Scope::new(Role::Specialist, vec![code("440307003002")]);
        let specialist_b = Caller::local("spec_b");
        let scope_b = Scope::new(Role::Specialist, vec![code("440307003004")]);
        let sender = store.exchange_as(&scope_a, &specialist_a);
        let receiver = store.exchange_as(&scope_b, &specialist_b);
        let county = code("440307");
        let new = NewHandover {
            county: county.clone(),
            kind: HandoverKind::Building,
            subject: sending.building.id,
            target: HandoverTarget::Grid(receiving.grid.id),
        };
        // Only the building's own community may propose it.
        assert!(receiver.propose_handover(&new).await.is_err(), "{label}");
        let proposed = sender.propose_handover(&new).await.unwrap();
        assert_eq!((proposed.state, proposed.households), (HandoverState::Proposed, 3), "{label}");
        // Held: visible to both, changed by neither.
        let transit = receiver.in_transit(&proposed).await.unwrap();
        assert_eq!(transit.iter().map(|t| t.members.len()).sum::<usize>(), 6, "{label}");
        let registry = store.registry();
        let current = registry.resident(&county, people[0]).await.unwrap().unwrap();
        let changed = ResidentFacts { phone: Some(Phone::parse("13900001111").unwrap()), ..current.facts.clone() };
        let held = registry.record_resident_change(&county, people[0], &changed, today, "tester").await;
        assert!(held.unwrap_err().to_string().contains("in transit"), "{label}");
        assert!(sender.propose_handover(&new).await.is_err(), "{label}: proposed twice");
        // The sender cannot decide for the receiver; a refusal needs a reason.
        assert!(sender.decide_handover(&county, proposed.id, true, None, today, Batches::default()).await.is_err());
        assert!(receiver.decide_handover(&county, proposed.id, false, None, today, Batches::default()).await.is_err());
        let refused = receiver
            .decide_handover(&county, proposed.id, false, Some("安置楼尚未验收"), today, Batches::default())
            .await
            .unwrap();
        assert_eq!(refused.state, HandoverState::Refused, "{label}");
        registry.record_resident_change(&county, people[0], &changed, today, "tester").await.unwrap();

        let again = sender.propose_handover(&new).await.unwrap();
        let done = receiver
            .decide_handover(&county, again.id, true, None, today, Batches { size: 2, at_most: None })
            .await
            .unwrap();
        assert_eq!((done.state, done.moved), (HandoverState::Completed, 3), "{label}");
        assert_eq!(residents_in(store, "440307003002").await, 0, "{label}");
        assert_eq!(residents_in(store, "440307003004").await, before_receiving + 6, "{label}");
        let building = registry.building(&county, sending.building.id).await.unwrap().unwrap();
        assert_eq!((building.grid_id, building.community.as_str()), (receiving.grid.id, "440307003004"), "{label}");
        // History stays: the person's earlier versions in the old community.
        let history = registry.resident_history(&county, people[0]).await.unwrap();
        assert!(history.iter().any(|v| v.community.as_str() == "440307003002"), "{label}");
        let newest = history.iter().max_by_key(|v| v.stamp.version).unwrap();
        assert_eq!(newest.community.as_str(), "440307003004", "{label}");
        // Released: the receiving side changes them now.
        let current = registry.resident(&county, people[1]).await.unwrap().unwrap();
        let changed = ResidentFacts { phone: Some(Phone::parse("13900002222").unwrap()), ..current.facts.clone() };
        store
            .registry_as(&scope_b, &specialist_b)
            .record_resident_change(&county, people[1], &changed, today, "spec_b")
            .await
            .unwrap();
        verify_clean(store, label).await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_grid_handover_stopped_midway_completes_when_carried_out_again() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = date!(2015 - 01 - 01);
        let sending = World::new(store, "旧村1栋", 6, 1).await;
        testing::World::in_community(store, "440307003004", 3, "某楼", 3, 1).await;
        for floor in 1..=6i16 {
            let home = sending
                .household(&format!("G{floor}"), &sending.location(1, floor, &format!("{floor}01")), long_ago)
                .await;
            let name = format!("村民{}", NUMERALS[floor as usize]);
            sending.resident(&person(&name, Sex::Male, date!(1970 - 01 - 01), home), long_ago).await;
        }
        let county = code("440307");
        let exchange = store.exchange();
        let proposed = exchange
            .propose_handover(&NewHandover {
                county: county.clone(),
                kind: HandoverKind::Grid,
                subject: sending.grid.id,
                target: HandoverTarget::Community(code("440307003004")),
            })
            .await
            .unwrap();
        let stopped = exchange
            .decide_handover(&county, proposed.id, true, None, today, Batches { size: 2, at_most: Some(2) })
            .await
            .unwrap();
        assert_eq!((stopped.state, stopped.moved), (HandoverState::Moving, 4), "{label}");
        // Half moved: each batch moved its counts, so the projections agree already.
        verify_clean(store, label).await;
        let done = exchange.carry_out(&county, proposed.id, today, Batches::default()).await.unwrap();
        assert_eq!((done.state, done.moved), (HandoverState::Completed, 6), "{label}");
        assert_eq!(residents_in(store, "440307003002").await, 0, "{label}");
        let grid = store.registry().grid(&county, sending.grid.id).await.unwrap().unwrap();
        assert_eq!(grid.community.as_str(), "440307003004", "{label}");
        verify_clean(store, label).await;
        // Carried out again: nothing left to do.
        assert_eq!(exchange.carry_out(&county, proposed.id, today, Batches::default()).await.unwrap().moved, 6);
        db.finish().await;
    }
}
