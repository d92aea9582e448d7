//! `jiceng bench logins`: N wrong-password logins at once against a local server (the
//! right password among them, 30th), on SQLite and, given `--database-url`, PostgreSQL.
//! Prints the process's peak memory and how many passwords were checked: at most the
//! five an address may try at one account in the window (ADR 011).

use std::time::Instant;

use anyhow::Context;
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_server::{AppState, ServerConfig};
use jiceng_store::Store;
use jiceng_store::org::{Divisions, LoadScope, NewUser};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::exchange::bench::{peak_rss_mb, reset_peak};

/// A jiceng server in this process on a free port of 127.0.0.1, for benchmarks that
/// are its clients; stopped when dropped.
pub(crate) struct LocalServer {
    pub(crate) address: std::net::SocketAddr,
    task: tokio::task::AbortHandle,
    /// The server's data directory (uploads), removed with it.
    _data: tempfile::TempDir,
}

impl LocalServer {
    /// Adds `user` (who then logs in over HTTP) and starts serving `store`.
    pub(crate) async fn start(store: &Store, user: NewUser) -> anyhow::Result<LocalServer> {
        store.users().add(&user).await?;
        let data = tempfile::tempdir().context("临时目录 / temporary directory")?;
        let config = ServerConfig::new(data.path().to_path_buf()).map_err(anyhow::Error::msg)?;
        let state = AppState::new(store.clone(), config)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(jiceng_server::serve(state, listener)).abort_handle();
        Ok(LocalServer { address, task, _data: data })
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Serialize)]
pub struct LoginBench {
    pub database: &'static str,
    pub attempts: usize,
    pub seconds: f64,
    /// Responses: 303 (logged in), 401 (refused), anything else.
    pub logged_in: usize,
    pub refused: usize,
    pub other: usize,
    /// Passwords actually checked (audit entries "rejected" or "success").
    pub passwords_checked: usize,
    /// Peak resident memory of the process (server and clients) during the burst.
    pub peak_rss_mb: f64,
}

/// One login over a fresh connection; the response's status code.
async fn attempt(address: std::net::SocketAddr, username: &str, password: &str) -> u16 {
    let body = format!("username={username}&password={password}");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else { return 0 };
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn measure(database: &'static str, store: Store, attempts: usize) -> anyhow::Result<LoginBench> {
    let county = DivisionCode::parse("440307")?;
    store.divisions().load(&Divisions::reference(&LoadScope::counties(vec![county.clone()]))?, |_| {}).await?;
    let username = format!("bench-{}-{}", std::process::id(), database);
    let password = "the right password";
    let server = LocalServer::start(
        &store,
        NewUser {
            username: username.clone(),
            display_name: username.clone(),
            password: password.into(),
            role: Role::GridWorker,
            scopes: vec![county],
        },
    )
    .await?;
    let address = server.address;
    reset_peak();
    let start = Instant::now();
    let tasks: Vec<_> = (0..attempts)
        .map(|i| {
            let username = username.clone();
            tokio::spawn(async move {
                let guess = if i == 29 { password.to_string() } else { format!("wrong-{i}") };
                attempt(address, &username, &guess).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap_or(0));
    }
    let seconds = start.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    drop(server);
    let entries = store.audit().for_target(None, "login", (attempts * 2) as u64).await?;
    let passwords_checked =
        entries.iter().filter(|e| e.actor == username && matches!(e.detail.as_str(), "rejected" | "success")).count();
    Ok(LoginBench {
        database,
        attempts,
        seconds,
        logged_in: statuses.iter().filter(|s| **s == 303).count(),
        refused: statuses.iter().filter(|s| **s == 401).count(),
        other: statuses.iter().filter(|s| **s != 303 && **s != 401).count(),
        passwords_checked,
        peak_rss_mb: peak,
    })
}

pub async fn run(attempts: usize, postgres_url: Option<&str>, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let mut results = vec![
        measure("sqlite", Store::open(&jiceng_store::sqlite_url(&dir.path().join("logins.db"))).await?, attempts)
            .await?,
    ];
    if let Some(url) = postgres_url {
        results.push(measure("postgres", Store::open(url).await?, attempts).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!("{attempts} 次同时登录（第30次为正确密码）/ {attempts} logins at once (the 30th with the right password)");
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "database", "seconds", "303", "401", "other", "checked", "peak MB"
    );
    for r in &results {
        println!(
            "{:<10} {:>8.2} {:>8} {:>8} {:>8} {:>10} {:>10.0}",
            r.database, r.seconds, r.logged_in, r.refused, r.other, r.passwords_checked, r.peak_rss_mb
        );
    }
    let worst = results.iter().map(|r| r.passwords_checked).max().unwrap_or(0);
    println!(
        "检查的密码最多 {worst} 个（上限 {}）/ at most {worst} passwords checked (limit {})",
        jiceng_store::org::MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS,
        jiceng_store::org::MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS
    );
    Ok(())
}
