//! Follow-up tiers on SQLite and PostgreSQL: assessed from stability and freshness,
//! lowered by a verification, untouched by forbidden attributes, overridden only with
//! a reason, every change listed.

use jiceng_domain::fieldwork::{Housing, RecordedStability, Tier, TierRules, VerificationMethod, Work};
use jiceng_domain::registry::{
    IdMissingReason, Identity, MaritalStatus, PersonName, Relationship, ResidenceStatus, ResidentFacts, Sex,
};
use time::{Duration, OffsetDateTime};

use crate::testing::{self, World, code, person};

#[tokio::test]
async fn tiers_follow_stability_and_freshness_only() {
    for db in testing::backends().await {
        let label = db.label;
        let fieldwork = db.store.fieldwork();
        let world = World::new(&db.store, "1栋", 6, 1).await;
        let (county, community) = (world.county.clone(), world.community.clone());
        let location = world.location(1, 3, "302");
        let today = OffsetDateTime::now_utc().date();
        let arrived = today - Duration::days(60);
        let household = fieldwork.registry().create_household(&county, "T1", &location, arrived, "t").await.unwrap();
        let facts = ResidentFacts {
            identity: Identity::Missing(IdMissingReason::Unknown),
            registered_residence: code("450102"),
            residence_status: ResidenceStatus::Inflow,
            arrival_date: Some(arrived),
            ..person("钱多多", Sex::Male, time::macros::date!(1995 - 02 - 03), household)
        };
        let id = fieldwork.registry().add_resident(&county, &facts, arrived, "t").await.unwrap();
        let summary = fieldwork.reassess_community(&community, today).await.unwrap();
        assert_eq!((summary.residents, summary.changed), (1, 1), "{label}");
        // Nothing recorded, new, never verified: close follow-up.
        let first = fieldwork.resident_tier(&county, id).await.unwrap().unwrap();
        assert_eq!(first.effective(), Tier::Concern, "{label}: {:?}", first.assessment.reasons);

        // Stable housing and work, the phone answers, verified today: reassured.
        let stable =
            RecordedStability { housing: Housing::Owned, work: Work::FixedEmployer, phone_answered: Some(true) };
        fieldwork.record_stability(&county, id, stable, today).await.unwrap();
        assert_eq!(fieldwork.resident_tier(&county, id).await.unwrap().unwrap().effective(), Tier::Attention);
        fieldwork.record_verification(&county, id, today, VerificationMethod::InPerson).await.unwrap();
        let now = fieldwork.resident_tier(&county, id).await.unwrap().unwrap();
        assert_eq!(now.effective(), Tier::Reassured, "{label}: {:?}", now.assessment.reasons);

        // Marriage, a child in the household, another age: the tier does not move.
        let married = ResidentFacts {
            marital_status: MaritalStatus::Married,
            sex: Sex::Female,
            birth_date: time::macros::date!(1960 - 01 - 01),
            ..facts.clone()
        };
        fieldwork.registry().record_resident_change(&county, id, &married, today, "t").await.unwrap();
        let child = ResidentFacts {
            name: PersonName::parse("钱小宝").unwrap(),
            birth_date: today - Duration::days(1),
            relationship: Relationship::Son,
            arrival_date: None,
            ..facts.clone()
        };
        fieldwork.registry().add_resident(&county, &child, today - Duration::days(1), "t").await.unwrap();
        let again = fieldwork.reassess_community(&community, today).await.unwrap();
        assert_eq!(fieldwork.resident_tier(&county, id).await.unwrap().unwrap().assessment, now.assessment, "{label}");
        assert_eq!(again.residents, 2);

        // An override needs a reason; it is listed with the other changes.
        assert!(fieldwork.override_tier(&county, id, Some(Tier::Concern), "  ", today).await.is_err());
        fieldwork.override_tier(&county, id, Some(Tier::Concern), "房东反映近期将搬走", today).await.unwrap();
        let t = fieldwork.resident_tier(&county, id).await.unwrap().unwrap();
        assert_eq!(t.effective(), Tier::Concern);
        assert_eq!(t.assessment.tier, Tier::Reassured, "the rules' own answer is kept beside the override");
        let changes = fieldwork.tier_changes(&community, 10).await.unwrap();
        assert!(changes.iter().any(|c| c.cause.contains("房东反映")), "{label}: {changes:?}");
        let counts = fieldwork.tier_counts(&community).await.unwrap();
        assert!(counts.contains(&(Tier::Concern, 2)), "{label}: {counts:?}");
        fieldwork.override_tier(&county, id, None, "", today).await.unwrap();
        assert_eq!(fieldwork.resident_tier(&county, id).await.unwrap().unwrap().effective(), Tier::Reassured);

        // New rules are a new version; a bad one is refused.
        let mut rules = TierRules { reassured_max: 0, ..TierRules::default() };
        assert_eq!(fieldwork.set_tier_rules(&rules).await.unwrap(), 2, "{label}");
        rules.attention_max = 0;
        assert!(fieldwork.set_tier_rules(&rules).await.is_err());
        assert_eq!(fieldwork.tier_rules().await.unwrap().version, 2);
        db.assert_floor_counts("440307", "after assessments and an override").await;
        db.finish().await;
    }
}
