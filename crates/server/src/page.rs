//! What every page shares: title, the logged-in user, breadcrumbs, the reader's language.

use std::borrow::Cow;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Html;
use axum_extra::extract::cookie::CookieJar;
use jiceng_domain::label::Labelled;

use crate::error::AppResult;
use crate::org::auth::CurrentUser;

pub const LANG_COOKIE: &str = "jiceng_lang";

/// The reader's language. Chinese pages carry English beside each label ("居民 Residents");
/// English pages show only the English part. Labels are written once, bilingually, and
/// [`Lang::text`] picks from them, so no label can exist in one language only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn from_key(key: &str) -> Option<Lang> {
        match key {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// A bilingual text in this language. Two forms are written in jiceng: labels
    /// ("居民 Residents", "公民身份号码（尚未办理可不填）ID number (if issued)") and
    /// messages ("密码已修改 / Password changed"). In English the Chinese part is dropped:
    /// everything before " / " for messages, the leading Chinese run for labels.
    pub fn text(self, bilingual: &str) -> Cow<'_, str> {
        if self == Lang::Zh {
            return Cow::Borrowed(bilingual);
        }
        if let Some((_, english)) = bilingual.split_once(" / ") {
            return Cow::Borrowed(english.trim());
        }
        let english = bilingual.trim_start_matches(|c: char| is_chinese(c) || c.is_whitespace());
        if english.is_empty() { Cow::Borrowed(bilingual) } else { Cow::Borrowed(english) }
    }

    /// The label of a coded value in this language.
    pub fn label(self, value: impl Labelled) -> &'static str {
        match self {
            Lang::Zh => value.label_zh(),
            Lang::En => value.label_en(),
        }
    }

    /// One of two texts written separately (when a sentence mixes data into both).
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Han characters and the full-width punctuation written with them.
fn is_chinese(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{303F}' // CJK punctuation: 、。「」
        | '\u{3400}'..='\u{9FFF}' // Han
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FF01}'..='\u{FF0F}' // full-width ！＂＃…（）＊＋，－．／
        | '\u{FF1A}'..='\u{FF20}' // ：；＜＝＞？＠
        | '\u{2018}'..='\u{201D}' // “” ‘’
        | '\u{2014}' | '\u{00B7}')
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(lang_of(parts))
    }
}

/// The language chosen with the switch in the page header (a cookie), else Chinese.
pub fn lang_of(parts: &Parts) -> Lang {
    CookieJar::from_headers(&parts.headers).get(LANG_COOKIE).and_then(|c| Lang::from_key(c.value())).unwrap_or_default()
}

#[derive(serde::Deserialize)]
pub struct SwitchBack {
    #[serde(default)]
    back: String,
}

/// A path on this site: starts with one `/`, never `//` or `/\` (another host), and
/// holds no whitespace or control characters (browsers drop a tab or newline, so
/// `/\t/evil.example` is `//evil.example`; a newline would also break the header).
pub fn same_site_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        && path.len() <= 2048
}

/// `GET /lang/{zh|en}?back=/path`: remembers the language in a cookie and returns to
/// the page. Only a local path is followed, so the link cannot send anyone elsewhere.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn switch_lang(
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<SwitchBack>,
    jar: CookieJar,
) -> impl axum::response::IntoResponse {
    let lang = Lang::from_key(&key).unwrap_or_default();
    let back = if same_site_path(&query.back) { query.back } else { "/".to_string() };
    let cookie = axum_extra::extract::cookie::Cookie::build((LANG_COOKIE, lang.key()))
        .path("/")
        .same_site(axum_extra::extract::cookie::SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    (jar.add(cookie), axum::response::Redirect::to(&back))
}

#[derive(Debug, Clone)]
pub struct Crumb {
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    /// The session's CSRF token, for the forms on the page (the logout button too).
    pub csrf: String,
    pub is_admin: bool,
    /// Show the import menu entry (the role records changes).
    pub can_import: bool,
    /// Show the department feeds entry (the role receives them).
    pub can_receive_feeds: bool,
    pub crumbs: Vec<Crumb>,
    pub lang: Lang,
    /// This page's path and query, for the language switch to come back to.
    pub here: String,
    /// The response's script nonce: the Content-Security-Policy runs only scripts that
    /// carry it (see `security_headers`).
    pub nonce: String,
}

tokio::task_local! {
    /// The nonce of the request being served, set by `security_headers`.
    pub static SCRIPT_NONCE: String;
}

fn script_nonce() -> String {
    SCRIPT_NONCE.try_with(String::clone).unwrap_or_default()
}

impl Chrome {
    pub fn new(title: &str, lang: Lang, here: &str) -> Self {
        Chrome {
            title: lang.text(title).into_owned(),
            user: None,
            csrf: String::new(),
            is_admin: false,
            can_import: false,
            can_receive_feeds: false,
            crumbs: Vec::new(),
            lang,
            here: here.to_string(),
            nonce: script_nonce(),
        }
    }

    pub fn for_user(title: &str, user: &CurrentUser) -> Self {
        Chrome {
            title: user.lang.text(title).into_owned(),
            user: Some(user.label()),
            csrf: user.csrf.clone(),
            is_admin: user.user.role.may(jiceng_domain::org::Permission::ManageUsers),
            can_import: user.user.role.may(jiceng_domain::org::Permission::EditRegistry),
            can_receive_feeds: user.user.role.may(jiceng_domain::org::Permission::ReceiveFeeds),
            crumbs: Vec::new(),
            lang: user.lang,
            here: user.here.clone(),
            nonce: script_nonce(),
        }
    }

    /// A bilingual label or message in the reader's language (see [`Lang::text`]).
    pub fn t<'a>(&self, bilingual: &'a str) -> Cow<'a, str> {
        self.lang.text(bilingual)
    }

    pub fn english(&self) -> bool {
        self.lang == Lang::En
    }

    /// The language switch's link: to the other language, back to this page.
    pub fn switch_href(&self) -> String {
        let other = match self.lang {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        };
        format!("/lang/{}?back={}", other.key(), urlencoding_component(&self.here))
    }
}

/// Percent-encodes a path for a query parameter (only what a path can hold matters here).
fn urlencoding_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn render(template: &impl Template) -> AppResult<Html<String>> {
    Ok(Html(template.render()?))
}

/// Formats an optional date for a table cell.
pub fn date_cell(date: Option<time::Date>) -> String {
    date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())
}

/// The language switch and the health check.
pub fn routes() -> crate::Routes {
    use axum::routing::get;
    vec![("/healthz", get(|| async { "ok" })), ("/lang/{lang}", get(switch_lang))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_drops_the_chinese_part_of_labels_and_messages() {
        assert_eq!(Lang::En.text("居民 Residents"), "Residents");
        assert_eq!(Lang::En.text("公民身份号码（尚未办理可不填）ID number (if issued)"), "ID number (if issued)");
        assert_eq!(Lang::En.text("密码已修改 / Password changed."), "Password changed.");
        assert_eq!(Lang::En.text("时间 (UTC) Time"), "(UTC) Time");
        assert_eq!(Lang::Zh.text("居民 Residents"), "居民 Residents");
        // A text with no English is shown as it is rather than as nothing.
        assert_eq!(Lang::En.text("张三"), "张三");
    }

    /// Every label written in a template carries its English: read each `page.t("…")`
    /// literal of every template and check that the English rendering has no Chinese.
    #[test]
    fn every_template_label_has_english() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("templates directory") {
            let path = entry.expect("entry").path();
            let source = std::fs::read_to_string(&path).expect("template");
            for (i, _) in source.match_indices("page.t(\"") {
                let rest = &source[i + 8..];
                let literal = &rest[..rest.find('"').expect("closing quote")];
                let english = Lang::En.text(literal);
                assert!(
                    !english.chars().any(is_chinese),
                    "{}: label {literal:?} has no English part (renders as {english:?})",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} labels found: did the template helper change name?");
    }
}
