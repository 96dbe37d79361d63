//! The `queue` section: job counts by status, depth, retries, and the worker's own state.
//!
//! A queue that grows while nothing runs, jobs burning through their retries,
//! a circuit breaker that opened at 3 a.m.: the raw facts behind these live
//! partly in the job table and partly in the worker's memory, and only the
//! service can read both. This crate publishes them as the contract-v1
//! `queue` object. Each of its fields is guarded on its own: a failing
//! count query leaves `retries` and the breaker intact, and the meta section
//! lists the field that fell back.
//!
//! The job table is read through a [`QueueSource`] (`vitals-sqlite`, or
//! [`fake::FakeQueueSource`]); the worker's in-memory state through an
//! optional [`WorkerProbe`] the host implements.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use vitals_core::Assembler;
//! use vitals_queue::fake::{FakeQueueSource, FakeWorkerProbe};
//! use vitals_queue::{QueueSection, RetryStats};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = FakeQueueSource::new()
//!     .with_counts([("queued", 4), ("running", 2), ("paused", 1)])
//!     .with_retries(RetryStats { jobs_with_retries: 1, total_attempts: 3, max_attempts: 3 });
//! let probe = FakeWorkerProbe::new()
//!     .with_breaker(json!({"state": "closed", "failures": 0}))
//!     .with_max_concurrency(Some(2))
//!     .with_poll_interval(Some(0.5));
//! let section = QueueSection::new(Arc::new(source)).with_probe(Arc::new(probe));
//! let assembler = Assembler::builder().section(section).build().unwrap();
//! let snapshot = assembler.build().await;
//! assert_eq!(
//!     snapshot.body()["queue"],
//!     json!({
//!         "counts": {"queued": 4, "running": 2, "done": 0, "failed": 0, "cancelled": 0, "paused": 1},
//!         "depth": 4,
//!         "retries": {"jobs_with_retries": 1, "total_attempts": 3, "max_attempts": 3},
//!         "breaker": {"state": "closed", "failures": 0},
//!         "max_concurrency": 2,
//!         "poll_interval": 0.5
//!     })
//! );
//! # }
//! ```
//!
//! The section registers itself as `queue` (order [`ORDER`]) and is built by
//! the registry whenever an `Arc<dyn QueueSource>` is among the
//! [`Resources`], with the `Arc<dyn WorkerProbe>` too when there is one
//! (see [`factory`]).

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use vitals_core::{Collect, Resources, Section, SectionError, async_trait};

mod breaker;
pub mod fake;
pub mod fields;
mod section;

pub use breaker::{BreakerSnapshot, BreakerState};
pub use section::QueueSection;

/// The key this section fills in the snapshot.
pub const KEY: &str = "queue";

/// The section's output order (the built-ins use 10, 20, 30, 40).
pub const ORDER: i32 = 20;

/// The job statuses always present in `counts` (zero when absent), in output order.
pub const KNOWN_STATUSES: [&str; 5] = ["queued", "running", "done", "failed", "cancelled"];

/// Retry statistics over non-terminal jobs (`queued`, `running`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryStats {
    /// Jobs with `attempts > 0`.
    pub jobs_with_retries: i64,
    /// Sum of `attempts`.
    pub total_attempts: i64,
    /// Largest `attempts` (0 when there are no such jobs).
    pub max_attempts: i64,
}

/// Where the `queue` section reads the job table from.
#[async_trait]
pub trait QueueSource: Send + Sync + fmt::Debug + 'static {
    /// Number of jobs per status, for every status present (any text).
    ///
    /// # Errors
    ///
    /// Any failure to count; the `counts` and `depth` fields become `null`.
    async fn status_counts(&self, cx: &Collect) -> Result<Vec<(String, i64)>, SectionError>;

    /// Retry statistics over `queued` and `running` jobs.
    ///
    /// # Errors
    ///
    /// Any failure to read; the `retries` field becomes `null`.
    async fn retry_stats(&self, cx: &Collect) -> Result<RetryStats, SectionError>;
}

/// What the host service knows about its worker from memory: the circuit
/// breaker and the concurrency settings. Implemented by the host.
pub trait WorkerProbe: Send + Sync + fmt::Debug + 'static {
    /// The circuit breaker's snapshot, as a JSON object (or `null` when there is none).
    ///
    /// Any object is accepted and published as it is. By convention its
    /// `state` is `"closed"`, `"open"` or `"half-open"` ([`BreakerState`]):
    /// the metrics then say `vitals_breaker_state{state="open"} 1`, which
    /// the `VitalsBreakerOpen` alert rule selects on (`docs/alerts.md`).
    /// Its other top-level numbers and booleans become
    /// `vitals_breaker_<field>` gauges. [`BreakerSnapshot`] builds such an
    /// object:
    ///
    /// ```
    /// use serde_json::Value;
    /// use vitals_core::SectionError;
    /// use vitals_queue::{BreakerSnapshot, BreakerState, WorkerProbe};
    ///
    /// #[derive(Debug)]
    /// struct Worker {
    ///     failures: u32,
    /// }
    ///
    /// impl WorkerProbe for Worker {
    ///     fn breaker(&self) -> Result<Value, SectionError> {
    ///         let state = if self.failures >= 5 { BreakerState::Open } else { BreakerState::Closed };
    ///         Ok(BreakerSnapshot::new(state)
    ///             .with_field("consecutive_failures", self.failures)
    ///             .into_value())
    ///     }
    ///     fn max_concurrency(&self) -> Result<Option<i64>, SectionError> {
    ///         Ok(Some(4))
    ///     }
    ///     fn poll_interval(&self) -> Result<Option<f64>, SectionError> {
    ///         Ok(Some(2.0))
    ///     }
    /// }
    ///
    /// let breaker = Worker { failures: 7 }.breaker()?;
    /// assert_eq!(breaker["state"], "open");
    /// # Ok::<(), SectionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Any failure; the `breaker` field becomes `null`.
    fn breaker(&self) -> Result<Value, SectionError>;

    /// The maximum number of concurrent jobs.
    ///
    /// # Errors
    ///
    /// Any failure; the field becomes `null`.
    fn max_concurrency(&self) -> Result<Option<i64>, SectionError>;

    /// The worker's poll interval in seconds.
    ///
    /// # Errors
    ///
    /// Any failure; the field becomes `null`.
    fn poll_interval(&self) -> Result<Option<f64>, SectionError>;
}

#[async_trait]
impl<T: QueueSource + ?Sized> QueueSource for Arc<T> {
    async fn status_counts(&self, cx: &Collect) -> Result<Vec<(String, i64)>, SectionError> {
        (**self).status_counts(cx).await
    }
    async fn retry_stats(&self, cx: &Collect) -> Result<RetryStats, SectionError> {
        (**self).retry_stats(cx).await
    }
}

impl<T: WorkerProbe + ?Sized> WorkerProbe for Arc<T> {
    fn breaker(&self) -> Result<Value, SectionError> {
        (**self).breaker()
    }
    fn max_concurrency(&self) -> Result<Option<i64>, SectionError> {
        (**self).max_concurrency()
    }
    fn poll_interval(&self) -> Result<Option<f64>, SectionError> {
        (**self).poll_interval()
    }
}

/// The registry factory: a [`QueueSection`] when `resources` holds an
/// `Arc<dyn QueueSource>` (with the `Arc<dyn WorkerProbe>` when present),
/// nothing otherwise.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::Resources;
/// use vitals_queue::{QueueSource, fake::FakeQueueSource};
///
/// assert!(vitals_queue::factory(&Resources::new()).is_none());
/// let source: Arc<dyn QueueSource> = Arc::new(FakeQueueSource::new());
/// let section = vitals_queue::factory(&Resources::new().with(source)).unwrap();
/// assert_eq!(section.key(), "queue");
/// ```
#[must_use]
pub fn factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let source = resources.get::<Arc<dyn QueueSource>>()?;
    let mut section = QueueSection::new(source);
    if let Some(probe) = resources.get::<Arc<dyn WorkerProbe>>() {
        section = section.with_probe(probe);
    }
    Some(Box::new(section))
}

vitals_core::register_section!(KEY, ORDER, factory);
