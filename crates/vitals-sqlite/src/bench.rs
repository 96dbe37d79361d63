//! Measuring the store against the straightforward queries (benchmarks and
//! `vitals bench`).
//!
//! A store's snapshot is worth comparing with its *floor*: what the plain
//! per-scrape SQL of the reference schema costs when timed alone, on a fresh
//! connection. Only this crate runs SQL, so the floor is measured here.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::connection::Database;
use crate::error::SqliteError;
use crate::options::DEFAULT_BUSY_TIMEOUT;
use crate::queries;
use crate::totals;

/// Runs the straightforward per-scrape SQL once on a fresh read-only
/// connection to `path`, and returns how long it took, opening included.
///
/// "Straightforward" is what a store without incremental aggregates runs for
/// one snapshot of the four built-in sections, in one read transaction: the
/// active tasks, the job counts by status (all history), the retry
/// statistics, the running agents with their latest run, and the cost and
/// token totals (all history). The connection is opened exactly as the store
/// opens its own (read-only, `query_only`, the same WAL rules) and closed
/// afterwards, so nothing is cached between two calls but the operating
/// system's page cache.
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
    let started = Instant::now();
    let mut database = Database::new(
        path.as_ref().to_owned(),
        DEFAULT_BUSY_TIMEOUT,
        Arc::default(),
    );
    let never = Arc::new(AtomicBool::new(false));
    database.run_alone(&never, |conn, path| {
        queries::active_tasks(conn, path)?;
        queries::status_counts(conn, path)?;
        queries::retry_stats(conn, path)?;
        queries::running(conn, path)?;
        totals::totals(conn, path)?;
        Ok(())
    })?;
    drop(database);
    Ok(started.elapsed())
}
