//! What one build produces: [`Snapshot`], its per-section [`SectionReport`]s,
//! and the ordered writer that renders the envelope.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{ErrorInfo, FieldFailure};
use crate::value::SectionValue;

/// The contract version this build of vitals emits. Bumped only on a breaking
/// change (a renamed, removed or retyped field); additions do not bump it.
pub const SCHEMA_VERSION: u64 = 1;

/// The key of the meta section that reports how each section fared.
pub const META_KEY: &str = "collector";

/// Keys the envelope owns; no section may fill them.
pub const RESERVED_KEYS: &[&str] = &[
    "schema_version",
    "generated_at",
    "clk_tck",
    "enabled",
    META_KEY,
];

/// How one section fared in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SectionStatus {
    /// Collected in full.
    Ok,
    /// Collected, but some fields fell back to their defaults.
    Degraded,
    /// Returned an error; the fallback value was used.
    Error,
    /// Panicked; the fallback value was used.
    Panic,
    /// Missed its deadline; the fallback value was used.
    Timeout,
    /// A previous run is still in flight; not started again; the fallback value was used.
    Busy,
}

impl SectionStatus {
    /// Every status, in the order of this enum (for exposition formats that
    /// list them all).
    pub const ALL: [Self; 6] = [
        Self::Ok,
        Self::Degraded,
        Self::Error,
        Self::Panic,
        Self::Timeout,
        Self::Busy,
    ];

    /// Whether the section's own value (possibly with degraded fields) is in the snapshot.
    #[must_use]
    pub fn produced_value(self) -> bool {
        matches!(self, Self::Ok | Self::Degraded)
    }

    /// The status as it appears in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Error => "error",
            Self::Panic => "panic",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
        }
    }
}

/// The meta section's entry for one section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionReport {
    /// The section's key.
    #[serde(skip)]
    pub key: String,
    /// How it fared.
    pub status: SectionStatus,
    /// Time from its start to its end (or to the deadline), in milliseconds.
    #[serde(rename = "elapsed_ms", serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// Why it failed, for `error`, `panic`, `timeout` and `busy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The fields that fell back, for `degraded`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldFailure>,
}

/// Milliseconds with microsecond precision.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// The envelope's header, read once per build.
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    /// `generated_at`: `""` when the clock failed.
    pub(crate) generated_at: String,
    /// `clk_tck`, `None` for `null`.
    pub(crate) clk_tck: Option<u64>,
}

/// One built snapshot: the envelope and the per-section reports behind its meta section.
///
/// The JSON text ([`to_json`](Self::to_json)) is written in contract order
/// by construction: the header, each section's [`SectionValue`] in output
/// order, then the meta section. [`body`](Self::body) is the same snapshot
/// parsed into a [`serde_json::Value`] for reading fields (its object keys
/// are not in contract order; read the text for that).
#[derive(Debug)]
pub struct Snapshot {
    enabled: bool,
    header: Header,
    sections: Vec<(String, SectionValue)>,
    reports: Vec<SectionReport>,
    elapsed: Duration,
    taken: Instant,
    json: OnceLock<String>,
    body: OnceLock<Value>,
}

impl Snapshot {
    pub(crate) fn disabled() -> Self {
        Self::new(
            false,
            Header::default(),
            Vec::new(),
            Vec::new(),
            Duration::ZERO,
        )
    }

    pub(crate) fn new(
        enabled: bool,
        header: Header,
        sections: Vec<(String, SectionValue)>,
        reports: Vec<SectionReport>,
        elapsed: Duration,
    ) -> Self {
        Self {
            enabled,
            header,
            sections,
            reports,
            elapsed,
            taken: Instant::now(),
            json: OnceLock::new(),
            body: OnceLock::new(),
        }
    }

    /// The whole envelope as a JSON value, parsed once from [`to_json`](Self::to_json).
    #[must_use]
    pub fn body(&self) -> &Value {
        self.body
            .get_or_init(|| serde_json::from_str(self.to_json()).unwrap_or(Value::Null))
    }

    /// The body serialized as compact JSON, keys in contract order (computed once).
    #[must_use]
    pub fn to_json(&self) -> &str {
        self.json.get_or_init(|| self.render(Timings::Measured))
    }

    /// The body as pretty-printed JSON, keys in contract order.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        pretty(self.to_json())
    }

    /// The envelope as compact JSON, with real or zeroed timings.
    pub(crate) fn render(&self, timings: Timings) -> String {
        let envelope = Envelope {
            snapshot: self,
            timings,
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| {
            // Unreachable: every part is a string, an integer, a finite
            // float or already-serialized JSON. Never fail the endpoint over it.
            format!("{{\"schema_version\":{SCHEMA_VERSION}}}")
        })
    }

    /// Whether the kill switch was on (a disabled snapshot has no sections).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The envelope's `generated_at` (`""` when the clock failed).
    #[must_use]
    pub fn generated_at(&self) -> &str {
        &self.header.generated_at
    }

    /// The envelope's `clk_tck`.
    #[must_use]
    pub fn clk_tck(&self) -> Option<u64> {
        self.header.clk_tck
    }

    /// The value of one section (its fallback when it failed).
    #[must_use]
    pub fn section(&self, key: &str) -> Option<&SectionValue> {
        self.sections
            .iter()
            .find_map(|(k, value)| (k == key).then_some(value))
    }

    /// Per-section reports, in output order.
    #[must_use]
    pub fn reports(&self) -> &[SectionReport] {
        &self.reports
    }

    /// The report of one section.
    #[must_use]
    pub fn report(&self, key: &str) -> Option<&SectionReport> {
        self.reports.iter().find(|r| r.key == key)
    }

    /// How long the build took.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How long ago the build finished.
    #[must_use]
    pub fn age(&self) -> Duration {
        self.taken.elapsed()
    }
}

/// Compact JSON re-indented, key order kept (a streaming transcode, not a
/// round trip through `Value`).
pub(crate) fn pretty(json: &str) -> String {
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut from = serde_json::Deserializer::from_str(json);
    let mut to = serde_json::Serializer::pretty(&mut out);
    match serde_transcode::transcode(&mut from, &mut to) {
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| json.to_owned()),
        // Unreachable for text this crate wrote; keep the compact form.
        Err(_) => json.to_owned(),
    }
}

/// Whether the rendered meta section shows measured times or zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timings {
    /// As measured.
    Measured,
    /// Every `elapsed_ms` written as the integer `0` (deterministic output for tests).
    #[cfg_attr(
        not(feature = "test-support"),
        expect(
            dead_code,
            reason = "only the test-support golden helpers zero the timings"
        )
    )]
    Zero,
}

/// The ordered writer of the envelope.
struct Envelope<'a> {
    snapshot: &'a Snapshot,
    timings: Timings,
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.snapshot;
        if !s.enabled {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
            map.serialize_entry("enabled", &false)?;
            return map.end();
        }
        let mut map = serializer.serialize_map(Some(s.sections.len() + 4))?;
        map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
        map.serialize_entry("generated_at", &s.header.generated_at)?;
        map.serialize_entry("clk_tck", &s.header.clk_tck)?;
        for (key, value) in &s.sections {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry(
            META_KEY,
            &Meta {
                elapsed: s.elapsed,
                reports: &s.reports,
                timings: self.timings,
            },
        )?;
        map.end()
    }
}

/// The meta section: `{"elapsed_ms": ..., "sections": {key: report, ...}}`.
struct Meta<'a> {
    elapsed: Duration,
    reports: &'a [SectionReport],
    timings: Timings,
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("elapsed_ms", &Elapsed(self.elapsed, self.timings))?;
        map.serialize_entry(
            "sections",
            &Reports {
                reports: self.reports,
                timings: self.timings,
            },
        )?;
        map.end()
    }
}

struct Reports<'a> {
    reports: &'a [SectionReport],
    timings: Timings,
}

impl Serialize for Reports<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.reports.len()))?;
        for report in self.reports {
            match self.timings {
                Timings::Measured => map.serialize_entry(&report.key, report)?,
                Timings::Zero => map.serialize_entry(&report.key, &ZeroTimed(report))?,
            }
        }
        map.end()
    }
}

/// A duration in milliseconds, or the integer `0` under [`Timings::Zero`].
struct Elapsed(Duration, Timings);

impl Serialize for Elapsed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Timings::Measured => serializer.serialize_f64(millis(self.0)),
            Timings::Zero => serializer.serialize_u8(0),
        }
    }
}

/// A report whose `elapsed_ms` is written as `0`.
struct ZeroTimed<'a>(&'a SectionReport);

impl Serialize for ZeroTimed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("status", &r.status)?;
        map.serialize_entry("elapsed_ms", &0_u8)?;
        if let Some(error) = &r.error {
            map.serialize_entry("error", error)?;
        }
        if !r.fields.is_empty() {
            map.serialize_entry("fields", &r.fields)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot::new(
            true,
            Header {
                generated_at: "2026-11-28T02:40:13Z".into(),
                clk_tck: Some(100),
            },
            vec![
                ("zeta".into(), SectionValue::from(serde_json::json!(1))),
                ("alpha".into(), SectionValue::null()),
            ],
            vec![SectionReport {
                key: "zeta".into(),
                status: SectionStatus::Degraded,
                elapsed: Duration::from_micros(1500),
                error: None,
                fields: vec![FieldFailure::new("x", ErrorInfo::new("io", "gone"))],
            }],
            Duration::from_millis(2),
        )
    }

    #[test]
    fn the_envelope_is_written_in_contract_order() {
        assert_eq!(
            snapshot().to_json(),
            r#"{"schema_version":1,"generated_at":"2026-11-28T02:40:13Z","clk_tck":100,"zeta":1,"alpha":null,"collector":{"elapsed_ms":2.0,"sections":{"zeta":{"status":"degraded","elapsed_ms":1.5,"fields":[{"field":"x","kind":"io","message":"gone"}]}}}}"#
        );
    }

    #[test]
    fn zero_timings_match_measured_ones_but_for_the_times() {
        let s = snapshot();
        let zero = s.render(Timings::Zero);
        assert_eq!(
            zero,
            s.to_json()
                .replace("\"elapsed_ms\":2.0", "\"elapsed_ms\":0")
                .replace("\"elapsed_ms\":1.5", "\"elapsed_ms\":0")
        );
    }

    #[test]
    fn pretty_output_keeps_the_order() {
        let text = snapshot().to_json_pretty();
        let zeta = text.find("\"zeta\": 1").unwrap();
        let alpha = text.find("\"alpha\": null").unwrap();
        assert!(zeta < alpha, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            *snapshot().body()
        );
    }

    #[test]
    fn a_disabled_snapshot_is_the_kill_switch_body() {
        assert_eq!(
            Snapshot::disabled().to_json(),
            r#"{"schema_version":1,"enabled":false}"#
        );
    }
}
