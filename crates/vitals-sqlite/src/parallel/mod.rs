//! The full scans of one read transaction, shared between the store's
//! connection and a twin connection at the same point in time.
//!
//! A cold build (the first scrape, every scrape without incremental
//! aggregates) scans all history twice: `jobs` through its status index
//! for the counts, and `agent_runs` for the totals. A *pass* splits that
//! work between the store's connection and a second one, the *twin*, on a
//! thread of its own: `agent_runs` is cut into rowid ranges that both take
//! in turn (the twin first counts the jobs), so that two cores share the
//! scan and a busy core takes fewer ranges (a twin that has taken nothing
//! by the time the store's connection is done is not waited for: on a busy
//! machine a pass costs what one connection alone costs). Both aggregates are asked for
//! by the same snapshot, so the first of the two calls runs the pass for
//! both and keeps the other's raw result for its call in the same
//! transaction (when the previous transaction asked for both, or on the
//! first). Without a twin, each call computes only its own aggregate.
//!
//! **One point in time.** The twin must read what the store's transaction
//! reads. It reads only where that is certain
//! ([`SamePoint`](crate::connection::SamePoint)): a detached (immutable) read of a file whose fingerprint
//! is unchanged, or a rollback-journal database on which the store's
//! transaction holds its shared lock (no writer can change the file until
//! it ends). A WAL database with a live writer gives no such certainty: the
//! store's connection then does the whole pass alone. So does a twin that
//! finds the file changed, a writer's lock in its way or any error: what
//! it did not deliver, the store's connection computes itself.
//!
//! **Exactness.** Each range is summed by the cheap totals query
//! ([`totals::cheap_totals`]). When every range is proven clean, the sums
//! are added up: counts and token sums exactly (in 128 bits); the cost as a
//! compensated sum of the ranges' `TOTAL()`s, which may differ from one
//! `TOTAL()` over the table in the last bits. A range that is not proven
//! clean, or token sums that come within a factor two of the 64-bit limit,
//! send the whole table to the sequential query on the store's connection
//! (cheap, then exact), whose answer or error stands: bad values are
//! reported exactly as without a split, and an overflow is SQLite's. (The
//! one difference left: SQLite's `SUM` fails when its running sum leaves
//! the 64-bit range at any row, even if later rows bring it back; inside
//! one range the split sees that too, but running sums beyond 2^62 that
//! cancel out within a range while the ranges' sums stay below 2^62 are
//! summed, not reported.)
//!
//! **Files**, each naming only the ones before it: `tx.rs` (a transaction
//! as the passes see it), `groups.rs` (the job counts, the `done` jobs by
//! difference), `scan.rs` (what a scan of `agent_runs` computes), `twin.rs`
//! (the twin's thread), `split.rs` (one split pass: the parts taken in turn,
//! the gate, the shares put together); this file: what is computed ahead
//! for which call, and when a pass is split.

mod groups;
mod scan;
mod split;
mod twin;
mod tx;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::types::ValueRef;

use crate::connection::SamePoint;
use crate::error::SqliteError;
use crate::options::Options;
use crate::stats::Stats;
use crate::totals;

#[cfg(all(test, unix))]
pub(crate) use groups::counts_by_difference;
pub(crate) use groups::{JobGroups, job_groups};
pub(crate) use scan::{RunScan, RunScanKind};
pub(crate) use tx::Tx;

use split::split;
use twin::TwinThread;

/// What a pass also computes for the other table of the same transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ahead {
    /// The job counts.
    pub(crate) jobs: bool,
    /// A scan of `agent_runs`.
    pub(crate) runs: Option<RunScanKind>,
}

/// The two history-wide aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// The job counts by status.
    Jobs,
    /// The run totals.
    Runs,
}

impl Table {
    fn index(self) -> usize {
        match self {
            Table::Jobs => 0,
            Table::Runs => 1,
        }
    }
}

/// At most this many ranges.
const MAX_RANGES: i64 = 16;

/// What the store's aggregates asked for in a transaction.
#[derive(Debug, Default)]
struct Asked {
    began: Option<Instant>,
    now: [bool; 2],
    before: Option<[bool; 2]>,
}

/// The full scans of the store's read transactions: the twin, what the
/// aggregates asked for (to know what to compute ahead), and the raw
/// results computed ahead for the current transaction.
pub(crate) struct FullPasses {
    path: PathBuf,
    stats: Arc<Stats>,
    twin: Option<TwinThread>,
    asked: Asked,
    ahead_jobs: Option<(Instant, JobGroups)>,
    ahead_runs: Option<(Instant, RunScanKind, RunScan)>,
    split_min_rows: i64,
    twin_first: bool,
}

impl std::fmt::Debug for FullPasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullPasses")
            .field("twin", &self.twin.is_some())
            .finish_non_exhaustive()
    }
}

impl FullPasses {
    /// No twin yet (it starts with the first split pass); `agent_runs` is
    /// split from the `options`' number of rowids on; passes are counted in
    /// `stats`.
    pub(crate) fn new(path: PathBuf, options: &Options, stats: Arc<Stats>) -> Self {
        FullPasses {
            path,
            stats,
            twin: None,
            asked: Asked::default(),
            ahead_jobs: None,
            ahead_runs: None,
            split_min_rows: options.split_min_rows.max(2),
            twin_first: options.twin_first,
        }
    }

    /// Notes that `table`'s aggregate is asked for in the transaction begun at `began`.
    pub(crate) fn asked(&mut self, began: Instant, table: Table) {
        if self.asked.began != Some(began) {
            if self.asked.began.is_some() {
                self.asked.before = Some(self.asked.now);
            }
            self.asked = Asked {
                began: Some(began),
                now: [false; 2],
                before: self.asked.before,
            };
        }
        if let Some(slot) = self.asked.now.get_mut(table.index()) {
            *slot = true;
        }
    }

    /// Whether `table`'s aggregate is still to come in this transaction:
    /// not asked for yet, and asked for in the previous one (or there was none).
    pub(crate) fn expected(&self, table: Table) -> bool {
        let i = table.index();
        !self.asked.now.get(i).copied().unwrap_or(true)
            && self
                .asked
                .before
                .is_none_or(|before| before.get(i).copied().unwrap_or(true))
    }

    /// Forgets the results computed ahead (the file was closed, replaced, or an answer discarded).
    pub(crate) fn reset(&mut self) {
        self.ahead_jobs = None;
        self.ahead_runs = None;
    }

    /// The raw job counts at `tx`'s point in time. With `runs_too`, and
    /// when the scan of `agent_runs` can be shared with the twin, that scan
    /// is computed in the same pass and kept for its call in this
    /// transaction. (Alone, the store's connection computes only what it
    /// is asked: the other call would wait for it as long either way, and
    /// this one's deadline need not cover both.)
    pub(crate) fn job_groups(
        &mut self,
        tx: &Tx<'_>,
        runs_too: Option<RunScanKind>,
    ) -> Result<JobGroups, SqliteError> {
        if let Some((began, groups)) = self.ahead_jobs.take()
            && began == tx.began
        {
            return Ok(groups);
        }
        if let Some(kind) = runs_too
            && let Some((point, ranges)) = self.ranges(tx)
        {
            let pass = self.split(tx, point, ranges, true, kind);
            if let Some(Ok(scan)) = pass.runs {
                self.ahead_runs = Some((tx.began, kind, scan));
            }
            if let Some(groups) = pass.jobs {
                return groups;
            }
        }
        job_groups(tx.conn, tx.path)
    }

    /// The scan of `agent_runs` at `tx`'s point in time, shared with the
    /// twin when it can read that point. With `jobs_too`, the job counts
    /// are computed in the same shared pass and kept for their call in this
    /// transaction.
    pub(crate) fn run_scan(
        &mut self,
        tx: &Tx<'_>,
        kind: RunScanKind,
        jobs_too: bool,
    ) -> Result<RunScan, SqliteError> {
        if let Some((began, ahead_kind, scan)) = self.ahead_runs.take()
            && began == tx.began
            && ahead_kind == kind
        {
            return Ok(scan);
        }
        let Some((point, ranges)) = self.ranges(tx) else {
            return totals::totals_sums(tx.conn, tx.path, kind.extra());
        };
        let kept = self
            .ahead_jobs
            .as_ref()
            .is_some_and(|(began, _)| *began == tx.began);
        let pass = self.split(tx, point, ranges, jobs_too && !kept, kind);
        if let Some(Ok(groups)) = pass.jobs {
            self.ahead_jobs = Some((tx.began, groups));
        }
        pass.runs
            .unwrap_or_else(|| totals::totals_sums(tx.conn, tx.path, kind.extra()))
    }

    /// The rowid ranges of `agent_runs` to share, when the table is large
    /// enough and a twin can read the same point in time. Its bounds are
    /// read first: on a locked connection that read takes the shared lock
    /// the twin relies on.
    fn ranges(&self, tx: &Tx<'_>) -> Option<(SamePoint, Vec<(i64, i64)>)> {
        let point = tx.same_point?;
        let (low, high) = tx
            .conn
            .query_row(
                "SELECT (SELECT MIN(rowid) FROM agent_runs), (SELECT MAX(rowid) FROM agent_runs)",
                [],
                |row| {
                    let int = |i| match row.get_ref(i) {
                        Ok(ValueRef::Integer(n)) => Some(n),
                        _ => None,
                    };
                    Ok((int(0), int(1)))
                },
            )
            .ok()?;
        let (low, high) = (low?, high?);
        let span = i128::from(high) - i128::from(low) + 1;
        if span < i128::from(self.split_min_rows) || !point.held_by(tx.conn) {
            return None;
        }
        let min_width = i128::from(self.split_min_rows / 3).max(1);
        let count = (span / min_width).clamp(2, i128::from(MAX_RANGES));
        let width = (span + count - 1) / count;
        let mut ranges = Vec::new();
        let mut start = i128::from(low);
        while start <= i128::from(high) {
            let end = (start + width - 1).min(i128::from(high));
            ranges.push((i64::try_from(start).ok()?, i64::try_from(end).ok()?));
            start = end + 1;
        }
        Some((point, ranges))
    }

    fn twin(&mut self) -> Option<&TwinThread> {
        if self.twin.is_none() {
            match TwinThread::spawn(self.path.clone()) {
                Ok(twin) => self.twin = Some(twin),
                Err(error) => {
                    tracing::warn!(%error, "vitals-sqlite: cannot start the twin thread");
                    return None;
                }
            }
        }
        self.twin.as_ref()
    }

    /// A pass split with the twin (started on first use; forgotten when
    /// its thread is gone); counts the passes it read in.
    fn split(
        &mut self,
        tx: &Tx<'_>,
        point: SamePoint,
        ranges: Vec<(i64, i64)>,
        jobs: bool,
        kind: RunScanKind,
    ) -> split::Pass {
        let twin_first = self.twin_first;
        let (pass, twin) = split(tx, self.twin(), point, ranges, jobs, kind, twin_first);
        if !twin.sent {
            self.twin = None;
        }
        if twin.read {
            Stats::bump(&self.stats.parallel_passes);
        }
        pass
    }
}
