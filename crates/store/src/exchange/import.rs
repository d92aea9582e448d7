//! 导入: residents from a file into the registry, a chunk of rows per transaction.
//!
//! Each row either lands (created, updated as a new version, or unchanged) or comes back
//! as [`Rejected`] with every problem named. Chunks commit whole, and a row that is
//! already stored comes back unchanged, so running an import again — after it finished,
//! or after it was killed halfway — ends in the same database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use jiceng_domain::exchange::{Column, ColumnMap, CommunityRef, ResidentRow, RowProblems};
use jiceng_domain::org::{DivisionCode, DivisionLevel};
use jiceng_domain::registry::{HouseholdLocation, IdNumber, Identity, ResidentFacts};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::places::PlaceIndex;
use crate::error::{StoreResult, decode};
use crate::org::LoadScope;
use crate::org::reference;
use crate::registry::Registry;
use crate::registry::population::Batch;
use crate::registry::rows::{
    HOUSEHOLD_LOCATION_COLUMNS, RESIDENT_FACT_COLUMNS, VERSION_COLUMNS, VersionStamp, location_values,
    resident_fact_values, resident_row, stamp_values,
};
use crate::registry::{ResidentVersion, append_resident_version, resident_select};
use crate::reporting::cells::Locks;
use crate::write::UnitOfWork;
use jiceng_domain::reporting::cell;
use jiceng_files::exchange::SourceRow;

/// What an import or a landlord's sheet says of an ID number recorded outside the
/// user's area: it cannot be recorded here, without saying where it is.
pub const OUTSIDE_SCOPE: &str = "此身份证号码不能在您的范围内登记，请联系街道核实 / this ID number cannot be recorded in your area; ask the street office to check";

/// What an import did, row by row, plus the places it had to create.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTotals {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub grids_created: u64,
    pub buildings_created: u64,
    pub households_created: u64,
}

/// A row that did not land: the row as read, the columns at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub row: SourceRow,
    /// "出生日期 birth_date、性别 sex"
    pub columns: String,
    /// Chinese / English, each problem named by its column.
    pub reason: String,
}

impl Rejected {
    fn new(row: SourceRow, problems: &RowProblems) -> Rejected {
        let mut columns: Vec<String> = Vec::new();
        for p in &problems.0 {
            let name = format!("{} {}", p.column.header_zh(), p.column.key());
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
        Rejected { row, columns: columns.join("、"), reason: problems.to_string() }
    }

    fn single(row: SourceRow, column: Column, message: String) -> Rejected {
        Rejected::new(row, &RowProblems::single(column, message))
    }
}

/// Keys are already well-mixed (hashes, or ID digits); hashing them again is waste.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Spread ID digits over the table (Fibonacci hashing).
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type SeenMap = HashMap<u64, u32, BuildHasherDefault<PassThrough>>;

/// An 18-character ID number as a number (17 digits, then the check character, X = 10).
fn id_key(id: &IdNumber) -> u64 {
    let mut key = 0u64;
    for b in id.as_str().bytes() {
        key = key.wrapping_mul(11).wrapping_add(if b == b'X' { 10 } else { u64::from(b.wrapping_sub(b'0')) });
    }
    key | (1 << 63)
}

/// Name, birth date and dwelling: one person, whatever the ID column says.
fn person_key(row: &ResidentRow, community: &DivisionCode) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (row.name.as_str(), row.birth_date, community.as_str(), &row.building, row.unit, row.floor, &row.room).hash(&mut h);
    h.finish() & !(1 << 63)
}

#[derive(Debug, Clone)]
struct BuildingState {
    id: Uuid,
    grid_id: Uuid,
    floors: i16,
    units: i16,
}

/// What an import knows of a community's grids and buildings.
#[derive(Debug, Clone)]
struct CommunityState {
    county: DivisionCode,
    grids: HashMap<String, Uuid>,
    next_grid: i32,
    buildings: HashMap<String, BuildingState>,
}

/// A row ready to be written.
struct Accepted {
    source: SourceRow,
    row: ResidentRow,
    community: DivisionCode,
}

/// A row as read, with its values parsed, or why it cannot be.
pub struct ParsedRow(Result<(SourceRow, ResidentRow), Rejected>);

/// Everything about a row that needs neither the database nor the other rows: its width
/// against the header and its values. Pure, so the reader's thread runs it.
pub fn parse_row(source: SourceRow, map: &ColumnMap, today: Date, places: &PlaceIndex) -> ParsedRow {
    let width = map.width;
    let extra = source.cells.iter().skip(width).any(|c| !c.trim().is_empty());
    if source.cells.len() < width || extra {
        // Name the file's own columns the row lacks (or that it has too many), not a
        // column of ours the file may not have.
        let have = source.cells.len();
        let (columns, message) = if have < width {
            let mut missing = map.headers[have..width].iter().take(10).cloned().collect::<Vec<_>>().join("、");
            if width - have > 10 {
                missing.push_str(&format!(" … (+{})", width - have - 10));
            }
            (
                missing.clone(),
                format!(
                    "本行只有{have}列，表头有{width}列，缺少：{missing} / the row has {have} cells, the header {width}; missing: {missing}"
                ),
            )
        } else {
            (
                "表头之外 beyond the header".to_string(),
                format!(
                    "本行在表头之外还有内容（表头有{width}列）/ the row has cells beyond the header's {width} columns"
                ),
            )
        };
        return ParsedRow(Err(Rejected { row: source, columns, reason: message }));
    }
    match ResidentRow::parse(&source.cells, map, today, &|t| places.resolve(t)) {
        Ok(row) => ParsedRow(Ok((source, row))),
        Err(problems) => ParsedRow(Err(Rejected::new(source, &problems))),
    }
}

/// Rows written before an import first refreshes the statistics (one default chunk).
const FIRST_ANALYZE_AT: u64 = 2_000;

/// The grid a row names when it names none and its building is new.
const UNASSIGNED_GRID: &str = "未分网格";

/// An import in progress. Feed it chunks of rows with [`ResidentImport::import_chunk`].
pub struct ResidentImport<'a> {
    registry: Registry<'a>,
    recorded_by: String,
    today: Date,
    communities: HashMap<DivisionCode, Option<CommunityState>>,
    community_names: HashMap<String, Result<DivisionCode, String>>,
    seen: SeenMap,
    pub totals: ImportTotals,
    /// Approved months of the counties seen so far (statistics are counted around them).
    locks: Locks,
    locks_loaded: HashSet<DivisionCode>,
    /// Buildings of this chunk whose floor or unit count rose: their new counts.
    raised: BTreeMap<(DivisionCode, Uuid), (i16, i16)>,
    analyzed_at: u64,
    /// Fault injection for the interruption test: abort the process with this row
    /// written but its chunk not yet committed (`JICENG_FAULT_ABORT_IMPORT_AT_ROW`).
    abort_at_line: Option<u64>,
}

impl<'a> ResidentImport<'a> {
    pub fn new(registry: Registry<'a>, recorded_by: &str, today: Date) -> ResidentImport<'a> {
        ResidentImport {
            registry,
            recorded_by: recorded_by.to_string(),
            today,
            communities: HashMap::new(),
            community_names: HashMap::new(),
            seen: SeenMap::default(),
            totals: ImportTotals::default(),
            locks: Locks::default(),
            locks_loaded: HashSet::new(),
            raised: BTreeMap::new(),
            analyzed_at: 0,
            abort_at_line: std::env::var("JICENG_FAULT_ABORT_IMPORT_AT_ROW").ok().and_then(|v| v.parse().ok()),
        }
    }

    /// Checks and stores one chunk of rows, already through [`parse_row`] (on the reader's
    /// thread, while the chunk before was being written), in one transaction; returns the
    /// rows that did not land. An error (the database failing) leaves the chunk unwritten.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn import_chunk(&mut self, rows: Vec<ParsedRow>) -> StoreResult<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut accepted = Vec::with_capacity(rows.len());
        for row in rows {
            self.totals.read += 1;
            let (source, row) = match row.0 {
                Ok(parsed) => parsed,
                Err(r) => {
                    rejected.push(r);
                    continue;
                }
            };
            match self.check(source, row).await? {
                Ok(a) => accepted.push(a),
                Err(r) => rejected.push(r),
            }
        }
        if !accepted.is_empty()
            && let Err(e) = self.write(accepted, &mut rejected).await
        {
            // The transaction rolled back: forget grids and buildings it had created.
            self.communities.clear();
            self.raised.clear();
            return Err(e);
        }
        self.totals.rejected += rejected.len() as u64;
        Ok(rejected)
    }

    /// What needs the database or the rows before it: the row's community, and whether
    /// it repeats an earlier row of the file.
    async fn check(&mut self, source: SourceRow, row: ResidentRow) -> StoreResult<Result<Accepted, Rejected>> {
        let community = match self.community(&row.community, row.street.as_ref()).await? {
            Ok(code) => code,
            Err((column, message)) => return Ok(Err(Rejected::single(source, column, message))),
        };
        let line = u32::try_from(source.line).unwrap_or(u32::MAX);
        let mut keys = vec![(person_key(&row, &community), Column::Name)];
        if let Identity::Number(id) = &row.identity {
            keys.insert(0, (id_key(id), Column::IdNumber));
        }
        for (key, column) in &keys {
            if let Some(first) = self.seen.get(key) {
                let message = match column {
                    Column::IdNumber => format!("身份号码与第{first}行重复 / the ID number repeats row {first}"),
                    _ => format!(
                        "与第{first}行是同一人（姓名、出生日期、住址相同）/ the same person as row {first} (name, birth date and dwelling)"
                    ),
                };
                return Ok(Err(Rejected::single(source, *column, message)));
            }
        }
        for (key, _) in keys {
            self.seen.insert(key, line);
        }
        Ok(Ok(Accepted { source, row, community }))
    }

    /// The community a row names, which must exist (in the loaded divisions, or in the
    /// reference data, whose county is then loaded) and lie in the importer's scope.
    /// A street code from a 街道 column picks among communities of the same name and
    /// must contain the community the row names.
    async fn community(
        &mut self,
        named: &CommunityRef,
        street: Option<&DivisionCode>,
    ) -> StoreResult<Result<DivisionCode, (Column, String)>> {
        let code = match named {
            CommunityRef::Code(code) => code.clone(),
            CommunityRef::Name(name) => match self.community_by_name(name, street).await? {
                Ok(code) => code,
                Err(message) => return Ok(Err((Column::Community, message))),
            },
        };
        if let Some(street) = street
            && code.parent().as_ref() != Some(street)
        {
            let message = format!("社区 {code} 不在街道 {street} 下 / community {code} is not in street {street}");
            return Ok(Err((Column::Street, message)));
        }
        if code.level() != DivisionLevel::Village {
            let message = format!("{code} 不是社区（村）级代码 / {code} is not a community code");
            return Ok(Err((Column::CommunityCode, message)));
        }
        if !self.communities.contains_key(&code) {
            let state = self.load_community(&code).await?;
            self.communities.insert(code.clone(), state);
        }
        if self.communities.get(&code).is_none_or(Option::is_none) {
            let message = format!("社区 {code} 不存在 / community {code} does not exist");
            return Ok(Err((Column::CommunityCode, message)));
        }
        if self.registry.require_scope(&code, "").is_err() {
            let message = format!("社区 {code} 不在您的范围内 / community {code} is outside your scope");
            return Ok(Err((Column::CommunityCode, message)));
        }
        Ok(Ok(code))
    }

    async fn community_by_name(
        &mut self,
        name: &str,
        street: Option<&DivisionCode>,
    ) -> StoreResult<Result<DivisionCode, String>> {
        let key = format!("{name}\u{1f}{}", street.map(DivisionCode::as_str).unwrap_or(""));
        if let Some(known) = self.community_names.get(&key) {
            return Ok(known.clone());
        }
        let mut found = self.registry.store.divisions().named(name, DivisionLevel::Village).await?;
        if let Some(street) = street {
            found.retain(|d| d.code.parent().as_ref() == Some(street));
        }
        let result = match found.as_slice() {
            [one] => Ok(one.code.clone()),
            [] => Err(format!(
                "找不到名为“{name}”的社区，请填写社区代码 / no community is called '{name}'; give the community code"
            )),
            many => Err(format!(
                "名为“{name}”的社区不止一个（{}），请填写社区代码 / more than one community is called '{name}'; give the community code",
                many.iter().map(|d| d.code.to_string()).collect::<Vec<_>>().join("、")
            )),
        };
        self.community_names.insert(key, result.clone());
        Ok(result)
    }

    /// Grids and buildings of a community; `None` when the community does not exist.
    async fn load_community(&self, code: &DivisionCode) -> StoreResult<Option<CommunityState>> {
        let store = self.registry.store;
        let Some(county) = code.at_level(DivisionLevel::County) else { return Ok(None) };
        if store.divisions().get(code).await?.is_none() {
            // Known to the national codes but not loaded here yet: load its county.
            if !reference::communities_under(&county)?.iter().any(|d| &d.code == code) {
                return Ok(None);
            }
            let rows = crate::org::Divisions::reference(&LoadScope::counties(vec![county.clone()]))?;
            store.divisions().load(&rows, |_| {}).await?;
        }
        let mut grids = HashMap::new();
        let mut next_grid = 1;
        let q = Query::select()
            .columns(["id", "number", "name"])
            .from("grid")
            .cond_where(crate::registry::subtree(code, "community_code"))
            .to_owned();
        for r in store.db.query_all(&q).await? {
            let number: i32 = r.try_get("", "number")?;
            next_grid = Ord::max(next_grid, number + 1);
            grids.insert(r.try_get::<String>("", "name")?, r.try_get("", "id")?);
        }
        let mut buildings = HashMap::new();
        let q = Query::select()
            .columns(["id", "grid_id", "name", "floors", "units"])
            .from("building")
            .cond_where(crate::registry::subtree(code, "community_code"))
            .to_owned();
        for r in store.db.query_all(&q).await? {
            buildings.insert(
                r.try_get::<String>("", "name")?,
                from_row!(r => BuildingState {
                    id, grid_id, floors, units,
                }),
            );
        }
        Ok(Some(CommunityState { county, grids, next_grid, buildings }))
    }

    /// The building of a row, creating its grid and the building when new, and raising
    /// the building's floor and unit counts when the row lies above them.
    async fn building(&mut self, txn: &DatabaseTransaction, a: &Accepted) -> StoreResult<BuildingState> {
        let now = OffsetDateTime::now_utc();
        let Some(Some(state)) = self.communities.get_mut(&a.community) else {
            return Err(crate::StoreError::NotFound { what: a.community.to_string() });
        };
        let county = state.county.clone();
        if let Some(b) = state.buildings.get_mut(&a.row.building) {
            if a.row.floor > b.floors || a.row.unit > b.units {
                b.floors = Ord::max(b.floors, a.row.floor);
                b.units = Ord::max(b.units, a.row.unit);
                // Written once per chunk with its highest floor and unit (was a statement
                // for every row above the last: 4,204 for 50 k residents).
                self.raised.insert((county, b.id), (b.floors, b.units));
            }
            return Ok(b.clone());
        }
        let grid_name = a.row.grid.clone().unwrap_or_else(|| UNASSIGNED_GRID.to_string());
        let grid_id = match state.grids.get(&grid_name) {
            Some(id) => *id,
            None => {
                let id = Uuid::now_v7();
                let number = state.next_grid;
                state.next_grid += 1;
                txn.execute(
                    Query::insert()
                        .into_table("grid")
                        .columns(["county_code", "id", "community_code", "number", "name", "created_at"])
                        .values_panic([
                            county.as_str().into(),
                            id.into(),
                            a.community.as_str().into(),
                            number.into(),
                            grid_name.as_str().into(),
                            now.into(),
                        ]),
                )
                .await?;
                state.grids.insert(grid_name, id);
                self.totals.grids_created += 1;
                id
            }
        };
        let building = BuildingState { id: Uuid::now_v7(), grid_id, floors: a.row.floor, units: a.row.unit };
        txn.execute(
            Query::insert()
                .into_table("building")
                .columns(["county_code", "id", "grid_id", "community_code", "name", "floors", "units", "created_at"])
                .values_panic([
                    county.as_str().into(),
                    building.id.into(),
                    grid_id.into(),
                    a.community.as_str().into(),
                    a.row.building.as_str().into(),
                    building.floors.into(),
                    building.units.into(),
                    now.into(),
                ]),
        )
        .await?;
        state.buildings.insert(a.row.building.clone(), building.clone());
        self.totals.buildings_created += 1;
        Ok(building)
    }

    /// Refuses, before any grid, building or household is made for them, the rows whose
    /// ID number is recorded in a community outside the importer's scope: a refused row
    /// leaves nothing behind. Also gives the current residents found by ID number, by
    /// county, for the rows kept (read once per chunk, here).
    async fn refuse_outside_scope(
        &self,
        txn: &DatabaseTransaction,
        accepted: Vec<Accepted>,
        rejected: &mut Vec<Rejected>,
    ) -> StoreResult<(Vec<Accepted>, HashMap<(DivisionCode, String), ResidentVersion>)> {
        let ids: Vec<String> = accepted
            .iter()
            .filter_map(|a| match &a.row.identity {
                Identity::Number(n) => Some(n.to_string()),
                Identity::Missing(_) => None,
            })
            .collect();
        let mut recorded: HashMap<(DivisionCode, String), ResidentVersion> = HashMap::new();
        let mut elsewhere: HashSet<(DivisionCode, String)> = HashSet::new();
        for chunk in ids.chunks(500) {
            // No county condition in SQL: with one, SQLite's planner walks the whole
            // county through the household index instead of probing the ID index
            // (quadratic over a large import). Counties are matched by the key instead.
            let mut q = resident_select();
            q.and_where(Expr::col("id_number").is_in(chunk.iter().map(String::as_str)))
                .and_where(Expr::col("valid_to").is_null());
            for r in txn.query_all(&q).await? {
                let v = resident_row(&r)?;
                let Identity::Number(n) = &v.facts.identity else { continue };
                let key = (v.county.clone(), n.to_string());
                if self.registry.require_scope(&v.community, "").is_err() {
                    elsewhere.insert(key.clone());
                }
                recorded.insert(key, v);
            }
        }
        if elsewhere.is_empty() {
            return Ok((accepted, recorded));
        }
        let mut kept = Vec::with_capacity(accepted.len());
        for a in accepted {
            let county = a.community.at_level(DivisionLevel::County).unwrap_or_else(|| a.community.clone());
            let outside = match &a.row.identity {
                Identity::Number(n) => elsewhere.contains(&(county, n.to_string())),
                Identity::Missing(_) => false,
            };
            if outside {
                // Out of scope reads like unknown (ADR 004): no community code or name.
                rejected.push(Rejected::single(a.source, Column::IdNumber, OUTSIDE_SCOPE.to_string()));
            } else {
                kept.push(a);
            }
        }
        Ok((kept, recorded))
    }

    /// Refuses the rows whose 户编号 is already the number of a household at another
    /// address (recorded before, or named by an earlier row of the file): a household
    /// is found by where it is, and one number cannot name two places. Before, such a
    /// row stopped the whole import on the database's unique key.
    async fn refuse_taken_household_numbers(
        &self,
        txn: &DatabaseTransaction,
        accepted: Vec<Accepted>,
        rejected: &mut Vec<Rejected>,
    ) -> StoreResult<Vec<Accepted>> {
        type Place = (String, String, i16, i16, String);
        let place = |a: &Accepted| -> Place {
            (a.community.as_str().to_string(), a.row.building.clone(), a.row.unit, a.row.floor, a.row.room.clone())
        };
        // Where each number is: recorded (earlier chunks are committed), or named by an
        // earlier row of this chunk. Per chunk, so memory does not grow with the file.
        let mut places: HashMap<(DivisionCode, String), Place> = HashMap::new();
        let mut numbers: HashMap<DivisionCode, HashSet<String>> = HashMap::new();
        for a in &accepted {
            if let Some(n) = &a.row.household_no {
                let county = a.community.at_level(DivisionLevel::County).unwrap_or_else(|| a.community.clone());
                numbers.entry(county).or_default().insert(n.clone());
            }
        }
        for (county, wanted) in &numbers {
            let wanted: Vec<&String> = wanted.iter().collect();
            for chunk in wanted.chunks(500) {
                // Two steps: the households by number, then where those few are. As one
                // join, SQLite walked every household version of the county per chunk.
                let q = Query::select()
                    .columns(["id", "household_no"])
                    .from("household")
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("household_no").is_in(chunk.iter().map(|n| n.as_str())))
                    .to_owned();
                let mut numbers: HashMap<Uuid, String> = HashMap::new();
                for r in txn.query_all(&q).await? {
                    numbers.insert(r.try_get("", "id")?, r.try_get("", "household_no")?);
                }
                if numbers.is_empty() {
                    continue;
                }
                let q = Query::select()
                    .column(("v", "household_id"))
                    .columns([("v", "community_code"), ("v", "unit_no"), ("v", "floor_no"), ("v", "room_no")])
                    .column(("b", "name"))
                    .from_as("household_version", "v")
                    .join_as(
                        sea_orm::sea_query::JoinType::InnerJoin,
                        "building",
                        "b",
                        Expr::col(("b", "county_code"))
                            .equals(("v", "county_code"))
                            .and(Expr::col(("b", "id")).equals(("v", "building_id"))),
                    )
                    .and_where(Expr::col(("v", "county_code")).eq(county.as_str()))
                    .and_where(Expr::col(("v", "household_id")).is_in(numbers.keys().copied()))
                    .and_where(Expr::col(("v", "valid_to")).is_null())
                    .to_owned();
                for r in txn.query_all(&q).await? {
                    let household: Uuid = r.try_get("", "household_id")?;
                    let Some(number) = numbers.get(&household) else { continue };
                    let at: Place = (
                        r.try_get("", "community_code")?,
                        r.try_get("", "name")?,
                        r.try_get("", "unit_no")?,
                        r.try_get("", "floor_no")?,
                        r.try_get("", "room_no")?,
                    );
                    places.insert((county.clone(), number.clone()), at);
                }
            }
        }
        let mut kept = Vec::with_capacity(accepted.len());
        for a in accepted {
            let Some(number) = a.row.household_no.clone() else {
                kept.push(a);
                continue;
            };
            let county = a.community.at_level(DivisionLevel::County).unwrap_or_else(|| a.community.clone());
            let here = place(&a);
            match places.get(&(county.clone(), number.clone())) {
                Some(there) if *there != here => {
                    // An address outside the importer's scope is not shown (ADR 004).
                    let visible =
                        DivisionCode::parse(&there.0).is_ok_and(|c| self.registry.require_scope(&c, "").is_ok());
                    let message = if visible {
                        format!(
                            "户编号{number}已登记在另一地址（{} {}单元{}层{}室），同一户编号不能对应两处 / household number {number} is recorded at another address ({} unit {} floor {} room {}); one number cannot name two places",
                            there.1, there.2, there.3, there.4, there.1, there.2, there.3, there.4
                        )
                    } else {
                        format!(
                            "户编号{number}已用于另一地址，同一户编号不能对应两处 / household number {number} is used for another address; one number cannot name two places"
                        )
                    };
                    rejected.push(Rejected::single(a.source, Column::HouseholdNo, message));
                }
                Some(_) => kept.push(a),
                None => {
                    places.insert((county, number), here);
                    kept.push(a);
                }
            }
        }
        Ok(kept)
    }

    async fn write(&mut self, accepted: Vec<Accepted>, rejected: &mut Vec<Rejected>) -> StoreResult<()> {
        let store = self.registry.store;
        let now = OffsetDateTime::now_utc();
        let mut work = UnitOfWork::begin(store).await?;
        let txn = &work.txn;
        let lines = (accepted.first().map(|a| a.source.line), accepted.last().map(|a| a.source.line));
        let (accepted, mut recorded_by_id) = self.refuse_outside_scope(txn, accepted, rejected).await?;
        let accepted = self.refuse_taken_household_numbers(txn, accepted, rejected).await?;

        // Places: buildings (and grids) first, then the households in them.
        let written = accepted.len();
        let mut placed = Vec::with_capacity(accepted.len());
        for a in accepted {
            let building = self.building(txn, &a).await?;
            let county = a.community.at_level(DivisionLevel::County).unwrap_or_else(|| a.community.clone());
            placed.push((a, building, county));
        }
        for ((county, id), (floors, units)) in std::mem::take(&mut self.raised) {
            txn.execute(
                Query::update()
                    .table("building")
                    .value("floors", floors)
                    .value("units", units)
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("id").eq(id)),
            )
            .await?;
        }
        let mut households: HashMap<(Uuid, i16, i16, String), (Uuid, DivisionCode)> = HashMap::new();
        let mut by_county: HashMap<DivisionCode, HashSet<Uuid>> = HashMap::new();
        for (_, building, county) in &placed {
            by_county.entry(county.clone()).or_default().insert(building.id);
        }
        for county in by_county.keys() {
            if self.locks_loaded.insert(county.clone()) {
                self.locks.extend(Locks::under(txn, county).await?);
            }
        }
        let tally = &mut work.changes.tally;
        for (county, buildings) in &by_county {
            let ids: Vec<Uuid> = buildings.iter().copied().collect();
            for chunk in ids.chunks(500) {
                let q = Query::select()
                    .columns(["household_id", "building_id", "unit_no", "floor_no", "room_no", "community_code"])
                    .from("household_version")
                    .and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("building_id").is_in(chunk.iter().copied()))
                    .and_where(Expr::col("valid_to").is_null())
                    .to_owned();
                for r in txn.query_all(&q).await? {
                    let community: String = r.try_get("", "community_code")?;
                    households.insert(
                        (
                            r.try_get("", "building_id")?,
                            r.try_get("", "unit_no")?,
                            r.try_get("", "floor_no")?,
                            r.try_get("", "room_no")?,
                        ),
                        (
                            r.try_get("", "household_id")?,
                            decode("household_version", "community_code", &community, DivisionCode::parse)?,
                        ),
                    );
                }
            }
        }
        let mut new_households =
            Batch::new("household", ["county_code", "id", "household_no", "created_at", "created_by"]);
        // Households created in this chunk: where, and from when (the earliest arrival).
        let mut created_households: HashMap<Uuid, (DivisionCode, HouseholdLocation, Date)> = HashMap::new();
        let mut rows = Vec::with_capacity(placed.len());
        for (a, building, county) in placed {
            let key = (building.id, a.row.unit, a.row.floor, a.row.room.clone());
            let moved_in = a.row.arrival_date.unwrap_or(a.row.birth_date);
            let household_id = match households.get(&key) {
                Some((id, _)) => {
                    if let Some((_, _, valid_from)) = created_households.get_mut(id) {
                        *valid_from = Ord::min(*valid_from, moved_in);
                    }
                    *id
                }
                None => {
                    let id = Uuid::now_v7();
                    let household_no =
                        a.row.household_no.clone().unwrap_or_else(|| {
                            format!("{}-{}-{}-{}", a.community, a.row.building, a.row.unit, a.row.room)
                        });
                    new_households.rows.push(vec![
                        county.as_str().into(),
                        id.into(),
                        household_no.into(),
                        now.into(),
                        self.recorded_by.as_str().into(),
                    ]);
                    let location = HouseholdLocation {
                        community: a.community.clone(),
                        grid_id: building.grid_id,
                        building_id: building.id,
                        unit_no: a.row.unit,
                        floor_no: a.row.floor,
                        room_no: a.row.room.clone(),
                    };
                    created_households.insert(id, (county.clone(), location, moved_in));
                    households.insert(key, (id, a.community.clone()));
                    self.totals.households_created += 1;
                    id
                }
            };
            rows.push((a, household_id, county));
        }
        let mut new_household_versions = Batch::new(
            "household_version",
            ["county_code", "household_id"].into_iter().chain(VERSION_COLUMNS).chain(HOUSEHOLD_LOCATION_COLUMNS),
        );
        for (id, (county, location, valid_from)) in created_households {
            let counted = self.locks.counted(&[&location.community], valid_from, None);
            tally.enter(&location.community, counted, cell::HOUSEHOLDS);
            tally.touch_floor(&county, location.building_id, location.floor_no);
            let stamp = VersionStamp::first(valid_from, counted, now, &self.recorded_by);
            new_household_versions.rows.push(
                [county.as_str().into(), id.into()]
                    .into_iter()
                    .chain(stamp_values(&stamp))
                    .chain(location_values(&location))
                    .collect(),
            );
        }
        new_households.flush(txn).await?;
        new_household_versions.flush(txn).await?;

        // Who is already recorded: by ID number, or, without one, by name and birth
        // date in the same household.
        let mut existing_by_id: HashMap<String, ResidentVersion> = HashMap::new();
        let mut existing_by_person: HashMap<(Uuid, String, Date), ResidentVersion> = HashMap::new();
        let mut wanted_households: HashMap<DivisionCode, HashSet<Uuid>> = HashMap::new();
        for (a, household_id, county) in &rows {
            match &a.row.identity {
                Identity::Number(n) => {
                    if let Some(v) = recorded_by_id.remove(&(county.clone(), n.to_string())) {
                        existing_by_id.insert(n.to_string(), v);
                    }
                }
                Identity::Missing(_) => {
                    wanted_households.entry(county.clone()).or_default().insert(*household_id);
                }
            }
        }
        for (county, ids) in &wanted_households {
            let ids: Vec<Uuid> = ids.iter().copied().collect();
            for chunk in ids.chunks(500) {
                let mut q = resident_select();
                q.and_where(Expr::col("county_code").eq(county.as_str()))
                    .and_where(Expr::col("household_id").is_in(chunk.iter().copied()))
                    .and_where(Expr::col("id_number").is_null())
                    .and_where(Expr::col("valid_to").is_null());
                for r in txn.query_all(&q).await? {
                    let v = resident_row(&r)?;
                    existing_by_person.insert((v.facts.household_id, v.facts.name.to_string(), v.facts.birth_date), v);
                }
            }
        }
        let mut last_verified: HashMap<Uuid, Option<Date>> = HashMap::new();
        let matched: Vec<(DivisionCode, Uuid)> = existing_by_id
            .values()
            .chain(existing_by_person.values())
            .map(|v| (v.county.clone(), v.resident_id))
            .collect();
        for chunk in matched.chunks(500) {
            let mut any = Cond::any();
            for (county, id) in chunk {
                any = any.add(Expr::col("county_code").eq(county.as_str()).and(Expr::col("id").eq(*id)));
            }
            let q = Query::select().columns(["id", "last_verified_on"]).from("resident").cond_where(any).to_owned();
            for r in txn.query_all(&q).await? {
                last_verified.insert(r.try_get("", "id")?, r.try_get("", "last_verified_on")?);
            }
        }

        let mut new_residents =
            Batch::new("resident", ["county_code", "id", "created_at", "created_by", "last_verified_on"]);
        let mut new_versions = Batch::new(
            "resident_version",
            ["county_code", "resident_id"].into_iter().chain(VERSION_COLUMNS).chain(RESIDENT_FACT_COLUMNS),
        );
        let mut abort_here = false;
        for (a, household_id, county) in rows {
            let facts: ResidentFacts = a.row.facts(household_id, &county);
            let current = match &a.row.identity {
                Identity::Number(n) => existing_by_id.get(n.as_str()),
                Identity::Missing(_) => {
                    existing_by_person.get(&(household_id, a.row.name.to_string(), a.row.birth_date))
                }
            };
            abort_here |= self.abort_at_line == Some(a.source.line);
            match current {
                None => {
                    let id = Uuid::now_v7();
                    new_residents.rows.push(vec![
                        county.as_str().into(),
                        id.into(),
                        now.into(),
                        self.recorded_by.as_str().into(),
                        a.row.last_verified.into(),
                    ]);
                    let valid_from = a.row.arrival_date.unwrap_or(a.row.birth_date);
                    let counted = self.locks.counted(&[&a.community], valid_from, None);
                    tally.enter_person(&a.community, counted, facts.residence_status, facts.sex, facts.birth_date);
                    tally.touch_household(&county, household_id);
                    let stamp = VersionStamp::first(valid_from, counted, now, &self.recorded_by);
                    new_versions.rows.push(
                        [county.as_str().into(), id.into()]
                            .into_iter()
                            .chain(stamp_values(&stamp))
                            .chain(resident_fact_values(&facts, &a.community))
                            .collect(),
                    );
                    self.totals.created += 1;
                }
                Some(current) => {
                    if self.registry.require_scope(&current.community, "").is_err() {
                        // Out of scope reads like unknown (ADR 004): no community code or name.
                        let message = OUTSIDE_SCOPE.to_string();
                        rejected.push(Rejected::single(a.source, Column::IdNumber, message));
                        continue;
                    }
                    let stored_verified = last_verified.get(&current.resident_id).copied().flatten();
                    let newer_verification = a.row.last_verified.filter(|d| stored_verified.is_none_or(|s| *d > s));
                    let same = current.facts == facts && current.community == a.community;
                    if !same {
                        append_resident_version(
                            txn,
                            current,
                            &facts,
                            &a.community,
                            self.today,
                            &self.recorded_by,
                            &self.locks,
                            tally,
                        )
                        .await?;
                    }
                    if let Some(d) = newer_verification {
                        txn.execute(
                            Query::update()
                                .table("resident")
                                .value("last_verified_on", d)
                                .and_where(Expr::col("county_code").eq(current.county.as_str()))
                                .and_where(Expr::col("id").eq(current.resident_id)),
                        )
                        .await?;
                        work.changes.verified.push((current.county.clone(), current.resident_id, d));
                    }
                    if same && newer_verification.is_none() {
                        self.totals.unchanged += 1;
                    } else {
                        self.totals.updated += 1;
                    }
                }
            }
        }
        new_residents.flush(txn).await?;
        new_versions.flush(txn).await?;
        if abort_here {
            // The chunk is written but not committed: exactly what a kill here leaves.
            eprintln!("JICENG_FAULT_ABORT_IMPORT_AT_ROW: aborting before commit");
            std::process::abort();
        }
        // One entry per chunk: every committed chunk is audited, even if a later one fails.
        let county = by_county.keys().next().map(|c| c.to_string()).unwrap_or_default();
        let detail = match lines {
            (Some(first), Some(last)) => format!("import lines {first}–{last}: {written} rows written"),
            _ => "import: nothing written".to_string(),
        };
        self.refresh_statistics(&work.txn).await?;
        work.commit(self.registry.change_entry("import".into(), county, detail)).await
    }

    /// Both databases plan the projections' recounts and the lookups from table statistics;
    /// a table that grows from empty during the import would otherwise keep the empty
    /// table's plan (a sequential scan per chunk: 4 s a statement by the third chunk of a
    /// 50 k import). Statistics are refreshed in the chunk's own transaction, which sees
    /// its own rows, before the projections run: once 2,000 rows are written, then each
    /// time the rows written have doubled, so a 4.14 M import refreshes them a dozen
    /// times (on SQLite, which reads them whole, about 13 s in all; ADR 018).
    async fn refresh_statistics(&mut self, txn: &DatabaseTransaction) -> StoreResult<()> {
        let written = self.totals.created + self.totals.updated;
        // A small upload leaves statistics to autovacuum (SQLite: to the next open's
        // `PRAGMA optimize`): ANALYZE holds its tables' statistics lock to the end of the
        // chunk, and reads a large registry anew.
        if written >= FIRST_ANALYZE_AT && written >= self.analyzed_at * 2 {
            // The projections' tables grow with the registry's, and so must their plans.
            let tables = [
                "resident_version",
                "resident",
                "household_version",
                "household",
                "building",
                "grid",
                "resident_followup",
                "floor_stock",
                "report_cell",
            ];
            crate::dialect::Dialect::of(txn).analyze(txn, &tables).await?;
            self.analyzed_at = written;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
