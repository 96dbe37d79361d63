//! What a store counts: its work, for tests and diagnostics.

use std::sync::atomic::AtomicU64;

/// Counters, for tests and diagnostics.
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
    pub(crate) reused: AtomicU64,
}
