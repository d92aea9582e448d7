//! 协作地区: the regions a county exchanges migrants' records with, each with its
//! contact, agreement and public key, and where the exchange each way stands. A
//! partner is also a department of kind 协作地区 on this side, so what it sends is
//! received, linked and reviewed like any department's notices (`linkage`).

use jiceng_domain::exchange::package::{Agreement, SharedField};
use jiceng_domain::linkage::DepartmentKind;
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_files::exchange::package::PublicKey;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult, decode_opt};
use crate::linkage::{Linkage, NewDepartment};
use crate::read_rows;

crate::access::domain_handle! {
    /// Partner regions and the packages exchanged with them, as one caller sees them.
    Exchange { exchange, exchange_in, exchange_as, exchange_by }
}

pub(super) fn invalid(zh: &str, en: &str) -> StoreError {
    StoreError::Invalid(format!("{zh} / {en}"))
}

/// A partner to add (or, for one already added, its new details and key).
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// This side's county.
    pub county: DivisionCode,
    /// The partner: a county, or a whole city.
    pub partner: DivisionCode,
    pub name: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub agreement: Agreement,
    pub public_key: PublicKey,
}

/// A partner region as stored.
#[derive(Debug, Clone)]
pub struct Partner {
    pub county: DivisionCode,
    pub code: DivisionCode,
    pub name: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub agreement: Agreement,
    pub public_key: PublicKey,
    pub department_id: Uuid,
}

/// The last package one way, for the partners page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastPackage {
    pub package_id: Uuid,
    pub sequence: u64,
    pub state: String,
    pub records: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A partner with where the exchange stands each way.
#[derive(Debug, Clone)]
pub struct PartnerStatus {
    pub partner: Partner,
    pub last_sent: Option<LastPackage>,
    pub last_received: Option<LastPackage>,
    /// Packages received and not yet acknowledged.
    pub unacknowledged: u64,
    /// When the next package to the partner is due, and whether that day has passed.
    pub next_send_due: Date,
    pub send_overdue: bool,
    /// When the partner's next package is due, and whether it is late.
    pub next_receive_due: Date,
    pub receive_overdue: bool,
    pub last_refusal: Option<(OffsetDateTime, String)>,
}

const PARTNER_COLUMNS: [&str; 13] = [
    "county_code",
    "partner_code",
    "name",
    "contact_name",
    "contact_phone",
    "starts_on",
    "ends_on",
    "fields",
    "every_months",
    "public_key",
    "algorithm",
    "key_fingerprint",
    "department_id",
];

fn partner_row(r: &sea_orm::QueryResult) -> StoreResult<Partner> {
    const T: &str = "exchange_partner";
    let county: String = r.try_get("", "county_code")?;
    let code: String = r.try_get("", "partner_code")?;
    let fields: String = r.try_get("", "fields")?;
    let key: String = r.try_get("", "public_key")?;
    let every: i16 = r.try_get("", "every_months")?;
    Ok(Partner {
        county: decode_opt(T, "county_code", &county, |c| DivisionCode::parse(c).ok())?,
        code: decode_opt(T, "partner_code", &code, |c| DivisionCode::parse(c).ok())?,
        name: r.try_get("", "name")?,
        contact_name: r.try_get("", "contact_name")?,
        contact_phone: r.try_get("", "contact_phone")?,
        agreement: Agreement {
            starts_on: r.try_get("", "starts_on")?,
            ends_on: r.try_get("", "ends_on")?,
            fields: decode_opt(T, "fields", &fields, |f| SharedField::parse_list(f).ok())?,
            every_months: u8::try_from(every).unwrap_or(6),
        },
        public_key: decode_opt(T, "public_key", &key, |k| PublicKey::parse(k, "exchange_partner").ok())?,
        department_id: r.try_get("", "department_id")?,
    })
}

/// The code of the department a partner is on this side.
pub(super) fn department_code(partner: &DivisionCode) -> String {
    format!("XZ-{partner}")
}

impl Exchange<'_> {
    /// Adds a partner region to `county`, or updates one already added (its agreement,
    /// contact or key: a key replaced this way verifies the partner's next package).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_partner(&self, new: &NewPartner) -> StoreResult<Partner> {
        if new.county.level() != DivisionLevel::County {
            return Err(invalid("本方须为区县", "this side must be a county"));
        }
        if !matches!(new.partner.level(), DivisionLevel::County | DivisionLevel::City) {
            return Err(invalid("协作地区须为区县或地市", "a partner region is a county or a city"));
        }
        if new.partner.contains(&new.county) || new.partner == new.county {
            return Err(invalid("协作地区不能包含本方", "a partner region cannot contain this county"));
        }
        self.require_scope(&new.county, "区县 / county")?;
        let name = new.name.trim();
        if name.is_empty() {
            return Err(invalid("请填写协作地区名称", "the partner needs a name"));
        }
        if new.agreement.every_months == 0 || new.agreement.every_months > 24 {
            return Err(invalid("交换周期须为 1–24 个月", "the exchange interval is 1–24 months"));
        }
        if new.agreement.ends_on.is_some_and(|end| end < new.agreement.starts_on) {
            return Err(invalid("协议终止日期早于开始日期", "the agreement ends before it starts"));
        }
        let existing = self.find_partner(&new.county, &new.partner).await?;
        let department_id = match &existing {
            Some(p) => p.department_id,
            None => {
                let linkage = Linkage { access: self.access };
                let code = department_code(&new.partner);
                match linkage.department_by_code(&code, Some(&new.county)).await {
                    Ok(d) => d.id,
                    Err(StoreError::NotFound { .. }) => {
                        linkage
                            .register_department(&NewDepartment {
                                code,
                                name: format!("协作地区 {name}"),
                                kind: DepartmentKind::PartnerRegion,
                                region: new.county.clone(),
                                feeds: Vec::new(),
                            })
                            .await?
                            .id
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let fields: Vec<&str> = new.agreement.fields.iter().map(|f| f.key()).collect();
        let now = OffsetDateTime::now_utc();
        let user = self.caller.username.to_string();
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("exchange_partner")
                    .columns(PARTNER_COLUMNS.into_iter().chain(["added_at", "added_by", "updated_at", "updated_by"]))
                    .values_panic([
                        new.county.as_str().into(),
                        new.partner.as_str().into(),
                        name.into(),
                        new.contact_name.trim().into(),
                        new.contact_phone.trim().into(),
                        new.agreement.starts_on.into(),
                        new.agreement.ends_on.into(),
                        fields.join(",").into(),
                        i16::from(new.agreement.every_months).into(),
                        new.public_key.to_text().into(),
                        new.public_key.algorithm.key().into(),
                        new.public_key.fingerprint().into(),
                        department_id.into(),
                        now.into(),
                        user.clone().into(),
                        now.into(),
                        user.into(),
                    ])
                    .on_conflict(
                        OnConflict::columns(["county_code", "partner_code"])
                            .update_columns([
                                "name",
                                "contact_name",
                                "contact_phone",
                                "starts_on",
                                "ends_on",
                                "fields",
                                "every_months",
                                "public_key",
                                "algorithm",
                                "key_fingerprint",
                                "updated_at",
                                "updated_by",
                            ])
                            .to_owned(),
                    ),
            )
            .await?;
        let entry = self.entry(
            AuditAction::Configure,
            format!("exchange_partner/{}/{}", new.county, new.partner),
            new.county.as_str(),
            format!(
                "{} partner key {} fields {} every {} months",
                if existing.is_some() { "update" } else { "add" },
                new.public_key.fingerprint(),
                fields.join(","),
                new.agreement.every_months
            ),
        );
        work.commit(entry).await?;
        self.partner(&new.county, &new.partner).await
    }

    /// The counties this database keeps records for, in scope: the sides an exchange
    /// can be for.
    pub async fn local_counties(&self) -> StoreResult<Vec<DivisionCode>> {
        let all = crate::registry::counties_with_records(&self.store.db).await?;
        Ok(all.into_iter().filter(|c| self.require_scope(c, "").is_ok()).collect())
    }

    async fn find_partner(&self, county: &DivisionCode, code: &DivisionCode) -> StoreResult<Option<Partner>> {
        let mut q = Query::select();
        q.columns(PARTNER_COLUMNS)
            .from("exchange_partner")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("partner_code").eq(code.as_str()))
            .cond_where(self.in_scope("county_code"));
        self.store.db.query_one(&q).await?.as_ref().map(partner_row).transpose()
    }

    /// A partner of `county` in scope (outside it: not found).
    pub async fn partner(&self, county: &DivisionCode, code: &DivisionCode) -> StoreResult<Partner> {
        self.find_partner(county, code)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: format!("协作地区 {code} / partner region {code}") })
    }

    /// The partner with `code` of whichever county in scope has it (naming the county
    /// when several do).
    pub async fn partner_by_code(&self, code: &DivisionCode, county: Option<&DivisionCode>) -> StoreResult<Partner> {
        let mut found: Vec<Partner> = self
            .partners()
            .await?
            .into_iter()
            .filter(|p| &p.code == code && county.is_none_or(|c| &p.county == c))
            .collect();
        match found.len() {
            0 => Err(StoreError::NotFound { what: format!("协作地区 {code} / partner region {code}") }),
            1 => Ok(found.remove(0)),
            _ => {
                Err(invalid("多个区县有此协作地区，请指定区县", "several counties have this partner: name the county"))
            }
        }
    }

    /// Partners in scope, by county and code.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn partners(&self) -> StoreResult<Vec<Partner>> {
        let mut q = Query::select();
        q.columns(PARTNER_COLUMNS)
            .from("exchange_partner")
            .cond_where(self.in_scope_counties("county_code"))
            .cond_where(self.in_scope("county_code"))
            .order_by("county_code", Order::Asc)
            .order_by("partner_code", Order::Asc);
        read_rows(&self.store.db, &q, partner_row).await
    }

    /// Partners in scope with the state of the exchange each way and what is overdue
    /// on `today`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn partner_statuses(&self, today: Date) -> StoreResult<Vec<PartnerStatus>> {
        let mut statuses = Vec::new();
        for partner in self.partners().await? {
            let last_sent = self.last_package(&partner, "sent").await?;
            let last_received = self.last_package(&partner, "received").await?;
            let mut q = Query::select();
            q.expr_as(Expr::col("id").count(), "n")
                .from("exchange_package")
                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
                .and_where(Expr::col("direction").eq("received"))
                .and_where(Expr::col("kind").eq("exchange"))
                .and_where(Expr::col("state").eq("applied"))
                .and_where(Expr::col("acknowledged_at").is_null());
            let unacknowledged: i64 = match self.store.db.query_one(&q).await? {
                Some(r) => r.try_get("", "n")?,
                None => 0,
            };
            let mut q = Query::select();
            q.columns(["refused_at", "reason"])
                .from("exchange_refusal")
                .and_where(Expr::col("county_code").eq(partner.county.as_str()))
                .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
                .order_by("refused_at", Order::Desc)
                .limit(1);
            let last_refusal = match self.store.db.query_one(&q).await? {
                Some(r) => Some((r.try_get("", "refused_at")?, r.try_get("", "reason")?)),
                None => None,
            };
            let next_send_due = partner.agreement.next_due(last_sent.as_ref().map(|p| p.at.date()));
            let next_receive_due = partner.agreement.next_due(last_received.as_ref().map(|p| p.at.date()));
            let in_force = partner.agreement.in_force(today);
            statuses.push(PartnerStatus {
                send_overdue: in_force && next_send_due < today,
                receive_overdue: in_force && next_receive_due < today,
                next_send_due,
                next_receive_due,
                last_sent,
                last_received,
                unacknowledged: unacknowledged as u64,
                last_refusal,
                partner,
            });
        }
        Ok(statuses)
    }

    async fn last_package(&self, partner: &Partner, direction: &str) -> StoreResult<Option<LastPackage>> {
        let mut q = Query::select();
        q.columns(["id", "sequence", "state", "records", "handled_at"])
            .from("exchange_package")
            .and_where(Expr::col("county_code").eq(partner.county.as_str()))
            .and_where(Expr::col("partner_code").eq(partner.code.as_str()))
            .and_where(Expr::col("direction").eq(direction))
            .and_where(Expr::col("kind").eq("exchange"))
            .order_by("sequence", Order::Desc)
            .limit(1);
        let Some(r) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let sequence: i64 = r.try_get("", "sequence")?;
        let records: i64 = r.try_get("", "records")?;
        Ok(Some(LastPackage {
            package_id: r.try_get("", "id")?,
            sequence: sequence as u64,
            state: r.try_get("", "state")?,
            records: records as u64,
            at: r.try_get("", "handled_at")?,
        }))
    }
}
