//! The history-wide aggregates (job counts by status, cost and token totals)
//! behind a small seam.
//!
//! Both scan all history, so they dominate a scrape's cost on a large
//! database. They are answered through [`Aggregates`], owned by the worker
//! thread (so an implementation may keep state between snapshots without
//! locking): [`FullScan`] runs the full queries every snapshot;
//! [`Incremental`](crate::incremental::Incremental) keeps running sums of
//! settled rows, a high-water mark and the unsettled ids, and reconciles in
//! the background (the default; see the builder's `incremental`). Both run
//! their full queries through [`FullPasses`]: one pass per transaction for
//! both tables, shared with a twin connection where it can read the same
//! point in time.
//!
//! The store's builder chooses the implementation and hands it to the
//! worker as a `Box<dyn Aggregates>`; the worker knows only this trait.
//! (The link above is documentation only: this module names no
//! implementation but its own [`FullScan`].)

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use vitals_cost::CostTotals;

use crate::error::SqliteError;
use crate::options::Options;
use crate::parallel::{FullPasses, RunScanKind, Table, Tx};
use crate::queries::{self, Decoded};
use crate::stats::Stats;

/// How the store answers the aggregates. Called on the worker thread inside
/// the snapshot's read transaction `tx` (its point in time is at or after
/// `tx.began`).
pub(crate) trait Aggregates: Send + fmt::Debug {
    /// Jobs per status, every status present.
    fn status_counts(&mut self, tx: &Tx<'_>) -> Result<Decoded<Vec<(String, i64)>>, SqliteError>;

    /// Totals over all runs.
    fn totals(&mut self, tx: &Tx<'_>) -> Result<Decoded<CostTotals>, SqliteError>;

    /// The connection was (re)opened on a possibly different file, or an
    /// answer was discarded: forget anything derived from the previous reads.
    fn reset(&mut self) {}

    /// Tests: runs a full recount now and waits for it, so that the next
    /// snapshot starts from it.
    #[cfg(all(test, unix))]
    fn recount_and_wait(&mut self) {}
}

/// The straightforward strategy: the full queries, every snapshot (both
/// tables in one pass, when the last snapshot asked for both).
#[derive(Debug)]
pub(crate) struct FullScan {
    passes: FullPasses,
}

impl FullScan {
    /// Full queries on the database at `path`, with the store's
    /// `options`; passes counted in `stats`.
    pub(crate) fn new(path: PathBuf, options: &Options, stats: Arc<Stats>) -> Self {
        FullScan {
            passes: FullPasses::new(path, options, stats),
        }
    }
}

impl Aggregates for FullScan {
    fn status_counts(&mut self, tx: &Tx<'_>) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
        self.passes.asked(tx.began, Table::Jobs);
        let runs_too = self
            .passes
            .expected(Table::Runs)
            .then_some(RunScanKind::Plain);
        let groups = self.passes.job_groups(tx, runs_too)?;
        Ok(queries::fold_statuses(
            groups.iter().map(|(status, n)| (status.as_ref(), *n)),
        ))
    }

    fn totals(&mut self, tx: &Tx<'_>) -> Result<Decoded<CostTotals>, SqliteError> {
        self.passes.asked(tx.began, Table::Runs);
        let jobs_too = self.passes.expected(Table::Jobs);
        let (sums, _) = self.passes.run_scan(tx, RunScanKind::Plain, jobs_too)?;
        sums.decoded()
    }

    fn reset(&mut self) {
        self.passes.reset();
    }
}
