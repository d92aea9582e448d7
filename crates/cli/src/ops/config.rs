//! The configuration file (`--config FILE`, TOML) and where each setting comes from:
//! a command-line flag, then the environment, then the file, then the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use jiceng_server::ops::MetricsAccess;
use jiceng_store::exchange::ReadLimits;
use serde::Deserialize;

use crate::db::DbArgs;

/// What `jiceng.toml` may hold. Unknown keys are refused, naming them: a misspelt
/// `secure_cookie` must not quietly leave cookies insecure.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub read_limits: ReadLimitsSection,
    #[serde(default)]
    pub linkage: LinkageSection,
}

/// Record linkage thresholds (probabilities, 0–1): at or above `match_threshold` a
/// department's record is a match, from `review_threshold` up a possible match for a
/// reviewer, below it no match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageSection {
    pub match_threshold: Option<f64>,
    pub review_threshold: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `postgres://…` (as `--database-url`).
    pub url: Option<String>,
    /// An SQLite file (as `--db`).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<SocketAddr>,
    pub secure_cookies: Option<bool>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    /// tracing's filter syntax, e.g. `warn,jiceng=info`.
    pub filter: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` (default: only when a token is configured).
    pub enabled: Option<bool>,
    /// A file holding the bearer token scrapers send.
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadLimitsSection {
    pub max_rows: Option<u64>,
    pub max_columns: Option<usize>,
    pub max_cells: Option<u64>,
    pub max_cell_bytes: Option<usize>,
    pub max_row_bytes: Option<usize>,
    pub max_unpacked_bytes: Option<u64>,
    pub max_shared_strings_bytes: Option<usize>,
    pub max_seconds: Option<u64>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line (journald, Loki, Elasticsearch).
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

impl Source {
    pub fn key(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::File => "file",
            Source::Default => "default",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Flag => "命令行 flag",
            Source::Env => "环境变量 env",
            Source::File => "配置文件 file",
            Source::Default => "默认 default",
        }
    }
}

/// A flag's value that clap may have taken from `env`: which of the two it was.
fn flag_or_env(env: &str, value: &str) -> Source {
    if std::env::var(env).is_ok_and(|v| v == value) { Source::Env } else { Source::Flag }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The file as read, and where it was.
#[derive(Debug, Default)]
pub struct Loaded {
    pub path: Option<PathBuf>,
    pub file: ConfigFile,
}

/// Reads `path` (none given: every setting from flags, the environment or defaults).
pub fn load(path: Option<&Path>) -> anyhow::Result<Loaded> {
    let Some(path) = path else { return Ok(Loaded::default()) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("无法读取配置文件 / cannot read the configuration file {}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("配置文件有误 / the configuration file {} is invalid:\n{e}", path.display()))?;
    if file.database.url.is_some() && file.database.path.is_some() {
        anyhow::bail!(
            "配置文件 {0} 的 [database] 只能给 url 或 path 之一 / [database] in {0} takes url or path, not both",
            path.display()
        );
    }
    Ok(Loaded { path: Some(path.to_path_buf()), file })
}

/// Every setting a command runs with, each with where it came from.
#[derive(Debug)]
pub struct Settings {
    pub file: Option<PathBuf>,
    /// The database the commands open (flags, or the file's `[database]` filled in).
    pub db: DbArgs,
    pub db_source: Source,
    pub log_format: (LogFormat, Source),
    pub log_filter: (String, Source),
    pub listen: (SocketAddr, Source),
    pub secure_cookies: (bool, Source),
    /// `None`: beside the SQLite file, else `jiceng-data`.
    pub data_dir: (Option<PathBuf>, Source),
    pub metrics: (MetricsSetting, Source),
    pub read_limits: (ReadLimits, Source),
    pub linkage: (jiceng_domain::linkage::Settings, Source),
}

/// Who may read `/metrics`, as configured. A token file is read only by the commands
/// that serve (and `config check`): an administrator running `jiceng user add` with the
/// same file need not be able to read the scraper's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsSetting {
    Off,
    Open,
    Token(String),
    TokenFile(PathBuf),
}

impl Settings {
    /// The metrics access the server runs with (reads the token file, if any).
    pub fn metrics_access(&self) -> anyhow::Result<MetricsAccess> {
        Ok(match &self.metrics.0 {
            MetricsSetting::Off => MetricsAccess::Off,
            MetricsSetting::Open => MetricsAccess::Open,
            MetricsSetting::Token(token) => MetricsAccess::Token(token.clone()),
            MetricsSetting::TokenFile(path) => {
                let token = std::fs::read_to_string(path).with_context(|| {
                    format!("无法读取指标令牌文件 / cannot read the metrics token file {}", path.display())
                })?;
                let token = token.trim().to_string();
                if token.is_empty() {
                    anyhow::bail!("指标令牌文件为空 / the metrics token file {} is empty", path.display());
                }
                MetricsAccess::Token(token)
            }
        })
    }
}

/// The flags of `serve` that settings can come from (absent for other commands).
#[derive(Debug, Default)]
pub struct ServeFlags {
    pub listen: Option<SocketAddr>,
    pub secure_cookies: bool,
    pub data_dir: Option<PathBuf>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_LOG_FILTER: &str = "warn,jiceng=info";

impl Settings {
    pub fn resolve(
        loaded: Loaded,
        db: &DbArgs,
        log_format: Option<LogFormat>,
        serve: &ServeFlags,
    ) -> anyhow::Result<Settings> {
        let Loaded { path, file } = loaded;
        let mut resolved_db = db.clone();
        let db_source = if let Some(url) = &db.database_url {
            flag_or_env("JICENG_DATABASE_URL", url)
        } else if db.db.is_some() {
            Source::Flag
        } else if let Some(url) = &file.database.url {
            resolved_db.database_url = Some(url.clone());
            Source::File
        } else if let Some(db_path) = &file.database.path {
            resolved_db.db = Some(db_path.clone());
            Source::File
        } else {
            Source::Default
        };

        let log_format = match (log_format, file.log.format) {
            (Some(f), _) => (f, flag_or_env("JICENG_LOG_FORMAT", f.name())),
            (None, Some(f)) => (f, Source::File),
            (None, None) => (LogFormat::Text, Source::Default),
        };
        let log_filter = match (env("JICENG_LOG"), &file.log.filter) {
            (Some(f), _) => (f, Source::Env),
            (None, Some(f)) => (f.clone(), Source::File),
            (None, None) => (DEFAULT_LOG_FILTER.to_string(), Source::Default),
        };
        tracing_subscriber::EnvFilter::try_new(&log_filter.0).map_err(|e| {
            anyhow::anyhow!("日志过滤“{}”无效 / log filter '{}' is invalid: {e}", log_filter.0, log_filter.0)
        })?;

        let listen = match (serve.listen, file.server.listen) {
            (Some(a), _) => (a, Source::Flag),
            (None, Some(a)) => (a, Source::File),
            (None, None) => (DEFAULT_LISTEN.parse().context("default listen address")?, Source::Default),
        };
        let secure_cookies = match (serve.secure_cookies, file.server.secure_cookies) {
            (true, _) => (true, Source::Flag),
            (false, Some(s)) => (s, Source::File),
            (false, None) => (false, Source::Default),
        };
        let data_dir = match (&serve.data_dir, &file.server.data_dir) {
            (Some(d), _) => (Some(d.clone()), flag_or_env("JICENG_DATA_DIR", &d.to_string_lossy())),
            (None, _) if env("JICENG_DATA_DIR").is_some() => (env("JICENG_DATA_DIR").map(PathBuf::from), Source::Env),
            (None, Some(d)) => (Some(d.clone()), Source::File),
            (None, None) => (None, Source::Default),
        };

        let metrics = if let Some(token) = env("JICENG_METRICS_TOKEN") {
            (MetricsSetting::Token(token.trim().to_string()), Source::Env)
        } else if file.metrics.enabled == Some(false) {
            (MetricsSetting::Off, Source::File)
        } else if let Some(token_file) = &file.metrics.token_file {
            (MetricsSetting::TokenFile(token_file.clone()), Source::File)
        } else if file.metrics.enabled == Some(true) {
            (MetricsSetting::Open, Source::File)
        } else {
            (MetricsSetting::Off, Source::Default)
        };

        let r = &file.read_limits;
        let mut limits = ReadLimits::default();
        let mut limits_source = Source::Default;
        macro_rules! over {
            ($($field:ident),*) => {$(
                if let Some(v) = r.$field {
                    if v == 0 {
                        anyhow::bail!(concat!("[read_limits] ", stringify!($field), " 应为正整数 / must be a positive whole number"));
                    }
                    limits.$field = v;
                    limits_source = Source::File;
                }
            )*};
        }
        over!(
            max_rows,
            max_columns,
            max_cells,
            max_cell_bytes,
            max_row_bytes,
            max_unpacked_bytes,
            max_shared_strings_bytes,
            max_seconds
        );
        let with_env = limits.with_env().map_err(anyhow::Error::msg)?;
        if with_env != limits {
            limits_source = Source::Env;
        }

        let mut linkage = jiceng_domain::linkage::Settings::default();
        let mut linkage_source = Source::Default;
        if let Some(t) = file.linkage.match_threshold {
            linkage.match_threshold = t;
            linkage_source = Source::File;
        }
        if let Some(t) = file.linkage.review_threshold {
            linkage.review_threshold = t;
            linkage_source = Source::File;
        }
        let valid = |t: f64| t > 0.0 && t < 1.0;
        if !valid(linkage.match_threshold)
            || !valid(linkage.review_threshold)
            || linkage.review_threshold > linkage.match_threshold
        {
            anyhow::bail!(
                "[linkage] 阈值应在0与1之间，且 review_threshold 不大于 match_threshold / thresholds must lie between 0 and 1, review_threshold at most match_threshold"
            );
        }

        Ok(Settings {
            file: path,
            db: resolved_db,
            db_source,
            log_format,
            log_filter,
            listen,
            secure_cookies,
            data_dir,
            metrics,
            read_limits: (with_env, limits_source),
            linkage: (linkage, linkage_source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jiceng.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_naming_them() {
        let (_dir, path) = file("[server]\nsecure_cookie = true\n");
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("secure_cookie") && err.contains("jiceng.toml"), "{err}");
        let (_dir, path) = file("[server]\nlisten = \"localhost\"\n");
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listen") && err.contains("invalid"), "{err}");
        let (_dir, path) = file("[database]\nurl = \"postgres://x/y\"\npath = \"a.db\"\n");
        assert!(load(Some(&path)).unwrap_err().to_string().contains("not both"));
        let (_dir, path) = file("[read_limits]\nmax_rows = 0\n");
        let loaded = load(Some(&path)).unwrap();
        let err = Settings::resolve(loaded, &DbArgs::default(), None, &ServeFlags::default()).unwrap_err();
        assert!(err.to_string().contains("max_rows"), "{err}");
        assert!(load(Some(Path::new("/no/such/jiceng.toml"))).is_err());
    }

    #[test]
    fn flags_go_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "a-long-scraper-token\n").unwrap();
        let (_d, path) = file(&format!(
            "[database]\npath = \"from-file.db\"\n[server]\nlisten = \"0.0.0.0:9000\"\nsecure_cookies = true\n\
             [log]\nformat = \"json\"\n[metrics]\ntoken_file = \"{}\"\n[read_limits]\nmax_rows = 1000\n",
            token.display()
        ));
        let s =
            Settings::resolve(load(Some(&path)).unwrap(), &DbArgs::default(), None, &ServeFlags::default()).unwrap();
        assert_eq!(s.db.db.as_deref(), Some(Path::new("from-file.db")));
        assert_eq!(s.db_source, Source::File);
        assert_eq!(s.listen, ("0.0.0.0:9000".parse().unwrap(), Source::File));
        assert_eq!(s.secure_cookies, (true, Source::File));
        assert_eq!(s.log_format, (LogFormat::Json, Source::File));
        assert_eq!(s.metrics.0, MetricsSetting::TokenFile(token.clone()));
        assert_eq!(s.metrics_access().unwrap(), MetricsAccess::Token("a-long-scraper-token".into()));
        assert_eq!(s.read_limits.0.max_rows, 1000);
        assert_eq!(s.read_limits.0.max_columns, ReadLimits::default().max_columns);

        let flags = DbArgs { db: Some(PathBuf::from("flag.db")), database_url: None };
        let serve = ServeFlags { listen: Some("127.0.0.1:7000".parse().unwrap()), ..Default::default() };
        let s = Settings::resolve(load(Some(&path)).unwrap(), &flags, Some(LogFormat::Text), &serve).unwrap();
        assert_eq!(s.db.db.as_deref(), Some(Path::new("flag.db")));
        assert_eq!(s.db_source, Source::Flag);
        assert_eq!(s.listen, ("127.0.0.1:7000".parse().unwrap(), Source::Flag));
        assert_eq!(s.log_format.0, LogFormat::Text);

        // No file: the defaults.
        let s = Settings::resolve(Loaded::default(), &DbArgs::default(), None, &ServeFlags::default()).unwrap();
        assert_eq!(s.listen.1, Source::Default);
        assert_eq!(s.metrics, (MetricsSetting::Off, Source::Default));
        assert_eq!(s.db_source, Source::Default);
    }
}
