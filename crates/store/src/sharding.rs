//! Ready to shard by county (ADR 016): which tables are distributed by `county_code` and
//! which are reference tables, and the Citus calls that make them so
//! (`jiceng db distribute`).

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, Statement};

use crate::Store;
use crate::error::{StoreError, StoreResult};

/// The table every county-level table is colocated with: its shards hold the same
/// counties, so joins and foreign keys between them stay on one worker.
pub const COLOCATE_WITH: &str = "grid";

/// How the tables are spread over a Citus cluster, each list in the order the calls must
/// run (a table after the tables it refers to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// Code tables, users, rules: a copy on every worker.
    pub reference: Vec<String>,
    /// Tables with `county_code`: sharded by it, colocated with [`COLOCATE_WITH`].
    pub distributed: Vec<String>,
    /// Tables already distributed or reference (skipped: the command can run again).
    pub done: Vec<String>,
}

impl Distribution {
    /// The calls, in order.
    pub fn statements(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.reference.iter().map(|t| format!("SELECT create_reference_table('{t}')")).collect();
        for table in &self.distributed {
            if table == COLOCATE_WITH {
                out.push(format!("SELECT create_distributed_table('{table}', 'county_code')"));
            } else {
                out.push(format!(
                    "SELECT create_distributed_table('{table}', 'county_code', colocate_with => '{COLOCATE_WITH}')"
                ));
            }
        }
        out
    }
}

/// `tables` ordered so that each comes after every table it refers to (`refers`:
/// table → tables it has foreign keys to); ties by name. A cycle is an error.
pub fn dependency_order(
    tables: &BTreeSet<String>,
    refers: &BTreeMap<String, BTreeSet<String>>,
) -> StoreResult<Vec<String>> {
    let mut order = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while placed.len() < tables.len() {
        let ready: Vec<String> = tables
            .iter()
            .filter(|t| !placed.contains(*t))
            .filter(|t| {
                refers
                    .get(*t)
                    .is_none_or(|targets| targets.iter().all(|r| r == *t || placed.contains(r) || !tables.contains(r)))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            let left: Vec<&String> = tables.iter().filter(|t| !placed.contains(*t)).collect();
            return Err(StoreError::Invalid(format!("外键成环 / foreign keys form a cycle among {left:?}")));
        }
        for t in ready {
            placed.insert(t.clone());
            order.push(t);
        }
    }
    Ok(order)
}

impl Store {
    /// Reads the schema (the tables on the search path) and works out the distribution.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn distribution(&self) -> StoreResult<Distribution> {
        if !self.is_postgres() {
            return Err(StoreError::Invalid(
                "只有 PostgreSQL（Citus）可分布式部署 / only PostgreSQL (Citus) can be distributed".into(),
            ));
        }
        let pg = sea_orm::DbBackend::Postgres;
        let tables_sql = "SELECT c.relname::text AS t, \
             EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'county_code' AND NOT a.attisdropped) AS county \
             FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
             AND NOT c.relispartition AND c.relname <> 'seaql_migrations'";
        let mut county_tables = BTreeSet::new();
        let mut code_tables = BTreeSet::new();
        for r in self.db.query_all_raw(Statement::from_string(pg, tables_sql)).await? {
            let table: String = r.try_get("", "t")?;
            if r.try_get::<bool>("", "county")? {
                county_tables.insert(table);
            } else {
                code_tables.insert(table);
            }
        }
        let fk_sql = "SELECT src.relname::text AS src, dst.relname::text AS dst FROM pg_constraint k \
             JOIN pg_class src ON src.oid = k.conrelid JOIN pg_class dst ON dst.oid = k.confrelid \
             WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace";
        let mut refers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in self.db.query_all_raw(Statement::from_string(pg, fk_sql)).await? {
            let (src, dst): (String, String) = (r.try_get("", "src")?, r.try_get("", "dst")?);
            if county_tables.contains(&dst) && code_tables.contains(&src) {
                return Err(StoreError::Invalid(format!(
                    "{src} 无县代码却引用按县分布的 {dst} / {src} has no county_code but refers to {dst}, which is distributed by it"
                )));
            }
            refers.entry(src).or_default().insert(dst);
        }
        // The colocation table first: every other distributed table is placed beside it.
        let mut distributed = dependency_order(&county_tables, &refers)?;
        if let Some(at) = distributed.iter().position(|t| t == COLOCATE_WITH) {
            let grid = distributed.remove(at);
            distributed.insert(0, grid);
        }
        let mut plan =
            Distribution { reference: dependency_order(&code_tables, &refers)?, distributed, done: Vec::new() };
        if self.has_citus().await? {
            let done_sql = "SELECT logicalrelid::regclass::text AS t FROM pg_dist_partition";
            let mut done = BTreeSet::new();
            for r in self.db.query_all_raw(Statement::from_string(pg, done_sql)).await? {
                let name: String = r.try_get("", "t")?;
                done.insert(name.rsplit('.').next().unwrap_or(&name).trim_matches('"').to_string());
            }
            plan.reference.retain(|t| !done.contains(t));
            plan.distributed.retain(|t| !done.contains(t));
            plan.done = done.into_iter().collect();
        }
        Ok(plan)
    }

    /// Whether the citus extension is installed in this database.
    pub async fn has_citus(&self) -> StoreResult<bool> {
        if !self.is_postgres() {
            return Ok(false);
        }
        let sql = "SELECT 1 FROM pg_extension WHERE extname = 'citus'";
        Ok(self.db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await?.is_some())
    }

    /// Runs the distribution's calls (on a coordinator with the citus extension), one
    /// by one: each is a transaction of its own in Citus, and a table already done is
    /// skipped when the command runs again.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn distribute(&self, plan: &Distribution, mut done: impl FnMut(&str)) -> StoreResult<()> {
        if !self.has_citus().await? {
            return Err(StoreError::Invalid(
                "此数据库没有 citus 扩展：请在协调节点上 CREATE EXTENSION citus 并添加工作节点（见 docs/deploy/README.md）/ \
                 this database has no citus extension: CREATE EXTENSION citus on the coordinator and add the workers first \
                 (see docs/deploy/README.md)"
                    .into(),
            ));
        }
        for statement in plan.statements() {
            self.db.execute_unprepared(&statement).await?;
            done(&statement);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn tables_come_after_what_they_refer_to() {
        let tables: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        let refers: BTreeMap<String, BTreeSet<String>> = [
            ("a".to_string(), BTreeSet::from(["c".to_string()])),
            ("c".to_string(), BTreeSet::from(["d".to_string(), "c".to_string()])),
            ("b".to_string(), BTreeSet::from(["elsewhere".to_string()])),
        ]
        .into();
        assert_eq!(dependency_order(&tables, &refers).unwrap(), ["b", "d", "c", "a"]);
        let cycle: BTreeMap<String, BTreeSet<String>> = [
            ("a".to_string(), BTreeSet::from(["b".to_string()])),
            ("b".to_string(), BTreeSet::from(["a".to_string()])),
        ]
        .into();
        assert!(dependency_order(&tables, &cycle).is_err());
    }

    #[tokio::test]
    async fn the_plan_distributes_every_county_table_beside_grid_and_refuses_without_citus() {
        let db = crate::testing::sqlite().await;
        assert!(db.store.distribution().await.is_err(), "SQLite cannot be distributed");
        db.finish().await;
        for db in crate::testing::backends().await.into_iter().filter(|d| d.label != "sqlite") {
            let plan = db.store.distribution().await.unwrap();
            assert_eq!(plan.distributed.first().map(String::as_str), Some(COLOCATE_WITH), "{}", db.label);
            for table in ["resident_version", "household", "report_cell", "notification", "tier_change", "visit"] {
                assert!(plan.distributed.iter().any(|t| t == table), "{}: {table} distributed: {plan:?}", db.label);
            }
            for table in ["division", "app_user", "user_scope", "reporting_deadline"] {
                assert!(plan.reference.iter().any(|t| t == table), "{}: {table} a reference table", db.label);
            }
            // Foreign keys: a table after what it refers to.
            let at = |t: &str| plan.reference.iter().position(|r| r == t).unwrap();
            assert!(at("app_user") < at("user_scope"), "{plan:?}");
            let statements = plan.statements();
            assert!(statements[0].starts_with("SELECT create_reference_table("), "{statements:?}");
            assert!(statements.iter().any(|s| s == "SELECT create_distributed_table('grid', 'county_code')"));
            assert!(
                statements.contains(
                    &"SELECT create_distributed_table('resident_version', 'county_code', colocate_with => 'grid')"
                        .to_string()
                )
            );
            let err = db.store.distribute(&plan, |_| {}).await.unwrap_err();
            assert!(err.to_string().contains("citus"), "{err}");
            db.finish().await;
        }
    }
}
