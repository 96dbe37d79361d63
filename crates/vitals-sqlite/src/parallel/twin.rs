//! The twin's thread: a second read-only connection of its own.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use crate::connection::Database;

/// Work for the twin, on its own connection.
pub(super) type TwinJob = Box<dyn FnOnce(&mut Database) + Send>;

/// The twin's thread: a second read-only [`Database`] that waits for no
/// lock, serving jobs until it is dropped.
pub(super) struct TwinThread {
    jobs: Sender<TwinJob>,
}

impl TwinThread {
    /// Starts the thread, reading the database at `path`.
    pub(super) fn spawn(path: PathBuf) -> io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<TwinJob>();
        std::thread::Builder::new()
            .name("vitals-sqlite-twin".to_owned())
            .spawn(move || {
                // Counters of its own; a zero busy timeout: the twin never waits for a lock.
                let mut database = Database::new(path, Duration::ZERO, Arc::default());
                for job in inbox {
                    if catch_unwind(AssertUnwindSafe(|| job(&mut database))).is_err() {
                        tracing::error!("vitals-sqlite: a twin read panicked");
                        database.install(None);
                        database.end_transaction();
                    }
                }
                database.close();
            })?;
        Ok(TwinThread { jobs })
    }
}

impl TwinThread {
    /// Hands `job` to the thread; false when the thread is gone.
    pub(super) fn send(&self, job: TwinJob) -> bool {
        self.jobs.send(job).is_ok()
    }
}
