//! The `queue` section: job counts by status, depth, retries, and the worker's own state.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use vitals_core::{Collect, SectionError, async_trait};

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
