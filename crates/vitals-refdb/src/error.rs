//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while creating, generating or simulating a
/// reference database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefDbError {
    /// An SQLite call failed (open, pragma, statement, transaction).
    #[error("sqlite call failed")]
    Sqlite(#[from] rusqlite::Error),

    /// A file system operation on `path` failed.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The target file already exists; this crate only writes to databases
    /// it creates, so it never overwrites one.
    #[error("refusing to overwrite existing file {}", path.display())]
    AlreadyExists {
        /// The file that was found.
        path: PathBuf,
    },

    /// A [`Shape`](crate::Shape) whose counts contradict each other (for
    /// example more running jobs than jobs).
    #[error("invalid shape: {reason}")]
    InvalidShape {
        /// Which constraint the shape breaks.
        reason: &'static str,
    },

    /// Pids that cannot be given to the running jobs (see
    /// [`GenOptions::pid_max`](crate::GenOptions::pid_max)).
    #[error("invalid pids: {reason}")]
    InvalidPids {
        /// What is wrong with them.
        reason: String,
    },

    /// A string that does not name a [`Scale`](crate::Scale).
    #[error("unknown scale {input:?}, expected S, M or L")]
    UnknownScale {
        /// The string that was given.
        input: String,
    },

    /// The [`Simulator`](crate::Simulator) was asked about a job id that is
    /// not in its database.
    #[error("no job with id {job_id}")]
    UnknownJob {
        /// The job id that was asked for.
        job_id: i64,
    },

    /// The [`Simulator`](crate::Simulator) was asked to finish a job that is
    /// not running.
    #[error("job {job_id} is {status:?}, not running")]
    JobNotRunning {
        /// The job id that was asked for.
        job_id: i64,
        /// The job's current status.
        status: String,
    },
}
