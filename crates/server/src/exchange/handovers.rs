//! 委托交接 Handovers: a community hands a building or a grid to another community of
//! the county (`/handovers/new/buildings/{county}/{id}`, `/handovers/new/grids/…`);
//! `/handovers` shows what is coming in — with the households and people in transit,
//! an audited read — and going out; the receiving side accepts or refuses with a
//! reason, the sending side may withdraw an undecided proposal, and a move that stopped
//! is carried out again.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use jiceng_domain::exchange::handover::{HandoverKind, HandoverState};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel, Permission};
use jiceng_store::exchange::{Batches, Handover, HandoverTarget, NewHandover};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::org::guard::{Edit, Editor, RecordKey, Scoped, Viewer};
use crate::page::{Chrome, render};
use crate::registry::pages::today;

/// A place something can go to: (value, label).
type Choice = (String, String);

#[derive(Template)]
#[template(path = "handover_new.html")]
struct NewPage {
    page: Chrome,
    kind: String,
    kind_label: String,
    county: String,
    subject: Uuid,
    subject_name: String,
    from: String,
    /// Grids (for a building) or communities (for a grid).
    targets: Vec<Choice>,
}

async fn names(state: &AppState, codes: &[DivisionCode]) -> AppResult<std::collections::HashMap<DivisionCode, String>> {
    Ok(state.store.divisions().names(codes).await?)
}

/// The form to hand a building to a grid of another community.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn new_building(
    State(state): State<AppState>,
    user: Viewer<Edit>,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    let building = user.registry().building(&county, id).await?.ok_or_else(|| AppError::not_found("楼栋 Building"))?;
    let grids = user.exchange().handover_grids(&county, &building.community).await?;
    let communities: Vec<DivisionCode> = grids.iter().map(|g| g.community.clone()).collect();
    let named = names(&state, &communities).await?;
    let targets = grids
        .into_iter()
        .map(|g| {
            let place = named.get(&g.community).cloned().unwrap_or_else(|| g.community.to_string());
            (g.id.to_string(), format!("{place} · {}", g.name))
        })
        .collect();
    let page = NewPage {
        page: user.chrome("移交楼栋 Hand over a building"),
        kind: HandoverKind::Building.key().into(),
        kind_label: user.lang.label(HandoverKind::Building).into(),
        county: county.to_string(),
        subject: id,
        subject_name: building.name,
        from: building.community.to_string(),
        targets,
    };
    Ok(render(&page)?.into_response())
}

/// The form to hand a whole grid (a demolished block) to another community.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn new_grid(
    State(state): State<AppState>,
    user: Viewer<Edit>,
    RecordKey { county, id }: RecordKey,
) -> AppResult<Response> {
    let grid = user.registry().grid(&county, id).await?.ok_or_else(|| AppError::not_found("网格 Grid"))?;
    let grids = user.exchange().handover_grids(&county, &grid.community).await?;
    let mut communities: Vec<DivisionCode> = grids.into_iter().map(|g| g.community).collect();
    communities.dedup();
    let named = names(&state, &communities).await?;
    let targets = communities
        .into_iter()
        .map(|c| {
            let label = format!("{} {}", c, named.get(&c).cloned().unwrap_or_default());
            (c.to_string(), label)
        })
        .collect();
    let page = NewPage {
        page: user.chrome("移交网格 Hand over a grid"),
        kind: HandoverKind::Grid.key().into(),
        kind_label: user.lang.label(HandoverKind::Grid).into(),
        county: county.to_string(),
        subject: id,
        subject_name: grid.name,
        from: grid.community.to_string(),
        targets,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct ProposeForm {
    pub kind: String,
    pub county: String,
    pub subject: Uuid,
    pub target: String,
}

/// Proposes a handover (the sending community).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn propose(user: Editor<Edit>, Form(form): Form<ProposeForm>) -> AppResult<Response> {
    let bad = |m: &str| AppError::BadRequest(m.to_string());
    let county = crate::org::guard::parse_county(&form.county)?;
    let kind = HandoverKind::from_key(&form.kind).ok_or_else(|| bad("交接对象无效 / invalid handover kind"))?;
    let target = match kind {
        HandoverKind::Building => HandoverTarget::Grid(
            Uuid::parse_str(form.target.trim()).map_err(|_| bad("请选择接收网格 / choose the receiving grid"))?,
        ),
        HandoverKind::Grid => HandoverTarget::Community(
            DivisionCode::parse(form.target.trim())
                .map_err(|_| bad("请选择接收社区 / choose the receiving community"))?,
        ),
        HandoverKind::Household => return Err(bad("户的交接请用命令行 / hand households over from the command line")),
    };
    let new = NewHandover { county, kind, subject: form.subject, target };
    user.exchange().propose_handover(&new).await?;
    Ok(Redirect::to("/handovers").into_response())
}

/// A handover as listed, with the people in transit for the side that decides.
struct HandoverRow {
    handover: Handover,
    kind: String,
    state: String,
    from: String,
    to: String,
    /// This user's side may decide it (receiving, still proposed).
    may_decide: bool,
    /// This user's side may withdraw it (sending, still proposed).
    may_withdraw: bool,
    /// Stopped while moving: carry it out again.
    may_resume: bool,
    /// Households in transit: (household number, room, members' names).
    households: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "handovers.html")]
struct ListPage {
    page: Chrome,
    rows: Vec<HandoverRow>,
}

async fn list_page(state: &AppState, user: &Scoped) -> AppResult<ListPage> {
    let lang = user.lang;
    let exchange = user.exchange();
    let mut handovers = Vec::new();
    for node in user.scope.nodes() {
        // Handovers stay inside a county: listed under a county or a division of one.
        if node.at_level(DivisionLevel::County).is_none() {
            continue;
        }
        for h in exchange.handovers(node, 200).await? {
            if !handovers.iter().any(|x: &Handover| x.id == h.id) {
                handovers.push(h);
            }
        }
    }
    let communities: Vec<DivisionCode> =
        handovers.iter().flat_map(|h| [h.from_community.clone(), h.to_community.clone()]).collect();
    let named = names(state, &communities).await?;
    let name = |c: &DivisionCode| format!("{} {}", c, named.get(c).cloned().unwrap_or_default());
    let mut rows = Vec::new();
    for h in handovers {
        let receiving = user.scope.allows(Permission::EditRegistry, &h.to_community);
        let sending = user.scope.allows(Permission::EditRegistry, &h.from_community);
        let mut households = Vec::new();
        if h.state.holds() && receiving {
            let transit = exchange.in_transit(&h).await?;
            let people: usize = transit.iter().map(|t| t.members.len()).sum();
            user.audit_read(
                state,
                AuditAction::ReadHousehold,
                &format!("handover/{}/{}", h.county, h.id),
                h.county.as_str(),
                format!("{} households, {people} people in transit", transit.len()),
            )
            .await?;
            for t in transit {
                let members: Vec<&str> = t.members.iter().map(|m| m.facts.name.as_str()).collect();
                let room = format!(
                    "{}-{}-{}",
                    t.household.location.unit_no, t.household.location.floor_no, t.household.location.room_no
                );
                households.push((t.household.household_no.clone(), room, members.join("、")));
            }
        }
        rows.push(HandoverRow {
            kind: lang.label(h.kind).to_string(),
            state: lang.label(h.state).to_string(),
            from: name(&h.from_community),
            to: name(&h.to_community),
            may_decide: receiving && h.state == HandoverState::Proposed,
            may_withdraw: sending && h.state == HandoverState::Proposed,
            may_resume: (receiving || sending) && h.state == HandoverState::Moving,
            households,
            handover: h,
        });
    }
    Ok(ListPage { page: user.chrome("委托交接 Handovers"), rows })
}

/// `/handovers`: coming in and going out.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(State(state): State<AppState>, user: Viewer<Edit>) -> AppResult<Response> {
    Ok(render(&list_page(&state, &user).await?)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    /// `accept` or `refuse`.
    pub decision: String,
    #[serde(default)]
    pub reason: String,
}

/// The receiving side's decision: accepted handovers move at once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(
    user: Editor<Edit>,
    RecordKey { county, id }: RecordKey,
    Form(form): Form<DecisionForm>,
) -> AppResult<Response> {
    let accept = match form.decision.as_str() {
        "accept" => true,
        "refuse" => false,
        _ => return Err(AppError::BadRequest("请选择接收或拒绝 / accept or refuse".into())),
    };
    let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
    user.exchange().decide_handover(&county, id, accept, reason, today(), Batches::default()).await?;
    Ok(Redirect::to("/handovers").into_response())
}

/// The sending side withdraws an undecided proposal.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn withdraw(user: Editor<Edit>, RecordKey { county, id }: RecordKey) -> AppResult<Response> {
    user.exchange().withdraw_handover(&county, id).await?;
    Ok(Redirect::to("/handovers").into_response())
}

/// Carries out a move that stopped (a restart in the middle of it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resume(user: Editor<Edit>, RecordKey { county, id }: RecordKey) -> AppResult<Response> {
    user.exchange().carry_out(&county, id, today(), Batches::default()).await?;
    Ok(Redirect::to("/handovers").into_response())
}
