//! Finding residents by identity number, phone, name or pinyin initials, within scope.

use jiceng_domain::registry::pinyin::looks_like_initials;
use jiceng_domain::registry::{IdNumber, Phone};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order};

use super::rows::resident_row;
use super::{Registry, ResidentVersion, resident_select};
use crate::dialect::Dialect;
use crate::error::StoreResult;
use crate::read_rows;

/// What a search term was taken to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchQuery {
    IdNumber(String),
    /// The start of an identity number (6–17 characters).
    IdPrefix(String),
    Phone(String),
    Initials(String),
    Name(String),
}

impl SearchQuery {
    /// Reads a term as people type it: a whole or partial ID number, a phone number,
    /// pinyin initials ("zs") or the start of a name. `None` for an empty term.
    pub fn parse(term: &str) -> Option<Self> {
        let term = term.trim();
        if term.is_empty() {
            return None;
        }
        if let Ok(id) = IdNumber::parse(term) {
            return Some(SearchQuery::IdNumber(id.to_string()));
        }
        if let Ok(phone) = Phone::parse(term) {
            return Some(SearchQuery::Phone(phone.to_string()));
        }
        let compact: String = term.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let id_like = compact.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 17 && c == 'X'));
        if id_like && (6..18).contains(&compact.len()) {
            return Some(SearchQuery::IdPrefix(compact));
        }
        if looks_like_initials(term) {
            return Some(SearchQuery::Initials(term.to_ascii_lowercase()));
        }
        Some(SearchQuery::Name(term.to_string()))
    }
}

/// `column` starts with `prefix`: a byte range the search index answers (m0011), and
/// LIKE beside it, which is exact however the database compares text.
fn starts_with(column: &'static str, prefix: &str, dialect: Dialect) -> Cond {
    let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let bytes = || Expr::cust(dialect.bytewise(column));
    Cond::all()
        .add(Expr::col(column).like(sea_orm::sea_query::LikeExpr::new(format!("{escaped}%")).escape('\\')))
        .add(bytes().gte(prefix))
        .add(bytes().lt(format!("{prefix}\u{10FFFF}")))
}

impl Registry<'_> {
    /// Current residents matching `query`, in scope, at most `limit`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn search(&self, query: &SearchQuery, limit: u64) -> StoreResult<Vec<ResidentVersion>> {
        let mut q = resident_select();
        let dialect = Dialect::of(&self.store.db);
        let condition = match query {
            SearchQuery::IdNumber(id) => Cond::all().add(Expr::col("id_number").eq(id.as_str())),
            SearchQuery::IdPrefix(prefix) => starts_with("id_number", prefix, dialect),
            SearchQuery::Phone(phone) => Cond::all().add(Expr::col("phone").eq(phone.as_str())),
            SearchQuery::Initials(initials) => starts_with("name_initials", initials, dialect),
            SearchQuery::Name(name) => starts_with("name", name, dialect),
        };
        // Ordering by the searched column, byte by byte, within the county lets the
        // search index return the first matches without sorting every match (hundreds
        // of thousands for a common surname in a large district).
        let order = match query {
            SearchQuery::IdNumber(_) | SearchQuery::IdPrefix(_) => "id_number",
            SearchQuery::Phone(_) | SearchQuery::Name(_) => "name",
            SearchQuery::Initials(_) => "name_initials",
        };
        q.cond_where(condition)
            .and_where(Expr::col("valid_to").is_null())
            .cond_where(self.in_scope_counties("county_code"))
            .cond_where(self.in_scope("community_code"))
            .order_by_expr(Expr::cust(dialect.bytewise(order)), Order::Asc)
            .limit(limit);
        read_rows(&self.store.db, &q, resident_row).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_read_as_people_mean_them() {
        assert_eq!(
            SearchQuery::parse(" 11010519491231002x "),
            Some(SearchQuery::IdNumber("11010519491231002X".into()))
        );
        assert_eq!(SearchQuery::parse("138 0013 8000"), Some(SearchQuery::Phone("13800138000".into())));
        assert_eq!(SearchQuery::parse("44030719"), Some(SearchQuery::IdPrefix("44030719".into())));
        assert_eq!(SearchQuery::parse("ZS"), Some(SearchQuery::Initials("zs".into())));
        assert_eq!(SearchQuery::parse("张"), Some(SearchQuery::Name("张".into())));
        assert_eq!(SearchQuery::parse("  "), None);
    }
}
