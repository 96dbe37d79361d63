//! What to generate ([`GenOptions`]) and what was generated ([`Summary`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{RefDbError, Shape};

/// Linux's default `pid_max` (`PID_MAX_DEFAULT`, 32768): the
/// [`GenOptions::pid_max`] of [`GenOptions::new`]. A kernel may be
/// configured with another (up to [`PID_MAX_LIMIT`](crate::PID_MAX_LIMIT));
/// `vitals gen-db` passes the one of the machine it runs on.
pub const DEFAULT_PID_MAX: i64 = 32_768;

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
    /// The `pid_max` of the kernel the database will be read under: a pid
    /// is valid there when `1 <= pid < pid_max`. The running jobs that
    /// [`pids`](Self::pids) does not cover get the pids below it, counting
    /// down from `pid_max - 1` and skipping those of `pids`. Whether a
    /// process holds one of them is not checked here: this crate reads no
    /// system state (`vitals gen-db` reads `pid_max` through `vitals-proc`
    /// and gives the running jobs pids that no process holds, or the live
    /// ones it is told). Defaults to [`DEFAULT_PID_MAX`].
    pub pid_max: i64,
    /// The pids of the first running jobs, in job id order (say, live
    /// processes to observe). Each must be valid under
    /// [`pid_max`](Self::pid_max), and there may be no more than running
    /// jobs. Defaults to none.
    pub pids: Vec<i64>,
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
            pid_max: DEFAULT_PID_MAX,
            pids: Vec::new(),
        }
    }

    /// The pid of each running job, in id order: [`pids`](Self::pids),
    /// then the pids below [`pid_max`](Self::pid_max) counting down, less
    /// those of `pids`.
    ///
    /// # Errors
    ///
    /// [`RefDbError::InvalidPids`] when a pid of `pids` is not valid under
    /// `pid_max`, there are more of them than running jobs, or there are
    /// not enough pids below `pid_max` for every running job.
    pub fn running_pids(&self) -> Result<Vec<i64>, RefDbError> {
        let invalid = |reason: String| Err(RefDbError::InvalidPids { reason });
        let running = usize::try_from(self.shape.running).unwrap_or(usize::MAX);
        if let Some(pid) = self
            .pids
            .iter()
            .find(|&&pid| pid < 1 || pid >= self.pid_max)
        {
            return invalid(format!(
                "pid {pid} is not valid under pid_max {} (1 <= pid < pid_max)",
                self.pid_max
            ));
        }
        if self.pids.len() > running {
            return invalid(format!(
                "{} pids for {running} running jobs",
                self.pids.len()
            ));
        }
        let mut out = self.pids.clone();
        let mut next = self.pid_max - 1;
        while out.len() < running {
            if next < 1 {
                return invalid(format!(
                    "pid_max {} leaves too few pids for {running} running jobs",
                    self.pid_max
                ));
            }
            if !self.pids.contains(&next) {
                out.push(next);
            }
            next -= 1;
        }
        Ok(out)
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
