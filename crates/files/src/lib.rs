//! The files people hand jiceng and take from it, and nothing else: every file format
//! lives here (ADR 012), depending on the domain only. `store` hands this crate rows and
//! takes rows from it; `server` and `cli` hand the bytes to people. Labels people read
//! in a file (a workbook's "网格 Grid" heading) are written here, never in `store`.

pub mod exchange;
pub mod fieldwork;
pub mod linkage;
pub mod reporting;

/// A file this crate was asked to write could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{what}生成失败 / {what} could not be written: {source}")]
    Workbook { what: &'static str, source: rust_xlsxwriter::XlsxError },
    #[error("CSV 文件生成失败 / the CSV file could not be written: {0}")]
    Csv(String),
}
