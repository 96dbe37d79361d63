//! An in-memory [`CostSource`] for tests and demos.
//!
//! Each method can be made to fail on its own, so that a test can check
//! that `running` and `aggregate` degrade independently:
//!
//! ```
//! use vitals_cost::CostTotals;
//! use vitals_cost::fake::FakeCostSource;
//!
//! let source = FakeCostSource::new()
//!     .with_totals(CostTotals { runs: 3, cost_usd: 1.25, ..CostTotals::default() })
//!     .with_running_error("wrong_type", "cost_usd is text");
//! # let _ = source;
//! ```

use vitals_core::{Collect, SectionError, async_trait};

use crate::{CostSource, CostTotals, RunningCost};

/// A stored failure, turned into a fresh [`SectionError`] on each call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    kind: String,
    message: String,
}

impl Failure {
    fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

fn answer<T: Clone>(answer: &Result<T, Failure>) -> Result<T, SectionError> {
    answer
        .clone()
        .map_err(|f| SectionError::msg(f.kind, f.message))
}

/// An in-memory [`CostSource`]: no running job and an empty run table
/// (zero totals) until told otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeCostSource {
    running: Result<Vec<RunningCost>, Failure>,
    totals: Result<CostTotals, Failure>,
}

impl Default for FakeCostSource {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCostSource {
    /// No running job, zero totals.
    #[must_use]
    pub fn new() -> Self {
        Self {
            running: Ok(Vec::new()),
            totals: Ok(CostTotals::default()),
        }
    }

    /// Both methods fail with `SectionError::msg(kind, message)` (the whole
    /// source is down).
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let failure = Failure::new(kind, message);
        Self {
            running: Err(failure.clone()),
            totals: Err(failure),
        }
    }

    /// [`CostSource::running_costs`] answers `rows`, as given.
    #[must_use]
    pub fn with_running(mut self, rows: Vec<RunningCost>) -> Self {
        self.running = Ok(rows);
        self
    }

    /// [`CostSource::running_costs`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_running_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.running = Err(Failure::new(kind, message));
        self
    }

    /// [`CostSource::totals`] answers `totals`.
    #[must_use]
    pub fn with_totals(mut self, totals: CostTotals) -> Self {
        self.totals = Ok(totals);
        self
    }

    /// [`CostSource::totals`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_totals_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.totals = Err(Failure::new(kind, message));
        self
    }
}

#[async_trait]
impl CostSource for FakeCostSource {
    async fn running_costs(&self, _cx: &Collect) -> Result<Vec<RunningCost>, SectionError> {
        answer(&self.running)
    }

    async fn totals(&self, _cx: &Collect) -> Result<CostTotals, SectionError> {
        answer(&self.totals)
    }
}
