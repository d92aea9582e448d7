//! Packages to and from partner regions (ADR 021). Export gathers the accepted
//! changes of residents registered in the partner's area — arrivals, departures,
//! address changes, births, deaths, marriages, divorces — with only the fields the
//! agreement lists, and signs them. Import verifies the whole package before it
//! applies a record, refuses it whole when it is damaged, altered, misaddressed,
//! expired or replayed, and otherwise hands its records to the department-feed
//! pipeline as the partner's notices: linked to the registry (by ID number, or by the
//! linkage model when there is none), proposed to the review chain, or kept as notes.
//! It applies a package in chunks and records how far it got, so an interrupted
//! import resumes; a record seen before changes nothing. Records this side could not
//! read go into the acknowledgement it sends back, which marks them refused on the
//! sender's side.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jiceng_domain::exchange::package::{
    Admission, Agreement, Manifest, PackageKind, PackageRecord, RecordKind, Refusal, Seen, admit, in_partner_area,
};
use jiceng_domain::linkage::feed::{FeedColumn, FeedKind, read_record};
use jiceng_domain::linkage::{FeedRecord, Settings};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::registry::{ResidenceStatus, ResidentFacts};
use jiceng_domain::reporting::{EventDetails, EventKind};
use jiceng_files::exchange::ReadLimits;
use jiceng_files::exchange::package::{self as files, PackageWriter, PrivateKey, Verified};
use jiceng_files::linkage::feed::FeedRow;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::partners::{Exchange, Partner, invalid};
use crate::error::{StoreError, StoreResult};
use crate::linkage::Linkage;
use crate::registry::ResidentVersion;
use crate::registry::resident_select;
use crate::registry::rows::resident_row;

/// Records read and applied per transaction.
const CHUNK: usize = 5_000;
/// Change events read per query while exporting.
const PAGE: u64 = 2_000;

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub manifest: Manifest,
    pub digest: String,
    pub bytes: u64,
    /// Accepted changes of the period not sent: the person is not registered in the
    /// partner's area (most), or a birth whose mother is not recorded.
    pub not_for_partner: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub package_id: Uuid,
    pub kind: String,
    pub sender: String,
    pub receiver: String,
    pub sequence: u64,
    pub records: u64,
    /// Where an interrupted import was resumed from (0: from the start).
    pub resumed_from: u64,
    /// Records new to this side, records seen before, records refused.
    pub received: u64,
    pub already_received: u64,
    pub refused: u64,
    /// New records by linkage outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Change events proposed to the review chain.
    pub events: u64,
    /// For an acknowledgement: the records of ours it marked delivered and refused.
    pub delivered: u64,
    /// People on the partner's roster (who it has living there, registered here).
    pub roster: u64,
    /// Applied before: nothing changed.
    pub already_applied: bool,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub limits: ReadLimits,
    pub settings: Settings,
    pub now: OffsetDateTime,
    /// The file's name as the user gave it (kept with the package).
    pub file_name: String,
    /// Records applied per transaction (and between notes of how far the import got).
    pub chunk: usize,
}

impl ImportOptions {
    pub fn new(file_name: &str, settings: Settings, now: OffsetDateTime) -> ImportOptions {
        ImportOptions { limits: ReadLimits::default(), settings, now, file_name: file_name.into(), chunk: CHUNK }
    }
}

/// How far an import has got: records applied of all.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// A change to send, as read from the registry.
struct Change {
    id: Uuid,
    kind: RecordKind,
    occurred_on: Date,
    /// The person the record is about (the mother, for a birth).
    person: ResidentFacts,
    community: DivisionCode,
    /// Partner and child details.
    extra: Vec<(FeedColumn, String)>,
}

fn record_kind(kind: EventKind) -> Option<RecordKind> {
    Some(match kind {
        EventKind::MoveIn => RecordKind::Arrival,
        EventKind::MoveOut => RecordKind::Departure,
        EventKind::MoveWithin => RecordKind::AddressChange,
        EventKind::Birth => RecordKind::Birth,
        EventKind::Death => RecordKind::Death,
        EventKind::Marriage => RecordKind::Marriage,
        EventKind::Divorce => RecordKind::Divorce,
        EventKind::StatusChange | EventKind::Correction => return None,
    })
}

/// The cells of a change under its feed kind's English headings, as the agreement
/// lets them through.
fn fields_of(change: &Change, partner: &Partner, sender_name: &str) -> BTreeMap<String, String> {
    let Some((feed, _)) = change.kind.feed() else { return BTreeMap::new() };
    let p = &change.person;
    let mut cells: Vec<(FeedColumn, String)> = vec![
        (FeedColumn::RecordNo, change.id.to_string()),
        (FeedColumn::OccurredOn, change.occurred_on.to_string()),
        (FeedColumn::Name, p.name.as_str().to_string()),
        (FeedColumn::Sex, p.sex.label_zh().to_string()),
        (FeedColumn::BirthDate, p.birth_date.to_string()),
    ];
    if let Some(n) = p.identity.number() {
        cells.push((FeedColumn::IdNumber, n.as_str().to_string()));
    }
    if let Some(phone) = &p.phone {
        cells.push((FeedColumn::Phone, phone.as_str().to_string()));
    }
    match feed {
        FeedKind::Residence => cells.push((FeedColumn::Region, change.community.as_str().to_string())),
        FeedKind::HospitalBirth => cells.push((FeedColumn::Hospital, format!("协作地区{sender_name}通报"))),
        _ => {}
    }
    cells.extend(change.extra.iter().cloned());
    cells
        .into_iter()
        .filter(|(c, _)| feed.columns().iter().any(|(k, _)| k == c))
        .filter(|(c, _)| partner.agreement.lets_through(feed, *c))
        .map(|(c, v)| (c.heading(feed, true).to_string(), v))
        .collect()
}

impl Exchange<'_> {
    /// Writes the package of `county`'s changes for `partner` accepted since `since`
    /// (by default since the last package to it) to `out`, signed with `key`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn export(
        &self,
        partner: &Partner,
        key: &PrivateKey,
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
        out: &Path,
    ) -> StoreResult<ExportReport> {
        let county = &partner.county;
        self.require_scope(county, "区县 / county")?;
        if !partner.agreement.in_force(now.date()) {
            return Err(StoreError::Invalid(
                Refusal::AgreementNotInForce { partner: partner.code.to_string(), on: now.date() }.to_string(),
            ));
        }
        let (last_sequence, last_to) = self.last_sent(partner, PackageKind::Exchange).await?;
        // Stored as UTC text on SQLite: every bound is compared in UTC. Consecutive
        // periods overlap by ten minutes, so an acceptance that committed after an export
        // read past it is in the next package (the receiver ignores records it has seen).
        let now = now.to_offset(time::UtcOffset::UTC);
        let period_from = since
            .map(|s| s.to_offset(time::UtcOffset::UTC))
            .or(last_to.map(|t| t.to_offset(time::UtcOffset::UTC) - time::Duration::minutes(10)));
        let mut writer = PackageWriter::new(key.algorithm).map_err(io_error)?;
        let sender_name = self.division_name(county).await?;
        let mut not_for_partner = 0u64;
        let mut after: Option<Uuid> = None;
        loop {
            let (changes, skipped, last) = self.changes_page(partner, period_from, now, after).await?;
            not_for_partner += skipped;
            for change in &changes {
                writer.push(change.kind, change.id, fields_of(change, partner, &sender_name)).map_err(io_error)?;
            }
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        self.write_roster(partner, &mut writer).await?;
        let manifest = Manifest {
            sender_name,
            receiver_name: partner.name.clone(),
            period_from,
            fields: partner.agreement.fields.iter().map(|f| f.key().to_string()).collect(),
            ..Manifest::new(PackageKind::Exchange, county.clone(), partner.code.clone(), last_sequence + 1, now)
        };
        let written = write_file(writer, manifest, key, out).await?;
        self.record_sent(partner, &written.manifest, &written.digest, out, None).await?;
        Ok(ExportReport { manifest: written.manifest, digest: written.digest, bytes: written.bytes, not_for_partner })
    }

    /// The roster for the half-yearly reconciliation: everybody living in the county now
    /// who is registered in the partner's area, with what the agreement lets through.
    async fn write_roster(&self, partner: &Partner, writer: &mut PackageWriter) -> StoreResult<()> {
        let mut after: Option<Uuid> = None;
        loop {
            let mut q = resident_select();
            q.and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("valid_to").is_null())
                .and_where(Expr::col("residence_status").eq(ResidenceStatus::Inflow.key()))
                .and_where(Expr::col("registered_residence").like(format!("{}%", partner.code)))
                .order_by("resident_id", Order::Asc)
                .limit(PAGE);
            if let Some(after) = after {
                q.and_where(Expr::col("resident_id").gt(after));
            }
            let rows = self.store.db.query_all(&q).await?;
            if rows.is_empty() {
                return Ok(());
            }
            for r in &rows {
                let v = resident_row(r)?;
                after = Some(v.resident_id);
                if !in_partner_area(&partner.code, &v.facts.registered_residence) {
                    continue;
                }
                let feed = FeedKind::Residence;
                let mut cells = vec![
                    (FeedColumn::Name, v.facts.name.as_str().to_string()),
                    (FeedColumn::Sex, v.facts.sex.label_zh().to_string()),
                    (FeedColumn::BirthDate, v.facts.birth_date.to_string()),
                    (FeedColumn::Region, v.community.as_str().to_string()),
                ];
                if let Some(n) = v.facts.identity.number() {
                    cells.push((FeedColumn::IdNumber, n.as_str().to_string()));
                }
                let fields = cells
                    .into_iter()
                    .filter(|(c, _)| partner.agreement.lets_through(feed, *c))
                    .map(|(c, t)| (c.heading(feed, true).to_string(), t))
                    .collect();
                writer.push(RecordKind::Presence, v.resident_id, fields).map_err(io_error)?;
            }
        }
    }

    async fn division_name(&self, code: &DivisionCode) -> StoreResult<String> {
        let mut names = self.store.divisions().names(std::slice::from_ref(code)).await?;
        Ok(names.remove(code).unwrap_or_else(|| code.to_string()))
    }

    /// The highest sequence of packages of `kind` sent to the partner, and the end of
    /// the last one's period.
    async fn last_sent(&self, partner: &Partner, kind: PackageKind) -> StoreResult<(u64, Option<OffsetDateTime>)> {
        let mut q = Query::select();
        q.columns(["sequence", "period_to"])
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
            .and_where(Expr::col("direction").eq("sent"))
            .and_where(Expr::col("kind").eq(kind.key()))
            .order_by("sequence", Order::Desc)
            .limit(1);
        Ok(match self.store.db.query_one(&q).await? {
            Some(r) => {
                let sequence: i64 = r.try_get("", "sequence")?;
                (sequence as u64, Some(r.try_get("", "period_to")?))
            }
            None => (0, None),
        })
    }

    /// One page of accepted changes of the period after `after` (by id): those for
    /// the partner, how many others, and the last id read (`None` when done).
    async fn changes_page(
        &self,
        partner: &Partner,
        from: Option<OffsetDateTime>,
        to: OffsetDateTime,
        after: Option<Uuid>,
    ) -> StoreResult<(Vec<Change>, u64, Option<Uuid>)> {
        let county = &partner.county;
        let kinds = [
            EventKind::MoveIn,
            EventKind::MoveOut,
            EventKind::MoveWithin,
            EventKind::Birth,
            EventKind::Death,
            EventKind::Marriage,
            EventKind::Divorce,
        ];
        let mut q = Query::select();
        q.columns(["id", "kind", "occurred_on", "resident_id", "applied_resident_id", "details", "community_code"])
            .from("change_event")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("state").eq("accepted"))
            .and_where(Expr::col("kind").is_in(kinds.iter().map(|k| k.key())))
            .and_where(Expr::col("updated_at").lt(to))
            .order_by("id", Order::Asc)
            .limit(PAGE);
        if let Some(from) = from {
            q.and_where(Expr::col("updated_at").gte(from));
        }
        if let Some(after) = after {
            q.and_where(Expr::col("id").gt(after));
        }
        let rows = self.store.db.query_all(&q).await?;
        let Some(last) = rows.last().map(|r| r.try_get::<Uuid>("", "id")).transpose()? else {
            return Ok((Vec::new(), 0, None));
        };
        struct Row {
            id: Uuid,
            kind: EventKind,
            occurred_on: Date,
            subject: Option<Uuid>,
            details: Option<EventDetails>,
            community: String,
        }
        let mut events = Vec::with_capacity(rows.len());
        let mut wanted: Vec<Uuid> = Vec::new();
        for r in &rows {
            let kind: String = r.try_get("", "kind")?;
            let Some(kind) = EventKind::from_key(&kind) else { continue };
            let resident: Option<Uuid> = r.try_get("", "resident_id")?;
            let applied: Option<Uuid> = r.try_get("", "applied_resident_id")?;
            let details: String = r.try_get("", "details")?;
            let details: Option<EventDetails> = serde_json::from_str(&details).ok();
            let subject = applied.or(resident);
            wanted.extend(subject);
            match &details {
                Some(EventDetails::Birth { mother: Some(m), .. }) => wanted.push(*m),
                Some(EventDetails::Marriage { partner: Some(p) } | EventDetails::Divorce { partner: Some(p) }) => {
                    wanted.push(*p)
                }
                _ => {}
            }
            events.push(Row {
                id: r.try_get("", "id")?,
                kind,
                occurred_on: r.try_get("", "occurred_on")?,
                subject,
                details,
                community: r.try_get("", "community_code")?,
            });
        }
        let people = self.latest_versions(county, &wanted).await?;
        let mut changes = Vec::new();
        let mut skipped = 0u64;
        for e in events {
            let Some(kind) = record_kind(e.kind) else { continue };
            let subject = e.subject.and_then(|s| people.get(&s));
            let Some(subject) = subject else {
                skipped += 1;
                continue;
            };
            if !in_partner_area(&partner.code, &subject.facts.registered_residence) {
                skipped += 1;
                continue;
            }
            let mut extra = Vec::new();
            let person = match (&e.details, kind) {
                (Some(EventDetails::Birth { mother, .. }), RecordKind::Birth) => {
                    let Some(mother) = mother.and_then(|m| people.get(&m)) else {
                        skipped += 1;
                        continue;
                    };
                    extra.push((FeedColumn::ChildSex, subject.facts.sex.label_zh().to_string()));
                    extra.push((FeedColumn::ChildName, subject.facts.name.as_str().to_string()));
                    mother.facts.clone()
                }
                (Some(EventDetails::Marriage { partner } | EventDetails::Divorce { partner }), _) => {
                    if let Some(p) = partner.and_then(|p| people.get(&p)) {
                        extra.push((FeedColumn::PartnerName, p.facts.name.as_str().to_string()));
                        if let Some(n) = p.facts.identity.number() {
                            extra.push((FeedColumn::PartnerIdNumber, n.as_str().to_string()));
                        }
                    }
                    subject.facts.clone()
                }
                _ => subject.facts.clone(),
            };
            let community = DivisionCode::parse(&e.community).unwrap_or_else(|_| subject.community.clone());
            changes.push(Change { id: e.id, kind, occurred_on: e.occurred_on, person, community, extra });
        }
        Ok((changes, skipped, Some(last)))
    }

    /// The latest version of each resident (whether or not still current: the dead and
    /// those who left have a closed one).
    async fn latest_versions(
        &self,
        county: &DivisionCode,
        ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, ResidentVersion>> {
        let mut latest: HashMap<Uuid, ResidentVersion> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut q = resident_select();
            q.and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("resident_id").is_in(chunk.iter().copied()));
            for r in self.store.db.query_all(&q).await? {
                let v = resident_row(&r)?;
                match latest.get(&v.resident_id) {
                    Some(held) if held.stamp.version >= v.stamp.version => {}
                    _ => {
                        latest.insert(v.resident_id, v);
                    }
                }
            }
        }
        Ok(latest)
    }

    /// Records a package written; for an acknowledgement (`answers`: the package it
    /// answers, and when), marks that package acknowledged in the same transaction.
    async fn record_sent(
        &self,
        partner: &Partner,
        manifest: &Manifest,
        digest: &str,
        out: &Path,
        answers: Option<(Uuid, OffsetDateTime)>,
    ) -> StoreResult<()> {
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        if let Some((answered, at)) = answers {
            work.txn
                .execute(
                    Query::update()
                        .table("exchange_package")
                        .value("acknowledged_at", at)
                        .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                        .and_where(Expr::col("id").eq(answered))
                        .and_where(Expr::col("direction").eq("received")),
                )
                .await?;
        }
        insert_package(
            &work.txn,
            &partner.county,
            "sent",
            manifest,
            digest,
            "sent",
            manifest.records(),
            &file_name(out),
            &self.caller.username,
        )
        .await?;
        let entry = self.entry(
            AuditAction::Export,
            format!("exchange_package/{}/{}", partner.county, manifest.package_id),
            partner.county.as_str(),
            format!(
                "send {} package {} to {}: {} records",
                manifest.kind,
                manifest.sequence,
                partner.code,
                manifest.records()
            ),
        );
        work.commit(entry).await
    }

    /// Writes the acknowledgement of the oldest package received from `partner` and
    /// not yet acknowledged (or of `package`), signed with `key`: how many of its
    /// records were delivered and each refused one with the reason. `None` when no
    /// package waits for one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn acknowledge(
        &self,
        partner: &Partner,
        package: Option<Uuid>,
        key: &PrivateKey,
        now: OffsetDateTime,
        out: &Path,
    ) -> StoreResult<Option<ExportReport>> {
        self.require_scope(&partner.county, "区县 / county")?;
        let mut q = Query::select();
        q.columns(["id", "records", "refused"])
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
            .and_where(Expr::col("direction").eq("received"))
            .and_where(Expr::col("kind").eq(PackageKind::Exchange.key()))
            .and_where(Expr::col("state").eq("applied"))
            .order_by("sequence", Order::Asc)
            .limit(1);
        match package {
            Some(id) => q.and_where(Expr::col("id").eq(id)),
            None => q.and_where(Expr::col("acknowledged_at").is_null()),
        };
        let Some(row) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let answered: Uuid = row.try_get("", "id")?;
        let records: i64 = row.try_get("", "records")?;
        let refused: i64 = row.try_get("", "refused")?;
        let mut writer = PackageWriter::new(key.algorithm).map_err(io_error)?;
        let mut after: Option<Uuid> = None;
        loop {
            let mut q = Query::select();
            q.columns(["record_id", "kind", "reason"])
                .from("exchange_refused_record")
                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("package_id").eq(answered))
                .order_by("record_id", Order::Asc)
                .limit(PAGE);
            if let Some(after) = after {
                q.and_where(Expr::col("record_id").gt(after));
            }
            let rows = self.store.db.query_all(&q).await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: Uuid = r.try_get("", "record_id")?;
                let kind: String = r.try_get("", "kind")?;
                let reason: String = r.try_get("", "reason")?;
                writer
                    .push(RecordKind::Refused, id, BTreeMap::from([("kind".into(), kind), ("reason".into(), reason)]))
                    .map_err(io_error)?;
                after = Some(id);
            }
        }
        let (last_sequence, _) = self.last_sent(partner, PackageKind::Acknowledgement).await?;
        let manifest = Manifest {
            sender_name: self.division_name(&partner.county).await?,
            receiver_name: partner.name.clone(),
            acknowledges: Some(answered),
            delivered: Some(std::cmp::max(records - refused, 0) as u64),
            ..Manifest::new(
                PackageKind::Acknowledgement,
                partner.county.clone(),
                partner.code.clone(),
                last_sequence + 1,
                now,
            )
        };
        let written = write_file(writer, manifest, key, out).await?;
        self.record_sent(partner, &written.manifest, &written.digest, out, Some((answered, now))).await?;
        Ok(Some(ExportReport {
            manifest: written.manifest,
            digest: written.digest,
            bytes: written.bytes,
            not_for_partner: 0,
        }))
    }

    /// Imports the package at `path`: `Ok(Err(refusal))` when it is refused whole
    /// (nothing of it applied), `Ok(Ok(report))` when it was applied now or before.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn import(
        &self,
        path: &Path,
        options: &ImportOptions,
        progress: Progress<'_>,
    ) -> StoreResult<Result<ImportReport, Refusal>> {
        let limits = options.limits;
        let owned = path.to_path_buf();
        let head = blocking(move || files::read_manifest(&owned, &limits)).await?;
        let manifest = match head {
            Ok(m) => m,
            Err(refusal) => return Ok(Err(refusal)),
        };
        // Addressed to a county this caller holds, from one of its partners.
        let receiver = &manifest.receiver;
        let held = self.holds(receiver).await?;
        if !held {
            return Ok(Err(Refusal::Misaddressed { receiver: receiver.to_string() }));
        }
        let partner = match self.partner(receiver, &manifest.sender).await {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => {
                return Ok(Err(Refusal::UnknownSender {
                    sender: manifest.sender.to_string(),
                    receiver: receiver.to_string(),
                }));
            }
            Err(e) => return Err(e),
        };
        let key = partner.public_key.clone();
        let owned = path.to_path_buf();
        let first = manifest.clone();
        let verified = blocking(move || {
            files::verify(&owned, &limits, |m| {
                if m != &first {
                    return Err(Refusal::Damaged("清单在读取期间改变 / the manifest changed while read".into()));
                }
                Ok(key)
            })
        })
        .await?;
        let verified = match verified {
            Ok(v) => v,
            Err(refusal) => return self.refused(&partner, Some(&manifest), refusal, options).await,
        };
        let Some(kind) = manifest.package_kind() else {
            let refusal = Refusal::Damaged(format!(
                "未知的交换包类型“{}” / unknown package kind '{}'",
                manifest.kind, manifest.kind
            ));
            return self.refused(&partner, Some(&manifest), refusal, options).await;
        };
        if kind != PackageKind::Acknowledgement && !partner.agreement.in_force(manifest.created_at.date()) {
            let refusal =
                Refusal::AgreementNotInForce { partner: partner.code.to_string(), on: manifest.created_at.date() };
            return self.refused(&partner, Some(&manifest), refusal, options).await;
        }
        let (seen, last_sequence) = self.seen(&partner, &verified).await?;
        let admission = match admit(&manifest, options.now, seen, last_sequence) {
            Ok(a) => a,
            Err(refusal) => return self.refused(&partner, Some(&manifest), refusal, options).await,
        };
        let mut report = ImportReport {
            package_id: manifest.package_id,
            kind: manifest.kind.clone(),
            sender: manifest.sender.to_string(),
            receiver: manifest.receiver.to_string(),
            sequence: manifest.sequence,
            records: manifest.records(),
            ..ImportReport::default()
        };
        let from = match admission {
            Admission::AlreadyApplied => {
                report.already_applied = true;
                return Ok(Ok(report));
            }
            Admission::Resume { from } => from,
            Admission::Apply => {
                if kind == PackageKind::Acknowledgement
                    && let Some(refusal) = self.unknown_acknowledged(&partner, &manifest).await?
                {
                    return self.refused(&partner, Some(&manifest), refusal, options).await;
                }
                let work = crate::write::UnitOfWork::begin(self.store).await?;
                insert_package(
                    &work.txn,
                    &partner.county,
                    "received",
                    &manifest,
                    &verified.digest,
                    "applying",
                    manifest.records(),
                    &options.file_name,
                    &self.caller.username,
                )
                .await?;
                if kind == PackageKind::Exchange {
                    // Each exchange package brings the partner's whole roster, empty or not:
                    // it replaces the last one.
                    work.txn
                        .execute(
                            Query::delete()
                                .from_table("exchange_roster")
                                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                                .and_where(Expr::col("partner_code").eq(partner.code.as_str())),
                        )
                        .await?;
                }
                let entry = self.entry(
                    AuditAction::Write,
                    format!("exchange_package/{}/{}", partner.county, manifest.package_id),
                    partner.county.as_str(),
                    format!("receive {} package {} from {}", manifest.kind, manifest.sequence, partner.code),
                );
                work.commit(entry).await?;
                0
            }
        };
        report.resumed_from = from;
        match kind {
            PackageKind::Exchange | PackageKind::Handover => {
                self.apply_records(&partner, path, options, from, &mut report, progress).await?
            }
            PackageKind::Acknowledgement => {
                self.apply_acknowledgement(&partner, &manifest, path, options, &mut report).await?
            }
        }
        Ok(Ok(report))
    }

    /// Whether this database exchanges for `county` (in the caller's scope): it has
    /// partners there. Anything else is addressed to somebody else.
    async fn holds(&self, county: &DivisionCode) -> StoreResult<bool> {
        if self.require_scope(county, "区县 / county").is_err() {
            return Ok(false);
        }
        let mut q = Query::select();
        q.column("partner_code")
            .from("exchange_partner")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .limit(1);
        Ok(self.store.db.query_one(&q).await?.is_some())
    }

    /// What this side knows of the package, and the highest sequence of its kind
    /// received from the partner (another package than this one).
    async fn seen(&self, partner: &Partner, verified: &Verified) -> StoreResult<(Seen, Option<u64>)> {
        let m = &verified.manifest;
        let mut q = Query::select();
        q.columns(["digest", "state", "applied"])
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("id").eq(m.package_id))
            .and_where(Expr::col("direction").eq("received"));
        let seen = match self.store.db.query_one(&q).await? {
            Some(r) => {
                let digest: String = r.try_get("", "digest")?;
                let state: String = r.try_get("", "state")?;
                let applied: i64 = r.try_get("", "applied")?;
                Seen::Before {
                    same_content: digest == verified.digest,
                    finished: state == "applied",
                    applied: applied as u64,
                }
            }
            None => Seen::New,
        };
        let mut q = Query::select();
        q.column("sequence")
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
            .and_where(Expr::col("direction").eq("received"))
            .and_where(Expr::col("kind").eq(m.kind.as_str()))
            .and_where(Expr::col("id").ne(m.package_id))
            .order_by("sequence", Order::Desc)
            .limit(1);
        let last = match self.store.db.query_one(&q).await? {
            Some(r) => Some(r.try_get::<i64>("", "sequence")? as u64),
            None => None,
        };
        Ok((seen, last))
    }

    /// Keeps a refusal where the partners page shows it, with an audit entry.
    async fn refused(
        &self,
        partner: &Partner,
        manifest: Option<&Manifest>,
        refusal: Refusal,
        options: &ImportOptions,
    ) -> StoreResult<Result<ImportReport, Refusal>> {
        let id = Uuid::now_v7();
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("exchange_refusal")
                    .columns([
                        "county_code",
                        "id",
                        "partner_code",
                        "package_id",
                        "reason",
                        "file_name",
                        "refused_at",
                        "refused_by",
                    ])
                    .values_panic([
                        partner.county.as_str().into(),
                        id.into(),
                        partner.code.as_str().into(),
                        manifest.map(|m| m.package_id).into(),
                        refusal.to_string().into(),
                        options.file_name.clone().into(),
                        OffsetDateTime::now_utc().into(),
                        self.caller.username.to_string().into(),
                    ]),
            )
            .await?;
        let entry = self.entry(
            AuditAction::Write,
            format!("exchange_refusal/{}/{id}", partner.county),
            partner.county.as_str(),
            format!("refused a package from {}: {refusal}", partner.code),
        );
        work.commit(entry).await?;
        Ok(Err(refusal))
    }

    async fn unknown_acknowledged(&self, partner: &Partner, manifest: &Manifest) -> StoreResult<Option<Refusal>> {
        let Some(answered) = manifest.acknowledges else {
            return Ok(Some(Refusal::Damaged(
                "回执未指明所答复的交换包 / the acknowledgement names no package".into(),
            )));
        };
        let mut q = Query::select();
        q.column("id")
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
            .and_where(Expr::col("direction").eq("sent"))
            .and_where(Expr::col("kind").eq(PackageKind::Exchange.key()))
            .and_where(Expr::col("id").eq(answered));
        Ok(self.store.db.query_one(&q).await?.is_none().then_some(Refusal::UnknownAcknowledged(answered)))
    }

    /// Hands the records after `from` to the feed pipeline, a chunk at a time, noting
    /// after each chunk how far the import got.
    async fn apply_records(
        &self,
        partner: &Partner,
        path: &Path,
        options: &ImportOptions,
        from: u64,
        report: &mut ImportReport,
        progress: Progress<'_>,
    ) -> StoreResult<()> {
        let linkage = Linkage { access: self.access };
        let department = linkage.department(&partner.county, partner.department_id).await?;
        let package_id = report.package_id;
        let source = format!("exchange:{package_id}");
        let (mut chunks, reader) = record_chunks(path, options.limits, from, options.chunk);
        let today = options.now.date();
        let mut applied = from;
        progress(applied, report.records);
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.map_err(|e| StoreError::Invalid(e.to_string()))?;
            let Some(last) = chunk.last().map(|r| r.n) else { continue };
            let mut by_kind: BTreeMap<FeedKind, Vec<FeedRow>> = BTreeMap::new();
            let mut refused: Vec<(Uuid, String, String)> = Vec::new();
            let mut roster: Vec<PackageRecord> = Vec::new();
            for record in chunk {
                if record.kind == RecordKind::Presence.key() {
                    roster.push(record);
                    continue;
                }
                match feed_row(&record, &partner.agreement) {
                    Ok((kind, row)) => {
                        if let Err(problems) = &row.record {
                            let reason = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("；");
                            refused.push((record.id, record.kind.clone(), reason));
                        }
                        by_kind.entry(kind).or_default().push(row);
                    }
                    Err(reason) => refused.push((record.id, record.kind.clone(), reason)),
                }
            }
            for (kind, rows) in by_kind {
                let receipt = linkage.receive(&department, kind, &source, rows, &options.settings, today).await?;
                report.received += receipt.received;
                report.already_received += receipt.already_received;
                report.events += receipt.events;
                for (outcome, n) in receipt.outcomes {
                    *report.outcomes.entry(outcome).or_default() += n;
                }
            }
            let work = crate::write::UnitOfWork::begin(self.store).await?;
            report.roster += roster.len() as u64;
            for record in &roster {
                let allowed = |column: FeedColumn| partner.agreement.lets_through(FeedKind::Residence, column);
                let text = |key: &str| {
                    let column = FeedColumn::of_heading(FeedKind::Residence, key)?;
                    let value = record.fields.get(key).map(|t| t.trim().to_string()).filter(|t| !t.is_empty())?;
                    allowed(column).then_some(value)
                };
                let date = text("dob").and_then(|t| jiceng_domain::exchange::values::parse_date(&t).ok());
                let sex = text("sex").and_then(|t| jiceng_domain::exchange::values::parse_sex(&t));
                let Some(name) = text("name") else {
                    refused.push((
                        record.id,
                        record.kind.clone(),
                        "在住名单缺少姓名 / a roster line without a name".into(),
                    ));
                    continue;
                };
                work.txn
                    .execute(
                        Query::insert()
                            .into_table("exchange_roster")
                            .columns([
                                "county_code",
                                "partner_code",
                                "record_id",
                                "package_id",
                                "name",
                                "sex",
                                "birth_date",
                                "id_number",
                                "region",
                            ])
                            .values_panic([
                                partner.county.as_str().into(),
                                partner.code.as_str().into(),
                                record.id.into(),
                                package_id.into(),
                                name.chars().take(64).collect::<String>().into(),
                                sex.map(|s| s.key()).into(),
                                date.into(),
                                text("id_number").map(|t| t.to_ascii_uppercase()).into(),
                                text("region").into(),
                            ])
                            .on_conflict(
                                OnConflict::columns(["county_code", "partner_code", "record_id"])
                                    .update_columns(["package_id", "name", "sex", "birth_date", "id_number", "region"])
                                    .to_owned(),
                            ),
                    )
                    .await?;
            }
            report.refused += refused.len() as u64;
            for (record_id, kind, reason) in &refused {
                work.txn
                    .execute(
                        Query::insert()
                            .into_table("exchange_refused_record")
                            .columns(["county_code", "package_id", "record_id", "kind", "reason"])
                            .values_panic([
                                partner.county.as_str().into(),
                                package_id.into(),
                                (*record_id).into(),
                                kind.clone().into(),
                                reason.clone().into(),
                            ])
                            .on_conflict(
                                OnConflict::columns(["county_code", "package_id", "record_id"]).do_nothing().to_owned(),
                            ),
                    )
                    .await?;
            }
            let mut update = Query::update();
            update
                .table("exchange_package")
                .value("applied", last as i64)
                .value("refused", Expr::col("refused").add(refused.len() as i64))
                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("id").eq(package_id))
                .and_where(Expr::col("direction").eq("received"));
            if last == report.records {
                update
                    .value("state", "applied")
                    .value("finished_at", OffsetDateTime::now_utc())
                    .value("delivered", Expr::col("records").sub(Expr::col("refused").add(refused.len() as i64)));
            }
            work.txn.execute(&update).await?;
            let entry = self.change_entry(
                format!("exchange_package/{}/{package_id}", partner.county),
                &partner.county,
                format!("applied records {} to {last}: {} refused", applied + 1, refused.len()),
            );
            work.commit(entry).await?;
            applied = last;
            progress(applied, report.records);
        }
        reader.await.map_err(|e| StoreError::Internal(format!("package reader: {e}")))?;
        if applied < report.records {
            return Err(StoreError::Internal(format!("package {package_id} ended after {applied} records")));
        }
        if report.records == 0 || from == report.records {
            self.finish_empty(partner, package_id).await?;
        }
        Ok(())
    }

    async fn finish_empty(&self, partner: &Partner, package_id: Uuid) -> StoreResult<()> {
        self.store
            .db
            .execute(
                Query::update()
                    .table("exchange_package")
                    .value("state", "applied")
                    .value("finished_at", OffsetDateTime::now_utc())
                    .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                    .and_where(Expr::col("id").eq(package_id))
                    .and_where(Expr::col("direction").eq("received"))
                    .and_where(Expr::col("state").eq("applying")),
            )
            .await?;
        Ok(())
    }

    /// Marks the records of the package an acknowledgement answers: the refused ones
    /// with their reasons, the rest delivered. One transaction.
    async fn apply_acknowledgement(
        &self,
        partner: &Partner,
        manifest: &Manifest,
        path: &Path,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> StoreResult<()> {
        let answered = manifest.acknowledges.ok_or_else(|| invalid("回执未指明交换包", "no package acknowledged"))?;
        // Read as a stream, a chunk at a time, into one transaction.
        let (mut chunks, reader) = record_chunks(path, options.limits, 0, CHUNK);
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        let mut refused = 0i64;
        while let Some(chunk) = chunks.recv().await {
            for r in chunk.map_err(|e| StoreError::Invalid(e.to_string()))? {
                refused += 1;
                let kind = r.fields.get("kind").cloned().unwrap_or_default();
                let reason = r.fields.get("reason").cloned().unwrap_or_default();
                work.txn
                    .execute(
                        Query::insert()
                            .into_table("exchange_refused_record")
                            .columns(["county_code", "package_id", "record_id", "kind", "reason"])
                            .values_panic([
                                partner.county.as_str().into(),
                                answered.into(),
                                r.id.into(),
                                kind.chars().take(32).collect::<String>().into(),
                                reason.chars().take(500).collect::<String>().into(),
                            ])
                            .on_conflict(
                                OnConflict::columns(["county_code", "package_id", "record_id"]).do_nothing().to_owned(),
                            ),
                    )
                    .await?;
            }
        }
        reader.await.map_err(|e| StoreError::Internal(format!("package reader: {e}")))?;
        let delivered = manifest.delivered.unwrap_or(0);
        let now = OffsetDateTime::now_utc();
        let sent: Vec<(&str, sea_orm::Value)> = vec![
            ("state", "acknowledged".into()),
            ("delivered", (delivered as i64).into()),
            ("refused", refused.into()),
            ("acknowledged_at", now.into()),
        ];
        let received: Vec<(&str, sea_orm::Value)> =
            vec![("state", "applied".into()), ("applied", refused.into()), ("finished_at", now.into())];
        for (id, values) in [(answered, sent), (manifest.package_id, received)] {
            let mut update = Query::update();
            update.table("exchange_package");
            for (column, value) in values {
                update.value(column, value);
            }
            update
                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("id").eq(id))
                .and_where(Expr::col("direction").eq(if id == answered { "sent" } else { "received" }));
            work.txn.execute(&update).await?;
        }
        let entry = self.change_entry(
            format!("exchange_package/{}/{answered}", partner.county),
            &partner.county,
            format!("acknowledged by {}: {delivered} delivered, {refused} refused", partner.code),
        );
        work.commit(entry).await?;
        report.delivered = delivered;
        report.refused = refused as u64;
        Ok(())
    }
}

/// The records of a verified package after position `after`, read on a blocking
/// thread and handed over `size` at a time (two chunks ahead at most): memory stays
/// bounded whatever the package's length. A record that fails ends the stream with its
/// refusal.
fn record_chunks(
    path: &Path,
    limits: ReadLimits,
    after: u64,
    size: usize,
) -> (tokio::sync::mpsc::Receiver<Result<Vec<PackageRecord>, Refusal>>, tokio::task::JoinHandle<()>) {
    let (sender, chunks) = tokio::sync::mpsc::channel::<Result<Vec<PackageRecord>, Refusal>>(2);
    let owned = path.to_path_buf();
    let size = size.max(1);
    let reader = tokio::task::spawn_blocking(move || {
        let stream = match files::records(&owned, &limits, after) {
            Ok(s) => s,
            Err(e) => {
                let _ = sender.blocking_send(Err(e));
                return;
            }
        };
        let mut chunk = Vec::with_capacity(size);
        for record in stream {
            match record {
                Ok(r) => chunk.push(r),
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            }
            if chunk.len() == size && sender.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                return;
            }
        }
        if !chunk.is_empty() {
            let _ = sender.blocking_send(Ok(chunk));
        }
    });
    (chunks, reader)
}

/// A package record as a feed row (its cells under their headings, read with the
/// feed's reader), or why it cannot be one.
fn feed_row(record: &PackageRecord, agreement: &Agreement) -> Result<(FeedKind, FeedRow), String> {
    let (kind, mut cells) = record.feed_cells()?;
    // What the agreement does not let through is not kept, whatever the sender wrote.
    cells.retain(|(c, _)| agreement.lets_through(kind, *c));
    // The record's number on this side is the sender's id for it.
    cells.retain(|(c, _)| *c != FeedColumn::RecordNo);
    cells.insert(0, (FeedColumn::RecordNo, record.id.to_string()));
    let borrowed: Vec<(FeedColumn, &str)> = cells.iter().map(|(c, t)| (*c, t.as_str())).collect();
    let read: Result<FeedRecord, _> = read_record(kind, &borrowed);
    let cells = cells.iter().map(|(c, t)| (c.heading(kind, true).to_string(), t.clone())).collect();
    Ok((kind, FeedRow { line: record.n, cells, record: read }))
}

#[allow(clippy::too_many_arguments)]
async fn insert_package(
    txn: &impl ConnectionTrait,
    county: &DivisionCode,
    direction: &str,
    manifest: &Manifest,
    digest: &str,
    state: &str,
    records: u64,
    file_name: &str,
    by: &str,
) -> StoreResult<()> {
    let partner = if direction == "sent" { &manifest.receiver } else { &manifest.sender };
    let counts = serde_json::to_string(&manifest.counts).map_err(|e| StoreError::Internal(format!("counts: {e}")))?;
    let inserted = txn
        .execute(
            Query::insert()
                .into_table("exchange_package")
                .columns([
                    "county_code",
                    "id",
                    "direction",
                    "partner_code",
                    "kind",
                    "sequence",
                    "period_from",
                    "period_to",
                    "created_at",
                    "records",
                    "counts",
                    "digest",
                    "state",
                    "applied",
                    "delivered",
                    "refused",
                    "acknowledges",
                    "file_name",
                    "handled_at",
                    "handled_by",
                ])
                .values_panic([
                    county.as_str().into(),
                    manifest.package_id.into(),
                    direction.into(),
                    partner.as_str().into(),
                    manifest.kind.clone().into(),
                    (manifest.sequence as i64).into(),
                    manifest.period_from.into(),
                    manifest.period_to.into(),
                    manifest.created_at.into(),
                    (records as i64).into(),
                    counts.into(),
                    digest.into(),
                    state.into(),
                    0i64.into(),
                    0i64.into(),
                    0i64.into(),
                    manifest.acknowledges.into(),
                    file_name.into(),
                    OffsetDateTime::now_utc().into(),
                    by.into(),
                ])
                .on_conflict(
                    OnConflict::columns(["county_code", "direction", "partner_code", "kind", "sequence"])
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?
        .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Invalid(format!(
            "第 {} 号{}已有记录（同时进行的另一次导出或导入）/ package {} of this kind is already recorded (another export or import at the same time)",
            manifest.sequence,
            PackageKind::from_key(&manifest.kind).map_or("交换包", |k| k.label_zh()),
            manifest.sequence
        )));
    }
    Ok(())
}

/// Writes the package to a temporary file beside `out` and moves it into place, so a
/// failed export leaves no half-written package.
async fn write_file(
    writer: PackageWriter,
    manifest: Manifest,
    key: &PrivateKey,
    out: &Path,
) -> StoreResult<files::Written> {
    let key = key.clone();
    let out = out.to_path_buf();
    blocking(move || {
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        let written = writer.finish(manifest, &key, std::io::BufWriter::new(temp.as_file_mut()))?;
        temp.as_file().sync_all()?;
        temp.persist(&out).map_err(|e| e.error)?;
        Ok::<_, std::io::Error>(written)
    })
    .await?
    .map_err(io_error)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Invalid(format!("交换包写入失败：{e} / the package could not be written: {e}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("exchange worker: {e}")))
}
