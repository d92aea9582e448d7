//! The audit log in the database: appended under a hash chain, verified end to end.

use jiceng_domain::org::audit::{
    AccessPurpose, AuditAction, AuditFields, ChainBreak, GENESIS, StoredEntry, entry_hash, verify_chain,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::read_rows;

/// What to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: AuditAction,
    /// What was touched, e.g. `resident/440307/<uuid>` or `search`.
    pub target: String,
    /// The county the data belongs to, if any.
    pub county: String,
    /// Where the request came from (client address).
    pub origin: String,
    pub purpose: Option<AccessPurpose>,
    /// Free detail without personal data (e.g. how many people a search returned).
    pub detail: String,
}

/// A stored entry, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub origin: String,
    pub purpose: String,
    pub detail: String,
}

/// The end of a verified log: entries in all chains, how many chains, and the system
/// chain's last hash (keep it elsewhere to detect a truncated tail later; after an
/// anchor it also covers every county chain's head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub entries: i64,
    pub chains: usize,
    pub hash: String,
}

/// The chain of entries about no single county, and of the anchors.
pub const SYSTEM_CHAIN: &str = "000000";

/// The chain an entry about `county` goes to: that county's, or the system chain.
pub fn chain_of(county: &str) -> &str {
    if county.len() == 6 && county.bytes().all(|b| b.is_ascii_digit()) && county != SYSTEM_CHAIN {
        county
    } else {
        SYSTEM_CHAIN
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditVerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("链 {chain} / chain {chain}: {source}")]
    Broken { chain: String, source: ChainBreak },
    #[error(
        "链 {chain} 在锚点 {anchor} 记下的第{seq}条处不符（被截断或改写）/ chain {chain} does not hold the entry {seq} that anchor {anchor} recorded (cut short or rewritten)"
    )]
    Anchor { chain: String, seq: i64, anchor: i64 },
    #[error(
        "审计日志末端与预期不符：现有{entries}条，末条哈希 {hash} / the log's head does not match the expected one: {entries} entries, last hash {hash} (entries removed from the end?)"
    )]
    HeadMismatch { entries: i64, hash: String },
}

pub struct Audit<'a> {
    pub(crate) store: &'a Store,
}

const COLUMNS: [&str; 11] =
    ["seq", "at", "actor", "action", "target", "county", "origin", "purpose", "detail", "previous_hash", "hash"];

/// The advisory locks that serialise audit appends on PostgreSQL, one per chain: this
/// constant of ours plus the county's number.
const AUDIT_APPEND_LOCK: i64 = 4_403_070_011_000_000;

fn chain_lock(chain: &str) -> i64 {
    AUDIT_APPEND_LOCK + chain.parse::<i64>().unwrap_or(0)
}

/// Attempts before giving up when concurrent writers race for the same sequence number.
const APPEND_ATTEMPTS: usize = 20;

fn stored(r: &QueryResult) -> StoreResult<StoredEntry> {
    Ok(StoredEntry {
        fields: from_row!(r => AuditFields {
            seq, at, actor, action, target, county, origin, purpose, detail,
        }),
        previous_hash: r.try_get("", "previous_hash")?,
        hash: r.try_get("", "hash")?,
    })
}

impl Audit<'_> {
    /// Appends an entry at the end of the chain; returns its sequence number once the
    /// entry is committed. Entries arriving together are written by one task in one
    /// transaction (group commit): the chain is computed in arrival order, and no caller
    /// hears back — so no read is answered — before its entry is durable.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append(&self, entry: &NewAuditEntry) -> StoreResult<i64> {
        // Without a writer (no runtime, or its runtime ended), append directly.
        if let Some(done) = self.store.audit_queue.submit(&self.store.db, entry.clone())
            && let Ok(result) = done.await
        {
            return result;
        }
        append_retrying(&self.store.db, std::slice::from_ref(entry)).await.map(|seqs| seqs[0])
    }

    /// Walks every chain in pages, then checks every anchor against the county chains;
    /// `expected_head` (from an earlier run) also catches entries removed from the end
    /// of the system chain.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify(&self, expected_head: Option<&str>) -> Result<AuditHead, AuditVerifyError> {
        const PAGE: u64 = 10_000;
        let db = &self.store.db;
        let chains_q = Query::select().distinct().column("county_code").from("audit_entry").to_owned();
        let mut chains: Vec<String> = Vec::new();
        for r in db.query_all(&chains_q).await.map_err(StoreError::from)? {
            chains.push(r.try_get_by_index(0).map_err(StoreError::from)?);
        }
        chains.sort();
        // What the anchors recorded: chain → (seq → (hash, anchor's seq)).
        let mut anchored: std::collections::HashMap<String, std::collections::BTreeMap<i64, (String, i64)>> =
            Default::default();
        let mut anchors = Query::select();
        anchors
            .columns(["seq", "detail"])
            .from("audit_entry")
            .and_where(Expr::col("county_code").eq(SYSTEM_CHAIN))
            .and_where(Expr::col("action").eq(AuditAction::Anchor.key()));
        for r in db.query_all(&anchors).await.map_err(StoreError::from)? {
            let anchor: i64 = r.try_get("", "seq").map_err(StoreError::from)?;
            let detail: String = r.try_get("", "detail").map_err(StoreError::from)?;
            let heads: std::collections::BTreeMap<String, (i64, String)> =
                serde_json::from_str(&detail).map_err(|e| StoreError::Invalid(format!("anchor {anchor}: {e}")))?;
            for (chain, (seq, hash)) in heads {
                anchored.entry(chain).or_default().insert(seq, (hash, anchor));
            }
        }
        let mut head = AuditHead { entries: 0, chains: chains.len(), hash: GENESIS.to_string() };
        let mut seen_expected = expected_head.is_none();
        for chain in &chains {
            let wanted = anchored.remove(chain).unwrap_or_default();
            let mut previous = GENESIS.to_string();
            let mut next_seq = 1i64;
            loop {
                let mut q = Query::select();
                q.columns(COLUMNS)
                    .from("audit_entry")
                    .and_where(Expr::col("county_code").eq(chain.as_str()))
                    .and_where(Expr::col("seq").gte(next_seq))
                    .order_by("seq", Order::Asc)
                    .limit(PAGE);
                let rows = db.query_all(&q).await.map_err(StoreError::from)?;
                if rows.is_empty() {
                    break;
                }
                let entries = rows.iter().map(stored).collect::<StoreResult<Vec<_>>>()?;
                if chain == SYSTEM_CHAIN
                    && let Some(expected) = expected_head
                {
                    seen_expected |= entries.iter().any(|e| e.hash == expected);
                }
                for e in &entries {
                    if let Some((hash, anchor)) = wanted.get(&e.fields.seq)
                        && *hash != e.hash
                    {
                        return Err(AuditVerifyError::Anchor {
                            chain: chain.clone(),
                            seq: e.fields.seq,
                            anchor: *anchor,
                        });
                    }
                }
                previous = verify_chain(&entries, previous, next_seq)
                    .map_err(|source| AuditVerifyError::Broken { chain: chain.clone(), source })?;
                next_seq += entries.len() as i64;
            }
            head.entries += next_seq - 1;
            // An anchor recorded an entry beyond the chain's end: its tail was removed.
            if let Some((&seq, (_, anchor))) = wanted.range(next_seq..).next() {
                return Err(AuditVerifyError::Anchor { chain: chain.clone(), seq, anchor: *anchor });
            }
            if chain == SYSTEM_CHAIN {
                head.hash = previous;
            }
        }
        // An anchor names a chain that has no entries at all any more.
        if let Some((chain, seqs)) = anchored.into_iter().next()
            && let Some((&seq, (_, anchor))) = seqs.iter().next()
        {
            return Err(AuditVerifyError::Anchor { chain, seq, anchor: *anchor });
        }
        if !seen_expected {
            return Err(AuditVerifyError::HeadMismatch { entries: head.entries, hash: head.hash });
        }
        Ok(head)
    }

    /// Records every county chain's head in the system chain (run hourly by the server
    /// and by `jiceng audit anchor`); returns how many chains it anchored.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn anchor(&self, actor: &str) -> StoreResult<usize> {
        let txn = begin_writing(&self.store.db).await?;
        // Each county chain's last entry, read in one statement.
        let last = Query::select()
            .column("county_code")
            .expr_as(Func::max(Expr::col("seq")), "seq")
            .from("audit_entry")
            .and_where(Expr::col("county_code").ne(SYSTEM_CHAIN))
            .group_by_col("county_code")
            .to_owned();
        let q = Query::select()
            .columns([("a", "county_code"), ("a", "seq"), ("a", "hash")])
            .from_as("audit_entry", "a")
            .join_subquery(
                sea_orm::sea_query::JoinType::InnerJoin,
                last,
                "h",
                Expr::col(("h", "county_code"))
                    .equals(("a", "county_code"))
                    .and(Expr::col(("h", "seq")).equals(("a", "seq"))),
            )
            .to_owned();
        let mut heads: std::collections::BTreeMap<String, (i64, String)> = Default::default();
        for r in txn.query_all(&q).await? {
            heads.insert(r.try_get("", "county_code")?, (r.try_get("", "seq")?, r.try_get("", "hash")?));
        }
        let anchored = heads.len();
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: AuditAction::Anchor,
            target: "audit/anchor".to_string(),
            county: String::new(),
            origin: "jiceng".to_string(),
            purpose: None,
            detail: serde_json::to_string(&heads).map_err(|e| StoreError::Invalid(e.to_string()))?,
        };
        append_all_in(&txn, std::slice::from_ref(&entry)).await?;
        txn.commit().await?;
        Ok(anchored)
    }

    /// Entries about one target (e.g. who looked at a resident), newest first: in the
    /// county's chain (`county`) and in the system chain, which holds what was written
    /// before chains were per county and what is about no single county.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn for_target(&self, county: Option<&str>, target: &str, limit: u64) -> StoreResult<Vec<AuditEntry>> {
        let chains: Vec<&str> = match county.map(chain_of) {
            Some(chain) if chain != SYSTEM_CHAIN => vec![chain, SYSTEM_CHAIN],
            _ => vec![SYSTEM_CHAIN],
        };
        let mut q = Query::select();
        q.columns(COLUMNS)
            .from("audit_entry")
            .and_where(Expr::col("county_code").is_in(chains))
            .and_where(Expr::col("target").eq(target))
            .order_by("at", Order::Desc)
            .order_by("seq", Order::Desc)
            .limit(limit);
        read_rows(&self.store.db, &q, |r| {
            let e = stored(r)?;
            Ok(AuditEntry {
                seq: e.fields.seq,
                at: e.fields.at,
                actor: e.fields.actor,
                action: e.fields.action,
                target: e.fields.target,
                origin: e.fields.origin,
                purpose: e.fields.purpose,
                detail: e.fields.detail,
            })
        })
        .await
    }
}

/// A transaction that writes from its first statement.
///
/// SQLite: the write lock is taken at BEGIN (waiting under the busy timeout). A deferred
/// transaction that reads and then writes fails at once with "database is locked" when
/// another writer committed in between (seen with 20 audit appends at once).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn begin_writing(db: &sea_orm::DatabaseConnection) -> StoreResult<sea_orm::DatabaseTransaction> {
    Ok(db
        .begin_with_options(sea_orm::TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        })
        .await?)
}

/// Appends an entry at the end of the chain inside the caller's transaction (begun with
/// [`begin_writing`]): it is kept only if everything else in the transaction is.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn append_in(txn: &sea_orm::DatabaseTransaction, entry: &NewAuditEntry) -> StoreResult<i64> {
    Ok(append_all_in(txn, std::slice::from_ref(entry)).await?[0])
}

/// Entries appended in order inside the caller's transaction, each at the end of its
/// county's chain; their sequence numbers (within their chains).
async fn append_all_in(txn: &sea_orm::DatabaseTransaction, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>> {
    // Each chain's entries, in arrival order; chains locked in code order, so two
    // writers of the same chains never wait on each other crosswise.
    let mut by_chain: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, entry) in entries.iter().enumerate() {
        by_chain.entry(chain_of(&entry.county)).or_default().push(i);
    }
    let at = OffsetDateTime::now_utc().format(&Rfc3339).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut seqs = vec![0i64; entries.len()];
    for (chain, indexes) in by_chain {
        // PostgreSQL: one appender per chain at a time, with a lock held to the end of the
        // transaction. Without it, appends read the same head and raced for its sequence
        // number (a burst of 500 audited logins ran some out of retries: duplicate key).
        // Writers take it last, just before they commit, so it is held only briefly.
        crate::dialect::Dialect::of(txn).lock_for_transaction(txn, chain_lock(chain)).await?;
        let mut head = Query::select();
        head.columns(["seq", "hash"])
            .from("audit_entry")
            .and_where(Expr::col("county_code").eq(chain))
            .order_by("seq", Order::Desc)
            .limit(1);
        let (mut seq, mut previous) = match txn.query_one(&head).await? {
            Some(r) => (r.try_get::<i64>("", "seq")? + 1, r.try_get::<String>("", "hash")?),
            None => (1, GENESIS.to_string()),
        };
        for chunk in indexes.chunks(ROWS_PER_INSERT) {
            let mut insert = Query::insert();
            insert.into_table("audit_entry").columns(std::iter::once("county_code").chain(COLUMNS));
            for &i in chunk {
                let entry = &entries[i];
                let fields = AuditFields {
                    seq,
                    at: at.clone(),
                    actor: entry.actor.clone(),
                    action: entry.action.key().to_string(),
                    target: entry.target.clone(),
                    county: entry.county.clone(),
                    origin: entry.origin.clone(),
                    purpose: entry.purpose.map(|p| p.key().to_string()).unwrap_or_default(),
                    detail: entry.detail.clone(),
                };
                let hash = entry_hash(&previous, &fields);
                insert.values_panic([
                    chain.into(),
                    fields.seq.into(),
                    fields.at.into(),
                    fields.actor.into(),
                    fields.action.into(),
                    fields.target.into(),
                    fields.county.into(),
                    fields.origin.into(),
                    fields.purpose.into(),
                    fields.detail.into(),
                    std::mem::replace(&mut previous, hash.clone()).into(),
                    hash.into(),
                ]);
                seqs[i] = seq;
                seq += 1;
            }
            txn.execute(&insert).await?;
        }
    }
    Ok(seqs)
}

/// [`append_batch`], again when it fails: another writer took the same sequence number
/// (or, on SQLite, held the database busy) meanwhile.
async fn append_retrying(db: &sea_orm::DatabaseConnection, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>> {
    let mut last_error = None;
    for _ in 0..APPEND_ATTEMPTS {
        match append_batch(db, entries).await {
            Ok(seqs) => return Ok(seqs),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| StoreError::Invalid("audit append failed".into())))
}

/// Entries appended in order in one transaction of their own.
async fn append_batch(db: &sea_orm::DatabaseConnection, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>> {
    let txn = begin_writing(db).await?;
    let seqs = append_all_in(&txn, entries).await?;
    txn.commit().await?;
    Ok(seqs)
}

/// Rows per INSERT of a batch (11 columns each).
const ROWS_PER_INSERT: usize = 100;

/// The most entries one group commit writes.
const MAX_BATCH: usize = 500;

struct Job {
    entry: NewAuditEntry,
    done: tokio::sync::oneshot::Sender<StoreResult<i64>>,
}

/// The queue of entries waiting for the group-commit writer, which is started on the
/// first append (on that caller's runtime).
#[derive(Default)]
pub(crate) struct AuditQueue {
    sender: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<Job>>>,
    /// Entries queued and not yet answered (shown by `/metrics`).
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl AuditQueue {
    /// Entries queued and not yet answered.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues `entry`; `None` when no writer can run here (no runtime).
    fn submit(
        &self,
        db: &sea_orm::DatabaseConnection,
        entry: NewAuditEntry,
    ) -> Option<tokio::sync::oneshot::Receiver<StoreResult<i64>>> {
        let (done, receiver) = tokio::sync::oneshot::channel();
        let mut job = Job { entry, done };
        let mut sender = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..2 {
            if let Some(s) = sender.as_ref() {
                self.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match s.send(job) {
                    Ok(()) => return Some(receiver),
                    // The writer ended with its runtime: start another.
                    Err(tokio::sync::mpsc::error::SendError(back)) => {
                        self.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        job = back;
                    }
                }
            }
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let (s, r) = tokio::sync::mpsc::unbounded_channel();
            runtime.spawn(write_groups(db.clone(), r, self.waiting.clone()));
            *sender = Some(s);
        }
        None
    }
}

/// The group-commit writer: takes every entry waiting, appends them in one transaction,
/// and answers each caller after the commit.
async fn write_groups(
    db: sea_orm::DatabaseConnection,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Job>,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<NewAuditEntry> = jobs.iter().map(|j| j.entry.clone()).collect();
        let result = append_retrying(&db, &entries).await;
        waiting.fetch_sub(jobs.len(), std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(seqs) => {
                for (job, seq) in jobs.into_iter().zip(seqs) {
                    let _ = job.done.send(Ok(seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit group commit failed");
                for job in jobs {
                    let _ = job.done.send(Err(StoreError::Internal(format!("audit append: {e}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use sea_orm::ConnectionTrait;

    fn entry(n: usize) -> NewAuditEntry {
        NewAuditEntry {
            actor: "wang".into(),
            action: AuditAction::ReadResident,
            target: format!("resident/440307/{n}"),
            county: "440307".into(),
            origin: "127.0.0.1".into(),
            purpose: Some(AccessPurpose::Verification),
            detail: String::new(),
        }
    }

    /// The system chain (entries about no single county), whose head `--expect-head`
    /// checks; a county's chain is checked the same way (next test).
    #[tokio::test]
    async fn the_chain_catches_edits_removals_and_reorders() {
        for db in testing::backends().await {
            let audit = db.store.audit();
            for n in 0..5 {
                audit.append(&NewAuditEntry { county: String::new(), ..entry(n) }).await.unwrap();
            }
            let head = audit.verify(None).await.unwrap();
            assert_eq!(head.entries, 5);
            assert!(audit.verify(Some(&head.hash)).await.is_ok());
            assert_eq!(audit.for_target(None, "resident/440307/3", 10).await.unwrap().len(), 1);

            let sql = &db.store.db;
            sql.execute_unprepared("UPDATE audit_entry SET actor = 'li' WHERE seq = 3").await.unwrap();
            let err = audit.verify(None).await.unwrap_err();
            assert!(
                matches!(err, AuditVerifyError::Broken { source: ChainBreak::Content { seq: 3 }, .. }),
                "{}: {err}",
                db.label
            );
            sql.execute_unprepared("UPDATE audit_entry SET actor = 'wang' WHERE seq = 3").await.unwrap();
            audit.verify(None).await.unwrap();

            // Swapping two entries' contents (a reorder) breaks the links.
            sql.execute_unprepared("UPDATE audit_entry SET seq = 100 WHERE seq = 2").await.unwrap();
            sql.execute_unprepared("UPDATE audit_entry SET seq = 2 WHERE seq = 4").await.unwrap();
            sql.execute_unprepared("UPDATE audit_entry SET seq = 4 WHERE seq = 100").await.unwrap();
            assert!(audit.verify(None).await.is_err(), "{}", db.label);
            sql.execute_unprepared("UPDATE audit_entry SET seq = 100 WHERE seq = 2").await.unwrap();
            sql.execute_unprepared("UPDATE audit_entry SET seq = 2 WHERE seq = 4").await.unwrap();
            sql.execute_unprepared("UPDATE audit_entry SET seq = 4 WHERE seq = 100").await.unwrap();
            audit.verify(None).await.unwrap();

            sql.execute_unprepared("DELETE FROM audit_entry WHERE seq = 2").await.unwrap();
            let err = audit.verify(None).await.unwrap_err();
            assert!(
                matches!(err, AuditVerifyError::Broken { source: ChainBreak::Gap { seq: 3, expected: 2 }, .. }),
                "{err}"
            );

            // Removing the tail is caught against a head kept from before.
            sql.execute_unprepared("DELETE FROM audit_entry WHERE seq >= 2").await.unwrap();
            let err = audit.verify(Some(&head.hash)).await.unwrap_err();
            assert!(matches!(err, AuditVerifyError::HeadMismatch { entries: 1, .. }), "{err}");
            db.finish().await;
        }
    }

    /// 300 at once (a burst of logins, each audited): on PostgreSQL appends used to race
    /// for the same sequence number and, after their retries, failed with a duplicate key
    /// (seen as 500s in `bench logins`).
    #[tokio::test]
    async fn concurrent_appends_keep_one_chain() {
        for db in testing::backends().await {
            let mut tasks = Vec::new();
            for n in 0..1000 {
                let store = db.store.clone();
                tasks.push(tokio::spawn(async move { store.audit().append(&entry(n)).await }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            assert_eq!(db.store.audit().verify(None).await.unwrap().entries, 1000, "{}", db.label);
            db.finish().await;
        }
    }

    /// Each county has a chain of its own, entries about no county go to the system
    /// chain, and an anchor in the system chain records every county's head: a county
    /// chain cut short before the anchor is caught, and so is a forged anchor.
    #[tokio::test]
    async fn every_county_has_its_chain_and_anchors_hold_them_together() {
        for db in testing::backends().await {
            let audit = db.store.audit();
            let of = |county: &str, n: usize| NewAuditEntry { county: county.into(), ..entry(n) };
            for n in 0..3 {
                audit.append(&of("440307", n)).await.unwrap();
                audit.append(&of("440306", n)).await.unwrap();
            }
            audit.append(&of("", 9)).await.unwrap();
            let head = audit.verify(None).await.unwrap();
            assert_eq!((head.entries, head.chains), (7, 3), "{}", db.label);
            // Each chain numbers its own entries from 1.
            let sql = &db.store.db;
            let q = "SELECT county_code, MAX(seq) AS s FROM audit_entry GROUP BY county_code ORDER BY county_code";
            let rows = sql.query_all_raw(sea_orm::Statement::from_string(sql.get_database_backend(), q)).await.unwrap();
            let heads: Vec<(String, i64)> =
                rows.iter().map(|r| (r.try_get("", "county_code").unwrap(), r.try_get("", "s").unwrap())).collect();
            assert_eq!(heads, [("000000".into(), 1), ("440306".into(), 3), ("440307".into(), 3)], "{}", db.label);
            assert_eq!(audit.for_target(Some("440306"), "resident/440307/1", 10).await.unwrap().len(), 1);

            assert_eq!(audit.anchor("jiceng").await.unwrap(), 2, "{}", db.label);
            let anchored = audit.verify(None).await.unwrap();
            assert_eq!(anchored.entries, 8);
            // A tampered entry names its chain.
            sql.execute_unprepared("UPDATE audit_entry SET actor = 'li' WHERE county_code = '440307' AND seq = 2")
                .await
                .unwrap();
            let err = audit.verify(None).await.unwrap_err();
            assert!(
                matches!(&err, AuditVerifyError::Broken { chain, source: ChainBreak::Content { seq: 2 } } if chain == "440307"),
                "{}: {err}",
                db.label
            );
            sql.execute_unprepared("UPDATE audit_entry SET actor = 'wang' WHERE county_code = '440307' AND seq = 2")
                .await
                .unwrap();
            // Cutting a county chain's tail is invisible to the chain itself, but not
            // to the anchor that recorded its head.
            sql.execute_unprepared("DELETE FROM audit_entry WHERE county_code = '440306' AND seq = 3").await.unwrap();
            let err = audit.verify(None).await.unwrap_err();
            assert!(
                matches!(&err, AuditVerifyError::Anchor { chain, seq: 3, .. } if chain == "440306"),
                "{}: {err}",
                db.label
            );
            assert!(err.to_string().contains("chain 440306"), "{err}");
            db.finish().await;
        }
    }
}
