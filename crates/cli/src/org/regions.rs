//! `jiceng regions load`: the national division codes into the database.

use anyhow::Context;
use jiceng_domain::org::DivisionCode;
use jiceng_store::Store;
use jiceng_store::org::{Divisions, LoadScope};

use crate::progress;

/// Loads divisions for `counties` (all of the country when empty); returns the row count.
pub async fn load(store: &Store, counties: &[DivisionCode]) -> anyhow::Result<u64> {
    let scope = if counties.is_empty() { LoadScope::everything() } else { LoadScope::counties(counties.to_vec()) };
    let rows = Divisions::reference(&scope).context("读取区划数据 / reading division data")?;
    for county in counties {
        if !rows.iter().any(|r| &r.code == county) {
            anyhow::bail!("区划数据中没有县级代码 {county} / county {county} is not in the 2023 division codes");
        }
    }
    let bar = progress::bar(rows.len() as u64, "区划 Divisions");
    let written = store.divisions().load(&rows, |n| bar.set_position(n)).await?;
    bar.finish();
    Ok(written)
}
