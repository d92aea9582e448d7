//! Which database a command works on: `--db PATH` (SQLite) or `--database-url URL`.

use std::path::PathBuf;

use anyhow::Context;
use jiceng_store::Store;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DbArgs {
    /// SQLite 数据库文件 / SQLite database file
    #[arg(long, value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,
    /// 数据库地址（优先于 --db），如 postgres://user@host/db / database URL (overrides --db), e.g. postgres://user@host/db
    #[arg(long, env = "JICENG_DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub fn url(&self, default_file: &str) -> String {
        match (&self.database_url, &self.db) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => jiceng_store::sqlite_url(path),
            (None, None) => jiceng_store::sqlite_url(std::path::Path::new(default_file)),
        }
    }

    pub async fn open(&self, default_file: &str) -> anyhow::Result<Store> {
        let url = self.url(default_file);
        Store::open(&url)
            .await
            .with_context(|| format!("无法打开数据库 / cannot open the database {}", jiceng_store::redact(&url)))
    }
}
