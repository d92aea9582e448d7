//! `/imports` (upload, progress, summary, error file) and `/regions/{code}/export`.

use askama::Template;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::exchange::resident_file;
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_store::exchange::{
    FileFormat, ImportOptions, PlaceIndex, ResidentFileWriter, TextEncoding, default_error_file, import_file,
};
use jiceng_store::org::NewAuditEntry;
use serde::Deserialize;
use uuid::Uuid;

use super::{ImportJob, JobState};
use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::{AuditRecord, CurrentUser};
use crate::org::guard::{Edit, Editor, Export, NodeCode, Viewer};
use crate::page::{Chrome, render};

pub struct JobRow {
    pub href: String,
    pub file_name: String,
    pub started: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ImportsPage {
    page: Chrome,
    jobs: Vec<JobRow>,
    error: Option<String>,
}

fn status_text(state: &JobState) -> String {
    match state {
        JobState::Running { rows, fraction } => {
            format!(
                "进行中 {:.0}%，已读 {rows} 行 / running {:.0}%, {rows} rows read",
                fraction * 100.0,
                fraction * 100.0
            )
        }
        JobState::Done(r) => format!(
            "完成：新增 {}，更新 {}，未变 {}，拒绝 {} / done: {} created, {} updated, {} unchanged, {} rejected",
            r.totals.created,
            r.totals.updated,
            r.totals.unchanged,
            r.totals.rejected,
            r.totals.created,
            r.totals.updated,
            r.totals.unchanged,
            r.totals.rejected
        ),
        JobState::Failed(message) => format!("失败 / failed: {message}"),
    }
}

fn imports_page(state: &AppState, user: &CurrentUser, error: Option<String>) -> ImportsPage {
    let jobs = state
        .imports
        .of(&user.user.username)
        .into_iter()
        .map(|j| JobRow {
            href: format!("/imports/{}", j.id),
            file_name: j.file_name,
            started: format!("{:02}:{:02}", j.started_at.hour(), j.started_at.minute()),
            status: status_text(&j.state),
        })
        .collect();
    ImportsPage { page: user.chrome("导入居民 Import residents"), jobs, error }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn imports(State(state): State<AppState>, user: Viewer<Edit>) -> AppResult<Response> {
    Ok(render(&imports_page(&state, &user, None))?.into_response())
}

/// The largest upload accepted (a district's whole register as CSV is about 800 MB;
/// uploads through the browser are for a community's or a street's sheets).
pub const UPLOAD_LIMIT: usize = 256 << 20;

/// The lower-case extension of an uploaded sheet's name, if it is one we read
/// (.csv, .xlsx, .xlsm; an .xls is taken so that the reader can say to save it as .xlsx).
pub(crate) fn sheet_extension(name: &str) -> Option<String> {
    let extension = std::path::Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    ["csv", "xlsx", "xlsm", "xls"].contains(&extension.as_str()).then_some(extension)
}

/// Receives the file, then imports it in the background within the user's scope.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upload(State(state): State<AppState>, user: Editor, mut form: Multipart) -> AppResult<Response> {
    let id = Uuid::now_v7();
    state.imports.expire();
    let (mut encoding, mut saved) = (None, None);
    let bad = |message: String| AppError::BadRequest(message);
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name().unwrap_or("") {
            "encoding" => {
                let text = field.text().await.map_err(|e| bad(e.to_string()))?;
                encoding = TextEncoding::from_name(&text);
            }
            "file" => {
                if let Some((_, first)) = saved.take() {
                    let _ = std::fs::remove_file(first);
                    return Err(bad("一次只能导入一个文件 / one file at a time".into()));
                }
                let name = shown_name(field.file_name().unwrap_or("residents.csv"));
                let Some(extension) = sheet_extension(&name) else {
                    return Ok((
                        StatusCode::BAD_REQUEST,
                        render(&imports_page(
                            &state,
                            &user,
                            Some(format!("“{name}”不是 .csv 或 .xlsx 文件 / '{name}' is not a .csv or .xlsx file")),
                        ))?,
                    )
                        .into_response());
                };
                let path = state.imports.dir.join(format!("{id}.{extension}"));
                let mut file = private_file(&path).await?;
                let gone = |e: String| {
                    let _ = std::fs::remove_file(&path);
                    e
                };
                while let Some(chunk) = field.chunk().await.map_err(|e| bad(gone(e.to_string())))? {
                    tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                        .await
                        .map_err(|e| AppError::Internal(gone(e.to_string())))?;
                }
                // tokio's File writes on a blocking thread: without a flush the last chunk
                // may land after the import has started reading (seen as a missing header).
                tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| AppError::Internal(e.to_string()))?;
                saved = Some((name, path));
            }
            _ => {}
        }
    }
    let Some((file_name, path)) = saved else {
        return Err(bad("请选择要导入的文件 / choose a file to import".into()));
    };
    state.imports.insert(ImportJob {
        id,
        owner: user.user.username.clone(),
        file_name: file_name.clone(),
        started_at: time::OffsetDateTime::now_utc(),
        state: JobState::Running { rows: 0, fraction: 0.0 },
    });
    let options = ImportOptions {
        encoding,
        mapping: Default::default(),
        error_file: Some(default_error_file(&path)),
        recorded_by: user.user.username.clone(),
        today: time::OffsetDateTime::now_utc().date(),
        chunk_rows: 2000,
        limits: state.read_limits,
    };
    let job_state = state.clone();
    tokio::spawn(async move {
        let jobs = &job_state.imports;
        let places = job_state
            .places
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(PlaceIndex::from_reference)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(std::sync::Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await;
        let places = match places {
            Ok(p) => p.clone(),
            Err(e) => return jobs.set_state(id, JobState::Failed(e)),
        };
        let registry = user.registry();
        let result = import_file(registry, &path, &options, &places, |p| {
            jobs.set_state(id, JobState::Running { rows: p.rows, fraction: p.fraction })
        })
        .await;
        // The upload (names, ID numbers, phones) goes as soon as it has been read.
        let _ = std::fs::remove_file(&path);
        match result {
            Ok(report) => {
                let t = report.totals;
                let entry = NewAuditEntry {
                    actor: user.user.username.clone(),
                    action: AuditAction::Write,
                    target: "import/residents".into(),
                    county: String::new(),
                    origin: user.origin.clone(),
                    purpose: Some(AccessPurpose::RecordChange),
                    detail: format!(
                        "file={file_name} read={} created={} updated={} unchanged={} rejected={}",
                        t.read, t.created, t.updated, t.unchanged, t.rejected
                    ),
                };
                if let Err(e) = job_state.store.audit().append(&entry).await {
                    tracing::error!("audit of import {id} failed: {e}");
                }
                jobs.set_state(id, JobState::Done(report));
            }
            Err(e) => {
                // A partial error file (rows rejected before the failure) goes too.
                let _ = std::fs::remove_file(default_error_file(&path));
                jobs.set_state(id, JobState::Failed(failure_text(&e, &path, &file_name, id)))
            }
        }
    });
    Ok(Redirect::to(&format!("/imports/{id}")).into_response())
}

/// An uploaded file's name as it is shown and logged: no control characters or
/// folders, at most 100 characters (the extension kept).
pub(crate) fn shown_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= 100 {
        return clean;
    }
    let extension = std::path::Path::new(&clean).extension().and_then(|e| e.to_str()).unwrap_or("").to_string();
    let stem: String = clean.chars().take(90).collect();
    if extension.is_empty() || extension.len() > 8 { stem } else { format!("{stem}….{extension}") }
}

/// Creates a file only this user can read.
#[tracing::instrument(level = "debug", skip_all)]
/// Reads an uploaded file part of at most `max_bytes` (refused, naming the limit, past
/// it) and writes it to a private file at `path`.
pub(crate) async fn save_field(
    field: &mut axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
    max_bytes: usize,
) -> AppResult<()> {
    let bad = |message: String| AppError::BadRequest(message);
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.to_string()))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > max_bytes {
            let mb = max_bytes >> 20;
            return Err(bad(format!("文件超过{mb} MB / the file is over {mb} MB")));
        }
    }
    let mut file = private_file(path).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await.map_err(|e| AppError::Internal(e.to_string()))?;
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(())
}

pub(crate) async fn private_file(path: &std::path::Path) -> AppResult<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await.map_err(|e| AppError::Internal(e.to_string()))
}

/// What the person sees when an import fails: the file's own name instead of the
/// server's path, and for a failure of jiceng or its database only a reference number
/// (the detail goes to the log under it).
fn failure_text(error: &jiceng_store::StoreError, path: &std::path::Path, file_name: &str, id: Uuid) -> String {
    use jiceng_store::StoreError;
    match error {
        StoreError::File(_) | StoreError::Invalid(_) | StoreError::Retroactive { .. } | StoreError::NotFound { .. } => {
            let dir = path.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
            error.to_string().replace(&*path.to_string_lossy(), file_name).replace(&dir, "")
        }
        other => {
            let reference = crate::error::reference();
            tracing::error!(%reference, import = %id, "import failed: {other}");
            format!(
                "导入中断，请稍后重试或联系管理员（编号 {reference}）/ the import stopped; try again later or tell the administrator (reference {reference})"
            )
        }
    }
}

#[derive(Template)]
#[template(path = "import_job.html")]
struct JobPage {
    page: Chrome,
    file_name: String,
    running: bool,
    percent: u32,
    rows: u64,
    /// (Chinese, English, count) lines of the summary.
    summary: Vec<(&'static str, &'static str, u64)>,
    places: String,
    unknown: Vec<String>,
    error_href: Option<String>,
    failure: Option<String>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn job(State(state): State<AppState>, user: Viewer<Edit>, Path(id): Path<Uuid>) -> AppResult<Response> {
    let job = state.imports.get(id, &user.user.username).ok_or_else(|| AppError::not_found("导入 Import"))?;
    let mut page = JobPage {
        page: user.chrome("导入居民 Import residents"),
        file_name: job.file_name,
        running: false,
        percent: 0,
        rows: 0,
        summary: Vec::new(),
        places: String::new(),
        unknown: Vec::new(),
        error_href: None,
        failure: None,
    };
    match job.state {
        JobState::Running { rows, fraction } => {
            page.running = true;
            page.rows = rows;
            page.percent = (fraction * 100.0).round().clamp(0.0, 100.0) as u32;
        }
        JobState::Done(report) => {
            let t = report.totals;
            page.percent = 100;
            page.rows = t.read;
            page.summary = vec![
                ("读取", "read", t.read),
                ("新增", "created", t.created),
                ("更新", "updated", t.updated),
                ("未变", "unchanged", t.unchanged),
                ("拒绝", "rejected", t.rejected),
            ];
            page.places = format!(
                "新建网格 {}、楼栋 {}、户 {} / created {} grids, {} buildings, {} households",
                t.grids_created,
                t.buildings_created,
                t.households_created,
                t.grids_created,
                t.buildings_created,
                t.households_created
            );
            page.unknown = report.unknown_columns.iter().map(|(n, h)| format!("{n}: {h}")).collect();
            page.error_href = report.error_file.map(|_| format!("/imports/{id}/errors"));
        }
        JobState::Failed(message) => page.failure = Some(message),
    }
    Ok(render(&page)?.into_response())
}

/// The error file of an import, for the user who ran it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn error_file(
    State(state): State<AppState>,
    user: Viewer<Edit>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    state.imports.expire();
    let job = state.imports.get(id, &user.user.username).ok_or_else(|| AppError::not_found("导入 Import"))?;
    let JobState::Done(report) = job.state else { return Err(AppError::not_found("错误文件 Error file")) };
    let path = report.error_file.ok_or_else(|| AppError::not_found("错误文件 Error file"))?;
    let stem = std::path::Path::new(&job.file_name).file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = format!("{}.errors.{}", stem.unwrap_or_else(|| "import".into()), report.format.extension());
    send_file(&path, &name, report.format).await
}

async fn send_file(path: &std::path::Path, name: &str, format: FileFormat) -> AppResult<Response> {
    let file = tokio::fs::File::open(path).await.map_err(|e| AppError::Internal(e.to_string()))?;
    let content_type = match format {
        FileFormat::Csv => "text/csv; charset=utf-8",
        FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let disposition = format!("attachment; filename=\"residents.{}\"; filename*=UTF-8''{encoded}", format.extension());
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(default)]
    encoding: String,
}

/// The current residents of a subtree as a file (audited, within the user's scope).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export(
    State(state): State<AppState>,
    user: Viewer<Export>,
    NodeCode(code): NodeCode,
    Query(query): Query<ExportQuery>,
) -> AppResult<Response> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let format = FileFormat::from_name(&query.format).unwrap_or(FileFormat::Csv);
    let encoding = TextEncoding::from_name(&query.encoding).unwrap_or(TextEncoding::Utf8);
    let path = state.imports.dir.join(format!("export-{}.{}", Uuid::now_v7(), format.extension()));
    let headers: Vec<String> = resident_file::headers().map(String::from).collect();
    let mut writer =
        ResidentFileWriter::create(&path, format, encoding, &headers).map_err(jiceng_store::StoreError::from)?;
    let written = match user.registry().export_residents(&code, &mut writer, |_| {}).await {
        Ok(n) => n,
        Err(e) => {
            drop(writer);
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
    };
    if let Err(e) = writer.finish() {
        let _ = std::fs::remove_file(&path);
        return Err(jiceng_store::StoreError::from(e).into());
    }
    let target = format!("export/{code}");
    let audited = user
        .audit(
            &state,
            AuditRecord {
                action: AuditAction::Export,
                target: &target,
                county: code
                    .at_level(jiceng_domain::org::DivisionLevel::County)
                    .map(String::from)
                    .unwrap_or_default()
                    .as_str(),
                purpose: Some(AccessPurpose::Statistics),
                detail: format!("{written} residents, {}", format.extension()),
            },
        )
        .await;
    if let Err(e) = audited {
        // Not audited, not sent: the file goes.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let response = send_file(&path, &format!("居民-{code}.{}", format.extension()), format).await;
    // The open file keeps streaming after the name is gone (Unix).
    let _ = std::fs::remove_file(&path);
    response
}
