//! The history-wide aggregates (job counts by status, cost and token totals)
//! behind a small seam.
//!
//! Both scan all history, so they dominate a scrape's cost on a large
//! database. They are answered through [`Aggregates`], owned by the worker
//! thread (so an implementation may keep state between snapshots without
//! locking): today [`FullScan`] runs the plain queries every snapshot; an
//! incremental implementation (running sums of settled rows, a high-water
//! mark, periodic reconciliation) can replace it without touching the rest
//! of the store.

use std::fmt;
use std::path::Path;

use rusqlite::Connection;
use vitals_cost::CostTotals;

use crate::error::SqliteError;
use crate::queries::{self, Decoded};

/// How the store answers the aggregates. Called on the worker thread inside
/// the snapshot's read transaction.
pub(crate) trait Aggregates: Send + fmt::Debug {
    /// Jobs per status, every status present.
    fn status_counts(
        &mut self,
        conn: &Connection,
        path: &Path,
    ) -> Result<Decoded<Vec<(String, i64)>>, SqliteError>;

    /// Totals over all runs.
    fn totals(
        &mut self,
        conn: &Connection,
        path: &Path,
    ) -> Result<Decoded<CostTotals>, SqliteError>;

    /// The connection was (re)opened on a possibly different file: forget
    /// anything derived from the previous one.
    fn reset(&mut self) {}
}

/// The straightforward strategy: the full queries, every snapshot.
#[derive(Debug, Default)]
pub(crate) struct FullScan;

impl Aggregates for FullScan {
    fn status_counts(
        &mut self,
        conn: &Connection,
        path: &Path,
    ) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
        queries::status_counts(conn, path)
    }

    fn totals(
        &mut self,
        conn: &Connection,
        path: &Path,
    ) -> Result<Decoded<CostTotals>, SqliteError> {
        queries::totals(conn, path)
    }
}
