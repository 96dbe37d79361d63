//! What a scan of `agent_runs` computes.

use crate::totals::Sums;

/// The sums of a scan of `agent_runs`, and its extra value.
pub(crate) type RunScan = (Sums, Option<i64>);

/// Which scan of `agent_runs` a pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunScanKind {
    /// The totals alone.
    Plain,
    /// The totals and the smallest rowid of an unfinished run (the
    /// incremental aggregates derive their tally from it).
    FirstUnfinished,
}

impl RunScanKind {
    /// The extra expression of the scan.
    pub(crate) fn extra(self) -> Option<&'static str> {
        match self {
            RunScanKind::Plain => None,
            // A filter, not a CASE: the aggregate is not called for the
            // (many) finished rows.
            RunScanKind::FirstUnfinished => Some("MIN(rowid) FILTER (WHERE finished_at IS NULL)"),
        }
    }
}
