//! `jiceng bench search`: many clients searching at once, as people do at the start of a
//! working day — the search page over HTTP (session, scope, audit entry, page), against
//! the floor of the same work: the same searches run on the store directly (no HTTP, no
//! page, no audit), with as many tasks at once. On SQLite and, given `--database-url`,
//! PostgreSQL, on a synthetic county of `--residents` people.
//!
//! Clients either send as fast as answers come (closed loop: the throughput a machine
//! can give, where latency is mostly waiting in line), or, with `--rate`, each on a
//! fixed schedule so that together they send that many a second (open loop, as people
//! searching now and then do): a late answer does not push the next request's due time
//! back, and latency counts from when a request was due, not when it could be sent
//! (as wrk2 does, against coordinated omission).

use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use jiceng_domain::org::{DivisionCode, Role, Scope};
use jiceng_store::Store;
use jiceng_store::org::{Divisions, LoadScope, NewUser};
use jiceng_store::registry::SearchQuery;
use serde::Serialize;

use crate::registry::generate;

/// What people type: pinyin initials, a surname, the start of an ID number.
const TERMS: &[&str] = &["zs", "wl", "lj", "cy", "zw", "王", "李", "张", "陈", "440307", "4305"];

/// The PostgreSQL schema a run works in (dropped afterwards).
const POSTGRES_SCHEMA: &str = "jiceng_bench_search";

#[derive(Debug, Serialize)]
pub struct SearchMeasurement {
    pub database: &'static str,
    /// `floor` (the store's search alone) or `http` (the search page).
    pub kind: &'static str,
    pub clients: usize,
    /// Requests a second all clients were scheduled to send together; `None` for a
    /// closed loop.
    pub rate: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    /// Why the first failed request failed.
    pub first_error: Option<String>,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// When a client sends its requests.
#[derive(Clone, Copy)]
enum Pace {
    /// The next as soon as the last is answered.
    Closed,
    /// Client `i` of `n` at `start + interval × (k + i / n)` for its `k`-th request, where
    /// `interval` is `n / rate`.
    Open { rate: f64 },
}

impl Pace {
    fn rate(self) -> Option<f64> {
        match self {
            Pace::Closed => None,
            Pace::Open { rate } => Some(rate),
        }
    }

    /// A client's schedule: when its `k`-th request is due.
    fn schedule(self, start: Instant, client: usize, clients: usize) -> impl Fn(u64) -> Option<Instant> {
        let timing = match self {
            Pace::Closed => None,
            Pace::Open { rate } => {
                let interval = Duration::from_secs_f64(clients as f64 / rate);
                Some((start + interval.mul_f64(client as f64 / clients as f64), interval))
            }
        };
        move |k| timing.map(|(first, interval)| first + interval.mul_f64(k as f64))
    }
}

/// Waits until a request is due (open loop) and returns the instant its latency counts
/// from; `None` once that is past `until`.
async fn due(schedule: &impl Fn(u64) -> Option<Instant>, k: u64, until: Instant) -> Option<Instant> {
    match schedule(k) {
        None => Some(Instant::now()).filter(|now| *now < until),
        Some(due) if due >= until => None,
        Some(due) => {
            tokio::time::sleep_until(due.into()).await;
            Some(due)
        }
    }
}

/// Latencies of every request one client made, how many failed, and why the first did.
#[derive(Default)]
struct ClientRun {
    micros: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl ClientRun {
    fn fail(&mut self, why: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }
}

fn summarise(
    database: &'static str,
    kind: &'static str,
    clients: usize,
    pace: Pace,
    seconds: f64,
    runs: Vec<ClientRun>,
) -> SearchMeasurement {
    let errors = runs.iter().map(|r| r.errors).sum();
    let first_error = runs.iter().find_map(|r| r.first_error.clone());
    let mut micros: Vec<u64> = runs.into_iter().flat_map(|r| r.micros).collect();
    micros.sort_unstable();
    let at = |q: f64| -> f64 {
        if micros.is_empty() {
            return 0.0;
        }
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        micros[i] as f64 / 1000.0
    };
    SearchMeasurement {
        database,
        kind,
        clients,
        rate: pace.rate(),
        requests: micros.len() as u64,
        errors,
        first_error,
        seconds,
        per_second: micros.len() as f64 / seconds,
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: micros.last().map_or(0.0, |m| *m as f64 / 1000.0),
    }
}

/// A term as a query string value (UTF-8, percent-encoded).
fn query_value(term: &str) -> String {
    term.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Logs in over HTTP; the session cookie (`name=value`).
async fn log_in(address: std::net::SocketAddr, username: &str, password: &str) -> anyhow::Result<String> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let body = format!("username={}&password={}", query_value(username), query_value(password));
    let request = hyper::Request::post("/login")
        .header("host", address.to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(jiceng_server::org::auth::SESSION_COOKIE))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    cookie.with_context(|| format!("登录失败 / the bench user could not log in ({})", response.status()))
}

/// One client: a kept-alive connection sending searches one after another, at its pace,
/// until `until`.
async fn http_client(
    address: std::net::SocketAddr,
    cookie: String,
    schedule: impl Fn(u64) -> Option<Instant>,
    first: usize,
    until: Instant,
) -> ClientRun {
    let mut run = ClientRun::default();
    let mut connection = None;
    let mut n = first;
    let mut k = 0;
    while let Some(start) = due(&schedule, k, until).await {
        k += 1;
        if connection.is_none() {
            let stream = match tokio::net::TcpStream::connect(address).await {
                Ok(stream) => stream,
                Err(e) => {
                    run.fail(|| format!("connect: {e}"));
                    continue;
                }
            };
            match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await {
                Ok((sender, conn)) => {
                    tokio::spawn(conn);
                    connection = Some(sender);
                }
                Err(e) => {
                    run.fail(|| format!("handshake: {e}"));
                    continue;
                }
            }
        }
        let Some(sender) = connection.as_mut() else { continue };
        let term = TERMS[n % TERMS.len()];
        n += 1;
        let request = hyper::Request::get(format!("/search?q={}", query_value(term)))
            .header("host", address.to_string())
            .header("cookie", cookie.as_str())
            .body(Empty::<Bytes>::new());
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                run.fail(|| format!("request: {e}"));
                continue;
            }
        };
        let outcome = match sender.send_request(request).await {
            // The whole page is read: a search is done when its page has arrived.
            Ok(response) => match (response.status(), response.into_body().collect().await) {
                (hyper::StatusCode::OK, Ok(_)) => Ok(()),
                (status, Ok(body)) => {
                    let body = body.to_bytes();
                    Err(format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
                }
                (status, Err(e)) => Err(format!("{status}, body: {e}")),
            },
            Err(e) => Err(format!("send: {e}")),
        };
        match outcome {
            Ok(()) => run.micros.push(start.elapsed().as_micros() as u64),
            Err(why) => {
                run.fail(|| why);
                connection = None;
            }
        }
    }
    run
}

/// Builds the county, then for each pace measures the store's search (the floor) and
/// the search page.
async fn measure(
    database: &'static str,
    store: Store,
    residents: u64,
    county: &DivisionCode,
    clients: usize,
    paces: &[Pace],
    seconds: u64,
) -> anyhow::Result<Vec<SearchMeasurement>> {
    let today = time::OffsetDateTime::now_utc().date();
    store.divisions().load(&Divisions::reference(&LoadScope::counties(vec![county.clone()]))?, |_| {}).await?;
    generate::populate(&store, generate::plan(county, residents, 1, today)?, "bench").await?;
    store.refresh_statistics().await?;
    let scope = Scope::new(Role::District, vec![county.clone()]);
    // The search page, through a server on a free local port.
    let username = format!("bench-search-{}", std::process::id());
    let password = jiceng_store::org::generate_password();
    let server = crate::org::bench::LocalServer::start(
        &store,
        NewUser {
            username: username.clone(),
            display_name: username.clone(),
            password: password.clone(),
            role: Role::District,
            scopes: vec![county.clone()],
        },
    )
    .await?;
    let address = server.address;
    let cookie = log_in(address, &username, &password).await?;

    let mut measurements = Vec::new();
    for &pace in paces {
        // The floor: the store's search alone, from as many tasks at once.
        let start = Instant::now();
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let (store, scope) = (store.clone(), scope.clone());
                let schedule = pace.schedule(start, i, clients);
                tokio::spawn(async move {
                    let mut run = ClientRun::default();
                    let mut n = i;
                    let mut k = 0;
                    while let Some(t) = due(&schedule, k, until).await {
                        k += 1;
                        let Some(query) = SearchQuery::parse(TERMS[n % TERMS.len()]) else { break };
                        n += 1;
                        let limit = jiceng_server::registry::search::SEARCH_LIMIT;
                        match store.registry_in(&scope).search(&query, limit).await {
                            Ok(_) => run.micros.push(t.elapsed().as_micros() as u64),
                            Err(e) => run.fail(|| e.to_string()),
                        }
                    }
                    run
                })
            })
            .collect();
        let mut runs = Vec::new();
        for task in tasks {
            runs.push(task.await?);
        }
        measurements.push(summarise(database, "floor", clients, pace, start.elapsed().as_secs_f64(), runs));

        let start = Instant::now();
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(http_client(address, cookie.clone(), pace.schedule(start, i, clients), i, until)))
            .collect();
        let mut runs = Vec::new();
        for task in tasks {
            runs.push(task.await?);
        }
        measurements.push(summarise(database, "http", clients, pace, start.elapsed().as_secs_f64(), runs));
    }
    drop(server);
    Ok(measurements)
}

/// `rates`: besides the closed loop, one open-loop measurement per rate (requests a
/// second from all clients together, each on its schedule).
pub async fn run(
    residents: u64,
    county: &DivisionCode,
    clients: usize,
    rates: &[f64],
    seconds: u64,
    postgres_url: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut paces = vec![Pace::Closed];
    for &rate in rates {
        if !(rate > 0.0 && rate.is_finite()) {
            anyhow::bail!("--rate 须为正数 / --rate must be a positive number, not {rate}");
        }
        paces.push(Pace::Open { rate });
    }
    let dir = tempfile::tempdir().context("临时目录 / temporary directory")?;
    let sqlite = Store::open(&jiceng_store::sqlite_url(&dir.path().join("search.db"))).await?;
    let mut results = Vec::new();
    results.extend(measure("sqlite", sqlite.clone(), residents, county, clients, &paces, seconds).await?);
    sqlite.close().await?;
    if let Some(url) = postgres_url {
        let pg = jiceng_store::exchange::bench::postgres_schema(url, POSTGRES_SCHEMA).await?;
        let result = measure("postgres", pg.clone(), residents, county, clients, &paces, seconds).await;
        pg.close().await?;
        jiceng_store::exchange::bench::drop_postgres_schema(url, POSTGRES_SCHEMA).await?;
        results.extend(result?);
    }
    if json {
        println!("{}", serde_json::to_string(&results)?);
        return Ok(());
    }
    println!(
        "查询基准 search benchmark: {residents} residents, {clients} clients at once, {seconds} s each; terms {}",
        TERMS.join(" ")
    );
    println!(
        "闭环 closed loop: each client's next request when the last is answered; \
         开环 open loop: requests scheduled at the given rate, latency counted from when each was due"
    );
    println!(
        "{:<10} {:<6} {:<14} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "database", "kind", "pace", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for m in &results {
        if let Some(why) = &m.first_error {
            eprintln!("{} {}: {} 次失败，首次 / {} failed, the first: {why}", m.database, m.kind, m.errors, m.errors);
        }
        println!(
            "{:<10} {:<6} {:<14} {:>9} {:>8} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            m.database,
            m.kind,
            m.rate.map_or("closed".to_string(), |r| format!("open {r}/s")),
            m.requests,
            m.errors,
            m.per_second,
            m.p50_ms,
            m.p90_ms,
            m.p99_ms,
            m.max_ms
        );
    }
    Ok(())
}
