//! The collector's own metric families, next to each section's mapping.

use std::panic::AssertUnwindSafe;

use crate::assembler::{Assembler, Snapshot};
use crate::context::panic_message;
use crate::export::{MetricFamily, MetricKind};

impl Assembler {
    /// Maps a snapshot to metric families: each section's own mapping (a
    /// panicking mapping is skipped and logged), then the collector's own
    /// families: `vitals_collector_success` and
    /// `vitals_collector_duration_seconds` per section.
    #[must_use]
    pub fn metric_families(&self, snapshot: &Snapshot) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let mut enabled = MetricFamily::new(
            "vitals_enabled",
            "Whether the collector's kill switch is on (1) or off (0).",
            MetricKind::Gauge,
        );
        enabled.push(
            Vec::<(String, String)>::new(),
            f64::from(u8::from(snapshot.is_enabled())),
        );
        out.push(enabled);
        if !snapshot.is_enabled() {
            return out;
        }
        let body = snapshot.body();
        for slot in &self.inner.slots {
            let Some(value) = body.get(&slot.key) else {
                continue;
            };
            let mut families = Vec::new();
            let mapped = std::panic::catch_unwind(AssertUnwindSafe(|| {
                slot.section.metrics(value, &mut families);
            }));
            match mapped {
                Ok(()) => out.extend(families),
                Err(payload) => tracing::warn!(
                    section = %slot.key,
                    message = %panic_message(&*payload),
                    "vitals metrics mapping panicked; section omitted"
                ),
            }
        }
        let mut success = MetricFamily::new(
            "vitals_collector_success",
            "Whether the section produced its value in the last snapshot (1) or fell back (0).",
            MetricKind::Gauge,
        );
        let mut duration = MetricFamily::new(
            "vitals_collector_duration",
            "How long the section took in the last snapshot.",
            MetricKind::Gauge,
        )
        .with_unit("seconds");
        for report in snapshot.reports() {
            let labels = [("section", report.key.clone())];
            success.push(
                labels.clone(),
                f64::from(u8::from(report.status.produced_value())),
            );
            duration.push(labels, report.elapsed.as_secs_f64());
        }
        success.emit_into(&mut out);
        duration.emit_into(&mut out);
        out
    }
}
