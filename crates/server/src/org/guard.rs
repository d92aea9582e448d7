//! The guard chain every handler starts from (Vaultwarden's `Headers → OrgHeaders →
//! AdminHeaders` is the model): [`CurrentUser`] (a session) → [`Viewer`] (a role that
//! may do `P`, with its scope and the scoped store handles) → [`Editor`] (the same, and
//! the session's CSRF token came with the request). A handler names the guard it needs in
//! its signature and cannot start without it; no handler checks a token, a role or a path
//! code by hand. Paths carry typed keys ([`RecordKey`], [`NodeCode`]).

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OriginalUri, Path, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiceng_domain::org::{DivisionCode, DivisionLevel, Permission, Scope};
use jiceng_store::Store;
use jiceng_store::fieldwork::{Fieldwork, Party};
use jiceng_store::linkage::Linkage;
use jiceng_store::registry::{HouseholdVersion, Registry, ResidentVersion};
use jiceng_store::reporting::{ChangeEvent, Reporting};
use uuid::Uuid;

use super::auth::CurrentUser;
use crate::AppState;
use crate::error::{AppError, AppResult};

/// What a guard requires of the user's role.
pub trait Needs: Send + Sync + 'static {
    /// `None`: any signed-in user (their own password, logging out).
    const PERMISSION: Option<Permission>;
}

macro_rules! needs {
    ($($(#[$doc:meta])* $name:ident => $permission:expr;)*) => {
        $($(#[$doc])* pub struct $name; impl Needs for $name { const PERMISSION: Option<Permission> = $permission; })*
    };
}

needs! {
    /// Open registry pages and records.
    View => Some(Permission::ViewRegistry);
    /// Search people.
    Search => Some(Permission::SearchRegistry);
    /// Record residents, households and changes.
    Edit => Some(Permission::EditRegistry);
    /// Export lists of residents.
    Export => Some(Permission::ExportRegistry);
    /// Report events into the review chain (and review them, by level).
    Report => Some(Permission::ReportEvents);
    /// Manage users (and departments and their tokens).
    Manage => Some(Permission::ManageUsers);
    /// Take in departments' feed files.
    Feeds => Some(Permission::ReceiveFeeds);
    /// See who read a record.
    Audit => Some(Permission::ViewAudit);
    /// Anyone signed in.
    Anyone => None;
}

/// A signed-in user with their scope and the store handles built on it: what every
/// [`Viewer`] and [`Editor`] holds, and what helpers shared by handlers take.
pub struct Scoped {
    pub session: CurrentUser,
    pub scope: Scope,
    store: Store,
}

impl Scoped {
    /// The registry as this user sees and changes it.
    pub fn registry(&self) -> Registry<'_> {
        self.store.registry_as(&self.scope, &self.session.caller)
    }

    /// Reports and events as this user sees and changes them.
    pub fn reporting(&self) -> Reporting<'_> {
        self.store.reporting_as(&self.scope, &self.session.caller)
    }

    /// Field work as this user sees and changes it.
    pub fn fieldwork(&self) -> Fieldwork<'_> {
        self.store.fieldwork_as(&self.scope, &self.session.caller)
    }

    /// Departments' feeds and their linkage as this user sees and changes them.
    pub fn linkage(&self) -> Linkage<'_> {
        self.store.linkage_as(&self.scope, &self.session.caller)
    }

    /// Partner regions and their packages as this user sees and changes them.
    pub fn exchange(&self) -> jiceng_store::exchange::Exchange<'_> {
        self.store.exchange_as(&self.scope, &self.session.caller)
    }

    /// A resident's current record as this user may see it; outside the scope it reads
    /// exactly like a resident that does not exist.
    pub async fn resident(&self, county: &DivisionCode, id: Uuid) -> AppResult<ResidentVersion> {
        self.registry().resident(county, id).await?.ok_or_else(|| AppError::not_found("居民 Resident"))
    }

    /// A household's current record as this user may see it (outside the scope: not found).
    pub async fn household(&self, county: &DivisionCode, id: Uuid) -> AppResult<HouseholdVersion> {
        self.registry().household(county, id).await?.ok_or_else(|| AppError::not_found("户 Household"))
    }

    /// A change event as this user may see it (outside the scope: not found).
    pub async fn event(&self, county: &DivisionCode, id: Uuid) -> AppResult<ChangeEvent> {
        self.reporting().event(county, id).await?.ok_or_else(|| AppError::not_found("事件 Event"))
    }

    /// A landlord or employer as this user may see it (outside the scope: not found).
    pub async fn party(&self, county: &DivisionCode, id: Uuid) -> AppResult<Party> {
        self.fieldwork().party(county, id).await?.ok_or_else(|| AppError::not_found("房东或单位 Party"))
    }

    /// Refuses (403) a user who may read `community` but not do `permission` there (a
    /// form page for a community the user may only read).
    pub fn require_on(&self, permission: Permission, community: &DivisionCode) -> AppResult<()> {
        if self.scope.allows(permission, community) { Ok(()) } else { Err(AppError::Forbidden) }
    }
}

impl Deref for Scoped {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.session
    }
}

/// Why a guard turned a request away, rendered as the caller reads errors: JSON under
/// `/api/`, a page elsewhere.
pub struct Refused {
    error: AppError,
    api: bool,
}

impl Refused {
    fn new(parts: &Parts, error: AppError) -> Self {
        let path = parts.extensions.get::<OriginalUri>().map(|u| u.path()).unwrap_or_else(|| parts.uri.path());
        Refused { error, api: path.starts_with("/api/") }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        // Signing in is a page for API callers too: they are sent to it, as always.
        if self.api && !matches!(self.error, AppError::LoginRequired) {
            crate::api::ApiError(self.error).into_response()
        } else {
            self.error.into_response()
        }
    }
}

/// A signed-in user whose role may do `P`.
pub struct Viewer<P: Needs = View>(pub Scoped, PhantomData<P>);

impl<P: Needs> Deref for Viewer<P> {
    type Target = Scoped;

    fn deref(&self) -> &Scoped {
        &self.0
    }
}

impl<P: Needs> FromRequestParts<AppState> for Viewer<P> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await.map_err(|e| Refused::new(parts, e))?;
        if let Some(permission) = P::PERMISSION {
            user.require(permission).map_err(|e| Refused::new(parts, e))?;
        }
        Ok(Viewer(Scoped { scope: user.scope(), session: user, store: state.store.clone() }, PhantomData))
    }
}

/// A [`Viewer`] whose request changes something: the session's CSRF token came with it
/// (the `x-csrf-token` header, or the form's `csrf` field read by [`read_csrf_token`]).
pub struct Editor<P: Needs = Edit>(pub Viewer<P>);

impl<P: Needs> Deref for Editor<P> {
    type Target = Viewer<P>;

    fn deref(&self) -> &Viewer<P> {
        &self.0
    }
}

impl<P: Needs> FromRequestParts<AppState> for Editor<P> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::<P>::from_request_parts(parts, state).await?;
        let sent = parts.extensions.get::<SubmittedCsrf>().map(|t| t.0.as_str()).unwrap_or("");
        // Tokens are random and compared whole; length differences leak nothing useful.
        if viewer.csrf.is_empty() || viewer.csrf != sent {
            return Err(Refused::new(parts, AppError::Forbidden));
        }
        Ok(Editor(viewer))
    }
}

/// The CSRF token a state-changing request carried, found by [`read_csrf_token`].
#[derive(Clone)]
struct SubmittedCsrf(String);

/// How much of a form body is read for its token (axum's own form limit).
const FORM_LIMIT: usize = 2 << 20;
/// How far into a multipart body its first part (the token) must end.
const MULTIPART_PREFIX_LIMIT: usize = 8 << 10;

/// Finds the CSRF token of a state-changing request so that [`Editor`] can check it
/// before the handler runs: the `x-csrf-token` header (scripts), the `csrf` field of a
/// url-encoded form (the body is read, bounded, and handed on), or the first part of a
/// multipart form, which every upload form sends first — so the token is checked before
/// a byte of the file is read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn read_csrf_token(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let header_token = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let (token, body) = if header_token.is_some() {
        (header_token, body)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "表单过大 / the form is too large").into_response();
        };
        let token = form_field(&bytes, "csrf");
        (token, axum::body::Body::from(bytes))
    } else if content_type.starts_with("multipart/form-data") {
        match multipart_boundary(&content_type, &parts) {
            Some(boundary) => first_part_token(body, &boundary).await,
            None => (None, body),
        }
    } else {
        (None, body)
    };
    if let Some(token) = token {
        parts.extensions.insert(SubmittedCsrf(token));
    }
    next.run(Request::from_parts(parts, body)).await
}

fn form_field(bytes: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The boundary as sent (its case matters; the lowered header is only for matching).
fn multipart_boundary(lowered: &str, parts: &Parts) -> Option<String> {
    let at = lowered.find("boundary=")? + "boundary=".len();
    let raw = parts.headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let value = raw.get(at..)?.split(';').next()?.trim().trim_matches('"');
    (!value.is_empty()).then(|| value.to_string())
}

/// Reads a multipart body up to the end of its first part; the token is that part's
/// value when it is named `csrf`. The bytes read go back in front of the rest.
async fn first_part_token(body: axum::body::Body, boundary: &str) -> (Option<String>, axum::body::Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut prefix = Vec::new();
    let end = format!("\r\n--{boundary}");
    let mut failed = None;
    while prefix.len() < MULTIPART_PREFIX_LIMIT && !contains(&prefix, end.as_bytes()) {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => break,
        }
    }
    let token = csrf_part(&prefix, boundary);
    let head = futures_util::stream::iter([Ok::<_, axum::Error>(axum::body::Bytes::from(prefix))]);
    let tail = futures_util::stream::iter(failed.map(Err));
    (token, axum::body::Body::from_stream(head.chain(tail).chain(stream)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn csrf_part(prefix: &[u8], boundary: &str) -> Option<String> {
    let prefix = prefix.get(..prefix.len().min(MULTIPART_PREFIX_LIMIT))?;
    // Only the first part is text: the file after it may be binary (a package, a workbook).
    let end = format!("\r\n--{boundary}");
    let first = prefix.windows(end.len()).position(|w| w == end.as_bytes()).map_or(prefix.len(), |at| at + end.len());
    let text = std::str::from_utf8(&prefix[..first]).ok()?;
    let rest = text.strip_prefix(&format!("--{boundary}\r\n"))?;
    let (headers, rest) = rest.split_once("\r\n\r\n")?;
    let named_csrf = headers.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("content-disposition:") && line.contains("name=\"csrf\"")
    });
    let (value, _) = rest.split_once(&format!("\r\n--{boundary}"))?;
    named_csrf.then(|| value.to_string())
}

/// A record's key in a path, `/{county}/{id}`: the county code (validated as a county)
/// and the record's id.
#[derive(Debug, Clone)]
pub struct RecordKey {
    pub county: DivisionCode,
    pub id: Uuid,
}

impl RecordKey {
    /// The audit target of this record (`resident/440307/<id>`).
    pub fn target(&self, kind: &str) -> String {
        format!("{kind}/{}/{}", self.county, self.id)
    }
}

pub(crate) fn parse_county(county: &str) -> AppResult<DivisionCode> {
    let code = parse_code(county)?;
    if code.level() != DivisionLevel::County {
        return Err(AppError::BadRequest(format!("{code} 不是县级代码 / {code} is not a county code")));
    }
    Ok(code)
}

pub(crate) fn parse_code(code: &str) -> AppResult<DivisionCode> {
    DivisionCode::parse(code).map_err(|e| AppError::BadRequest(e.to_string()))
}

fn path_error(e: axum::extract::rejection::PathRejection) -> AppError {
    AppError::BadRequest(format!("路径有误 / bad path: {e}"))
}

impl<S: Send + Sync> FromRequestParts<S> for RecordKey {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((county, id)) = Path::<(String, Uuid)>::from_request_parts(parts, state)
            .await
            .map_err(|e| Refused::new(parts, path_error(e)))?;
        Ok(RecordKey { county: parse_county(&county).map_err(|e| Refused::new(parts, e))?, id })
    }
}

/// A record under another record, `/{county}/{id}/{part}` (an event's attachment).
pub struct PartKey(pub RecordKey, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PartKey {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((county, id, part)) = Path::<(String, Uuid, Uuid)>::from_request_parts(parts, state)
            .await
            .map_err(|e| Refused::new(parts, path_error(e)))?;
        Ok(PartKey(RecordKey { county: parse_county(&county).map_err(|e| Refused::new(parts, e))?, id }, part))
    }
}

/// A division's code in a path, `/{code}`.
pub struct NodeCode(pub DivisionCode);

impl<S: Send + Sync> FromRequestParts<S> for NodeCode {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(code) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|e| Refused::new(parts, path_error(e)))?;
        Ok(NodeCode(parse_code(&code).map_err(|e| Refused::new(parts, e))?))
    }
}

/// A partner region of a county, `/{county}/{partner}`.
pub struct PartnerKey {
    pub county: DivisionCode,
    pub partner: DivisionCode,
}

impl<S: Send + Sync> FromRequestParts<S> for PartnerKey {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((county, partner)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| Refused::new(parts, path_error(e)))?;
        let county = parse_county(&county).map_err(|e| Refused::new(parts, e))?;
        let partner = parse_code(&partner).map_err(|e| Refused::new(parts, e))?;
        Ok(PartnerKey { county, partner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_first_part_only_when_named_csrf() {
        let b = "XyZ";
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc123\r\n--XyZ\r\nrest";
        assert_eq!(csrf_part(body.as_bytes(), b).as_deref(), Some("abc123"));
        let other = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc123\r\n--XyZ\r\n";
        assert_eq!(csrf_part(other.as_bytes(), b), None);
        // A binary file right after the token part (a package, a workbook).
        let mut binary = body.as_bytes().to_vec();
        binary.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x28\xb5\x2f\xfd\xff\xfe");
        assert_eq!(csrf_part(&binary, b).as_deref(), Some("abc123"));
        // Cut before the part ends: no token.
        assert_eq!(csrf_part(&body.as_bytes()[..40], b), None);
        assert_eq!(csrf_part(b"", b), None);
    }

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(form_field(b"a=1&csrf=x%2By&b=2", "csrf").as_deref(), Some("x+y"));
        assert_eq!(form_field(b"a=1", "csrf"), None);
        assert_eq!(form_field(&[0xff, 0xfe], "csrf"), None);
    }

    #[test]
    fn every_upload_form_sends_its_token_first() {
        // The token is read from the first part only (so that a file is not read before
        // it); a form that put it later would be refused on every upload.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut forms = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (at, _) in text.match_indices("enctype=\"multipart/form-data\"") {
                let first_input = text[at..].split("<input").nth(1).unwrap_or("");
                assert!(first_input.trim_start().starts_with("type=\"hidden\" name=\"csrf\""), "{}", &text[at..]);
                forms += 1;
            }
        }
        assert!(forms >= 3, "found {forms} upload forms");
    }
}
