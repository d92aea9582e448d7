//! Users, their scope in the region tree, passwords (argon2) and server-side sessions.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiceng_domain::org::{DivisionCode, Role};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::error::{StoreError, StoreResult, decode, decode_opt};

/// How long a session lasts without a new login.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Wrong passwords in a row that lock an account.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::minutes(15);

/// What a login attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Success(User),
    Rejected,
    Locked { until: OffsetDateTime },
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

fn hash_password(password: &str) -> StoreResult<String> {
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
        let hash = hash_password(&new.password)?;
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

    /// Replaces a user's password and lifts a lockout (an administrator's reset, or
    /// `jiceng demo` printing a fresh login).
    pub async fn set_password(&self, id: Uuid, password: &str) -> StoreResult<()> {
        let hash = hash_password(password)?;
        self.store
            .db
            .execute(
                Query::update()
                    .table("app_user")
                    .value("password_hash", hash)
                    .value("failed_logins", 0)
                    .value("locked_until", Option::<OffsetDateTime>::None)
                    .and_where(Expr::col("id").eq(id)),
            )
            .await?;
        Ok(())
    }

    /// Disables or enables an account; disabling also ends its sessions.
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

    pub async fn get(&self, id: Uuid) -> StoreResult<Option<User>> {
        let mut query = select_user();
        query.and_where(Expr::col("id").eq(id));
        self.one(&query).await
    }

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

    /// Checks a login. An unknown user, a wrong password and a disabled account all
    /// give [`LoginOutcome::Rejected`], so a login form cannot discover usernames.
    /// [`MAX_FAILED_LOGINS`] failures in a row lock the account for [`LOCKOUT`].
    pub async fn login(&self, username: &str, password: &str) -> StoreResult<LoginOutcome> {
        let mut query = Query::select();
        query
            .columns(["id", "password_hash", "failed_logins", "locked_until"])
            .from("app_user")
            .and_where(Expr::col("username").eq(username.trim()));
        let Some(r) = self.store.db.query_one(&query).await? else { return Ok(LoginOutcome::Rejected) };
        let id: Uuid = r.try_get("", "id")?;
        let now = OffsetDateTime::now_utc();
        let locked_until: Option<OffsetDateTime> = r.try_get("", "locked_until")?;
        if let Some(until) = locked_until.filter(|u| *u > now) {
            return Ok(LoginOutcome::Locked { until });
        }
        let hash: String = r.try_get("", "password_hash")?;
        let parsed = PasswordHash::new(&hash).map_err(|e| StoreError::Password(e.to_string()))?;
        if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
            let failed: i32 = r.try_get::<i32>("", "failed_logins")? + 1;
            let lock = (failed >= MAX_FAILED_LOGINS).then_some(now + LOCKOUT);
            self.store
                .db
                .execute(
                    Query::update()
                        .table("app_user")
                        .value("failed_logins", if lock.is_some() { 0 } else { failed })
                        .value("locked_until", lock)
                        .and_where(Expr::col("id").eq(id)),
                )
                .await?;
            return Ok(match lock {
                Some(until) => LoginOutcome::Locked { until },
                None => LoginOutcome::Rejected,
            });
        }
        self.store
            .db
            .execute(
                Query::update()
                    .table("app_user")
                    .value("failed_logins", 0)
                    .value("locked_until", Option::<OffsetDateTime>::None)
                    .and_where(Expr::col("id").eq(id)),
            )
            .await?;
        Ok(match self.get(id).await? {
            Some(user) if !user.disabled => LoginOutcome::Success(user),
            _ => LoginOutcome::Rejected,
        })
    }

    /// Like [`Users::login`], for callers that only need the user.
    pub async fn verify_login(&self, username: &str, password: &str) -> StoreResult<Option<User>> {
        Ok(match self.login(username, password).await? {
            LoginOutcome::Success(user) => Some(user),
            _ => None,
        })
    }

    /// Changes a password after checking the current one.
    pub async fn change_password(&self, user: &User, current: &str, new: &str) -> StoreResult<()> {
        if self.verify_login(&user.username, current).await?.is_none() {
            return Err(StoreError::Invalid("当前密码不正确 / the current password is wrong".into()));
        }
        if new.chars().count() < 8 {
            return Err(StoreError::Invalid(
                "新密码至少8个字符 / the new password must have at least 8 characters".into(),
            ));
        }
        self.set_password(user.id, new).await
    }

    /// Starts a session; only the token's hash is stored. The CSRF token is stored as
    /// is, because forms must repeat it.
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
    Ok(User {
        id: r.try_get("", "id")?,
        username: r.try_get("", "username")?,
        display_name: r.try_get("", "display_name")?,
        role: decode_opt("app_user", "role", &role, Role::from_key)?,
        scopes,
        disabled: r.try_get("", "disabled")?,
    })
}
