//! The job counts by status, incrementally: which jobs are settled, the
//! tally kept of them, and the two ways of answering (the full query with
//! the tally derived from it, and the catch-up of a tally).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::error::SqliteError;
use crate::parallel::JobGroups;
use crate::queries::{self, Decoded, Owned};

use super::marks::{HighWaterMark, rowid_bounds};
use super::refusal::{MAX_UNSETTLED, Refusal};

/// The terminal job statuses, in the byte order of their text: a job whose
/// status is exactly one of them is settled.
const TERMINAL_STATUSES: [&str; 3] = ["cancelled", "done", "failed"];

/// The non-terminal jobs through `idx_jobs_status`: every value outside the
/// three terminal texts, as five searches (an `OR` of them would be planned
/// as a full index scan). `IS NULL` costs nothing when the column is NOT NULL.
const NON_TERMINAL_JOBS: &str = "\
    SELECT rowid, status FROM jobs WHERE status IS NULL \
    UNION ALL SELECT rowid, status FROM jobs WHERE status < 'cancelled' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'cancelled' AND status < 'done' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'done' AND status < 'failed' \
    UNION ALL SELECT rowid, status FROM jobs WHERE status > 'failed'";

/// The position of a terminal status in [`TERMINAL_STATUSES`], `None` for
/// any other value (the job is unsettled).
fn terminal_position(status: ValueRef<'_>) -> Option<usize> {
    match status {
        ValueRef::Text(text) => TERMINAL_STATUSES.iter().position(|t| t.as_bytes() == text),
        _ => None,
    }
}

/// SQLite's order of values under the BINARY collation (NULL, numbers,
/// text, blobs), which is the order of `GROUP BY status`: the incremental
/// answer lists its groups in the same order as the full query.
fn binary_order(a: &Owned, b: &Owned) -> Ordering {
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

/// What the incremental job counts keep between snapshots.
#[derive(Debug, Clone)]
pub(super) struct JobTally {
    /// Where the table stands.
    mark: HighWaterMark,
    /// Settled jobs per terminal status, in the order of [`TERMINAL_STATUSES`].
    settled: [i64; 3],
    /// Unsettled job ids at or below the mark.
    unsettled: BTreeSet<i64>,
    /// When the recount this tally descends from had finished.
    pub(super) built: Instant,
}

/// The job counts by status, as the source answers them.
pub(super) type StatusCounts = Decoded<Vec<(String, i64)>>;

/// The full job counts from the `groups` of the full query, plus the
/// tally derived in the same transaction.
pub(super) fn full_with_tally(
    conn: &Connection,
    path: &Path,
    groups: &JobGroups,
) -> Result<(StatusCounts, Result<JobTally, Refusal>), SqliteError> {
    let answer = queries::fold_statuses(groups.iter().map(|(v, n)| (v.as_ref(), *n)));
    let tally = (|| {
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
        let mark = HighWaterMark::read(conn, "jobs", path)?;
        let mut settled = [0_i64; 3];
        let mut unsettled_rows = 0_i64;
        for (status, count) in groups {
            match terminal_position(status.as_ref()) {
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
        Ok(JobTally {
            mark,
            settled,
            unsettled,
            built: Instant::now(),
        })
    })();
    Ok((answer, tally))
}

/// Brings a job tally up to the current transaction; returns the answer
/// and whether drift was seen.
pub(super) fn catch_up(
    conn: &Connection,
    path: &Path,
    tally: &mut JobTally,
) -> Result<(StatusCounts, bool), Refusal> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    if !tally.mark.row_unchanged(conn, "jobs", path)? {
        return Err(Refusal::MarkRowReplaced);
    }
    let (smallest, largest) = rowid_bounds(conn, "jobs", path)?;
    let mut drift = tally.mark.smallest_moved(smallest);
    let before = tally.mark.clone();
    // Rows above the mark.
    {
        let mut stmt = conn
            .prepare_cached("SELECT rowid, status FROM jobs WHERE rowid > ?1")
            .map_err(sqlite)?;
        let mut rows = stmt.query([before.new_rows_above()]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? else {
                continue;
            };
            match terminal_position(row.get_ref(1).map_err(sqlite)?) {
                Some(i) => tally.settled[i] = tally.settled[i].saturating_add(1),
                None => {
                    tally.unsettled.insert(id);
                }
            }
        }
    }
    tally.mark.advance(conn, "jobs", path, smallest, largest)?;
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
            if tally.unsettled.insert(id) {
                // Settled before (at or below the old mark): a requeue.
                drift = true;
            }
            seen.insert(id);
            add(Owned::of(row.get_ref(1).map_err(sqlite)?));
            if tally.unsettled.len() > MAX_UNSETTLED {
                return Err(Refusal::TooManyUnsettled);
            }
        }
    }
    // Unsettled jobs the index no longer lists: settled, or gone.
    let missing: Vec<i64> = tally
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
                    tally.unsettled.remove(&id);
                    drift = true;
                }
                Some(row) => {
                    let status = row.get_ref(0).map_err(sqlite)?;
                    if let Some(i) = terminal_position(status) {
                        tally.settled[i] = tally.settled[i].saturating_add(1);
                        tally.unsettled.remove(&id);
                    } else {
                        add(Owned::of(status));
                    }
                }
            }
        }
    }
    for (i, name) in TERMINAL_STATUSES.iter().enumerate() {
        if tally.settled[i] != 0 {
            let status = Owned::Text(name.as_bytes().to_vec());
            match current.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n = n.saturating_add(tally.settled[i]),
                None => current.push((status, tally.settled[i])),
            }
        }
    }
    current.sort_by(|(a, _), (b, _)| binary_order(a, b));
    let answer = queries::fold_statuses(current.iter().map(|(v, n)| (v.as_ref(), *n)));
    Ok((answer, drift))
}
