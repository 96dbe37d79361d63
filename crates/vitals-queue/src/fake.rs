//! In-memory [`QueueSource`] and [`WorkerProbe`] for tests and demos.
//!
//! Each method of each fake can be made to fail on its own, so that a test
//! can check that one field of the `queue` section degrades while the
//! others stay:
//!
//! ```
//! use vitals_queue::RetryStats;
//! use vitals_queue::fake::{FakeQueueSource, FakeWorkerProbe};
//!
//! let source = FakeQueueSource::new()
//!     .with_counts([("queued", 3)])
//!     .with_retries_error("missing_column", "no such column: attempts");
//! let probe = FakeWorkerProbe::new().with_breaker_error("poisoned", "breaker lock poisoned");
//! # let _ = (source, probe);
//! ```

use serde_json::Value;
use vitals_core::{Collect, ErrorInfo, SectionError, async_trait};

use crate::{QueueSource, RetryStats, WorkerProbe};

/// The stored answer of one method: a fresh [`SectionError`] is built from
/// the stored [`ErrorInfo`] on each call.
fn answer<T: Clone>(answer: &Result<T, ErrorInfo>) -> Result<T, SectionError> {
    answer.clone().map_err(|failure| failure.to_error())
}

/// An in-memory [`QueueSource`]: no jobs and zero retries until told
/// otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeQueueSource {
    counts: Result<Vec<(String, i64)>, ErrorInfo>,
    retries: Result<RetryStats, ErrorInfo>,
}

impl Default for FakeQueueSource {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeQueueSource {
    /// An empty job table: no status counted, zero retries.
    #[must_use]
    pub fn new() -> Self {
        Self {
            counts: Ok(Vec::new()),
            retries: Ok(RetryStats::default()),
        }
    }

    /// Both methods fail with `SectionError::msg(kind, message)` (the whole
    /// source is down).
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let failure = ErrorInfo::new(kind, message);
        Self {
            counts: Err(failure.clone()),
            retries: Err(failure),
        }
    }

    /// [`QueueSource::status_counts`] answers these `(status, count)` pairs, as given.
    #[must_use]
    pub fn with_counts<S: Into<String>>(
        mut self,
        counts: impl IntoIterator<Item = (S, i64)>,
    ) -> Self {
        self.counts = Ok(counts.into_iter().map(|(s, n)| (s.into(), n)).collect());
        self
    }

    /// [`QueueSource::status_counts`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_counts_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.counts = Err(ErrorInfo::new(kind, message));
        self
    }

    /// [`QueueSource::retry_stats`] answers `stats`.
    #[must_use]
    pub fn with_retries(mut self, stats: RetryStats) -> Self {
        self.retries = Ok(stats);
        self
    }

    /// [`QueueSource::retry_stats`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_retries_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.retries = Err(ErrorInfo::new(kind, message));
        self
    }
}

#[async_trait]
impl QueueSource for FakeQueueSource {
    async fn status_counts(&self, _cx: &Collect) -> Result<Vec<(String, i64)>, SectionError> {
        answer(&self.counts)
    }

    async fn retry_stats(&self, _cx: &Collect) -> Result<RetryStats, SectionError> {
        answer(&self.retries)
    }
}

/// An in-memory [`WorkerProbe`]: no breaker (`null`) and unknown settings
/// until told otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeWorkerProbe {
    breaker: Result<Value, ErrorInfo>,
    max_concurrency: Result<Option<i64>, ErrorInfo>,
    poll_interval: Result<Option<f64>, ErrorInfo>,
}

impl Default for FakeWorkerProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeWorkerProbe {
    /// A probe answering `null`, `None` and `None`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            breaker: Ok(Value::Null),
            max_concurrency: Ok(None),
            poll_interval: Ok(None),
        }
    }

    /// [`WorkerProbe::breaker`] answers `snapshot` (any JSON value, so that
    /// tests can hand the section a malformed one).
    #[must_use]
    pub fn with_breaker(mut self, snapshot: Value) -> Self {
        self.breaker = Ok(snapshot);
        self
    }

    /// [`WorkerProbe::breaker`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_breaker_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.breaker = Err(ErrorInfo::new(kind, message));
        self
    }

    /// [`WorkerProbe::max_concurrency`] answers `value`.
    #[must_use]
    pub fn with_max_concurrency(mut self, value: Option<i64>) -> Self {
        self.max_concurrency = Ok(value);
        self
    }

    /// [`WorkerProbe::max_concurrency`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_max_concurrency_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.max_concurrency = Err(ErrorInfo::new(kind, message));
        self
    }

    /// [`WorkerProbe::poll_interval`] answers `seconds`.
    #[must_use]
    pub fn with_poll_interval(mut self, seconds: Option<f64>) -> Self {
        self.poll_interval = Ok(seconds);
        self
    }

    /// [`WorkerProbe::poll_interval`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_poll_interval_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.poll_interval = Err(ErrorInfo::new(kind, message));
        self
    }
}

impl WorkerProbe for FakeWorkerProbe {
    fn breaker(&self) -> Result<Value, SectionError> {
        answer(&self.breaker)
    }

    fn max_concurrency(&self) -> Result<Option<i64>, SectionError> {
        answer(&self.max_concurrency)
    }

    fn poll_interval(&self) -> Result<Option<f64>, SectionError> {
        answer(&self.poll_interval)
    }
}
