//! The settings a [`SqliteStoreBuilder`](crate::SqliteStoreBuilder) passes
//! down to the worker, the connection and the incremental aggregates, and
//! their defaults.

use std::time::Duration;

/// From how many rowids on a full scan of `agent_runs` is shared between
/// two connections, unless tests set another: below it, opening the second
/// connection costs more than it saves.
pub(crate) const SPLIT_MIN_ROWS: i64 = 4_096;

/// The busy timeout unless the builder sets another.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a read transaction may stay open without requests, unless the builder sets another.
pub const DEFAULT_IDLE_RELEASE: Duration = Duration::from_secs(30);

/// How often the incremental aggregates are recounted from scratch, unless
/// the builder sets another.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);

/// Settings of a store, from the builder.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// How long a query waits for a writer's lock before failing with `busy`.
    pub(crate) busy_timeout: Duration,
    /// A read transaction left open this long without any request is closed
    /// (a snapshot whose context someone keeps alive must not pin the WAL).
    pub(crate) idle_release: Duration,
    /// How often the incremental aggregates are recounted from scratch.
    pub(crate) reconcile_interval: Duration,
    /// From how many rowids on a full scan of `agent_runs` is shared with
    /// a twin connection (tests lower it).
    pub(crate) split_min_rows: i64,
    /// Tests: a pass lets the twin in before the store's side takes its
    /// own part, so that the twin certainly reads.
    pub(crate) twin_first: bool,
}

impl Default for Options {
    /// The builder's defaults.
    fn default() -> Self {
        Options {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            idle_release: DEFAULT_IDLE_RELEASE,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            split_min_rows: SPLIT_MIN_ROWS,
            twin_first: false,
        }
    }
}
