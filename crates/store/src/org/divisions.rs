//! The region tree in the database: loading the reference codes and walking the tree.

use jiceng_domain::org::{DivisionCode, DivisionLevel};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};

use crate::Store;
use crate::error::{StoreResult, decode, decode_opt};
use crate::org::reference::{self, ReferenceDivision};
use crate::read_rows;

/// A node of the region tree as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    pub code: DivisionCode,
    pub name: String,
    pub level: DivisionLevel,
}

/// Which towns and villages to load; provinces, cities and counties are always loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadScope {
    /// Only the towns and villages under these counties; `None` loads the whole country.
    pub counties: Option<Vec<DivisionCode>>,
}

impl LoadScope {
    pub fn everything() -> Self {
        LoadScope { counties: None }
    }

    pub fn counties(counties: Vec<DivisionCode>) -> Self {
        LoadScope { counties: Some(counties) }
    }

    fn keeps(&self, code: &DivisionCode) -> bool {
        match &self.counties {
            None => true,
            Some(counties) => code.level() <= DivisionLevel::County || counties.iter().any(|c| c.contains(code)),
        }
    }
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK: usize = 2_000;

pub struct Divisions<'a> {
    pub(crate) store: &'a Store,
}

impl Divisions<'_> {
    /// Reads the reference data for `scope` (used to size a progress bar).
    pub fn reference(scope: &LoadScope) -> StoreResult<Vec<ReferenceDivision>> {
        let mut all = Vec::new();
        for level in DivisionLevel::ALL {
            all.extend(reference::read_level(level, |c| scope.keeps(c))?);
        }
        Ok(all)
    }

    /// Loads (or refreshes) divisions in one transaction; running it twice changes nothing.
    /// `progress` receives the number of rows written so far.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn load(&self, rows: &[ReferenceDivision], mut progress: impl FnMut(u64)) -> StoreResult<u64> {
        let txn = self.store.db.begin().await?;
        let mut written = 0u64;
        for chunk in rows.chunks(CHUNK) {
            let mut insert = Query::insert();
            insert.into_table("division").columns(["code", "name", "level", "parent_code"]);
            for row in chunk {
                insert.values_panic([
                    row.code.as_str().into(),
                    row.name.as_str().into(),
                    row.code.level().number().into(),
                    row.code.parent().map(String::from).into(),
                ]);
            }
            insert.on_conflict(OnConflict::column("code").update_columns(["name", "level", "parent_code"]).to_owned());
            txn.execute(&insert).await?;
            written += chunk.len() as u64;
            progress(written);
        }
        txn.commit().await?;
        Ok(written)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get(&self, code: &DivisionCode) -> StoreResult<Option<Division>> {
        let mut query = select();
        query.and_where(Expr::col("code").eq(code.as_str()));
        self.store.db.query_one(&query).await?.map(|r| row(&r)).transpose()
    }

    /// The names of these divisions, in one query (a page of results names many).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn names(&self, codes: &[DivisionCode]) -> StoreResult<std::collections::HashMap<DivisionCode, String>> {
        let mut names = std::collections::HashMap::new();
        let mut wanted: Vec<&str> = codes.iter().map(DivisionCode::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(500) {
            let mut query = select();
            query.and_where(Expr::col("code").is_in(chunk.iter().copied()));
            for division in read_rows(&self.store.db, &query, row).await? {
                names.insert(division.code, division.name);
            }
        }
        Ok(names)
    }

    /// The children of a node, by code; the provinces when `parent` is `None`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn children(&self, parent: Option<&DivisionCode>) -> StoreResult<Vec<Division>> {
        let mut query = select();
        match parent {
            Some(p) => query.and_where(Expr::col("parent_code").eq(p.as_str())),
            None => query.and_where(Expr::col("level").eq(DivisionLevel::Province.number())),
        };
        query.order_by("code", Order::Asc);
        read_rows(&self.store.db, &query, row).await
    }

    /// The divisions of `level` in `node`'s subtree (`node` itself if it is of that
    /// level), by code.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn under(&self, node: &DivisionCode, level: DivisionLevel) -> StoreResult<Vec<Division>> {
        let mut query = select();
        query
            .and_where(Expr::col("level").eq(level.number()))
            .cond_where(crate::registry::code_prefix(node, "code"))
            .order_by("code", Order::Asc);
        read_rows(&self.store.db, &query, row).await
    }

    /// The divisions of `level` called `name` (a name can repeat across the country).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn named(&self, name: &str, level: DivisionLevel) -> StoreResult<Vec<Division>> {
        let mut query = select();
        query.and_where(Expr::col("name").eq(name)).and_where(Expr::col("level").eq(level.number()));
        query.order_by("code", Order::Asc);
        read_rows(&self.store.db, &query, row).await
    }

    /// The node and its ancestors, from the province down (for breadcrumbs).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn path(&self, code: &DivisionCode) -> StoreResult<Vec<Division>> {
        let codes: Vec<String> = std::iter::successors(Some(code.clone()), |c| c.parent()).map(String::from).collect();
        let mut query = select();
        query.and_where(Expr::col("code").is_in(codes)).order_by("level", Order::Asc);
        read_rows(&self.store.db, &query, row).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count(&self) -> StoreResult<u64> {
        let mut query = Query::select();
        query.expr(Expr::col("code").count()).from("division");
        let count: i64 = match self.store.db.query_one(&query).await? {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        };
        Ok(count as u64)
    }
}

fn select() -> sea_orm::sea_query::SelectStatement {
    Query::select().columns(["code", "name", "level"]).from("division").take()
}

fn row(r: &QueryResult) -> StoreResult<Division> {
    let code: String = r.try_get("", "code")?;
    let level: i16 = r.try_get("", "level")?;
    Ok(Division {
        code: decode("division", "code", &code, DivisionCode::parse)?,
        name: r.try_get("", "name")?,
        level: decode_opt("division", "level", &level.to_string(), |_| DivisionLevel::from_number(level))?,
    })
}
