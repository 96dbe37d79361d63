//! One connection: its state (requests in flight, last activity), the
//! registry the cap evicts from, and the task that serves it.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::stats::{Event, OpenGuard, ServeStats};

/// Milliseconds since the server's epoch, saturating.
fn millis_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// What the server knows of one open connection.
#[derive(Debug)]
pub(super) struct ConnState {
    id: u64,
    epoch: Instant,
    /// Requests between the handler's call and the end of their response
    /// body (the connection is busy answering): never evicted.
    requests: AtomicUsize,
    /// Handlers running (call to response head): never closed as idle.
    handlers: AtomicUsize,
    /// When the connection last had no request in flight began (ms since
    /// epoch): the order of eviction, oldest first.
    idle_since: AtomicU64,
    /// The last byte read or written, or the last handler's end (ms since epoch).
    last_activity: AtomicU64,
    /// Cancelled to close the connection at once (eviction).
    close: CancellationToken,
}

impl ConnState {
    fn new(id: u64, epoch: Instant) -> Self {
        let now = millis_since(epoch, Instant::now());
        Self {
            id,
            epoch,
            requests: AtomicUsize::new(0),
            handlers: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            last_activity: AtomicU64::new(now),
            close: CancellationToken::new(),
        }
    }

    fn touch(&self) {
        self.last_activity
            .store(millis_since(self.epoch, Instant::now()), Ordering::Relaxed);
    }

    /// When the connection may be closed as idle, if nothing happens before:
    /// `None` while a handler runs.
    fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        if self.handlers.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = self.last_activity.load(Ordering::Relaxed);
        Some(self.epoch + Duration::from_millis(last) + idle_timeout)
    }

    fn is_evictable(&self) -> bool {
        self.requests.load(Ordering::Acquire) == 0
    }

    /// Marks a request begun; the guard marks its end when the response body is dropped.
    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.handlers.fetch_add(1, Ordering::AcqRel);
        RequestGuard {
            conn: Arc::clone(self),
            handler_done: false,
        }
    }
}

/// A request in flight on a connection; see [`ConnState::begin_request`].
#[derive(Debug)]
struct RequestGuard {
    conn: Arc<ConnState>,
    handler_done: bool,
}

impl RequestGuard {
    fn handler_done(&mut self) {
        if !self.handler_done {
            self.handler_done = true;
            self.conn.touch();
            self.conn.handlers.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.handler_done();
        let now = millis_since(self.conn.epoch, Instant::now());
        if self.conn.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conn.idle_since.store(now, Ordering::Relaxed);
        }
    }
}

/// The open connections, for eviction.
#[derive(Debug, Default)]
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// Registers a new connection (before its task starts, so that it can
    /// be evicted at once).
    pub(super) fn insert(&self, epoch: Instant) -> Arc<ConnState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(id, epoch));
        self.lock().insert(id, Arc::clone(&state));
        state
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection idle the longest (no request in flight); false
    /// when every open connection is busy answering.
    pub(super) fn evict_oldest_idle(&self) -> bool {
        let victim = {
            let mut conns = self.lock();
            let oldest = conns
                .values()
                .filter(|c| c.is_evictable() && !c.close.is_cancelled())
                .min_by_key(|c| (c.idle_since.load(Ordering::Relaxed), c.id))
                .map(|c| c.id);
            oldest.and_then(|id| conns.remove(&id))
        };
        match victim {
            Some(conn) => {
                conn.close.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        // Only short, non-panicking sections run under the lock.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A socket that records when bytes move.
#[derive(Debug)]
struct TrackedIo {
    inner: TcpStream,
    conn: Arc<ConnState>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.touch();
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a connection task needs besides its socket.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) registry: Arc<Registry>,
    pub(super) stats: ServeStats,
    pub(super) epoch: Instant,
    pub(super) header_read_timeout: Duration,
    pub(super) idle_timeout: Duration,
    /// Cancelled when the server stops: connections finish their request and close.
    pub(super) draining: CancellationToken,
}

/// Why a connection ended, for the counters.
enum End {
    Done,
    Evicted,
    Idle,
}

/// Serves one accepted connection until it ends, is evicted, is idle too
/// long, or (after the server began draining) finishes its request.
pub(super) async fn serve_connection(
    shared: Shared,
    stream: TcpStream,
    conn: Arc<ConnState>,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let _unregister = Unregister {
        registry: Arc::clone(&shared.registry),
        id: conn.id,
    };
    let _open: OpenGuard = shared.stats.opened();
    // Small answers: do not wait for more to send.
    let _ = stream.set_nodelay(true);
    let io = TrackedIo {
        inner: stream,
        conn: Arc::clone(&conn),
    };

    let router = shared.router.clone();
    let service_conn = Arc::clone(&conn);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut guard = service_conn.begin_request();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            guard.handler_done();
            // The guard lives as long as the body: the request ends when
            // hyper has written (or dropped) the whole answer.
            response.map(|response| {
                response.map(move |body| {
                    Body::new(body.map_frame(move |frame| {
                        let _request = &guard;
                        frame
                    }))
                })
            })
        }
    });

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);

    let mut draining = false;
    if conn.close.is_cancelled() {
        // Evicted before it started.
        shared.stats.record(Event::Evicted);
        return;
    }
    let end = loop {
        let idle_at = conn.idle_deadline(shared.idle_timeout);
        let recheck = idle_at.unwrap_or_else(|| Instant::now() + shared.idle_timeout);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    if error.is_timeout() {
                        shared.stats.record(Event::HeaderTimeout);
                        tracing::debug!(%error, "vitals http: request head not received in time; connection closed");
                    } else {
                        tracing::debug!(%error, "vitals http: connection ended with an error");
                    }
                }
                break End::Done;
            }
            () = conn.close.cancelled() => break End::Evicted,
            () = shared.draining.cancelled(), if !draining => {
                // No request in flight (waiting for one, or for the rest of
                // its head): close now. Otherwise finish it, then close.
                if conn.is_evictable() {
                    break End::Done;
                }
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(recheck) => {
                if idle_at.is_some_and(|at| at <= Instant::now())
                    && conn.idle_deadline(shared.idle_timeout).is_some_and(|at| at <= Instant::now())
                {
                    break End::Idle;
                }
            }
        }
    };
    match end {
        End::Done => {}
        End::Evicted => shared.stats.record(Event::Evicted),
        End::Idle => {
            shared.stats.record(Event::IdleClosed);
            tracing::debug!("vitals http: connection idle past the idle timeout; closed");
        }
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Unregister {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}
