//! The store's side of its worker thread: a request sent tagged with its
//! snapshot, waited for until its answer, its context's cancellation or its
//! deadline; what a store keeps in a snapshot's scratch (the guard that
//! ends the snapshot's read transaction, the memoized running-agents rows);
//! and the replacement of a worker stuck in a blocking call.
//!
//! # A stuck worker
//!
//! A request's statement stops within a few milliseconds of its
//! cancellation (the connection's progress and busy handlers look at its
//! flag). A worker still running a request [`STUCK_AFTER`] past the
//! deadline of that request's caller is therefore in a call no
//! interruption reaches: SQLite blocked for ever in `open()` of a FIFO put
//! next to the database after the store's checks, a hung file system. The
//! worker cannot be stopped, so it is abandoned: the next request starts a
//! fresh worker (a new thread, connection and aggregates) instead of
//! queueing behind it, and says so in the log. At most [`MAX_ABANDONED`]
//! abandoned workers may still be blocked; beyond that no fresh one is
//! started and requests answer `busy` at once with the reason, until one
//! of them returns (it then serves what is left in its channel, cancelled
//! requests that it does not run, and ends).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{OnceCell, oneshot};
use vitals_core::{Collect, SectionError, SourceError};

use crate::error::SqliteError;
use crate::queries::{self, RunningSet};
use crate::stats::{Stats, StoreStats};
use crate::worker::{Health, Job, Msg, Request, Session, Worker};

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

/// How long past its caller's deadline a request may still be running
/// before its worker counts as stuck in a blocking call.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(1);

/// How many stuck workers may be abandoned, their threads still blocked,
/// before no fresh worker is started.
pub(crate) const MAX_ABANDONED: usize = 2;

/// Starts a worker: a new thread with a connection and aggregates of its own.
pub(crate) type Spawner = Box<dyn Fn() -> io::Result<(Sender<Msg>, Arc<Health>)> + Send + Sync>;

/// What a store holds of its worker: the channel to it and the counters.
pub(crate) struct WorkerClient {
    /// Tells this store's entry in a snapshot's scratch from other stores'.
    id: u64,
    workers: Arc<Workers>,
}

impl fmt::Debug for WorkerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerClient")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// The store's workers: the current one and the abandoned ones.
struct Workers {
    spawn: Spawner,
    state: Mutex<WorkerState>,
    stats: Arc<Stats>,
}

struct WorkerState {
    /// `None` when the first worker thread could not be started.
    current: Option<Handle>,
    /// Workers abandoned while stuck, until their thread ends.
    abandoned: Vec<Arc<Health>>,
}

#[derive(Clone)]
struct Handle {
    sender: Sender<Msg>,
    health: Arc<Health>,
}

/// A worker found stuck: since when it runs the request it is stuck in,
/// and how far past that request's deadline it is.
#[derive(Debug, Clone, Copy)]
struct Stuck {
    since: SystemTime,
    late: Duration,
}

impl Stuck {
    /// The worker behind `health`, if it is stuck at `now`.
    fn of(health: &Health, now: Instant) -> Option<Self> {
        let running = health.running()?;
        let late = now.checked_duration_since(running.deadline)?;
        (late >= STUCK_AFTER).then_some(Stuck {
            since: running.since,
            late,
        })
    }

    fn error(self, abandoned: usize, replaced: bool) -> SqliteError {
        SqliteError::WorkerStuck {
            since: self.since.into(),
            late: self.late,
            abandoned,
            replaced,
        }
    }
}

impl Workers {
    fn start(&self) -> Option<Handle> {
        match (self.spawn)() {
            Ok((sender, health)) => Some(Handle { sender, health }),
            Err(error) => {
                tracing::error!(%error, "vitals-sqlite: cannot start a worker thread");
                None
            }
        }
    }

    /// The worker to send a request to: the current one, or a fresh one
    /// when the current one is stuck (and fewer than [`MAX_ABANDONED`]
    /// stuck ones are still blocked).
    ///
    /// # Errors
    ///
    /// [`SqliteError::StoreClosed`] without a worker;
    /// [`SqliteError::WorkerStuck`] when the current worker is stuck and
    /// no fresh one may (or can) be started.
    fn handle(&self) -> Result<Handle, SqliteError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.abandoned.retain(|health| health.is_alive());
        let Some(current) = state.current.clone() else {
            return Err(SqliteError::StoreClosed);
        };
        let Some(stuck) = Stuck::of(&current.health, Instant::now()) else {
            return Ok(current);
        };
        let abandoned = state.abandoned.len();
        if abandoned >= MAX_ABANDONED {
            return Err(stuck.error(abandoned, false));
        }
        let Some(fresh) = self.start() else {
            return Err(stuck.error(abandoned, false));
        };
        tracing::warn!(
            since = %chrono::DateTime::<chrono::Utc>::from(stuck.since).format("%Y-%m-%dT%H:%M:%SZ"),
            late_ms = stuck.late.as_millis(),
            abandoned = abandoned + 1,
            "vitals-sqlite: the worker is stuck in a blocking call; a fresh worker (thread and connection) takes the requests"
        );
        state.abandoned.push(current.health);
        state.current = Some(fresh.clone());
        Stats::bump(&self.stats.workers_replaced);
        Ok(fresh)
    }

    /// Why a request sent to `health`'s worker was never started, when that
    /// worker is stuck; a fresh worker is started for the next requests.
    fn not_started(&self, health: &Arc<Health>) -> Option<SqliteError> {
        let stuck = Stuck::of(health, Instant::now())?;
        let replaced = match self.handle() {
            Ok(handle) => !Arc::ptr_eq(&handle.health, health),
            Err(_) => false,
        };
        let abandoned = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abandoned
            .len();
        Some(stuck.error(abandoned, replaced))
    }

    /// Sends `msg` to the current worker, if any.
    fn send_current(&self, msg: Msg) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = &state.current {
            // The worker may be gone already; nothing to do then.
            let _ = current.sender.send(msg);
        }
    }
}

/// What a store keeps in a snapshot's scratch: per store, the guard that
/// ends the read transaction and the memoized running-agents rows.
#[derive(Clone, Default)]
struct StoreScratch(Arc<Mutex<HashMap<u64, Arc<PerSnapshot>>>>);

struct PerSnapshot {
    _end: EndGuard,
    /// `Err` holds a data error (memoized); interruptions are not stored.
    running: OnceCell<Result<Arc<RunningSet>, Arc<SqliteError>>>,
}

/// Sends "end snapshot N" to the current worker when the snapshot's scratch drops.
struct EndGuard {
    workers: Arc<Workers>,
    snapshot: u64,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.workers.send_current(Msg::End(self.snapshot));
    }
}

/// Kept while a caller waits for a sent request. When the waiting ends,
/// however it ends (answered, cancelled, timed out, dropped), it sets the
/// request's cancellation flag (after an answer the flag is no longer
/// looked at), and counts the request as interrupted unless an answer
/// other than an interruption came.
struct Waiting {
    cancel: Arc<AtomicBool>,
    stats: Arc<Stats>,
    answered: bool,
}

impl Waiting {
    /// Notes how the waiting ended.
    fn ended<T>(&mut self, out: &Result<T, SqliteError>) {
        self.answered = !matches!(out, Err(SqliteError::Interrupted { .. }));
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Release);
        if !self.answered {
            Stats::bump(&self.stats.interrupted);
        }
    }
}

/// A memoized error, shared by the sections that read it.
pub(crate) fn shared(error: &Arc<SqliteError>) -> SectionError {
    SectionError::new(error.kind(), Arc::clone(error))
}

impl WorkerClient {
    /// A client of workers started by `spawn` (the first one at once; when
    /// it cannot be started every request fails with `store_closed`),
    /// counting in `stats`.
    pub(crate) fn new(spawn: Spawner, stats: Arc<Stats>) -> Self {
        let workers = Workers {
            spawn,
            state: Mutex::new(WorkerState {
                current: None,
                abandoned: Vec::new(),
            }),
            stats,
        };
        let first = workers.start();
        workers
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current = first;
        WorkerClient {
            id: NEXT_CLIENT.fetch_add(1, Ordering::Relaxed),
            workers: Arc::new(workers),
        }
    }

    /// Whether a worker thread is serving.
    pub(crate) fn is_running(&self) -> bool {
        self.workers
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .is_some()
    }

    /// The counters' current values.
    pub(crate) fn stats(&self) -> StoreStats {
        self.workers.stats.read()
    }

    /// This store's state in the snapshot of `cx`, created on first use.
    async fn per_snapshot(&self, cx: &Collect) -> Result<Arc<PerSnapshot>, SqliteError> {
        if !self.is_running() {
            return Err(SqliteError::StoreClosed);
        }
        let scratch: StoreScratch = cx
            .scratch()
            .get_or_init(|| async { StoreScratch::default() })
            .await;
        let mut map = scratch.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(self.id).or_insert_with(|| {
            Arc::new(PerSnapshot {
                _end: EndGuard {
                    workers: Arc::clone(&self.workers),
                    snapshot: cx.snapshot_id(),
                },
                running: OnceCell::new(),
            })
        });
        Ok(Arc::clone(entry))
    }

    /// Runs `work` on the worker inside the snapshot's read transaction and
    /// waits for the answer, the context's cancellation or its deadline.
    pub(crate) async fn call<T, F>(&self, cx: &Collect, work: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(Session<'_>) -> Result<T, SqliteError> + Send + 'static,
    {
        let stats = &self.workers.stats;
        if cx.cancellation().is_cancelled() || cx.remaining().is_zero() {
            Stats::bump(&stats.interrupted);
            return Err(SqliteError::Interrupted { source: None });
        }
        self.per_snapshot(cx).await?;
        let handle = self.workers.handle()?;
        let cancel = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let request = Request {
            snapshot: cx.snapshot_id(),
            cancel: Arc::clone(&cancel),
            started: Arc::clone(&started),
            // On the system clock, which stuck detection reads (the
            // section's may be Tokio's paused test clock).
            deadline: {
                let now = Instant::now();
                now.checked_add(cx.remaining()).unwrap_or(now)
            },
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |worker: &mut Worker| {
            let out = worker.run(&request, work);
            // The caller may have given up; the answer is then dropped.
            let _ = tx.send(out);
        });
        handle
            .sender
            .send(Msg::Run(job))
            .map_err(|_| SqliteError::StoreClosed)?;
        // No await since the request was built: from here on, whatever ends
        // the waiting, the guard sees it.
        let mut waiting = Waiting {
            cancel,
            stats: Arc::clone(stats),
            answered: false,
        };
        let out = tokio::select! {
            biased;
            reply = rx => reply.unwrap_or(Err(SqliteError::NoReply)),
            () = cx.cancelled() => Err(SqliteError::Interrupted { source: None }),
            () = tokio::time::sleep_until(cx.deadline()) => Err(SqliteError::Interrupted { source: None }),
        };
        // Never started, behind a worker stuck in a blocking call: say so.
        let out = match out {
            Err(SqliteError::Interrupted { source: None }) if !started.load(Ordering::Acquire) => {
                match self.workers.not_started(&handle.health) {
                    Some(stuck) => Err(stuck),
                    None => out,
                }
            }
            other => other,
        };
        waiting.ended(&out);
        out
    }

    /// The running-agents rows of this snapshot, queried once and shared.
    pub(crate) async fn running_set(&self, cx: &Collect) -> Result<Arc<RunningSet>, SectionError> {
        let per = self.per_snapshot(cx).await?;
        let stats = Arc::clone(&self.workers.stats);
        let memo = per
            .running
            .get_or_try_init(|| async {
                let out = self
                    .call(cx, move |s| {
                        Stats::bump(&stats.running_queries);
                        queries::running(s.conn, s.path)
                    })
                    .await;
                match out {
                    Ok(set) => Ok(Ok(Arc::new(set))),
                    // Specific to this caller's deadline or to the worker: not memoized.
                    Err(
                        error @ (SqliteError::Interrupted { .. }
                        | SqliteError::StoreClosed
                        | SqliteError::NoReply),
                    ) => Err(error),
                    Err(error) => Ok(Err(Arc::new(error))),
                }
            })
            .await?;
        match memo {
            Ok(set) => Ok(Arc::clone(set)),
            Err(error) => Err(shared(error)),
        }
    }
}
