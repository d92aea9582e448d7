//! Change events: submitted, reviewed by the community, confirmed by the street,
//! accepted by the district — or returned with a reason and resubmitted. Only
//! acceptance changes the registry, in the same transaction as the statistics.

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::{ExitReason, MaritalStatus, Sex};
use jiceng_domain::reporting::{
    Deadlines, EventAction, EventDetails, EventKind, EventState, Month, ReviewLevel, cell, decide,
};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::cells::Locks;
use super::{Actor, Reporting, deadlines};
use crate::error::{StoreError, StoreResult, decode, decode_opt};
use crate::read_rows;
use crate::registry::rows::month_column;
use crate::registry::{
    append_resident_version, current_household, current_resident, exit_resident, insert_new_resident, subtree,
};
use crate::write::UnitOfWork;

/// What a reporter submits (or edits before resubmitting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub county: DivisionCode,
    /// The person the event is about; `None` for births and moves into the area.
    pub resident_id: Option<Uuid>,
    pub occurred_on: Date,
    pub urgent: bool,
    pub evidence: String,
    pub details: EventDetails,
}

/// A change event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub county: DivisionCode,
    pub id: Uuid,
    pub kind: EventKind,
    pub state: EventState,
    pub community: DivisionCode,
    pub resident_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub occurred_on: Date,
    pub reported_on: Date,
    pub reported_by: String,
    pub urgent: bool,
    pub evidence: String,
    pub details: EventDetails,
    pub timely: bool,
    /// The day the event reached the level it waits for.
    pub step_since: Date,
    pub due_on: Option<Date>,
    pub return_reason: Option<String>,
    /// The month the accepted event is counted in.
    pub counted_in: Option<Month>,
    /// Set when the event was counted later than it happened (its month was locked).
    pub adjusts: Option<Month>,
    /// The person an accepted birth or move-in created.
    pub applied_resident_id: Option<Uuid>,
    /// The subject's sex when reported (what the statistics count).
    pub sex: Option<Sex>,
    /// The version of the person's record the report was made against.
    pub subject_version: Option<i32>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl ChangeEvent {
    pub fn overdue(&self, today: Date) -> bool {
        self.due_on.is_some_and(|d| d < today)
    }

    /// The person's name as the event gives it (births and moves in), for lists.
    pub fn newcomer_name(&self) -> Option<&str> {
        match &self.details {
            EventDetails::Birth { child, .. } => Some(child.name.as_str()),
            EventDetails::MoveIn { newcomer, .. } => Some(newcomer.name.as_str()),
            _ => None,
        }
    }
}

/// One step in an event's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStep {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: EventAction,
    pub from: EventState,
    pub to: EventState,
    pub reason: Option<String>,
}

/// An evidence file attached to an event (without its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: Uuid,
    pub file_name: String,
    pub media_type: String,
    pub size: u64,
}

const EVENT_COLUMNS: [&str; 26] = [
    "county_code",
    "id",
    "kind",
    "state",
    "community_code",
    "resident_id",
    "household_id",
    "occurred_on",
    "reported_on",
    "reported_by",
    "urgent",
    "evidence",
    "details",
    "sex",
    "birth_order",
    "province",
    "timely",
    "step_since",
    "due_on",
    "return_reason",
    "counted_in",
    "adjusts",
    "applied_resident_id",
    "subject_version",
    "created_at",
    "updated_at",
];

fn event_select() -> SelectStatement {
    let mut q = Query::select();
    q.columns(EVENT_COLUMNS).from("change_event");
    q
}

fn event_row(r: &QueryResult) -> StoreResult<ChangeEvent> {
    let county: String = r.try_get("", "county_code")?;
    let kind: String = r.try_get("", "kind")?;
    let state: String = r.try_get("", "state")?;
    let community: String = r.try_get("", "community_code")?;
    let details: String = r.try_get("", "details")?;
    Ok(from_row!(r => ChangeEvent {
        id, resident_id, household_id, occurred_on, reported_on, reported_by, urgent, evidence, timely,
        step_since, due_on, return_reason, applied_resident_id, subject_version, created_at, updated_at;
        county: decode("change_event", "county_code", &county, DivisionCode::parse)?,
        kind: decode_opt("change_event", "kind", &kind, EventKind::from_key)?,
        state: decode_opt("change_event", "state", &state, EventState::from_key)?,
        community: decode("change_event", "community_code", &community, DivisionCode::parse)?,
        details: decode("change_event", "details", &details, |t| serde_json::from_str::<EventDetails>(t))?,
        counted_in: month_column(r, "counted_in")?,
        adjusts: month_column(r, "adjusts")?,
        sex: {
            let sex: Option<String> = r.try_get("", "sex")?;
            sex.map(|s| decode_opt("change_event", "sex", &s, Sex::from_key)).transpose()?
        },
    }))
}

/// Where an event belongs and the facts the statistics keep about it.
struct Subject {
    community: DivisionCode,
    household_id: Option<Uuid>,
    sex: Option<Sex>,
    version: Option<i32>,
}

fn invalid(zh: &str, en: &str) -> StoreError {
    StoreError::Invalid(format!("{zh} / {en}"))
}

impl Reporting<'_> {
    /// Checks what an event says against the registry as it stands, and finds the
    /// community it belongs to.
    async fn subject(&self, db: &DatabaseTransaction, new: &NewEvent, today: Date) -> StoreResult<Subject> {
        if new.occurred_on > today {
            return Err(invalid("事件日期晚于今天", "the event date is in the future"));
        }
        if new.evidence.chars().count() > 2000 {
            return Err(invalid("说明过长（最多2000字）", "the evidence text is too long (2,000 characters at most)"));
        }
        let registry = match self.scope {
            Some(scope) => self.store.registry_in(scope),
            None => self.store.registry(),
        };
        if let EventDetails::Birth { child: facts, .. } | EventDetails::MoveIn { newcomer: facts, .. } = &new.details {
            if new.resident_id.is_some() {
                return Err(invalid("出生和迁入事件登记新的人", "births and moves in record a new person"));
            }
            facts.check(today).map_err(|e| StoreError::Invalid(e.to_string()))?;
            if matches!(new.details, EventDetails::Birth { .. }) && facts.birth_date != new.occurred_on {
                return Err(invalid("出生日期须与事件日期相同", "the date of birth must be the event date"));
            }
            if new.occurred_on < facts.birth_date {
                return Err(invalid("迁入日期早于出生日期", "the move-in date is before the date of birth"));
            }
            let household = current_household(db, &new.county, facts.household_id).await?;
            registry.require_scope(&household.location.community, "户 / household")?;
            return Ok(Subject {
                community: household.location.community,
                household_id: Some(facts.household_id),
                sex: Some(facts.sex),
                version: None,
            });
        }
        let Some(resident_id) = new.resident_id else {
            return Err(invalid("请指明事件涉及的居民", "name the resident the event is about"));
        };
        let current = current_resident(db, &new.county, resident_id).await?;
        registry.require_scope(&current.community, "居民 / resident")?;
        if new.occurred_on < current.stamp.valid_from {
            return Err(StoreError::Retroactive {
                valid_from: new.occurred_on,
                current_from: current.stamp.valid_from,
            });
        }
        match &new.details {
            EventDetails::MoveWithin { household_id } => {
                if *household_id == current.facts.household_id {
                    return Err(invalid("迁入的户与现住户相同", "the new household is the current one"));
                }
                let target = current_household(db, &new.county, *household_id).await?;
                registry.require_scope(&target.location.community, "户 / household")?;
            }
            EventDetails::Correction { facts } => {
                facts.check(today).map_err(|e| StoreError::Invalid(e.to_string()))?;
                if facts.household_id != current.facts.household_id {
                    return Err(invalid(
                        "更正不改变所在户；请报区内迁移",
                        "a correction keeps the household; report a move",
                    ));
                }
            }
            EventDetails::StatusChange { status } if *status == current.facts.residence_status => {
                return Err(invalid("人口类型未改变", "the residence status is unchanged"));
            }
            EventDetails::Marriage { partner } | EventDetails::Divorce { partner } => {
                if let Some(p) = partner {
                    if *p == resident_id {
                        return Err(invalid("配偶不能是本人", "the partner cannot be the same person"));
                    }
                    let partner = current_resident(db, &new.county, *p).await?;
                    registry.require_scope(&partner.community, "居民 / resident")?;
                }
            }
            _ => {}
        }
        Ok(Subject {
            community: current.community,
            household_id: Some(current.facts.household_id),
            sex: Some(current.facts.sex),
            version: Some(current.stamp.version),
        })
    }

    /// Submits an event. It starts at the first level above the submitter's own; an
    /// urgent one notifies the street office at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn submit(&self, new: &NewEvent, actor: Actor<'_>, today: Date) -> StoreResult<Uuid> {
        let mut work = UnitOfWork::begin(self.store).await?;
        let id = self.submit_in(&mut work, new, actor, today).await?;
        let detail = format!("submit {}", new.details.kind().key());
        let entry = self.change_entry(format!("event/{}/{id}", new.county), &new.county, detail);
        work.commit(entry).await?;
        Ok(id)
    }

    /// [`Self::submit`] inside a caller's transaction (bulk loads of synthetic history).
    /// The checks run before anything is written, so a refused event leaves the
    /// transaction usable.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn submit_in(
        &self,
        work: &mut UnitOfWork,
        new: &NewEvent,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<Uuid> {
        let deadlines = deadlines_of(work).await?;
        let txn = &work.txn;
        let subject = self.subject(txn, new, today).await?;
        let state = decide(EventState::Submitted, actor.role, EventAction::Submit, None)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let id = Uuid::now_v7();
        let now = OffsetDateTime::now_utc();
        let details = serde_json::to_string(&new.details).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let values: [sea_orm::sea_query::Expr; 26] = [
            new.county.as_str().into(),
            id.into(),
            new.details.kind().key().into(),
            state.key().into(),
            subject.community.as_str().into(),
            new.resident_id.into(),
            subject.household_id.into(),
            new.occurred_on.into(),
            today.into(),
            actor.username.into(),
            new.urgent.into(),
            new.evidence.trim().into(),
            details.into(),
            subject.sex.map(|s| s.key()).into(),
            birth_order(&new.details).into(),
            new.details.province().map(|p| p.as_str().to_string()).into(),
            deadlines.timely(new.occurred_on, today).into(),
            today.into(),
            deadlines.due(state, today).into(),
            None::<String>.into(),
            None::<String>.into(),
            None::<String>.into(),
            None::<Uuid>.into(),
            subject.version.into(),
            now.into(),
            now.into(),
        ];
        txn.execute(Query::insert().into_table("change_event").columns(EVENT_COLUMNS).values_panic(values)).await?;
        add_step(txn, &new.county, id, actor.username, EventAction::Submit, EventState::Submitted, state, None).await?;
        if new.urgent {
            notify_street(txn, &new.county, id, &subject.community, new.details.kind()).await?;
        }
        if state == EventState::Accepted {
            let event = self.event_in(&work.txn, &new.county, id).await?;
            self.accept(work, &event, actor).await?;
        }
        Ok(id)
    }

    /// Edits a returned event and sends it up again.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resubmit(&self, id: Uuid, edited: &NewEvent, actor: Actor<'_>, today: Date) -> StoreResult<()> {
        let work = UnitOfWork::begin(self.store).await?;
        let txn = &work.txn;
        let event = self.event_in(txn, &edited.county, id).await?;
        if event.kind != edited.details.kind() {
            return Err(invalid("不能改变事件类型", "the kind of event cannot change"));
        }
        let state = decide(event.state, actor.role, EventAction::Resubmit, None)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let subject = self.subject(txn, edited, today).await?;
        let deadlines = deadlines(txn).await?;
        let details = serde_json::to_string(&edited.details).map_err(|e| StoreError::Invalid(e.to_string()))?;
        txn.execute(
            Query::update()
                .table("change_event")
                .value("state", state.key())
                .value("community_code", subject.community.as_str())
                .value("resident_id", edited.resident_id)
                .value("household_id", subject.household_id)
                .value("occurred_on", edited.occurred_on)
                .value("urgent", edited.urgent)
                .value("evidence", edited.evidence.trim())
                .value("details", details)
                .value("sex", subject.sex.map(|s| s.key()))
                .value("birth_order", birth_order(&edited.details))
                .value("province", edited.details.province().map(|p| p.as_str().to_string()))
                .value("timely", deadlines.timely(edited.occurred_on, event.reported_on))
                .value("step_since", today)
                .value("due_on", deadlines.due(state, today))
                .value("return_reason", None::<String>)
                .value("subject_version", subject.version)
                .value("updated_at", OffsetDateTime::now_utc())
                .and_where(Expr::col("county_code").eq(edited.county.as_str()))
                .and_where(Expr::col("id").eq(id))
                .and_where(Expr::col("state").eq(event.state.key())),
        )
        .await
        .and_then(changed_one)
        .map_err(decided_meanwhile)?;
        add_step(txn, &edited.county, id, actor.username, EventAction::Resubmit, event.state, state, None).await?;
        if edited.urgent {
            notify_street(txn, &edited.county, id, &subject.community, event.kind).await?;
        }
        let county = &edited.county;
        work.commit(self.change_entry(format!("event/{county}/{id}"), county, "resubmit".into())).await?;
        Ok(())
    }

    /// A reviewer approves or returns an event. Acceptance (the district's approval)
    /// applies it to the registry and the statistics in the same transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn decide(
        &self,
        county: &DivisionCode,
        id: Uuid,
        action: EventAction,
        reason: Option<&str>,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<EventState> {
        if !matches!(action, EventAction::Approve | EventAction::Return) {
            return Err(invalid("审核只能通过或退回", "a review approves or returns"));
        }
        let mut work = UnitOfWork::begin(self.store).await?;
        let state = self.decide_in(&mut work, county, id, action, reason, actor, today).await?;
        let detail = format!("{} → {}", action.key(), state.key());
        work.commit(self.change_entry(format!("event/{county}/{id}"), county, detail)).await?;
        Ok(state)
    }

    /// [`Self::decide`] inside a caller's transaction.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn decide_in(
        &self,
        work: &mut UnitOfWork,
        county: &DivisionCode,
        id: Uuid,
        action: EventAction,
        reason: Option<&str>,
        actor: Actor<'_>,
        today: Date,
    ) -> StoreResult<EventState> {
        let txn = &work.txn;
        let event = self.event_in(txn, county, id).await?;
        let state = decide(event.state, actor.role, action, reason).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let deadlines = deadlines_of(work).await?;
        let txn = &work.txn;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        txn.execute(
            Query::update()
                .table("change_event")
                .value("state", state.key())
                .value("step_since", today)
                .value("due_on", deadlines.due(state, today))
                .value("return_reason", if state == EventState::Returned { reason } else { None })
                .value("updated_at", OffsetDateTime::now_utc())
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("id").eq(id))
                // Two reviewers deciding at once: only the first decision stands.
                .and_where(Expr::col("state").eq(event.state.key())),
        )
        .await
        .and_then(changed_one)
        .map_err(decided_meanwhile)?;
        add_step(txn, county, id, actor.username, action, event.state, state, reason).await?;
        if state == EventState::Accepted {
            self.accept(work, &event, actor).await?;
        }
        Ok(state)
    }

    /// Applies an accepted event: new versions in the registry (history intact) and its
    /// figures in the report cells of the month it is counted in.
    async fn accept(&self, work: &mut UnitOfWork, event: &ChangeEvent, actor: Actor<'_>) -> StoreResult<()> {
        let (county, id) = (&event.county, event.id);
        let recorded_by = actor.username;
        let date = event.occurred_on;
        // The unit of work reads each community's locks once (the demo accepts a year
        // of a community's events in one).
        work.lock(&event.community).await?;
        let mut locks = work.locks.clone();
        let txn = &work.txn;
        let tally = &mut work.changes.tally;
        let c = &event.community;
        let mut applied_resident = None;
        let counted: Month = match &event.details {
            EventDetails::Birth { child, birth_order, .. } => {
                let (rid, m) = insert_new_resident(txn, county, child, c, date, recorded_by, &locks, tally).await?;
                applied_resident = Some(rid);
                tally.add(c, m, &cell::births(child.sex), 1);
                tally.add(c, m, &cell::birth_order(*birth_order), 1);
                m
            }
            EventDetails::MoveIn { newcomer, .. } => {
                let (rid, m) = insert_new_resident(txn, county, newcomer, c, date, recorded_by, &locks, tally).await?;
                applied_resident = Some(rid);
                tally.add(c, m, cell::MOVES_IN, 1);
                if let Some(p) = event.details.province() {
                    tally.add(c, m, &cell::moves_in_from(&p), 1);
                }
                m
            }
            EventDetails::Death | EventDetails::MoveOut { .. } => {
                let current = self.resident_of(txn, event).await?;
                let reason = if event.kind == EventKind::Death { ExitReason::Died } else { ExitReason::MovedAway };
                let m = exit_resident(txn, &current, date, reason, recorded_by, &locks, tally).await?;
                if event.kind == EventKind::Death {
                    tally.add(c, m, &cell::deaths(event.sex.unwrap_or(current.facts.sex)), 1);
                } else {
                    tally.add(c, m, cell::MOVES_OUT, 1);
                    if let Some(p) = event.details.province() {
                        tally.add(c, m, &cell::moves_out_to(&p), 1);
                    }
                }
                m
            }
            EventDetails::Marriage { partner } | EventDetails::Divorce { partner } => {
                let status =
                    if event.kind == EventKind::Marriage { MaritalStatus::Married } else { MaritalStatus::Divorced };
                let mut first = None;
                for rid in std::iter::once(event.resident_id).chain(std::iter::once(*partner)).flatten() {
                    let current = current_resident(txn, county, rid).await?;
                    locks.extend(Locks::under(txn, &current.community).await?);
                    let facts =
                        jiceng_domain::registry::ResidentFacts { marital_status: status, ..current.facts.clone() };
                    let (_, m) = append_resident_version(
                        txn,
                        &current,
                        &facts,
                        &current.community,
                        date,
                        recorded_by,
                        &locks,
                        tally,
                    )
                    .await?;
                    first.get_or_insert(m);
                }
                let m = first.unwrap_or_else(|| locks.counted(&[c], date, None));
                let name = if event.kind == EventKind::Marriage { cell::MARRIAGES } else { cell::DIVORCES };
                tally.add(c, m, name, 1);
                m
            }
            EventDetails::MoveWithin { household_id } => {
                let current = self.resident_of(txn, event).await?;
                let target = current_household(txn, county, *household_id).await?;
                locks.extend(Locks::under(txn, &target.location.community).await?);
                let facts =
                    jiceng_domain::registry::ResidentFacts { household_id: *household_id, ..current.facts.clone() };
                let (_, m) = append_resident_version(
                    txn,
                    &current,
                    &facts,
                    &target.location.community,
                    date,
                    recorded_by,
                    &locks,
                    tally,
                )
                .await?;
                tally.add(c, m, cell::MOVES_WITHIN, 1);
                m
            }
            EventDetails::StatusChange { status } => {
                let current = self.resident_of(txn, event).await?;
                let facts =
                    jiceng_domain::registry::ResidentFacts { residence_status: *status, ..current.facts.clone() };
                // Where the person lives now (they may have moved since the report).
                let (_, m) = append_resident_version(
                    txn,
                    &current,
                    &facts,
                    &current.community,
                    date,
                    recorded_by,
                    &locks,
                    tally,
                )
                .await?;
                tally.add(c, m, cell::STATUS_CHANGES, 1);
                m
            }
            EventDetails::Correction { facts } => {
                let current = self.resident_of(txn, event).await?;
                // A correction states every fact: applied over a record that changed since
                // the report, it would undo those changes.
                if event.subject_version.is_some_and(|v| v != current.stamp.version) {
                    return Err(invalid(
                        "居民记录在上报后已有变更，请退回后按现有记录重报",
                        "the record changed after this report; return it to be reported again against the current record",
                    ));
                }
                let (_, m) =
                    append_resident_version(txn, &current, facts, &current.community, date, recorded_by, &locks, tally)
                        .await?;
                tally.add(c, m, cell::CORRECTIONS, 1);
                m
            }
        };
        tally.add(c, counted, cell::EVENTS_ACCEPTED, 1);
        if event.timely {
            tally.add(c, counted, cell::EVENTS_TIMELY, 1);
        }
        let adjusts = locks.adjusts(c, date).then(|| Month::of(date));
        if adjusts.is_some() {
            tally.add(c, counted, cell::EVENTS_ADJUSTMENTS, 1);
        }
        txn.execute(
            Query::update()
                .table("change_event")
                .value("counted_in", counted.key())
                .value("adjusts", adjusts.map(Month::key))
                .value("applied_resident_id", applied_resident)
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("id").eq(id)),
        )
        .await?;
        Ok(())
    }

    async fn resident_of(
        &self,
        txn: &DatabaseTransaction,
        event: &ChangeEvent,
    ) -> StoreResult<crate::registry::ResidentVersion> {
        let Some(rid) = event.resident_id else {
            return Err(invalid("事件未指明居民", "the event names no resident"));
        };
        current_resident(txn, &event.county, rid).await
    }

    async fn event_in(&self, db: &impl ConnectionTrait, county: &DivisionCode, id: Uuid) -> StoreResult<ChangeEvent> {
        let mut q = event_select();
        q.and_where(Expr::col("county_code").eq(county.as_str())).and_where(Expr::col("id").eq(id));
        let not_found = || StoreError::NotFound { what: "事件 / event".to_string() };
        let event = db.query_one(&q).await?.map(|r| event_row(&r)).transpose()?.ok_or_else(not_found)?;
        if let Some(scope) = self.scope
            && !scope.covers(&event.community)
        {
            return Err(not_found());
        }
        Ok(event)
    }

    /// One event, if it exists and is in scope.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn event(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Option<ChangeEvent>> {
        match self.event_in(&self.store.db, county, id).await {
            Ok(e) => Ok(Some(e)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An event's history, oldest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn steps(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Vec<EventStep>> {
        self.event_in(&self.store.db, county, id).await?;
        let mut q = Query::select();
        q.columns(["at", "actor", "action", "from_state", "to_state", "reason"])
            .from("change_event_step")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("event_id").eq(id))
            .order_by("seq", Order::Asc);
        read_rows(&self.store.db, &q, |r| {
            let action: String = r.try_get("", "action")?;
            let from: String = r.try_get("", "from_state")?;
            let to: String = r.try_get("", "to_state")?;
            Ok(from_row!(r => EventStep {
                at, actor, reason;
                action: decode_opt("change_event_step", "action", &action, EventAction::from_key)?,
                from: decode_opt("change_event_step", "from_state", &from, EventState::from_key)?,
                to: decode_opt("change_event_step", "to_state", &to, EventState::from_key)?,
            }))
        })
        .await
    }

    /// Events in `states` under `node` (and in scope), oldest report first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn queue(&self, node: &DivisionCode, states: &[EventState], limit: u64) -> StoreResult<Vec<ChangeEvent>> {
        self.require_node(node)?;
        let mut q = event_select();
        q.and_where(Expr::col("state").is_in(states.iter().map(|s| s.key())))
            .cond_where(subtree(node, "community_code"))
            .order_by("reported_on", Order::Asc)
            .order_by("created_at", Order::Asc)
            .limit(limit);
        self.scoped(q).await
    }

    /// What waits for `level`'s decision under `node`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn awaiting(&self, node: &DivisionCode, level: ReviewLevel, limit: u64) -> StoreResult<Vec<ChangeEvent>> {
        let state =
            EventState::ALL.iter().copied().find(|s| s.awaiting() == Some(level)).unwrap_or(EventState::Submitted);
        self.queue(node, &[state], limit).await
    }

    /// Events about one resident that are not yet accepted (shown as pending on the record).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn pending_for_resident(
        &self,
        county: &DivisionCode,
        resident_id: Uuid,
    ) -> StoreResult<Vec<ChangeEvent>> {
        let mut q = event_select();
        q.and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident_id))
            .and_where(Expr::col("state").ne(EventState::Accepted.key()))
            .order_by("created_at", Order::Asc);
        self.scoped(q).await
    }

    async fn scoped(&self, q: SelectStatement) -> StoreResult<Vec<ChangeEvent>> {
        let events: Vec<ChangeEvent> =
            self.store.db.query_all(&q).await?.iter().map(event_row).collect::<StoreResult<_>>()?;
        Ok(match self.scope {
            Some(scope) => events.into_iter().filter(|e| scope.covers(&e.community)).collect(),
            None => events,
        })
    }

    /// Counts of events waiting at each level under `node`, and how many are overdue.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn queue_counts(&self, node: &DivisionCode, today: Date) -> StoreResult<Vec<(EventState, u64, u64)>> {
        self.require_node(node)?;
        let mut out = Vec::new();
        for state in [EventState::Submitted, EventState::Reviewed, EventState::Confirmed, EventState::Returned] {
            let count = |overdue: bool| {
                let mut q = Query::select();
                q.expr(Expr::col("id").count())
                    .from("change_event")
                    .and_where(Expr::col("state").eq(state.key()))
                    .cond_where(subtree(node, "community_code"));
                if overdue {
                    q.and_where(Expr::col("due_on").lt(today));
                }
                q
            };
            let mut n = [0u64; 2];
            for (i, overdue) in [false, true].into_iter().enumerate() {
                if let Some(r) = self.store.db.query_one(&count(overdue)).await? {
                    n[i] = r.try_get_by_index::<i64>(0)? as u64;
                }
            }
            out.push((state, n[0], n[1]));
        }
        Ok(out)
    }

    /// Attaches an evidence file (at most 5 MB) to an event that is not yet accepted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn attach(
        &self,
        county: &DivisionCode,
        event_id: Uuid,
        file_name: &str,
        media_type: &str,
        content: &[u8],
        actor: Actor<'_>,
    ) -> StoreResult<Uuid> {
        let event = self.event_in(&self.store.db, county, event_id).await?;
        if event.state == EventState::Accepted {
            return Err(invalid("已接收的事件不能再添加附件", "an accepted event takes no more attachments"));
        }
        if content.is_empty() || content.len() > 5 * 1024 * 1024 {
            return Err(invalid("附件须为1字节至5MB", "an attachment must be between 1 byte and 5 MB"));
        }
        let id = Uuid::now_v7();
        let name: String = file_name.chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').take(200).collect();
        let work = UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("change_event_attachment")
                    .columns([
                        "county_code",
                        "event_id",
                        "id",
                        "file_name",
                        "media_type",
                        "content",
                        "uploaded_at",
                        "uploaded_by",
                    ])
                    .values_panic([
                        county.as_str().into(),
                        event_id.into(),
                        id.into(),
                        name.clone().into(),
                        media_type.into(),
                        content.to_vec().into(),
                        OffsetDateTime::now_utc().into(),
                        actor.username.into(),
                    ]),
            )
            .await?;
        let entry = self.change_entry(format!("event/{county}/{event_id}"), county, format!("attach {name}"));
        work.commit(entry).await?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn attachments(&self, county: &DivisionCode, event_id: Uuid) -> StoreResult<Vec<Attachment>> {
        self.event_in(&self.store.db, county, event_id).await?;
        let mut q = Query::select();
        q.columns(["id", "file_name", "media_type"])
            .expr_as(Expr::cust("LENGTH(content)"), "size")
            .from("change_event_attachment")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("event_id").eq(event_id))
            .order_by("uploaded_at", Order::Asc);
        read_rows(&self.store.db, &q, |r| {
            let size: i64 = r.try_get("", "size").or_else(|_| r.try_get::<i32>("", "size").map(i64::from))?;
            Ok(from_row!(r => Attachment {
                id, file_name, media_type;
                size: size as u64,
            }))
        })
        .await
    }

    /// An attachment's name, type and bytes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn attachment(
        &self,
        county: &DivisionCode,
        event_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<(String, String, Vec<u8>)>> {
        self.event_in(&self.store.db, county, event_id).await?;
        let mut q = Query::select();
        q.columns(["file_name", "media_type", "content"])
            .from("change_event_attachment")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("event_id").eq(event_id))
            .and_where(Expr::col("id").eq(id));
        let Some(r) = self.store.db.query_one(&q).await? else { return Ok(None) };
        Ok(Some((r.try_get("", "file_name")?, r.try_get("", "media_type")?, r.try_get("", "content")?)))
    }
}

/// An update that must change exactly one row (the event in the state it was read in).
fn changed_one(result: sea_orm::ExecResult) -> Result<(), sea_orm::DbErr> {
    if result.rows_affected() == 1 { Ok(()) } else { Err(sea_orm::DbErr::RecordNotUpdated) }
}

fn decided_meanwhile(e: sea_orm::DbErr) -> StoreError {
    match e {
        sea_orm::DbErr::RecordNotUpdated => {
            invalid("该事件刚被他人处理，请刷新后再看", "someone else has just acted on this event; reload it")
        }
        e => StoreError::Database(e),
    }
}

fn birth_order(details: &EventDetails) -> Option<i16> {
    match details {
        EventDetails::Birth { birth_order, .. } => Some(*birth_order as i16),
        _ => None,
    }
}

/// The deadlines, read once per unit of work.
async fn deadlines_of(work: &mut UnitOfWork) -> StoreResult<Deadlines> {
    match work.deadlines {
        Some(d) => Ok(d),
        None => Ok(*work.deadlines.insert(deadlines(&work.txn).await?)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn add_step(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    id: Uuid,
    actor: &str,
    action: EventAction,
    from: EventState,
    to: EventState,
    reason: Option<&str>,
) -> StoreResult<()> {
    // The next number and the row in one statement (an aggregate always gives one row).
    let mut next = Query::select();
    next.expr(Expr::val(county.as_str()))
        .expr(Expr::val(id))
        .expr(Expr::cust("COALESCE(MAX(seq), 0) + 1"))
        .expr(Expr::val(OffsetDateTime::now_utc()))
        .expr(Expr::val(actor))
        .expr(Expr::val(action.key()))
        .expr(Expr::val(from.key()))
        .expr(Expr::val(to.key()))
        .expr(Expr::val(reason))
        .from("change_event_step")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("event_id").eq(id));
    txn.execute(
        Query::insert()
            .into_table("change_event_step")
            .columns(["county_code", "event_id", "seq", "at", "actor", "action", "from_state", "to_state", "reason"])
            .select_from(next)
            .map_err(|e| StoreError::Internal(format!("change_event_step: {e}")))?,
    )
    .await?;
    Ok(())
}

/// 紧急事件直报街道: an in-app notice to the street office over the community.
async fn notify_street(
    txn: &DatabaseTransaction,
    county: &DivisionCode,
    id: Uuid,
    community: &DivisionCode,
    kind: EventKind,
) -> StoreResult<()> {
    let street = community.at_level(DivisionLevel::Town).unwrap_or_else(|| community.clone());
    txn.execute(
        Query::insert()
            .into_table("notification")
            .columns(["county_code", "id", "division_code", "role", "title", "link", "created_at"])
            .values_panic([
                county.as_str().into(),
                Uuid::now_v7().into(),
                street.as_str().into(),
                jiceng_domain::org::Role::Street.key().into(),
                format!("紧急事件：{}（{}）/ Urgent event: {}", kind.label_zh(), community, kind.label_en()).into(),
                format!("/events/{county}/{id}").into(),
                OffsetDateTime::now_utc().into(),
            ]),
    )
    .await?;
    Ok(())
}
