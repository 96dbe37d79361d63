//! The dedicated thread that owns the store's connection: snapshots, their
//! read transactions, and per-request interruption.
//!
//! The worker knows the file through [`Database`] (checks, opening, read
//! transactions) and the history-wide aggregates through the
//! [`Aggregates`] seam only: the store's builder chooses the implementation
//! and hands it over.
//!
//! A worker publishes what it runs in its [`Health`]: the request in
//! progress (since when, and until when its caller waits), and whether the
//! thread still serves. The client reads it to tell a worker stuck in a
//! call that no interruption reaches (SQLite blocked opening a FIFO raced
//! next to the database, a hung file system) from a busy one.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;

use crate::aggregate::Aggregates;
use crate::connection::Database;
use crate::error::SqliteError;
use crate::options::Options;
use crate::parallel::Tx;
use crate::stats::Stats;

/// What the worker needs to know about a request besides its work.
#[derive(Debug)]
pub(crate) struct Request {
    /// The snapshot it belongs to.
    pub(crate) snapshot: u64,
    /// Set when the caller gives up (deadline, cancellation, dropped future).
    pub(crate) cancel: Arc<AtomicBool>,
    /// Set by the worker when it starts the request.
    pub(crate) started: Arc<AtomicBool>,
    /// Until when the caller waits for the answer.
    pub(crate) deadline: Instant,
}

/// The request a worker is running.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Running {
    /// When it started (for messages).
    pub(crate) since: SystemTime,
    /// Until when its caller waited.
    pub(crate) deadline: Instant,
}

/// What a worker shows of itself to its client.
#[derive(Debug)]
pub(crate) struct Health {
    running: Mutex<Option<Running>>,
    alive: AtomicBool,
}

impl Health {
    fn new() -> Self {
        Health {
            running: Mutex::new(None),
            alive: AtomicBool::new(true),
        }
    }

    /// The request in progress, if any.
    pub(crate) fn running(&self) -> Option<Running> {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the worker's thread still serves its channel.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    fn set_running(&self, running: Option<Running>) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = running;
    }
}

/// Marks a worker's [`Health`] dead when its thread ends, however it ends.
struct AliveGuard(Arc<Health>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

/// Clears the request in progress when it ends, even by a panic.
struct RunningGuard<'a>(&'a Health);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.set_running(None);
    }
}

/// A unit of work, run on the worker thread.
pub(crate) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A message to the worker.
pub(crate) enum Msg {
    /// Run a request.
    Run(Job),
    /// The snapshot with this id ended: close its read transaction.
    End(u64),
}

/// What a request's work gets: the connection inside the snapshot's read
/// transaction, the database path, and the aggregates strategy.
pub(crate) struct Session<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) path: &'a Path,
    pub(crate) aggregates: &'a mut dyn Aggregates,
    /// The transaction as the aggregates see it (with what a second
    /// connection needs to read the same point in time, and the request's
    /// cancellation).
    pub(crate) tx: Tx<'a>,
}

/// The worker: owns the connection and runs requests one at a time.
pub(crate) struct Worker {
    database: Database,
    /// How long a read transaction may stay open without requests.
    idle_release: Duration,
    /// The snapshot the current read transaction belongs to.
    snapshot: Option<u64>,
    aggregates: Box<dyn Aggregates>,
    health: Arc<Health>,
}

impl Worker {
    /// A worker that has opened nothing yet, answering the aggregates with
    /// `aggregates`. Connections and transactions are counted in `stats`.
    pub(crate) fn new(
        path: PathBuf,
        options: &Options,
        stats: Arc<Stats>,
        aggregates: Box<dyn Aggregates>,
    ) -> Self {
        Worker {
            database: Database::new(path, options.busy_timeout, stats),
            idle_release: options.idle_release,
            snapshot: None,
            aggregates,
            health: Arc::new(Health::new()),
        }
    }

    /// Runs this worker on its own thread, serving the returned channel;
    /// its [`Health`] is returned with it.
    pub(crate) fn spawn(self, name: &str) -> io::Result<(Sender<Msg>, Arc<Health>)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let health = Arc::clone(&self.health);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || self.serve(&rx))?;
        Ok((tx, health))
    }

    fn serve(mut self, rx: &Receiver<Msg>) {
        let _alive = AliveGuard(Arc::clone(&self.health));
        loop {
            let msg = if self.snapshot.is_some() {
                match rx.recv_timeout(self.idle_release) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::debug!("vitals-sqlite: closing an idle read transaction");
                        self.end_snapshot();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                }
            };
            match msg {
                Msg::Run(job) => {
                    if catch_unwind(AssertUnwindSafe(|| job(&mut self))).is_err() {
                        tracing::error!(
                            "vitals-sqlite: a request panicked; its snapshot is closed"
                        );
                        self.database.install(None);
                        self.end_snapshot();
                    }
                }
                Msg::End(snapshot) => {
                    if self.snapshot == Some(snapshot) {
                        self.end_snapshot();
                    }
                }
            }
        }
        self.end_snapshot();
        self.database.close();
        self.forget_if_closed();
    }

    /// Runs one request's work inside its snapshot's read transaction.
    pub(crate) fn run<T>(
        &mut self,
        request: &Request,
        work: impl FnOnce(Session<'_>) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        if request.cancel.load(Ordering::Acquire) {
            return Err(SqliteError::Interrupted { source: None });
        }
        request.started.store(true, Ordering::Release);
        let health = Arc::clone(&self.health);
        health.set_running(Some(Running {
            since: SystemTime::now(),
            deadline: request.deadline,
        }));
        let _running = RunningGuard(&health);
        self.database.install(Some(Arc::clone(&request.cancel)));
        let out = self.run_installed(request, work);
        self.database.install(None);
        out
    }

    fn run_installed<T>(
        &mut self,
        request: &Request,
        work: impl FnOnce(Session<'_>) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        self.enter(request.snapshot)?;
        let Some(conn) = self.database.connection() else {
            return Err(SqliteError::StoreClosed);
        };
        let (path, began) = (self.database.path(), self.database.began());
        let out = work(Session {
            conn,
            path,
            aggregates: &mut *self.aggregates,
            tx: Tx {
                conn,
                path,
                began,
                same_point: self.database.same_point(),
                cancel: &request.cancel,
            },
        });
        if self.database.changed_while_read() {
            // Whatever the work derived from a torn read is forgotten.
            self.aggregates.reset();
            return Err(SqliteError::Changed);
        }
        out
    }

    /// Makes sure a connection is open and a read transaction is open for `snapshot`.
    fn enter(&mut self, snapshot: u64) -> Result<(), SqliteError> {
        if self.snapshot != Some(snapshot) {
            // A newer snapshot (or any other) ends the current one.
            self.end_snapshot();
            self.snapshot = Some(snapshot);
            self.open()?;
        } else if !self.database.is_open() {
            self.open()?;
        }
        self.database.begin()
    }

    /// Checks the file and opens, keeps or reopens the connection; a file
    /// closed on the way (missing, replaced, emptied) resets the aggregates.
    fn open(&mut self) -> Result<(), SqliteError> {
        let out = self.database.open();
        self.forget_if_closed();
        out
    }

    /// Resets the aggregates when the file was closed since the last look:
    /// anything they derived may be about another file.
    fn forget_if_closed(&mut self) {
        if self.database.take_closed() {
            self.aggregates.reset();
        }
    }

    /// Ends the current snapshot: closes its read transaction, and drops a
    /// per-snapshot (detached) connection.
    fn end_snapshot(&mut self) {
        self.snapshot = None;
        self.database.end_transaction();
    }
}
