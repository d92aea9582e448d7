//! The JSON API: the registry operations of the pages, for other systems and scripts.
//! Same session, same scope, same audit as the pages; state-changing calls carry the
//! session's CSRF token in the `X-CSRF-Token` header. Described at `/api/openapi.json`.

pub mod registry;
pub mod reporting;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::AppError;

/// An error as the API reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// A stable code: `login_required`, `forbidden`, `not_found`, `bad_request`, `internal`.
    pub code: &'static str,
    /// What is wrong, in Chinese and English.
    pub message: String,
}

/// [`AppError`] rendered as JSON instead of a page.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use jiceng_store::StoreError;
        let (status, code) = match &self.0 {
            AppError::LoginRequired => (StatusCode::UNAUTHORIZED, "login_required"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound { .. } | AppError::Store(StoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            AppError::BadRequest(_) | AppError::Store(StoreError::Invalid(_) | StoreError::Retroactive { .. }) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            AppError::Store(_) | AppError::File(_) | AppError::Render(_) | AppError::Internal(_) => {
                // The page renderer logs internal errors with a reference; do the same.
                let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
                tracing::error!(reference, error = %self.0, "internal error");
                let message = format!("系统错误，参考号 {reference} / internal error, reference {reference}");
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(ApiErrorBody { code: "internal", message }))
                    .into_response();
            }
        };
        (status, Json(ApiErrorBody { code, message: self.0.to_string() })).into_response()
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jiceng 基层 API",
        description = "居民登记接口 / resident registry API. Log in at /login; the session cookie authenticates API calls; POST calls need the X-CSRF-Token header."
    ),
    paths(
        registry::region,
        registry::search,
        registry::resident,
        registry::resident_history,
        registry::change_resident,
        registry::record_exit,
        registry::record_verification,
        registry::household,
        reporting::report,
        crate::fieldwork::visits::record_visit,
        crate::linkage::api::receive,
    ),
    components(schemas(
        ApiErrorBody,
        registry::RegionNode,
        registry::RegionChild,
        registry::ResidentSummary,
        registry::ResidentRecord,
        registry::ResidentChange,
        registry::ExitRequest,
        registry::EventReceipt,
        registry::VerificationRequest,
        registry::VerificationStatus,
        registry::HouseholdRecord,
        reporting::ReportRecord,
        crate::fieldwork::visits::VisitRequest,
        crate::fieldwork::visits::VisitReceipt,
        crate::linkage::api::FeedBody,
        crate::linkage::api::FeedAnswer,
        crate::linkage::api::Refusal,
    ))
)]
pub struct ApiDoc;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The JSON API and its OpenAPI description.
pub fn routes() -> crate::Routes {
    vec![
        ("/api/openapi.json", get(openapi)),
        ("/api/regions/{code}", get(registry::region)),
        ("/api/search", get(registry::search)),
        ("/api/residents/{county}/{id}", get(registry::resident).post(registry::change_resident)),
        ("/api/residents/{county}/{id}/history", get(registry::resident_history)),
        ("/api/residents/{county}/{id}/exit", post(registry::record_exit)),
        ("/api/residents/{county}/{id}/verifications", post(registry::record_verification)),
        ("/api/households/{county}/{id}", get(registry::household)),
        ("/api/reports/{code}", get(reporting::report)),
    ]
}

#[cfg(test)]
mod tests;
