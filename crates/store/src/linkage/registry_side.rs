//! The registry side of linkage, kept in the store between batches, one per county: the
//! current residents as linkage features with their blocking index and frequencies
//! (`RegistryIndex`), built on a county's first batch and afterwards brought up to date
//! with the residents recorded or exited since — a month's feed never rebuilds it
//! (splink issues #820, #1112). When the changes outgrow an eighth of it, it is rebuilt
//! once (compaction).

use std::collections::HashMap;
use std::sync::Arc;

use jiceng_domain::linkage::{Features, LinkRecord, RegistryIndex};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::Sex;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, StreamTrait};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};

/// Changes recorded this long before the newest one seen are read again at the next
/// refresh: a transaction that began earlier may commit later.
const OVERLAP_MINUTES: i64 = 10;

/// One county's registry side.
pub(crate) struct CachedRegistry {
    /// Per position: the resident and their community.
    pub ids: Vec<Uuid>,
    pub communities: Vec<String>,
    position: HashMap<Uuid, u32>,
    pub index: RegistryIndex,
    /// The newest `recorded_at` read.
    mark: Option<OffsetDateTime>,
    /// Full builds and refreshes so far (what the tests and the log look at).
    pub builds: u64,
    pub refreshes: u64,
}

/// The registry sides of the counties linked so far; each behind its own lock, so one
/// county's batches link one after another and never two builds of one county race.
#[derive(Default)]
pub(crate) struct LinkageCache {
    counties: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<CachedRegistry>>>>>,
}

pub(crate) type Held = tokio::sync::OwnedMutexGuard<Option<CachedRegistry>>;

impl LinkageCache {
    fn slot(&self, county: &DivisionCode) -> Arc<tokio::sync::Mutex<Option<CachedRegistry>>> {
        let mut counties = self.counties.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counties.entry(county.to_string()).or_default().clone()
    }
}

/// The county's registry side, up to date, held until the guard is dropped.
pub(crate) async fn current(store: &crate::Store, county: &DivisionCode) -> StoreResult<Held> {
    let mut held = store.linkage_cache.slot(county).lock_owned().await;
    let rebuild = match held.as_mut() {
        None => true,
        Some(cached) => {
            refresh(&store.db, county, cached).await?;
            cached.index.wants_compaction()
        }
    };
    if rebuild {
        let builds = held.as_ref().map_or(0, |c| c.builds);
        let mut built = build(&store.db, county).await?;
        built.builds = builds + 1;
        *held = Some(built);
    }
    Ok(held)
}

const COLUMNS: [&str; 8] =
    ["resident_id", "name", "sex", "birth_date", "id_number", "community_code", "phone", "recorded_at"];

struct Row {
    id: Uuid,
    community: String,
    record: LinkRecord,
    recorded_at: OffsetDateTime,
}

fn row(r: &sea_orm::QueryResult) -> StoreResult<Row> {
    let sex: String = r.try_get("", "sex")?;
    let community: String = r.try_get("", "community_code")?;
    Ok(Row {
        id: r.try_get("", "resident_id")?,
        record: LinkRecord {
            name: r.try_get("", "name")?,
            sex: Sex::from_key(&sex),
            birth_date: Some(r.try_get::<Date>("", "birth_date")?),
            id_number: r.try_get("", "id_number")?,
            community: Some(community.clone()),
            phone: r.try_get("", "phone")?,
        },
        community,
        recorded_at: r.try_get("", "recorded_at")?,
    })
}

async fn newest_exit(db: &DatabaseConnection, county: &DivisionCode) -> StoreResult<Option<OffsetDateTime>> {
    let mut q = Query::select();
    q.expr_as(Func::max(Expr::col("recorded_at")), "newest")
        .from("resident_exit")
        .and_where(Expr::col("county_code").eq(county.as_str()));
    Ok(db.query_one(&q).await?.and_then(|r| r.try_get::<Option<OffsetDateTime>>("", "newest").ok().flatten()))
}

async fn build(db: &DatabaseConnection, county: &DivisionCode) -> StoreResult<CachedRegistry> {
    let exits = newest_exit(db, county).await?;
    let mut q = Query::select();
    q.columns(COLUMNS)
        .from("resident_version")
        .and_where(Expr::col("county_code").eq(county.as_str()))
        .and_where(Expr::col("valid_to").is_null())
        .order_by("resident_id", Order::Asc);
    let (mut ids, mut communities, mut records) = (Vec::new(), Vec::new(), Vec::new());
    let mut mark = exits;
    {
        let mut rows = db.stream(&q).await?;
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let r = row(&r)?;
            mark = std::cmp::max(mark, Some(r.recorded_at));
            ids.push(r.id);
            communities.push(r.community);
            records.push(r.record);
        }
    }
    let features = features_of(records).await?;
    let index = tokio::task::spawn_blocking(move || RegistryIndex::build(features))
        .await
        .map_err(|e| StoreError::Internal(format!("linkage index: {e}")))?;
    let position = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
    Ok(CachedRegistry { ids, communities, position, index, mark, builds: 1, refreshes: 0 })
}

/// Reads the residents recorded or exited since the last read and applies them.
async fn refresh(db: &DatabaseConnection, county: &DivisionCode, cached: &mut CachedRegistry) -> StoreResult<()> {
    let since = cached.mark.map(|m| m - time::Duration::minutes(OVERLAP_MINUTES));
    let mut changed: Vec<Uuid> = Vec::new();
    for table in ["resident_version", "resident_exit"] {
        let mut q = Query::select();
        q.distinct().column("resident_id").from(table).and_where(Expr::col("county_code").eq(county.as_str()));
        if let Some(since) = since {
            q.and_where(Expr::col("recorded_at").gt(since));
        }
        for r in db.query_all(&q).await? {
            changed.push(r.try_get("", "resident_id")?);
        }
    }
    changed.sort_unstable();
    changed.dedup();
    cached.refreshes += 1;
    if changed.is_empty() {
        return Ok(());
    }
    let mut now: HashMap<Uuid, Row> = HashMap::new();
    for chunk in changed.chunks(500) {
        let mut q = Query::select();
        q.columns(COLUMNS)
            .from("resident_version")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("valid_to").is_null())
            .and_where(Expr::col("resident_id").is_in(chunk.iter().copied()));
        for r in db.query_all(&q).await? {
            let r = row(&r)?;
            now.insert(r.id, r);
        }
    }
    cached.mark = std::cmp::max(cached.mark, newest_exit(db, county).await?);
    let mut rows: Vec<(Uuid, Option<Row>)> = changed.into_iter().map(|id| (id, now.remove(&id))).collect();
    let records: Vec<LinkRecord> = rows.iter().filter_map(|(_, r)| r.as_ref().map(|r| r.record.clone())).collect();
    let mut features = features_of(records).await?.into_iter();
    let mut changes = Vec::new();
    let mut added: Vec<(Uuid, String)> = Vec::new();
    for (id, current) in rows.drain(..) {
        let old = cached.position.get(&id).copied();
        let new = match current {
            Some(r) => {
                cached.mark = std::cmp::max(cached.mark, Some(r.recorded_at));
                let f = features.next().ok_or_else(|| StoreError::Internal("linkage features".into()))?;
                // Read again inside the overlap and unchanged: nothing to do.
                if old.is_some_and(|p| !cached.index.is_retired(p) && cached.index.features()[p as usize] == f) {
                    continue;
                }
                added.push((id, r.community));
                Some(f)
            }
            None if old.is_none_or(|p| cached.index.is_retired(p)) => continue,
            None => None,
        };
        changes.push((old, new));
    }
    if changes.is_empty() {
        return Ok(());
    }
    let positions = cached.index.update(changes);
    let mut added = added.into_iter();
    for p in positions.into_iter().flatten() {
        let (id, community) = added.next().ok_or_else(|| StoreError::Internal("linkage positions".into()))?;
        cached.ids.push(id);
        cached.communities.push(community);
        cached.position.insert(id, p);
    }
    Ok(())
}

/// Features of `records`, computed off the async runtime on every core.
pub(super) async fn features_of(records: Vec<LinkRecord>) -> StoreResult<Vec<Features>> {
    tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = records.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let parts: Vec<_> = records
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(Features::of).collect::<Vec<_>>()))
                .collect();
            parts.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    })
    .await
    .map_err(|e| StoreError::Internal(format!("linkage features: {e}")))
}

/// How a county's registry side has been kept: builds, refreshes and live records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    pub builds: u64,
    pub refreshes: u64,
    pub live: usize,
}

pub(crate) async fn stats(store: &crate::Store, county: &DivisionCode) -> Option<IndexStats> {
    let held = store.linkage_cache.slot(county).lock_owned().await;
    held.as_ref().map(|c| IndexStats { builds: c.builds, refreshes: c.refreshes, live: c.index.live() })
}
