//! The names of the fields of the `queue` object, in output order.
//!
//! The one place they are written: the section's output, its metrics, its
//! degraded-field records and a source's (`vitals-sqlite`) all use these.
//!
//! ```
//! use vitals_queue::fields;
//!
//! assert_eq!(fields::ALL, ["counts", "depth", "retries", "breaker", "max_concurrency", "poll_interval"]);
//! ```

/// Jobs per status.
pub const COUNTS: &str = "counts";
/// Jobs waiting (`counts.queued`).
pub const DEPTH: &str = "depth";
/// Retry statistics over non-terminal jobs.
pub const RETRIES: &str = "retries";
/// The worker's circuit breaker snapshot.
pub const BREAKER: &str = "breaker";
/// The worker's maximum number of concurrent jobs.
pub const MAX_CONCURRENCY: &str = "max_concurrency";
/// The worker's poll interval in seconds.
pub const POLL_INTERVAL: &str = "poll_interval";

/// Every field of the object, in output order.
pub const ALL: [&str; 6] = [
    COUNTS,
    DEPTH,
    RETRIES,
    BREAKER,
    MAX_CONCURRENCY,
    POLL_INTERVAL,
];

/// `breaker.state`: the breaker's state, by convention (`closed`, `open`,
/// `half-open`); written first in the breaker object, and the label of
/// `vitals_breaker_state`.
pub const BREAKER_STATE: &str = "state";

/// `retries.jobs_with_retries`: non-terminal jobs with `attempts > 0`.
pub const JOBS_WITH_RETRIES: &str = "jobs_with_retries";
/// `retries.total_attempts`: the sum of their attempts.
pub const TOTAL_ATTEMPTS: &str = "total_attempts";
/// `retries.max_attempts`: the largest number of attempts.
pub const MAX_ATTEMPTS: &str = "max_attempts";

/// Every field of `retries`, in output order.
pub const RETRIES_ALL: [&str; 3] = [JOBS_WITH_RETRIES, TOTAL_ATTEMPTS, MAX_ATTEMPTS];
