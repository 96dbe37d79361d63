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

use vitals_core::fake::Canned;
use vitals_core::{Collect, SectionError, async_trait};

use crate::{CostSource, CostTotals, RunningCost};

/// An in-memory [`CostSource`]: no running job and an empty run table
/// (zero totals) until told otherwise; each method can fail on its own.
#[derive(Debug, Clone)]
pub struct FakeCostSource {
    running: Canned<Vec<RunningCost>>,
    totals: Canned<CostTotals>,
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
            running: Canned::new(Vec::new()),
            totals: Canned::new(CostTotals::default()),
        }
    }

    /// Both methods fail with `SectionError::msg(kind, message)` (the whole
    /// source is down).
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let (kind, message) = (kind.into(), message.into());
        Self {
            running: Canned::failing(kind.clone(), message.clone()),
            totals: Canned::failing(kind, message),
        }
    }

    /// [`CostSource::running_costs`] answers `rows`, as given.
    #[must_use]
    pub fn with_running(mut self, rows: Vec<RunningCost>) -> Self {
        self.running = Canned::new(rows);
        self
    }

    /// [`CostSource::running_costs`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_running_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.running = Canned::failing(kind, message);
        self
    }

    /// [`CostSource::totals`] answers `totals`.
    #[must_use]
    pub fn with_totals(mut self, totals: CostTotals) -> Self {
        self.totals = Canned::new(totals);
        self
    }

    /// [`CostSource::totals`] fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn with_totals_error(
        mut self,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.totals = Canned::failing(kind, message);
        self
    }
}

#[async_trait]
impl CostSource for FakeCostSource {
    async fn running_costs(&self, _cx: &Collect) -> Result<Vec<RunningCost>, SectionError> {
        self.running.answer()
    }

    async fn totals(&self, _cx: &Collect) -> Result<CostTotals, SectionError> {
        self.totals.answer()
    }
}
