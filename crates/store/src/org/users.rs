//! Users, their scope in the region tree, passwords (argon2) and server-side sessions.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiceng_domain::org::{DivisionCode, Role};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::error::{StoreError, StoreResult, decode, decode_opt};

/// How long a session lasts without a new login.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Login attempts are counted in windows of this length from the first attempt.
pub const LOGIN_WINDOW: Duration = Duration::minutes(15);
/// Attempts one address may make at one account in a window; the next is refused
/// whatever it carries, without its password being checked.
pub const MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS: i32 = 5;
/// Attempts one address may make at any accounts in a window (guessing across names).
pub const MAX_ATTEMPTS_PER_ADDRESS: i32 = 30;
/// Attempts at one account from all addresses in a window (guessing from many
/// machines); high enough that a stranger cannot lock someone out with a few guesses.
pub const MAX_ATTEMPTS_PER_ACCOUNT: i32 = 100;

/// What a login attempt gave. `Rejected` and `Throttled` are shown alike, so the login
/// form tells nobody which accounts exist or are being guessed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Success(User),
    Rejected,
    /// Too many attempts in the window: the password was not checked.
    Throttled,
}

/// A login counter over its limit, as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLock {
    pub key: String,
    /// `pair`, `address` or `account`.
    pub kind: &'static str,
    pub address: Option<String>,
    pub username: Option<String>,
    pub attempts: i32,
    pub until: OffsetDateTime,
}

/// Argon2 with its default parameters takes about 19 MiB and a core for each check:
/// at most this many run at once (one per core), each on a blocking thread, so a burst
/// of logins queues instead of taking the server's memory.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
});

/// A hash checked for unknown usernames, so that they take as long as real ones.
static DUMMY_HASH: std::sync::LazyLock<Option<String>> =
    std::sync::LazyLock::new(|| hash_now("jiceng-dummy-password-for-unknown-users").ok());

/// Runs password work off the async runtime, one per core at most.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    let permit = HASHING.acquire().await.map_err(|e| StoreError::Password(e.to_string()))?;
    // The permit goes with the work: a request dropped while waiting for its hash does
    // not free a place while the hash is still running.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| StoreError::Password(e.to_string()))
}

fn verify_now(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// The user of a session and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user: User,
    pub csrf_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub scopes: Vec<DivisionCode>,
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub scopes: Vec<DivisionCode>,
}

pub struct Users<'a> {
    pub(crate) store: &'a Store,
}

/// A new password that is easy to read aloud (no 0/O, 1/l/I), for accounts an
/// administrator creates or resets.
pub fn generate_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..14).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

async fn hash_password(password: &str) -> StoreResult<String> {
    let password = password.to_string();
    hashing(move || hash_now(&password)).await?
}

fn hash_now(password: &str) -> StoreResult<String> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| StoreError::Password(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Password(e.to_string()))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Users<'_> {
    /// Creates a user; the username must be new.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add(&self, new: &NewUser) -> StoreResult<User> {
        let username = new.username.trim();
        if username.is_empty() || username.len() > 64 || username.chars().any(char::is_whitespace) {
            return Err(StoreError::Invalid(format!(
                "用户名“{username}”无效：须为1–64个字符且不含空格 / username '{username}' is invalid: 1–64 characters, no spaces"
            )));
        }
        if new.password.chars().count() < 8 {
            return Err(StoreError::Invalid("密码至少8个字符 / the password must have at least 8 characters".into()));
        }
        if self.by_username(username).await?.is_some() {
            return Err(StoreError::Invalid(format!(
                "用户名“{username}”已存在 / username '{username}' already exists"
            )));
        }
        let id = Uuid::now_v7();
        let hash = hash_password(&new.password).await?;
        let txn = self.store.db.begin().await?;
        txn.execute(
            Query::insert()
                .into_table("app_user")
                .columns(["id", "username", "display_name", "password_hash", "role", "created_at", "disabled"])
                .values_panic([
                    id.into(),
                    username.into(),
                    new.display_name.as_str().into(),
                    hash.into(),
                    new.role.key().into(),
                    OffsetDateTime::now_utc().into(),
                    false.into(),
                ]),
        )
        .await?;
        for scope in &new.scopes {
            txn.execute(
                Query::insert()
                    .into_table("user_scope")
                    .columns(["user_id", "division_code"])
                    .values_panic([id.into(), scope.as_str().into()]),
            )
            .await?;
        }
        txn.commit().await?;
        self.get(id).await?.ok_or_else(|| StoreError::NotFound { what: format!("用户 {username} / user {username}") })
    }

    /// Replaces a user's password, lifts the account's login locks and ends all its
    /// sessions (an administrator's reset, or `jiceng demo` printing a fresh login).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_password(&self, id: Uuid, password: &str) -> StoreResult<()> {
        self.replace_password(id, password, None).await
    }

    /// Sets the password, clears the account's login counters and ends every session
    /// of the user but `keep` (the one that changed its own password).
    async fn replace_password(&self, id: Uuid, password: &str, keep: Option<&str>) -> StoreResult<()> {
        let hash = hash_password(password).await?;
        let username = self.get(id).await?.map(|u| u.username);
        let txn = self.store.db.begin().await?;
        txn.execute(Query::update().table("app_user").value("password_hash", hash).and_where(Expr::col("id").eq(id)))
            .await?;
        let mut sessions = Query::delete();
        sessions.from_table("user_session").and_where(Expr::col("user_id").eq(id));
        if let Some(token) = keep {
            sessions.and_where(Expr::col("token_hash").ne(token_hash(token)));
        }
        txn.execute(&sessions).await?;
        if let Some(username) = username {
            txn.execute(Query::delete().from_table("login_attempt").and_where(Expr::col("username").eq(username)))
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Disables or enables an account; disabling also ends its sessions.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_disabled(&self, id: Uuid, disabled: bool) -> StoreResult<()> {
        let txn = self.store.db.begin().await?;
        txn.execute(Query::update().table("app_user").value("disabled", disabled).and_where(Expr::col("id").eq(id)))
            .await?;
        if disabled {
            txn.execute(Query::delete().from_table("user_session").and_where(Expr::col("user_id").eq(id))).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Every user, by username.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list(&self) -> StoreResult<Vec<User>> {
        let mut query = Query::select();
        query.column("id").from("app_user").order_by("username", Order::Asc);
        let mut users = Vec::new();
        for r in self.store.db.query_all(&query).await? {
            if let Some(user) = self.get(r.try_get("", "id")?).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get(&self, id: Uuid) -> StoreResult<Option<User>> {
        let mut query = select_user();
        query.and_where(Expr::col("id").eq(id));
        self.one(&query).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let mut query = select_user();
        query.and_where(Expr::col("username").eq(username.trim()));
        self.one(&query).await
    }

    async fn one(&self, query: &sea_orm::sea_query::SelectStatement) -> StoreResult<Option<User>> {
        let Some(r) = self.store.db.query_one(query).await? else { return Ok(None) };
        let id: Uuid = r.try_get("", "id")?;
        let mut scopes = Query::select();
        scopes
            .column("division_code")
            .from("user_scope")
            .and_where(Expr::col("user_id").eq(id))
            .order_by("division_code", Order::Asc);
        let scopes = self
            .store
            .db
            .query_all(&scopes)
            .await?
            .iter()
            .map(|s| {
                let code: String = s.try_get("", "division_code")?;
                decode("user_scope", "division_code", &code, DivisionCode::parse)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(user_row(&r, scopes)?))
    }

    /// Checks a login from `address`. Before any password is checked, the attempt is
    /// counted atomically in the database for the account at this address, for the
    /// address and for the account; over any limit it is refused whatever it carries.
    /// An unknown user, a wrong password and a disabled account all give `Rejected`
    /// after the same work (a dummy hash is checked for unknown names).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn login(&self, username: &str, password: &str, address: &str) -> StoreResult<LoginOutcome> {
        let username: String = username.trim().chars().take(64).collect();
        let address: String = address.chars().take(64).collect();
        let limits = [
            (format!("address:{address}"), None, MAX_ATTEMPTS_PER_ADDRESS),
            (format!("pair:{address}:{username}"), Some(&username), MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS),
            (format!("account:{username}"), Some(&username), MAX_ATTEMPTS_PER_ACCOUNT),
        ];
        // In this order, stopping at the first counter over its limit: a refused address
        // makes no rows for the names it tries, and an address refused for an account
        // adds nothing to the account's count, so one address hammering an account
        // cannot lock it for everyone else.
        for (key, account, limit) in &limits {
            if self.count_attempt(key, account.map(String::as_str)).await? > *limit {
                return Ok(LoginOutcome::Throttled);
            }
        }
        let mut query = Query::select();
        query.columns(["id", "password_hash"]).from("app_user").and_where(Expr::col("username").eq(username.as_str()));
        let row = self.store.db.query_one(&query).await?;
        let (id, hash) = match &row {
            Some(r) => (Some(r.try_get::<Uuid>("", "id")?), Some(r.try_get::<String>("", "password_hash")?)),
            None => (None, None),
        };
        let password = password.to_string();
        // The dummy hash is made (once) on the blocking thread too.
        let matches =
            hashing(move || hash.or_else(|| DUMMY_HASH.clone()).is_some_and(|h| verify_now(&h, &password))).await?;
        let Some(id) = id.filter(|_| matches) else { return Ok(LoginOutcome::Rejected) };
        // The right password clears this address's count for the account and takes its
        // attempt back from the address and the account: an office behind one address
        // logging in all day is not throttled. Windows long past are swept here.
        let db = &self.store.db;
        db.execute(Query::delete().from_table("login_attempt").and_where(Expr::col("key").eq(limits[1].0.as_str())))
            .await?;
        db.execute(
            Query::update()
                .table("login_attempt")
                .value("attempts", Expr::col("attempts").sub(1))
                .and_where(Expr::col("key").is_in([limits[0].0.as_str(), limits[2].0.as_str()]))
                .and_where(Expr::col("attempts").gt(0)),
        )
        .await?;
        let stale = OffsetDateTime::now_utc().unix_timestamp() - LOGIN_WINDOW.whole_seconds();
        db.execute(Query::delete().from_table("login_attempt").and_where(Expr::col("window_start").lt(stale))).await?;
        Ok(match self.get(id).await? {
            Some(user) if !user.disabled => LoginOutcome::Success(user),
            _ => LoginOutcome::Rejected,
        })
    }

    /// Adds one attempt to `key`'s window (a new window once the old one has passed) and
    /// gives the count, in one statement, so concurrent attempts each see their own.
    async fn count_attempt(&self, key: &str, username: Option<&str>) -> StoreResult<i32> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let stale = now - LOGIN_WINDOW.whole_seconds();
        let old = |col: &str| Expr::col(("login_attempt", col.to_string()));
        let mut upsert = Query::insert();
        upsert
            .into_table("login_attempt")
            .columns(["key", "username", "window_start", "attempts"])
            .values_panic([key.into(), username.map(str::to_string).into(), now.into(), 1.into()])
            .on_conflict(
                OnConflict::column("key")
                    .values([
                        (
                            "attempts",
                            Expr::case(old("window_start").lt(stale), 1).finally(old("attempts").add(1)).into(),
                        ),
                        (
                            "window_start",
                            Expr::case(old("window_start").lt(stale), now).finally(old("window_start")).into(),
                        ),
                    ])
                    .to_owned(),
            )
            .returning_col("attempts");
        let row = self.store.db.query_one(&upsert).await?;
        let row = row.ok_or_else(|| StoreError::Password("login_attempt: no row returned".into()))?;
        Ok(row.try_get("", "attempts")?)
    }

    /// Counters over their limit in their current window, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn login_locks(&self) -> StoreResult<Vec<LoginLock>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut query = Query::select();
        query
            .columns(["key", "username", "window_start", "attempts"])
            .from("login_attempt")
            .and_where(Expr::col("window_start").gte(now - LOGIN_WINDOW.whole_seconds()))
            .order_by("window_start", Order::Desc);
        let mut locks = Vec::new();
        for r in self.store.db.query_all(&query).await? {
            let key: String = r.try_get("", "key")?;
            let (attempts, start): (i32, i64) = (r.try_get("", "attempts")?, r.try_get("", "window_start")?);
            let username: Option<String> = r.try_get("", "username")?;
            let (kind, address, limit) = if let Some(rest) = key.strip_prefix("pair:") {
                let address = username.as_deref().and_then(|u| rest.strip_suffix(&format!(":{u}"))).unwrap_or(rest);
                ("pair", Some(address.to_string()), MAX_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS)
            } else if let Some(address) = key.strip_prefix("address:") {
                ("address", Some(address.to_string()), MAX_ATTEMPTS_PER_ADDRESS)
            } else if key.starts_with("account:") {
                ("account", None, MAX_ATTEMPTS_PER_ACCOUNT)
            } else {
                continue;
            };
            if attempts <= limit {
                continue;
            }
            let until = OffsetDateTime::from_unix_timestamp(start).unwrap_or(OffsetDateTime::UNIX_EPOCH) + LOGIN_WINDOW;
            locks.push(LoginLock { key, kind, address, username, attempts, until });
        }
        Ok(locks)
    }

    /// Lifts one lock (an administrator's action).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn clear_login_lock(&self, key: &str) -> StoreResult<()> {
        self.store.db.execute(Query::delete().from_table("login_attempt").and_where(Expr::col("key").eq(key))).await?;
        Ok(())
    }

    /// Checks a password without logging in (before a password change), counted like a
    /// login from `address`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_login(&self, username: &str, password: &str, address: &str) -> StoreResult<Option<User>> {
        Ok(match self.login(username, password, address).await? {
            LoginOutcome::Success(user) => Some(user),
            _ => None,
        })
    }

    /// Changes a password after checking the current one; every other session of the
    /// user ends (`keep` is the session making the change).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        address: &str,
        keep: Option<&str>,
    ) -> StoreResult<()> {
        if self.verify_login(&user.username, current, address).await?.is_none() {
            return Err(StoreError::Invalid("当前密码不正确 / the current password is wrong".into()));
        }
        if new.chars().count() < 8 {
            return Err(StoreError::Invalid(
                "新密码至少8个字符 / the new password must have at least 8 characters".into(),
            ));
        }
        self.replace_password(user.id, new, keep).await
    }

    /// Starts a session; only the token's hash is stored. The CSRF token is stored as
    /// is, because forms must repeat it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_session(&self, user_id: Uuid) -> StoreResult<String> {
        let token = hex::encode(rand::rng().random::<[u8; 32]>());
        let csrf = hex::encode(rand::rng().random::<[u8; 16]>());
        let now = OffsetDateTime::now_utc();
        self.store
            .db
            .execute(
                Query::insert()
                    .into_table("user_session")
                    .columns(["token_hash", "user_id", "created_at", "expires_at", "csrf_token"])
                    .values_panic([
                        token_hash(&token).into(),
                        user_id.into(),
                        now.into(),
                        (now + SESSION_LIFETIME).into(),
                        csrf.into(),
                    ]),
            )
            .await?;
        Ok(token)
    }

    /// The user of a live session, if the token names one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn session_user(&self, token: &str) -> StoreResult<Option<SessionUser>> {
        let mut query = Query::select();
        query
            .columns(["user_id", "expires_at", "csrf_token"])
            .from("user_session")
            .and_where(Expr::col("token_hash").eq(token_hash(token)));
        let Some(r) = self.store.db.query_one(&query).await? else { return Ok(None) };
        let expires: OffsetDateTime = r.try_get("", "expires_at")?;
        if expires <= OffsetDateTime::now_utc() {
            self.end_session(token).await?;
            return Ok(None);
        }
        let csrf_token: String = r.try_get("", "csrf_token")?;
        let user = self.get(r.try_get("", "user_id")?).await?.filter(|u| !u.disabled);
        Ok(user.map(|user| SessionUser { user, csrf_token }))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn end_session(&self, token: &str) -> StoreResult<()> {
        self.store
            .db
            .execute(
                Query::delete().from_table("user_session").and_where(Expr::col("token_hash").eq(token_hash(token))),
            )
            .await?;
        Ok(())
    }
}

fn select_user() -> sea_orm::sea_query::SelectStatement {
    Query::select().columns(["id", "username", "display_name", "role", "disabled"]).from("app_user").take()
}

fn user_row(r: &QueryResult, scopes: Vec<DivisionCode>) -> StoreResult<User> {
    let role: String = r.try_get("", "role")?;
    Ok(from_row!(r => User {
        id, username, display_name, disabled;
        role: decode_opt("app_user", "role", &role, Role::from_key)?,
        scopes,
    }))
}
