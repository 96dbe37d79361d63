//! The section itself and its OpenMetrics mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::{Collect, Fallback, Section, SectionError, SectionValue, async_trait};

use crate::fields::{
    BREAKER, BREAKER_STATE, COUNTS, DEPTH, JOBS_WITH_RETRIES, MAX_ATTEMPTS, MAX_CONCURRENCY,
    POLL_INTERVAL, RETRIES, TOTAL_ATTEMPTS,
};
use crate::{KEY, KNOWN_STATUSES, ORDER, QueueSource, RetryStats, WorkerProbe};

/// The `queue` section: `counts`, `depth`, `retries`, `breaker`,
/// `max_concurrency` and `poll_interval`, in this order (contract v1).
///
/// Every field is built through the field guard
/// ([`Collect::field`]), so each degrades to `null` alone and the meta
/// section lists it (status `degraded`):
///
/// * `counts`: jobs per status. The five [known statuses](crate::KNOWN_STATUSES)
///   are always present, zero-filled, in that order; any other status
///   follows, sorted by name. A status reported twice by the source is
///   summed.
/// * `depth`: `counts.queued`; `null` when `counts` failed (recorded once,
///   as the `counts` failure).
/// * `retries`: `{"jobs_with_retries", "total_attempts", "max_attempts"}`.
/// * `breaker`, `max_concurrency`, `poll_interval`: from the
///   [`WorkerProbe`]. The breaker object is written with its `state` first,
///   then its other keys by name. Without a probe all three are `null` and nothing is
///   recorded (the host has no worker to describe). A breaker snapshot that
///   is neither a JSON object nor `null` degrades `breaker` (kind
///   `invalid_breaker`): consumers may rely on it being an object. A
///   non-finite poll interval degrades `poll_interval` (kind
///   `invalid_poll_interval`) instead of turning silently into `null`.
///
/// The section as a whole falls back to `null` only when it panics outside
/// the guards or misses its deadline.
///
/// Metrics (all gauges): `vitals_jobs{status}`, `vitals_queue_depth`,
/// `vitals_queue_jobs_with_retries`, `vitals_queue_attempts` (the sum of
/// attempts over non-terminal jobs: it falls when jobs finish, hence a
/// gauge), `vitals_queue_max_attempts`, `vitals_queue_max_concurrency`,
/// `vitals_queue_poll_interval_seconds`; for the breaker,
/// `vitals_breaker_state{state}` = 1 when its `state` is a string (by
/// convention `closed`, `open` or `half-open`: [`BreakerState`](crate::BreakerState)), and one
/// `vitals_breaker_<field>` gauge per top-level number or boolean (as 0/1)
/// of the breaker, in field-name order, the field name sanitized to `[a-zA-Z0-9_]` (a name
/// ending in an OpenMetrics suffix such as `_total` or `_count` gets
/// `_value` appended; of two fields sanitized to the same name the first
/// wins). `null` values have no sample.
#[derive(Debug, Clone)]
pub struct QueueSection {
    source: Arc<dyn QueueSource>,
    probe: Option<Arc<dyn WorkerProbe>>,
}

impl QueueSection {
    /// A section reading the job table from `source`, with no worker probe.
    #[must_use]
    pub fn new(source: Arc<dyn QueueSource>) -> Self {
        Self {
            source,
            probe: None,
        }
    }

    /// Reads the breaker and concurrency settings from `probe`.
    #[must_use]
    pub fn with_probe(mut self, probe: Arc<dyn WorkerProbe>) -> Self {
        self.probe = Some(probe);
        self
    }
}

/// The output object; each field `None` (`null`) when it fell back.
#[derive(Debug)]
struct QueueOut {
    counts: Option<Counts>,
    depth: Option<i64>,
    retries: Option<RetryStats>,
    breaker: Option<Value>,
    max_concurrency: Option<i64>,
    poll_interval: Option<f64>,
}

/// The breaker snapshot: `state` first, then the other keys by name, so
/// that the order never depends on how the host built its `Value`.
#[derive(Debug)]
struct BreakerOut<'a>(&'a Value);

impl Serialize for BreakerOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(fields) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut names: Vec<&String> = fields.keys().collect();
        names.sort_by_key(|name| (name.as_str() != BREAKER_STATE, name.as_str()));
        let mut map = serializer.serialize_map(Some(names.len()))?;
        for name in names {
            if let Some(value) = fields.get(name) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for QueueOut {
    /// In contract order, named by [`crate::fields`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("QueueOut", 6)?;
        out.serialize_field(COUNTS, &self.counts)?;
        out.serialize_field(DEPTH, &self.depth)?;
        out.serialize_field(RETRIES, &self.retries.map(RetriesOut))?;
        out.serialize_field(BREAKER, &self.breaker.as_ref().map(BreakerOut))?;
        out.serialize_field(MAX_CONCURRENCY, &self.max_concurrency)?;
        out.serialize_field(POLL_INTERVAL, &self.poll_interval)?;
        out.end()
    }
}

/// `retries`, in contract order.
#[derive(Debug)]
struct RetriesOut(RetryStats);

impl Serialize for RetriesOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("RetriesOut", 3)?;
        out.serialize_field(JOBS_WITH_RETRIES, &self.0.jobs_with_retries)?;
        out.serialize_field(TOTAL_ATTEMPTS, &self.0.total_attempts)?;
        out.serialize_field(MAX_ATTEMPTS, &self.0.max_attempts)?;
        out.end()
    }
}

/// `counts`: jobs per status, in output order (a JSON object).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counts(Vec<(String, i64)>);

impl Counts {
    fn get(&self, status: &str) -> Option<i64> {
        self.0
            .iter()
            .find_map(|(s, count)| (s == status).then_some(*count))
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (status, count) in &self.0 {
            map.serialize_entry(status, count)?;
        }
        map.end()
    }
}

/// The five known statuses zero-filled in order, then the others by name.
fn zero_filled(rows: Vec<(String, i64)>) -> Counts {
    let mut known = [0_i64; KNOWN_STATUSES.len()];
    let mut others: BTreeMap<String, i64> = BTreeMap::new();
    for (status, count) in rows {
        match KNOWN_STATUSES.iter().position(|k| *k == status) {
            Some(i) => {
                if let Some(slot) = known.get_mut(i) {
                    *slot = slot.saturating_add(count);
                }
            }
            None => {
                let slot = others.entry(status).or_insert(0);
                *slot = slot.saturating_add(count);
            }
        }
    }
    Counts(
        KNOWN_STATUSES
            .iter()
            .map(|k| (*k).to_owned())
            .zip(known)
            .chain(others)
            .collect(),
    )
}

fn check_breaker(value: Value) -> Result<Value, SectionError> {
    match value {
        Value::Object(_) | Value::Null => Ok(value),
        other => Err(SectionError::msg(
            "invalid_breaker",
            format!(
                "the breaker snapshot is {}, not an object or null",
                json_type(&other)
            ),
        )),
    }
}

fn check_poll_interval(value: Option<f64>) -> Result<Option<f64>, SectionError> {
    match value {
        Some(seconds) if !seconds.is_finite() => Err(SectionError::msg(
            "invalid_poll_interval",
            format!("the poll interval is {seconds}, not a finite number"),
        )),
        other => Ok(other),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[async_trait]
impl Section for QueueSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::Null
    }

    fn order(&self) -> i32 {
        ORDER
    }

    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        // Fields run one after the other so that their failures appear in
        // the meta section in field order.
        let counts = cx
            .field(COUNTS, async {
                self.source.status_counts(cx).await.map(zero_filled)
            })
            .await;
        let depth = counts.as_ref().and_then(|c| c.get("queued"));
        let retries = cx
            .field(RETRIES, async { self.source.retry_stats(cx).await })
            .await;
        let (breaker, max_concurrency, poll_interval) = match &self.probe {
            None => (None, None, None),
            Some(probe) => (
                cx.field(BREAKER, async { probe.breaker().and_then(check_breaker) })
                    .await,
                cx.field(MAX_CONCURRENCY, async { probe.max_concurrency() })
                    .await
                    .flatten(),
                cx.field(POLL_INTERVAL, async {
                    probe.poll_interval().and_then(check_poll_interval)
                })
                .await
                .flatten(),
            ),
        };
        SectionValue::from_serialize(&QueueOut {
            counts,
            depth,
            retries,
            breaker,
            max_concurrency,
            poll_interval,
        })
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let mut jobs = MetricFamily::new(
            "vitals_jobs",
            "Jobs per status in the job table.",
            MetricKind::Gauge,
        );
        if let Some(counts) = value.get(COUNTS).and_then(Value::as_object) {
            // In output order: the known statuses, then the others by name.
            let known = KNOWN_STATUSES
                .iter()
                .filter_map(|status| Some((*status, counts.get(*status)?)));
            let others = counts
                .iter()
                .filter(|(status, _)| !KNOWN_STATUSES.contains(&status.as_str()))
                .map(|(status, count)| (status.as_str(), count));
            for (status, count) in known.chain(others) {
                if let Some(count) = count.as_f64() {
                    jobs.push([("status", status)], count);
                }
            }
        }
        jobs.emit_into(out);

        let retries = value.get(RETRIES);
        let plain = [
            (
                "vitals_queue_depth",
                "Jobs waiting in the queue (status queued).",
                value.get(DEPTH),
            ),
            (
                "vitals_queue_jobs_with_retries",
                "Non-terminal jobs that have been attempted at least once.",
                retries.and_then(|r| r.get(JOBS_WITH_RETRIES)),
            ),
            (
                "vitals_queue_attempts",
                "Sum of attempts over non-terminal jobs.",
                retries.and_then(|r| r.get(TOTAL_ATTEMPTS)),
            ),
            (
                "vitals_queue_max_attempts",
                "Largest number of attempts of a non-terminal job.",
                retries.and_then(|r| r.get(MAX_ATTEMPTS)),
            ),
            (
                "vitals_queue_max_concurrency",
                "The worker's maximum number of concurrent jobs.",
                value.get(MAX_CONCURRENCY),
            ),
        ];
        for (name, help, field) in plain {
            single(name, help, None, field, out);
        }
        single(
            "vitals_queue_poll_interval",
            "The worker's poll interval.",
            Some("seconds"),
            value.get(POLL_INTERVAL),
            out,
        );

        if let Some(breaker) = value.get(BREAKER).and_then(Value::as_object) {
            breaker_metrics(breaker, out);
        }
    }
}

/// A gauge family with one unlabelled sample, when `field` is a number.
fn single(
    name: &str,
    help: &str,
    unit: Option<&str>,
    field: Option<&Value>,
    out: &mut Vec<MetricFamily>,
) {
    let Some(value) = field.and_then(Value::as_f64) else {
        return;
    };
    let mut family = MetricFamily::new(name, help, MetricKind::Gauge);
    if let Some(unit) = unit {
        family = family.with_unit(unit);
    }
    family.push(Vec::<(String, String)>::new(), value);
    family.emit_into(out);
}

const STATE_FAMILY: &str = "vitals_breaker_state";

/// Suffixes OpenMetrics gives a meaning to; a gauge must not end in one.
const RESERVED_SUFFIXES: [&str; 6] = ["_total", "_created", "_count", "_sum", "_bucket", "_info"];

fn breaker_metrics(breaker: &Map<String, Value>, out: &mut Vec<MetricFamily>) {
    let mut used = BTreeSet::new();
    if let Some(state) = breaker.get(BREAKER_STATE).and_then(Value::as_str) {
        let mut family = MetricFamily::new(
            STATE_FAMILY,
            "The circuit breaker's state (the label), always 1.",
            MetricKind::Gauge,
        );
        family.push([(BREAKER_STATE, state)], 1.0);
        family.emit_into(out);
        used.insert(STATE_FAMILY.to_owned());
    }
    for (field, value) in breaker {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        let Some(number) = number else { continue };
        let Some(name) = breaker_family_name(field) else {
            continue;
        };
        if !used.insert(name.clone()) {
            continue;
        }
        let mut family = MetricFamily::new(
            name,
            format!("The circuit breaker's `{field}` field."),
            MetricKind::Gauge,
        );
        family.push(Vec::<(String, String)>::new(), number);
        family.emit_into(out);
    }
}

/// `vitals_breaker_<field>` with the field sanitized to `[a-zA-Z0-9_]`;
/// `None` for an empty field name.
fn breaker_family_name(field: &str) -> Option<String> {
    if field.is_empty() {
        return None;
    }
    let mut name: String = "vitals_breaker_"
        .chars()
        .chain(field.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        }))
        .collect();
    if RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.push_str("_value");
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_are_sanitized() {
        let check = |field: &str, expected: Option<&str>| {
            assert_eq!(breaker_family_name(field).as_deref(), expected, "{field}");
        };
        check("failures", Some("vitals_breaker_failures"));
        check("open-for.s", Some("vitals_breaker_open_for_s"));
        check("çà", Some("vitals_breaker___"));
        check("trips_total", Some("vitals_breaker_trips_total_value"));
        check("", None);
    }

    #[test]
    fn counts_sum_duplicates_and_sort_others() {
        let counts = zero_filled(vec![
            ("zeta".into(), 1),
            ("running".into(), 2),
            ("alpha".into(), 3),
            ("running".into(), 1),
        ]);
        let keys: Vec<&str> = counts.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "queued",
                "running",
                "done",
                "failed",
                "cancelled",
                "alpha",
                "zeta"
            ]
        );
        assert_eq!(counts.get("running"), Some(3));
    }
}
