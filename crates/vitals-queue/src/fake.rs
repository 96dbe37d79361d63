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
use vitals_core::fake::Canned;
use vitals_core::{Collect, SectionError, async_trait};

use crate::{QueueSource, RetryStats, WorkerProbe};

/// An in-memory [`QueueSource`]: no jobs and zero retries until told
/// otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeQueueSource {
    counts: Canned<Vec<(String, i64)>>,
    retries: Canned<RetryStats>,
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
            counts: Canned::new(Vec::new()),
            retries: Canned::new(RetryStats::default()),
        }
    }

    /// Both methods fail with `SectionError::msg(kind, message)` (the whole
    /// source is down).
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let (kind, message) = (kind.into(), message.into());
        Self {
            counts: Canned::failing(kind.clone(), message.clone()),
            retries: Canned::failing(kind, message),
        }
    }

    /// [`QueueSource::status_counts`] answers these `(status, count)` pairs, as given.
    #[must_use]
    pub fn with_counts<S: Into<String>>(
        mut self,
        counts: impl IntoIterator<Item = (S, i64)>,
    ) -> Self {
        self.counts = Canned::new(counts.into_iter().map(|(s, n)| (s.into(), n)).collect());
        self
    }

    /// [`QueueSource::status_counts`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_counts_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.counts = Canned::failing(kind, message);
        self
    }

    /// [`QueueSource::retry_stats`] answers `stats`.
    #[must_use]
    pub fn with_retries(mut self, stats: RetryStats) -> Self {
        self.retries = Canned::new(stats);
        self
    }

    /// [`QueueSource::retry_stats`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_retries_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.retries = Canned::failing(kind, message);
        self
    }
}

#[async_trait]
impl QueueSource for FakeQueueSource {
    async fn status_counts(&self, _cx: &Collect) -> Result<Vec<(String, i64)>, SectionError> {
        self.counts.answer()
    }

    async fn retry_stats(&self, _cx: &Collect) -> Result<RetryStats, SectionError> {
        self.retries.answer()
    }
}

/// An in-memory [`WorkerProbe`]: no breaker (`null`) and unknown settings
/// until told otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeWorkerProbe {
    breaker: Canned<Value>,
    max_concurrency: Canned<Option<i64>>,
    poll_interval: Canned<Option<f64>>,
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
            breaker: Canned::new(Value::Null),
            max_concurrency: Canned::new(None),
            poll_interval: Canned::new(None),
        }
    }

    /// [`WorkerProbe::breaker`] answers `snapshot` (any JSON value, so that
    /// tests can hand the section a malformed one).
    #[must_use]
    pub fn with_breaker(mut self, snapshot: Value) -> Self {
        self.breaker = Canned::new(snapshot);
        self
    }

    /// [`WorkerProbe::breaker`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_breaker_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.breaker = Canned::failing(kind, message);
        self
    }

    /// [`WorkerProbe::max_concurrency`] answers `value`.
    #[must_use]
    pub fn with_max_concurrency(mut self, value: Option<i64>) -> Self {
        self.max_concurrency = Canned::new(value);
        self
    }

    /// [`WorkerProbe::max_concurrency`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_max_concurrency_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.max_concurrency = Canned::failing(kind, message);
        self
    }

    /// [`WorkerProbe::poll_interval`] answers `seconds`.
    #[must_use]
    pub fn with_poll_interval(mut self, seconds: Option<f64>) -> Self {
        self.poll_interval = Canned::new(seconds);
        self
    }

    /// [`WorkerProbe::poll_interval`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_poll_interval_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.poll_interval = Canned::failing(kind, message);
        self
    }
}

impl WorkerProbe for FakeWorkerProbe {
    fn breaker(&self) -> Result<Value, SectionError> {
        self.breaker.answer()
    }

    fn max_concurrency(&self) -> Result<Option<i64>, SectionError> {
        self.max_concurrency.answer()
    }

    fn poll_interval(&self) -> Result<Option<f64>, SectionError> {
        self.poll_interval.answer()
    }
}
