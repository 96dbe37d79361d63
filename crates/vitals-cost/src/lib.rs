//! The `cost` section: accruals of running agents and totals over all runs.
//!
//! Agents that call paid models spend money while they run, and a runaway
//! one can burn a budget overnight. The orchestrator records cost and token
//! counts per run; this crate publishes them as the contract-v1 `cost`
//! object: `running`, the latest run of each running job (its cost fields
//! are `null` until the run finishes: null is honest raw, never 0), and
//! `aggregate`, the totals over every run (zeros for an empty table). The
//! two fields degrade on their own: `running` to `[]`, `aggregate` to
//! `null`.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use vitals_core::Assembler;
//! use vitals_cost::fake::FakeCostSource;
//! use vitals_cost::{CostSection, CostTotals, RunningCost};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = FakeCostSource::new()
//!     .with_running(vec![RunningCost {
//!         run_id: Some(31),
//!         job_id: Some(12),
//!         agent: Some("coder".into()),
//!         ..RunningCost::default()
//!     }])
//!     .with_totals(CostTotals { runs: 30, cost_usd: 12.5, input_tokens: 900, ..CostTotals::default() });
//! let assembler = Assembler::builder().section(CostSection::new(Arc::new(source))).build().unwrap();
//! let snapshot = assembler.build().await;
//! assert_eq!(
//!     snapshot.body()["cost"],
//!     json!({
//!         "running": [{"run_id": 31, "job_id": 12, "agent": "coder", "cost_usd": null,
//!                      "input_tokens": null, "output_tokens": null,
//!                      "cache_read_tokens": null, "cache_creation_tokens": null}],
//!         "aggregate": {"runs": 30, "cost_usd": 12.5, "input_tokens": 900, "output_tokens": 0,
//!                       "cache_read_tokens": 0, "cache_creation_tokens": 0}
//!     })
//! );
//! # }
//! ```
//!
//! The section registers itself as `cost` (order [`ORDER`]) and is built by
//! the registry whenever an `Arc<dyn CostSource>` is among the
//! [`Resources`] (see [`factory`]).

use std::fmt;
use std::sync::Arc;

use vitals_core::{Collect, Resources, Section, SectionError, async_trait};

pub mod fake;
pub mod fields;
mod section;

pub use section::CostSection;

/// The key this section fills in the snapshot.
pub const KEY: &str = "cost";

/// The section's output order (the built-ins use 10, 20, 30, 40).
pub const ORDER: i32 = 40;

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

/// The registry factory: a [`CostSection`] when `resources` holds an
/// `Arc<dyn CostSource>`, nothing otherwise.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::Resources;
/// use vitals_cost::{CostSource, fake::FakeCostSource};
///
/// assert!(vitals_cost::factory(&Resources::new()).is_none());
/// let source: Arc<dyn CostSource> = Arc::new(FakeCostSource::new());
/// let section = vitals_cost::factory(&Resources::new().with(source)).unwrap();
/// assert_eq!(section.key(), "cost");
/// ```
#[must_use]
pub fn factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let source = resources.get::<Arc<dyn CostSource>>()?;
    Some(Box::new(CostSection::new(source)))
}

vitals_core::register_section!(KEY, ORDER, factory);
