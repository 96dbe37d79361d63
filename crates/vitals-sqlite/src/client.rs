//! The store's side of its worker thread: a request sent tagged with its
//! snapshot, waited for until its answer, its context's cancellation or its
//! deadline; and what a store keeps in a snapshot's scratch (the guard
//! that ends the snapshot's read transaction, the memoized running-agents
//! rows).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OnceCell, oneshot};
use vitals_core::{Collect, SectionError, SourceError};

use crate::error::SqliteError;
use crate::queries::{self, RunningSet};
use crate::stats::{Stats, StoreStats};
use crate::worker::{Job, Msg, Request, Session, Worker};

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

/// What a store holds of its worker: the channel to it and the counters.
pub(crate) struct WorkerClient {
    /// Tells this store's entry in a snapshot's scratch from other stores'.
    id: u64,
    /// `None` when the worker thread could not be started.
    sender: Option<Sender<Msg>>,
    stats: Arc<Stats>,
}

impl fmt::Debug for WorkerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerClient")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
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

/// Sends "end snapshot N" to the worker when the snapshot's scratch drops.
struct EndGuard {
    sender: Sender<Msg>,
    snapshot: u64,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        // The worker may be gone already; nothing to end then.
        let _ = self.sender.send(Msg::End(self.snapshot));
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
    /// A client of the worker behind `sender` (`None`: no worker; every
    /// request fails with `store_closed`), counting in `stats`.
    pub(crate) fn new(sender: Option<Sender<Msg>>, stats: Arc<Stats>) -> Self {
        WorkerClient {
            id: NEXT_CLIENT.fetch_add(1, Ordering::Relaxed),
            sender,
            stats,
        }
    }

    /// Whether the worker thread was started.
    pub(crate) fn is_running(&self) -> bool {
        self.sender.is_some()
    }

    /// The counters' current values.
    pub(crate) fn stats(&self) -> StoreStats {
        self.stats.read()
    }

    fn sender(&self) -> Result<Sender<Msg>, SqliteError> {
        self.sender
            .as_ref()
            .cloned()
            .ok_or(SqliteError::StoreClosed)
    }

    /// This store's state in the snapshot of `cx`, created on first use.
    async fn per_snapshot(&self, cx: &Collect) -> Result<Arc<PerSnapshot>, SqliteError> {
        let sender = self.sender()?;
        let scratch: StoreScratch = cx
            .scratch()
            .get_or_init(|| async { StoreScratch::default() })
            .await;
        let mut map = scratch.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(self.id).or_insert_with(|| {
            Arc::new(PerSnapshot {
                _end: EndGuard {
                    sender,
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
        let sender = self.sender()?;
        if cx.cancellation().is_cancelled() || cx.remaining().is_zero() {
            Stats::bump(&self.stats.interrupted);
            return Err(SqliteError::Interrupted { source: None });
        }
        self.per_snapshot(cx).await?;
        let cancel = Arc::new(AtomicBool::new(false));
        let request = Request {
            snapshot: cx.snapshot_id(),
            cancel: Arc::clone(&cancel),
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |worker: &mut Worker| {
            let out = worker.run(&request, work);
            // The caller may have given up; the answer is then dropped.
            let _ = tx.send(out);
        });
        sender
            .send(Msg::Run(job))
            .map_err(|_| SqliteError::StoreClosed)?;
        // No await since the request was built: from here on, whatever ends
        // the waiting, the guard sees it.
        let mut waiting = Waiting {
            cancel,
            stats: Arc::clone(&self.stats),
            answered: false,
        };
        let out = tokio::select! {
            biased;
            reply = rx => reply.unwrap_or(Err(SqliteError::NoReply)),
            () = cx.cancelled() => Err(SqliteError::Interrupted { source: None }),
            () = tokio::time::sleep_until(cx.deadline()) => Err(SqliteError::Interrupted { source: None }),
        };
        waiting.ended(&out);
        out
    }

    /// The running-agents rows of this snapshot, queried once and shared.
    pub(crate) async fn running_set(&self, cx: &Collect) -> Result<Arc<RunningSet>, SectionError> {
        let per = self.per_snapshot(cx).await?;
        let stats = Arc::clone(&self.stats);
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
