//! A department's feed received: every record kept as it came, linked to the county's
//! registry with the stored model, and given its outcome — a match proposes its change
//! to the review chain, a possible match waits for a reviewer with its candidates, no
//! match leaves a note (register the person, or tell the partner region), a record seen
//! before is a duplicate, a record that cannot be read is rejected with the reason. The
//! same record sent again (same department, kind and record number) changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiceng_domain::linkage::feed::FieldProblem;
use jiceng_domain::linkage::feed::ResidenceChange;
use jiceng_domain::linkage::{
    Effect, FIELDS, Features, FeedDetails, FeedKind, FeedOutcome, FeedRecord, Field, Gamma, HukouChange, Linker, Model,
    Outcome, Settings,
};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel, Role};
use jiceng_domain::registry::{MaritalStatus, PersonName, ResidenceStatus, Sex};
use jiceng_domain::reporting::{BirthReport, EventDetails, Member, birth_details};
use jiceng_files::linkage::feed::FeedRow;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sha2::Digest;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::registry_side::{Held, features_of};
use super::{Department, Linkage, invalid};
use crate::error::{StoreError, StoreResult, decode_opt};
use crate::read_rows;
use crate::registry::{Registry, current_resident};
use crate::reporting::{Actor, NewEvent, Reporting};
use crate::write::UnitOfWork;

/// Below this many records a batch does not train a model of its own: EM needs pairs
/// enough to tell matches from non-matches. Until a model is trained, m starts from
/// [`Model::initial`] and u is counted on the registry.
pub const MIN_TRAINING_RECORDS: usize = 500;

/// What receiving a feed did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FeedReceipt {
    pub batch_id: Uuid,
    /// Records new to jiceng in this send.
    pub received: u64,
    /// Records sent before (or twice in this send): nothing changed for them.
    pub already_received: u64,
    /// New records by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Change events proposed to the review chain.
    pub events: u64,
    pub pairs_compared: u64,
    /// Whether this batch trained the county's model (the first large batch does).
    pub trained: bool,
    /// Rows refused: line, cells as received, reason.
    #[serde(skip)]
    pub rejected: Vec<(u64, Vec<String>, String)>,
}

/// A record as received, with its outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IncomingRecord {
    pub county: DivisionCode,
    pub id: Uuid,
    pub department_id: Uuid,
    #[serde(serialize_with = "super::feed_key")]
    pub kind: FeedKind,
    pub record_key: String,
    pub source_row: i64,
    /// The cells as received, under their headings (or JSON keys).
    pub cells: Vec<(String, String)>,
    /// What they said, when they could be read.
    pub record: Option<FeedRecord>,
    pub community: Option<String>,
    #[serde(serialize_with = "super::outcome_key")]
    pub outcome: FeedOutcome,
    pub reason: Option<String>,
    pub person_id: Option<Uuid>,
    /// The best candidate's match probability, 0–1.
    pub probability: Option<f64>,
    pub event_id: Option<Uuid>,
    pub duplicate_of: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub decided_by: Option<String>,
}

/// A registry person proposed for a record, with the evidence field by field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Candidate {
    pub person_id: Uuid,
    pub community: String,
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Date,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub probability: f64,
    /// Per field: the level the pair compared at (Chinese, English) and its match
    /// weight (log₂ of m/u: above 0 for, below 0 against).
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evidence {
    pub field_zh: &'static str,
    pub field_en: &'static str,
    pub level_zh: &'static str,
    pub level_en: &'static str,
    pub weight: f64,
}

/// A possible match under review.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReviewItem {
    pub record: IncomingRecord,
    pub candidates: Vec<Candidate>,
}

/// What `jiceng linkage train` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainReport {
    pub county: String,
    pub records: u64,
    pub decisions: u64,
    pub model_id: Uuid,
}

/// One threshold's figures on the decisions made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    /// Decided pairs at or above the threshold that reviewers accepted, of all at or
    /// above it (`None` with none above).
    pub precision: Option<f64>,
    /// Accepted pairs at or above the threshold, of all accepted (`None` with none).
    pub recall: Option<f64>,
    pub decisions: u64,
}

/// The thresholds shown: the usual review and match settings and steps between.
pub const THRESHOLDS: [f64; 9] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95];

/// Precision and recall of each of [`THRESHOLDS`] on `(accepted, probability)` decisions.
pub fn threshold_rows(decisions: &[(bool, f64)]) -> Vec<ThresholdRow> {
    let accepted = decisions.iter().filter(|(a, _)| *a).count();
    THRESHOLDS
        .iter()
        .map(|&t| {
            let above: Vec<bool> = decisions.iter().filter(|(_, p)| *p >= t).map(|(a, _)| *a).collect();
            let true_above = above.iter().filter(|a| **a).count();
            ThresholdRow {
                threshold: t,
                precision: (!above.is_empty()).then(|| true_above as f64 / above.len() as f64),
                recall: (accepted > 0).then(|| true_above as f64 / accepted as f64),
                decisions: decisions.len() as u64,
            }
        })
        .collect()
}

/// The key that makes a record the same record when sent again: the department's
/// record number, or for a row too broken to have one, a digest of its cells.
fn record_key(row: &FeedRow) -> String {
    match &row.record {
        Ok(r) => r.record_no.clone(),
        Err(_) => {
            let mut hash = sha2::Sha256::new();
            for (h, c) in &row.cells {
                hash.update(h.as_bytes());
                hash.update([0]);
                hash.update(c.trim().as_bytes());
                hash.update([0]);
            }
            format!("#{}", &hex::encode(hash.finalize())[..32])
        }
    }
}

fn problems_text(problems: &[FieldProblem]) -> String {
    problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("；")
}

fn gamma_text(g: &Gamma) -> String {
    g.iter().map(|&l| char::from(b'0' + std::cmp::min(l, 9))).collect()
}

fn gamma_of(text: &str) -> Option<Gamma> {
    let bytes = text.as_bytes();
    if bytes.len() != FIELDS.len() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut g = [0u8; 6];
    for (i, b) in bytes.iter().enumerate() {
        g[i] = b - b'0';
    }
    Some(g)
}

fn per_million(p: f64) -> i32 {
    (p.clamp(0.0, 1.0) * 1_000_000.0).round() as i32
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    cells: Vec<(String, String)>,
    record: Option<FeedRecord>,
}

const RECORD_COLUMNS: [&str; 20] = [
    "county_code",
    "id",
    "department_id",
    "kind",
    "record_key",
    "batch_id",
    "source_row",
    "payload",
    "occurred_on",
    "effect",
    "community_code",
    "outcome",
    "reason",
    "person_id",
    "probability",
    "event_id",
    "duplicate_of",
    "received_at",
    "decided_by",
    "decided_at",
];

fn incoming_row(r: &sea_orm::QueryResult) -> StoreResult<IncomingRecord> {
    let county: String = r.try_get("", "county_code")?;
    let kind: String = r.try_get("", "kind")?;
    let outcome: String = r.try_get("", "outcome")?;
    let payload: String = r.try_get("", "payload")?;
    let payload: Payload = serde_json::from_str(&payload).map_err(|_| StoreError::Corrupt {
        table: "incoming_record",
        column: "payload",
        value: payload.clone(),
    })?;
    Ok(IncomingRecord {
        county: decode_opt("incoming_record", "county_code", &county, |c| DivisionCode::parse(c).ok())?,
        id: r.try_get("", "id")?,
        department_id: r.try_get("", "department_id")?,
        kind: decode_opt("incoming_record", "kind", &kind, FeedKind::from_key)?,
        record_key: r.try_get("", "record_key")?,
        source_row: r.try_get("", "source_row")?,
        cells: payload.cells,
        record: payload.record,
        community: r.try_get("", "community_code")?,
        outcome: decode_opt("incoming_record", "outcome", &outcome, FeedOutcome::from_key)?,
        reason: r.try_get("", "reason")?,
        person_id: r.try_get("", "person_id")?,
        probability: r.try_get::<Option<i32>>("", "probability")?.map(|p| f64::from(p) / 1_000_000.0),
        event_id: r.try_get("", "event_id")?,
        duplicate_of: r.try_get("", "duplicate_of")?,
        received_at: r.try_get("", "received_at")?,
        decided_by: r.try_get("", "decided_by")?,
    })
}

/// What linking decided for one new, readable record.
struct Decided {
    outcome: Outcome,
    probability: f64,
    /// Registry indexes and levels of the best candidate and the runner-up.
    best: Option<(u32, Gamma, f64)>,
    runner_up: Option<(u32, Gamma, f64)>,
}

impl Linkage<'_> {
    /// The county's latest model, if one was trained.
    async fn model(&self, county: &DivisionCode) -> StoreResult<Option<Model>> {
        let mut q = Query::select();
        q.column("model")
            .from("linkage_model")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .order_by("trained_at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(1);
        let Some(row) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let text: String = row.try_get("", "model")?;
        serde_json::from_str(&text).map(Some).map_err(|_| StoreError::Corrupt {
            table: "linkage_model",
            column: "model",
            value: "…".into(),
        })
    }

    async fn save_model(
        &self,
        txn: &impl ConnectionTrait,
        county: &DivisionCode,
        model: &Model,
        source: &str,
    ) -> StoreResult<Uuid> {
        let id = Uuid::now_v7();
        let text = serde_json::to_string(model).map_err(|e| StoreError::Internal(format!("model: {e}")))?;
        txn.execute(
            Query::insert()
                .into_table("linkage_model")
                .columns(["county_code", "id", "trained_at", "trained_by", "source", "model"])
                .values_panic([
                    county.as_str().into(),
                    id.into(),
                    OffsetDateTime::now_utc().into(),
                    self.caller.username.to_string().into(),
                    source.into(),
                    text.into(),
                ]),
        )
        .await?;
        Ok(id)
    }

    /// Receives a department's records of `kind` (from a file or an API call named by
    /// `source`): keeps each as received, links the new ones and proposes what they
    /// change. `settings` holds the thresholds (configuration).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn receive(
        &self,
        department: &Department,
        kind: FeedKind,
        source: &str,
        rows: Vec<FeedRow>,
        settings: &Settings,
        today: Date,
    ) -> StoreResult<FeedReceipt> {
        self.require_scope(&department.region, "部门 / department")?;
        department.may_send(kind)?;
        let county = &department.county;
        let mut receipt = FeedReceipt { batch_id: Uuid::now_v7(), ..FeedReceipt::default() };
        // Records sent before are skipped before anything else: nothing about them changes.
        let keyed: Vec<(String, FeedRow)> = rows.into_iter().map(|r| (record_key(&r), r)).collect();
        let mut known: HashSet<String> = HashSet::new();
        for chunk in keyed.chunks(500) {
            let mut q = Query::select();
            q.column("record_key")
                .from("incoming_record")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("department_id").eq(department.id))
                .and_where(Expr::col("kind").eq(kind.key()))
                .and_where(Expr::col("record_key").is_in(chunk.iter().map(|(k, _)| k.clone())));
            for r in self.store.db.query_all(&q).await? {
                known.insert(r.try_get("", "record_key")?);
            }
        }
        let mut fresh = Vec::new();
        for (key, row) in keyed {
            if known.insert(key.clone()) {
                fresh.push((key, row));
            } else {
                receipt.already_received += 1;
            }
        }
        if fresh.is_empty() {
            return Ok(receipt);
        }
        let readable: Vec<usize> = (0..fresh.len()).filter(|&i| fresh[i].1.record.is_ok()).collect();
        let link_records =
            readable.iter().filter_map(|&i| fresh[i].1.record.as_ref().ok().map(FeedRecord::link_record)).collect();
        let incoming = features_of(link_records).await?;
        let stored = self.model(county).await?;
        // The county's registry side, up to date; held (its lock) until this batch is written.
        let held = super::registry_side::current(self.store, county).await?;
        let (decided, model, trained, pairs, held) = link(held, incoming, stored, settings.clone()).await?;
        let registry = held.as_ref().ok_or_else(|| StoreError::Internal("linkage registry side".into()))?;
        receipt.trained = trained;
        receipt.pairs_compared = pairs;
        let mut decided_of: HashMap<usize, Decided> = readable.into_iter().zip(decided).collect();

        let mut work = UnitOfWork::begin(self.store).await?;
        if trained {
            self.save_model(&work.txn, county, &model, "batch").await?;
        }
        let now = OffsetDateTime::now_utc();
        work.txn
            .execute(
                Query::insert()
                    .into_table("feed_batch")
                    .columns([
                        "county_code",
                        "id",
                        "department_id",
                        "kind",
                        "source",
                        "received_at",
                        "received_by",
                        "origin",
                        "rows",
                    ])
                    .values_panic([
                        county.as_str().into(),
                        receipt.batch_id.into(),
                        department.id.into(),
                        kind.key().into(),
                        source.into(),
                        now.into(),
                        self.caller.username.to_string().into(),
                        self.caller.origin.to_string().into(),
                        (fresh.len() as i64).into(),
                    ]),
            )
            .await?;
        let reporter = format!("feed:{}", department.code);
        let actor = Actor { username: &reporter, role: Role::GridWorker };
        for (i, (key, row)) in fresh.into_iter().enumerate() {
            let id = Uuid::now_v7();
            let payload = serde_json::to_string(&Payload { cells: row.cells.clone(), record: row.record.clone().ok() })
                .map_err(|e| StoreError::Internal(format!("payload: {e}")))?;
            let mut stored = Stored {
                outcome: FeedOutcome::Rejected,
                reason: None,
                person_id: None,
                probability: None,
                community: None,
                duplicate_of: None,
                candidates: Vec::new(),
            };
            match (&row.record, decided_of.remove(&i)) {
                (Err(problems), _) => {
                    stored.reason = Some(problems_text(problems));
                    let cells = row.cells.iter().map(|(_, c)| c.clone()).collect();
                    receipt.rejected.push((row.line, cells, problems_text(problems)));
                }
                (Ok(record), Some(d)) => {
                    stored.probability = d.best.map(|_| d.probability);
                    stored.community = record.community.as_ref().map(|c| c.as_str().to_string());
                    match d.outcome {
                        Outcome::Match => {
                            let (r, _, _) =
                                d.best.ok_or_else(|| StoreError::Internal("match without candidate".into()))?;
                            let person = registry.ids[r as usize];
                            stored.person_id = Some(person);
                            stored.community = Some(registry.communities[r as usize].clone());
                            stored.outcome = FeedOutcome::Matched;
                            if let Some(earlier) = earlier_record(&work.txn, county, person, record).await? {
                                stored.outcome = FeedOutcome::Duplicate;
                                stored.duplicate_of = Some(earlier);
                            }
                        }
                        Outcome::Possible => {
                            stored.outcome = FeedOutcome::Possible;
                            if let Some((r, _, _)) = d.best {
                                stored.community = Some(registry.communities[r as usize].clone());
                            }
                        }
                        Outcome::NoMatch => {
                            stored.outcome = FeedOutcome::NoMatch;
                            stored.reason = Some(no_match_note(record, county).into());
                        }
                    }
                    if stored.outcome == FeedOutcome::Possible {
                        for (rank, c) in [d.best, d.runner_up].into_iter().flatten().enumerate() {
                            let (r, g, w) = c;
                            stored.candidates.push((registry.ids[r as usize], rank as i16, model.probability(w), g));
                        }
                    }
                }
                (Ok(_), None) => return Err(StoreError::Internal("record without a linkage decision".into())),
            }
            let inserted = work
                .txn
                .execute(
                    Query::insert()
                        .into_table("incoming_record")
                        .columns(RECORD_COLUMNS)
                        .values_panic([
                            county.as_str().into(),
                            id.into(),
                            department.id.into(),
                            kind.key().into(),
                            key.into(),
                            receipt.batch_id.into(),
                            (row.line as i64).into(),
                            payload.into(),
                            row.record.as_ref().ok().map(|r| r.occurred_on).into(),
                            row.record.as_ref().ok().map(|r| r.effect().key()).into(),
                            stored.community.clone().into(),
                            stored.outcome.key().into(),
                            stored.reason.clone().into(),
                            stored.person_id.into(),
                            stored.probability.map(per_million).into(),
                            None::<Uuid>.into(),
                            stored.duplicate_of.into(),
                            now.into(),
                            None::<String>.into(),
                            None::<OffsetDateTime>.into(),
                        ])
                        .on_conflict(
                            OnConflict::columns(["county_code", "department_id", "kind", "record_key"])
                                .do_nothing()
                                .to_owned(),
                        ),
                )
                .await?
                .rows_affected();
            if inserted == 0 {
                // The same record arrived meanwhile by another send: it is that one's.
                receipt.already_received += 1;
                continue;
            }
            receipt.received += 1;
            *receipt.outcomes.entry(stored.outcome.key().to_string()).or_default() += 1;
            for (person, rank, probability, gamma) in &stored.candidates {
                work.txn
                    .execute(
                        Query::insert()
                            .into_table("linkage_candidate")
                            .columns(["county_code", "incoming_id", "person_id", "rank", "probability", "gamma"])
                            .values_panic([
                                county.as_str().into(),
                                id.into(),
                                (*person).into(),
                                (*rank).into(),
                                per_million(*probability).into(),
                                gamma_text(gamma).into(),
                            ]),
                    )
                    .await?;
            }
            if let (FeedOutcome::Matched, Some(person), Ok(record)) = (stored.outcome, stored.person_id, &row.record) {
                let evidence = format!(
                    "{}“{}”通报{}，记录编号 {}（{} 第{}行）/ {} notice from '{}', record {} ({} row {})",
                    department.kind.label_zh(),
                    department.name,
                    kind.label_zh(),
                    record.record_no,
                    source,
                    row.line,
                    kind.label_en(),
                    department.name,
                    record.record_no,
                    source,
                    row.line
                );
                if self.propose(&mut work, county, id, person, record, evidence, actor, today).await? {
                    receipt.events += 1;
                }
            }
        }
        let entry = self.change_entry(
            format!("feed/{county}/{}", receipt.batch_id),
            county,
            format!(
                "receive {} from department {}: {} new, {} again",
                kind.key(),
                department.id,
                receipt.received,
                receipt.already_received
            ),
        );
        work.commit(entry).await?;
        Ok(receipt)
    }

    /// Proposes the change a matched record makes (if it makes one the registry does
    /// not already show) as a change event for the person's community to review; the
    /// event's id goes on the record, or, if the chain refuses it, the reason.
    #[allow(clippy::too_many_arguments)]
    async fn propose(
        &self,
        work: &mut UnitOfWork,
        county: &DivisionCode,
        incoming_id: Uuid,
        person: Uuid,
        record: &FeedRecord,
        evidence: String,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<bool> {
        let current = current_resident(&work.txn, county, person).await?;
        let partner = |id_number: &Option<String>| id_number.clone();
        let details = match &record.details {
            FeedDetails::Marriage { partner_id_number, .. } => (current.facts.marital_status != MaritalStatus::Married)
                .then_some(EventDetails::Marriage { partner: None })
                .map(|d| (d, partner(partner_id_number))),
            FeedDetails::Divorce { partner_id_number, .. } => (current.facts.marital_status != MaritalStatus::Divorced)
                .then_some(EventDetails::Divorce { partner: None })
                .map(|d| (d, partner(partner_id_number))),
            FeedDetails::HukouChange { change: HukouChange::MoveOut, region } => {
                Some((EventDetails::MoveOut { destination: region.as_ref().map(DivisionCode::province) }, None))
            }
            FeedDetails::HukouChange { change: HukouChange::DeathCancellation, .. } | FeedDetails::Death => {
                Some((EventDetails::Death, None))
            }
            FeedDetails::HospitalBirth { baby_sex, baby_name, .. } => {
                let registry = Registry { access: self.access };
                let members = registry.household_members(county, current.facts.household_id).await?;
                let members: Vec<Member<'_>> =
                    members.iter().map(|m| Member { resident_id: m.resident_id, facts: &m.facts }).collect();
                // Hospitals write a baby without a name yet as the mother's child (张丽之女).
                let name = baby_name.clone().unwrap_or_else(|| {
                    format!("{}之{}", record.name, if *baby_sex == Sex::Male { "子" } else { "女" })
                });
                let name =
                    PersonName::parse(&name).map_err(|e| StoreError::Invalid(format!("婴儿姓名 / baby_name: {e}")))?;
                let report = BirthReport {
                    name,
                    sex: *baby_sex,
                    born_on: record.occurred_on,
                    identity: None,
                    ethnicity: None,
                    relationship: None,
                    birth_order: None,
                };
                let mut details = birth_details(report, current.facts.household_id, &current.community, &members);
                if let EventDetails::Birth { mother, .. } = &mut details {
                    *mother = Some(person);
                }
                Some((details, None))
            }
            // Living in another region now (its exchange, or a 居住证 office): a
            // registered resident recorded as living here becomes 流出人口.
            FeedDetails::Residence { change: ResidenceChange::Arrival, region, .. }
                if !county.contains(region) && current.facts.residence_status == ResidenceStatus::Registered =>
            {
                Some((EventDetails::StatusChange { status: ResidenceStatus::Outflow }, None))
            }
            FeedDetails::HukouChange { .. }
            | FeedDetails::Vaccination { .. }
            | FeedDetails::SchoolEntry { .. }
            | FeedDetails::Residence { .. } => None,
        };
        let Some((mut details, partner_number)) = details else {
            let reason = if record.effect() == Effect::Confirms {
                "部门记录印证此人在册 / the department's record confirms the person as recorded"
            } else {
                "登记簿已是如此 / the registry already shows this"
            };
            set_reason(&work.txn, county, incoming_id, reason).await?;
            return Ok(false);
        };
        if let Some(number) = partner_number.filter(|n| !n.is_empty()) {
            let found = partner_in_registry(&work.txn, county, &number).await?;
            match &mut details {
                EventDetails::Marriage { partner } | EventDetails::Divorce { partner } => *partner = found,
                _ => {}
            }
        }
        let adds = details.adds_person();
        let event = NewEvent {
            county: county.clone(),
            resident_id: (!adds).then_some(person),
            occurred_on: record.occurred_on,
            urgent: false,
            evidence,
            details,
        };
        let reporting = Reporting { access: self.access };
        match reporting.submit_in(work, &event, actor, today).await {
            Ok(event_id) => {
                work.txn
                    .execute(
                        Query::update()
                            .table("incoming_record")
                            .value("event_id", event_id)
                            .and_where(Expr::col("county_code").eq(county.as_str()))
                            .and_where(Expr::col("id").eq(incoming_id)),
                    )
                    .await?;
                Ok(true)
            }
            // The chain's checks run before it writes: the record keeps its match and
            // says why nothing was proposed.
            Err(e @ (StoreError::Invalid(_) | StoreError::Retroactive { .. } | StoreError::NotFound { .. })) => {
                set_reason(&work.txn, county, incoming_id, &format!("未能提交变动 / no change proposed: {e}")).await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

struct Stored {
    outcome: FeedOutcome,
    reason: Option<String>,
    person_id: Option<Uuid>,
    probability: Option<f64>,
    community: Option<String>,
    duplicate_of: Option<Uuid>,
    /// (person, rank, probability, levels)
    candidates: Vec<(Uuid, i16, f64, Gamma)>,
}

async fn set_reason(txn: &impl ConnectionTrait, county: &DivisionCode, id: Uuid, reason: &str) -> StoreResult<()> {
    txn.execute(
        Query::update()
            .table("incoming_record")
            .value("reason", reason)
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id)),
    )
    .await?;
    Ok(())
}

/// An earlier record that told the same thing about the same person on the same day
/// (a death reported by the hospital and by the police).
async fn earlier_record(
    txn: &impl ConnectionTrait,
    county: &DivisionCode,
    person: Uuid,
    record: &FeedRecord,
) -> StoreResult<Option<Uuid>> {
    let effect = record.effect();
    if effect == Effect::Confirms {
        return Ok(None);
    }
    let mut q = Query::select();
    q.column("id")
        .from("incoming_record")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("person_id").eq(person))
        .and_where(Expr::col("effect").eq(effect.key()))
        .and_where(Expr::col("occurred_on").eq(record.occurred_on))
        .and_where(Expr::col("outcome").eq(FeedOutcome::Matched.key()))
        .order_by("id", Order::Asc)
        .limit(1);
    Ok(txn.query_one(&q).await?.map(|r| r.try_get("", "id")).transpose()?)
}

async fn partner_in_registry(
    txn: &impl ConnectionTrait,
    county: &DivisionCode,
    number: &str,
) -> StoreResult<Option<Uuid>> {
    let mut q = Query::select();
    q.column("resident_id")
        .from("resident_version")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("id_number").eq(number.trim().to_ascii_uppercase()))
        .and_where(Expr::col("valid_to").is_null())
        .limit(1);
    Ok(txn.query_one(&q).await?.map(|r| r.try_get("", "resident_id")).transpose()?)
}

/// What a record with no match in the registry asks for.
fn no_match_note(record: &FeedRecord, county: &DivisionCode) -> &'static str {
    if record.lives_elsewhere(county) {
        "不在本地居住：转告对方地区 / lives elsewhere: a note for the partner region"
    } else if record.community.is_some() {
        "在本地居住但未登记：请社区核实后登记 / lives here but is not recorded: the community checks and registers them"
    } else {
        "登记簿中未找到此人：请核实 / not found in the registry: to be checked"
    }
}

/// Blocks, compares and decides on blocking threads. Returns the decisions (one per
/// incoming record), the model used, whether it was trained here, the pairs compared,
/// and the registry side (still held).
async fn link(
    held: Held,
    incoming: Vec<Features>,
    stored: Option<Model>,
    settings: Settings,
) -> StoreResult<(Vec<Decided>, Model, bool, u64, Held)> {
    tokio::task::spawn_blocking(move || {
        let Some(registry) = held.as_ref() else {
            return Err(StoreError::Internal("linkage registry side".into()));
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let linker = Linker::new(&registry.index);
        let comparisons = linker.compare(&incoming, threads);
        let (mut model, trained) = match stored {
            Some(model) => (model, false),
            None if incoming.len() >= MIN_TRAINING_RECORDS => (linker.train(&incoming, &comparisons, &settings), true),
            None => {
                let mut model = Model::initial();
                // A small registry has fewer distinct pairs than the setting asks for.
                let features = registry.index.features();
                let pairs = settings.random_pairs.min(features.len().saturating_mul(features.len()));
                model.estimate_u(features, features, pairs, settings.seed);
                (model, false)
            }
        };
        linker.train_prior(&mut model, &incoming, &comparisons);
        let decided = linker
            .decide(&model, &incoming, &comparisons, &settings)
            .into_iter()
            .map(|l| Decided { outcome: l.outcome, probability: l.probability, best: l.best, runner_up: l.runner_up })
            .collect();
        let pairs = comparisons.pairs.len() as u64;
        Ok((decided, model, trained, pairs, held))
    })
    .await
    .map_err(|e| StoreError::Internal(format!("linkage: {e}")))?
}

impl Linkage<'_> {
    /// Records of `node`'s communities (or of its county with no community yet) with
    /// `outcome`, newest first; health feeds only for roles that may see them. Every
    /// list that shows personal data is audited by the caller (server).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn records(
        &self,
        node: &DivisionCode,
        outcome: Option<FeedOutcome>,
        kinds: &[FeedKind],
        limit: u64,
    ) -> StoreResult<Vec<IncomingRecord>> {
        let county = node
            .at_level(DivisionLevel::County)
            .ok_or_else(|| invalid("请选择区县或其下的区划", "choose a county or a division within one"))?;
        let mut q = Query::select();
        q.columns(RECORD_COLUMNS)
            .from("incoming_record")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("kind").is_in(kinds.iter().map(|k| k.key())))
            .order_by("id", Order::Desc)
            .limit(limit);
        if let Some(outcome) = outcome {
            q.and_where(Expr::col("outcome").eq(outcome.key()));
        }
        if node != &county {
            q.cond_where(crate::registry::subtree(node, "community_code"));
        }
        // A record not yet placed in a community is the county's to see.
        q.cond_where(
            sea_orm::sea_query::Cond::any()
                .add(self.in_scope("community_code"))
                .add(Expr::col("community_code").is_null().and(self.in_scope_county(&county))),
        );
        read_rows(&self.store.db, &q, incoming_row).await
    }

    fn in_scope_county(&self, county: &DivisionCode) -> Expr {
        match self.scope {
            Some(scope) if !scope.covers(county) => Expr::val(1).eq(0),
            _ => Expr::val(1).eq(1),
        }
    }

    /// One incoming record (in scope).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn incoming(&self, county: &DivisionCode, id: Uuid) -> StoreResult<IncomingRecord> {
        let mut q = Query::select();
        q.columns(RECORD_COLUMNS)
            .from("incoming_record")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id))
            .cond_where(
                sea_orm::sea_query::Cond::any()
                    .add(self.in_scope("community_code"))
                    .add(Expr::col("community_code").is_null().and(self.in_scope_county(county))),
            );
        let row = self.store.db.query_one(&q).await?;
        row.as_ref()
            .map(incoming_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound { what: "通报记录 / incoming record".into() })
    }

    /// A possible match with its candidates and the evidence for each, field by field.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn review_item(&self, county: &DivisionCode, id: Uuid) -> StoreResult<ReviewItem> {
        let record = self.incoming(county, id).await?;
        let model = self.model(county).await?.unwrap_or_else(Model::initial);
        let mut q = Query::select();
        q.columns(["person_id", "probability", "gamma"])
            .from("linkage_candidate")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("incoming_id").eq(id))
            .order_by("rank", Order::Asc);
        let mut candidates = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            let person: Uuid = r.try_get("", "person_id")?;
            let gamma: String = r.try_get("", "gamma")?;
            let gamma = decode_opt("linkage_candidate", "gamma", &gamma, gamma_of)?;
            let probability = f64::from(r.try_get::<i32>("", "probability")?) / 1_000_000.0;
            // A candidate outside the reviewer's scope is not shown (out of scope reads
            // like unknown).
            let Some(v) = Registry { access: self.access }.resident(county, person).await? else { continue };
            let evidence = FIELDS
                .iter()
                .map(|&f: &Field| {
                    let level = gamma[f.index()];
                    // `levels` starts after "missing" (level 0).
                    let (level_zh, level_en) = match usize::from(level).checked_sub(1) {
                        Some(i) => f.levels().get(i).copied().unwrap_or(("", "")),
                        None => ("缺失", "missing"),
                    };
                    Evidence {
                        field_zh: f.label_zh(),
                        field_en: f.label_en(),
                        level_zh,
                        level_en,
                        weight: model.field(f).weight(level),
                    }
                })
                .collect();
            candidates.push(Candidate {
                person_id: person,
                community: v.community.as_str().to_string(),
                name: v.facts.name.to_string(),
                sex: Some(v.facts.sex),
                birth_date: v.facts.birth_date,
                id_number: v.facts.identity.number().map(|n| n.as_str().to_string()),
                phone: v.facts.phone.as_ref().map(|p| p.to_string()),
                probability,
                evidence,
            });
        }
        Ok(ReviewItem { record, candidates })
    }

    /// A reviewer's decision on a possible match: `person` is the candidate accepted,
    /// `None` when none is the person. Accepting proposes the change as a match would;
    /// either way the decision is kept for training.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn decide_possible(
        &self,
        county: &DivisionCode,
        id: Uuid,
        person: Option<Uuid>,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<Option<Uuid>> {
        let item = self.review_item(county, id).await?;
        if item.record.outcome != FeedOutcome::Possible {
            return Err(invalid("此记录不在待审核状态", "this record is not waiting for review"));
        }
        // The pair decided on: the chosen candidate, or (none chosen) the best one.
        let chosen = match person {
            Some(p) => Some(
                item.candidates
                    .iter()
                    .position(|c| c.person_id == p)
                    .ok_or_else(|| invalid("只能从候选人中选择", "choose one of the candidates"))?,
            ),
            None => None,
        };
        let mut q = Query::select();
        q.columns(["person_id", "gamma", "probability"])
            .from("linkage_candidate")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("incoming_id").eq(id))
            .order_by("rank", Order::Asc);
        if let Some(i) = chosen {
            q.and_where(Expr::col("person_id").eq(item.candidates[i].person_id));
        }
        let pair = self.store.db.query_one(&q).await?;
        let gamma: Option<String> = pair.as_ref().map(|r| r.try_get("", "gamma")).transpose()?;
        let probability: i32 = pair.as_ref().map(|r| r.try_get("", "probability")).transpose()?.unwrap_or(0);
        let record =
            item.record.record.clone().ok_or_else(|| StoreError::Internal("possible match without a record".into()))?;
        let mut work = UnitOfWork::begin(self.store).await?;
        let now = OffsetDateTime::now_utc();
        let mut update = Query::update();
        update
            .table("incoming_record")
            .value("outcome", if person.is_some() { FeedOutcome::Matched.key() } else { FeedOutcome::NoMatch.key() })
            .value("person_id", person)
            .value("decided_by", actor.username)
            .value("decided_at", now)
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("outcome").eq(FeedOutcome::Possible.key()));
        if person.is_none() {
            update.value("reason", no_match_note(&record, county));
        }
        if work.txn.execute(&update).await?.rows_affected() == 0 {
            return Err(invalid("此记录已由他人审核", "somebody else reviewed this record meanwhile"));
        }
        work.txn
            .execute(
                Query::insert()
                    .into_table("linkage_decision")
                    .columns([
                        "county_code",
                        "id",
                        "incoming_id",
                        "person_id",
                        "accepted",
                        "gamma",
                        "probability",
                        "decided_by",
                        "decided_at",
                    ])
                    .values_panic([
                        county.as_str().into(),
                        Uuid::now_v7().into(),
                        id.into(),
                        person.into(),
                        person.is_some().into(),
                        gamma.into(),
                        probability.into(),
                        actor.username.into(),
                        now.into(),
                    ]),
            )
            .await?;
        let mut event = None;
        if let Some(p) = person {
            if let Some(earlier) = earlier_record(&work.txn, county, p, &record).await?.filter(|e| *e != id) {
                work.txn
                    .execute(
                        Query::update()
                            .table("incoming_record")
                            .value("outcome", FeedOutcome::Duplicate.key())
                            .value("duplicate_of", earlier)
                            .and_where(Expr::col("county_code").eq(county.as_str()))
                            .and_where(Expr::col("id").eq(id)),
                    )
                    .await?;
            } else {
                let evidence = format!(
                    "{}记录 {}，经 {} 审核确认为同一人 / {} record {}, confirmed as this person by {}",
                    record.kind().label_zh(),
                    record.record_no,
                    actor.username,
                    record.kind().label_en(),
                    record.record_no,
                    actor.username
                );
                if self.propose(&mut work, county, id, p, &record, evidence, actor, today).await? {
                    let mut q = Query::select();
                    q.column("event_id")
                        .from("incoming_record")
                        .and_where(Expr::col("county_code").eq(county.as_str()))
                        .and_where(Expr::col("id").eq(id));
                    event = work.txn.query_one(&q).await?.and_then(|r| r.try_get("", "event_id").ok());
                }
            }
        }
        let entry = self.change_entry(
            format!("incoming/{county}/{id}"),
            county,
            if person.is_some() { "accept possible match".into() } else { "reject possible match".into() },
        );
        work.commit(entry).await?;
        Ok(event)
    }

    /// Precision and recall each match threshold would give on the reviewers' decisions
    /// so far: a decision counts as a true match when the reviewer accepted the pair,
    /// and as predicted a match when its probability reaches the threshold.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn threshold_table(&self, county: &DivisionCode) -> StoreResult<Vec<ThresholdRow>> {
        if let Some(scope) = self.scope
            && !scope.covers(county)
            && !scope.nodes().iter().any(|n| n.as_str().starts_with(county.as_str()))
        {
            return Err(StoreError::NotFound { what: "区县 / county".into() });
        }
        let mut q = Query::select();
        q.columns(["accepted", "probability"])
            .from("linkage_decision")
            .and_where(Expr::col("county_code").eq(county.as_str()));
        let decisions: Vec<(bool, f64)> = read_rows(&self.store.db, &q, |r| {
            Ok((r.try_get("", "accepted")?, f64::from(r.try_get::<i32>("", "probability")?) / 1_000_000.0))
        })
        .await?;
        Ok(threshold_rows(&decisions))
    }

    /// Re-estimates the county's model: EM on every record received so far, then m
    /// moved toward what reviewers confirmed (each accepted pair is a known match; a
    /// rejected best candidate a known non-match). Stored as the county's new model.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn train(&self, county: &DivisionCode, settings: &Settings) -> StoreResult<TrainReport> {
        let mut q = Query::select();
        q.column("payload")
            .from("incoming_record")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("outcome").ne(FeedOutcome::Rejected.key()));
        let mut records = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            let text: String = r.try_get("", "payload")?;
            if let Ok(Payload { record: Some(record), .. }) = serde_json::from_str::<Payload>(&text) {
                records.push(record.link_record());
            }
        }
        let mut q = Query::select();
        q.columns(["gamma", "accepted"])
            .from("linkage_decision")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("gamma").is_not_null());
        let decisions: Vec<(Gamma, bool)> = read_rows(&self.store.db, &q, |r| {
            let g: String = r.try_get("", "gamma")?;
            Ok((decode_opt("linkage_decision", "gamma", &g, gamma_of)?, r.try_get("", "accepted")?))
        })
        .await?;
        if records.is_empty() {
            return Err(invalid("本区县还没有收到通报记录", "no records have been received in this county"));
        }
        let incoming = features_of(records).await?;
        let held = super::registry_side::current(self.store, county).await?;
        let settings = settings.clone();
        let record_count = incoming.len() as u64;
        let accepted: Vec<Gamma> = decisions.iter().filter(|(_, a)| *a).map(|(g, _)| *g).collect();
        let model = tokio::task::spawn_blocking(move || {
            let registry = held.as_ref().ok_or_else(|| StoreError::Internal("linkage registry side".into()))?;
            let linker = Linker::new(&registry.index);
            let comparisons = linker.compare(&incoming, std::thread::available_parallelism().map_or(1, |n| n.get()));
            let mut model = linker.train(&incoming, &comparisons, &settings);
            model.learn_from_matches(&accepted);
            Ok::<_, StoreError>(model)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("linkage training: {e}")))??;
        let work = UnitOfWork::begin(self.store).await?;
        let model_id = self.save_model(&work.txn, county, &model, "decisions").await?;
        let entry = self.entry(
            AuditAction::Configure,
            format!("linkage_model/{county}/{model_id}"),
            county.as_str(),
            format!("train on {record_count} records and {} decisions", decisions.len()),
        );
        work.commit(entry).await?;
        Ok(TrainReport {
            county: county.to_string(),
            records: record_count,
            decisions: decisions.len() as u64,
            model_id,
        })
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::*;

    proptest::proptest! {
        /// Raising the threshold never raises recall; precision and recall stay in 0–1.
        #[test]
        fn recall_falls_as_the_threshold_rises(decisions in proptest::collection::vec((proptest::bool::ANY, 0.0f64..1.0), 0..60)) {
            let rows = threshold_rows(&decisions);
            for pair in rows.windows(2) {
                if let (Some(a), Some(b)) = (pair[0].recall, pair[1].recall) {
                    proptest::prop_assert!(b <= a);
                }
            }
            for r in &rows {
                for v in [r.precision, r.recall].into_iter().flatten() {
                    proptest::prop_assert!((0.0..=1.0).contains(&v));
                }
            }
        }
    }

    #[test]
    fn precision_and_recall_of_known_decisions() {
        let rows = threshold_rows(&[(true, 0.9), (true, 0.4), (false, 0.6), (false, 0.1)]);
        let at = |t: f64| rows.iter().find(|r| (r.threshold - t).abs() < 1e-9).unwrap().clone();
        assert_eq!((at(0.5).precision, at(0.5).recall), (Some(0.5), Some(0.5)));
        assert_eq!((at(0.3).precision, at(0.3).recall), (Some(2.0 / 3.0), Some(1.0)));
        assert_eq!(at(0.95).precision, None);
    }
}
