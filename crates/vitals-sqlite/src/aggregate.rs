//! The history-wide aggregates (job counts by status, cost and token totals)
//! behind a small seam.
//!
//! Both scan all history, so they dominate a scrape's cost on a large
//! database. They are answered through [`Aggregates`], owned by the worker
//! thread (so an implementation may keep state between snapshots without
//! locking): [`FullScan`] runs the plain queries every snapshot;
//! [`Incremental`](crate::incremental::Incremental) keeps running sums of
//! settled rows, a high-water mark and the unsettled ids, and reconciles in
//! the background (the default; see the builder's `incremental`).
//!
//! The store's builder chooses the implementation and hands it to the
//! worker as a `Box<dyn Aggregates>`; the worker knows only this trait.
//! (The link above is documentation only: this module names no
//! implementation but its own [`FullScan`].)

use std::fmt;
use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;
use vitals_cost::CostTotals;

use crate::error::SqliteError;
use crate::queries::{self, Decoded};
use crate::totals;

/// How the store answers the aggregates. Called on the worker thread inside
/// the snapshot's read transaction, which was begun at `began` (its point
/// in time is at or after that instant).
pub(crate) trait Aggregates: Send + fmt::Debug {
    /// Jobs per status, every status present.
    fn status_counts(
        &mut self,
        conn: &Connection,
        path: &Path,
        began: Instant,
    ) -> Result<Decoded<Vec<(String, i64)>>, SqliteError>;

    /// Totals over all runs.
    fn totals(
        &mut self,
        conn: &Connection,
        path: &Path,
        began: Instant,
    ) -> Result<Decoded<CostTotals>, SqliteError>;

    /// The connection was (re)opened on a possibly different file, or an
    /// answer was discarded: forget anything derived from the previous reads.
    fn reset(&mut self) {}

    /// Tests: runs a full recount now and waits for it, so that the next
    /// snapshot starts from it.
    #[cfg(all(test, unix))]
    fn recount_and_wait(&mut self) {}
}

/// The straightforward strategy: the full queries, every snapshot.
#[derive(Debug, Default)]
pub(crate) struct FullScan;

impl Aggregates for FullScan {
    fn status_counts(
        &mut self,
        conn: &Connection,
        path: &Path,
        _began: Instant,
    ) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
        queries::status_counts(conn, path)
    }

    fn totals(
        &mut self,
        conn: &Connection,
        path: &Path,
        _began: Instant,
    ) -> Result<Decoded<CostTotals>, SqliteError> {
        totals::totals(conn, path)
    }
}
