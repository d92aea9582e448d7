//! `resident_followup`: each current resident's household, tier in force and last
//! verification, for visit plans. Kept in the transaction of every change: the
//! households a registry write touched are recounted from the registry (through
//! `write_tally`, as the floor counters are), and verifications, assessments and
//! overrides update their resident's row.

use std::collections::{BTreeSet, HashMap, HashSet};

use jiceng_domain::org::DivisionCode;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, JoinType, Query, SelectStatement};
use time::Date;
use uuid::Uuid;

use crate::error::StoreResult;
use crate::registry::subtree;
use crate::write::{Changes, Checked, Projection};

const COLUMNS: [&str; 6] = ["county_code", "resident_id", "community_code", "household_id", "tier", "last_verified_on"];

/// The rows as the registry says they should be, for current residents matching `cond`
/// (columns of `resident_version` as "v").
fn recounted(cond: Cond) -> SelectStatement {
    let mut q = Query::select();
    q.expr_as(Expr::col(("v", "county_code")), "county_code")
        .expr_as(Expr::col(("v", "resident_id")), "resident_id")
        .expr_as(Expr::col(("v", "community_code")), "community_code")
        .expr_as(Expr::col(("v", "household_id")), "household_id")
        .expr_as(Expr::cust("COALESCE(t.override_tier, t.tier)"), "tier")
        .expr_as(Expr::col(("r", "last_verified_on")), "last_verified_on")
        .from_as("resident_version", "v")
        .join_as(JoinType::InnerJoin, "resident", "r", crate::registry::same_county(("r", "id"), ("v", "resident_id")))
        .join_as(
            JoinType::LeftJoin,
            "resident_tier",
            "t",
            crate::registry::same_county(("t", "resident_id"), ("v", "resident_id")),
        )
        .and_where(Expr::col(("v", "valid_to")).is_null())
        .cond_where(cond);
    q
}

async fn insert(db: &impl ConnectionTrait, cond: Cond) -> StoreResult<()> {
    crate::insert_selected(db, "resident_followup", &COLUMNS, recounted(cond)).await
}

/// Rewrites the rows of the members of these households (who left, who came, who moved).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn refresh_households(
    db: &impl ConnectionTrait,
    households: &BTreeSet<(DivisionCode, Uuid)>,
) -> StoreResult<()> {
    let mut by_county: HashMap<&DivisionCode, Vec<Uuid>> = HashMap::new();
    for (county, household) in households {
        by_county.entry(county).or_default().push(*household);
    }
    for (county, ids) in by_county {
        // Every delete before any insert: someone who moved between two households of
        // different chunks would otherwise still have their old row when the new one
        // is written.
        for chunk in ids.chunks(200) {
            db.execute(
                Query::delete()
                    .from_table("resident_followup")
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("household_id").is_in(chunk.iter().copied())),
            )
            .await?;
        }
        for chunk in ids.chunks(200) {
            insert(
                db,
                Cond::all()
                    .add(Expr::col(("v", "county_code")).eq(county.as_str()))
                    .add(Expr::col(("v", "household_id")).is_in(chunk.iter().copied())),
            )
            .await?;
        }
    }
    Ok(())
}

/// Rewrites every row under `node` (after a bulk load of a community).
async fn rebuild(db: &impl ConnectionTrait, node: &DivisionCode) -> StoreResult<()> {
    db.execute(Query::delete().from_table("resident_followup").cond_where(subtree(node, "community_code"))).await?;
    insert(db, subtree(node, ("v", "community_code"))).await
}

/// Fills the table from the registry (migration m0008).
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn backfill(db: &impl ConnectionTrait) -> StoreResult<()> {
    db.execute(Query::delete().from_table("resident_followup")).await?;
    insert(db, Cond::all()).await
}

/// A verification moves the resident's last-verified date forward (never back).
async fn verified(db: &impl ConnectionTrait, county: &DivisionCode, resident: Uuid, date: Date) -> StoreResult<()> {
    db.execute(
        Query::update()
            .table("resident_followup")
            .value("last_verified_on", date)
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("resident_id").eq(resident))
            .cond_where(
                Cond::any().add(Expr::col("last_verified_on").is_null()).add(Expr::col("last_verified_on").lt(date)),
            ),
    )
    .await?;
    Ok(())
}

/// The tier in force of the residents matching `cond` (on `resident_followup`), after
/// an assessment or an override.
async fn tier_changed(db: &impl ConnectionTrait, cond: Cond) -> StoreResult<()> {
    db.execute(
        Query::update()
            .table("resident_followup")
            .value(
                "tier",
                Expr::cust(
                    "(SELECT COALESCE(t.override_tier, t.tier) FROM resident_tier t \
                     WHERE t.county_code = resident_followup.county_code AND t.resident_id = resident_followup.resident_id)",
                ),
            )
            .cond_where(cond),
    )
    .await?;
    Ok(())
}

/// [`tier_changed`] for one resident.
async fn tier_changed_for(db: &impl ConnectionTrait, county: &DivisionCode, resident: Uuid) -> StoreResult<()> {
    tier_changed(
        db,
        Cond::all().add(Expr::col("county_code").eq(county.as_str())).add(Expr::col("resident_id").eq(resident)),
    )
    .await
}

/// Follow-up rows: the members of touched households rewritten from the registry, then
/// verification dates moved on and tiers in force updated.
pub(crate) const PROJECTION: Projection = Projection {
    name: "resident_followup",
    apply: |txn, changes| Box::pin(apply(txn, changes)),
    verify: |store, county| {
        Box::pin(async move {
            let differences = followup_differences(&store.db, county).await?;
            let mut q = Query::select();
            q.expr(Expr::cust("COUNT(*)")).from("resident_followup").cond_where(subtree(county, "community_code"));
            let compared = match store.db.query_one(&q).await? {
                Some(r) => r.try_get_by_index::<i64>(0)? as u64,
                None => 0,
            };
            Ok(Checked { compared, differences })
        })
    },
};

async fn apply(db: &impl ConnectionTrait, changes: &Changes) -> StoreResult<()> {
    refresh_households(db, &changes.tally.places().households).await?;
    for node in &changes.rebuilt {
        rebuild(db, node).await?;
    }
    for (county, resident, date) in &changes.verified {
        verified(db, county, *resident, *date).await?;
    }
    for (county, resident) in &changes.tiers_of {
        tier_changed_for(db, county, *resident).await?;
    }
    for community in &changes.tiers_in {
        tier_changed(db, crate::registry::subtree(community, "community_code")).await?;
    }
    Ok(())
}

/// Rows under `node` that differ from the registry: (resident, stored, recounted).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn followup_differences(db: &impl ConnectionTrait, node: &DivisionCode) -> StoreResult<Vec<String>> {
    type Row = (String, Uuid, Option<String>, Option<Date>);
    async fn read(db: &impl ConnectionTrait, q: &SelectStatement) -> StoreResult<HashMap<Uuid, Row>> {
        let mut out = HashMap::new();
        for r in db.query_all(q).await? {
            out.insert(
                r.try_get("", "resident_id")?,
                (
                    r.try_get("", "community_code")?,
                    r.try_get("", "household_id")?,
                    r.try_get("", "tier")?,
                    r.try_get("", "last_verified_on")?,
                ),
            );
        }
        Ok(out)
    }
    let mut stored = Query::select();
    stored.columns(COLUMNS).from("resident_followup").cond_where(subtree(node, "community_code"));
    let stored = read(db, &stored).await?;
    let recounted = read(db, &recounted(subtree(node, ("v", "community_code")))).await?;
    let ids: HashSet<&Uuid> = stored.keys().chain(recounted.keys()).collect();
    let mut out: Vec<String> = ids
        .into_iter()
        .filter(|id| stored.get(id) != recounted.get(id))
        .map(|id| format!("{id}: stored {:?}, registry {:?}", stored.get(id), recounted.get(id)))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use jiceng_domain::org::DivisionCode;
    use jiceng_domain::registry::{IdMissingReason, Identity, ResidentFacts, Sex};
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use time::macros::date;
    use uuid::Uuid;

    use crate::testing;

    /// A resident whose stored row is still under the household they left, refreshed in
    /// a batch where their new household comes in an earlier chunk than the old one (as
    /// in a large import chunk): every delete runs first, so nothing clashes.
    #[tokio::test]
    async fn a_move_across_chunks_is_rewritten_without_a_clash() {
        for db in testing::backends().await {
            let registry = db.store.registry();
            let county = DivisionCode::parse("440307").unwrap();
            let _community = DivisionCode::parse("440307003002").unwrap();
            let world = testing::World::new(&db.store, "1栋", 6, 1).await;
            let location = |room: &str| world.location(1, 1, room);
            let day = date!(2020 - 01 - 01);
            let new_home = registry.create_household(&county, "A", &location("101"), day, "t").await.unwrap();
            let between: Vec<Uuid> = (0..250).map(|_| Uuid::now_v7()).collect();
            let old_home = registry.create_household(&county, "B", &location("102"), day, "t").await.unwrap();
            let facts = ResidentFacts {
                identity: Identity::Missing(IdMissingReason::Unknown),
                registered_residence: county.clone(),
                ..crate::testing::person("搬家人", Sex::Male, date!(1990 - 01 - 01), old_home)
            };
            let resident = registry.add_resident(&county, &facts, day, "t").await.unwrap();
            let moved = ResidentFacts { household_id: new_home, ..facts };
            registry.record_resident_change(&county, resident, &moved, date!(2021 - 01 - 01), "t").await.unwrap();
            // The state in the middle of a write: the row still names the old household.
            db.store
                .db
                .execute(
                    Query::update()
                        .table("resident_followup")
                        .value("household_id", old_home)
                        .and_where(Expr::col("resident_id").eq(resident)),
                )
                .await
                .unwrap();
            let touched: BTreeSet<(DivisionCode, Uuid)> = std::iter::once(new_home)
                .chain(between)
                .chain(std::iter::once(old_home))
                .map(|h| (county.clone(), h))
                .collect();
            super::refresh_households(&db.store.db, &touched).await.unwrap();
            db.assert_floor_counts("440307", "after a refresh across chunks").await;
            db.finish().await;
        }
    }
}
