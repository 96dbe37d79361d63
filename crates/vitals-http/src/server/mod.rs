//! [`serve`] and [`Server`]: an HTTP/1.1 server for a [`Router`] that holds
//! up under abuse (slow clients, idle connections, fd exhaustion) and stops
//! within a bound.
//!
//! * `stats.rs`: [`ServeStats`], the live counters;
//! * `connection.rs`: one connection (activity tracking, idle close, the
//!   registry the cap evicts from);
//! * this file: the configuration, the accept loop and the shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;

mod connection;
mod stats;

use connection::{Registry, Shared, serve_connection};
use stats::Event;
pub use stats::{ServeCounts, ServeStats};

/// How [`serve`] treats connections: timeouts, the connection cap, the
/// shutdown grace period.
///
/// ```
/// use std::time::Duration;
/// use vitals_http::ServeConfig;
///
/// let config = ServeConfig::new()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(64);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct ServeConfig {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    shutdown_grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ServeConfig {
    /// The default header-read timeout, 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default idle timeout, 30 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default cap on open connections, 256.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// The default shutdown grace period, 10 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// The defaults: 10 s to read a request head, 30 s idle, 256 connections,
    /// 10 s of grace at shutdown.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a client has to send a complete request head, counted from
    /// the moment the server waits for one: when the connection is accepted,
    /// and again after each answer on a kept-alive connection. Past it the
    /// connection is closed. This is what ends a slowloris client that sends
    /// a byte every few seconds and never finishes its request line.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a connection may go without reading or writing a byte while
    /// no handler runs before it is closed: a client that stops reading its
    /// answer, or keeps a connection open and silent.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The most connections open at once. A connection accepted beyond it
    /// closes the connection idle the longest (one with no request in
    /// flight) to make room; when every open connection is in the middle of
    /// a request, the new one is closed at once (counted as refused).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long requests in flight may take to finish once the shutdown
    /// future resolves; connections still open then are closed.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroServeTimeout`] when the header-read or idle timeout
    /// is zero, [`ConfigError::ZeroMaxConnections`] when the cap is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::ZeroServeTimeout {
                which: "header-read",
            });
        }
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::ZeroServeTimeout { which: "idle" });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::ZeroMaxConnections);
        }
        Ok(())
    }
}

/// An HTTP/1.1 server for an axum `Router` (usually [`app`](crate::app), or
/// [`router`](crate::router) merged into a host's routes) built on hyper,
/// with what a long-running endpoint needs and `axum::serve` does not give: a
/// header-read timeout, an idle timeout, a cap on open connections, logged
/// (rate-limited) accept failures that never stop the loop, and a shutdown
/// that ends within its grace period. [`stats`](Self::stats) counts what it does.
///
/// ```no_run
/// use vitals_http::{ServeConfig, Server};
///
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
/// let server = Server::new(listener, app, ServeConfig::new())?;
/// let stats = server.stats();
/// server
///     .run(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await;
/// let served = stats.counts().accepted;
/// # let _ = served;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    stats: ServeStats,
}

/// How often at most a failing `accept` or a refused connection is logged.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// The pause after an `accept` failure when no idle connection could be
/// closed (a tight retry loop would spin on `EMFILE`).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The pause after closing an idle connection for an `accept` that failed
/// for lack of descriptors, so that its descriptor is really closed.
const EVICT_SETTLE: Duration = Duration::from_millis(10);
/// How long a new connection waits for the slot of the connection it evicted.
const EVICT_WAIT: Duration = Duration::from_secs(1);

impl Server {
    /// A server for `router` on `listener`.
    ///
    /// # Errors
    ///
    /// What [`ServeConfig::validate`] refuses.
    pub fn new(
        listener: TcpListener,
        router: Router,
        config: ServeConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            listener,
            router,
            config,
            stats: ServeStats::new(),
        })
    }

    /// Counts into `stats` instead of counters of its own: for counters made
    /// before the server, such as those a section of the served assembler
    /// reports.
    #[must_use]
    pub fn with_stats(mut self, stats: ServeStats) -> Self {
        self.stats = stats;
        self
    }

    /// A handle on the server's counters, readable while it runs.
    #[must_use]
    pub fn stats(&self) -> ServeStats {
        self.stats.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests
    /// in flight finish within the grace period, closes what is left, and
    /// returns. Never fails: accept errors are logged and retried.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self {
            listener,
            router,
            config,
            stats,
        } = self;
        let shared = Shared {
            router,
            registry: Arc::new(Registry::default()),
            stats: stats.clone(),
            epoch: Instant::now(),
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            draining: CancellationToken::new(),
        };
        let slots = Arc::new(Semaphore::new(config.max_connections));
        let mut tasks = JoinSet::new();
        let mut accept_log = RateLimited::default();
        let mut refuse_log = RateLimited::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        stats.record(Event::Accepted);
                        match admit(&shared, &slots, &mut refuse_log).await {
                            Some(permit) => {
                                let conn = shared.registry.insert(shared.epoch);
                                tasks.spawn(serve_connection(shared.clone(), stream, conn, permit));
                            }
                            None => drop(stream),
                        }
                    }
                    Err(error) => {
                        stats.record(Event::AcceptError);
                        // Out of descriptors: close the connection idle the
                        // longest, so that the endpoint keeps answering.
                        let freed = out_of_descriptors(&error) && shared.registry.evict_oldest_idle();
                        accept_log.log(|suppressed| {
                            tracing::warn!(
                                %error,
                                suppressed,
                                closed_idle_connection = freed,
                                "vitals http: accepting a connection failed"
                            );
                        });
                        tokio::time::sleep(if freed { EVICT_SETTLE } else { ACCEPT_BACKOFF }).await;
                    }
                },
            }
        }
        drop(listener);
        shared.draining.cancel();
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            let left = tasks.len();
            for _ in 0..left {
                stats.record(Event::ForcedAtShutdown);
            }
            tracing::warn!(
                connections = left,
                grace_ms = u64::try_from(config.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
                "vitals http: connections still open after the shutdown grace period; closed"
            );
            tasks.shutdown().await;
        }
    }
}

/// Serves `router` on `listener` as `config` says until `shutdown`
/// resolves; see [`Server`]. Returns once the server has stopped, within the
/// grace period after `shutdown`.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
/// vitals_http::serve(listener, app, vitals_http::ServeConfig::new(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// What [`ServeConfig::validate`] refuses; once serving, it never fails.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ConfigError> {
    Server::new(listener, router, config)?.run(shutdown).await;
    Ok(())
}

/// A slot for a new connection: a free one, or one freed by closing the
/// connection idle the longest. `None`: refuse it.
async fn admit(
    shared: &Shared,
    slots: &Arc<Semaphore>,
    refuse_log: &mut RateLimited,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
        return Some(permit);
    }
    if shared.registry.evict_oldest_idle()
        && let Ok(Ok(permit)) =
            tokio::time::timeout(EVICT_WAIT, Arc::clone(slots).acquire_owned()).await
    {
        return Some(permit);
    }
    shared.stats.record(Event::Refused);
    refuse_log.log(|suppressed| {
        tracing::warn!(
            suppressed,
            "vitals http: connection cap reached and every connection is busy; new connection closed"
        );
    });
    None
}

/// Whether an accept error means the process or the system ran out of file descriptors.
fn out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs alike.
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Logs at most once per [`LOG_EVERY`], passing how many were suppressed since.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn log(&mut self, emit: impl FnOnce(u64)) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        self.last = Some(now);
        emit(std::mem::take(&mut self.suppressed));
    }
}
