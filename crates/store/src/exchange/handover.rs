//! 委托交接 inside this database: the sending community proposes a household, a
//! building or a grid for another community of the county; what it proposes is held
//! (visible to both sides, changed by neither: [`refuse_held`] runs in every unit of
//! work); the receiving community accepts — then the households move in chunks, each
//! chunk one unit of work that moves its report cells, floor counters and follow-up
//! rows with it, so an interrupted move resumes where it stopped — or refuses, with a
//! reason. The audit names who handed what to whom.

use std::collections::BTreeMap;

use jiceng_domain::exchange::handover::{HandoverKind, HandoverState};
use jiceng_domain::org::audit::AuditAction;
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::HouseholdLocation;
use jiceng_domain::reporting::TouchedPlaces;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::partners::{Exchange, invalid};
use crate::error::{StoreError, StoreResult, decode_opt};
use crate::registry::rows::household_row;
use crate::registry::{HouseholdVersion, ResidentVersion, household_select, members, relocate_household};
use crate::write::UnitOfWork;

/// Where a handover takes what it hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverTarget {
    /// A grid goes, whole, to a community.
    Community(DivisionCode),
    /// A building goes into a grid of the receiving community.
    Grid(Uuid),
    /// A household goes to a dwelling in the receiving community.
    Dwelling(HouseholdLocation),
}

/// A handover to propose.
#[derive(Debug, Clone)]
pub struct NewHandover {
    pub county: DivisionCode,
    pub kind: HandoverKind,
    pub subject: Uuid,
    pub target: HandoverTarget,
}

/// A handover as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub county: DivisionCode,
    pub id: Uuid,
    pub kind: HandoverKind,
    pub subject_id: Uuid,
    /// The household's number, the building's or the grid's name.
    pub subject_name: String,
    pub from_community: DivisionCode,
    pub to_community: DivisionCode,
    pub to_grid: Option<Uuid>,
    pub to_building: Option<Uuid>,
    pub to_unit: Option<i16>,
    pub to_floor: Option<i16>,
    pub to_room: Option<String>,
    pub state: HandoverState,
    pub households: u64,
    pub moved: u64,
    pub proposed_by: String,
    pub proposed_at: OffsetDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    pub completed_at: Option<OffsetDateTime>,
}

/// How a handover's households move: `size` per transaction, and at most `at_most`
/// transactions in this run (`None`: all; the rest moves when it is carried out again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batches {
    pub size: usize,
    pub at_most: Option<usize>,
}

impl Default for Batches {
    fn default() -> Batches {
        Batches { size: 200, at_most: None }
    }
}

/// A household in transit with its members (what the receiving side may see before
/// it decides).
#[derive(Debug, Clone)]
pub struct InTransit {
    pub household: HouseholdVersion,
    pub members: Vec<ResidentVersion>,
}

const COLUMNS: [&str; 21] = [
    "county_code",
    "id",
    "kind",
    "subject_id",
    "subject_name",
    "from_community",
    "to_community",
    "to_grid",
    "to_building",
    "to_unit",
    "to_floor",
    "to_room",
    "state",
    "households",
    "moved",
    "proposed_by",
    "proposed_at",
    "decided_by",
    "decided_at",
    "reason",
    "completed_at",
];

fn handover_row(r: &sea_orm::QueryResult) -> StoreResult<Handover> {
    const T: &str = "handover";
    let code = |column: &'static str| -> StoreResult<DivisionCode> {
        let text: String = r.try_get("", column)?;
        decode_opt(T, column, &text, |c| DivisionCode::parse(c).ok())
    };
    let kind: String = r.try_get("", "kind")?;
    let state: String = r.try_get("", "state")?;
    let households: i64 = r.try_get("", "households")?;
    let moved: i64 = r.try_get("", "moved")?;
    Ok(Handover {
        county: code("county_code")?,
        id: r.try_get("", "id")?,
        kind: decode_opt(T, "kind", &kind, HandoverKind::from_key)?,
        subject_id: r.try_get("", "subject_id")?,
        subject_name: r.try_get("", "subject_name")?,
        from_community: code("from_community")?,
        to_community: code("to_community")?,
        to_grid: r.try_get("", "to_grid")?,
        to_building: r.try_get("", "to_building")?,
        to_unit: r.try_get("", "to_unit")?,
        to_floor: r.try_get("", "to_floor")?,
        to_room: r.try_get("", "to_room")?,
        state: decode_opt(T, "state", &state, HandoverState::from_key)?,
        households: households as u64,
        moved: moved as u64,
        proposed_by: r.try_get("", "proposed_by")?,
        proposed_at: r.try_get("", "proposed_at")?,
        decided_by: r.try_get("", "decided_by")?,
        decided_at: r.try_get("", "decided_at")?,
        reason: r.try_get("", "reason")?,
        completed_at: r.try_get("", "completed_at")?,
    })
}

/// Refuses a write that touches a household or building held by a handover other than
/// `handover` (the one the write carries out, if any).
pub(crate) async fn refuse_held(
    txn: &DatabaseTransaction,
    places: &TouchedPlaces,
    handover: Option<Uuid>,
) -> StoreResult<()> {
    let mut by_county: BTreeMap<&DivisionCode, Vec<Uuid>> = BTreeMap::new();
    for (county, household) in &places.households {
        by_county.entry(county).or_default().push(*household);
    }
    for (county, building, _) in &places.floors {
        by_county.entry(county).or_default().push(*building);
    }
    for (county, ids) in by_county {
        for chunk in ids.chunks(500) {
            let mut q = Query::select();
            q.column("handover_id")
                .from("handover_hold")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("subject_id").is_in(chunk.iter().copied()))
                .limit(1);
            if let Some(own) = handover {
                q.and_where(Expr::col("handover_id").ne(own));
            }
            if txn.query_one(&q).await?.is_some() {
                return Err(invalid(
                    "此户或楼栋正在交接中，交接完成或被拒绝前双方均不能修改",
                    "this household or building is in transit in a handover: neither side may change it until the handover is completed or refused",
                ));
            }
        }
    }
    Ok(())
}

impl Exchange<'_> {
    /// Proposes a handover from the subject's community (in the caller's scope) to a
    /// community of the same county, and holds what it hands over.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn propose_handover(&self, new: &NewHandover) -> StoreResult<Handover> {
        let county = &new.county;
        // What is handed over is looked up in the caller's scope (outside it: not found,
        // exactly like unknown); where it goes, anywhere in the county.
        let own = crate::registry::Registry { access: self.access };
        let registry = self.store.registry();
        let work = UnitOfWork::begin(self.store).await?;
        // What is handed over, where it is, and the households it holds.
        let (subject_name, from, to_community, mut households, buildings) = match (new.kind, &new.target) {
            (HandoverKind::Household, HandoverTarget::Dwelling(location)) => {
                let current = crate::registry::current_household(&work.txn, county, new.subject).await?;
                if self.require_scope(&current.location.community, "").is_err() {
                    return Err(StoreError::NotFound { what: "户 / household".into() });
                }
                let building = registry
                    .building(county, location.building_id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { what: "楼栋 / building".into() })?;
                if building.grid_id != location.grid_id || building.community != location.community {
                    return Err(invalid(
                        "楼栋不属于所选网格或社区",
                        "the building is not in the chosen grid or community",
                    ));
                }
                (
                    current.household_no.clone(),
                    current.location.community.clone(),
                    location.community.clone(),
                    vec![current.household_id],
                    Vec::new(),
                )
            }
            (HandoverKind::Building, HandoverTarget::Grid(grid)) => {
                let building = own
                    .building(county, new.subject)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { what: "楼栋 / building".into() })?;
                let target = registry
                    .grid(county, *grid)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { what: "网格 / grid".into() })?;
                (building.name.clone(), building.community.clone(), target.community, Vec::new(), vec![building.id])
            }
            (HandoverKind::Grid, HandoverTarget::Community(community)) => {
                let grid = own
                    .grid(county, new.subject)
                    .await?
                    .ok_or_else(|| StoreError::NotFound { what: "网格 / grid".into() })?;
                let buildings = registry.buildings_in_community(&grid.community).await?;
                let ids = buildings.iter().filter(|b| b.grid_id == grid.id).map(|b| b.id).collect();
                (grid.name.clone(), grid.community.clone(), community.clone(), Vec::new(), ids)
            }
            _ => return Err(invalid("交接对象与去向不相符", "what is handed over does not match where it goes")),
        };
        self.require_scope(&from, "交接对象 / what is handed over")?;
        if to_community.level() != DivisionLevel::Village
            || to_community.at_level(DivisionLevel::County).as_ref() != Some(county)
        {
            return Err(invalid(
                "接收方须为本区县的社区；交给其他区县请用交换包",
                "the receiving side is a community of this county; to another county, send an exchange package",
            ));
        }
        if to_community == from {
            return Err(invalid("接收方与移交方相同", "the receiving side is the sending side"));
        }
        // The households now in the buildings handed over.
        for chunk in buildings.chunks(200) {
            let mut q = household_select();
            q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
                .and_where(Expr::col(("v", "building_id")).is_in(chunk.iter().copied()))
                .and_where(Expr::col(("v", "valid_to")).is_null());
            for r in work.txn.query_all(&q).await? {
                households.push(household_row(&r)?.household_id);
            }
        }
        let subjects: Vec<(HandoverKind, Uuid)> = households
            .iter()
            .map(|h| (HandoverKind::Household, *h))
            .chain(buildings.iter().map(|b| (HandoverKind::Building, *b)))
            .collect();
        for chunk in subjects.chunks(500) {
            let mut q = Query::select();
            q.column("handover_id")
                .from("handover_hold")
                .and_where(Expr::col("county_code").eq(county.as_str()))
                .and_where(Expr::col("subject_id").is_in(chunk.iter().map(|(_, id)| *id)))
                .limit(1);
            if work.txn.query_one(&q).await?.is_some() {
                return Err(invalid("其中有户或楼栋已在另一交接中", "some of it is already in another handover"));
            }
        }
        let id = Uuid::now_v7();
        let (to_grid, to_building, unit, floor, room) = match &new.target {
            HandoverTarget::Dwelling(l) => {
                (Some(l.grid_id), Some(l.building_id), Some(l.unit_no), Some(l.floor_no), Some(l.room_no.clone()))
            }
            HandoverTarget::Grid(g) => (Some(*g), None, None, None, None),
            HandoverTarget::Community(_) => (None, None, None, None, None),
        };
        work.txn
            .execute(Query::insert().into_table("handover").columns(COLUMNS).values_panic([
                county.as_str().into(),
                id.into(),
                new.kind.key().into(),
                new.subject.into(),
                subject_name.into(),
                from.as_str().into(),
                to_community.as_str().into(),
                to_grid.into(),
                to_building.into(),
                unit.into(),
                floor.into(),
                room.into(),
                HandoverState::Proposed.key().into(),
                (households.len() as i64).into(),
                0i64.into(),
                self.caller.username.to_string().into(),
                OffsetDateTime::now_utc().into(),
                None::<String>.into(),
                None::<OffsetDateTime>.into(),
                None::<String>.into(),
                None::<OffsetDateTime>.into(),
            ]))
            .await?;
        for chunk in subjects.chunks(200) {
            let mut insert = Query::insert();
            insert.into_table("handover_hold").columns(["county_code", "kind", "subject_id", "handover_id"]);
            for (kind, subject) in chunk {
                insert.values_panic([county.as_str().into(), kind.key().into(), (*subject).into(), id.into()]);
            }
            work.txn.execute(&insert).await?;
        }
        let entry = self.change_entry(
            format!("handover/{county}/{id}"),
            county,
            format!(
                "propose handover of {} {} ({} households) from {from} to {to_community}",
                new.kind.key(),
                new.subject,
                households.len()
            ),
        );
        work.commit(entry).await?;
        self.handover(county, id).await
    }

    /// The grids of `county` outside `community` a building of it may go to, by
    /// community and number (grid names only: nothing personal).
    pub async fn handover_grids(
        &self,
        county: &DivisionCode,
        community: &DivisionCode,
    ) -> StoreResult<Vec<crate::registry::Grid>> {
        let mut q = Query::select();
        q.columns(crate::registry::structure::GRID_COLUMNS)
            .from("grid")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("community_code").ne(community.as_str()))
            .order_by("community_code", Order::Asc)
            .order_by("number", Order::Asc);
        crate::read_rows(&self.store.db, &q, crate::registry::structure::grid_row).await
    }

    /// A handover either side of which is in the caller's scope (otherwise: not found).
    pub async fn handover(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Handover> {
        let mut q = Query::select();
        q.columns(COLUMNS)
            .from("handover")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(id));
        let found = self.store.db.query_one(&q).await?.as_ref().map(handover_row).transpose()?;
        found.filter(|h| self.sees(h)).ok_or_else(|| StoreError::NotFound { what: "交接 / handover".into() })
    }

    fn sees(&self, h: &Handover) -> bool {
        self.require_scope(&h.from_community, "").is_ok() || self.require_scope(&h.to_community, "").is_ok()
    }

    /// Handovers from or to communities under `node` in scope, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn handovers(&self, node: &DivisionCode, limit: u64) -> StoreResult<Vec<Handover>> {
        let county = node
            .at_level(DivisionLevel::County)
            .ok_or_else(|| invalid("请选择区县或其下的区划", "choose a county or a division within one"))?;
        let mut q = Query::select();
        q.columns(COLUMNS)
            .from("handover")
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .cond_where(
                sea_orm::sea_query::Cond::any()
                    .add(Expr::col("from_community").like(format!("{node}%")))
                    .add(Expr::col("to_community").like(format!("{node}%"))),
            )
            .order_by("proposed_at", Order::Desc)
            .limit(limit);
        let rows = self.store.db.query_all(&q).await?;
        let mut out = Vec::new();
        for r in &rows {
            let h = handover_row(r)?;
            if self.sees(&h) {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// The households a handover holds (or held), with their members: for either side.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn in_transit(&self, handover: &Handover) -> StoreResult<Vec<InTransit>> {
        if !self.sees(handover) {
            return Err(StoreError::NotFound { what: "交接 / handover".into() });
        }
        let county = &handover.county;
        let mut q = household_select();
        q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
            .and_where(Expr::col(("v", "valid_to")).is_null());
        match handover.kind {
            HandoverKind::Household => q.and_where(Expr::col(("v", "household_id")).eq(handover.subject_id)),
            HandoverKind::Building => q.and_where(Expr::col(("v", "building_id")).eq(handover.subject_id)),
            HandoverKind::Grid => q.and_where(Expr::col(("v", "grid_id")).eq(handover.subject_id)),
        };
        q.order_by(("v", "unit_no"), Order::Asc)
            .order_by(("v", "floor_no"), Order::Asc)
            .order_by(("v", "room_no"), Order::Asc);
        let mut out = Vec::new();
        for r in self.store.db.query_all(&q).await? {
            let household = household_row(&r)?;
            let members = members(&self.store.db, county, household.household_id).await?;
            out.push(InTransit { household, members });
        }
        Ok(out)
    }

    /// The sending side withdraws a proposal not yet decided.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn withdraw_handover(&self, county: &DivisionCode, id: Uuid) -> StoreResult<Handover> {
        let h = self.handover(county, id).await?;
        self.require_scope(&h.from_community, "交接 / handover")?;
        let state = h.state.withdraw().map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.close(&h, state, None, "withdrawn").await
    }

    /// The receiving side (its community in the caller's scope) accepts — and the
    /// households move — or refuses with a reason.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn decide_handover(
        &self,
        county: &DivisionCode,
        id: Uuid,
        accept: bool,
        reason: Option<&str>,
        today: Date,
        batches: Batches,
    ) -> StoreResult<Handover> {
        let h = self.handover(county, id).await?;
        self.require_scope(&h.to_community, "交接 / handover")?;
        let state = h.state.decide(accept, reason).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if state == HandoverState::Refused {
            return self.close(&h, state, reason.map(str::trim), "refused").await;
        }
        let work = UnitOfWork::begin(self.store).await?;
        let changed = work
            .txn
            .execute(
                Query::update()
                    .table("handover")
                    .value("state", state.key())
                    .value("decided_by", self.caller.username.to_string())
                    .value("decided_at", OffsetDateTime::now_utc())
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("id").eq(id))
                    .and_where(Expr::col("state").eq(HandoverState::Proposed.key())),
            )
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(invalid("交接已由他人决定或撤回", "the handover was decided or withdrawn meanwhile"));
        }
        let entry = self.change_entry(
            format!("handover/{county}/{id}"),
            county,
            format!("accepted by {} for {}", self.caller.username, h.to_community),
        );
        work.commit(entry).await?;
        self.carry_out(county, id, today, batches).await
    }

    /// Moves what an accepted handover holds, `chunk` households per transaction, from
    /// wherever an earlier (interrupted) run stopped; then releases the holds.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn carry_out(
        &self,
        county: &DivisionCode,
        id: Uuid,
        today: Date,
        batches: Batches,
    ) -> StoreResult<Handover> {
        let h = self.handover(county, id).await?;
        if h.state != HandoverState::Moving {
            return Ok(h);
        }
        let actor = h.decided_by.clone().unwrap_or_else(|| self.caller.username.to_string());
        // Where it goes must still be in the receiving community (a grid or building can
        // itself have been handed on since the proposal).
        let registry = self.store.registry();
        let target_moved = || {
            invalid(
                "接收的网格或楼栋已不在接收社区",
                "the receiving grid or building is no longer in the receiving community",
            )
        };
        match h.kind {
            HandoverKind::Building => {
                let grid = registry.grid(county, h.to_grid.unwrap_or_default()).await?.ok_or_else(target_moved)?;
                if grid.community != h.to_community {
                    return Err(target_moved());
                }
            }
            HandoverKind::Household => {
                let building =
                    registry.building(county, h.to_building.unwrap_or_default()).await?.ok_or_else(target_moved)?;
                if Some(building.grid_id) != h.to_grid || building.community != h.to_community {
                    return Err(target_moved());
                }
            }
            HandoverKind::Grid => {}
        }
        // The structure first: the building into its new grid, or the grid (and its
        // buildings) into the new community. Done again on a resumed run, it changes nothing.
        let mut work = UnitOfWork::begin(self.store).await?;
        work.handover = Some(id);
        match h.kind {
            HandoverKind::Building => {
                let grid = h.to_grid.ok_or_else(|| StoreError::Internal("handover without grid".into()))?;
                work.txn
                    .execute(
                        Query::update()
                            .table("building")
                            .value("grid_id", grid)
                            .value("community_code", h.to_community.as_str())
                            .and_where(Expr::col("county_code").eq(county.as_str()))
                            .and_where(Expr::col("id").eq(h.subject_id)),
                    )
                    .await?;
            }
            HandoverKind::Grid => {
                for table in ["grid", "building"] {
                    let key = if table == "grid" { "id" } else { "grid_id" };
                    work.txn
                        .execute(
                            Query::update()
                                .table(table)
                                .value("community_code", h.to_community.as_str())
                                .and_where(Expr::col("county_code").eq(county.as_str()))
                                .and_where(Expr::col(key).eq(h.subject_id)),
                        )
                        .await?;
                }
            }
            HandoverKind::Household => {}
        }
        let entry = self.change_entry(format!("handover/{county}/{id}"), county, format!("move {}", h.kind.key()));
        work.commit(entry).await?;
        let mut done = 0usize;
        loop {
            if batches.at_most.is_some_and(|n| done >= n) {
                return self.handover(county, id).await;
            }
            done += 1;
            let mut work = UnitOfWork::begin(self.store).await?;
            work.handover = Some(id);
            let mut q = household_select();
            q.and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
                .and_where(Expr::col(("v", "valid_to")).is_null())
                .order_by(("v", "household_id"), Order::Asc)
                .limit(batches.size.max(1) as u64);
            match h.kind {
                HandoverKind::Household => {
                    q.and_where(Expr::col(("v", "household_id")).eq(h.subject_id))
                        .and_where(Expr::col(("v", "building_id")).ne(h.to_building.unwrap_or_default()));
                }
                HandoverKind::Building => {
                    q.and_where(Expr::col(("v", "building_id")).eq(h.subject_id)).cond_where(
                        sea_orm::sea_query::Cond::any()
                            .add(Expr::col(("v", "community_code")).ne(h.to_community.as_str()))
                            .add(Expr::col(("v", "grid_id")).ne(h.to_grid.unwrap_or_default())),
                    );
                }
                HandoverKind::Grid => {
                    q.and_where(Expr::col(("v", "grid_id")).eq(h.subject_id))
                        .and_where(Expr::col(("v", "community_code")).ne(h.to_community.as_str()));
                }
            }
            let rows = work.txn.query_all(&q).await?;
            if rows.is_empty() {
                break;
            }
            let n = rows.len() as i64;
            for r in &rows {
                let current = household_row(r)?;
                let location = match h.kind {
                    HandoverKind::Household => HouseholdLocation {
                        community: h.to_community.clone(),
                        grid_id: h.to_grid.unwrap_or_default(),
                        building_id: h.to_building.unwrap_or_default(),
                        unit_no: h.to_unit.unwrap_or(1),
                        floor_no: h.to_floor.unwrap_or(1),
                        room_no: h.to_room.clone().unwrap_or_default(),
                    },
                    HandoverKind::Building => HouseholdLocation {
                        community: h.to_community.clone(),
                        grid_id: h.to_grid.unwrap_or_default(),
                        ..current.location.clone()
                    },
                    HandoverKind::Grid => {
                        HouseholdLocation { community: h.to_community.clone(), ..current.location.clone() }
                    }
                };
                relocate_household(&mut work, &current, &location, today, &actor).await?;
            }
            work.txn
                .execute(
                    Query::update()
                        .table("handover")
                        .value("moved", Expr::col("moved").add(n))
                        .and_where(Expr::col("county_code").eq(county.as_str()))
                        .and_where(Expr::col("id").eq(id)),
                )
                .await?;
            let entry = self.change_entry(
                format!("handover/{county}/{id}"),
                county,
                format!("moved {n} households from {} to {}", h.from_community, h.to_community),
            );
            work.commit(entry).await?;
        }
        self.close(&h, HandoverState::Completed, None, "completed").await
    }

    /// Ends a handover in `state`, releasing its holds.
    async fn close(
        &self,
        h: &Handover,
        state: HandoverState,
        reason: Option<&str>,
        what: &str,
    ) -> StoreResult<Handover> {
        let county = &h.county;
        let mut work = UnitOfWork::begin(self.store).await?;
        work.handover = Some(h.id);
        let now = OffsetDateTime::now_utc();
        let mut update = Query::update();
        update.table("handover").value("state", state.key());
        match state {
            HandoverState::Completed => {
                update.value("completed_at", now);
            }
            _ => {
                update
                    .value("decided_by", self.caller.username.to_string())
                    .value("decided_at", now)
                    .value("reason", reason.map(str::to_string));
            }
        }
        // Only from the state it was read in: a withdrawal racing an acceptance loses.
        update
            .and_where(Expr::col("county_code").eq(county.as_str()))
            .and_where(Expr::col("id").eq(h.id))
            .and_where(Expr::col("state").eq(h.state.key()));
        if work.txn.execute(&update).await?.rows_affected() == 0 {
            return Err(invalid("交接已由他人决定或撤回", "the handover was decided or withdrawn meanwhile"));
        }
        work.txn
            .execute(
                Query::delete()
                    .from_table("handover_hold")
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("handover_id").eq(h.id)),
            )
            .await?;
        let entry = self.entry(
            AuditAction::Write,
            format!("handover/{county}/{}", h.id),
            county.as_str(),
            format!("{what}: {} {} from {} to {}", h.kind.key(), h.subject_name, h.from_community, h.to_community),
        );
        work.commit(entry).await?;
        self.handover(county, h.id).await
    }
}
