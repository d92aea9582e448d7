//! `GET /api/reports/{code}?period=2026-10`: a node's report as one JSON object whose
//! keys are the stable indicator names.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Query;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiResult;
use crate::error::AppError;
use crate::org::guard::{NodeCode, Viewer};
use crate::reporting::reports::{PeriodQuery, last_month};

/// A periodic report: node, period and indicator values (counts; rates may be null).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRecord {
    pub node: String,
    pub period: String,
    /// Indicator name → value (`births`, `population.end`, `crude_birth_rate` …).
    #[schema(value_type = Object)]
    pub figures: BTreeMap<String, Option<f64>>,
}

#[utoipa::path(get, path = "/api/reports/{code}", tag = "reporting",
    params(("code" = String, Path, description = "区划代码 division code"),
           ("period" = Option<String>, Query, description = "2026-10, 2026-Q4 or 2026 (default: last month)")),
    responses((status = 200, body = ReportRecord), (status = 404, body = super::ApiErrorBody)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn report(
    user: Viewer,
    NodeCode(code): NodeCode,
    Query(query): Query<PeriodQuery>,
) -> ApiResult<ReportRecord> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division").into());
    }
    let period = match query.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => jiceng_domain::reporting::Period::parse(p).map_err(|e| AppError::BadRequest(e.to_string()))?,
        None => jiceng_domain::reporting::Period::Month(last_month()),
    };
    let report = user.reporting().report(&code, period).await?;
    let figures = report
        .figures
        .iter()
        .map(|(k, f)| {
            let v = match f {
                jiceng_domain::reporting::Figure::Count(n) => Some(*n as f64),
                jiceng_domain::reporting::Figure::Rate(r) => *r,
            };
            (k.clone(), v)
        })
        .collect();
    Ok(Json(ReportRecord { node: code.to_string(), period: period.to_string(), figures }))
}
