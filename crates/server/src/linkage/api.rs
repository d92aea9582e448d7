//! `POST /api/feeds/{kind}`: a department sends records with its API token
//! (`Authorization: Bearer jcf_…`). The body is `{"records": [{…}, …]}`, each record an
//! object keyed by the kind's English headings (`docs/feeds/`); the answer is what the
//! send did, with every refused record's index and reason. A revoked or unknown token,
//! or a kind the department may not send, is refused; every call is audited (the
//! receipt's entry names the department's token as the caller).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use jiceng_domain::linkage::FeedKind;
use jiceng_domain::linkage::feed::{FeedColumn, read_record};
use jiceng_files::linkage::feed::FeedRow;
use jiceng_store::Caller;
use jiceng_store::linkage::Department;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::error::AppError;
use crate::registry::pages::today;

/// Records one call may carry: a month of a district's notices of one kind.
pub const MAX_RECORDS: usize = 10_000;

/// The department whose valid token came with the request.
pub struct DepartmentToken {
    pub department: Department,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for DepartmentToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(ApiError(AppError::LoginRequired));
        }
        let Some(department) = state.store.linkage().authenticate(token).await.map_err(ApiError::from)? else {
            return Err(ApiError(AppError::LoginRequired));
        };
        let crate::org::auth::ClientOrigin(origin) =
            crate::org::auth::ClientOrigin::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
        let caller = Caller::remote(&format!("feed:{}", department.code), &origin);
        Ok(DepartmentToken { department, caller })
    }
}

/// A department's records of one kind, each keyed by the kind's English headings
/// (`docs/feeds/`), e.g. `{"record_no":"MZ-1","died_on":"2026-11-01","name":"黄国华"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FeedBody {
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    /// Position of the record in `records`, from 0.
    pub index: u64,
    pub reason: String,
}

/// What the send did: new records by outcome (`matched`, `possible`, `no_match`,
/// `duplicate`, `rejected`), records received before, change events proposed, and every
/// refused record's index and reason.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedAnswer {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub receipt: jiceng_store::linkage::FeedReceipt,
    pub refused: Vec<Refusal>,
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Receives a department's records of `kind`.
#[utoipa::path(post, path = "/api/feeds/{kind}", tag = "linkage",
    params(("kind" = String, Path, description = "marriage, divorce, hukou_change, hospital_birth, vaccination, school_entry or death"),
           ("Authorization" = String, Header, description = "Bearer and the department's token")),
    request_body = FeedBody,
    responses((status = 200, body = FeedAnswer), (status = 401, body = crate::api::ApiErrorBody),
              (status = 403, body = crate::api::ApiErrorBody), (status = 400, body = crate::api::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn receive(
    State(state): State<AppState>,
    DepartmentToken { department, caller }: DepartmentToken,
    Path(kind): Path<String>,
    Json(body): Json<FeedBody>,
) -> Result<Json<FeedAnswer>, ApiError> {
    let kind = FeedKind::from_key(&kind)
        .ok_or_else(|| AppError::BadRequest(format!("通报类型“{kind}”不存在 / unknown feed kind '{kind}'")))?;
    department.may_send(kind).map_err(|_| AppError::Forbidden)?;
    if body.records.len() > MAX_RECORDS {
        return Err(
            AppError::BadRequest(format!("一次最多 {MAX_RECORDS} 条 / at most {MAX_RECORDS} records a call")).into()
        );
    }
    let rows: Vec<FeedRow> = body
        .records
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let cells: Vec<(String, String)> = object.iter().map(|(k, v)| (k.clone(), text(v))).collect();
            let mut mapped = Vec::new();
            let mut unknown = Vec::new();
            for (key, value) in &cells {
                match FeedColumn::of_heading(kind, key) {
                    Some(c) => mapped.push((c, value.as_str())),
                    None => unknown.push(key.clone()),
                }
            }
            let record = if unknown.is_empty() {
                read_record(kind, &mapped)
            } else {
                Err(vec![jiceng_domain::linkage::feed::FieldProblem {
                    column: None,
                    message: format!("未知字段 / unknown keys: {}", unknown.join(", ")),
                }])
            };
            FeedRow { line: i as u64, cells, record }
        })
        .collect();
    let linkage = state.store.linkage_by(&caller);
    let receipt = linkage.receive(&department, kind, "api", rows, &state.linkage, today()).await?;
    let refused =
        receipt.rejected.iter().map(|(index, _, reason)| Refusal { index: *index, reason: reason.clone() }).collect();
    Ok(Json(FeedAnswer { receipt, refused }))
}
