//! Exchange between two regions in two databases — 龙岗 (440307) on SQLite and 武陵
//! (430702) on PostgreSQL, and back: what one side accepted about the other's
//! registered residents arrives as proposals and notes on the other; a package
//! imported twice changes nothing; damaged, misaddressed, replayed and wrongly signed
//! packages are refused whole; an import killed midway completes when run again; the
//! acknowledgement marks the sender's package.

use std::path::Path;

use jiceng_domain::exchange::package::{Agreement, Refusal, SharedField};
use jiceng_domain::linkage::{FeedKind, FeedOutcome, Settings};
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::{IdNumber, Identity, MaritalStatus, ResidenceStatus, ResidentFacts, Sex};
use jiceng_domain::reporting::{EventAction, EventDetails, EventKind, EventState};
use jiceng_files::exchange::package::{Algorithm, PrivateKey};
use time::macros::date;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Exchange, NewPartner, PackageImportOptions, PackageImportReport};
use crate::reporting::{Actor, NewEvent};
use crate::testing::{self, World, code, person};

const ACTORS: [Actor<'static>; 3] = [
    Actor { username: "spec1", role: Role::Specialist },
    Actor { username: "street1", role: Role::Street },
    Actor { username: "district1", role: Role::District },
];

fn id(area: &str, born: Date, sequence: u16) -> Identity {
    Identity::Number(IdNumber::from_parts(area, born, sequence).unwrap())
}

fn settings() -> Settings {
    Settings { random_pairs: 20_000, ..Settings::default() }
}

/// Reports an event and takes it up the chain to acceptance.
async fn accepted(store: &crate::Store, county: &DivisionCode, event: NewEvent, today: Date) -> Uuid {
    let reporting = store.reporting();
    let id = reporting.submit(&event, Actor { username: "grid1", role: Role::GridWorker }, today).await.unwrap();
    let mut state = reporting.event(county, id).await.unwrap().unwrap().state;
    for actor in ACTORS {
        if state.awaiting() == jiceng_domain::reporting::ReviewLevel::of_role(actor.role) {
            state = reporting.decide(county, id, EventAction::Approve, None, actor, today).await.unwrap();
        }
    }
    assert_eq!(state, EventState::Accepted);
    id
}

/// One side: its store, county, world and key pair.
struct Side<'a> {
    store: &'a crate::Store,
    world: World<'a>,
    key: PrivateKey,
}

impl Side<'_> {
    fn exchange(&self) -> Exchange<'_> {
        self.store.exchange()
    }

    async fn partner_with(&self, other: &Side<'_>, fields: Vec<SharedField>) {
        self.exchange()
            .add_partner(&NewPartner {
                county: self.world.county.clone(),
                partner: other.world.county.clone(),
                name: format!("{}", other.world.county),
                contact_name: "联络员".into(),
                contact_phone: "0736-1234567".into(),
                agreement: Agreement { starts_on: date!(2026 - 01 - 01), ends_on: None, fields, every_months: 6 },
                public_key: other.key.public(),
            })
            .await
            .unwrap();
    }

    async fn export(&self, other: &Side<'_>, dir: &Path, name: &str) -> std::path::PathBuf {
        let partner = self.exchange().partner(&self.world.county, &other.world.county).await.unwrap();
        let out = dir.join(name);
        self.exchange().export(&partner, &self.key, None, OffsetDateTime::now_utc(), &out).await.unwrap();
        out
    }

    async fn import(&self, path: &Path) -> Result<PackageImportReport, Refusal> {
        self.import_with(path, &PackageImportOptions::new("package.jxp", settings(), OffsetDateTime::now_utc())).await
    }

    async fn import_with(&self, path: &Path, options: &PackageImportOptions) -> Result<PackageImportReport, Refusal> {
        self.exchange().import(path, options, &|_, _| {}).await.unwrap()
    }

    async fn incoming(&self, outcome: FeedOutcome, kind: FeedKind) -> usize {
        self.store.linkage().records(&self.world.county, Some(outcome), &[kind], 1000).await.unwrap().len()
    }

    async fn events(&self, kind: EventKind) -> Vec<crate::reporting::ChangeEvent> {
        let states = [EventState::Submitted, EventState::Reviewed, EventState::Confirmed];
        let all = self.store.reporting().queue(&self.world.county, &states, 1000).await.unwrap();
        all.into_iter().filter(|e| e.kind == kind && e.reported_by.starts_with("feed:XZ-")).collect()
    }
}

#[tokio::test]
async fn packages_go_between_sqlite_and_postgresql_and_back() {
    let Some(pg) = testing::postgres().await else {
        testing::skip_or_fail("PostgreSQL", "the exchange test needs a second database");
        return;
    };
    let lite = testing::sqlite().await;
    testing::load_county(&pg.store, "430702").await;
    testing::load_county(&lite.store, "430702").await;
    let today = OffsetDateTime::now_utc().date();
    let long_ago = date!(2015 - 01 - 01);
    let longgang = Side {
        store: &lite.store,
        world: World::new(&lite.store, "1栋", 6, 2).await,
        key: PrivateKey::generate(Algorithm::Ed25519),
    };
    let wuling = Side {
        store: &pg.store,
        world: World::in_community(&pg.store, "430702001004", 1, "5栋", 6, 2).await,
        key: PrivateKey::generate(Algorithm::Sm2),
    };
    longgang.partner_with(&wuling, vec![SharedField::IdNumber, SharedField::Sex, SharedField::BirthDate]).await;
    wuling.partner_with(&longgang, vec![SharedField::IdNumber, SharedField::Sex, SharedField::BirthDate]).await;

    // 武陵's registered residents, some of whom live in 龙岗 now.
    let w = &wuling.world;
    let home = w.household("W1", &w.location(1, 1, "101"), long_ago).await;
    let born_he = date!(1992 - 06 - 18);
    let he_ming = ResidentFacts { identity: id("430702", born_he, 1), ..person("何明", Sex::Male, born_he, home) };
    let he_id = w.resident(&ResidentFacts { registered_residence: code("430702"), ..he_ming.clone() }, long_ago).await;
    let home2 = w.household("W2", &w.location(1, 2, "201"), long_ago).await;
    let born_luo = date!(1940 - 01 - 09);
    let luo = ResidentFacts {
        identity: id("430702", born_luo, 22),
        relationship: jiceng_domain::registry::Relationship::Head,
        ..person("罗秀英", Sex::Female, born_luo, home2)
    };
    // 龙岗 knows her without her ID number: found by the linkage.
    w.resident(&ResidentFacts { registered_residence: code("430702"), ..luo.clone() }, long_ago).await;

    // 龙岗: 何明 arrives from 武陵; 罗秀英 (recorded without her number) dies there;
    // a local birth and death that are nobody else's business.
    let l = &longgang.world;
    let county = l.county.clone();
    let flat = l.household("L1", &l.location(1, 1, "101"), long_ago).await;
    let arrived = today - Duration::days(20);
    let newcomer = ResidentFacts {
        registered_residence: code("430702"),
        residence_status: ResidenceStatus::Inflow,
        arrival_date: Some(arrived),
        ..ResidentFacts { household_id: flat, ..he_ming.clone() }
    };
    accepted(
        longgang.store,
        &county,
        NewEvent {
            county: county.clone(),
            resident_id: None,
            occurred_on: arrived,
            urgent: false,
            evidence: "居住证申领".into(),
            details: EventDetails::MoveIn { newcomer, origin: Some(code("430702")) },
        },
        today,
    )
    .await;
    let flat2 = l.household("L2", &l.location(1, 2, "201"), long_ago).await;
    let luo_here = l
        .resident(
            &ResidentFacts {
                identity: Identity::Missing(jiceng_domain::registry::IdMissingReason::Unknown),
                registered_residence: code("430702"),
                residence_status: ResidenceStatus::Inflow,
                arrival_date: Some(date!(2019 - 03 - 01)),
                household_id: flat2,
                ..luo.clone()
            },
            long_ago,
        )
        .await;
    let died = today - Duration::days(10);
    accepted(
        longgang.store,
        &county,
        NewEvent {
            county: county.clone(),
            resident_id: Some(luo_here),
            occurred_on: died,
            urgent: false,
            evidence: "死亡医学证明".into(),
            details: EventDetails::Death,
        },
        today,
    )
    .await;
    let local = l.resident(&person("本地人", Sex::Male, date!(1980 - 01 - 01), flat2), long_ago).await;
    accepted(
        longgang.store,
        &county,
        NewEvent {
            county: county.clone(),
            resident_id: Some(local),
            occurred_on: died,
            urgent: false,
            evidence: "死亡医学证明".into(),
            details: EventDetails::Death,
        },
        today,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let first = longgang.export(&wuling, dir.path(), "longgang-1.jxp").await;

    // Refused whole: one flipped byte, the wrong receiver, a wrong key.
    let bytes = std::fs::read(&first).unwrap();
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x10;
    let damaged = dir.path().join("damaged.jxp");
    std::fs::write(&damaged, &flipped).unwrap();
    assert!(wuling.import(&damaged).await.is_err());
    assert!(matches!(longgang.import(&first).await, Err(Refusal::Misaddressed { .. })));

    // Applied: 何明's arrival proposes 流出人口 for him; 罗秀英's death is linked
    // without an ID number; the local death was never sent.
    let report = wuling.import(&first).await.unwrap();
    // Two changes, and the roster: 何明 lives in 龙岗 now.
    assert_eq!((report.records, report.roster), (3, 1), "{report:?}");
    assert_eq!((report.received, report.refused), (2, 0), "{report:?}");
    assert_eq!(report.events, 2, "{report:?}");
    let status = wuling.events(EventKind::StatusChange).await;
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].resident_id, Some(he_id));
    assert_eq!(wuling.events(EventKind::Death).await.len(), 1);
    // Twice: nothing changes.
    let again = wuling.import(&first).await.unwrap();
    assert!(again.already_applied);
    assert_eq!(wuling.events(EventKind::Death).await.len(), 1);
    assert_eq!(wuling.incoming(FeedOutcome::Matched, FeedKind::Death).await, 1);

    // The acknowledgement marks 龙岗's package delivered.
    let w_partner = wuling.exchange().partner(&wuling.world.county, &county).await.unwrap();
    let ack = dir.path().join("ack.jxp");
    let written =
        wuling.exchange().acknowledge(&w_partner, None, &wuling.key, OffsetDateTime::now_utc(), &ack).await.unwrap();
    assert!(written.is_some());
    let applied = longgang.import(&ack).await.unwrap();
    assert_eq!((applied.delivered, applied.refused), (3, 0));
    // The half-yearly reconciliation: 武陵 was told he arrived, and 龙岗 lists him.
    let reconciled = wuling.exchange().reconcile(&w_partner).await.unwrap();
    let both: Vec<&str> = reconciled
        .rows
        .iter()
        .filter(|r| r.difference == jiceng_domain::exchange::reconciliation::Difference::Both)
        .map(|r| r.person().unwrap().name.as_str())
        .collect();
    assert_eq!(both, vec!["何明"]);
    assert_eq!(reconciled.rows.len(), 1);
    let status = longgang.exchange().partner_statuses(today).await.unwrap();
    assert_eq!(status[0].last_sent.as_ref().map(|p| p.state.as_str()), Some("acknowledged"));

    // Replayed: package 3 applied, then package 2 (older) is refused.
    let second = longgang.export(&wuling, dir.path(), "longgang-2.jxp").await;
    let third = longgang.export(&wuling, dir.path(), "longgang-3.jxp").await;
    // Nothing new since the first: the ten minutes of overlap send its two changes again
    // (seen before: nothing changes) and the roster.
    let latest = wuling.import(&third).await.unwrap();
    assert_eq!((latest.records, latest.received, latest.already_received, latest.roster), (3, 0, 2, 1), "{latest:?}");
    assert!(matches!(wuling.import(&second).await, Err(Refusal::Replayed { sequence: 2, last: 3, .. })));

    // A key the partner did not register.
    let forged = PrivateKey::generate(Algorithm::Ed25519);
    let l_partner = longgang.exchange().partner(&county, &wuling.world.county).await.unwrap();
    let wrong = dir.path().join("wrong-key.jxp");
    longgang.exchange().export(&l_partner, &forged, None, OffsetDateTime::now_utc(), &wrong).await.unwrap();
    assert!(matches!(wuling.import(&wrong).await, Err(Refusal::WrongKey { .. })));
    // Expired: a package imported after its validity.
    let fourth = longgang.export(&wuling, dir.path(), "longgang-4.jxp").await;
    let late = PackageImportOptions::new("late.jxp", settings(), OffsetDateTime::now_utc() + Duration::days(120));
    assert!(matches!(wuling.import_with(&fourth, &late).await, Err(Refusal::Expired(_))));
    let status = wuling.exchange().partner_statuses(today).await.unwrap();
    assert!(status[0].last_refusal.is_some());

    // And back: 林海, registered in 龙岗, lives in 武陵 now.
    let born_lin = date!(1985 - 03 - 03);
    let lin_facts = ResidentFacts {
        identity: id("440307", born_lin, 15),
        marital_status: MaritalStatus::Married,
        ..person("林海", Sex::Male, born_lin, flat)
    };
    let lin = l.resident(&lin_facts, long_ago).await;
    let w_flat = w.household("W3", &w.location(1, 3, "301"), long_ago).await;
    let w_county = w.county.clone();
    accepted(
        wuling.store,
        &w_county,
        NewEvent {
            county: w_county.clone(),
            resident_id: None,
            occurred_on: arrived,
            urgent: false,
            evidence: "居住登记".into(),
            details: EventDetails::MoveIn {
                newcomer: ResidentFacts {
                    household_id: w_flat,
                    residence_status: ResidenceStatus::Inflow,
                    arrival_date: Some(arrived),
                    ..lin_facts.clone()
                },
                origin: Some(code("440307")),
            },
        },
        today,
    )
    .await;
    let back = wuling.export(&longgang, dir.path(), "wuling-1.jxp").await;
    let report = longgang.import(&back).await.unwrap();
    assert_eq!((report.records, report.events, report.roster), (2, 1, 1), "{report:?}");
    let proposed = longgang.events(EventKind::StatusChange).await;
    assert_eq!(proposed.iter().map(|e| e.resident_id).collect::<Vec<_>>(), vec![Some(lin)]);
    lite.finish().await;
    pg.finish().await;
}

/// An import stopped midway (its task dropped, as a killed process leaves it) is
/// completed by running it again, and applies every record once.
#[tokio::test]
async fn an_interrupted_import_resumes() {
    for db in testing::backends().await {
        let label = db.label;
        let store = &db.store;
        testing::load_county(store, "430702").await;
        let today = OffsetDateTime::now_utc().date();
        let long_ago = date!(2015 - 01 - 01);
        // Both sides in one database: two counties.
        let longgang =
            Side { store, world: World::new(store, "1栋", 6, 2).await, key: PrivateKey::generate(Algorithm::Ed25519) };
        let wuling = Side {
            store,
            world: World::in_community(store, "430702001004", 1, "5栋", 6, 2).await,
            key: PrivateKey::generate(Algorithm::Ed25519),
        };
        longgang.partner_with(&wuling, vec![SharedField::IdNumber]).await;
        wuling.partner_with(&longgang, vec![SharedField::IdNumber]).await;
        let l = &longgang.world;
        let county = l.county.clone();
        let mut moved = 0;
        for i in 0..12u16 {
            let flat =
                l.household(&format!("M{i}"), &l.location(1, 1 + (i % 6) as i16, &format!("{i}")), long_ago).await;
            let born = date!(1990 - 01 - 01) + Duration::days(i64::from(i) * 40);
            let arrived = today - Duration::days(30);
            let facts = ResidentFacts {
                identity: id("430702", born, 101 + 2 * i),
                registered_residence: code("430702"),
                residence_status: ResidenceStatus::Inflow,
                arrival_date: Some(arrived),
                ..person(
                    &format!(
                        "迁入者{}",
                        ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸", "子", "丑"][i as usize]
                    ),
                    Sex::Male,
                    born,
                    flat,
                )
            };
            accepted(
                store,
                &county,
                NewEvent {
                    county: county.clone(),
                    resident_id: None,
                    occurred_on: arrived,
                    urgent: false,
                    evidence: "居住证".into(),
                    details: EventDetails::MoveIn { newcomer: facts, origin: None },
                },
                today,
            )
            .await;
            moved += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let package = longgang.export(&wuling, dir.path(), "p.jxp").await;
        let options = PackageImportOptions {
            chunk: 3,
            ..PackageImportOptions::new("p.jxp", settings(), OffsetDateTime::now_utc())
        };
        let (seen, mut watch) = tokio::sync::watch::channel(0u64);
        let exchange = wuling.exchange();
        let progress = move |applied: u64, _: u64| {
            let _ = seen.send(applied);
        };
        tokio::select! {
            done = exchange.import(&package, &options, &progress) => panic!("{label}: the import should be stopped: {done:?}"),
            _ = watch.wait_for(|applied| *applied >= 6) => {}
        }
        let report = wuling.import_with(&package, &options).await.unwrap();
        assert!(report.resumed_from >= 6, "{label}: {report:?}");
        assert_eq!(report.records, 2 * moved, "{label}: every arrival and the roster");
        let all = store.linkage().records(&wuling.world.county, None, &[FeedKind::Residence], 100).await.unwrap();
        assert_eq!(all.len() as u64, moved, "{label}: every record once");
        assert!(wuling.import(&package).await.unwrap().already_applied, "{label}");
        db.finish().await;
    }
}
