//! What to generate ([`GenOptions`]) and what was generated ([`Summary`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Shape;

/// What to generate and how; see [`generate`](crate::generate).
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// The row counts.
    pub shape: Shape,
    /// Seed of the random streams: the same seed, shape and `now` give the same
    /// rows, byte for byte (on one platform and rand version).
    pub seed: u64,
    /// Create the four reference indexes (after the bulk insert).
    pub indexes: bool,
    /// Every timestamp is relative to this instant (whole seconds); running
    /// jobs started minutes before it. Defaults to [`Utc::now`].
    pub now: DateTime<Utc>,
    /// Leave the database in WAL journal mode, as an orchestrator runs it.
    /// Defaults to true; false leaves the default rollback journal.
    pub wal: bool,
}

impl GenOptions {
    /// `shape` and `seed` with the defaults: indexes, WAL, `now` = [`Utc::now`].
    #[must_use]
    pub fn new(shape: Shape, seed: u64) -> Self {
        GenOptions {
            shape,
            seed,
            indexes: true,
            now: Utc::now(),
            wal: true,
        }
    }
}

impl Default for GenOptions {
    /// [`GenOptions::new`]`(`[`Shape::default`]`(), 0)`.
    fn default() -> Self {
        GenOptions::new(Shape::default(), 0)
    }
}

/// What [`generate`](crate::generate) wrote, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Rows in `tasks`.
    pub tasks: u64,
    /// Tasks in an active stage.
    pub active_tasks: u64,
    /// Rows in `jobs`.
    pub jobs: u64,
    /// Jobs with status `queued`.
    pub queued: u64,
    /// Queued jobs with `attempts > 0`.
    pub queued_with_retries: u64,
    /// Jobs with status `running`.
    pub running: u64,
    /// Jobs with status `done`.
    pub done: u64,
    /// Jobs with status `failed`.
    pub failed: u64,
    /// Jobs with status `cancelled`.
    pub cancelled: u64,
    /// Rows in `agent_runs`.
    pub runs: u64,
    /// Runs with `finished_at` NULL (one per running job).
    pub unfinished_runs: u64,
    /// Wall time of the whole generation, file creation to close.
    pub elapsed: Duration,
}
