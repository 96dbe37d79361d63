//! What a store counts of its own work: the internal counters, and
//! [`StoreStats`], the copy of them a host reads through
//! [`SqliteStore::stats`](crate::SqliteStore::stats).

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters, shared by a store's clones, its worker and its
/// incremental aggregates. Each is only ever incremented.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Executions of the running-agents query.
    pub(crate) running_queries: AtomicU64,
    /// Read transactions begun.
    pub(crate) transactions: AtomicU64,
    /// Connections opened.
    pub(crate) connections: AtomicU64,
    /// Incremental aggregates: passes that built their state inline (a
    /// first scrape, or after a reset).
    pub(crate) cold_passes: AtomicU64,
    /// Incremental aggregates: background recounts swapped in.
    pub(crate) recounts: AtomicU64,
    /// Incremental aggregates: drift seen by a cheap check.
    pub(crate) drifts: AtomicU64,
    /// Incremental aggregates: errors that fell back to the full query.
    pub(crate) fallbacks: AtomicU64,
    /// Incremental aggregates: scrapes answered by the full query because
    /// the row at a high-water mark was gone or replaced (rowids at or
    /// below the mark may have been reused).
    pub(crate) reused_mark_answers: AtomicU64,
    /// Requests that ended with the kind `interrupted`.
    pub(crate) interrupted: AtomicU64,
    /// Workers abandoned while stuck in a blocking call, each replaced by a fresh one.
    pub(crate) workers_replaced: AtomicU64,
    /// Full passes whose scan was shared with the twin connection.
    pub(crate) parallel_passes: AtomicU64,
}

impl Stats {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub(crate) fn read(&self) -> StoreStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StoreStats {
            running_queries: get(&self.running_queries),
            transactions: get(&self.transactions),
            connections: get(&self.connections),
            cold_passes: get(&self.cold_passes),
            recounts: get(&self.recounts),
            drifts: get(&self.drifts),
            fallbacks: get(&self.fallbacks),
            reused_mark_answers: get(&self.reused_mark_answers),
            interrupted: get(&self.interrupted),
            workers_replaced: get(&self.workers_replaced),
            parallel_passes: get(&self.parallel_passes),
        }
    }
}

/// What a [`SqliteStore`](crate::SqliteStore) has counted of its own work
/// since it was built (all its clones together), as returned by
/// [`SqliteStore::stats`](crate::SqliteStore::stats).
///
/// Every field only grows. A host can publish them (say, as a custom
/// section) or log them to see what its scrapes cost: whether the
/// incremental aggregates stay incremental (`cold_passes`, `fallbacks`,
/// `reused_mark_answers` small and steady), how often they are recounted,
/// and how often sections run out of time (`interrupted`). Each field is
/// read on its own while requests may run: two fields are not a consistent
/// pair. The work of [`bench::floor_queries`](crate::bench::floor_queries)
/// and [`doctor::diagnose`](crate::doctor::diagnose) is not counted, nor
/// the background recount's own connection and transactions.
///
/// New counters may be added (the type is `#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StoreStats {
    /// How many times the running-agents query ran. It runs at most once
    /// per snapshot and serves both `agents` and `cost.running`.
    pub running_queries: u64,
    /// How many read transactions the store began: one per snapshot that
    /// asked the store anything (and one more when a snapshot's
    /// transaction was closed while idle, or rolled back by an error, and a
    /// later request of it needs one again).
    pub transactions: u64,
    /// How many connections the store opened: one per (re)opened file, and
    /// one per snapshot while a WAL database has no writer (it is then read
    /// through a connection for that snapshot only).
    pub connections: u64,
    /// Incremental aggregates: how many times a table's aggregate was
    /// answered by its full query and its running state derived from it
    /// inline: the first scrape of each table, and each time a table
    /// starts over (a replaced file, a discarded answer, a fallback, a
    /// reused mark).
    pub cold_passes: u64,
    /// Incremental aggregates: how many background recounts were adopted
    /// (one per table recounted).
    pub recounts: u64,
    /// Incremental aggregates: how many times a scrape saw drift (a purge
    /// of the oldest rows, a settled job back to a non-terminal status, an
    /// unsettled row deleted), which asks for a background recount.
    pub drifts: u64,
    /// Incremental aggregates: how many times the incremental path of a
    /// table failed (other than by an interruption) and the full query
    /// answered instead.
    pub fallbacks: u64,
    /// Incremental aggregates: how many scrapes were answered by the full
    /// query because the row at a table's high-water mark was gone or
    /// replaced, so that rowids at or below the mark may have been reused.
    pub reused_mark_answers: u64,
    /// How many source-method requests ended with the kind `interrupted`:
    /// their section's context was cancelled, its deadline passed, or its
    /// future was dropped before the answer came. The store then stops the
    /// request's statement, or never starts it.
    pub interrupted: u64,
    /// How many times the store's worker was found stuck in a blocking call
    /// (a request running well past its deadline, out of reach of any
    /// interruption, such as SQLite opening a FIFO) and replaced by a fresh
    /// worker with a connection of its own.
    pub workers_replaced: u64,
    /// How many full passes over the history (a cold build, a scrape
    /// without incremental aggregates) shared their scan of `agent_runs`
    /// with a second read-only connection at the same point in time, on a
    /// thread of its own (see the crate documentation, "Cold builds").
    pub parallel_passes: u64,
}
