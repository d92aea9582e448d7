//! `jiceng backup` and `jiceng restore`: an online, consistent copy of the database
//! (SQLite: `VACUUM INTO`; PostgreSQL: `pg_dump --format=custom`), checked when written,
//! and a restore that runs every verify before it says the data is back.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use jiceng_store::Store;

use crate::db::DbArgs;

/// The first bytes of each kind of backup file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const PG_ARCHIVE_MAGIC: &[u8] = b"PGDMP";

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// Backups hold everyone's records: readable by their owner only.
fn make_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
    }
    Ok(())
}

/// The schema a PostgreSQL URL puts first on the search path (`?options=-c search_path=S`),
/// which is where jiceng's tables are when it is not `public`.
pub fn search_path_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').filter_map(|pair| pair.split_once('=')).filter(|(k, _)| *k == "options").find_map(|(_, v)| {
        let options = percent_decode(v);
        let at = options.find("search_path=")?;
        let value = options[at + "search_path=".len()..].split([' ', ',']).next()?.trim_matches('"').to_string();
        (!value.is_empty()).then_some(value)
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file's size for people: `7.3 MB`.
fn size(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::metadata(path)?.len();
    Ok(format!("{:.1} MB", bytes as f64 / 1_048_576.0))
}

/// Runs a PostgreSQL client program, naming the package to install when it is missing.
fn run_client(program: &str, args: &[String]) -> anyhow::Result<std::process::Output> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "找不到 {program}：请安装与服务器同版本或更新的 postgresql-client / {program} not found: install postgresql-client of the server's major version or newer"
            )
        } else {
            anyhow::anyhow!("{program}: {e}")
        }
    })?;
    if !output.status.success() {
        anyhow::bail!(
            "{program} 失败 / {program} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// Writes a backup of the database to `out` (which must not exist) while the server may
/// go on writing, then checks the copy.
pub async fn backup(db: &DbArgs, default_file: &str, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!(
            "{} 已存在，备份不覆盖文件 / {} exists: a backup never overwrites a file",
            out.display(),
            out.display()
        );
    }
    let url = db.url(default_file);
    let spinner = crate::progress::spinner("备份 Backing up");
    if is_postgres(&url) {
        let mut args =
            vec!["--format=custom".to_string(), "--no-owner".to_string(), format!("--file={}", out.display())];
        if let Some(schema) = search_path_of(&url) {
            args.push(format!("--schema={schema}"));
        }
        args.push(format!("--dbname={url}"));
        run_client("pg_dump", &args)?;
        make_private(out)?;
        spinner.set_message("检查备份 Checking the archive");
        // The archive's table of contents must read, and hold the tables that matter.
        let list = run_client("pg_restore", &["--list".to_string(), out.display().to_string()])?;
        let list = String::from_utf8_lossy(&list.stdout);
        let tables = list.lines().filter(|l| l.contains(" TABLE DATA ")).count();
        for table in ["audit_entry", "resident_version", "report_cell"] {
            if !list.lines().any(|l| l.contains(" TABLE DATA ") && l.contains(&format!(" {table} "))) {
                anyhow::bail!("备份缺少表 {table} / the archive lacks table {table}");
            }
        }
        spinner.finish_and_clear();
        println!("已备份 Backed up to {} ({}, {tables} tables; pg_restore --list reads it)", out.display(), size(out)?);
        return Ok(());
    }
    let source = sqlite_target(db, default_file)?;
    if !source.exists() {
        anyhow::bail!("数据库文件 {0} 不存在 / the database file {0} does not exist", source.display());
    }
    let store = db.open(default_file).await?;
    store.backup_sqlite(out).await.with_context(|| format!("VACUUM INTO {}", out.display()))?;
    make_private(out)?;
    store.close().await?;
    spinner.set_message("检查备份 Checking the copy");
    let copy = Store::open(&jiceng_store::sqlite_url(out)).await?;
    let problems = copy.integrity_problems().await?;
    let head = copy.audit().verify(None).await;
    copy.close().await?;
    spinner.finish_and_clear();
    if !problems.is_empty() {
        anyhow::bail!("备份不完整 / the copy is damaged: {}", problems.join("; "));
    }
    let head = head.context("备份的审计链 / the copy's audit chain")?;
    println!(
        "已备份 Backed up to {} ({}); 审计链 audit chain: {} entries, head {}",
        out.display(),
        size(out)?,
        head.entries,
        head.hash
    );
    Ok(())
}

/// The SQLite file a `--db` / `sqlite:` URL names.
fn sqlite_target(db: &DbArgs, default_file: &str) -> anyhow::Result<PathBuf> {
    match (&db.database_url, &db.db) {
        (Some(url), _) if is_postgres(url) => anyhow::bail!(
            "SQLite 备份只能恢复到 SQLite 文件（--db PATH）/ an SQLite backup restores into an SQLite file (--db PATH)"
        ),
        (Some(url), _) => {
            let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            Ok(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
        }
        (None, Some(path)) => Ok(path.clone()),
        (None, None) => Ok(PathBuf::from(default_file)),
    }
}

/// Restores `file` into the configured database and runs every check on it; true when
/// they all pass.
pub async fn restore(db: &DbArgs, default_file: &str, file: &Path, force: bool) -> anyhow::Result<bool> {
    let mut magic = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(file).with_context(|| format!("无法打开 / cannot open {}", file.display()))?;
        let n = f.read(&mut magic)?;
        if n < PG_ARCHIVE_MAGIC.len() {
            anyhow::bail!("{} 不是 jiceng 备份 / {} is not a jiceng backup", file.display(), file.display());
        }
    }
    let url = db.url(default_file);
    if magic.starts_with(PG_ARCHIVE_MAGIC) {
        if !is_postgres(&url) {
            anyhow::bail!(
                "PostgreSQL 备份只能恢复到 PostgreSQL（--database-url）/ a PostgreSQL archive restores into PostgreSQL (--database-url)"
            );
        }
        let probe = jiceng_store::ops::probe(&url).await?;
        if probe.applied > 0 && !force {
            anyhow::bail!(
                "目标数据库已有 jiceng 的表；确要覆盖请加 --force / the target database already holds jiceng's tables: add --force to replace them"
            );
        }
        let spinner = crate::progress::spinner("恢复 Restoring");
        let mut args =
            vec!["--no-owner".to_string(), "--exit-on-error".to_string(), "--single-transaction".to_string()];
        if force {
            args.extend(["--clean".to_string(), "--if-exists".to_string()]);
        }
        args.push(format!("--dbname={url}"));
        args.push(file.display().to_string());
        run_client("pg_restore", &args)?;
        spinner.finish_and_clear();
    } else if magic.starts_with(SQLITE_MAGIC) {
        let target = sqlite_target(db, default_file)?;
        if target.exists() && !force {
            anyhow::bail!(
                "{0} 已存在；确要覆盖请加 --force（先停止服务）/ {0} exists: add --force to replace it (stop the server first)",
                target.display()
            );
        }
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // Copied beside the target and checked there, then renamed into place: the
        // target is never half-written.
        let staged = tempfile::NamedTempFile::new_in(dir).context("临时文件 / temporary file")?;
        std::fs::copy(file, staged.path()).with_context(|| format!("复制 / copying {}", file.display()))?;
        make_private(staged.path())?;
        let copy = Store::open(&jiceng_store::sqlite_url(staged.path())).await?;
        let problems = copy.integrity_problems().await?;
        copy.close().await?;
        if !problems.is_empty() {
            anyhow::bail!("备份已损坏 / the backup is damaged: {}", problems.join("; "));
        }
        // A write-ahead log left by the old database would be replayed into the new one.
        for suffix in ["-wal", "-shm"] {
            let stale = PathBuf::from(format!("{}{suffix}", target.display()));
            if stale.exists() {
                std::fs::remove_file(&stale).with_context(|| format!("删除 / removing {}", stale.display()))?;
            }
        }
        staged.persist(&target).with_context(|| format!("写入 / writing {}", target.display()))?;
    } else {
        anyhow::bail!(
            "{0} 不是 jiceng 备份（SQLite 文件或 pg_dump 自定义格式）/ {0} is not a jiceng backup (an SQLite file or a pg_dump custom archive)",
            file.display()
        );
    }
    println!("已恢复 Restored {}; 检查 checking …", file.display());
    let store = db.open(default_file).await?;
    let audit = crate::org::audit::verify(&store, None).await?;
    let projections = crate::verify::run(&store, None, false).await?;
    let report = crate::reporting::report::verify(&store, &[], false).await?;
    store.close().await?;
    let all = audit && projections && report;
    if all {
        println!("恢复完成，全部检查通过 / restored; every check passed (audit verify, verify, report verify)");
    } else {
        println!("恢复后检查未通过 / a check failed after the restore (see above)");
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_read_from_the_url() {
        assert_eq!(search_path_of("postgres://p@h/db?options=-c%20search_path%3Dt_abc").as_deref(), Some("t_abc"));
        assert_eq!(
            search_path_of("postgres://p@h/db?sslmode=disable&options=-c search_path=s1,public").as_deref(),
            Some("s1")
        );
        assert_eq!(search_path_of("postgres://p@h/db"), None);
        assert_eq!(search_path_of("postgres://p@h/db?options=-c%20statement_timeout%3D5"), None);
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
