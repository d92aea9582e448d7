//! 房东与用工单位 Landlords and employers: `/parties/{code}` lists a community's (or a
//! street's) and registers new ones; `/parties/{county}/{id}` shows a party's units and
//! reported lines, adds units, and takes a line from a form or a sheet. Every line goes
//! to the community's review queue as a change event (ADR 009).

use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::fieldwork::RowProblem;
use jiceng_domain::fieldwork::{Movement, PartyField, PartyKind, PartyLine, read_line};
use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::Phone;
use jiceng_files::fieldwork::read_party_file;
use jiceng_store::fieldwork::{NewParty, Party, PartySubmission};
use jiceng_store::reporting::Actor;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::auth::{AuditRecord, CurrentUser};
use crate::org::guard::{Editor, NodeCode, RecordKey, Scoped, Viewer};
use crate::page::{Chrome, Lang, render};
use crate::registry::pages::today;

#[derive(Template)]
#[template(path = "parties.html")]
struct PartiesPage {
    page: Chrome,
    code: String,
    name: String,
    is_community: bool,
    parties: Vec<Party>,
    kinds: Vec<(String, String)>,
    error: Option<String>,
}

impl PartiesPage {
    fn kind_label(&self, p: &Party) -> &'static str {
        self.page.lang.label(p.kind)
    }
}

async fn parties_page(
    state: &AppState,
    user: &Scoped,
    code: &DivisionCode,
    error: Option<String>,
) -> AppResult<PartiesPage> {
    if !user.scope.covers(code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let parties = user.fieldwork().parties_under(code).await?;
    if !parties.is_empty() {
        // Landlords' and employers' names and phones.
        let county = code.at_level(DivisionLevel::County).map(String::from).unwrap_or_default();
        let (target, detail) = (format!("parties/{code}"), format!("{} parties listed", parties.len()));
        user.audit_read(state, AuditAction::ReadHousehold, &target, &county, detail).await?;
    }
    let name = state.store.divisions().get(code).await?.map(|d| d.name).unwrap_or_default();
    let lang = user.lang;
    Ok(PartiesPage {
        page: user.chrome(&format!("{name} 房东与用工单位 Landlords and employers")),
        code: code.to_string(),
        name,
        is_community: code.level() == DivisionLevel::Village,
        parties,
        kinds: PartyKind::ALL.iter().map(|k| (k.key().to_string(), lang.label(*k).to_string())).collect(),
        error,
    })
}

/// `/parties/{code}`: the landlords and employers of a community or street.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn parties(State(state): State<AppState>, user: Viewer, NodeCode(code): NodeCode) -> AppResult<Response> {
    Ok(render(&parties_page(&state, &user, &code, None).await?)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct PartyForm {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub contact: String,
    pub phone: String,
}

/// Registers a landlord or employer in the community.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register(
    State(state): State<AppState>,
    user: Editor,
    NodeCode(code): NodeCode,
    Form(form): Form<PartyForm>,
) -> AppResult<Response> {
    if !user.scope.covers(&code) {
        return Err(AppError::not_found("区划 Division"));
    }
    let county = code
        .at_level(DivisionLevel::County)
        .ok_or_else(|| AppError::BadRequest("请在社区页面登记 / register in a community".into()))?;
    let problem = match (PartyKind::from_key(&form.kind), Phone::parse(&form.phone)) {
        (None, _) => Some("类型无效 / invalid kind".to_string()),
        (_, Err(e)) => Some(format!("联系电话 phone: {e}")),
        (Some(kind), Ok(phone)) => {
            let party = NewParty {
                county: county.clone(),
                community: code.clone(),
                kind,
                name: form.name.clone(),
                contact: form.contact.clone(),
                phone,
            };
            match user.fieldwork().register_party(&party).await {
                Ok(id) => {
                    return Ok(Redirect::to(&format!("/parties/{county}/{id}")).into_response());
                }
                Err(jiceng_store::StoreError::Invalid(m)) => Some(m),
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok((StatusCode::BAD_REQUEST, render(&parties_page(&state, &user, &code, problem).await?)?).into_response())
}

#[derive(Template)]
#[template(path = "party.html")]
struct PartyPage {
    page: Chrome,
    party: Party,
    kind: String,
    units: Vec<jiceng_store::fieldwork::PartyUnit>,
    lines: Vec<LineRow>,
    movements: Vec<(String, String)>,
    /// What the last submission did, or why it was refused.
    done: Option<String>,
    problems: Vec<String>,
}

/// A reported line as listed.
struct LineRow {
    movement: String,
    name: String,
    id_masked: String,
    date: String,
    state: String,
    event_href: Option<String>,
    source: String,
}

async fn party_page(
    state: &AppState,
    user: &Scoped,
    county: &DivisionCode,
    id: Uuid,
    done: Option<String>,
    problems: Vec<String>,
) -> AppResult<PartyPage> {
    let fieldwork = user.fieldwork();
    let party = user.party(county, id).await?;
    let units = fieldwork.party_units(county, id).await?;
    let lang = user.lang;
    let mut lines = Vec::new();
    for l in fieldwork.party_lines(county, id).await? {
        let masked =
            jiceng_domain::registry::IdNumber::parse(&l.id_number).map(|n| n.masked()).unwrap_or_else(|_| "—".into());
        lines.push(LineRow {
            movement: lang.label(l.movement).to_string(),
            name: l.name,
            id_masked: masked,
            date: l.occurred_on.to_string(),
            state: match l.state {
                Some(s) => lang.label(s).to_string(),
                None => lang.pick("已登记，无需变更", "already recorded").to_string(),
            },
            event_href: l.event_id.map(|e| format!("/events/{county}/{e}")),
            source: format!("{} #{}", l.source, l.source_row),
        });
    }
    // The party's own name and phone are personal data too: audited with or without lines.
    user.audit(
        state,
        AuditRecord {
            action: AuditAction::ReadHousehold,
            target: &format!("party/{county}/{id}"),
            county: county.as_str(),
            purpose: Some(AccessPurpose::Verification),
            detail: format!("party and {} reported lines listed", lines.len()),
        },
    )
    .await?;
    Ok(PartyPage {
        page: user.chrome(&format!("{} 房东与用工单位 Landlord or employer", party.name)),
        kind: lang.label(party.kind).to_string(),
        party,
        units,
        lines,
        movements: Movement::ALL.iter().map(|m| (m.key().to_string(), lang.label(*m).to_string())).collect(),
        done,
        problems,
    })
}

/// `/parties/{county}/{id}`: a party's units and reported lines.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn party(
    State(state): State<AppState>,
    user: Viewer,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    Ok(render(&party_page(&state, &user, &county, id, None, Vec::new()).await?)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct UnitForm {
    pub household_no: String,
}

/// Adds a unit (by the household's 户编号) to a party.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_unit(
    State(state): State<AppState>,
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<UnitForm>,
) -> AppResult<Response> {
    let fieldwork = user.fieldwork();
    user.party(&county, id).await?;
    match fieldwork.add_party_unit(&county, id, &form.household_no).await {
        Ok(_) => Ok(Redirect::to(&format!("/parties/{county}/{id}")).into_response()),
        Err(jiceng_store::StoreError::Invalid(m)) => {
            Ok((StatusCode::BAD_REQUEST, render(&party_page(&state, &user, &county, id, None, vec![m]).await?)?)
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct LineForm {
    pub movement: String,
    pub name: String,
    pub id_number: String,
    #[serde(default)]
    pub phone: String,
    pub date: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub ethnicity: String,
}

fn actor(user: &CurrentUser) -> Actor<'_> {
    Actor { username: &user.user.username, role: user.user.role }
}

fn summary(lang: Lang, done: &PartySubmission) -> String {
    match lang {
        Lang::Zh => format!(
            "已提交社区审核 {} 条；重复报告 {} 条未再提交；已登记无需变更 {} 条",
            done.proposed.len(),
            done.repeated.len(),
            done.already_recorded.len()
        ),
        Lang::En => format!(
            "{} sent for community review; {} reported before, not sent again; {} already recorded",
            done.proposed.len(),
            done.repeated.len(),
            done.already_recorded.len()
        ),
    }
}

/// Submits the lines and shows the party page with what happened (or every problem).
async fn submit(
    state: &AppState,
    user: &Scoped,
    county: &DivisionCode,
    id: Uuid,
    lines: Vec<(u64, PartyLine)>,
    mut problems: Vec<RowProblem>,
    source: &str,
) -> AppResult<Response> {
    if problems.is_empty() {
        let fieldwork = user.fieldwork();
        match fieldwork.submit_party_lines(county, id, &lines, source, actor(user), today()).await? {
            Ok(done) => {
                let page = party_page(state, user, county, id, Some(summary(user.lang, &done)), Vec::new()).await?;
                return Ok(render(&page)?.into_response());
            }
            Err(found) => problems = found,
        }
    }
    let mut shown: Vec<String> = problems.iter().map(|p| format!("{source} {p}")).collect();
    shown.insert(
        0,
        user.lang.pick("报告未提交，请改正后重新提交：", "Nothing was submitted; correct these and send again:").into(),
    );
    Ok((StatusCode::BAD_REQUEST, render(&party_page(state, user, county, id, None, shown).await?)?).into_response())
}

/// One line from the form.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_line(
    State(state): State<AppState>,
    user: Editor,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<LineForm>,
) -> AppResult<Response> {
    user.party(&county, id).await?;
    // The form sends the movement's key, which the reader takes like the words.
    let fields = [
        (PartyField::Movement, form.movement.as_str()),
        (PartyField::Name, form.name.as_str()),
        (PartyField::IdNumber, form.id_number.as_str()),
        (PartyField::Phone, form.phone.as_str()),
        (PartyField::Date, form.date.as_str()),
        (PartyField::Unit, form.unit.as_str()),
        (PartyField::Ethnicity, form.ethnicity.as_str()),
    ];
    let (lines, problems) = match read_line(&fields, today()) {
        Ok(line) => (vec![(1, line)], Vec::new()),
        Err(found) => (
            Vec::new(),
            found.into_iter().map(|p| RowProblem { row: 1, field: Some(p.field), message: p.message }).collect(),
        ),
    };
    submit(&state, &user, &county, id, lines, problems, "表单 form").await
}

/// The extension of an accepted sheet name (checked by `sheet_extension` first).
fn extension_of(name: &str) -> String {
    crate::exchange::pages::sheet_extension(name).unwrap_or_else(|| "csv".into())
}

/// A sheet (CSV or xlsx) of lines. The party and scope are checked before the body is read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upload(
    State(state): State<AppState>,
    user: Editor,
    RecordKey { county, id }: RecordKey,
    request: Request,
) -> AppResult<Response> {
    user.party(&county, id).await?;
    let mut form = Multipart::from_request(request, &state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let bad = |message: String| AppError::BadRequest(message);
    // A private folder of its own inside the uploads folder (0700), gone with the request.
    let dir = tempfile::Builder::new()
        .prefix("party-")
        .tempdir_in(&state.imports.dir)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut saved = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        if field.name().unwrap_or("") == "file" {
            let name = crate::exchange::pages::shown_name(field.file_name().unwrap_or("report.csv"));
            if crate::exchange::pages::sheet_extension(&name).is_none() {
                return Err(bad(format!("“{name}”不是 .csv 或 .xlsx 文件 / '{name}' is not a .csv or .xlsx file")));
            }
            let path = dir.path().join(format!("sheet.{}", extension_of(&name)));
            crate::exchange::pages::save_field(&mut field, &path, 10 << 20).await?;
            saved = Some((name, path));
        }
    }
    let Some((name, path)) = saved else { return Err(bad("请选择文件 / choose a file".into())) };
    // Errors name the file as people called it, never the server's path.
    let (limits, shown) = (state.read_limits, name.clone());
    let read = tokio::task::spawn_blocking(move || {
        read_party_file(&path, today(), limits).map_err(|e| e.to_string().replace(&*path.to_string_lossy(), &shown))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    drop(dir);
    let rows = read.map_err(bad)?;
    let (mut lines, mut problems) = (Vec::new(), Vec::new());
    for (row, line) in rows {
        match line {
            Ok(line) => lines.push((row, line)),
            Err(found) => problems.extend(found),
        }
    }
    if lines.is_empty() && problems.is_empty() {
        return Err(bad(format!("{name}: 没有数据行 / no data rows")));
    }
    submit(&state, &user, &county, id, lines, problems, &name).await
}
