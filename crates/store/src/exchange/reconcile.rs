//! 半年对账 with a partner: its latest roster (who it has living there, registered
//! here) against the people this side believes live there — its residents whose latest
//! residence notice from that partner, matched to them, is an arrival or an address
//! change there (not a departure).

use std::collections::HashMap;

use jiceng_domain::exchange::reconciliation::{Listed, Reconciled, reconcile};
use jiceng_domain::linkage::feed::{FeedDetails, FeedKind, FeedOutcome, FeedRecord, ResidenceChange};
use jiceng_domain::registry::Sex;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::partners::{Exchange, Partner};
use crate::error::StoreResult;
use crate::registry::resident_select;
use crate::registry::rows::resident_row;

/// The reconciliation with one partner.
#[derive(Debug, Clone)]
pub struct Reconciliation {
    pub rows: Vec<Reconciled>,
    /// When the roster compared arrived (none yet: only our list).
    pub roster_received: Option<OffsetDateTime>,
}

#[derive(serde::Deserialize)]
struct Payload {
    record: Option<FeedRecord>,
}

impl Exchange<'_> {
    /// Compares the partner's roster with who this side believes lives there. The caller
    /// audits the read (names and ID numbers).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reconcile(&self, partner: &Partner) -> StoreResult<Reconciliation> {
        self.require_scope(&partner.county, "区县 / county")?;
        let county = &partner.county;
        // Ours: the latest matched residence notice from this partner for each person.
        let mut q = Query::select();
        q.columns(["person_id", "payload", "occurred_on"])
            .from("incoming_record")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("department_id").eq(partner.department_id))
            .and_where(Expr::col("kind").eq(FeedKind::Residence.key()))
            .and_where(Expr::col("outcome").eq(FeedOutcome::Matched.key()))
            .and_where(Expr::col("person_id").is_not_null())
            .order_by("occurred_on", Order::Asc)
            .order_by("id", Order::Asc);
        let mut latest: HashMap<Uuid, (bool, Option<String>)> = HashMap::new();
        for r in self.store.db.query_all(&q).await? {
            let person: Uuid = r.try_get("", "person_id")?;
            let payload: String = r.try_get("", "payload")?;
            let Ok(Payload { record: Some(record) }) = serde_json::from_str::<Payload>(&payload) else { continue };
            if let FeedDetails::Residence { change, region, .. } = record.details {
                let there = matches!(change, ResidenceChange::Arrival | ResidenceChange::AddressChange);
                latest.insert(person, (there, Some(region.to_string())));
            }
        }
        let believed: Vec<(Uuid, Option<String>)> =
            latest.into_iter().filter(|(_, (there, _))| *there).map(|(p, (_, place))| (p, place)).collect();
        let mut ours = Vec::new();
        for chunk in believed.chunks(500) {
            let mut q = resident_select();
            q.and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("valid_to").is_null())
                .and_where(Expr::col("resident_id").is_in(chunk.iter().map(|(p, _)| *p)));
            let places: HashMap<Uuid, Option<String>> = chunk.iter().cloned().collect();
            for r in self.store.db.query_all(&q).await? {
                let v = resident_row(&r)?;
                ours.push(Listed {
                    name: v.facts.name.to_string(),
                    sex: Some(v.facts.sex),
                    birth_date: Some(v.facts.birth_date),
                    id_number: v.facts.identity.number().map(|n| n.to_string()),
                    place: places.get(&v.resident_id).cloned().flatten(),
                    resident_id: Some(v.resident_id),
                });
            }
        }
        // Theirs: the roster as received, each found in the registry by ID number.
        let mut q = Query::select();
        q.columns(["name", "sex", "birth_date", "id_number", "region", "package_id"])
            .from("exchange_roster")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()));
        let mut theirs = Vec::new();
        let mut package = None;
        for r in self.store.db.query_all(&q).await? {
            let sex: Option<String> = r.try_get("", "sex")?;
            let birth_date: Option<Date> = r.try_get("", "birth_date")?;
            package = Some(r.try_get::<Uuid>("", "package_id")?);
            theirs.push(Listed {
                name: r.try_get("", "name")?,
                sex: sex.as_deref().and_then(Sex::from_key),
                birth_date,
                id_number: r.try_get("", "id_number")?,
                place: r.try_get("", "region")?,
                resident_id: None,
            });
        }
        let numbers: Vec<String> = theirs.iter().filter_map(|p| p.id_number.clone()).collect();
        let mut found: HashMap<String, Uuid> = HashMap::new();
        for chunk in numbers.chunks(500) {
            let mut q = Query::select();
            q.columns(["id_number", "resident_id"])
                .from("resident_version")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("valid_to").is_null())
                .and_where(Expr::col("id_number").is_in(chunk.iter().cloned()));
            for r in self.store.db.query_all(&q).await? {
                found.insert(r.try_get("", "id_number")?, r.try_get("", "resident_id")?);
            }
        }
        for p in &mut theirs {
            p.resident_id = p.id_number.as_ref().and_then(|n| found.get(n).copied());
        }
        let roster_received = match package {
            Some(id) => {
                let mut q = Query::select();
                q.column("handled_at")
                    .from("exchange_package")
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("id").eq(id));
                match self.store.db.query_one(&q).await? {
                    Some(r) => Some(r.try_get("", "handled_at")?),
                    None => None,
                }
            }
            None => None,
        };
        Ok(Reconciliation { rows: reconcile(ours, theirs), roster_received })
    }
}
