//! [`ServeStats`]: what the server counts, readable while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a [`Server`](crate::Server): a cheap, cloneable handle
/// (all clones read the same counters). Take it with
/// [`Server::stats`](crate::Server::stats) before running the server, and
/// read it at any time with [`counts`](Self::counts).
#[derive(Debug, Clone, Default)]
pub struct ServeStats {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    evicted: AtomicU64,
    idle_closed: AtomicU64,
    header_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    forced_at_shutdown: AtomicU64,
}

/// The values of a [`ServeStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeCounts {
    /// Connections open now.
    pub open: u64,
    /// Connections accepted since the start.
    pub accepted: u64,
    /// Connections closed at once after being accepted, because the cap was
    /// reached and no open connection was idle.
    pub refused: u64,
    /// Idle connections closed to make room for a new one (the cap was
    /// reached, or accepting failed for lack of file descriptors).
    pub evicted: u64,
    /// Connections closed because nothing was read or written for the idle
    /// timeout while no request was being handled.
    pub idle_closed: u64,
    /// Connections closed because a request head did not arrive in full
    /// within the header-read timeout.
    pub header_timeouts: u64,
    /// Failed `accept` calls (for example `EMFILE`: no file descriptor left).
    pub accept_errors: u64,
    /// Connections still open when the shutdown grace period ran out, closed
    /// without finishing.
    pub forced_at_shutdown: u64,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Accepted,
    Refused,
    Evicted,
    IdleClosed,
    HeaderTimeout,
    AcceptError,
    ForcedAtShutdown,
}

impl ServeStats {
    /// A new set of counters, all zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters now.
    #[must_use]
    pub fn counts(&self) -> ServeCounts {
        let c = &*self.inner;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServeCounts {
            open: get(&c.open),
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            evicted: get(&c.evicted),
            idle_closed: get(&c.idle_closed),
            header_timeouts: get(&c.header_timeouts),
            accept_errors: get(&c.accept_errors),
            forced_at_shutdown: get(&c.forced_at_shutdown),
        }
    }

    pub(crate) fn record(&self, event: Event) {
        let c = &*self.inner;
        let counter = match event {
            Event::Accepted => &c.accepted,
            Event::Refused => &c.refused,
            Event::Evicted => &c.evicted,
            Event::IdleClosed => &c.idle_closed,
            Event::HeaderTimeout => &c.header_timeouts,
            Event::AcceptError => &c.accept_errors,
            Event::ForcedAtShutdown => &c.forced_at_shutdown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One more open connection; the returned guard counts it closed when dropped.
    pub(crate) fn opened(&self) -> OpenGuard {
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self.clone())
    }
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard(ServeStats);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.inner.open.fetch_sub(1, Ordering::Relaxed);
    }
}
