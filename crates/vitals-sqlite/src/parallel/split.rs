//! One pass split between the store's connection and the twin: the parts
//! taken in turn, the gate that decides whether the twin is waited for,
//! and the shares put together.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

use crate::connection::{Database, SamePoint};
use crate::error::SqliteError;
use crate::totals::{self, Cheap, Rows, Sums};

use super::groups::{JobGroups, job_groups};
use super::scan::{RunScan, RunScanKind};
use super::twin::{TwinJob, TwinThread};
use super::tx::Tx;

/// Token sums (of a range, or added up) at or beyond this go to the
/// sequential query: it is half the 64-bit limit.
const SPLIT_TOKEN_LIMIT: i128 = 1 << 62;

/// How often the store's connection, waiting for the twin, looks at its
/// request's cancellation.
const WAIT_STEP: Duration = Duration::from_millis(2);

/// The outcome of one pass.
pub(super) struct Pass {
    /// The job counts, if the pass computed them.
    pub(super) jobs: Option<Result<JobGroups, SqliteError>>,
    /// The scan of `agent_runs`.
    pub(super) runs: Option<Result<RunScan, SqliteError>>,
}

/// What became of the twin in a pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Twin {
    /// The work was handed to its thread (false: the thread is gone).
    pub(super) sent: bool,
    /// It read at the store's point in time, and its share was used.
    pub(super) read: bool,
}

/// A pass split between the store's connection and the twin (when it
/// could be handed to it): the outcome, and what became of the twin.
pub(super) fn split(
    tx: &Tx<'_>,
    twin: Option<&TwinThread>,
    point: SamePoint,
    ranges: Vec<(i64, i64)>,
    jobs: bool,
    kind: RunScanKind,
    twin_first: bool,
) -> (Pass, Twin) {
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
    let sent = twin.is_some_and(|twin| twin.send(job));
    if sent && twin_first {
        // Tests: the twin certainly reads (its thread may be slow to come).
        while work.gate.load(Ordering::Acquire) == GATE_OPEN && !tx.cancel.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    let mine = work.share(tx.conn, tx.path, Order::RangesFirst);
    if mine.interrupted() {
        stop.store(true, Ordering::Release);
        return (Pass::interrupted(jobs), Twin { sent, read: false });
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
                return (Pass::interrupted(jobs), Twin { sent, read: false });
            }
        }
    } else {
        None
    };
    let read = theirs.is_some();
    (work.finish(tx, mine, theirs), Twin { sent, read })
}

impl Pass {
    /// Both parts interrupted.
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
        while !share.interrupted()
            && let Some((i, (low, high))) = self.claim_range()
        {
            let rows = Rows::Between(low, high);
            let out = totals::cheap_totals(conn, path, self.kind.extra(), rows);
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
        for (i, slot) in found.iter_mut().enumerate() {
            let cheap = match slot.take() {
                Some(cheap) => cheap,
                None => {
                    let Some(&(low, high)) = self.ranges.get(i) else {
                        proven = false;
                        break;
                    };
                    let rows = Rows::Between(low, high);
                    match totals::cheap_totals(tx.conn, tx.path, self.kind.extra(), rows) {
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
