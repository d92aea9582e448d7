//! The base every domain handle is built from: the store, the scope the caller may see
//! and who is calling from where (stamped on the audit entry of every write).
//!
//! A handle is made only through [`Store`]'s constructors, so no query of a handle can
//! be written without its scope: `Access::in_scope` adds it to reads and
//! `Access::require_scope` refuses writes outside it exactly as it refuses unknown
//! records (out of scope reads like unknown).

use std::borrow::Cow;

use jiceng_domain::org::audit::{AccessPurpose, AuditAction};
use jiceng_domain::org::{DivisionCode, Scope};
use sea_orm::sea_query::{ColumnRef, Cond, Expr, ExprTrait};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::org::NewAuditEntry;

/// Who is calling and from where, for the audit entry of each write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub username: Cow<'static, str>,
    /// The client's address, or `local` for the command line.
    pub origin: Cow<'static, str>,
}

impl Caller {
    /// Work the system does on its own (demo loads, benchmarks, tests).
    pub const SYSTEM: Caller = Caller { username: Cow::Borrowed("system"), origin: Cow::Borrowed("local") };

    /// A user at the command line.
    pub fn local(username: &str) -> Caller {
        Caller { username: Cow::Owned(username.to_string()), origin: Cow::Borrowed("local") }
    }

    /// A user of the web server at `origin`.
    pub fn remote(username: &str, origin: &str) -> Caller {
        Caller { username: Cow::Owned(username.to_string()), origin: Cow::Owned(origin.to_string()) }
    }
}

static SYSTEM: Caller = Caller::SYSTEM;

/// The scope, the caller and the store: what every domain handle holds.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub(crate) store: &'a Store,
    /// `None`: the whole database (command line, bulk work).
    pub(crate) scope: Option<&'a Scope>,
    pub(crate) caller: &'a Caller,
}

impl<'a> Access<'a> {
    pub(crate) fn new(store: &'a Store, scope: Option<&'a Scope>, caller: Option<&'a Caller>) -> Access<'a> {
        Access { store, scope, caller: caller.unwrap_or(&SYSTEM) }
    }

    /// The condition "this community column is in scope" (always true without a scope).
    pub(crate) fn in_scope(&self, column: impl Into<ColumnRef>) -> Cond {
        let Some(scope) = self.scope else { return Cond::all() };
        if scope.is_whole_country() {
            return Cond::all();
        }
        let column = column.into();
        let mut any = Cond::any();
        for node in scope.nodes() {
            any = any.add(crate::registry::subtree(node, column.clone()));
        }
        if scope.nodes().is_empty() {
            // Nobody's scope is empty but an administrator's; match nothing.
            any = any.add(Expr::val(1).eq(0));
        }
        any
    }

    /// The counties of the scope as a condition on a `county_code` column, so that a
    /// read within a county names it (one partition or shard, ADR 015). True when the
    /// scope is unrestricted or reaches above a county (such reads span counties).
    pub(crate) fn in_scope_counties(&self, column: impl Into<ColumnRef>) -> Cond {
        let Some(scope) = self.scope else { return Cond::all() };
        let mut counties = Vec::new();
        for node in scope.nodes() {
            match node.at_level(jiceng_domain::org::DivisionLevel::County) {
                Some(county) if !counties.contains(&county) => counties.push(county),
                Some(_) => {}
                None => return Cond::all(),
            }
        }
        if counties.is_empty() {
            return Cond::all();
        }
        Cond::all().add(Expr::col(column.into()).is_in(counties.iter().map(|c| c.as_str().to_string())))
    }

    /// Refuses a record in `community` outside the scope with the error a missing one
    /// gets (`what` names the kind of record).
    pub(crate) fn require_scope(&self, community: &DivisionCode, what: &str) -> StoreResult<()> {
        match self.scope {
            Some(scope) if !scope.covers(community) => Err(StoreError::NotFound { what: what.to_string() }),
            _ => Ok(()),
        }
    }

    /// The audit entry of a change this caller makes to `target` (e.g.
    /// `resident/440307/<uuid>`) in `county`.
    pub(crate) fn change_entry(&self, target: String, county: impl std::fmt::Display, detail: String) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.caller.username.to_string(),
            action: AuditAction::Write,
            target,
            county: county.to_string(),
            origin: self.caller.origin.to_string(),
            purpose: Some(AccessPurpose::RecordChange),
            detail,
        }
    }

    /// An entry of another kind (approvals, rules) by this caller.
    pub(crate) fn entry(&self, action: AuditAction, target: String, county: &str, detail: String) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.caller.username.to_string(),
            action,
            target,
            county: county.to_string(),
            origin: self.caller.origin.to_string(),
            purpose: None,
            detail,
        }
    }
}

/// Declares a domain's handle (`$handle<'a>` holding an [`Access`]) and the four ways
/// [`Store`] hands it out: unrestricted (`$all`), within a scope (`$in_scope`), as a
/// caller within a scope (`$as_caller`) and as a caller over everything (`$by`). A new
/// domain's handle is one line of this.
macro_rules! domain_handle {
    ($(#[$doc:meta])* $handle:ident { $all:ident, $in_scope:ident, $as_caller:ident, $by:ident }) => {
        $(#[$doc])*
        pub struct $handle<'a> {
            pub(crate) access: $crate::access::Access<'a>,
        }

        impl<'a> std::ops::Deref for $handle<'a> {
            type Target = $crate::access::Access<'a>;
            fn deref(&self) -> &$crate::access::Access<'a> {
                &self.access
            }
        }

        impl $crate::Store {
            /// Unrestricted: the command line, the demo, benchmarks and bulk work.
            pub fn $all(&self) -> $handle<'_> {
                $handle { access: $crate::access::Access::new(self, None, None) }
            }

            /// As a user with `scope` sees it: every query is filtered to the scope's
            /// subtrees and every write outside them is refused as not found.
            pub fn $in_scope<'a>(&'a self, scope: &'a jiceng_domain::org::Scope) -> $handle<'a> {
                $handle { access: $crate::access::Access::new(self, Some(scope), None) }
            }

            /// As `caller`, within `scope`: every write's audit entry names the caller.
            pub fn $as_caller<'a>(
                &'a self,
                scope: &'a jiceng_domain::org::Scope,
                caller: &'a $crate::access::Caller,
            ) -> $handle<'a> {
                $handle { access: $crate::access::Access::new(self, Some(scope), Some(caller)) }
            }

            /// Over everything, changed by `caller` (the command line as a named user).
            pub fn $by<'a>(&'a self, caller: &'a $crate::access::Caller) -> $handle<'a> {
                $handle { access: $crate::access::Access::new(self, None, Some(caller)) }
            }
        }
    };
}
pub(crate) use domain_handle;
