//! The background recount: a thread with a second read-only connection that
//! rebuilds the tallies from scratch, in a read transaction of its own, so
//! that a scrape never waits for it.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::connection::Database;
use crate::parallel;
use crate::totals;

use super::jobs::{self, JobTally};
use super::runs::{self, RunTally};

/// Why a recount is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecountReason {
    /// A cheap check saw drift (or an inline pass could not finish): starts
    /// no sooner after the previous recount than that one took.
    Drift,
    /// The tally is older than the reconcile interval.
    Interval,
}

/// What a recount is asked to count: the tables whose tally it rebuilds.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecountOrder {
    /// Recount the job counts.
    pub(super) jobs: bool,
    /// Recount the run totals.
    pub(super) runs: bool,
}

/// A finished background recount.
#[derive(Debug)]
pub(super) struct FinishedRecount {
    /// How long it took.
    took: Duration,
    /// When it finished (the tallies' `built`).
    finished: Instant,
    /// The job tally, if it was asked for and could be built.
    pub(super) jobs: Option<JobTally>,
    /// The run tally, if it was asked for and could be built.
    pub(super) runs: Option<RunTally>,
}

/// What [`RecountThread::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecountStart {
    /// The order was sent.
    Started,
    /// A recount is in flight, or (for drift) the previous one ended too recently.
    NotNow,
    /// The thread is gone; a new one is needed.
    ThreadGone,
}

/// The background recount thread and its mailbox.
pub(super) struct RecountThread {
    orders: Sender<RecountOrder>,
    results: Receiver<FinishedRecount>,
    /// Interrupts the recount in flight when this is dropped.
    cancel: Arc<AtomicBool>,
    in_flight: bool,
    /// A drift-triggered recount does not start before this.
    not_before: Instant,
}

impl Drop for RecountThread {
    fn drop(&mut self) {
        // Interrupts the recount in flight; the closed mailbox ends the thread.
        self.cancel.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for RecountThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecountThread")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl RecountThread {
    /// Starts the recount thread: a second read-only connection to `path`,
    /// opened the way the store opens its own ([`Database`]), serving
    /// orders until this is dropped.
    pub(super) fn spawn(path: PathBuf, busy_timeout: Duration) -> io::Result<Self> {
        let (orders, inbox) = mpsc::channel::<RecountOrder>();
        let (results_tx, results) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        std::thread::Builder::new()
            .name("vitals-sqlite-recount".to_owned())
            .spawn(move || {
                // Counters of its own: the store's count the store's connection.
                let mut database = Database::new(path, busy_timeout, Arc::default());
                for order in inbox {
                    let recount =
                        catch_unwind(AssertUnwindSafe(|| recount(&mut database, &flag, order)))
                            .unwrap_or_else(|_| {
                                tracing::error!("vitals-sqlite: a background recount panicked");
                                database.install(None);
                                database.end_transaction();
                                FinishedRecount {
                                    took: Duration::ZERO,
                                    finished: Instant::now(),
                                    jobs: None,
                                    runs: None,
                                }
                            });
                    // The owner may be gone; nobody waits then.
                    let _ = results_tx.send(recount);
                }
                database.close();
            })?;
        Ok(RecountThread {
            orders,
            results,
            cancel,
            in_flight: false,
            not_before: Instant::now(),
        })
    }

    /// Sends `order`, unless a recount is in flight or, for drift, the
    /// previous one ended less than its own duration ago.
    pub(super) fn start(&mut self, order: RecountOrder, reason: RecountReason) -> RecountStart {
        if self.in_flight || (reason == RecountReason::Drift && Instant::now() < self.not_before) {
            return RecountStart::NotNow;
        }
        if self.orders.send(order).is_err() {
            return RecountStart::ThreadGone;
        }
        self.in_flight = true;
        RecountStart::Started
    }

    /// A finished recount, if one is waiting.
    pub(super) fn try_finished(&mut self) -> Option<FinishedRecount> {
        let recount = self.results.try_recv().ok()?;
        Some(self.received(recount))
    }

    /// Tests: waits for the recount in flight, if any.
    #[cfg(all(test, unix))]
    pub(super) fn wait_finished(&mut self, timeout: Duration) -> Option<FinishedRecount> {
        if !self.in_flight {
            return None;
        }
        let recount = self.results.recv_timeout(timeout).ok()?;
        Some(self.received(recount))
    }

    /// Nothing in flight any more; the next drift-triggered recount waits
    /// as long as this one took.
    fn received(&mut self, recount: FinishedRecount) -> FinishedRecount {
        self.in_flight = false;
        self.not_before = recount.finished + recount.took;
        recount
    }
}

/// Recounts the tables `order` names, in a read transaction of its own.
fn recount(
    database: &mut Database,
    cancel: &Arc<AtomicBool>,
    order: RecountOrder,
) -> FinishedRecount {
    let started = Instant::now();
    let out = database.run_alone(cancel, |conn, path| {
        // Each table on its own: one failing leaves the other.
        let jobs = order
            .jobs
            .then(|| {
                parallel::job_groups(conn, path)
                    .and_then(|groups| jobs::full_with_tally(conn, path, &groups))
                    .ok()
                    .and_then(|(_, tally)| tally.ok())
            })
            .flatten();
        let runs = order
            .runs
            .then(|| {
                runs::full_with_tally(conn, path, |kind| {
                    totals::totals_sums(conn, path, kind.extra())
                })
                .ok()
                .and_then(|(_, tally)| tally.ok())
            })
            .flatten();
        Ok((jobs, runs))
    });
    let finished = Instant::now();
    let (jobs, runs) = out.unwrap_or_else(|error| {
        tracing::debug!(%error, "vitals-sqlite: a background recount failed");
        (None, None)
    });
    FinishedRecount {
        took: finished - started,
        finished,
        jobs: jobs.map(|mut tally| {
            tally.built = finished;
            tally
        }),
        runs: runs.map(|mut tally| {
            tally.built = finished;
            tally
        }),
    }
}
