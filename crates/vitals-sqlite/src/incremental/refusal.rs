//! Why the incremental path gives up on a table, and the bound on the
//! unsettled rows it keeps.

use std::fmt;

use crate::error::SqliteError;

/// The largest unsettled set kept per table. Beyond it the table is answered
/// with the full query until the next reconcile interval.
pub(crate) const MAX_UNSETTLED: usize = 10_000;

/// Why the incremental path gave up on a table (SQLite errors included).
#[derive(Debug)]
pub(super) enum Refusal {
    /// More unsettled rows than [`MAX_UNSETTLED`].
    TooManyUnsettled,
    /// The counts of the full query and of the non-terminal index disagree
    /// (a collation or schema the classification does not match).
    Inconsistent,
    /// No index on `jobs(status)`: finding the non-terminal jobs would scan
    /// the table, so the incremental path cannot be cheaper.
    NoStatusIndex,
    /// The row counted at the high-water mark is gone or is another row:
    /// rowids at or below the mark may have been given to new rows.
    MarkRowReplaced,
    /// The table holds rowid `i64::MAX`: SQLite then gives new rows random
    /// free rowids, anywhere below the mark.
    RowidsExhausted,
    /// An SQLite error.
    Sqlite(SqliteError),
}

impl From<SqliteError> for Refusal {
    fn from(error: SqliteError) -> Self {
        Refusal::Sqlite(error)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooManyUnsettled => {
                write!(f, "more than {MAX_UNSETTLED} unsettled rows")
            }
            Refusal::Inconsistent => f.write_str("the status index and the table disagree"),
            Refusal::NoStatusIndex => f.write_str("no index on jobs(status)"),
            Refusal::MarkRowReplaced => {
                f.write_str("the row at the high-water mark changed; rowids may have been reused")
            }
            Refusal::RowidsExhausted => {
                f.write_str("the largest rowid is i64::MAX; new rows get random rowids")
            }
            Refusal::Sqlite(error) => write!(f, "{error}"),
        }
    }
}

/// Logs why a table's incremental path is off.
pub(super) fn log_refusal(table: &str, refusal: &Refusal) {
    tracing::debug!(table, %refusal, "vitals-sqlite: incremental aggregate off for a while; full queries answer");
}
