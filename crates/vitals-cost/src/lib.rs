//! The `cost` section: accruals of running agents and totals over all runs.

use std::fmt;
use std::sync::Arc;

use vitals_core::{Collect, SectionError, async_trait};

/// The cost so far of one running job's latest run. Cost and token fields
/// are `None` until the run finishes (null is honest raw, never 0).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunningCost {
    /// The run's id.
    pub run_id: Option<i64>,
    /// The job's id.
    pub job_id: Option<i64>,
    /// The agent's name.
    pub agent: Option<String>,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Cache-read tokens.
    pub cache_read_tokens: Option<i64>,
    /// Cache-creation tokens.
    pub cache_creation_tokens: Option<i64>,
}

/// Totals over all runs (zeros for an empty table; NULLs are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CostTotals {
    /// Number of runs.
    pub runs: i64,
    /// Sum of cost in US dollars.
    pub cost_usd: f64,
    /// Sum of input tokens.
    pub input_tokens: i64,
    /// Sum of output tokens.
    pub output_tokens: i64,
    /// Sum of cache-read tokens.
    pub cache_read_tokens: i64,
    /// Sum of cache-creation tokens.
    pub cache_creation_tokens: i64,
}

/// Where the `cost` section reads costs from.
#[async_trait]
pub trait CostSource: Send + Sync + fmt::Debug + 'static {
    /// The latest run of each running job, ordered by job id.
    ///
    /// # Errors
    ///
    /// Any failure to read; `running` becomes `[]`.
    async fn running_costs(&self, cx: &Collect) -> Result<Vec<RunningCost>, SectionError>;

    /// Totals over all runs.
    ///
    /// # Errors
    ///
    /// Any failure to read; `aggregate` becomes `null`.
    async fn totals(&self, cx: &Collect) -> Result<CostTotals, SectionError>;
}

#[async_trait]
impl<T: CostSource + ?Sized> CostSource for Arc<T> {
    async fn running_costs(&self, cx: &Collect) -> Result<Vec<RunningCost>, SectionError> {
        (**self).running_costs(cx).await
    }
    async fn totals(&self, cx: &Collect) -> Result<CostTotals, SectionError> {
        (**self).totals(cx).await
    }
}
