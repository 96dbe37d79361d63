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

use vitals_core::{Collect, ErrorInfo, SectionError, async_trait};

use crate::{CostSource, CostTotals, RunningCost};

/// The stored answer of one method: a fresh [`SectionError`] is built from
/// the stored [`ErrorInfo`] on each call.
fn answer<T: Clone>(answer: &Result<T, ErrorInfo>) -> Result<T, SectionError> {
    answer.clone().map_err(|failure| failure.to_error())
}

/// An in-memory [`CostSource`]: no running job and an empty run table
/// (zero totals) until told otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeCostSource {
    running: Result<Vec<RunningCost>, ErrorInfo>,
    totals: Result<CostTotals, ErrorInfo>,
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
        let failure = ErrorInfo::new(kind, message);
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
        self.running = Err(ErrorInfo::new(kind, message));
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
        self.totals = Err(ErrorInfo::new(kind, message));
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
