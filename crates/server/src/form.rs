//! The one way a form is read and drawn again: its values as typed, each field's error,
//! and the fields a template shows (the record forms and the event form use the same).

use std::collections::HashMap;

use jiceng_domain::label::Labelled;

use crate::page::Lang;

/// A form's values by field name, as typed.
pub(crate) type Values = HashMap<String, String>;

/// Errors by field name, shown next to each field.
pub(crate) type FieldErrors = HashMap<&'static str, String>;

/// A value as typed, trimmed ("" when the form left it out).
pub(crate) fn value<'a>(values: &'a Values, name: &str) -> &'a str {
    values.get(name).map(String::as_str).unwrap_or("").trim()
}

/// One field of a form as a template draws it.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// The input's type (`date`, `checkbox`, `textarea`…; `select` for a choice).
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub error: Option<String>,
}

/// Draws one form's fields: what was typed, what was wrong with it, and the reader's
/// language.
pub(crate) struct Drawing<'a> {
    pub(crate) values: &'a Values,
    pub(crate) errors: &'a FieldErrors,
    pub(crate) lang: Lang,
}

impl Drawing<'_> {
    /// An input field, filled with what was typed and marked with its error.
    pub(crate) fn input(&self, name: &'static str, label: &'static str, kind: &'static str) -> Field {
        Field {
            name,
            label,
            kind,
            value: value(self.values, name).to_string(),
            options: Vec::new(),
            error: self.errors.get(name).cloned(),
        }
    }

    /// A choice among `options` (key, label).
    pub(crate) fn choice(&self, name: &'static str, label: &'static str, options: Vec<(String, String)>) -> Field {
        Field { options, ..self.input(name, label, "select") }
    }

    /// A choice among every value of a coded list, labelled in the reader's language.
    pub(crate) fn coded<T: Labelled + Copy>(
        &self,
        name: &'static str,
        label: &'static str,
        all: &[T],
        key: impl Fn(T) -> &'static str,
    ) -> Field {
        self.choice(name, label, options(all, key, self.lang))
    }
}

/// The choices of a coded value: its key and its label in `lang`.
pub(crate) fn options<T: Labelled + Copy>(
    all: &[T],
    key: impl Fn(T) -> &'static str,
    lang: Lang,
) -> Vec<(String, String)> {
    all.iter().map(|v| (key(*v).to_string(), lang.label(*v).to_string())).collect()
}

/// The 56 ethnic groups by GB/T 3304 code, labelled in `lang`.
pub(crate) fn ethnicity_options(lang: Lang) -> Vec<(String, String)> {
    jiceng_domain::registry::Ethnicity::all().map(|e| (e.code(), lang.label(e).to_string())).collect()
}

/// Collects field errors while reading typed values.
#[derive(Default)]
pub(crate) struct Checker {
    pub(crate) errors: FieldErrors,
}

impl Checker {
    pub(crate) fn take<T, E: std::fmt::Display>(&mut self, name: &'static str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.insert(name, e.to_string());
                None
            }
        }
    }

    pub(crate) fn coded<T>(&mut self, name: &'static str, raw: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let result = parse(raw).ok_or_else(|| format!("“{raw}”不是可选的值 / '{raw}' is not one of the choices"));
        self.take(name, result)
    }
}
