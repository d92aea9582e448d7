//! The follow-up tier on a resident's record: tier and reasons, the re-verification due
//! date, what is recorded about housing, work and phone, and a staff override with a
//! reason. `/tiers/{code}`: counts per tier, the rules in force and recent changes.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::fieldwork::{Housing, RecordedStability, Tier, TierRules, Work};
use jiceng_domain::org::DivisionCode;
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_store::fieldwork::Fieldwork;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::AuditRecord;
use crate::org::guard::{Editor, NodeCode, RecordKey, Viewer};
use crate::page::{Chrome, Lang, render};
use crate::registry::pages::today;

/// What the record page shows of the tier.
pub struct TierPanel {
    pub name: String,
    pub colour: String,
    pub points: u32,
    pub rules_version: u32,
    pub reasons: Vec<(String, String, u8)>,
    pub due: String,
    pub overdue: bool,
    pub overridden: Option<String>,
    pub housing: String,
    pub work: String,
    pub phone: String,
    pub housing_options: Vec<(String, String)>,
    pub work_options: Vec<(String, String)>,
    pub tier_options: Vec<(String, String)>,
}

fn tier_name(rules: &TierRules, tier: Tier, lang: Lang) -> String {
    match rules.setting(tier) {
        Some(s) => lang.pick(&s.name_zh, &s.name_en).to_string(),
        None => lang.label(tier).to_string(),
    }
}

/// The panel for a current resident (`None` before the first assessment).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn panel(
    fieldwork: &Fieldwork<'_>,
    lang: Lang,
    county: &DivisionCode,
    id: Uuid,
    last_verified: Option<time::Date>,
) -> AppResult<Option<TierPanel>> {
    let Some(stored) = fieldwork.resident_tier(county, id).await? else { return Ok(None) };
    let rules = fieldwork.tier_rules().await?;
    let effective = stored.effective();
    let due = rules.due_on(effective, last_verified);
    let recorded = fieldwork.stability(county, id).await?;
    let pick = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    Ok(Some(TierPanel {
        name: tier_name(&rules, effective, lang),
        colour: rules.setting(effective).map(|s| s.colour.clone()).unwrap_or_else(|| "#616e7c".into()),
        points: stored.assessment.points,
        rules_version: stored.assessment.rules_version,
        reasons: stored
            .assessment
            .reasons
            .iter()
            .map(|r| {
                (
                    lang.pick(&r.factor_zh, &r.factor_en).to_string(),
                    lang.pick(&r.answer_zh, &r.answer_en).to_string(),
                    r.points,
                )
            })
            .collect(),
        due: due.map(|d| d.to_string()).unwrap_or_else(|| pick("尽快", "as soon as possible")),
        overdue: due.is_none_or(|d| d <= today()),
        overridden: stored.overridden.map(|(t, reason, by)| {
            format!(
                "{} {}（{} {}：{reason}）",
                pick("人工调整为", "set by staff to"),
                tier_name(&rules, t, lang),
                by,
                pick("原因", "reason"),
            )
        }),
        housing: recorded.map(|r| r.housing.key()).unwrap_or(Housing::Unknown.key()).to_string(),
        work: recorded.map(|r| r.work.key()).unwrap_or(Work::NoneKnown.key()).to_string(),
        phone: match recorded.and_then(|r| r.phone_answered) {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => String::new(),
        },
        housing_options: Housing::ALL.iter().map(|h| (h.key().to_string(), lang.label(*h).to_string())).collect(),
        work_options: Work::ALL.iter().map(|w| (w.key().to_string(), lang.label(*w).to_string())).collect(),
        tier_options: Tier::ALL.iter().map(|t| (t.key().to_string(), tier_name(&rules, *t, lang))).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct StabilityForm {
    pub housing: String,
    pub work: String,
    #[serde(default)]
    pub phone: String,
}

fn record_href(county: &DivisionCode, id: Uuid) -> String {
    format!("/residents/{county}/{id}?purpose={}", AccessPurpose::Verification.key())
}

/// Records housing, work and phone; the tier is reassessed at once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_stability(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<StabilityForm>,
) -> AppResult<Response> {
    let bad = |what: &str| AppError::BadRequest(format!("{what}无效 / invalid {what}"));
    let stability = RecordedStability {
        housing: Housing::from_key(&form.housing).ok_or_else(|| bad("住房 housing"))?,
        work: Work::from_key(&form.work).ok_or_else(|| bad("就业 work"))?,
        phone_answered: match form.phone.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
    };
    user.fieldwork().record_stability(&county, id, stability, today()).await?;
    Ok(Redirect::to(&record_href(&county, id)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct OverrideForm {
    /// A tier key, or empty to return the tier to the rules.
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub reason: String,
}

/// A staff member sets the tier (with a reason) or returns it to the rules; audited.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn override_tier(
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<OverrideForm>,
) -> AppResult<Response> {
    let tier = match form.tier.as_str() {
        "" => None,
        key => Some(Tier::from_key(key).ok_or_else(|| AppError::BadRequest("等级无效 / invalid tier".into()))?),
    };
    user.fieldwork().override_tier(&county, id, tier, &form.reason, today()).await?;
    Ok(Redirect::to(&record_href(&county, id)).into_response())
}

#[derive(Template)]
#[template(path = "tiers.html")]
struct TiersPage {
    page: Chrome,
    code: String,
    name: String,
    counts: Vec<(String, String, u64)>,
    rules_version: u32,
    rules: Vec<(String, String)>,
    changes: Vec<(String, String, String, String, String)>,
}

/// `/tiers/{code}`: residents per tier, the rules in force and recent changes.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn tiers(State(state): State<AppState>, user: Viewer, NodeCode(code): NodeCode) -> AppResult<Response> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let node = state.store.divisions().get(&code).await?.ok_or_else(|| AppError::not_found("区划 Division"))?;
    let fieldwork = user.fieldwork();
    let rules = fieldwork.tier_rules().await?;
    let lang = user.lang;
    let counts = fieldwork
        .tier_counts(&code)
        .await?
        .into_iter()
        .map(|(t, n)| (tier_name(&rules, t, lang), rules.setting(t).map(|s| s.colour.clone()).unwrap_or_default(), n))
        .collect();
    let pick = |zh: &str, en: &str| lang.pick(zh, en).to_string();
    let mut lines = Vec::new();
    for s in &rules.settings {
        lines.push((
            tier_name(&rules, s.tier, lang),
            format!("{} {} {}", pick("每", "every"), s.interval_months, pick("个月复核", "months")),
        ));
    }
    for (h, p) in &rules.housing {
        lines.push((format!("{} · {}", pick("住房", "housing"), lang.label(*h)), format!("+{p}")));
    }
    for (w, p) in &rules.work {
        lines.push((format!("{} · {}", pick("就业", "work"), lang.label(*w)), format!("+{p}")));
    }
    lines.push((pick("电话未接通", "phone did not answer"), format!("+{}", rules.phone_not_answered)));
    lines.push((pick("从未核实", "never verified"), format!("+{}", rules.never_verified)));
    for (months, p) in &rules.staleness {
        lines.push((
            format!("{} {months} {}", pick("超过", "not verified for over"), pick("个月未核实", "months")),
            format!("+{p}"),
        ));
    }
    for (months, p) in &rules.arrival {
        lines.push((
            format!("{} {months} {}", pick("来本地不足", "arrived less than"), pick("个月", "months ago")),
            format!("+{p}"),
        ));
    }
    lines.push((
        pick("分数界限", "limits"),
        format!(
            "≤{} {} · ≤{} {}",
            rules.reassured_max,
            tier_name(&rules, Tier::Reassured, lang),
            rules.attention_max,
            tier_name(&rules, Tier::Attention, lang)
        ),
    ));
    let found = fieldwork.tier_changes(&code, 100).await?;
    let mut changes = Vec::new();
    for c in &found {
        let name = match fieldwork.registry().resident(&c.county, c.resident_id).await? {
            Some(v) => v.facts.name.to_string(),
            None => "—".into(),
        };
        changes.push((
            c.at.date().to_string(),
            name,
            c.from.map(|t| tier_name(&rules, t, lang)).unwrap_or_else(|| "—".into()),
            tier_name(&rules, c.to, lang),
            c.cause.clone(),
        ));
    }
    if !changes.is_empty() {
        user.audit(
            &state,
            AuditRecord {
                action: AuditAction::ReadResident,
                target: &format!("tiers/{code}"),
                county: code
                    .at_level(jiceng_domain::org::DivisionLevel::County)
                    .as_ref()
                    .map(DivisionCode::as_str)
                    .unwrap_or(""),
                purpose: Some(AccessPurpose::Verification),
                detail: format!("{} tier changes listed", changes.len()),
            },
        )
        .await?;
    }
    Ok(render(&TiersPage {
        page: user.chrome(&format!("{} 随访等级 Follow-up tiers", node.name)),
        code: code.to_string(),
        name: node.name,
        counts,
        rules_version: rules.version,
        rules: lines,
        changes,
    })?
    .into_response())
}
