//! The cost and token totals of the runs, incrementally: which runs are
//! settled, the tally kept of them, and the two ways of answering (the full
//! query with the tally derived from it, and the catch-up of a tally).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use vitals_cost::CostTotals;

use crate::error::SqliteError;
use crate::parallel::{RunScan, RunScanKind};
use crate::queries::Decoded;
use crate::totals::Sums;

use super::marks::{HighWaterMark, rowid_bounds};
use super::refusal::{MAX_UNSETTLED, Refusal};

/// The columns of a run that the totals read, after its rowid: its
/// "settled" flag (a run is settled once `finished_at` is not NULL), then
/// its cost and tokens.
const RUN_COLUMNS: &str = "finished_at IS NOT NULL, cost_usd, input_tokens, output_tokens, \
                           cache_read_tokens, cache_creation_tokens";

/// What the incremental run totals keep between snapshots.
#[derive(Debug, Clone)]
pub(super) struct RunTally {
    /// Where the table stands.
    mark: HighWaterMark,
    /// The sums of the settled (finished) runs.
    settled: Sums,
    /// Unsettled (unfinished) run ids at or below the mark.
    unsettled: BTreeSet<i64>,
    /// When the recount this tally descends from had finished.
    pub(super) built: Instant,
}

/// Adds one row of `RUN_COLUMNS` (starting at column `at`) to `sums`;
/// returns whether the run is finished.
fn add_run_row(row: &rusqlite::Row<'_>, at: usize, sums: &mut Sums) -> rusqlite::Result<bool> {
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

/// The full run totals from `scan` (the full query of the kind asked
/// for), plus the tally derived in the same transaction.
pub(super) fn full_with_tally(
    conn: &Connection,
    path: &Path,
    mut scan: impl FnMut(RunScanKind) -> Result<RunScan, SqliteError>,
) -> Result<(Decoded<CostTotals>, Result<RunTally, Refusal>), SqliteError> {
    let (all, first_unfinished) = match scan(RunScanKind::FirstUnfinished) {
        Ok(found) => found,
        // No `finished_at` (or no rowid): the plain query answers, no tally.
        Err(error @ SqliteError::MissingColumn { .. }) => {
            let answer = scan(RunScanKind::Plain)?.0.decoded()?;
            return Ok((answer, Err(Refusal::Sqlite(error))));
        }
        Err(error) => return Err(error),
    };
    let answer = all.decoded()?;
    let tally = (|| {
        let sqlite = |e| SqliteError::from_sqlite(e, path);
        let mark = HighWaterMark::read(conn, "agent_runs", path)?;
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
                add_run_row(row, 1, &mut open).map_err(sqlite)?;
            }
            if unsettled.len() > MAX_UNSETTLED {
                return Err(Refusal::TooManyUnsettled);
            }
        }
        let mut settled = all;
        settled.combine(&open, -1);
        Ok(RunTally {
            mark,
            settled,
            unsettled,
            built: Instant::now(),
        })
    })();
    Ok((answer, tally))
}

/// Brings a run tally up to the current transaction; returns the answer
/// and whether drift was seen.
pub(super) fn catch_up(
    conn: &Connection,
    path: &Path,
    tally: &mut RunTally,
) -> Result<(Decoded<CostTotals>, bool), Refusal> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    if !tally.mark.row_unchanged(conn, "agent_runs", path)? {
        return Err(Refusal::MarkRowReplaced);
    }
    let (smallest, largest) = rowid_bounds(conn, "agent_runs", path)?;
    let mut drift = tally.mark.smallest_moved(smallest);
    let before = tally.mark.clone();
    let mut open = Sums::default();
    {
        let sql = format!("SELECT rowid, {RUN_COLUMNS} FROM agent_runs WHERE rowid > ?1");
        let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
        let mut rows = stmt.query([before.new_rows_above()]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let ValueRef::Integer(id) = row.get_ref(0).map_err(sqlite)? else {
                continue;
            };
            let mut one = Sums::default();
            if add_run_row(row, 1, &mut one).map_err(sqlite)? {
                tally.settled.combine(&one, 1);
            } else {
                open.combine(&one, 1);
                tally.unsettled.insert(id);
            }
        }
    }
    tally
        .mark
        .advance(conn, "agent_runs", path, smallest, largest)?;
    if tally.unsettled.len() > MAX_UNSETTLED {
        return Err(Refusal::TooManyUnsettled);
    }
    let known: Vec<i64> = match before.rowid {
        Some(mark) => tally.unsettled.range(..=mark).copied().collect(),
        None => Vec::new(),
    };
    if !known.is_empty() {
        let sql = format!("SELECT {RUN_COLUMNS} FROM agent_runs WHERE rowid = ?1");
        let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
        for id in known {
            let mut rows = stmt.query([id]).map_err(sqlite)?;
            match rows.next().map_err(sqlite)? {
                None => {
                    tally.unsettled.remove(&id);
                    drift = true;
                }
                Some(row) => {
                    let mut one = Sums::default();
                    if add_run_row(row, 0, &mut one).map_err(sqlite)? {
                        tally.settled.combine(&one, 1);
                        tally.unsettled.remove(&id);
                    } else {
                        open.combine(&one, 1);
                    }
                }
            }
        }
    }
    let mut total = tally.settled;
    total.combine(&open, 1);
    Ok((total.decoded()?, drift))
}
