//! Measuring the store against the straightforward queries (benchmarks and
//! `vitals bench`).
//!
//! A store's snapshot is worth comparing with two floors, each timed alone
//! in one read transaction on a fresh connection:
//! - [`floor_queries`]: the store's own per-scrape queries, run one after
//!   the other as a store without incremental aggregates would if it had
//!   one connection (bad values checked, rows decoded);
//! - [`reference_floor`]: the plain SQL that the reference schema
//!   describes, what a straightforward port of the original collector
//!   pays (no check of any value's type).
//!
//! Only this crate runs SQL, so the floors are measured here.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::connection::Database;
use crate::error::SqliteError;
use crate::options::DEFAULT_BUSY_TIMEOUT;
use crate::queries;
use crate::totals;

/// Runs the straightforward per-scrape SQL once on a fresh read-only
/// connection to `path`, and returns how long it took, opening included.
///
/// "Straightforward" is what a store without incremental aggregates runs for
/// one snapshot of the four built-in sections, in one read transaction, on
/// one connection and one thread (a store shares its full scans with a
/// second connection where it can: see the crate documentation, "Cold
/// builds"): the active tasks, the job counts by status (all history), the
/// retry statistics, the running agents with their latest run, and the
/// cost and token totals (all history; the type of every value checked
/// only when a bad value may be there). The job counts are the plain
/// `GROUP BY` (a store counts the `done` jobs by difference). The connection is opened exactly as
/// the store opens its own (read-only, `query_only`, the same WAL rules) and
/// closed afterwards, so nothing is cached between two calls but the
/// operating system's page cache. Compare [`reference_floor`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("orchestrator.db");
/// vitals_refdb::generate(&path, &vitals_refdb::GenOptions::default())?;
/// let floor = vitals_sqlite::bench::floor_queries(&path)?;
/// assert!(floor > std::time::Duration::ZERO);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The first [`SqliteError`] met: the file is missing or not a database, a
/// table or a required column is missing, a sum overflows, and so on (the
/// same errors the store's source methods report; `unsupported` on a
/// platform other than Unix).
pub fn floor_queries(path: impl AsRef<Path>) -> Result<Duration, SqliteError> {
    timed_read(path.as_ref(), |conn, path| {
        queries::active_tasks(conn, path)?;
        queries::status_counts(conn, path)?;
        queries::retry_stats(conn, path)?;
        queries::running(conn, path)?;
        totals::totals(conn, path)?;
        Ok(())
    })
}

/// Runs `work` in one read transaction on a fresh read-only connection to
/// `path`, closed afterwards: how long it all took, opening included.
fn timed_read(
    path: &Path,
    work: impl FnOnce(&Connection, &Path) -> Result<(), SqliteError>,
) -> Result<Duration, SqliteError> {
    let started = Instant::now();
    let mut database = Database::new(path.to_owned(), DEFAULT_BUSY_TIMEOUT, Arc::default());
    let never = Arc::new(AtomicBool::new(false));
    database.run_alone(&never, work)?;
    drop(database);
    Ok(started.elapsed())
}

/// The per-scrape SQL that the reference schema (`reference/schema.sql`)
/// describes, run once on a fresh read-only connection to `path` in one
/// read transaction, every value of every row read; how long it took,
/// opening included: what a straightforward port of the original
/// collector pays per scrape.
///
/// The statements: the active tasks ordered by id; `SELECT status,
/// COUNT(*) FROM jobs GROUP BY status`; `COUNT`, `SUM` and `MAX` of
/// `attempts` over the queued and running jobs; the running jobs each with
/// its latest run (once); `COUNT(*)` and `SUM` of the cost and of each
/// token column over all runs. Nothing checks a value's type: a bad value
/// goes into a sum unnoticed (or makes a statement fail).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("orchestrator.db");
/// vitals_refdb::generate(&path, &vitals_refdb::GenOptions::default())?;
/// assert!(vitals_sqlite::bench::reference_floor(&path)? > std::time::Duration::ZERO);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The first [`SqliteError`] met (a missing file or table, say).
pub fn reference_floor(path: impl AsRef<Path>) -> Result<Duration, SqliteError> {
    timed_read(path.as_ref(), |conn, path| {
        for sql in REFERENCE_SQL {
            read_all(conn, path, sql)?;
        }
        Ok(())
    })
}

/// The statements of [`reference_floor`], in the order of the snapshot.
const REFERENCE_SQL: [&str; 5] = [
    "SELECT id, work_item_id, repo, stage, stage_entered_at FROM tasks \
     WHERE stage NOT IN ('done', 'cancelled') ORDER BY id",
    "SELECT status, COUNT(*) FROM jobs GROUP BY status",
    "SELECT COUNT(CASE WHEN attempts > 0 THEN 1 END), COALESCE(SUM(attempts), 0), \
     COALESCE(MAX(attempts), 0) FROM jobs WHERE status IN ('queued', 'running')",
    "SELECT j.id, j.agent, j.repo, j.pid, j.model, j.effort, j.started_at, r.id, r.cost_usd, \
     r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens \
     FROM jobs AS j LEFT JOIN agent_runs AS r \
     ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id) \
     WHERE j.status = 'running' ORDER BY j.id",
    "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens), 0), \
     COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), \
     COALESCE(SUM(cache_creation_tokens), 0) FROM agent_runs",
];

/// Runs `sql` and reads every value of every row it returns.
fn read_all(conn: &Connection, path: &Path, sql: &str) -> Result<(), SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite)?;
    let width = stmt.column_count();
    let mut rows = stmt.query([]).map_err(sqlite)?;
    while let Some(row) = rows.next().map_err(sqlite)? {
        for i in 0..width {
            std::hint::black_box(row.get_ref(i).map_err(sqlite)?);
        }
    }
    Ok(())
}
