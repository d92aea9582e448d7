//! The registry side of a linkage: the county's current residents as linkage features,
//! read once per batch (a stream of rows, features computed on blocking threads).

use jiceng_domain::linkage::{Features, LinkRecord};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::registry::Sex;
use sea_orm::StreamTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use time::Date;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};

/// Residents of one county as the linkage sees them, in the same order in both vectors.
pub(super) struct RegistrySide {
    pub ids: Vec<Uuid>,
    pub features: Vec<Features>,
    /// Each resident's community code.
    pub communities: Vec<String>,
}

impl RegistrySide {
    pub(super) async fn read(db: &sea_orm::DatabaseConnection, county: &DivisionCode) -> StoreResult<RegistrySide> {
        let mut q = Query::select();
        q.columns(["resident_id", "name", "sex", "birth_date", "id_number", "community_code", "phone"])
            .from("resident_version")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("valid_to").is_null())
            .order_by("resident_id", Order::Asc);
        let mut ids = Vec::new();
        let mut records = Vec::new();
        let mut communities = Vec::new();
        {
            let mut rows = db.stream(&q).await?;
            while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                ids.push(r.try_get::<Uuid>("", "resident_id")?);
                let sex: String = r.try_get("", "sex")?;
                let community: String = r.try_get("", "community_code")?;
                communities.push(community.clone());
                records.push(LinkRecord {
                    name: r.try_get("", "name")?,
                    sex: Sex::from_key(&sex),
                    birth_date: Some(r.try_get::<Date>("", "birth_date")?),
                    id_number: r.try_get("", "id_number")?,
                    community: Some(community),
                    phone: r.try_get("", "phone")?,
                });
            }
        }
        let features = features_of(records).await?;
        Ok(RegistrySide { ids, features, communities })
    }
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
