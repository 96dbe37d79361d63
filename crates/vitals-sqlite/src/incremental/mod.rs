//! Incremental aggregates: job counts by status and cost/token totals whose
//! cost per scrape follows the active work, not the history.
//!
//! # State: a tally per table
//!
//! For each of `jobs` and `agent_runs` the worker keeps, between snapshots,
//! a *tally* ([`JobTally`](jobs::JobTally), [`RunTally`](runs::RunTally)):
//! - the running sums of the *settled* rows: a job is settled when its
//!   status is exactly the text `done`, `failed` or `cancelled` (the
//!   reference schema's terminal statuses); a run is settled when its
//!   `finished_at` is not NULL (the reference writer sets `finished_at` and
//!   the usage columns in one statement, and an unfinished run has a NULL
//!   cost). Settled rows are summed once and never looked at again;
//! - the high-water mark ([`HighWaterMark`](marks::HighWaterMark)): the
//!   largest rowid counted, with the identity of
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
//!   query while it holds that rowid (the [`Off`](table::Phase::Off) phase, rechecked every
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
//! [`Database`](crate::connection::Database) like the store's worker's, so
//! it opens the file the same way: read-only
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
//! rowid or a `finished_at` column, more than [`MAX_UNSETTLED`](refusal::MAX_UNSETTLED) unsettled
//! rows (an orchestrator with its own terminal statuses, say), or rowid
//! `i64::MAX` turns the incremental path off for that table for one
//! reconcile interval: the full query answers, and memory stays bounded.
//!
//! # Files
//!
//! One idea each, each naming only the ones before it:
//! - `refusal.rs`: why the incremental path gives up on a table
//!   ([`Refusal`]), and the bound on the unsettled rows
//!   kept ([`MAX_UNSETTLED`](refusal::MAX_UNSETTLED));
//! - `marks.rs`: a table's high-water mark (steps 1 and 2 above, and
//!   "Rowid reuse");
//! - `jobs.rs`, `runs.rs`: per table, what is settled, its tally, the full
//!   query with the tally derived from it, and the catch-up;
//! - `table.rs`: where a table stands ([`Phase`]: cold, live,
//!   off) and what the control flow needs of a table
//!   ([`IncrementalTable`]), so one control flow
//!   answers both;
//! - `recount.rs`: the background recount thread ("Reconciling");
//! - this file: the control flow of a scrape ([`Incremental`]) and the
//!   [`Aggregates`] implementation the store's builder hands to the worker.

mod jobs;
mod marks;
mod recount;
mod refusal;
mod runs;
mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use vitals_cost::CostTotals;

use crate::aggregate::Aggregates;
use crate::error::SqliteError;
use crate::options::Options;
use crate::parallel::{Ahead, FullPasses, RunScanKind, Table, Tx};
use crate::queries::Decoded;
use crate::stats::Stats;

use recount::{RecountOrder, RecountReason, RecountStart, RecountThread};
use refusal::{Refusal, log_refusal};
use table::{IncrementalTable, JobCounts, Phase, RunTotals, Tables};

/// The bound on the unsettled rows kept per table (tests fill a table past it).
#[cfg(all(test, unix))]
pub(crate) use refusal::MAX_UNSETTLED;

/// What both tables' aggregates use: the database path, the store's
/// options and its counters.
#[derive(Debug)]
struct StoreContext {
    path: PathBuf,
    options: Options,
    stats: Arc<Stats>,
}

impl StoreContext {
    /// Until when a refused table is answered by the full query: one
    /// reconcile interval from now.
    fn off_until(&self) -> Instant {
        Instant::now() + self.options.reconcile_interval
    }
}

/// The incremental [`Aggregates`].
#[derive(Debug)]
pub(crate) struct Incremental {
    context: StoreContext,
    tables: Tables,
    /// Drift was seen and no recount has started since (one was in flight,
    /// or the previous one ended too recently): asked for again by every
    /// catch-up until one starts (for whatever reason: any recount that
    /// starts after the drift covers it). The catch-up that saw the drift has
    /// already absorbed it into the tally, so it is not seen twice.
    drift_pending: bool,
    /// Started on the first recount wanted.
    recount_thread: Option<RecountThread>,
    /// The full queries of the store's transactions (both tables in one
    /// pass, shared with a twin connection where it can).
    passes: FullPasses,
}

impl Drop for Incremental {
    fn drop(&mut self) {
        // Dropping the thread's handle interrupts its recount and ends it.
        self.recount_thread = None;
    }
}

impl Incremental {
    /// No tally yet; recounts read `path` on a connection of their own.
    pub(crate) fn new(path: PathBuf, options: Options, stats: Arc<Stats>) -> Self {
        Incremental {
            passes: FullPasses::new(path.clone(), &options, Arc::clone(&stats)),
            context: StoreContext {
                path,
                options,
                stats,
            },
            tables: Tables::new(),
            drift_pending: false,
            recount_thread: None,
        }
    }

    /// What a full query of `table` should compute ahead for the other
    /// table in the transaction begun at `began`: its full query, if one
    /// is foreseen there and it is expected to be asked for.
    fn ahead(&self, table: Table, began: Instant) -> Ahead {
        match table {
            Table::Jobs => Ahead {
                jobs: false,
                runs: self
                    .passes
                    .expected(Table::Runs)
                    .then(|| {
                        self.tables
                            .runs
                            .coming_full_query(began, RunTotals::built_at)
                    })
                    .flatten()
                    .map(|tally| {
                        if tally {
                            RunScanKind::FirstUnfinished
                        } else {
                            RunScanKind::Plain
                        }
                    }),
            },
            Table::Runs => Ahead {
                jobs: self.passes.expected(Table::Jobs)
                    && self
                        .tables
                        .jobs
                        .coming_full_query(began, JobCounts::built_at)
                        .is_some(),
                runs: None,
            },
        }
    }

    /// Takes in every finished recount waiting.
    fn receive_recounts(&mut self) {
        while let Some(recount) = self
            .recount_thread
            .as_mut()
            .and_then(RecountThread::try_finished)
        {
            // Its tallies wait for a snapshot that began after it.
            self.tables.jobs.offer_recounted(recount.jobs);
            self.tables.runs.offer_recounted(recount.runs);
        }
    }

    /// Starts a background recount of the tables that want one, unless one
    /// is in flight, or (for drift) the previous one ended too recently.
    fn start_recount(&mut self, reason: RecountReason) -> bool {
        let order = RecountOrder {
            jobs: self.tables.jobs.wants_recount(),
            runs: self.tables.runs.wants_recount(),
        };
        if !order.jobs && !order.runs {
            return false;
        }
        if self.recount_thread.is_none() {
            match RecountThread::spawn(self.context.path.clone(), self.context.options.busy_timeout)
            {
                Ok(thread) => self.recount_thread = Some(thread),
                Err(error) => {
                    tracing::warn!(%error, "vitals-sqlite: cannot start the recount thread");
                    return false;
                }
            }
        }
        let Some(thread) = self.recount_thread.as_mut() else {
            return false;
        };
        match thread.start(order, reason) {
            RecountStart::Started => {}
            RecountStart::NotNow => return false,
            RecountStart::ThreadGone => {
                self.recount_thread = None;
                return false;
            }
        }
        // Any recount that starts now also covers a drift seen before.
        self.drift_pending = false;
        tracing::debug!(
            ?reason,
            "vitals-sqlite: recounting the aggregates in the background"
        );
        true
    }

    /// After a catch-up: asks for a recount when drift was seen or the
    /// tally is older than the reconcile interval (and no recounted tally
    /// is already waiting).
    fn after_catch_up(&mut self, drift: bool, built: Instant, recounted_waiting: bool) {
        if drift {
            Stats::bump(&self.context.stats.drifts);
            self.drift_pending = true;
        }
        if self.drift_pending {
            self.start_recount(RecountReason::Drift);
        } else if !recounted_waiting && built.elapsed() >= self.context.options.reconcile_interval {
            self.start_recount(RecountReason::Interval);
        }
    }

    /// One table's aggregate: the full query while its incremental path is
    /// off; else a recount that finished by `began` is adopted, a live
    /// tally is caught up (on a copy, committed when it succeeds), and
    /// without one the full query answers and derives it.
    fn answer<T: IncrementalTable>(
        &mut self,
        tx: &Tx<'_>,
    ) -> Result<Decoded<T::Answer>, SqliteError> {
        let (conn, path, began) = (tx.conn, tx.path, tx.began);
        self.receive_recounts();
        self.passes.asked(began, T::TABLE);
        let ahead = self.ahead(T::TABLE, began);
        let context = &self.context;
        let passes = &mut self.passes;
        let table = T::aggregate(&mut self.tables);
        if let Phase::Off { until } = table.phase {
            if Instant::now() < until {
                return T::full_query(tx, passes, ahead);
            }
            table.phase = Phase::Cold;
        }
        if let Some(recounted) = table.recounted.take() {
            if T::built_at(&recounted) <= began {
                Stats::bump(&context.stats.recounts);
                table.phase = Phase::Live(recounted);
            } else {
                table.recounted = Some(recounted);
            }
        }
        if let Phase::Live(tally) = &table.phase {
            let mut next = tally.clone();
            match T::catch_up(conn, path, &mut next) {
                Ok((answer, drift)) => {
                    let built = T::built_at(&next);
                    table.phase = Phase::Live(next);
                    let recounted_waiting = table.recounted.is_some();
                    self.after_catch_up(drift, built, recounted_waiting);
                    return Ok(answer);
                }
                // An interruption keeps the tally; so does an overflow of
                // the run totals, which is the answer (the full query would
                // overflow too).
                Err(Refusal::Sqlite(error @ SqliteError::Interrupted { .. })) => {
                    return Err(error);
                }
                Err(Refusal::Sqlite(error @ SqliteError::Overflow { .. }))
                    if T::OVERFLOW_IS_THE_ANSWER =>
                {
                    return Err(error);
                }
                Err(Refusal::MarkRowReplaced) => {
                    // Rowids at or below the mark may belong to rows no
                    // catch-up reads: this scrape is answered by the full
                    // query, and the tally rebuilt from it, below.
                    Stats::bump(&context.stats.reused_mark_answers);
                    tracing::debug!(
                        table = T::NAME,
                        "vitals-sqlite: the row at the high-water mark changed; recounting inline"
                    );
                    table.recounted = None;
                    table.phase = Phase::Cold;
                }
                Err(refusal) => {
                    Stats::bump(&context.stats.fallbacks);
                    log_refusal(T::NAME, &refusal);
                    if let Refusal::TooManyUnsettled | Refusal::RowidsExhausted = refusal {
                        table.phase = Phase::Off {
                            until: context.off_until(),
                        };
                        return T::full_query(tx, passes, ahead);
                    }
                    table.phase = Phase::Cold;
                }
            }
        }
        let (answer, tally) = match T::full_with_tally(tx, passes, ahead) {
            Ok(found) => found,
            Err(error @ SqliteError::Interrupted { .. }) => {
                table.build_in_background = true;
                self.start_recount(RecountReason::Drift);
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        Stats::bump(&context.stats.cold_passes);
        table.phase = match tally {
            Ok(tally) => Phase::Live(tally),
            Err(refusal) => {
                log_refusal(T::NAME, &refusal);
                Phase::Off {
                    until: context.off_until(),
                }
            }
        };
        Ok(answer)
    }

    /// Tests: waits for the recount in flight, if any, and takes it in.
    #[cfg(all(test, unix))]
    fn wait_for_recount(&mut self) {
        let recount = self
            .recount_thread
            .as_mut()
            .and_then(|thread| thread.wait_finished(std::time::Duration::from_secs(60)));
        if let Some(recount) = recount {
            self.tables.jobs.offer_recounted(recount.jobs);
            self.tables.runs.offer_recounted(recount.runs);
        }
    }
}

impl Aggregates for Incremental {
    fn status_counts(&mut self, tx: &Tx<'_>) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
        self.answer::<JobCounts>(tx)
    }

    fn totals(&mut self, tx: &Tx<'_>) -> Result<Decoded<CostTotals>, SqliteError> {
        self.answer::<RunTotals>(tx)
    }

    fn reset(&mut self) {
        self.passes.reset();
        self.tables = Tables::new();
        self.drift_pending = false;
        self.recount_thread = None;
    }

    #[cfg(all(test, unix))]
    fn recount_and_wait(&mut self) {
        self.receive_recounts();
        self.wait_for_recount();
        if self.start_recount(RecountReason::Interval) {
            self.wait_for_recount();
        }
    }
}
