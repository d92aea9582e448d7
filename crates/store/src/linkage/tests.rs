//! Department feeds on SQLite and PostgreSQL: every kind from a file to a proposed
//! change (or a confirmation), through the review chain into the registry; a feed sent
//! again changes nothing; a possible match reviewed and accepted; tokens made, used
//! and revoked.

use std::path::Path;

use jiceng_domain::linkage::{DepartmentKind, FeedKind, FeedOutcome, Settings};
use jiceng_domain::org::Role;
use jiceng_domain::registry::{IdNumber, Identity, MaritalStatus, Phone, Relationship, Sex};
use jiceng_domain::reporting::{EventAction, EventState};
use jiceng_files::exchange::ReadLimits;
use jiceng_files::linkage::feed::FeedFile;
use time::macros::date;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Department, FeedReceipt, Linkage, NewDepartment};
use crate::reporting::Actor;
use crate::testing::{self, World, code, person};

const SPECIALIST: Actor<'static> = Actor { username: "spec1", role: Role::Specialist };
const STREET: Actor<'static> = Actor { username: "street1", role: Role::Street };
const DISTRICT: Actor<'static> = Actor { username: "district1", role: Role::District };

fn id(text: &str) -> Identity {
    Identity::Number(IdNumber::parse_as_of(text, date!(2026 - 12 - 01)).unwrap())
}

async fn department(linkage: &Linkage<'_>, code_text: &str, kind: DepartmentKind) -> Department {
    linkage
        .register_department(&NewDepartment {
            code: code_text.into(),
            name: format!("{}{code_text}", kind.label_zh()),
            kind,
            region: code("440307"),
            feeds: Vec::new(),
        })
        .await
        .unwrap()
}

async fn send(
    linkage: &Linkage<'_>,
    dir: &Path,
    department: &Department,
    kind: FeedKind,
    rows: &[String],
    today: Date,
) -> FeedReceipt {
    let path = dir.join(format!("{}-{}.csv", department.code, kind.key()));
    let mut text = kind.headings(false).join(",");
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    std::fs::write(&path, text).unwrap();
    let rows = FeedFile::open(&path, kind, None, ReadLimits::default()).unwrap().rows().unwrap();
    linkage.receive(department, kind, "feed.csv", rows, &settings(), today).await.unwrap()
}

/// Fewer random pairs for u than a real county needs: the test registries are small.
fn settings() -> Settings {
    Settings { random_pairs: 20_000, ..Settings::default() }
}

/// Neighbours: `n` people of generated names and birth dates in one household, so that
/// the registry's frequencies are those of a place, not of the few people a test is about.
async fn neighbours(world: &World<'_>, n: usize) {
    use jiceng_domain::linkage::synthetic::{LinkagePlan, generate};
    let home = world.household("N1", &world.location(1, 3, "301"), date!(2015 - 01 - 01)).await;
    let (registry, _, _) = generate(&LinkagePlan { registry: n, incoming: 1, ..LinkagePlan::default() });
    for (_, r) in registry {
        let (Some(sex), Some(born), Ok(_)) = (r.sex, r.birth_date, jiceng_domain::registry::PersonName::parse(&r.name))
        else {
            continue;
        };
        world.resident(&person(&r.name, sex, born, home), date!(2015 - 01 - 01)).await;
    }
}

/// Takes an event up the chain to acceptance.
async fn accept(store: &crate::Store, event: Uuid, today: Date) {
    let reporting = store.reporting();
    let county = code("440307");
    let mut state = reporting.event(&county, event).await.unwrap().unwrap().state;
    for actor in [SPECIALIST, STREET, DISTRICT] {
        // A specialist's own report starts at the street.
        if state.awaiting() != jiceng_domain::reporting::ReviewLevel::of_role(actor.role) {
            continue;
        }
        state = reporting.decide(&county, event, EventAction::Approve, None, actor, today).await.unwrap();
    }
    assert_eq!(state, EventState::Accepted);
}

async fn event_of(linkage: &Linkage<'_>, kind: FeedKind, outcome: FeedOutcome) -> Vec<super::IncomingRecord> {
    linkage.records(&code("440307"), Some(outcome), &[kind], 100).await.unwrap()
}

#[tokio::test]
async fn every_feed_kind_reaches_the_registry_through_the_review_chain() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let today = OffsetDateTime::now_utc().date();
        let day = |n: i64| (today - Duration::days(n)).to_string();
        let long_ago = date!(2015 - 01 - 01);
        let world = World::new(store, "1栋", 6, 2).await;
        let mut homes = Vec::new();
        for room in ["101", "102", "201", "202", "301", "302"] {
            homes.push(world.household(&format!("H{room}"), &world.location(1, 1, room), long_ago).await);
        }
        let registry = store.registry();
        let wang = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    identity: id("440307199604120024"),
                    ..person("王芳", Sex::Female, date!(1996 - 04 - 12), homes[0])
                },
                long_ago,
            )
            .await;
        let chen = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    identity: id("44030719880701004X"),
                    marital_status: MaritalStatus::Married,
                    ..person("陈静", Sex::Female, date!(1988 - 07 - 01), homes[1])
                },
                long_ago,
            )
            .await;
        let zhou = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    identity: id("440307199002030013"),
                    ..person("周强", Sex::Male, date!(1990 - 02 - 03), homes[2])
                },
                long_ago,
            )
            .await;
        let li = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    identity: id("440307199502030028"),
                    phone: Some(Phone::parse("13900139002").unwrap()),
                    marital_status: MaritalStatus::Married,
                    ..person("李娜", Sex::Female, date!(1995 - 02 - 03), homes[3])
                },
                long_ago,
            )
            .await;
        let huang = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    identity: id("440307193801150014"),
                    ..person("黄国华", Sex::Male, date!(1938 - 01 - 15), homes[4])
                },
                long_ago,
            )
            .await;
        let child_born = today - Duration::days(200);
        let sun = world
            .resident(
                &jiceng_domain::registry::ResidentFacts {
                    relationship: Relationship::Daughter,
                    ..person("孙小雨", Sex::Female, child_born, homes[5])
                },
                child_born,
            )
            .await;
        let admin = crate::Caller::local("admin");
        let linkage = store.linkage_by(&admin);
        let civil = department(&linkage, "MZ", DepartmentKind::CivilAffairs).await;
        let police = department(&linkage, "GA", DepartmentKind::PublicSecurity).await;
        let hospital = department(&linkage, "YY", DepartmentKind::Health).await;
        let clinic = department(&linkage, "JZ", DepartmentKind::DiseaseControl).await;
        let dir = tempfile::tempdir().unwrap();
        let c = "440307003002";

        // A department sends only its own kinds.
        let refused = linkage.receive(&clinic, FeedKind::Death, "x.csv", Vec::new(), &Settings::default(), today).await;
        assert!(refused.is_err(), "{label}");

        let marriage = vec![format!("MZ-1,{},王芳,女,1996-04-12,440307199604120024,,{c},刘洋,", day(5))];
        let r = send(&linkage, dir.path(), &civil, FeedKind::Marriage, &marriage, today).await;
        assert_eq!((r.received, r.events), (1, 1), "{label}: {r:?}");
        // Sent again: nothing changes.
        let again = send(&linkage, dir.path(), &civil, FeedKind::Marriage, &marriage, today).await;
        assert_eq!((again.received, again.already_received, again.events), (0, 1, 0), "{label}");

        let divorce = vec![format!("MZ-2,{},陈静,女,1988-07-01,44030719880701004X,,{c},,", day(4))];
        assert_eq!(send(&linkage, dir.path(), &civil, FeedKind::Divorce, &divorce, today).await.events, 1, "{label}");
        let deaths = vec![
            format!("MZ-3,{},黄国华,男,1938-01-15,440307193801150014,{c}", day(3)),
            // Nobody of that name lives here: a note for the community, no proposal.
            format!("MZ-4,{},钱无名,男,1950-05-05,,{c}", day(3)),
            // A row that cannot be read: rejected with its reason, kept as received.
            "MZ-5,前天,某人,男,,,".to_string(),
        ];
        let r = send(&linkage, dir.path(), &civil, FeedKind::Death, &deaths, today).await;
        assert_eq!(r.events, 1, "{label}: {r:?}");
        assert_eq!(r.outcomes.get("no_match"), Some(&1), "{label}: {r:?}");
        assert_eq!(r.rejected.len(), 1, "{label}");
        assert!(
            r.rejected[0].2.contains("死亡日期") && r.rejected[0].2.contains("died_on"),
            "{label}: {:?}",
            r.rejected
        );
        let hukou = vec![
            format!("GA-1,迁出,{},周强,男,1990-02-03,440307199002030013,,{c},430700", day(2)),
            // The police report the same death on the same day: a duplicate.
            format!("GA-2,死亡注销,{},黄国华,男,1938-01-15,440307193801150014,,,", day(3)),
        ];
        let r = send(&linkage, dir.path(), &police, FeedKind::HukouChange, &hukou, today).await;
        assert_eq!((r.events, r.outcomes.get("duplicate")), (1, Some(&1)), "{label}: {r:?}");
        let births = vec![format!("YY-1,{},李娜,1995-02-03,440307199502030028,13900139002,,男,,区人民医院", day(1))];
        assert_eq!(send(&linkage, dir.path(), &hospital, FeedKind::HospitalBirth, &births, today).await.events, 1);
        // A vaccination of a child already recorded confirms them; nothing to propose.
        let shots = vec![format!("JZ-1,{},孙小雨,女,{child_born},,{c},孙伟,13700137003,接种门诊", day(1))];
        let r = send(&linkage, dir.path(), &clinic, FeedKind::Vaccination, &shots, today).await;
        assert_eq!((r.outcomes.get("matched"), r.events), (Some(&1), 0), "{label}: {r:?}");
        let confirmed = event_of(&linkage, FeedKind::Vaccination, FeedOutcome::Matched).await;
        assert_eq!(confirmed[0].person_id, Some(sun), "{label}");
        // A school entry of the same child confirms her too.
        let school = department(&linkage, "JY", DepartmentKind::Education).await;
        let entry = vec![format!("JY-1,{},孙小雨,女,{child_born},,{c},孙伟,13700137003,区实验小学", day(0))];
        let r = send(&linkage, dir.path(), &school, FeedKind::SchoolEntry, &entry, today).await;
        assert_eq!((r.outcomes.get("matched"), r.events), (Some(&1), 0), "{label}: {r:?}");
        let entered = event_of(&linkage, FeedKind::SchoolEntry, FeedOutcome::Matched).await;
        assert!(entered[0].reason.as_deref().is_some_and(|r| r.contains("confirms")), "{label}: {entered:?}");

        // Every proposal goes up the chain; only acceptance changes the registry.
        for kind in
            [FeedKind::Marriage, FeedKind::Divorce, FeedKind::Death, FeedKind::HukouChange, FeedKind::HospitalBirth]
        {
            for record in event_of(&linkage, kind, FeedOutcome::Matched).await {
                let event = record.event_id.unwrap_or_else(|| panic!("{label}: {kind:?} without event: {record:?}"));
                accept(store, event, today).await;
            }
        }
        let county = code("440307");
        let now = |id| registry.resident(&county, id);
        assert_eq!(now(wang).await.unwrap().unwrap().facts.marital_status, MaritalStatus::Married, "{label}");
        assert_eq!(now(chen).await.unwrap().unwrap().facts.marital_status, MaritalStatus::Divorced, "{label}");
        assert!(now(zhou).await.unwrap().is_none(), "{label}: moved out");
        assert!(now(huang).await.unwrap().is_none(), "{label}: died");
        let members = registry.household_members(&code("440307"), homes[3]).await.unwrap();
        let baby = members.iter().find(|m| m.resident_id != li).expect("the newborn");
        assert_eq!((baby.facts.name.as_str(), baby.facts.sex), ("李娜之子", Sex::Male), "{label}");

        // Received records stay as they came.
        let rejected = event_of(&linkage, FeedKind::Death, FeedOutcome::Rejected).await;
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].cells.iter().any(|(h, v)| h == "死亡日期" && v == "前天"), "{label}");
        db.finish().await;
    }
}

#[tokio::test]
async fn a_possible_match_waits_for_a_reviewer_who_accepts_it() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = date!(2015 - 01 - 01);
        let world = World::new(store, "2栋", 3, 1).await;
        neighbours(&world, 150).await;
        // Two women of the same name born the same day, no ID numbers: a reviewer decides.
        let mut people = Vec::new();
        for room in ["101", "201"] {
            let home = world.household(&format!("P{room}"), &world.location(1, 1, room), long_ago).await;
            people.push(world.resident(&person("李娜", Sex::Female, date!(1995 - 02 - 03), home), long_ago).await);
        }
        let admin = crate::Caller::local("admin");
        let linkage = store.linkage_by(&admin);
        let civil = department(&linkage, "MZ", DepartmentKind::CivilAffairs).await;
        let dir = tempfile::tempdir().unwrap();
        let row = format!("MZ-9,{},李娜,女,1995-02-03,,,440307003002,王强,", today - Duration::days(2));
        let r = send(&linkage, dir.path(), &civil, FeedKind::Marriage, &[row], today).await;
        assert_eq!((r.outcomes.get("possible"), r.events), (Some(&1), 0), "{label}: {r:?}");
        let waiting =
            linkage.records(&code("440307003002"), Some(FeedOutcome::Possible), FeedKind::ALL, 10).await.unwrap();
        assert_eq!(waiting.len(), 1, "{label}");
        let item = linkage.review_item(&code("440307"), waiting[0].id).await.unwrap();
        assert_eq!(item.candidates.len(), 2, "{label}");
        let name = &item.candidates[0].evidence[jiceng_domain::linkage::Field::Name.index()];
        assert!(name.weight > 0.0 && name.level_en.contains("exact"), "{label}: {name:?}");
        let missing = &item.candidates[0].evidence[jiceng_domain::linkage::Field::IdNumber.index()];
        assert_eq!(missing.weight, 0.0, "{label}: a missing ID number is no evidence");
        // Only a candidate can be chosen.
        assert!(
            linkage
                .decide_possible(&code("440307"), waiting[0].id, Some(Uuid::now_v7()), SPECIALIST, today)
                .await
                .is_err()
        );
        let event = linkage
            .decide_possible(&code("440307"), waiting[0].id, Some(people[1]), SPECIALIST, today)
            .await
            .unwrap()
            .expect("a marriage proposed");
        let decided = linkage.incoming(&code("440307"), waiting[0].id).await.unwrap();
        assert_eq!((decided.outcome, decided.person_id), (FeedOutcome::Matched, Some(people[1])), "{label}");
        assert_eq!(decided.event_id, Some(event));
        // Decided once: a second decision is refused.
        assert!(linkage.decide_possible(&code("440307"), waiting[0].id, None, SPECIALIST, today).await.is_err());
        accept(store, event, today).await;
        let now = store.registry().resident(&code("440307"), people[1]).await.unwrap().unwrap();
        assert_eq!(now.facts.marital_status, MaritalStatus::Married, "{label}");
        let table = linkage.threshold_table(&code("440307")).await.unwrap();
        assert!(table.iter().all(|r| r.decisions == 1), "{label}");
        // The decision trains the next model.
        let report = linkage.train(&code("440307"), &settings()).await.unwrap();
        assert_eq!((report.records, report.decisions), (1, 1), "{label}");
        db.finish().await;
    }
}

#[tokio::test]
async fn tokens_are_kept_as_digests_and_a_revoked_one_is_refused() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        testing::load_county(store, "440307").await;
        let admin = crate::Caller::local("admin");
        let linkage = store.linkage_by(&admin);
        let school = department(&linkage, "JY", DepartmentKind::Education).await;
        assert_eq!(school.feeds, vec![FeedKind::SchoolEntry]);
        let (token_id, token) = linkage.create_token(&school, "教育局接口").await.unwrap();
        assert_eq!(linkage.authenticate(&token).await.unwrap().map(|d| d.id), Some(school.id), "{label}");
        assert_eq!(linkage.authenticate("jcf_0000").await.unwrap(), None);
        let listed = linkage.tokens(&school).await.unwrap();
        assert_eq!((listed.len(), listed[0].revoked_at), (1, None), "{label}");
        // Only the digest is stored.
        use sea_orm::ConnectionTrait;
        let rows = store
            .db
            .query_all(&sea_orm::sea_query::Query::select().column("digest").from("feed_token").to_owned())
            .await
            .unwrap();
        let digest: String = rows[0].try_get("", "digest").unwrap();
        assert!(!digest.contains(&token[4..]) && digest.len() == 64, "{label}");
        linkage.revoke_token(&school, token_id).await.unwrap();
        assert_eq!(linkage.authenticate(&token).await.unwrap(), None, "{label}: revoked");
        assert!(linkage.revoke_token(&school, token_id).await.is_err(), "{label}: revoked once");
        // Codes are unique in a county.
        let again = linkage
            .register_department(&NewDepartment {
                code: "JY".into(),
                name: "another".into(),
                kind: DepartmentKind::Education,
                region: code("440307"),
                feeds: Vec::new(),
            })
            .await;
        assert!(again.is_err(), "{label}");
        db.finish().await;
    }
}

/// A second month's feed reuses the county's registry side: it is refreshed with the
/// residents recorded since (a newcomer is found, one who left is not), not rebuilt.
#[tokio::test]
async fn a_new_months_feed_reuses_the_registry_side_with_what_changed() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = date!(2015 - 01 - 01);
        let world = World::new(store, "3栋", 3, 1).await;
        neighbours(&world, 100).await;
        let home = world.household("Q101", &world.location(1, 1, "101"), long_ago).await;
        let wang = jiceng_domain::registry::ResidentFacts {
            identity: id("440307199604120024"),
            ..person("王芳", Sex::Female, date!(1996 - 04 - 12), home)
        };
        world.resident(&wang, long_ago).await;
        let admin = crate::Caller::local("admin");
        let linkage = store.linkage_by(&admin);
        let civil = department(&linkage, "MZ", DepartmentKind::CivilAffairs).await;
        let dir = tempfile::tempdir().unwrap();
        let c = "440307003002";
        let first = vec![format!("MZ-1,{},王芳,女,1996-04-12,440307199604120024,,{c},,", today - Duration::days(9))];
        assert_eq!(
            send(&linkage, dir.path(), &civil, FeedKind::Marriage, &first, today).await.outcomes.get("matched"),
            Some(&1)
        );
        let county = code("440307");
        let before = linkage.index_stats(&county).await.unwrap();
        assert_eq!((before.builds, before.refreshes), (1, 0), "{label}");

        // A newcomer recorded after the first month.
        let zhou = jiceng_domain::registry::ResidentFacts {
            identity: id("440307199002030013"),
            relationship: Relationship::Other,
            ..person("周强", Sex::Male, date!(1990 - 02 - 03), home)
        };
        world.resident(&zhou, today - Duration::days(1)).await;
        let second = vec![format!("MZ-2,{},周强,男,1990-02-03,440307199002030013,,{c},,", today)];
        let r = send(&linkage, dir.path(), &civil, FeedKind::Marriage, &second, today).await;
        assert_eq!(r.outcomes.get("matched"), Some(&1), "{label}: the newcomer is found: {r:?}");
        let after = linkage.index_stats(&county).await.unwrap();
        assert_eq!((after.builds, after.refreshes, after.live), (1, 1, before.live + 1), "{label}");
        db.finish().await;
    }
}
