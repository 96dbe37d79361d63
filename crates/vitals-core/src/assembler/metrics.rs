//! The collector's own metric families, next to each section's mapping.

use std::panic::AssertUnwindSafe;

use crate::assembler::snapshot::SCHEMA_VERSION;
use crate::assembler::{Assembler, SectionStatus, Snapshot};
use crate::context::panic_message;
use crate::export::{MetricFamily, MetricKind};

/// The version of vitals, the `version` label of `vitals_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Assembler {
    /// Maps a snapshot to metric families.
    ///
    /// In this order: `vitals_enabled`; then, with the kill switch on,
    /// `vitals_build_info` (an info family labelled with the `version` of
    /// vitals), `vitals_schema_version`, each section's own mapping (a
    /// panicking mapping is skipped and logged), and the collector's families
    /// per section: `vitals_collector_success`,
    /// `vitals_collector_duration_seconds`, `vitals_collector_status` (one
    /// sample per [`SectionStatus`], labelled `status`, 1 for the section's
    /// status and 0 for the others) and `vitals_collector_degraded_fields`.
    /// With the switch off, `vitals_enabled` is the only family.
    ///
    /// ```
    /// use vitals_core::Assembler;
    /// use vitals_core::export::MetricKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let assembler = Assembler::builder().build().unwrap();
    /// let families = assembler.metric_families(&*assembler.build().await);
    /// let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    /// assert_eq!(names, ["vitals_enabled", "vitals_build", "vitals_schema_version"]);
    /// assert_eq!(families[1].kind, MetricKind::Info);
    /// # }
    /// ```
    #[must_use]
    pub fn metric_families(&self, snapshot: &Snapshot) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let mut enabled = MetricFamily::new(
            "vitals_enabled",
            "Whether the collector's kill switch is on (1) or off (0).",
            MetricKind::Gauge,
        );
        enabled.push(no_labels(), f64::from(u8::from(snapshot.is_enabled())));
        out.push(enabled);
        if !snapshot.is_enabled() {
            return out;
        }
        let mut build = MetricFamily::new(
            "vitals_build",
            "The version of vitals that serves these metrics.",
            MetricKind::Info,
        );
        build.push([("version", VERSION)], 1.0);
        out.push(build);
        let mut schema = MetricFamily::new(
            "vitals_schema_version",
            "The contract version of the JSON snapshot (`schema_version`).",
            MetricKind::Gauge,
        );
        // A small integer: exact as a float.
        schema.push(no_labels(), SCHEMA_VERSION as f64);
        out.push(schema);

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
        collector_families(snapshot, &mut out);
        out
    }
}

fn no_labels() -> Vec<(String, String)> {
    Vec::new()
}

/// The per-section families of the collector itself.
fn collector_families(snapshot: &Snapshot, out: &mut Vec<MetricFamily>) {
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
    let mut status = MetricFamily::new(
        "vitals_collector_status",
        "The section's status in the last snapshot: 1 for the status in the label, 0 for the others.",
        MetricKind::Gauge,
    );
    let mut degraded = MetricFamily::new(
        "vitals_collector_degraded_fields",
        "How many fields of the section fell back in the last snapshot.",
        MetricKind::Gauge,
    );
    for report in snapshot.reports() {
        let section = ("section", report.key.clone());
        success.push(
            [section.clone()],
            f64::from(u8::from(report.status.produced_value())),
        );
        duration.push([section.clone()], report.elapsed.as_secs_f64());
        for candidate in SectionStatus::ALL {
            status.push(
                [section.clone(), ("status", candidate.as_str().to_owned())],
                f64::from(u8::from(candidate == report.status)),
            );
        }
        degraded.push([section], report.fields.len() as f64);
    }
    success.emit_into(out);
    duration.emit_into(out);
    status.emit_into(out);
    degraded.emit_into(out);
}
