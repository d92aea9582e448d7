use sea_orm::DbErr;

/// Errors of the storage layer. Messages name the record and say what is wrong,
/// in Chinese and English; they never contain identity numbers or names.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("数据库错误 / database error: {0}")]
    Database(#[from] DbErr),
    #[error(
        "无法识别的数据库地址“{url}”：应以 sqlite:// 或 postgres:// 开头 / unrecognised database URL '{url}': expected sqlite:// or postgres://"
    )]
    UnsupportedUrl { url: String },
    /// `what` is "居民 / resident": Chinese and English halves go to their own sentences.
    #[error("{}", not_found_text(what))]
    NotFound { what: String },
    #[error("数据库中{table}.{column}的值“{value}”无效 / stored value '{value}' in {table}.{column} is invalid")]
    Corrupt { table: &'static str, column: &'static str, value: String },
    #[error(
        "变更生效日期{valid_from}早于当前版本的{current_from}；请使用更正 / change effective {valid_from} is before the current version's {current_from}; record a correction instead"
    )]
    Retroactive { valid_from: time::Date, current_from: time::Date },
    #[error("{0}")]
    Invalid(String),
    #[error("区划数据读取失败 / division data could not be read: {0}")]
    DivisionData(String),
    #[error("密码处理失败 / password hashing failed: {0}")]
    Password(String),
    #[error(transparent)]
    File(#[from] crate::exchange::FileError),
    /// A failure of jiceng itself (a worker thread that panicked): people see a reference
    /// number, the log has this.
    #[error("内部错误 / internal error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

fn not_found_text(what: &str) -> String {
    match what.split_once(" / ") {
        Some((zh, en)) => format!("未找到{zh} / {en} not found"),
        None => format!("未找到{what} / {what} not found"),
    }
}

/// Parses a stored text value into a domain type, naming where it came from if it fails.
pub(crate) fn decode<T, E>(
    table: &'static str,
    column: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    parse(value).map_err(|_| StoreError::Corrupt { table, column, value: value.to_string() })
}

pub(crate) fn decode_opt<T>(
    table: &'static str,
    column: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt { table, column, value: value.to_string() })
}
