//! A table's high-water mark: the largest rowid counted, the row there (to
//! see its rowid given to another row), and the smallest rowid (to see a
//! purge).

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::error::SqliteError;
use crate::queries::{self, Owned};

use super::refusal::Refusal;

/// `MIN(rowid)` and `MAX(rowid)` of `table`, each an O(log n) lookup.
pub(super) fn rowid_bounds(
    conn: &Connection,
    table: &str,
    path: &Path,
) -> Result<(Option<i64>, Option<i64>), SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let sql = format!("SELECT (SELECT MIN(rowid) FROM {table}), (SELECT MAX(rowid) FROM {table})");
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let Some(row) = rows.next().map_err(sqlite)? else {
        return Ok((None, None));
    };
    let int = |i| match row.get_ref(i) {
        Ok(ValueRef::Integer(n)) => Some(n),
        _ => None,
    };
    Ok((int(0), int(1)))
}

/// What a table's tally remembers of where it stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HighWaterMark {
    /// The largest rowid counted (`None`: the table was empty).
    pub(super) rowid: Option<i64>,
    /// The smallest rowid at the last look.
    smallest: Option<i64>,
    /// The row at `rowid` when it was counted, as its identity columns
    /// (`None` when `rowid` is).
    row: Option<Vec<Owned>>,
    /// The select list of the identity columns (see [`identity_select_list`]).
    identity: Arc<str>,
}

impl HighWaterMark {
    /// Where a table stands in the current transaction: its bounds and the
    /// identity of its largest row.
    pub(super) fn read(conn: &Connection, table: &str, path: &Path) -> Result<Self, Refusal> {
        let identity: Arc<str> = identity_select_list(conn, table, path)?.into();
        let (smallest, largest) = rowid_bounds(conn, table, path)?;
        if largest == Some(i64::MAX) {
            return Err(Refusal::RowidsExhausted);
        }
        let row = match largest {
            Some(id) => row_identity(conn, table, &identity, id, path)?,
            None => None,
        };
        Ok(HighWaterMark {
            rowid: largest,
            smallest,
            row,
            identity,
        })
    }

    /// Whether the row counted at the mark is still there, unchanged in its
    /// identity columns. When it is not, SQLite may have given rowids at or
    /// below the mark to new rows (it picks `max(rowid) + 1`, which is at or
    /// below the mark only while the row at the mark is deleted), and those
    /// rows would never be read by a catch-up.
    pub(super) fn row_unchanged(
        &self,
        conn: &Connection,
        table: &str,
        path: &Path,
    ) -> Result<bool, Refusal> {
        let Some(rowid) = self.rowid else {
            return Ok(true);
        };
        let now = row_identity(conn, table, &self.identity, rowid, path)?;
        Ok(match (&now, &self.row) {
            (Some(now), Some(then)) => same_values(now, then),
            _ => false,
        })
    }

    /// Whether the smallest rowid moved (a purge of the oldest rows, or an
    /// insert below them): drift, for a background recount.
    pub(super) fn smallest_moved(&self, smallest: Option<i64>) -> bool {
        self.smallest.is_some() && smallest != self.smallest
    }

    /// Moves the mark up to `largest` (when rows above it were counted) and
    /// remembers the identity of the row there; `smallest` is the smallest rowid.
    pub(super) fn advance(
        &mut self,
        conn: &Connection,
        table: &str,
        path: &Path,
        smallest: Option<i64>,
        largest: Option<i64>,
    ) -> Result<(), Refusal> {
        self.smallest = smallest;
        if largest.is_some() && largest > self.rowid {
            if largest == Some(i64::MAX) {
                return Err(Refusal::RowidsExhausted);
            }
            self.rowid = largest;
            self.row = match largest {
                Some(id) => row_identity(conn, table, &self.identity, id, path)?,
                None => None,
            };
        }
        Ok(())
    }

    /// The rowid above which rows are new (not counted yet).
    pub(super) fn new_rows_above(&self) -> i64 {
        self.rowid.unwrap_or(i64::MIN)
    }
}

/// The columns that identify a row over its life, per table: written once
/// when the row is inserted in the reference schema, never updated. The
/// first ones are required; the others are added when the table has them.
fn identity_column_names(table: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match table {
        "jobs" => (&["created_at", "agent"], &["task_id"]),
        _ => (&["job_id", "started_at"], &["agent"]),
    }
}

/// The select list of `table`'s identity columns; when a required one is
/// missing, every column (`*`): any change of the row at the mark is then
/// taken for a possible reuse and answered exactly.
fn identity_select_list(
    conn: &Connection,
    table: &str,
    path: &Path,
) -> Result<String, SqliteError> {
    let columns = queries::table_columns(conn, table, path)?;
    let (required, optional) = identity_column_names(table);
    if !required.iter().all(|c| columns.contains(*c)) {
        return Ok("*".to_owned());
    }
    Ok(required
        .iter()
        .chain(optional.iter().filter(|c| columns.contains(**c)))
        .copied()
        .collect::<Vec<_>>()
        .join(", "))
}

/// The identity columns of the row with rowid `id`, or `None` when there
/// is no such row: one O(log n) lookup.
fn row_identity(
    conn: &Connection,
    table: &str,
    identity: &str,
    id: i64,
    path: &Path,
) -> Result<Option<Vec<Owned>>, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let sql = format!("SELECT {identity} FROM {table} WHERE rowid = ?1");
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
    let width = stmt.column_count();
    let mut rows = stmt.query([id]).map_err(sqlite)?;
    let Some(row) = rows.next().map_err(sqlite)? else {
        return Ok(None);
    };
    (0..width)
        .map(|i| row.get_ref(i).map(Owned::of).map_err(sqlite))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Equality of stored values, a NaN equal to itself (a row compared with
/// itself must match).
fn same_values(a: &[Owned], b: &[Owned]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Owned::Real(x), Owned::Real(y)) => x.to_bits() == y.to_bits(),
            (x, y) => x == y,
        })
}
