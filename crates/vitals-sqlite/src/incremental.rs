//! Incremental aggregates: job counts by status and cost/token totals whose
//! cost per scrape follows the active work, not the history.
//!
//! # State
//!
//! For each of `jobs` and `agent_runs` the worker keeps, between snapshots:
//! - the running sums of the *settled* rows: a job is settled when its
//!   status is exactly the text `done`, `failed` or `cancelled` (the
//!   reference schema's terminal statuses); a run is settled when its
//!   `finished_at` is not NULL (the reference writer sets `finished_at` and
//!   the usage columns in one statement, and an unfinished run has a NULL
//!   cost). Settled rows are summed once and never looked at again;
//! - the high-water mark: the largest rowid counted, with the identity of
//!   the row there: a few columns written once when a row is inserted
//!   (jobs: `created_at`, `agent`, `task_id`; runs: `job_id`, `started_at`,
//!   `agent`; every column when a required one is missing);
//! - the smallest rowid seen, for a cheap check;
//! - the ids of the unsettled rows at or below the mark (active work:
//!   queued and running jobs, unfinished runs). Nothing else is kept per row.
//!
//! # One scrape (catch-up), inside the snapshot's read transaction
//!
//! 1. The row at the mark, by rowid. Gone, or another row (its identity
//!    differs): rowids at or below the mark may have been given to new rows
//!    (see "Rowid reuse"), and the scrape is answered by the full query,
//!    which rebuilds the state, as on a first scrape.
//!    Then `MIN(rowid)` and `MAX(rowid)`, two O(log n) lookups. A minimum
//!    that changed (a purge of the oldest rows) is *drift*. A maximum of
//!    `i64::MAX` turns the table's incremental path off (see "Failure").
//! 2. The rows above the mark (a rowid range scan): settled ones are added
//!    to the sums, the others join the unsettled set; the mark moves up and
//!    the identity of the new mark row is read.
//! 3. Jobs: the non-terminal jobs, through `idx_jobs_status` (five range
//!    scans that skip the terminal statuses). A job the set lists that was
//!    settled (below the mark and not unsettled) was requeued: drift.
//! 4. Each unsettled id not seen in 2-3 is read by rowid: settled now, it
//!    moves into the sums; gone (deleted), it is dropped and counts as drift;
//!    otherwise its current values count for this answer.
//! 5. The answer is the settled sums plus the unsettled rows' current values,
//!    decoded exactly as the full query decodes them (same issues).
//!
//! The catch-up works on a copy of the state, committed only when it
//! succeeds: an interrupted scrape leaves the previous state intact.
//!
//! # Rowid reuse
//!
//! The reference tables have no `AUTOINCREMENT`: SQLite gives a new row
//! `max(rowid) + 1`. A new row's id is at or below the mark only when, at
//! its insert, `max(rowid) < mark`: the row at the mark was deleted at that
//! moment. Such rows would never be read by step 2, so step 1 checks every
//! scrape that the row at the mark is the row counted there. The sequences:
//! - the newest rows deleted and not replaced by the scrape: the row at the
//!   mark is gone (`MAX(rowid)` may be below the mark);
//! - the newest row deleted and new rows inserted past the mark again: the
//!   row at the mark is a new row with another `created_at` (`started_at`);
//! - the table emptied and refilled: either of the two above;
//! - an unsettled row deleted and its id reused: the unsettled ids are
//!   re-read by rowid every scrape, so whatever row holds the id now is
//!   counted as it is; still, the row at the mark was deleted, so step 1
//!   answers exactly anyway;
//! - rowid `i64::MAX` present: SQLite picks random free rowids, anywhere
//!   below the mark, without any deletion; the table is answered by the full
//!   query while it holds that rowid (the `Off` part, rechecked every
//!   reconcile interval).
//!
//! Not seen: the row at the mark deleted and its id given to a new row with
//! the same identity values, after new rows took ids that were free when
//! the store counted. With a creation stamp in the identity this takes a
//! deletion of the newest rows and a new row stamped within the same
//! second, for the same agent and task, as the one it replaces.
//!
//! # Reconciling
//!
//! What the catch-up cannot see: a settled row changed in place (a cost
//! correction, `done` rewritten to `failed`, a finished run made unfinished),
//! a settled row deleted between the smallest and the mark. So the state is
//! recounted from scratch when drift is seen and, in any case, every
//! `reconcile_interval`.
//!
//! A recount runs on a second read-only connection, on its own thread (a
//! [`Worker`] like the store's, so it opens the file the same way: read-only
//! flags, `query_only`, the WAL and immutable rules), in its own read
//! transaction: a scrape never waits for it. The recounted state is swapped
//! in by the first snapshot whose read transaction began after the recount
//! finished (so that the recount's point in time is not newer than the
//! snapshot's), and caught up from there like any state. At most one recount
//! is in flight, and a drift-triggered one starts no sooner after the
//! previous one than the previous one took (at most half of one core). Drift
//! seen while a recount may not start is remembered: the next scrapes ask
//! again until one starts.
//!
//! Without a state (the first scrape, or after a reset) the aggregate runs
//! *inline* as the plain full query, and the state is derived from the same
//! read transaction at little extra cost (for jobs the non-terminal rows
//! through the index; for runs one more expression in the same scan and the
//! unfinished rows from the smallest unfinished id up). When that inline
//! pass misses its section's deadline (a history too large for it), the
//! state is built by a background recount instead, which has no deadline,
//! and the scrapes after it lands are incremental.
//!
//! # Failure
//!
//! An error in the incremental path (other than an interruption) resets the
//! state and answers with the full query for that scrape. A table without a
//! rowid or a `finished_at` column, more than [`MAX_UNSETTLED`] unsettled
//! rows (an orchestrator with its own terminal statuses, say), or rowid
//! `i64::MAX` turns the incremental path off for that table for one
//! reconcile interval: the full query answers, and memory stays bounded.

use std::cmp::Ordering as Cmp;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use vitals_cost::CostTotals;

use crate::aggregate::Aggregates;
use crate::connection::Database;
use crate::error::SqliteError;
use crate::options::Options;
use crate::queries::{self, Decoded, Owned, Sums};
use crate::stats::Stats;

/// The largest unsettled set kept per table. Beyond it the table is answered
/// with the full query until the next reconcile interval.
pub(crate) const MAX_UNSETTLED: usize = 10_000;

/// The terminal job statuses, in the byte order of their text.
const TERMINAL: [&str; 3] = ["cancelled", "done", "failed"];

/// The non-terminal jobs through `idx_jobs_status`: every value outside the
/// three terminal texts, as five searches (an `OR` of them would be planned
/// as a full index scan). `IS NULL` costs nothing when the column is NOT NULL.
const NON_TERMINAL_JOBS: &str = "\
    SELECT rowid, status FROM jobs WHERE status IS NULL \
    UNION ALL SELECT rowid, status FROM jobs WHERE status < 'cancelled' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'cancelled' AND status < 'done' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'done' AND status < 'failed' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'failed'";

/// The columns of a run that the totals read, after its rowid and its
/// "settled" flag.
const RUN_COLUMNS: &str = "finished_at IS NOT NULL, cost_usd, input_tokens, output_tokens, \
                           cache_read_tokens, cache_creation_tokens";

fn terminal_index(status: ValueRef<'_>) -> Option<usize> {
    match status {
        ValueRef::Text(text) => TERMINAL.iter().position(|t| t.as_bytes() == text),
        _ => None,
    }
}

/// SQLite's order of values under the BINARY collation (NULL, numbers,
/// text, blobs), which is the order of `GROUP BY status`: the incremental
/// answer lists its groups in the same order as the full query.
fn sqlite_order(a: &Owned, b: &Owned) -> Cmp {
    fn rank(v: &Owned) -> u8 {
        match v {
            Owned::Null => 0,
            Owned::Integer(_) | Owned::Real(_) => 1,
            Owned::Text(_) => 2,
            Owned::Blob(_) => 3,
        }
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "only orders mixed integer and real statuses, as SQLite does approximately"
    )]
    let number = |v: &Owned| match v {
        Owned::Integer(i) => *i as f64,
        Owned::Real(f) => *f,
        _ => 0.0,
    };
    match (a, b) {
        (Owned::Text(x), Owned::Text(y)) | (Owned::Blob(x), Owned::Blob(y)) => x.cmp(y),
        (Owned::Integer(x), Owned::Integer(y)) => x.cmp(y),
        _ if rank(a) == 1 && rank(b) == 1 => number(a).total_cmp(&number(b)),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Why the incremental path gave up on a table (besides SQLite errors).
#[derive(Debug)]
enum Refusal {
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
    Reused,
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
            Refusal::Reused => {
                f.write_str("the row at the high-water mark changed; rowids may have been reused")
            }
            Refusal::RowidsExhausted => {
                f.write_str("the largest rowid is i64::MAX; new rows get random rowids")
            }
            Refusal::Sqlite(error) => write!(f, "{error}"),
        }
    }
}

/// `MIN(rowid)` and `MAX(rowid)` of `table`, each an O(log n) lookup.
fn bounds(
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

/// What a table's state remembers of where it stands.
#[derive(Debug, Clone, PartialEq)]
struct Marks {
    /// The largest rowid counted (`None`: the table was empty).
    mark: Option<i64>,
    /// The smallest rowid at the last look.
    min: Option<i64>,
    /// The row at `mark` when it was counted, as its identity columns
    /// (`None` when `mark` is).
    top: Option<Vec<Owned>>,
    /// The select list of the identity columns (see [`identity_columns`]).
    identity: Arc<str>,
}

impl Marks {
    /// Where a table stands in the current transaction: its bounds and the
    /// identity of its largest row.
    fn read(conn: &Connection, table: &str, path: &Path) -> Result<Self, Refusal> {
        let identity: Arc<str> = identity_columns(conn, table, path)?.into();
        let (min, max) = bounds(conn, table, path)?;
        if max == Some(i64::MAX) {
            return Err(Refusal::RowidsExhausted);
        }
        let top = match max {
            Some(id) => row_identity(conn, table, &identity, id, path)?,
            None => None,
        };
        Ok(Marks {
            mark: max,
            min,
            top,
            identity,
        })
    }

    /// Whether the row counted at the mark is still there, unchanged in its
    /// identity columns. When it is not, SQLite may have given rowids at or
    /// below the mark to new rows (it picks `max(rowid) + 1`, which is at or
    /// below the mark only while the row at the mark is deleted), and those
    /// rows would never be read by a catch-up.
    fn top_holds(&self, conn: &Connection, table: &str, path: &Path) -> Result<bool, Refusal> {
        let Some(mark) = self.mark else {
            return Ok(true);
        };
        let now = row_identity(conn, table, &self.identity, mark, path)?;
        Ok(match (&now, &self.top) {
            (Some(now), Some(then)) => same_values(now, then),
            _ => false,
        })
    }

    /// Whether the smallest rowid moved (a purge of the oldest rows, or an
    /// insert below them): drift, for a background recount.
    fn drifted(&self, min: Option<i64>) -> bool {
        self.min.is_some() && min != self.min
    }

    /// Moves the mark up to `max` (when rows above it were counted) and
    /// remembers the identity of the row there; `min` is the smallest rowid.
    fn advance(
        &mut self,
        conn: &Connection,
        table: &str,
        path: &Path,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), Refusal> {
        self.min = min;
        if max.is_some() && max > self.mark {
            if max == Some(i64::MAX) {
                return Err(Refusal::RowidsExhausted);
            }
            self.mark = max;
            self.top = match max {
                Some(id) => row_identity(conn, table, &self.identity, id, path)?,
                None => None,
            };
        }
        Ok(())
    }

    /// The rowid above which rows are new.
    fn after(&self) -> i64 {
        self.mark.unwrap_or(i64::MIN)
    }
}

/// The columns that identify a row over its life, per table: written once
/// when the row is inserted in the reference schema, never updated. The
/// first ones are required; the others are added when the table has them.
fn identity_of(table: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match table {
        "jobs" => (&["created_at", "agent"], &["task_id"]),
        _ => (&["job_id", "started_at"], &["agent"]),
    }
}

/// The select list of `table`'s identity columns; when a required one is
/// missing, every column (`*`): any change of the row at the mark is then
/// taken for a possible reuse and answered exactly.
fn identity_columns(conn: &Connection, table: &str, path: &Path) -> Result<String, SqliteError> {
    let columns = queries::table_columns(conn, table, path)?;
    let (required, optional) = identity_of(table);
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

/// The state of the job counts.
#[derive(Debug, Clone)]
struct JobsState {
    marks: Marks,
    /// Settled jobs per terminal status, in the order of [`TERMINAL`].
    settled: [i64; 3],
    /// Unsettled job ids at or below the mark.
    unsettled: BTreeSet<i64>,
    /// When the recount this state descends from had finished.
    built: Instant,
}

/// The state of the run totals.
#[derive(Debug, Clone)]
struct RunsState {
    marks: Marks,
    settled: Sums,
    unsettled: BTreeSet<i64>,
    built: Instant,
}

/// The job counts by status, as the source answers them.
type Counts = Decoded<Vec<(String, i64)>>;

/// The full job counts, plus the state derived in the same transaction.
fn cold_jobs(
    conn: &Connection,
    path: &Path,
) -> Result<(Counts, Result<JobsState, Refusal>), SqliteError> {
    let groups = queries::status_groups(conn, path)?;
    let answer = queries::fold_statuses(groups.iter().map(|(v, n)| (v.as_ref(), *n)));
    let state = (|| {
        let sqlite = |e| SqliteError::from_sqlite(e, path);
        let indexed: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM pragma_index_list('jobs') AS l, \
                 pragma_index_info(l.name) AS i \
                 WHERE l.partial = 0 AND i.seqno = 0 AND i.name = 'status' COLLATE NOCASE)",
            )
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(sqlite)?;
        if !indexed {
            return Err(Refusal::NoStatusIndex);
        }
        let marks = Marks::read(conn, "jobs", path)?;
        let mut settled = [0_i64; 3];
        let mut unsettled_rows = 0_i64;
        for (status, count) in &groups {
            match terminal_index(status.as_ref()) {
                Some(i) => settled[i] = count.saturating_add(settled[i]),
                None => unsettled_rows = unsettled_rows.saturating_add(*count),
            }
        }
        let mut stmt = conn.prepare_cached(NON_TERMINAL_JOBS).map_err(sqlite)?;
        let mut rows = stmt.query([]).map_err(sqlite)?;
        let mut unsettled = BTreeSet::new();
        while let Some(row) = rows.next().map_err(sqlite)? {
            if let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? {
                unsettled.insert(id);
            }
            if unsettled.len() > MAX_UNSETTLED {
                return Err(Refusal::TooManyUnsettled);
            }
        }
        // NULL statuses are grouped but excluded by a NOT NULL column's
        // `IS NULL` shortcut only when there are none: the counts must agree.
        if i64::try_from(unsettled.len()).ok() != Some(unsettled_rows) {
            return Err(Refusal::Inconsistent);
        }
        Ok(JobsState {
            marks,
            settled,
            unsettled,
            built: Instant::now(),
        })
    })();
    Ok((answer, state))
}

/// Brings a job state up to the current transaction; returns the answer
/// and whether drift was seen.
fn catch_up_jobs(
    conn: &Connection,
    path: &Path,
    st: &mut JobsState,
) -> Result<(Counts, bool), Refusal> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    if !st.marks.top_holds(conn, "jobs", path)? {
        return Err(Refusal::Reused);
    }
    let (min, max) = bounds(conn, "jobs", path)?;
    let mut drift = st.marks.drifted(min);
    let old = st.marks.clone();
    // Rows above the mark.
    {
        let mut stmt = conn
            .prepare_cached("SELECT rowid, status FROM jobs WHERE rowid > ?1")
            .map_err(sqlite)?;
        let mut rows = stmt.query([old.after()]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? else {
                continue;
            };
            match terminal_index(row.get_ref(1).map_err(sqlite)?) {
                Some(i) => st.settled[i] = st.settled[i].saturating_add(1),
                None => {
                    st.unsettled.insert(id);
                }
            }
        }
    }
    st.marks.advance(conn, "jobs", path, min, max)?;
    // The non-terminal jobs, through the status index.
    let mut current: Vec<(Owned, i64)> = Vec::new();
    let mut add = |status: Owned| match current.iter_mut().find(|(s, _)| *s == status) {
        Some((_, n)) => *n += 1,
        None => current.push((status, 1)),
    };
    let mut seen = HashSet::new();
    {
        let mut stmt = conn.prepare_cached(NON_TERMINAL_JOBS).map_err(sqlite)?;
        let mut rows = stmt.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? else {
                continue;
            };
            if st.unsettled.insert(id) {
                // Settled before (at or below the old mark): a requeue.
                drift = true;
            }
            seen.insert(id);
            add(Owned::of(row.get_ref(1).map_err(sqlite)?));
            if st.unsettled.len() > MAX_UNSETTLED {
                return Err(Refusal::TooManyUnsettled);
            }
        }
    }
    // Unsettled jobs the index no longer lists: settled, or gone.
    let missing: Vec<i64> = st
        .unsettled
        .iter()
        .copied()
        .filter(|id| !seen.contains(id))
        .collect();
    if !missing.is_empty() {
        let mut stmt = conn
            .prepare_cached("SELECT status FROM jobs WHERE rowid = ?1")
            .map_err(sqlite)?;
        for id in missing {
            let mut rows = stmt.query([id]).map_err(sqlite)?;
            match rows.next().map_err(sqlite)? {
                None => {
                    st.unsettled.remove(&id);
                    drift = true;
                }
                Some(row) => {
                    let status = row.get_ref(0).map_err(sqlite)?;
                    if let Some(i) = terminal_index(status) {
                        st.settled[i] = st.settled[i].saturating_add(1);
                        st.unsettled.remove(&id);
                    } else {
                        add(Owned::of(status));
                    }
                }
            }
        }
    }
    for (i, name) in TERMINAL.iter().enumerate() {
        if st.settled[i] != 0 {
            let status = Owned::Text(name.as_bytes().to_vec());
            match current.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n = n.saturating_add(st.settled[i]),
                None => current.push((status, st.settled[i])),
            }
        }
    }
    current.sort_by(|(a, _), (b, _)| sqlite_order(a, b));
    let answer = queries::fold_statuses(current.iter().map(|(v, n)| (v.as_ref(), *n)));
    Ok((answer, drift))
}

/// Adds one row of `RUN_COLUMNS` (starting at column `at`) to `sums`;
/// returns whether the run is finished.
fn add_run(row: &rusqlite::Row<'_>, at: usize, sums: &mut Sums) -> rusqlite::Result<bool> {
    let finished = matches!(row.get_ref(at)?, ValueRef::Integer(1));
    let tokens = [
        row.get_ref(at + 2)?,
        row.get_ref(at + 3)?,
        row.get_ref(at + 4)?,
        row.get_ref(at + 5)?,
    ];
    sums.add_row(row.get_ref(at + 1)?, tokens);
    Ok(finished)
}

/// The full run totals, plus the state derived in the same transaction.
fn cold_runs(
    conn: &Connection,
    path: &Path,
) -> Result<(Decoded<CostTotals>, Result<RunsState, Refusal>), SqliteError> {
    let (all, first_unfinished) = match queries::totals_sums(
        conn,
        path,
        Some("MIN(CASE WHEN finished_at IS NULL THEN rowid END)"),
    ) {
        Ok(found) => found,
        // No `finished_at` (or no rowid): the plain query answers, no state.
        Err(error @ SqliteError::MissingColumn { .. }) => {
            let answer = queries::totals(conn, path)?;
            return Ok((answer, Err(Refusal::Sqlite(error))));
        }
        Err(error) => return Err(error),
    };
    let answer = all.decoded()?;
    let state = (|| {
        let sqlite = |e| SqliteError::from_sqlite(e, path);
        let marks = Marks::read(conn, "agent_runs", path)?;
        let mut unsettled = BTreeSet::new();
        let mut open = Sums::default();
        if let Some(first) = first_unfinished {
            let sql = format!(
                "SELECT rowid, {RUN_COLUMNS} FROM agent_runs \
                 WHERE rowid >= ?1 AND finished_at IS NULL LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
            let limit = i64::try_from(MAX_UNSETTLED)
                .unwrap_or(i64::MAX)
                .saturating_add(1);
            let mut rows = stmt.query([first, limit]).map_err(sqlite)?;
            while let Some(row) = rows.next().map_err(sqlite)? {
                if let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? {
                    unsettled.insert(id);
                }
                add_run(row, 1, &mut open).map_err(sqlite)?;
            }
            if unsettled.len() > MAX_UNSETTLED {
                return Err(Refusal::TooManyUnsettled);
            }
        }
        let mut settled = all;
        settled.combine(&open, -1);
        Ok(RunsState {
            marks,
            settled,
            unsettled,
            built: Instant::now(),
        })
    })();
    Ok((answer, state))
}

/// Brings a run state up to the current transaction.
fn catch_up_runs(
    conn: &Connection,
    path: &Path,
    st: &mut RunsState,
) -> Result<(Decoded<CostTotals>, bool), Refusal> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    if !st.marks.top_holds(conn, "agent_runs", path)? {
        return Err(Refusal::Reused);
    }
    let (min, max) = bounds(conn, "agent_runs", path)?;
    let mut drift = st.marks.drifted(min);
    let old = st.marks.clone();
    let mut open = Sums::default();
    {
        let sql = format!("SELECT rowid, {RUN_COLUMNS} FROM agent_runs WHERE rowid > ?1");
        let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
        let mut rows = stmt.query([old.after()]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? else {
                continue;
            };
            let mut one = Sums::default();
            if add_run(row, 1, &mut one).map_err(sqlite)? {
                st.settled.combine(&one, 1);
            } else {
                open.combine(&one, 1);
                st.unsettled.insert(id);
            }
        }
    }
    st.marks.advance(conn, "agent_runs", path, min, max)?;
    if st.unsettled.len() > MAX_UNSETTLED {
        return Err(Refusal::TooManyUnsettled);
    }
    let known: Vec<i64> = match old.mark {
        Some(mark) => st.unsettled.range(..=mark).copied().collect(),
        None => Vec::new(),
    };
    if !known.is_empty() {
        let sql = format!("SELECT {RUN_COLUMNS} FROM agent_runs WHERE rowid = ?1");
        let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
        for id in known {
            let mut rows = stmt.query([id]).map_err(sqlite)?;
            match rows.next().map_err(sqlite)? {
                None => {
                    st.unsettled.remove(&id);
                    drift = true;
                }
                Some(row) => {
                    let mut one = Sums::default();
                    if add_run(row, 0, &mut one).map_err(sqlite)? {
                        st.settled.combine(&one, 1);
                        st.unsettled.remove(&id);
                    } else {
                        open.combine(&one, 1);
                    }
                }
            }
        }
    }
    let mut total = st.settled;
    total.combine(&open, 1);
    Ok((total.decoded()?, drift))
}

/// Where one table stands.
#[derive(Debug)]
enum Part<S> {
    /// No state: the next scrape runs the full query and derives one.
    Cold,
    /// Caught up to the last snapshot that asked.
    Live(S),
    /// The full query answers until this instant (see [`Refusal`]).
    Off(Instant),
}

/// One table's side of the incremental aggregates.
#[derive(Debug)]
struct Side<S> {
    part: Part<S>,
    /// A recounted state waiting for a snapshot that began after it.
    landed: Option<S>,
    /// The inline cold pass was interrupted (its deadline is shorter than a
    /// full scan): the state is built in the background.
    build: bool,
}

impl<S> Side<S> {
    fn new() -> Self {
        Side {
            part: Part::Cold,
            landed: None,
            build: false,
        }
    }

    /// Takes in a table's state from a finished recount, if it has one.
    fn land(&mut self, state: Option<S>) {
        if state.is_some() {
            self.build = false;
            self.landed = state;
        }
    }

    /// Whether a background recount should count this table.
    fn wanted(&self) -> bool {
        self.build || matches!(self.part, Part::Live(_))
    }
}

/// A finished background recount.
#[derive(Debug)]
struct Recount {
    took: Duration,
    finished: Instant,
    jobs: Option<JobsState>,
    runs: Option<RunsState>,
}

/// What a recount is asked to count: the tables whose state it rebuilds.
#[derive(Debug, Clone, Copy)]
struct RecountOrder {
    jobs: bool,
    runs: bool,
}

/// The background recount thread and its mailbox.
struct Reconciler {
    orders: Sender<RecountOrder>,
    results: Receiver<Recount>,
    /// Interrupts the recount in flight when the reconciler is dropped.
    cancel: Arc<AtomicBool>,
    in_flight: bool,
    /// A drift-triggered recount does not start before this.
    not_before: Instant,
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Release);
    }
}

impl fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconciler")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// Starts the recount thread: a second read-only connection to `path`,
    /// opened the way the store opens its own ([`Database`]), serving
    /// orders until the reconciler is dropped.
    fn spawn(path: PathBuf, busy_timeout: Duration) -> io::Result<Self> {
        let (orders, inbox) = mpsc::channel::<RecountOrder>();
        let (results_tx, results) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        std::thread::Builder::new()
            .name("vitals-sqlite-recount".to_owned())
            .spawn(move || {
                // Counters of its own: the store's count its own connection.
                let mut database = Database::new(path, busy_timeout, Arc::default());
                for order in inbox {
                    let recount =
                        catch_unwind(AssertUnwindSafe(|| recount(&mut database, &flag, order)))
                            .unwrap_or_else(|_| {
                                tracing::error!("vitals-sqlite: a background recount panicked");
                                database.install(None);
                                database.end_transaction();
                                let finished = Instant::now();
                                Recount {
                                    took: Duration::ZERO,
                                    finished,
                                    jobs: None,
                                    runs: None,
                                }
                            });
                    // The reconciler may be gone; nobody waits then.
                    let _ = results_tx.send(recount);
                }
                database.close();
            })?;
        Ok(Reconciler {
            orders,
            results,
            cancel,
            in_flight: false,
            not_before: Instant::now(),
        })
    }
}

/// Recounts the tables `order` names, in a read transaction of its own.
fn recount(database: &mut Database, cancel: &Arc<AtomicBool>, order: RecountOrder) -> Recount {
    let started = Instant::now();
    let out = database.run_alone(cancel, |conn, path| {
        // Each table on its own: one failing leaves the other.
        let jobs = order
            .jobs
            .then(|| cold_jobs(conn, path).ok().and_then(|(_, st)| st.ok()))
            .flatten();
        let runs = order
            .runs
            .then(|| cold_runs(conn, path).ok().and_then(|(_, st)| st.ok()))
            .flatten();
        Ok((jobs, runs))
    });
    let finished = Instant::now();
    let (jobs, runs) = out.unwrap_or_else(|error| {
        tracing::debug!(%error, "vitals-sqlite: a background recount failed");
        (None, None)
    });
    Recount {
        took: finished - started,
        finished,
        jobs: jobs.map(|s| JobsState {
            built: finished,
            ..s
        }),
        runs: runs.map(|s| RunsState {
            built: finished,
            ..s
        }),
    }
}

/// Why a recount is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Drift,
    Interval,
}

/// What both tables' sides use: the file, the options, the counters.
#[derive(Debug)]
struct Context {
    path: PathBuf,
    options: Options,
    stats: Arc<Stats>,
}

impl Context {
    fn off_until(&self) -> Instant {
        Instant::now() + self.options.reconcile_interval
    }
}

/// The incremental [`Aggregates`].
#[derive(Debug)]
pub(crate) struct Incremental {
    context: Context,
    jobs: Side<JobsState>,
    runs: Side<RunsState>,
    /// Drift was seen and no recount has started since (one was in flight,
    /// or the previous one ended too recently): asked for again by every
    /// catch-up until one starts (for whatever reason: any recount that
    /// starts after the drift covers it). The catch-up that saw the drift has
    /// already absorbed it into the state, so it is not seen twice.
    drift_pending: bool,
    reconciler: Option<Reconciler>,
}

impl Drop for Incremental {
    fn drop(&mut self) {
        // Dropping the reconciler interrupts its recount and ends its thread.
        self.reconciler = None;
    }
}

impl Incremental {
    pub(crate) fn new(path: PathBuf, options: Options, stats: Arc<Stats>) -> Self {
        Incremental {
            context: Context {
                path,
                options,
                stats,
            },
            jobs: Side::new(),
            runs: Side::new(),
            drift_pending: false,
            reconciler: None,
        }
    }

    /// Collects a finished recount, if any.
    fn poll(&mut self) {
        while let Some(recount) = self
            .reconciler
            .as_mut()
            .and_then(|r| r.results.try_recv().ok())
        {
            self.land(recount);
        }
    }

    /// Takes in a finished recount: its states wait for a snapshot that
    /// began after it, and the next drift-triggered recount waits as long
    /// as this one took.
    fn land(&mut self, recount: Recount) {
        if let Some(r) = self.reconciler.as_mut() {
            r.in_flight = false;
            r.not_before = recount.finished + recount.took;
        }
        self.jobs.land(recount.jobs);
        self.runs.land(recount.runs);
    }

    /// Starts a background recount of the live tables, unless one is in
    /// flight, or (for drift) the previous one ended too recently.
    fn request(&mut self, why: Why) -> bool {
        let now = Instant::now();
        let want_jobs = self.jobs.wanted();
        let want_runs = self.runs.wanted();
        if !want_jobs && !want_runs {
            return false;
        }
        if self.reconciler.is_none() {
            match Reconciler::spawn(self.context.path.clone(), self.context.options.busy_timeout) {
                Ok(reconciler) => self.reconciler = Some(reconciler),
                Err(error) => {
                    tracing::warn!(%error, "vitals-sqlite: cannot start the recount thread");
                    return false;
                }
            }
        }
        let Some(r) = self.reconciler.as_mut() else {
            return false;
        };
        if r.in_flight || (why == Why::Drift && now < r.not_before) {
            return false;
        }
        let order = RecountOrder {
            jobs: want_jobs,
            runs: want_runs,
        };
        if r.orders.send(order).is_err() {
            self.reconciler = None;
            return false;
        }
        r.in_flight = true;
        // Any recount that starts now also covers a drift seen before.
        self.drift_pending = false;
        tracing::debug!(
            ?why,
            "vitals-sqlite: recounting the aggregates in the background"
        );
        true
    }

    /// After a catch-up: asks for a recount when drift was seen or the
    /// state is older than the reconcile interval.
    fn after_catch_up(&mut self, drift: bool, built: Instant, landed: bool) {
        if drift {
            self.context.stats.drifts.fetch_add(1, Ordering::Relaxed);
            self.drift_pending = true;
        }
        if self.drift_pending {
            self.request(Why::Drift);
        } else if !landed && built.elapsed() >= self.context.options.reconcile_interval {
            self.request(Why::Interval);
        }
    }

    /// One table's aggregate: the full query while its incremental path is
    /// off; else a recount that finished by `began` is taken in, a live
    /// state is caught up (on a copy, committed when it succeeds), and
    /// without one the cold pass answers and derives it.
    fn answer<T: Table>(
        &mut self,
        conn: &Connection,
        path: &Path,
        began: Instant,
    ) -> Result<Decoded<T::Answer>, SqliteError> {
        self.poll();
        let (side, context) = T::split(self);
        if let Part::Off(until) = side.part {
            if Instant::now() < until {
                return T::full(conn, path);
            }
            side.part = Part::Cold;
        }
        if let Some(landed) = side.landed.take() {
            if T::built(&landed) <= began {
                context.stats.recounts.fetch_add(1, Ordering::Relaxed);
                side.part = Part::Live(landed);
            } else {
                side.landed = Some(landed);
            }
        }
        if let Part::Live(state) = &side.part {
            let mut next = state.clone();
            match T::catch_up(conn, path, &mut next) {
                Ok((answer, drift)) => {
                    let built = T::built(&next);
                    side.part = Part::Live(next);
                    let landed = side.landed.is_some();
                    self.after_catch_up(drift, built, landed);
                    return Ok(answer);
                }
                // An interruption keeps the state; so does an overflow of
                // the run totals, which is the answer (the full query would
                // overflow too).
                Err(Refusal::Sqlite(error @ SqliteError::Interrupted { .. })) => {
                    return Err(error);
                }
                Err(Refusal::Sqlite(error @ SqliteError::Overflow { .. }))
                    if T::OVERFLOW_ANSWERS =>
                {
                    return Err(error);
                }
                Err(Refusal::Reused) => {
                    // Rowids at or below the mark may belong to rows no
                    // catch-up reads: this scrape is answered by the full
                    // query, and the state rebuilt from it, below.
                    context.stats.reused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        table = T::NAME,
                        "vitals-sqlite: the row at the high-water mark changed; recounting inline"
                    );
                    side.landed = None;
                    side.part = Part::Cold;
                }
                Err(refusal) => {
                    context.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                    refused(T::NAME, &refusal);
                    if let Refusal::TooManyUnsettled | Refusal::RowidsExhausted = refusal {
                        side.part = Part::Off(context.off_until());
                        return T::full(conn, path);
                    }
                    side.part = Part::Cold;
                }
            }
        }
        let (answer, state) = match T::cold(conn, path) {
            Ok(found) => found,
            Err(error @ SqliteError::Interrupted { .. }) => {
                side.build = true;
                self.request(Why::Drift);
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        context.stats.cold_passes.fetch_add(1, Ordering::Relaxed);
        side.part = match state {
            Ok(state) => Part::Live(state),
            Err(refusal) => {
                refused(T::NAME, &refusal);
                Part::Off(context.off_until())
            }
        };
        Ok(answer)
    }
}

/// Logs why a table's incremental path is off.
fn refused(table: &str, refusal: &Refusal) {
    tracing::debug!(table, %refusal, "vitals-sqlite: incremental aggregate off for a while; full queries answer");
}

/// What [`Incremental::answer`] needs to know of a table.
trait Table {
    /// The state kept between snapshots.
    type State: Clone;
    /// What the aggregate answers.
    type Answer;
    /// The table's name, for the logs.
    const NAME: &'static str;
    /// Whether a catch-up's overflow is the answer (the full query would
    /// overflow too) rather than a fallback to the full query.
    const OVERFLOW_ANSWERS: bool;
    /// The table's side, and the context both sides share.
    fn split(me: &mut Incremental) -> (&mut Side<Self::State>, &Context);
    /// The plain full query.
    fn full(conn: &Connection, path: &Path) -> Result<Decoded<Self::Answer>, SqliteError>;
    /// The full query, plus the state derived in the same transaction.
    #[expect(clippy::type_complexity, reason = "the answer and a state or why not")]
    fn cold(
        conn: &Connection,
        path: &Path,
    ) -> Result<(Decoded<Self::Answer>, Result<Self::State, Refusal>), SqliteError>;
    /// Brings a state up to the current transaction; returns the answer
    /// and whether drift was seen.
    fn catch_up(
        conn: &Connection,
        path: &Path,
        state: &mut Self::State,
    ) -> Result<(Decoded<Self::Answer>, bool), Refusal>;
    /// When the recount the state descends from had finished.
    fn built(state: &Self::State) -> Instant;
}

/// The job counts by status.
struct Jobs;

/// The run totals.
struct Runs;

impl Table for Jobs {
    type State = JobsState;
    type Answer = Vec<(String, i64)>;
    const NAME: &'static str = "jobs";
    const OVERFLOW_ANSWERS: bool = false;

    fn split(me: &mut Incremental) -> (&mut Side<JobsState>, &Context) {
        (&mut me.jobs, &me.context)
    }

    fn full(conn: &Connection, path: &Path) -> Result<Counts, SqliteError> {
        queries::status_counts(conn, path)
    }

    fn cold(
        conn: &Connection,
        path: &Path,
    ) -> Result<(Counts, Result<JobsState, Refusal>), SqliteError> {
        cold_jobs(conn, path)
    }

    fn catch_up(
        conn: &Connection,
        path: &Path,
        state: &mut JobsState,
    ) -> Result<(Counts, bool), Refusal> {
        catch_up_jobs(conn, path, state)
    }

    fn built(state: &JobsState) -> Instant {
        state.built
    }
}

impl Table for Runs {
    type State = RunsState;
    type Answer = CostTotals;
    const NAME: &'static str = "agent_runs";
    const OVERFLOW_ANSWERS: bool = true;

    fn split(me: &mut Incremental) -> (&mut Side<RunsState>, &Context) {
        (&mut me.runs, &me.context)
    }

    fn full(conn: &Connection, path: &Path) -> Result<Decoded<CostTotals>, SqliteError> {
        queries::totals(conn, path)
    }

    fn cold(
        conn: &Connection,
        path: &Path,
    ) -> Result<(Decoded<CostTotals>, Result<RunsState, Refusal>), SqliteError> {
        cold_runs(conn, path)
    }

    fn catch_up(
        conn: &Connection,
        path: &Path,
        state: &mut RunsState,
    ) -> Result<(Decoded<CostTotals>, bool), Refusal> {
        catch_up_runs(conn, path, state)
    }

    fn built(state: &RunsState) -> Instant {
        state.built
    }
}

impl Aggregates for Incremental {
    fn status_counts(
        &mut self,
        conn: &Connection,
        path: &Path,
        began: Instant,
    ) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
        self.answer::<Jobs>(conn, path, began)
    }

    fn totals(
        &mut self,
        conn: &Connection,
        path: &Path,
        began: Instant,
    ) -> Result<Decoded<CostTotals>, SqliteError> {
        self.answer::<Runs>(conn, path, began)
    }

    fn reset(&mut self) {
        self.jobs = Side::new();
        self.runs = Side::new();
        self.drift_pending = false;
        self.reconciler = None;
    }

    #[cfg(test)]
    fn recount_and_wait(&mut self) {
        let wait = |me: &mut Self| {
            let recount = me
                .reconciler
                .as_mut()
                .filter(|r| r.in_flight)
                .and_then(|r| r.results.recv_timeout(Duration::from_secs(60)).ok());
            if let Some(recount) = recount {
                me.land(recount);
            }
        };
        self.poll();
        wait(self);
        if self.request(Why::Interval) {
            wait(self);
        }
    }
}
