//! 部门通报与记录匹配: departments registered with the kinds of notice they may send,
//! their API tokens (kept as digests), and the feeds they send — every record kept as
//! received, linked to the registry and turned into proposals for the review chain
//! (`feeds.rs`), with the reviewers' decisions training the model (ADR 020).

mod feeds;
mod registry_side;
#[cfg(test)]
mod tests;

pub use feeds::{
    Candidate, Evidence, FeedReceipt, IncomingRecord, ReviewItem, THRESHOLDS, ThresholdRow, TrainReport, threshold_rows,
};
pub use registry_side::IndexStats;
pub(crate) use registry_side::LinkageCache;

use jiceng_domain::linkage::{DepartmentKind, FeedKind};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use rand::RngCore;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sha2::Digest;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult, decode_opt};
use crate::read_rows;

crate::access::domain_handle! {
    /// Departments, their feeds and the linkage of what they send, as one caller sees them.
    Linkage { linkage, linkage_in, linkage_as, linkage_by }
}

fn invalid(zh: &str, en: &str) -> StoreError {
    StoreError::Invalid(format!("{zh} / {en}"))
}

/// A department to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    /// A short code people type (`--department`), unique in the county.
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    /// The area it reports on: its county, or a street or community in it.
    pub region: DivisionCode,
    /// The kinds it may send; empty: the usual ones of its kind.
    pub feeds: Vec<FeedKind>,
}

/// A registered department.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Department {
    pub county: DivisionCode,
    pub id: Uuid,
    pub code: String,
    pub name: String,
    #[serde(serialize_with = "department_key")]
    pub kind: DepartmentKind,
    pub region: DivisionCode,
    #[serde(serialize_with = "feed_keys")]
    pub feeds: Vec<FeedKind>,
    pub registered_by: String,
}

impl Department {
    /// Refuses a kind of record the department is not registered to send.
    pub fn may_send(&self, kind: FeedKind) -> StoreResult<()> {
        if self.feeds.contains(&kind) {
            return Ok(());
        }
        Err(StoreError::Invalid(format!(
            "部门“{}”未获准报送{} / department '{}' may not send {}",
            self.code,
            kind.label_zh(),
            self.code,
            kind.label_en()
        )))
    }
}

// JSON carries the coded values' keys, as the file headings and the API do.
fn department_key<S: serde::Serializer>(kind: &DepartmentKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.key())
}

fn feed_keys<S: serde::Serializer>(kinds: &[FeedKind], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(kinds.iter().map(|k| k.key()))
}

pub(crate) fn feed_key<S: serde::Serializer>(kind: &FeedKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.key())
}

pub(crate) fn outcome_key<S: serde::Serializer>(
    outcome: &jiceng_domain::linkage::FeedOutcome,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(outcome.key())
}

/// A token as listed: never the token itself, which is shown once when made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub department: String,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A department token's digest: tokens are 256 random bits, so a plain SHA-256 (no
/// slow hash, no salt) cannot be reversed or guessed, and is looked up directly.
fn token_digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.trim().as_bytes()))
}

const DEPARTMENT_COLUMNS: [&str; 8] =
    ["county_code", "id", "code", "name", "kind", "region_code", "feeds", "registered_by"];

fn department_row(r: &sea_orm::QueryResult) -> StoreResult<Department> {
    let county: String = r.try_get("", "county_code")?;
    let kind: String = r.try_get("", "kind")?;
    let region: String = r.try_get("", "region_code")?;
    let feeds: String = r.try_get("", "feeds")?;
    Ok(Department {
        county: decode_opt("department", "county_code", &county, |c| DivisionCode::parse(c).ok())?,
        id: r.try_get("", "id")?,
        code: r.try_get("", "code")?,
        name: r.try_get("", "name")?,
        kind: decode_opt("department", "kind", &kind, DepartmentKind::from_key)?,
        region: decode_opt("department", "region_code", &region, |c| DivisionCode::parse(c).ok())?,
        feeds: feeds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(|k| decode_opt("department", "feeds", k, FeedKind::from_key))
            .collect::<StoreResult<_>>()?,
        registered_by: r.try_get("", "registered_by")?,
    })
}

impl Linkage<'_> {
    /// Registers a department. Its region must be a county or lie inside one (the
    /// county keys everything it sends) and be in the caller's scope.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn register_department(&self, new: &NewDepartment) -> StoreResult<Department> {
        let county = new.region.at_level(DivisionLevel::County).ok_or_else(|| {
            invalid("部门的范围须为区县或其下的街道、社区", "a department's region must be a county or lie within one")
        })?;
        self.require_scope(&new.region, "区划 / division")?;
        let code = new.code.trim();
        if code.is_empty() || code.chars().count() > 32 || code.contains(char::is_whitespace) {
            return Err(invalid(
                "部门代码须为1–32个字符且不含空格",
                "a department code is 1–32 characters without spaces",
            ));
        }
        if new.name.trim().is_empty() {
            return Err(invalid("请填写部门名称", "the department needs a name"));
        }
        let feeds = if new.feeds.is_empty() { new.kind.usual_feeds().to_vec() } else { new.feeds.clone() };
        let keys: Vec<&str> = feeds.iter().map(|f| f.key()).collect();
        let id = Uuid::now_v7();
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        let inserted = work
            .txn
            .execute(
                Query::insert()
                    .into_table("department")
                    .columns(DEPARTMENT_COLUMNS.into_iter().chain(["registered_at"]))
                    .values_panic([
                        county.as_str().into(),
                        id.into(),
                        code.into(),
                        new.name.trim().into(),
                        new.kind.key().into(),
                        new.region.as_str().into(),
                        keys.join(",").into(),
                        self.caller.username.to_string().into(),
                        OffsetDateTime::now_utc().into(),
                    ])
                    .on_conflict(
                        sea_orm::sea_query::OnConflict::columns(["county_code", "code"]).do_nothing().to_owned(),
                    ),
            )
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Invalid(format!(
                "部门代码“{code}”已被使用 / the department code '{code}' is taken"
            )));
        }
        let entry = self.entry(
            AuditAction::Configure,
            format!("department/{county}/{id}"),
            county.as_str(),
            format!("register {} feeds {}", new.kind.key(), keys.join(",")),
        );
        work.commit(entry).await?;
        self.department(&county, id).await
    }

    /// A department in scope (outside it: not found).
    pub async fn department(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Department> {
        let mut q = Query::select();
        q.columns(DEPARTMENT_COLUMNS)
            .from("department")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id))
            .cond_where(self.in_scope("region_code"));
        let row = self.store.db.query_one(&q).await?;
        row.as_ref()
            .map(department_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound { what: "部门 / department".into() })
    }

    /// Departments in scope, by county and code.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn departments(&self) -> StoreResult<Vec<Department>> {
        let mut q = Query::select();
        q.columns(DEPARTMENT_COLUMNS)
            .from("department")
            .cond_where(self.in_scope_counties("county_code"))
            .cond_where(self.in_scope("region_code"))
            .order_by("county_code", Order::Asc)
            .order_by("code", Order::Asc);
        read_rows(&self.store.db, &q, department_row).await
    }

    /// The department with `code` (in `county`, when codes repeat across counties).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn department_by_code(&self, code: &str, county: Option<&DivisionCode>) -> StoreResult<Department> {
        let mut found: Vec<Department> = self
            .departments()
            .await?
            .into_iter()
            .filter(|d| d.code == code.trim() && county.is_none_or(|c| &d.county == c))
            .collect();
        match found.len() {
            0 => Err(StoreError::NotFound { what: format!("部门“{code}” / department '{code}'") }),
            1 => Ok(found.remove(0)),
            _ => Err(invalid(
                "多个区县有此部门代码，请指定区县",
                "several counties have this department code: name the county",
            )),
        }
    }

    /// Makes an API token for a department; returns it once (only its digest is kept).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_token(&self, department: &Department, label: &str) -> StoreResult<(Uuid, String)> {
        self.require_scope(&department.region, "部门 / department")?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("jcf_{}", hex::encode(bytes));
        let id = Uuid::now_v7();
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        work.txn
            .execute(
                Query::insert()
                    .into_table("feed_token")
                    .columns(["county_code", "id", "department_id", "digest", "label", "created_at", "created_by"])
                    .values_panic([
                        department.county.as_str().into(),
                        id.into(),
                        department.id.into(),
                        token_digest(&token).into(),
                        label.trim().into(),
                        OffsetDateTime::now_utc().into(),
                        self.caller.username.to_string().into(),
                    ]),
            )
            .await?;
        let entry = self.entry(
            AuditAction::Configure,
            format!("feed_token/{}/{id}", department.county),
            department.county.as_str(),
            format!("create token for department {}", department.id),
        );
        work.commit(entry).await?;
        Ok((id, token))
    }

    /// A department's tokens, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn tokens(&self, department: &Department) -> StoreResult<Vec<TokenInfo>> {
        self.require_scope(&department.region, "部门 / department")?;
        let mut q = Query::select();
        q.columns(["id", "label", "created_at", "created_by", "revoked_at"])
            .from("feed_token")
            .and_where(Expr::col("county_code").eq(department.county.as_str()))
            .and_where(Expr::col("department_id").eq(department.id))
            .order_by("created_at", Order::Desc);
        read_rows(&self.store.db, &q, |r| {
            Ok(from_row!(r => TokenInfo { id, label, created_at, created_by, revoked_at; department: department.code.clone() }))
        })
        .await
    }

    /// Revokes a token: from now on it is refused.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token(&self, department: &Department, token_id: Uuid) -> StoreResult<()> {
        self.require_scope(&department.region, "部门 / department")?;
        let work = crate::write::UnitOfWork::begin(self.store).await?;
        let changed = work
            .txn
            .execute(
                Query::update()
                    .table("feed_token")
                    .value("revoked_at", OffsetDateTime::now_utc())
                    .value("revoked_by", self.caller.username.to_string())
                    .and_where(Expr::col("county_code").eq(department.county.as_str()))
                    .and_where(Expr::col("department_id").eq(department.id))
                    .and_where(Expr::col("id").eq(token_id))
                    .and_where(Expr::col("revoked_at").is_null()),
            )
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound { what: "有效的令牌 / active token".into() });
        }
        let entry = self.entry(
            AuditAction::Configure,
            format!("feed_token/{}/{token_id}", department.county),
            department.county.as_str(),
            "revoke token".into(),
        );
        work.commit(entry).await
    }

    /// How the county's registry side of linkage has been kept (none before its first batch).
    pub async fn index_stats(&self, county: &DivisionCode) -> Option<IndexStats> {
        registry_side::stats(self.store, county).await
    }

    /// The department a token belongs to, if the token is known and not revoked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn authenticate(&self, token: &str) -> StoreResult<Option<Department>> {
        let mut q = Query::select();
        q.columns(["county_code", "department_id"])
            .from("feed_token")
            .and_where(Expr::col("digest").eq(token_digest(token)))
            .and_where(Expr::col("revoked_at").is_null());
        let Some(row) = self.store.db.query_one(&q).await? else { return Ok(None) };
        let county: String = row.try_get("", "county_code")?;
        let county = decode_opt("feed_token", "county_code", &county, |c| DivisionCode::parse(c).ok())?;
        let id: Uuid = row.try_get("", "department_id")?;
        Ok(Some(self.department(&county, id).await?))
    }
}
