//! 地区间交换 Inter-region exchange: `/exchange` lists the partner regions with where
//! the exchange stands each way and what is overdue; the district office writes a
//! package (signed with the county's key kept in the data directory, never in the
//! database) or the acknowledgement it owes, and imports what a partner sent. Adding a
//! partner (its key) is an administrator's.

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::exchange::package::{Agreement, PackageKind, SharedField};
use jiceng_domain::org::{DivisionCode, Permission};
use jiceng_files::exchange::package::{PrivateKey, PublicKey};
use jiceng_store::exchange::{NewPartner, PackageImportOptions, PartnerStatus};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::guard::{Editor, Feeds, Manage, PartnerKey, Scoped, Viewer};
use crate::page::{Chrome, Lang, render};
use crate::registry::pages::today;

/// A partner as its row shows it.
struct PartnerRow {
    status: PartnerStatus,
    fields: String,
    agreement: String,
    last_sent: String,
    last_received: String,
    /// Whether the server has this county's private key (the export button works).
    has_key: bool,
}

#[derive(Template)]
#[template(path = "exchange.html")]
struct ExchangePage {
    page: Chrome,
    partners: Vec<PartnerRow>,
    may_manage: bool,
    fields: Vec<(String, String)>,
    keys_dir: String,
    done: Option<String>,
    problems: Vec<String>,
}

fn package_text(
    lang: Lang,
    last: &Option<jiceng_store::exchange::LastPackage>,
    due: time::Date,
    overdue: bool,
) -> String {
    let state = |s: &str| match (s, lang) {
        ("sent", Lang::Zh) => "已发出",
        ("acknowledged", Lang::Zh) => "对方已回执",
        ("applying", Lang::Zh) => "导入中断，待续",
        ("applied", Lang::Zh) => "已导入",
        (other, _) => match other {
            "sent" => "sent",
            "acknowledged" => "acknowledged",
            "applying" => "interrupted, to resume",
            "applied" => "applied",
            _ => "",
        },
    };
    let late = if overdue {
        match lang {
            Lang::Zh => format!("，已逾期（应于 {due}）"),
            Lang::En => format!(", overdue (due {due})"),
        }
    } else {
        match lang {
            Lang::Zh => format!("，下次 {due}"),
            Lang::En => format!(", next due {due}"),
        }
    };
    match (last, lang) {
        (Some(p), Lang::Zh) => format!("第{}号 {} {} 条 {}{late}", p.sequence, p.at.date(), p.records, state(&p.state)),
        (Some(p), Lang::En) => {
            format!("#{} {} {} records {}{late}", p.sequence, p.at.date(), p.records, state(&p.state))
        }
        (None, Lang::Zh) => format!("尚无{late}"),
        (None, Lang::En) => format!("none yet{late}"),
    }
}

fn key_path(state: &AppState, county: &DivisionCode) -> std::path::PathBuf {
    state.exchange_keys.join(county.as_str()).join("private.key")
}

async fn exchange_page(
    state: &AppState,
    user: &Scoped,
    done: Option<String>,
    problems: Vec<String>,
) -> AppResult<ExchangePage> {
    let lang = user.lang;
    let mut partners = Vec::new();
    for status in user.exchange().partner_statuses(today()).await? {
        let a = &status.partner.agreement;
        let fields: Vec<&str> = a.fields.iter().map(|f| lang.label(*f)).collect();
        let until = a.ends_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
        partners.push(PartnerRow {
            fields: fields.join("、"),
            agreement: match lang {
                Lang::Zh => format!("{} 至 {until}，每 {} 个月", a.starts_on, a.every_months),
                Lang::En => format!("{} to {until}, every {} months", a.starts_on, a.every_months),
            },
            last_sent: package_text(lang, &status.last_sent, status.next_send_due, status.send_overdue),
            last_received: package_text(lang, &status.last_received, status.next_receive_due, status.receive_overdue),
            has_key: tokio::fs::try_exists(key_path(state, &status.partner.county)).await.unwrap_or(false),
            status,
        });
    }
    Ok(ExchangePage {
        page: user.chrome("地区间交换 Inter-region exchange"),
        partners,
        may_manage: user.user.role.may(Permission::ManageUsers),
        fields: SharedField::ALL.iter().map(|f| (f.key().to_string(), lang.label(*f).to_string())).collect(),
        keys_dir: state.exchange_keys.display().to_string(),
        done,
        problems,
    })
}

/// `/exchange`: partner regions and where the exchange stands.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn partners(State(state): State<AppState>, user: Viewer<Feeds>) -> AppResult<Response> {
    Ok(render(&exchange_page(&state, &user, None, Vec::new()).await?)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct PartnerForm {
    pub county: String,
    pub partner: String,
    pub name: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_phone: String,
    pub starts_on: String,
    #[serde(default)]
    pub ends_on: String,
    pub every_months: String,
    pub public_key: String,
    /// The fields let through, one checkbox each (`field_id_number=on`).
    #[serde(flatten)]
    pub rest: std::collections::HashMap<String, String>,
}

/// Adds (or updates) a partner region with its public key (administrators).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_partner(
    State(state): State<AppState>,
    user: Editor<Manage>,
    Form(form): Form<PartnerForm>,
) -> AppResult<Response> {
    let bad = |m: String| AppError::BadRequest(m);
    let code = |label: &str, text: &str| {
        DivisionCode::parse(text.trim()).map_err(|e| AppError::BadRequest(format!("{label}: {e}")))
    };
    let date = |label: &str, text: &str| {
        time::Date::parse(text.trim(), time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| AppError::BadRequest(format!("{label}：应为 YYYY-MM-DD / must be YYYY-MM-DD")))
    };
    // In the fields' own order, whatever order the form sent them in.
    let fields: Vec<SharedField> =
        SharedField::ALL.iter().copied().filter(|f| form.rest.contains_key(&format!("field_{}", f.key()))).collect();
    if let Some(unknown) =
        form.rest.keys().filter_map(|k| k.strip_prefix("field_")).find(|k| SharedField::from_key(k).is_none())
    {
        return Err(bad(format!("未知的交换字段“{unknown}” / unknown field '{unknown}'")));
    }
    let every_months = form
        .every_months
        .trim()
        .parse::<u8>()
        .map_err(|_| bad("交换周期应为月数 / the interval is a number of months".into()))?;
    let public_key = PublicKey::parse(&form.public_key, "公钥 public key").map_err(|e| bad(e.to_string()))?;
    let new = NewPartner {
        county: code("本方区县 county", &form.county)?,
        partner: code("协作地区 partner", &form.partner)?,
        name: form.name,
        contact_name: form.contact_name,
        contact_phone: form.contact_phone,
        agreement: Agreement {
            starts_on: date("协议生效 starts", &form.starts_on)?,
            ends_on: if form.ends_on.trim().is_empty() {
                None
            } else {
                Some(date("协议终止 ends", &form.ends_on)?)
            },
            fields,
            every_months,
        },
        public_key,
    };
    match user.exchange().add_partner(&new).await {
        Ok(_) => Ok(Redirect::to("/exchange").into_response()),
        Err(jiceng_store::StoreError::Invalid(m)) => {
            Ok((axum::http::StatusCode::BAD_REQUEST, render(&exchange_page(&state, &user, None, vec![m]).await?)?)
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A folder of its own in the private uploads folder for one package written or read
/// (removed with it).
fn private_dir(state: &AppState) -> AppResult<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("exchange-")
        .tempdir_in(&state.imports.dir)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Sends a package file the server just wrote, then forgets it.
async fn send_package(path: &std::path::Path, name: &str) -> AppResult<Response> {
    let file = tokio::fs::File::open(path).await.map_err(|e| AppError::Internal(e.to_string()))?;
    // Open: the name can go now, the bytes stay readable until the download ends.
    let _ = tokio::fs::remove_file(path).await;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

async fn county_key(state: &AppState, county: &DivisionCode) -> AppResult<PrivateKey> {
    let path = key_path(state, county);
    let read = tokio::task::spawn_blocking(move || PrivateKey::read(&path))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    read.map_err(|_| {
        AppError::BadRequest(format!(
            "服务器没有 {county} 的私钥：请在服务器上运行 jiceng exchange keygen --out {}/{county}，或用命令行导出 / the server has no private key for {county}: run jiceng exchange keygen --out {}/{county} on the server, or export from the command line",
            state.exchange_keys.display(),
            state.exchange_keys.display()
        ))
    })
}

#[derive(Debug, Deserialize)]
pub struct ExportForm {
    /// Changes accepted since this day; empty: since the last package (a lost download
    /// is sent again with the day it covered from).
    #[serde(default)]
    pub since: String,
}

/// Writes and downloads the package for a partner: the changes since the last one, or
/// since the day given.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export(
    State(state): State<AppState>,
    user: Editor<Feeds>,
    key: PartnerKey,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let since = match form.since.trim() {
        "" => None,
        text => Some(
            time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| AppError::BadRequest("起始日期应为 YYYY-MM-DD / the day must be YYYY-MM-DD".into()))?
                .midnight()
                .assume_offset(time::macros::offset!(+8)),
        ),
    };
    let exchange = user.exchange();
    let partner = exchange.partner(&key.county, &key.partner).await?;
    let private = county_key(&state, &partner.county).await?;
    let dir = private_dir(&state)?;
    let path = dir.path().join("package.jxp");
    let report = exchange.export(&partner, &private, since, OffsetDateTime::now_utc(), &path).await?;
    let name = format!("exchange-{}-to-{}-{}.jxp", partner.county, partner.code, report.manifest.sequence);
    send_package(&path, &name).await
}

/// Writes and downloads the acknowledgement owed for the oldest package received
/// from the partner.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn acknowledge(State(state): State<AppState>, user: Editor<Feeds>, key: PartnerKey) -> AppResult<Response> {
    let exchange = user.exchange();
    let partner = exchange.partner(&key.county, &key.partner).await?;
    let private = county_key(&state, &partner.county).await?;
    let dir = private_dir(&state)?;
    let path = dir.path().join("ack.jxp");
    match exchange.acknowledge(&partner, None, &private, OffsetDateTime::now_utc(), &path).await? {
        Some(report) => {
            let name = format!("ack-{}-to-{}-{}.jxp", partner.county, partner.code, report.manifest.sequence);
            send_package(&path, &name).await
        }
        None => {
            let done = user.lang.text("没有待回执的交换包 No package waits for an acknowledgement").into_owned();
            Ok(render(&exchange_page(&state, &user, Some(done), Vec::new()).await?)?.into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    #[serde(default)]
    pub format: String,
}

/// A person of the reconciliation as its row shows them.
struct ReconciledRow {
    difference: String,
    key: &'static str,
    name: String,
    id_number: String,
    ours: String,
    theirs: String,
    registered: bool,
}

#[derive(Template)]
#[template(path = "exchange_reconciliation.html")]
struct ReconciliationPage {
    page: Chrome,
    partner: String,
    county: String,
    href: String,
    roster_received: Option<String>,
    counts: Vec<(String, usize)>,
    rows: Vec<ReconciledRow>,
}

/// 半年对账: the partner's roster against who this side believes lives there, as a
/// page or (`?format=xlsx`) a workbook. Names and ID numbers: an audited read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reconciliation(
    State(state): State<AppState>,
    user: Viewer<Feeds>,
    key: PartnerKey,
    axum::extract::Query(query): axum::extract::Query<FormatQuery>,
) -> AppResult<Response> {
    use jiceng_domain::exchange::reconciliation::Difference;
    use jiceng_domain::org::audit::AuditAction;
    let exchange = user.exchange();
    let partner = exchange.partner(&key.county, &key.partner).await?;
    let result = exchange.reconcile(&partner).await?;
    let target = format!("exchange_partner/{}/{}", partner.county, partner.code);
    let xlsx = query.format == "xlsx";
    let action = if xlsx { AuditAction::Export } else { AuditAction::ReadHousehold };
    let detail = format!("reconciliation: {} people", result.rows.len());
    user.audit_read(&state, action, &target, partner.county.as_str(), detail).await?;
    if xlsx {
        let title = format!("{} ↔ {} {} 对账 reconciliation {}", partner.county, partner.code, partner.name, today());
        let rows = result.rows;
        let bytes = tokio::task::spawn_blocking(move || {
            jiceng_files::exchange::reconciliation::reconciliation_xlsx(&title, &rows)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let name = format!("reconciliation-{}-{}.xlsx", partner.county, partner.code);
        return Ok((
            [
                (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            bytes,
        )
            .into_response());
    }
    let lang = user.lang;
    let counts = Difference::ALL
        .iter()
        .map(|d| (lang.label(*d).to_string(), result.rows.iter().filter(|r| r.difference == *d).count()))
        .collect();
    let rows = result
        .rows
        .iter()
        .filter_map(|r| {
            let p = r.person()?;
            let place = |l: &Option<jiceng_domain::exchange::reconciliation::Listed>| {
                l.as_ref().and_then(|l| l.place.clone()).unwrap_or_else(|| "—".into())
            };
            Some(ReconciledRow {
                difference: lang.label(r.difference).to_string(),
                key: r.difference.key(),
                name: p.name.clone(),
                id_number: p.id_number.clone().unwrap_or_default(),
                ours: place(&r.ours),
                theirs: place(&r.theirs),
                registered: r.ours.as_ref().or(r.theirs.as_ref()).and_then(|l| l.resident_id).is_some(),
            })
        })
        .collect();
    let page = ReconciliationPage {
        page: user.chrome("半年对账 Reconciliation"),
        partner: format!("{} {}", partner.code, partner.name),
        county: partner.county.to_string(),
        href: format!("/exchange/partners/{}/{}/reconciliation", partner.county, partner.code),
        roster_received: result.roster_received.map(|t| t.date().to_string()),
        counts,
        rows,
    };
    Ok(render(&page)?.into_response())
}

/// Largest package accepted through the page (a district's half year fits well inside).
pub const UPLOAD_LIMIT: usize = 512 << 20;

/// Imports a package or an acknowledgement uploaded by the district office, like
/// `jiceng exchange import`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upload(State(state): State<AppState>, user: Editor<Feeds>, request: Request) -> AppResult<Response> {
    let mut form = Multipart::from_request(request, &state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let bad = |message: String| AppError::BadRequest(message);
    let dir = private_dir(&state)?;
    let mut saved = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        if field.name() == Some("file") {
            let name = crate::exchange::pages::shown_name(field.file_name().unwrap_or("package.jxp"));
            let path = dir.path().join("package.jxp");
            crate::exchange::pages::save_field(&mut field, &path, UPLOAD_LIMIT).await?;
            saved = Some((name, path));
        }
    }
    let Some((name, path)) = saved else { return Err(bad("请选择文件 / choose a file".into())) };
    let mut options = PackageImportOptions::new(&name, (*state.linkage).clone(), OffsetDateTime::now_utc());
    options.limits = state.read_limits;
    let outcome = user.exchange().import(&path, &options, &|_, _| {}).await?;
    drop(dir);
    let lang = user.lang;
    let (done, problems) = match outcome {
        Ok(r) if r.already_applied => (
            Some(match lang {
                Lang::Zh => format!("{name}：此交换包已导入过，未作任何改动"),
                Lang::En => format!("{name}: this package was applied before; nothing changed"),
            }),
            Vec::new(),
        ),
        Ok(r) if r.kind == PackageKind::Acknowledgement.key() => (
            Some(match lang {
                Lang::Zh => format!("{name}：{} 的回执，送达 {} 条，拒收 {} 条", r.sender, r.delivered, r.refused),
                Lang::En => format!(
                    "{name}: acknowledgement from {}: {} delivered, {} refused",
                    r.sender, r.delivered, r.refused
                ),
            }),
            Vec::new(),
        ),
        Ok(r) => (
            Some(match lang {
                Lang::Zh => format!(
                    "{name}：{} 的第{}号交换包，{} 条记录，新收 {} 条，已收过 {} 条，拒收 {} 条，提交变动 {} 件",
                    r.sender, r.sequence, r.records, r.received, r.already_received, r.refused, r.events
                ),
                Lang::En => format!(
                    "{name}: package #{} from {}, {} records: {} new, {} received before, {} refused, {} changes proposed",
                    r.sequence, r.sender, r.records, r.received, r.already_received, r.refused, r.events
                ),
            }),
            Vec::new(),
        ),
        Err(refusal) => (None, vec![format!("{name}：拒收 refused — {refusal}")]),
    };
    let status =
        if problems.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&exchange_page(&state, &user, done, problems).await?)?).into_response())
}
