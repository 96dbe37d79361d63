//! Encoding [`MetricFamily`] values in the OpenMetrics text format with `prometheus-client`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use vitals_core::export::{MetricFamily, MetricKind};

/// The content type of an OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes metric families in the OpenMetrics 1.0 text format, ending in `# EOF`.
///
/// The families go through [`prometheus_client`]'s text encoder (a
/// [`Collector`] over them), which appends the unit to the name and `_total`
/// to a counter's samples. Before that, every family is checked, and what the
/// format cannot carry is dropped with a `tracing` warning rather than
/// breaking the output:
///
/// * a name that is not `[a-zA-Z_:][a-zA-Z0-9_:]*` (after normalization: a
///   counter's trailing `_total` and a trailing `_<unit>` are removed, since
///   the encoder adds them) or a unit that is not `[a-zA-Z0-9_]+`: the family;
/// * a family whose exposed name was already used: merged into the first when
///   kind, unit and help agree, skipped otherwise;
/// * a label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, or
///   repeats within one sample: the sample;
/// * a label set seen before in the same family: the later sample;
/// * an infinite value, or for a counter a NaN or negative value: the sample
///   (a gauge's NaN is kept: OpenMetrics spells it `NaN`);
/// * a family left without samples: the family.
///
/// ```
/// use vitals_core::export::{MetricFamily, MetricKind};
///
/// let mut depth = MetricFamily::new("vitals_queue_depth", "Jobs waiting.", MetricKind::Gauge);
/// depth.push([("queue", "default")], 3.0);
/// let text = vitals_http::encode_openmetrics(vec![depth]);
/// let expected = concat!(
///     "# HELP vitals_queue_depth Jobs waiting.\n",
///     "# TYPE vitals_queue_depth gauge\n",
///     "vitals_queue_depth{queue=\"default\"} 3.0\n",
///     "# EOF\n",
/// );
/// assert_eq!(text, expected);
/// ```
#[must_use]
pub fn encode_openmetrics(families: impl IntoIterator<Item = MetricFamily>) -> String {
    let prepared = prepare(families);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(prepared)));
    let mut out = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        // Writing to a String cannot fail, and our collector returns no error
        // of its own; still, never answer a broken exposition.
        tracing::error!(%error, "vitals openmetrics encoding failed; serving an empty exposition");
        out.clear();
        out.push_str("# EOF\n");
    }
    out
}

/// A family ready for the encoder.
#[derive(Debug)]
struct Prepared {
    /// The name without unit or `_total`.
    name: String,
    help: String,
    unit: Option<Unit>,
    kind: MetricKind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Prepared {
    /// The name in `# TYPE` lines: base name plus `_<unit>`.
    fn exposed(&self) -> String {
        match &self.unit {
            Some(unit) => format!("{}_{}", self.name, unit.as_str()),
            None => self.name.clone(),
        }
    }

    /// Every sample name this family writes.
    fn sample_names(&self) -> Vec<String> {
        let exposed = self.exposed();
        match self.kind {
            MetricKind::Counter => vec![
                format!("{exposed}_total"),
                format!("{exposed}_created"),
                exposed,
            ],
            _ => vec![exposed],
        }
    }

    fn same_shape(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.help == other.help
            && self.unit.as_ref().map(Unit::as_str) == other.unit.as_ref().map(Unit::as_str)
    }
}

/// The [`Collector`] over the checked families.
#[derive(Debug)]
struct Families(Vec<Prepared>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        for family in &self.0 {
            let metric_type = match family.kind {
                MetricKind::Counter => MetricType::Counter,
                _ => MetricType::Gauge,
            };
            let mut metric = encoder.encode_descriptor(
                &family.name,
                &family.help,
                family.unit.as_ref(),
                metric_type,
            )?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                match family.kind {
                    MetricKind::Counter => ConstCounter::new(*value).encode(sample)?,
                    _ => ConstGauge::new(*value).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_unit(unit: &str) -> bool {
    !unit.is_empty() && unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn to_unit(unit: &str) -> Unit {
    match unit {
        "amperes" => Unit::Amperes,
        "bytes" => Unit::Bytes,
        "celsius" => Unit::Celsius,
        "grams" => Unit::Grams,
        "joules" => Unit::Joules,
        "meters" => Unit::Meters,
        "ratios" => Unit::Ratios,
        "seconds" => Unit::Seconds,
        "volts" => Unit::Volts,
        other => Unit::Other(other.to_owned()),
    }
}

/// Escapes help text for a descriptor line (`\\`, `\n`, `\"`); the encoder writes it raw.
fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn normalize_name(family: &MetricFamily) -> String {
    let mut name = family.name.as_str();
    if family.kind == MetricKind::Counter {
        name = name.strip_suffix("_total").unwrap_or(name);
    }
    if let Some(unit) = &family.unit
        && let Some(base) = name
            .strip_suffix(unit.as_str())
            .and_then(|n| n.strip_suffix('_'))
    {
        name = base;
    }
    name.to_owned()
}

fn keep_value(kind: MetricKind, value: f64) -> bool {
    match kind {
        MetricKind::Counter => value.is_finite() && value >= 0.0,
        _ => !value.is_infinite(),
    }
}

fn check_family(family: MetricFamily) -> Option<Prepared> {
    let name = normalize_name(&family);
    if !is_metric_name(&name) {
        tracing::warn!(family = %family.name, "vitals openmetrics: invalid metric name; family skipped");
        return None;
    }
    let unit = match family.unit.as_deref() {
        None => None,
        Some(unit) if is_unit(unit) => Some(to_unit(unit)),
        Some(unit) => {
            tracing::warn!(family = %family.name, unit, "vitals openmetrics: invalid unit; family skipped");
            return None;
        }
    };
    let kind = family.kind;
    let mut seen: HashSet<Vec<(String, String)>> = HashSet::new();
    let mut samples = Vec::with_capacity(family.samples.len());
    let mut dropped = 0_usize;
    for sample in family.samples {
        let mut names = HashSet::new();
        let labels_ok = sample
            .labels
            .iter()
            .all(|(name, _)| is_label_name(name) && names.insert(name.as_str()));
        if !labels_ok || !keep_value(kind, sample.value) || !seen.insert(sample.labels.clone()) {
            dropped += 1;
            continue;
        }
        samples.push((sample.labels, sample.value));
    }
    if dropped > 0 {
        tracing::warn!(
            family = %family.name,
            dropped,
            "vitals openmetrics: samples with invalid labels or values, or repeated label sets, skipped"
        );
    }
    if samples.is_empty() {
        return None;
    }
    Some(Prepared {
        name,
        help: escape_help(&family.help),
        unit,
        kind,
        samples,
    })
}

fn prepare(families: impl IntoIterator<Item = MetricFamily>) -> Vec<Prepared> {
    let mut out: Vec<Prepared> = Vec::new();
    // Sample name -> index in `out` of the family that writes it.
    let mut owners: HashMap<String, usize> = HashMap::new();
    for family in families {
        let original = family.name.clone();
        let Some(family) = check_family(family) else {
            continue;
        };
        let names = family.sample_names();
        let clash = names.iter().find_map(|n| owners.get(n).copied());
        match clash {
            None => {
                let index = out.len();
                for n in names {
                    owners.insert(n, index);
                }
                out.push(family);
            }
            Some(index) => {
                let Some(first) = out.get_mut(index) else {
                    continue;
                };
                if first.exposed() == family.exposed() && first.same_shape(&family) {
                    let mut merged = 0_usize;
                    for (labels, value) in family.samples {
                        if first.samples.iter().all(|(l, _)| *l != labels) {
                            first.samples.push((labels, value));
                            merged += 1;
                        }
                    }
                    tracing::debug!(family = %original, merged, "vitals openmetrics: duplicate family merged");
                } else {
                    tracing::warn!(
                        family = %original,
                        "vitals openmetrics: family name clashes with an earlier family of another shape; skipped"
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(name: &str, value: f64) -> MetricFamily {
        let mut f = MetricFamily::new(name, "help", MetricKind::Gauge);
        f.push(Vec::<(String, String)>::new(), value);
        f
    }

    fn counter(name: &str, unit: Option<&str>, value: f64) -> MetricFamily {
        let mut f = MetricFamily::new(name, "help", MetricKind::Counter);
        f.unit = unit.map(str::to_owned);
        f.push([("a", "1")], value);
        f
    }

    #[test]
    fn counters_and_units_get_their_suffixes_once() {
        let text = encode_openmetrics(vec![
            counter("cpu", Some("seconds"), 1.5),
            counter("runs_total", None, 2.0),
            counter("mem_seconds_total", Some("seconds"), 3.0),
        ]);
        assert!(text.contains("# TYPE cpu_seconds counter\n# UNIT cpu_seconds seconds\ncpu_seconds_total{a=\"1\"} 1.5\n"), "{text}");
        assert!(text.contains("runs_total{a=\"1\"} 2.0\n"), "{text}");
        assert!(text.contains("mem_seconds_total{a=\"1\"} 3.0\n"), "{text}");
        assert!(
            !text.contains("_total_total") && !text.contains("seconds_seconds"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn invalid_names_and_labels_are_skipped() {
        let mut bad_label = MetricFamily::new("ok_family", "h", MetricKind::Gauge);
        bad_label.push([("bad-label", "x")], 1.0);
        bad_label.push([("__reserved", "x")], 1.0);
        bad_label.push([("good", "x"), ("good", "y")], 1.0);
        bad_label.push([("good", "a \"quoted\"\\ value\nwith newline")], 2.0);
        let text = encode_openmetrics(vec![
            gauge("1starts_with_digit", 1.0),
            gauge("has space", 1.0),
            gauge("", 1.0),
            gauge("ünicode", 1.0),
            bad_label,
        ]);
        assert_eq!(
            text,
            "# HELP ok_family h\n# TYPE ok_family gauge\nok_family{good=\"a \\\"quoted\\\"\\\\ value\\nwith newline\"} 2.0\n# EOF\n"
        );
    }

    #[test]
    fn non_finite_values() {
        let mut g = MetricFamily::new("g", "h", MetricKind::Gauge);
        g.push([("v", "nan")], f64::NAN);
        g.push([("v", "inf")], f64::INFINITY);
        g.push([("v", "-inf")], f64::NEG_INFINITY);
        g.push([("v", "neg")], -1.0);
        let mut c = MetricFamily::new("c", "h", MetricKind::Counter);
        c.push([("v", "nan")], f64::NAN);
        c.push([("v", "neg")], -1.0);
        c.push([("v", "inf")], f64::INFINITY);
        let text = encode_openmetrics(vec![g, c]);
        assert_eq!(
            text,
            "# HELP g h\n# TYPE g gauge\ng{v=\"nan\"} NaN\ng{v=\"neg\"} -1.0\n# EOF\n"
        );
    }

    #[test]
    fn duplicates_merge_or_skip() {
        let mut a = MetricFamily::new("dup", "h", MetricKind::Gauge);
        a.push([("k", "1")], 1.0);
        let mut b = MetricFamily::new("dup", "h", MetricKind::Gauge);
        b.push([("k", "1")], 9.0);
        b.push([("k", "2")], 2.0);
        let other_kind = counter("dup", None, 5.0);
        let clash = gauge("c_total", 1.0);
        let text = encode_openmetrics(vec![a, b, other_kind, counter("c", None, 1.0), clash]);
        assert_eq!(
            text,
            "# HELP dup h\n# TYPE dup gauge\ndup{k=\"1\"} 1.0\ndup{k=\"2\"} 2.0\n\
             # HELP c help\n# TYPE c counter\nc_total{a=\"1\"} 1.0\n# EOF\n"
        );
    }

    #[test]
    fn help_is_escaped_and_empty_families_vanish() {
        let mut f = gauge("h", 1.0);
        f.help = "line one\nback\\slash \"q\"".into();
        let empty = MetricFamily::new("empty", "h", MetricKind::Gauge);
        let text = encode_openmetrics(vec![f, empty]);
        assert!(
            text.starts_with("# HELP h line one\\nback\\\\slash \\\"q\\\"\n"),
            "{text}"
        );
        assert!(!text.contains("empty"));
        assert_eq!(encode_openmetrics(Vec::new()), "# EOF\n");
    }

    #[test]
    fn invalid_units_skip_the_family() {
        let text = encode_openmetrics(vec![counter("x", Some("per cent"), 1.0)]);
        assert_eq!(text, "# EOF\n");
        let text = encode_openmetrics(vec![counter("x", Some("usd"), 1.0)]);
        assert!(
            text.contains("# UNIT x_usd usd\nx_usd_total{a=\"1\"} 1.0\n"),
            "{text}"
        );
    }
}
