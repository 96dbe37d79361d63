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
//! ([`SamePoint`]): a detached (immutable) read of a file whose fingerprint
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

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::connection::{Database, SamePoint};
use crate::error::SqliteError;
use crate::options::Options;
use crate::queries::{self, Owned};
use crate::stats::Stats;
use crate::totals::{self, Cheap, Rows, Sums};

/// A read transaction of the store's connection, as the aggregates see it.
#[derive(Clone, Copy)]
pub(crate) struct Tx<'a> {
    /// The store's connection, inside the transaction.
    pub(crate) conn: &'a Connection,
    /// The database path.
    pub(crate) path: &'a Path,
    /// When the transaction was begun (it tells one transaction from the next).
    pub(crate) began: Instant,
    /// What a twin needs to read the same point in time, if it can.
    pub(crate) same_point: Option<SamePoint>,
    /// Set when the request running in the transaction is given up.
    pub(crate) cancel: &'a Arc<AtomicBool>,
}

/// The raw groups of the job counts (`status`, count).
pub(crate) type JobGroups = Vec<(Owned, i64)>;

/// The sums of a scan of `agent_runs`, and its extra value.
pub(crate) type RunScan = (Sums, Option<i64>);

/// Which scan of `agent_runs` a pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunScanKind {
    /// The totals alone.
    Plain,
    /// The totals and the smallest rowid of an unfinished run (the
    /// incremental aggregates derive their tally from it).
    FirstUnfinished,
}

impl RunScanKind {
    /// The extra expression of the scan.
    pub(crate) fn extra(self) -> Option<&'static str> {
        match self {
            RunScanKind::Plain => None,
            // A filter, not a CASE: the aggregate is not called for the
            // (many) finished rows.
            RunScanKind::FirstUnfinished => Some("MIN(rowid) FILTER (WHERE finished_at IS NULL)"),
        }
    }
}

/// `SELECT status, COUNT(*) FROM jobs GROUP BY status`, but for the `done`
/// jobs (most of history): their count is the table's `COUNT(*)` (which
/// SQLite takes from the b-tree's page headers, without visiting a row)
/// less the other groups, which are read through the status index on both
/// sides of `done`. Ten times cheaper on the reference history.
///
/// It is the same answer, in the same order, when `status` compares with
/// the `BINARY` collation (then exactly the text `done` lies between the
/// two ranges, as `GROUP BY` groups it) and a full index on `status` makes
/// the ranges searches; otherwise the plain query runs.
pub(crate) fn job_groups(conn: &Connection, path: &Path) -> Result<JobGroups, SqliteError> {
    if !counts_by_difference(conn) {
        return queries::status_groups(conn, path);
    }
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM jobs")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(sqlite)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT 0, status, COUNT(*) FROM jobs WHERE status IS NULL GROUP BY status \
             UNION ALL SELECT 1, status, COUNT(*) FROM jobs WHERE status < 'done' GROUP BY status \
             UNION ALL SELECT 2, status, COUNT(*) FROM jobs WHERE status > 'done' GROUP BY status",
        )
        .map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let mut parts: Vec<(i64, Owned, i64)> = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        let (ValueRef::Integer(part), ValueRef::Integer(count)) = (
            row.get_ref(0).map_err(sqlite)?,
            row.get_ref(2).map_err(sqlite)?,
        ) else {
            return queries::status_groups(conn, path);
        };
        parts.push((part, Owned::of(row.get_ref(1).map_err(sqlite)?), count));
    }
    drop(rows);
    // Each part in index order; the parts in this order (stable sort).
    parts.sort_by_key(|(part, _, _)| *part);
    let others = parts
        .iter()
        .try_fold(0_i64, |sum, (_, _, n)| sum.checked_add(*n));
    let Some(done) = others.and_then(|others| total.checked_sub(others)) else {
        return queries::status_groups(conn, path);
    };
    if done < 0 {
        return queries::status_groups(conn, path);
    }
    let mut groups = Vec::with_capacity(parts.len() + 1);
    let mut placed = done == 0;
    for (part, status, n) in parts {
        if part == 2 && !placed {
            groups.push((Owned::Text(b"done".to_vec()), done));
            placed = true;
        }
        groups.push((status, n));
    }
    if !placed {
        groups.push((Owned::Text(b"done".to_vec()), done));
    }
    Ok(groups)
}

/// Whether [`job_groups`] may count the `done` jobs by difference: the
/// column `jobs.status` compares with `BINARY`, and a full index starts
/// with it in that collation.
pub(crate) fn counts_by_difference(conn: &Connection) -> bool {
    let binary = conn
        .column_metadata(Some("main"), "jobs", "status")
        .is_ok_and(|(_, collation, ..)| {
            collation.is_some_and(|c| c.to_bytes().eq_ignore_ascii_case(b"BINARY"))
        });
    binary
        && conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM pragma_index_list('jobs') AS l, \
                 pragma_index_xinfo(l.name) AS i WHERE l.partial = 0 AND i.seqno = 0 \
                 AND i.name = 'status' COLLATE NOCASE AND i.coll = 'BINARY' COLLATE NOCASE)",
            )
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, bool>(0)))
            .unwrap_or(false)
}

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

/// Token sums (of a range, or added up) at or beyond this go to the
/// sequential query: it is half the 64-bit limit.
const SPLIT_TOKEN_LIMIT: i128 = 1 << 62;

/// How often the store's connection, waiting for the twin, looks at its
/// request's cancellation.
const WAIT_STEP: Duration = Duration::from_millis(2);

type TwinJob = Box<dyn FnOnce(&mut Database) + Send>;

/// The twin's thread: a second read-only [`Database`] that waits for no
/// lock, serving jobs until it is dropped.
struct TwinThread {
    jobs: Sender<TwinJob>,
}

impl TwinThread {
    fn spawn(path: PathBuf) -> io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<TwinJob>();
        std::thread::Builder::new()
            .name("vitals-sqlite-twin".to_owned())
            .spawn(move || {
                // Counters of its own; a zero busy timeout: the twin never waits for a lock.
                let mut database = Database::new(path, Duration::ZERO, Arc::default());
                for job in inbox {
                    if catch_unwind(AssertUnwindSafe(|| job(&mut database))).is_err() {
                        tracing::error!("vitals-sqlite: a twin read panicked");
                        database.install(None);
                        database.end_transaction();
                    }
                }
                database.close();
            })?;
        Ok(TwinThread { jobs })
    }
}

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

/// The outcome of one pass.
struct Pass {
    jobs: Option<Result<JobGroups, SqliteError>>,
    runs: Option<Result<RunScan, SqliteError>>,
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

    /// A pass split between the store's connection and the twin.
    fn split(
        &mut self,
        tx: &Tx<'_>,
        point: SamePoint,
        ranges: Vec<(i64, i64)>,
        jobs: bool,
        kind: RunScanKind,
    ) -> Pass {
        let work = Arc::new(Work {
            gate: AtomicU8::new(GATE_OPEN),
            next: AtomicUsize::new(0),
            jobs,
            jobs_left: AtomicBool::new(jobs),
            ranges,
            kind,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (done, answer) = mpsc::channel();
        let job: TwinJob = {
            let work = Arc::clone(&work);
            let stop = Arc::clone(&stop);
            Box::new(move |database: &mut Database| {
                // Too late (the store's side did everything): nothing to open.
                let out = if work.gate.load(Ordering::Acquire) == GATE_CLOSED {
                    Ok(None)
                } else {
                    database.run_at(&point, &stop, |conn, path| {
                        Ok(work.share(conn, path, Order::JobsFirst))
                    })
                };
                // Not at the store's point in time (or failed before taking
                // a part): the store's side need not wait any longer.
                let _ = work.gate.compare_exchange(
                    GATE_OPEN,
                    GATE_CLOSED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                // The store's side may have given up; nobody waits then.
                let _ = done.send(out);
            })
        };
        let sent = self.twin().is_some_and(|twin| twin.jobs.send(job).is_ok());
        if !sent {
            self.twin = None;
        }
        if sent && self.twin_first {
            // Tests: the twin certainly reads (its thread may be slow to come).
            while work.gate.load(Ordering::Acquire) == GATE_OPEN
                && !tx.cancel.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        let mine = work.share(tx.conn, tx.path, Order::RangesFirst);
        if mine.interrupted() {
            stop.store(true, Ordering::Release);
            return Pass::interrupted(jobs);
        }
        // A twin that has taken nothing yet (its thread not scheduled, its
        // connection still opening) is not waited for: the store's side
        // computes the rest itself.
        let waited = sent
            && work
                .gate
                .compare_exchange(GATE_OPEN, GATE_CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_err();
        if !waited {
            stop.store(true, Ordering::Release);
        }
        let theirs = if waited {
            match wait(&answer, tx.cancel) {
                Some(out) => out.and_then(|read| read.ok().flatten()),
                None => {
                    stop.store(true, Ordering::Release);
                    return Pass::interrupted(jobs);
                }
            }
        } else {
            None
        };
        if theirs.is_some() {
            Stats::bump(&self.stats.parallel_passes);
        }
        work.finish(tx, mine, theirs)
    }
}

impl Pass {
    fn interrupted(jobs: bool) -> Pass {
        Pass {
            jobs: jobs.then_some(Err(SqliteError::Interrupted { source: None })),
            runs: Some(Err(SqliteError::Interrupted { source: None })),
        }
    }
}

/// Waits for the twin's answer; `None` when the request is given up first.
fn wait<T>(answer: &Receiver<T>, cancel: &AtomicBool) -> Option<Option<T>> {
    loop {
        match answer.recv_timeout(WAIT_STEP) {
            Ok(out) => return Some(Some(out)),
            Err(RecvTimeoutError::Disconnected) => return Some(None),
            Err(RecvTimeoutError::Timeout) => {
                if cancel.load(Ordering::Acquire) {
                    return None;
                }
            }
        }
    }
}

/// Which part a connection takes first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The twin: the job counts, then ranges.
    JobsFirst,
    /// The store's connection: ranges, then the job counts if still left.
    RangesFirst,
}

/// The work of a split pass, taken in turn by both connections.
struct Work {
    /// [`GATE_OPEN`] until the twin starts taking parts ([`GATE_TWIN_IN`])
    /// or the store's side, done with its own, closes it ([`GATE_CLOSED`]):
    /// the store's side waits for the twin only if it got in.
    gate: AtomicU8,
    next: AtomicUsize,
    /// Whether the pass computes the job counts.
    jobs: bool,
    jobs_left: AtomicBool,
    ranges: Vec<(i64, i64)>,
    kind: RunScanKind,
}

/// The states of [`Work::gate`].
const GATE_OPEN: u8 = 0;
const GATE_TWIN_IN: u8 = 1;
const GATE_CLOSED: u8 = 2;

/// What one connection computed of a split pass.
#[derive(Default)]
struct Share {
    jobs: Option<Result<JobGroups, SqliteError>>,
    ranges: Vec<(usize, Result<Cheap, SqliteError>)>,
}

impl Share {
    fn interrupted(&self) -> bool {
        fn stopped<T>(out: &Result<T, SqliteError>) -> bool {
            matches!(out, Err(SqliteError::Interrupted { .. }))
        }
        self.jobs.as_ref().is_some_and(stopped) || self.ranges.iter().any(|(_, out)| stopped(out))
    }
}

impl Work {
    fn claim_jobs(&self) -> bool {
        self.jobs_left.swap(false, Ordering::AcqRel)
    }

    fn claim_range(&self) -> Option<(usize, (i64, i64))> {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        self.ranges.get(i).map(|range| (i, *range))
    }

    /// Takes parts in turn until none is left (or one is interrupted).
    fn share(&self, conn: &Connection, path: &Path, order: Order) -> Share {
        let mut share = Share::default();
        if order == Order::JobsFirst
            && self
                .gate
                .compare_exchange(GATE_OPEN, GATE_TWIN_IN, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            // The store's side closed the gate: it computes everything.
            return share;
        }
        if order == Order::JobsFirst && self.claim_jobs() {
            share.jobs = Some(job_groups(conn, path));
        }
        // The columns' affinities are read once for all the ranges taken.
        let mut numeric = None;
        while !share.interrupted()
            && let Some((i, (low, high))) = self.claim_range()
        {
            let numeric = *numeric.get_or_insert_with(|| totals::token_affinities(conn));
            let rows = Rows::Between(low, high);
            let out = totals::cheap_totals_with(conn, path, self.kind.extra(), rows, numeric);
            share.ranges.push((i, out));
        }
        if order == Order::RangesFirst && !share.interrupted() && self.claim_jobs() {
            share.jobs = Some(job_groups(conn, path));
        }
        share
    }

    /// Puts both shares together; what the twin did not deliver, and any
    /// error of its, is computed again on the store's connection.
    fn finish(&self, tx: &Tx<'_>, mine: Share, theirs: Option<Share>) -> Pass {
        let theirs = theirs.unwrap_or_default();
        let jobs = match (mine.jobs, theirs.jobs) {
            (Some(out), _) | (None, Some(out @ Ok(_))) => Some(out),
            _ if self.jobs => Some(job_groups(tx.conn, tx.path)),
            _ => None,
        };
        let mut found: Vec<Option<Cheap>> = vec![None; self.ranges.len()];
        for (i, out) in mine.ranges.into_iter().chain(theirs.ranges) {
            if let (Some(slot), Ok(cheap)) = (found.get_mut(i), out) {
                *slot = Some(cheap);
            }
        }
        let mut total = Sums::default();
        let mut first: Option<i64> = None;
        let mut proven = true;
        let mut numeric = None;
        for (i, slot) in found.iter_mut().enumerate() {
            let cheap = match slot.take() {
                Some(cheap) => cheap,
                None => {
                    let Some(&(low, high)) = self.ranges.get(i) else {
                        proven = false;
                        break;
                    };
                    let numeric = *numeric.get_or_insert_with(|| totals::token_affinities(tx.conn));
                    let rows = Rows::Between(low, high);
                    match totals::cheap_totals_with(
                        tx.conn,
                        tx.path,
                        self.kind.extra(),
                        rows,
                        numeric,
                    ) {
                        Ok(cheap) => cheap,
                        Err(error) => {
                            return Pass {
                                jobs,
                                runs: Some(Err(error)),
                            };
                        }
                    }
                }
            };
            let Cheap::Proven(sums, extra) = cheap else {
                proven = false;
                break;
            };
            total.combine(&sums, 1);
            if !sums.tokens_below(SPLIT_TOKEN_LIMIT) || !total.tokens_below(SPLIT_TOKEN_LIMIT) {
                proven = false;
                break;
            }
            first = match (first, extra) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let runs = if proven && total.cost_is_finite() {
            Ok((total, first))
        } else {
            totals::totals_sums(tx.conn, tx.path, self.kind.extra())
        };
        Pass {
            jobs,
            runs: Some(runs),
        }
    }
}
