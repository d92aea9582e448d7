//! 放心/关心/挂心: each resident's follow-up tier, computed by the versioned rules from
//! housing, work, phone, arrival and last verification only; overrides with a reason;
//! the list of changes.

use std::collections::{HashMap, HashSet};

use jiceng_domain::fieldwork::{Assessment, Housing, RecordedStability, StabilityFacts, Tier, TierRules, Work};
use jiceng_domain::org::DivisionCode;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::Fieldwork;
use crate::error::{StoreError, StoreResult, decode, decode_opt};
use crate::read_rows;
use crate::registry::rows::resident_row;
use crate::registry::{ResidentVersion, current_resident, resident_select, subtree};
use crate::write::UnitOfWork;
use jiceng_domain::org::audit::AuditAction;

/// A resident's tier as stored: the rules' assessment and any override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentTier {
    pub assessment: Assessment,
    /// A staff member's choice instead of the rules', with the reason and who made it.
    pub overridden: Option<(Tier, String, String)>,
    pub computed_at: OffsetDateTime,
}

impl ResidentTier {
    pub fn effective(&self) -> Tier {
        self.overridden.as_ref().map(|o| o.0).unwrap_or(self.assessment.tier)
    }
}

/// One change of a resident's tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    pub county: DivisionCode,
    pub resident_id: Uuid,
    pub from: Option<Tier>,
    pub to: Tier,
    pub at: OffsetDateTime,
    pub cause: String,
}

/// What a reassessment did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassessSummary {
    pub residents: u64,
    pub changed: u64,
}

impl std::ops::AddAssign for ReassessSummary {
    fn add_assign(&mut self, o: Self) {
        self.residents += o.residents;
        self.changed += o.changed;
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn current_rules(db: &impl ConnectionTrait) -> StoreResult<TierRules> {
    let q = Query::select().column("rules").from("tier_rules").order_by("version", Order::Desc).limit(1).to_owned();
    match db.query_one(&q).await? {
        Some(row) => {
            let text: String = row.try_get("", "rules")?;
            decode("tier_rules", "rules", &text, |t| serde_json::from_str::<TierRules>(t))
        }
        None => Ok(TierRules::default()),
    }
}

/// What `resident_stability` records of a resident, as [`stability_row`] reads it.
const STABILITY_FACTS: [&str; 3] = ["housing", "work", "phone_answered"];
/// Every column of `resident_stability`: the resident's key, the facts, who and when.
const STABILITY_COLUMNS: [&str; 7] =
    ["county_code", "resident_id", "housing", "work", "phone_answered", "recorded_at", "recorded_by"];

fn stability_row(r: &sea_orm::QueryResult) -> StoreResult<RecordedStability> {
    let housing: String = r.try_get("", "housing")?;
    let work: String = r.try_get("", "work")?;
    Ok(RecordedStability {
        housing: decode_opt("resident_stability", "housing", &housing, Housing::from_key)?,
        work: decode_opt("resident_stability", "work", &work, Work::from_key)?,
        phone_answered: r.try_get("", "phone_answered")?,
    })
}

/// The columns of a tier change, as every writer of one gives them.
const TIER_CHANGE_COLUMNS: [&str; 8] =
    ["id", "county_code", "resident_id", "community_code", "from_tier", "to_tier", "at", "cause"];

/// Assessments stored per statement (eight columns of `resident_tier` each).
const ASSESSMENTS_PER_STATEMENT: usize = 200;

/// Writes residents' assessments (each with the tier stored before, if any), and a tier
/// change for each whose tier changed: a few multi-row statements, not two per person
/// (a county's nightly reassessment is millions of rows; one round trip each was most
/// of its time on PostgreSQL).
async fn store_assessments(
    db: &impl ConnectionTrait,
    assessed: &[(&ResidentVersion, Assessment, Option<Tier>)],
    cause: &str,
) -> StoreResult<()> {
    let now = OffsetDateTime::now_utc();
    for chunk in assessed.chunks(ASSESSMENTS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table("resident_tier").columns([
            "county_code",
            "resident_id",
            "community_code",
            "tier",
            "points",
            "reasons",
            "rules_version",
            "computed_at",
        ]);
        for (resident, assessment, _) in chunk {
            let reasons = serde_json::to_string(&assessment.reasons).map_err(|e| StoreError::Invalid(e.to_string()))?;
            insert.values_panic([
                resident.county.as_str().into(),
                resident.resident_id.into(),
                resident.community.as_str().into(),
                assessment.tier.key().into(),
                (assessment.points as i32).into(),
                reasons.into(),
                (assessment.rules_version as i32).into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["county_code", "resident_id"])
                .update_columns(["community_code", "tier", "points", "reasons", "rules_version", "computed_at"])
                .to_owned(),
        );
        db.execute(&insert).await?;
        let changed: Vec<_> = chunk.iter().filter(|(_, a, previous)| *previous != Some(a.tier)).collect();
        if changed.is_empty() {
            continue;
        }
        let mut insert = Query::insert();
        insert.into_table("tier_change").columns(TIER_CHANGE_COLUMNS);
        for (resident, assessment, previous) in changed {
            insert.values_panic([
                Uuid::now_v7().into(),
                resident.county.as_str().into(),
                resident.resident_id.into(),
                resident.community.as_str().into(),
                previous.map(|t| t.key()).into(),
                assessment.tier.key().into(),
                now.into(),
                cause.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Reassesses one resident inside a caller's transaction (after a verification or a
/// change of what is recorded about their housing, work or phone).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn reassess_in(
    work: &mut UnitOfWork,
    resident: &ResidentVersion,
    today: Date,
    cause: &str,
) -> StoreResult<Tier> {
    let txn = &work.txn;
    let rules = current_rules(txn).await?;
    let key = |q: &mut sea_orm::sea_query::SelectStatement| {
        q.and_where(Expr::col("county_code").eq(resident.county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident.resident_id));
    };
    let mut q = Query::select();
    q.columns(STABILITY_FACTS).from("resident_stability");
    key(&mut q);
    let recorded = txn.query_one(&q).await?.map(|r| stability_row(&r)).transpose()?;
    let mut q = Query::select();
    q.column("last_verified_on")
        .from("resident")
        .and_where(Expr::col("county_code").eq(resident.county.as_str()))
        .and_where(Expr::col("id").eq(resident.resident_id));
    let last_verified: Option<Date> = match txn.query_one(&q).await? {
        Some(r) => r.try_get("", "last_verified_on")?,
        None => None,
    };
    let mut q = Query::select();
    q.column("tier").from("resident_tier");
    key(&mut q);
    let previous = match txn.query_one(&q).await? {
        Some(r) => {
            let t: String = r.try_get("", "tier")?;
            Tier::from_key(&t)
        }
        None => None,
    };
    let assessment = rules.assess(&StabilityFacts::of(&resident.facts, recorded, last_verified), today);
    let tier = assessment.tier;
    store_assessments(txn, &[(resident, assessment, previous)], cause).await?;
    work.changes.tiers_of.insert((resident.county.clone(), resident.resident_id));
    Ok(tier)
}

impl Fieldwork<'_> {
    /// The rules in force (the newest version; the defaults before any is stored).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn tier_rules(&self) -> StoreResult<TierRules> {
        current_rules(&self.store.db).await
    }

    /// Stores new rules as the next version; returns the version number.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_tier_rules(&self, rules: &TierRules) -> StoreResult<u32> {
        let by: &str = &self.caller.username;
        rules.check().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let version = current_rules(txn).await?.version + 1;
        let rules = TierRules { version, ..rules.clone() };
        let text = serde_json::to_string(&rules).map_err(|e| StoreError::Invalid(e.to_string()))?;
        txn.execute(
            Query::insert()
                .into_table("tier_rules")
                .columns(["version", "rules", "created_at", "created_by"])
                .values_panic([(version as i32).into(), text.into(), OffsetDateTime::now_utc().into(), by.into()]),
        )
        .await?;
        work.commit(self.entry(AuditAction::Configure, format!("tier_rules/{version}"), "", String::new())).await?;
        Ok(version)
    }

    /// What is recorded about the resident's housing, work and phone.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn stability(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Option<RecordedStability>> {
        if self.registry().resident(county, resident_id).await?.is_none() {
            return Ok(None);
        }
        let mut q = Query::select();
        q.columns(STABILITY_FACTS)
            .from("resident_stability")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id));
        self.store.db.query_one(&q).await?.map(|r| stability_row(&r)).transpose()
    }

    /// Records housing, work and phone, and reassesses the resident's tier at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_stability(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        stability: RecordedStability,
        today: Date,
    ) -> StoreResult<Tier> {
        let by: &str = &self.caller.username;
        let mut work = UnitOfWork::begin(self.store).await?;
        let current = current_resident(&work.txn, county, resident_id).await?;
        self.require_scope(&current.community, "居民 / resident")?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("resident_stability")
                    .columns(STABILITY_COLUMNS)
                    .values_panic([
                        county.as_str().into(),
                        resident_id.into(),
                        stability.housing.key().into(),
                        stability.work.key().into(),
                        stability.phone_answered.into(),
                        OffsetDateTime::now_utc().into(),
                        by.into(),
                    ])
                    .on_conflict(
                        OnConflict::columns(["county_code", "resident_id"])
                            .update_columns(STABILITY_COLUMNS[2..].iter().copied())
                            .to_owned(),
                    ),
            )
            .await?;
        let tier = reassess_in(&mut work, &current, today, "stability").await?;
        let entry = self.change_entry(
            format!("resident/{county}/{resident_id}"),
            county,
            format!("stability, tier {}", tier.key()),
        );
        work.commit(entry).await?;
        Ok(tier)
    }

    /// The resident's stored tier, if assessed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resident_tier(&self, county: &DivisionCode, resident_id: Uuid) -> StoreResult<Option<ResidentTier>> {
        if self.registry().resident(county, resident_id).await?.is_none() {
            return Ok(None);
        }
        let mut q = Query::select();
        q.columns([
            "tier",
            "points",
            "reasons",
            "rules_version",
            "computed_at",
            "override_tier",
            "override_reason",
            "override_by",
        ])
        .from("resident_tier")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("resident_id").eq(resident_id));
        let Some(r) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let tier: String = r.try_get("", "tier")?;
        let reasons: String = r.try_get("", "reasons")?;
        let points: i32 = r.try_get("", "points")?;
        let version: i32 = r.try_get("", "rules_version")?;
        let override_tier: Option<String> = r.try_get("", "override_tier")?;
        let overridden = match override_tier {
            Some(t) => Some((
                decode_opt("resident_tier", "override_tier", &t, Tier::from_key)?,
                r.try_get::<Option<String>>("", "override_reason")?.unwrap_or_default(),
                r.try_get::<Option<String>>("", "override_by")?.unwrap_or_default(),
            )),
            None => None,
        };
        Ok(Some(ResidentTier {
            assessment: Assessment {
                tier: decode_opt("resident_tier", "tier", &tier, Tier::from_key)?,
                points: points as u32,
                reasons: decode("resident_tier", "reasons", &reasons, |t| serde_json::from_str(t))?,
                rules_version: version as u32,
            },
            overridden,
            computed_at: r.try_get("", "computed_at")?,
        }))
    }

    /// A staff member sets the tier instead of the rules (`None` returns it to the
    /// rules). A reason is required to set one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn override_tier(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
        tier: Option<Tier>,
        reason: &str,
        today: Date,
    ) -> StoreResult<()> {
        let by: &str = &self.caller.username;
        let reason = reason.trim();
        if tier.is_some() && reason.is_empty() {
            return Err(StoreError::Invalid("调整等级须说明原因 / overriding the tier needs a reason".into()));
        }
        let mut work = UnitOfWork::begin(self.store).await?;
        let current = current_resident(&work.txn, county, resident_id).await?;
        self.require_scope(&current.community, "居民 / resident")?;
        let before = reassess_in(&mut work, &current, today, "override").await?;
        let txn = &work.txn;
        txn.execute(
            Query::update()
                .table("resident_tier")
                .value("override_tier", tier.map(|t| t.key()))
                .value("override_reason", tier.map(|_| reason.to_string()))
                .value("override_by", tier.map(|_| by.to_string()))
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("resident_id").eq(resident_id)),
        )
        .await?;
        if let Some(t) = tier.filter(|t| *t != before) {
            txn.execute(Query::insert().into_table("tier_change").columns(TIER_CHANGE_COLUMNS).values_panic([
                Uuid::now_v7().into(),
                county.as_str().into(),
                resident_id.into(),
                current.community.as_str().into(),
                before.key().into(),
                t.key().into(),
                OffsetDateTime::now_utc().into(),
                format!("override: {reason}").into(),
            ]))
            .await?;
        }
        work.changes.tiers_of.insert((county.clone(), resident_id));
        let detail = format!("tier override {}", tier.map(|t| t.key()).unwrap_or("none"));
        work.commit(self.change_entry(format!("resident/{county}/{resident_id}"), county, detail)).await?;
        Ok(())
    }

    /// Reassesses every current resident of one community (the schedule runs this for
    /// each community); residents who left lose their tier row.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reassess_community(&self, community: &DivisionCode, today: Date) -> StoreResult<ReassessSummary> {
        self.require_scope(community, "社区 / community")?;
        let rules = current_rules(&self.store.db).await?;
        let mut work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let mut q = resident_select();
        q.cond_where(crate::registry::subtree(community, "community_code")).and_where(Expr::col("valid_to").is_null());
        let residents: Vec<ResidentVersion> =
            txn.query_all(&q).await?.iter().map(resident_row).collect::<StoreResult<_>>()?;
        // Side tables of the community, keyed by resident.
        let ids: HashSet<Uuid> = residents.iter().map(|r| r.resident_id).collect();
        let mut recorded: HashMap<Uuid, RecordedStability> = HashMap::new();
        let mut verified: HashMap<Uuid, Date> = HashMap::new();
        let mut stored: HashMap<Uuid, Tier> = HashMap::new();
        let county = community.at_level(jiceng_domain::org::DivisionLevel::County).unwrap_or_else(|| community.clone());
        let ids_vec: Vec<Uuid> = ids.iter().copied().collect();
        for chunk in ids_vec.chunks(500) {
            let mut q = Query::select();
            q.column("resident_id")
                .columns(STABILITY_FACTS)
                .from("resident_stability")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("resident_id").is_in(chunk.iter().copied()));
            for r in txn.query_all(&q).await? {
                recorded.insert(r.try_get("", "resident_id")?, stability_row(&r)?);
            }
            let mut q = Query::select();
            q.columns(["id", "last_verified_on"])
                .from("resident")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("id").is_in(chunk.iter().copied()));
            for r in txn.query_all(&q).await? {
                if let Some(d) = r.try_get::<Option<Date>>("", "last_verified_on")? {
                    verified.insert(r.try_get("", "id")?, d);
                }
            }
        }
        let mut q = Query::select();
        q.columns(["resident_id", "tier"])
            .from("resident_tier")
            .cond_where(crate::registry::subtree(community, "community_code"));
        let mut gone = Vec::new();
        for r in txn.query_all(&q).await? {
            let id: Uuid = r.try_get("", "resident_id")?;
            let tier: String = r.try_get("", "tier")?;
            if ids.contains(&id) {
                if let Some(t) = Tier::from_key(&tier) {
                    stored.insert(id, t);
                }
            } else {
                gone.push(id);
            }
        }
        for chunk in gone.chunks(500) {
            txn.execute(
                Query::delete()
                    .from_table("resident_tier")
                    .cond_where(crate::registry::subtree(community, "community_code"))
                    .and_where(Expr::col("resident_id").is_in(chunk.iter().copied())),
            )
            .await?;
        }
        // Their follow-up rows (now under another community) lose the tier too.
        work.changes.tiers_of.extend(gone.iter().map(|id| (county.clone(), *id)));
        let txn = &work.txn;
        let mut summary = ReassessSummary::default();
        let mut assessed = Vec::new();
        for resident in &residents {
            let facts = StabilityFacts::of(
                &resident.facts,
                recorded.get(&resident.resident_id).copied(),
                verified.get(&resident.resident_id).copied(),
            );
            let assessment = rules.assess(&facts, today);
            let previous = stored.get(&resident.resident_id).copied();
            summary.residents += 1;
            if previous == Some(assessment.tier) {
                continue;
            }
            assessed.push((resident, assessment, previous));
            summary.changed += 1;
        }
        store_assessments(txn, &assessed, "reassessed").await?;
        if summary.changed > 0 {
            work.changes.tiers_in.insert(community.clone());
        }
        let detail = format!("reassessed {}, changed {}", summary.residents, summary.changed);
        work.commit(self.change_entry(format!("tiers/{community}"), &county, detail)).await?;
        Ok(summary)
    }

    /// Tier changes under `node`, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn tier_changes(&self, node: &DivisionCode, limit: u64) -> StoreResult<Vec<TierChange>> {
        let mut q = Query::select();
        q.columns(["county_code", "resident_id", "from_tier", "to_tier", "at", "cause"])
            .from("tier_change")
            .cond_where(subtree(node, "community_code"))
            .cond_where(self.in_scope("community_code"))
            .order_by("at", Order::Desc)
            .limit(limit);
        read_rows(&self.store.db, &q, |r| {
            let county: String = r.try_get("", "county_code")?;
            let from: Option<String> = r.try_get("", "from_tier")?;
            let to: String = r.try_get("", "to_tier")?;
            Ok(from_row!(r => TierChange {
                resident_id, at, cause;
                county: decode("tier_change", "county_code", &county, DivisionCode::parse)?,
                from: from.as_deref().and_then(Tier::from_key),
                to: decode_opt("tier_change", "to_tier", &to, Tier::from_key)?,
            }))
        })
        .await
    }

    /// Residents under `node` per tier as it applies (overrides included).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn tier_counts(&self, node: &DivisionCode) -> StoreResult<Vec<(Tier, u64)>> {
        let mut q = Query::select();
        q.expr_as(Expr::cust("COALESCE(override_tier, tier)"), "effective")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .from("resident_tier")
            .cond_where(subtree(node, "community_code"))
            .cond_where(self.in_scope("community_code"))
            .add_group_by([Expr::cust("COALESCE(override_tier, tier)")]);
        let mut out = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            let t: String = r.try_get("", "effective")?;
            let n: i64 = r.try_get("", "n")?;
            out.push((decode_opt("resident_tier", "tier", &t, Tier::from_key)?, n as u64));
        }
        out.sort();
        Ok(out)
    }
}

impl Fieldwork<'_> {
    /// Synthetic housing, work and phone answers for the current residents of a
    /// community (demo and benchmarks): migrants rent and share dormitories more often
    /// than registered residents. Existing answers are kept.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn write_synthetic_stability(&self, community: &DivisionCode, seed: u64) -> StoreResult<u64> {
        use rand::prelude::*;
        let work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let mut q = resident_select();
        q.cond_where(crate::registry::subtree(community, "community_code")).and_where(Expr::col("valid_to").is_null());
        let mut residents: Vec<ResidentVersion> =
            txn.query_all(&q).await?.iter().map(resident_row).collect::<StoreResult<_>>()?;
        // Not by resident_id: the UUIDs are new in every run (same seed, same answers).
        residents.sort_by_cached_key(crate::registry::rows::person_order);
        let code_seed = community.as_str().bytes().fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(code_seed);
        let now = OffsetDateTime::now_utc();
        let mut rows = Vec::with_capacity(residents.len());
        for r in &residents {
            let migrant = r.facts.residence_status == jiceng_domain::registry::ResidenceStatus::Inflow;
            let roll: f64 = rng.random();
            let housing = match (migrant, roll) {
                (false, x) if x < 0.70 => Housing::Owned,
                (false, x) if x < 0.90 => Housing::LongLease,
                (false, x) if x < 0.97 => Housing::ShortRental,
                (false, _) => Housing::Unknown,
                (true, x) if x < 0.10 => Housing::Owned,
                (true, x) if x < 0.40 => Housing::LongLease,
                (true, x) if x < 0.75 => Housing::ShortRental,
                (true, x) if x < 0.95 => Housing::Dormitory,
                (true, x) if x < 0.97 => Housing::NoFixedHousing,
                (true, _) => Housing::Unknown,
            };
            let roll: f64 = rng.random();
            let work = if roll < 0.58 {
                Work::FixedEmployer
            } else if roll < 0.80 {
                Work::SelfEmployed
            } else {
                Work::NoneKnown
            };
            let roll: f64 = rng.random();
            let phone_answered = match (r.facts.phone.is_some(), roll) {
                (false, _) => None,
                (true, x) if x < 0.85 => Some(true),
                (true, x) if x < 0.95 => Some(false),
                (true, _) => None,
            };
            rows.push(vec![
                r.county.as_str().into(),
                r.resident_id.into(),
                housing.key().into(),
                work.key().into(),
                phone_answered.into(),
                now.into(),
                "synthetic".into(),
            ]);
        }
        let written = rows.len() as u64;
        for chunk in rows.chunks(100) {
            let mut insert = Query::insert();
            insert.into_table("resident_stability").columns(STABILITY_COLUMNS);
            for row in chunk {
                insert.values_panic(row.clone());
            }
            insert.on_conflict(OnConflict::columns(["county_code", "resident_id"]).do_nothing().to_owned());
            txn.execute(&insert).await?;
        }
        let county = community.at_level(jiceng_domain::org::DivisionLevel::County).unwrap_or_else(|| community.clone());
        let entry =
            self.change_entry(format!("stability/{community}"), &county, format!("synthetic answers for {written}"));
        work.commit(entry).await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests;
