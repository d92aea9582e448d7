//! `jiceng config check`: every effective setting with where it came from, then what
//! would stop or weaken a server started with them — before it is started.

use std::path::{Path, PathBuf};

use jiceng_server::ops::MetricsAccess;
use serde_json::json;

use super::config::{Settings, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but an operator should know (shown, exit 0).
    Warning,
    /// Would fail or leave something open (exit 1).
    Problem,
}

impl Status {
    fn key(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "problem",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warning => "!",
            Status::Problem => "✗",
        }
    }
}

#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
}

fn check(name: &'static str, status: Status, message: impl Into<String>) -> Check {
    Check { name, status, message: message.into() }
}

/// The data directory a server would use (as `serve` works it out).
pub fn data_dir(settings: &Settings, default_file: &str) -> PathBuf {
    let dir = settings.data_dir.0.clone().unwrap_or_else(|| match (&settings.db.database_url, &settings.db.db) {
        (Some(_), _) => PathBuf::from("jiceng-data"),
        (None, Some(path)) => path.parent().map(PathBuf::from).unwrap_or_default(),
        (None, None) => PathBuf::from(default_file).parent().map(PathBuf::from).unwrap_or_default(),
    });
    if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir }
}

/// Mode bits others than the owner have on `path` (unix), if it exists.
fn open_to_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o077).filter(|bits| *bits != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

pub async fn run(settings: &Settings, default_file: &str) -> Vec<Check> {
    let mut checks = Vec::new();

    // The database: reachable, and how far its schema is (without migrating it).
    let url = settings.db.url(default_file);
    let sqlite_file = if settings.db.database_url.is_none() {
        Some(settings.db.db.clone().unwrap_or_else(|| PathBuf::from(default_file)))
    } else {
        None
    };
    match sqlite_file {
        Some(path) if !path.exists() => checks.push(check(
            "database",
            Status::Warning,
            format!(
                "SQLite 文件 {0} 尚不存在，首次启动时创建 / the SQLite file {0} does not exist yet; it is created on first start",
                path.display()
            ),
        )),
        _ => match jiceng_store::ops::probe(&url).await {
            Ok(probe) => checks.push(check(
                "database",
                Status::Ok,
                format!(
                    "{}；已执行 {} 个迁移，待执行 {} 个（启动时执行）/ {} migrations applied, {} pending (run on start){}",
                    probe.server_version,
                    probe.applied,
                    probe.pending.len(),
                    probe.applied,
                    probe.pending.len(),
                    if probe.pending.is_empty() { String::new() } else { format!(": {}", probe.pending.join(", ")) }
                ),
            )),
            Err(e) => checks.push(check(
                "database",
                Status::Problem,
                format!("无法连接 / cannot connect to {}: {e}", jiceng_store::redact(&url)),
            )),
        },
    }

    // The data directory: uploads (names, ID numbers) are kept there while read.
    let dir = data_dir(settings, default_file);
    if !dir.exists() {
        checks.push(check(
            "data_dir",
            Status::Warning,
            format!("{0} 尚不存在，启动时创建 / {0} does not exist yet; it is created on start", dir.display()),
        ));
    } else if !dir.is_dir() {
        checks.push(check(
            "data_dir",
            Status::Problem,
            format!("{0} 不是目录 / {0} is not a directory", dir.display()),
        ));
    } else {
        match tempfile::tempfile_in(&dir) {
            Err(e) => checks.push(check(
                "data_dir",
                Status::Problem,
                format!("{0} 不可写 / {0} is not writable: {e}", dir.display()),
            )),
            Ok(_) => match open_to_others(&dir) {
                Some(bits) => checks.push(check(
                    "data_dir",
                    Status::Warning,
                    format!(
                        "{0} 其他用户可访问（{bits:03o}），建议 chmod 700；上传文件另存于 0700 的 uploads/ / {0} is open to others ({bits:03o}); chmod 700 is advised (uploads sit in a 0700 uploads/ inside)",
                        dir.display()
                    ),
                )),
                None => checks.push(check("data_dir", Status::Ok, format!("{} 可写 writable", dir.display()))),
            },
        }
    }

    // Beyond loopback, the server is meant to sit behind TLS: cookies must say so.
    let (listen, _) = settings.listen;
    if !listen.ip().is_loopback() && !settings.secure_cookies.0 {
        checks.push(check(
            "secure_cookies",
            Status::Warning,
            format!(
                "监听 {listen} 而 Cookie 未标记 Secure：在 TLS 反向代理后请设 secure_cookies = true / listening on {listen} without secure cookies: behind a TLS proxy set secure_cookies = true"
            ),
        ));
    } else {
        checks.push(check("listen", Status::Ok, listen.to_string()));
    }

    let token_file = match &settings.metrics.0 {
        super::config::MetricsSetting::TokenFile(path) => Some(path.as_path()),
        _ => None,
    };
    match settings.metrics_access() {
        Err(e) => checks.push(check("metrics", Status::Problem, format!("{e:#}"))),
        Ok(MetricsAccess::Off) => checks.push(check("metrics", Status::Ok, "/metrics 关闭 off")),
        Ok(MetricsAccess::Open) => checks.push(check(
            "metrics",
            Status::Warning,
            "/metrics 无需令牌，请勿对外暴露 / /metrics needs no token: keep it off public networks",
        )),
        Ok(MetricsAccess::Token(token)) => {
            if token.chars().count() < 16 {
                checks.push(check(
                    "metrics",
                    Status::Problem,
                    "指标令牌少于 16 个字符 / the metrics token is shorter than 16 characters",
                ));
            } else if let Some(bits) = token_file.and_then(open_to_others) {
                checks.push(check(
                    "metrics",
                    Status::Problem,
                    format!(
                        "令牌文件其他用户可读（{bits:03o}），请 chmod 600 / the token file is readable by others ({bits:03o}): chmod 600 it"
                    ),
                ));
            } else {
                checks.push(check("metrics", Status::Ok, "/metrics 需令牌 needs the bearer token"));
            }
        }
    }
    checks
}

/// Prints the settings and the checks; true when nothing is a problem.
pub fn print(settings: &Settings, default_file: &str, checks: &[Check], json_output: bool) -> bool {
    let redacted_db = jiceng_store::redact(&settings.db.url(default_file));
    let limits = settings.read_limits.0;
    let metrics = match &settings.metrics.0 {
        super::config::MetricsSetting::Off => "off".to_string(),
        super::config::MetricsSetting::Open => "open".to_string(),
        super::config::MetricsSetting::Token(_) => "token".to_string(),
        super::config::MetricsSetting::TokenFile(path) => format!("token ({})", path.display()),
    };
    let rows: Vec<(&str, String, Source)> = vec![
        ("database", redacted_db, settings.db_source),
        ("listen", settings.listen.0.to_string(), settings.listen.1),
        ("secure_cookies", settings.secure_cookies.0.to_string(), settings.secure_cookies.1),
        ("data_dir", data_dir(settings, default_file).display().to_string(), settings.data_dir.1),
        ("log.format", settings.log_format.0.name().to_string(), settings.log_format.1),
        ("log.filter", settings.log_filter.0.clone(), settings.log_filter.1),
        ("metrics", metrics, settings.metrics.1),
        (
            "read_limits",
            format!(
                "rows {} · columns {} · cells {} · cell {} B · row {} B · unpacked {} B · shared strings {} B · {} s",
                limits.max_rows,
                limits.max_columns,
                limits.max_cells,
                limits.max_cell_bytes,
                limits.max_row_bytes,
                limits.max_unpacked_bytes,
                limits.max_shared_strings_bytes,
                limits.max_seconds
            ),
            settings.read_limits.1,
        ),
        (
            "linkage",
            format!(
                "match ≥ {} · review ≥ {}",
                settings.linkage.0.match_threshold, settings.linkage.0.review_threshold
            ),
            settings.linkage.1,
        ),
    ];
    let ok = !checks.iter().any(|c| c.status == Status::Problem);
    if json_output {
        let value = json!({
            "file": settings.file.as_ref().map(|p| p.display().to_string()),
            "settings": rows.iter().map(|(name, value, source)| json!({"name": name, "value": value, "source": source.key()})).collect::<Vec<_>>(),
            "checks": checks.iter().map(|c| json!({"name": c.name, "status": c.status.key(), "message": c.message})).collect::<Vec<_>>(),
            "ok": ok,
        });
        println!("{value}");
        return ok;
    }
    match &settings.file {
        Some(path) => println!("配置文件 Configuration file: {}", path.display()),
        None => println!("未给配置文件（--config / JICENG_CONFIG）/ no configuration file given"),
    }
    for (name, value, source) in &rows {
        println!("  {name:<16} {value}  ({})", source.label());
    }
    println!("检查 Checks:");
    for c in checks {
        println!("  {} {:<16} {}", c.status.mark(), c.name, c.message);
    }
    if ok {
        println!("配置可用 / the configuration is fine");
    } else {
        println!("配置有问题，见 ✗ / the configuration has problems (marked ✗)");
    }
    ok
}
