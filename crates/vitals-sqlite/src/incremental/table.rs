//! One table's incremental aggregate: where it stands ([`Phase`]), a
//! recounted tally waiting to be adopted, and what the scrape-by-scrape
//! control flow needs to know of each table ([`IncrementalTable`]), so that
//! one control flow answers both.

use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;
use vitals_cost::CostTotals;

use crate::error::SqliteError;
use crate::parallel::{Ahead, FullPasses, RunScanKind, Table, Tx};
use crate::queries::{self, Decoded};

use super::jobs::{self, JobTally, StatusCounts};
use super::refusal::Refusal;
use super::runs::{self, RunTally};

/// Where one table's aggregate stands.
#[derive(Debug)]
pub(super) enum Phase<S> {
    /// No tally: the next scrape runs the full query and derives one.
    Cold,
    /// A tally caught up to the last snapshot that asked.
    Live(S),
    /// The full query answers until `until` (see [`Refusal`]).
    Off {
        /// When the incremental path may be tried again.
        until: Instant,
    },
}

/// One table's incremental aggregate.
#[derive(Debug)]
pub(super) struct TableAggregate<S> {
    /// Where it stands.
    pub(super) phase: Phase<S>,
    /// A recounted tally waiting for a snapshot that began after it.
    pub(super) recounted: Option<S>,
    /// The inline pass that derives a tally was interrupted (its deadline
    /// is shorter than a full scan): the tally is built in the background.
    pub(super) build_in_background: bool,
}

impl<S> TableAggregate<S> {
    /// No tally yet.
    pub(super) fn new() -> Self {
        TableAggregate {
            phase: Phase::Cold,
            recounted: None,
            build_in_background: false,
        }
    }

    /// Takes in this table's tally from a finished recount, if the recount
    /// has one (it waits in [`recounted`](Self::recounted)).
    pub(super) fn offer_recounted(&mut self, tally: Option<S>) {
        if tally.is_some() {
            self.build_in_background = false;
            self.recounted = tally;
        }
    }

    /// Whether a background recount should count this table.
    pub(super) fn wants_recount(&self) -> bool {
        self.build_in_background || matches!(self.phase, Phase::Live(_))
    }

    /// Which full query this table's next answer in the transaction begun
    /// at `began` will run, as far as can be told before it is asked:
    /// `Some(false)` the plain one (off), `Some(true)` the one that derives
    /// a tally (cold, and no recounted tally to adopt), `None` none (live:
    /// a catch-up, whose rare fallbacks are not foreseen).
    pub(super) fn coming_full_query(
        &self,
        began: Instant,
        built_at: impl Fn(&S) -> Instant,
    ) -> Option<bool> {
        match &self.phase {
            Phase::Off { until } if Instant::now() < *until => Some(false),
            Phase::Off { .. } => Some(true),
            Phase::Cold => {
                let adoptable = self
                    .recounted
                    .as_ref()
                    .is_some_and(|t| built_at(t) <= began);
                (!adoptable).then_some(true)
            }
            Phase::Live(_) => None,
        }
    }
}

/// Both tables' aggregates.
#[derive(Debug)]
pub(super) struct Tables {
    /// The job counts by status.
    pub(super) jobs: TableAggregate<JobTally>,
    /// The run totals.
    pub(super) runs: TableAggregate<RunTally>,
}

impl Tables {
    /// No tally for either table.
    pub(super) fn new() -> Self {
        Tables {
            jobs: TableAggregate::new(),
            runs: TableAggregate::new(),
        }
    }
}

/// What the incremental control flow needs to know of a table.
pub(super) trait IncrementalTable {
    /// What is kept between snapshots.
    type Tally: Clone;
    /// What the aggregate answers.
    type Answer;
    /// The table's name, for the logs.
    const NAME: &'static str;
    /// The table among the two aggregates.
    const TABLE: Table;
    /// Whether a catch-up's overflow is the answer (the full query would
    /// overflow too) rather than a fallback to the full query.
    const OVERFLOW_IS_THE_ANSWER: bool;
    /// This table's aggregate among both.
    fn aggregate(tables: &mut Tables) -> &mut TableAggregate<Self::Tally>;
    /// The plain full query (through `passes`, which computes what
    /// `ahead` names for the other table in the same pass).
    fn full_query(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<Decoded<Self::Answer>, SqliteError>;
    /// The full query, plus the tally derived in the same transaction (or
    /// why there is none).
    #[expect(clippy::type_complexity, reason = "the answer and a tally or why not")]
    fn full_with_tally(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<(Decoded<Self::Answer>, Result<Self::Tally, Refusal>), SqliteError>;
    /// Brings a tally up to the current transaction; returns the answer
    /// and whether drift was seen.
    fn catch_up(
        conn: &Connection,
        path: &Path,
        tally: &mut Self::Tally,
    ) -> Result<(Decoded<Self::Answer>, bool), Refusal>;
    /// When the recount the tally descends from had finished.
    fn built_at(tally: &Self::Tally) -> Instant;
}

/// The job counts by status (`queue.counts`).
pub(super) struct JobCounts;

/// The run totals (`cost.aggregate`).
pub(super) struct RunTotals;

impl IncrementalTable for JobCounts {
    type Tally = JobTally;
    type Answer = Vec<(String, i64)>;
    const NAME: &'static str = "jobs";
    const TABLE: Table = Table::Jobs;
    const OVERFLOW_IS_THE_ANSWER: bool = false;

    fn aggregate(tables: &mut Tables) -> &mut TableAggregate<JobTally> {
        &mut tables.jobs
    }

    fn full_query(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<StatusCounts, SqliteError> {
        let groups = passes.job_groups(tx, ahead.runs)?;
        Ok(queries::fold_statuses(
            groups.iter().map(|(status, n)| (status.as_ref(), *n)),
        ))
    }

    fn full_with_tally(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<(StatusCounts, Result<JobTally, Refusal>), SqliteError> {
        let groups = passes.job_groups(tx, ahead.runs)?;
        jobs::full_with_tally(tx.conn, tx.path, &groups)
    }

    fn catch_up(
        conn: &Connection,
        path: &Path,
        tally: &mut JobTally,
    ) -> Result<(StatusCounts, bool), Refusal> {
        jobs::catch_up(conn, path, tally)
    }

    fn built_at(tally: &JobTally) -> Instant {
        tally.built
    }
}

impl IncrementalTable for RunTotals {
    type Tally = RunTally;
    type Answer = CostTotals;
    const NAME: &'static str = "agent_runs";
    const TABLE: Table = Table::Runs;
    const OVERFLOW_IS_THE_ANSWER: bool = true;

    fn aggregate(tables: &mut Tables) -> &mut TableAggregate<RunTally> {
        &mut tables.runs
    }

    fn full_query(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<Decoded<CostTotals>, SqliteError> {
        passes
            .run_scan(tx, RunScanKind::Plain, ahead.jobs)?
            .0
            .decoded()
    }

    fn full_with_tally(
        tx: &Tx<'_>,
        passes: &mut FullPasses,
        ahead: Ahead,
    ) -> Result<(Decoded<CostTotals>, Result<RunTally, Refusal>), SqliteError> {
        runs::full_with_tally(tx.conn, tx.path, |kind| {
            passes.run_scan(tx, kind, ahead.jobs)
        })
    }

    fn catch_up(
        conn: &Connection,
        path: &Path,
        tally: &mut RunTally,
    ) -> Result<(Decoded<CostTotals>, bool), Refusal> {
        runs::catch_up(conn, path, tally)
    }

    fn built_at(tally: &RunTally) -> Instant {
        tally.built
    }
}
