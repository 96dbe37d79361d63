//! What both text encoders share: the checks that keep a family from
//! breaking an exposition, and the `prometheus-client` [`Collector`] over the
//! families that pass them.
//!
//! What is dropped, each with a `tracing` warning:
//!
//! * a name that is not `[a-zA-Z_:][a-zA-Z0-9_:]*` (after normalization: a
//!   counter's trailing `_total`, an info family's trailing `_info` and a
//!   trailing `_<unit>` are removed, since the encoders add them) or a unit
//!   that is not `[a-zA-Z0-9_]+`: the family;
//! * a family whose exposed name was already used: merged into the first when
//!   kind, unit and help agree, skipped otherwise;
//! * a label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, or
//!   repeats within one sample: the sample;
//! * a label set seen before in the same family: the later sample;
//! * an infinite value, or for a counter a NaN or negative value: the sample;
//! * a family left without samples: the family.

use std::collections::{HashMap, HashSet};
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use vitals_core::export::{MetricFamily, MetricKind};

/// A family ready for the encoder.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The name without unit, `_total` or `_info`.
    name: String,
    /// The help text, one line (`\r` replaced), not escaped.
    help: String,
    unit: Option<Unit>,
    kind: MetricKind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Prepared {
    /// The name in OpenMetrics `# TYPE` lines: base name plus `_<unit>`.
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
            MetricKind::Info => vec![format!("{exposed}_info")],
            _ => vec![exposed],
        }
    }

    fn same_shape(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.help == other.help
            && self.unit.as_ref().map(Unit::as_str) == other.unit.as_ref().map(Unit::as_str)
    }
}

/// The exposition format a [`Families`] collector writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// OpenMetrics 1.0: its encoder writes help text raw, so it is escaped
    /// here (`\\`, `\n`, `\"`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4: its encoder escapes help text
    /// itself (`\\`, `\n`).
    Text,
}

/// The [`Collector`] over the checked families.
#[derive(Debug)]
pub(crate) struct Families {
    families: Vec<Prepared>,
    dialect: Dialect,
}

impl Families {
    /// Checks `families` (see [`prepare`]) for `dialect`.
    pub(crate) fn new(families: impl IntoIterator<Item = MetricFamily>, dialect: Dialect) -> Self {
        Self {
            families: prepare(families),
            dialect,
        }
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        for family in &self.families {
            let metric_type = match family.kind {
                MetricKind::Counter => MetricType::Counter,
                MetricKind::Info => MetricType::Info,
                _ => MetricType::Gauge,
            };
            let help = match self.dialect {
                Dialect::OpenMetrics => escape_help(&family.help),
                Dialect::Text => family.help.clone(),
            };
            let mut metric = encoder.encode_descriptor(
                &family.name,
                &help,
                family.unit.as_ref(),
                metric_type,
            )?;
            for (labels, value) in &family.samples {
                match family.kind {
                    MetricKind::Counter => {
                        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
                    }
                    MetricKind::Info => metric.encode_info(labels)?,
                    _ => ConstGauge::new(*value).encode(metric.encode_family(labels)?)?,
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

/// Escapes help text for an OpenMetrics descriptor line (`\\`, `\n`,
/// `\"`); its encoder writes it raw.
fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// The family's name without the suffixes the encoders add: a counter's
/// `_total`, an info family's `_info`, and `_<unit>`.
fn normalize_name(family: &MetricFamily) -> String {
    let mut name = family.name.as_str();
    match family.kind {
        MetricKind::Counter => name = name.strip_suffix("_total").unwrap_or(name),
        MetricKind::Info => name = name.strip_suffix("_info").unwrap_or(name),
        _ => {}
    }
    if let Some(unit) = unit_of(family)
        && let Some(base) = name.strip_suffix(unit).and_then(|n| n.strip_suffix('_'))
    {
        name = base;
    }
    name.to_owned()
}

/// The family's unit; an info family has none (its samples carry no value).
fn unit_of(family: &MetricFamily) -> Option<&str> {
    match family.kind {
        MetricKind::Info => None,
        _ => family.unit.as_deref(),
    }
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
        tracing::warn!(family = %family.name, "vitals exposition: invalid metric name; family skipped");
        return None;
    }
    let unit = match unit_of(&family) {
        None => None,
        Some(unit) if is_unit(unit) => Some(to_unit(unit)),
        Some(unit) => {
            tracing::warn!(family = %family.name, unit, "vitals exposition: invalid unit; family skipped");
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
            "vitals exposition: samples with invalid labels or values, or repeated label sets, skipped"
        );
    }
    if samples.is_empty() {
        return None;
    }
    Some(Prepared {
        name,
        help: family.help.replace('\r', " "),
        unit,
        kind,
        samples,
    })
}

pub(crate) fn prepare(families: impl IntoIterator<Item = MetricFamily>) -> Vec<Prepared> {
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
                    tracing::debug!(family = %original, merged, "vitals exposition: duplicate family merged");
                } else {
                    tracing::warn!(
                        family = %original,
                        "vitals exposition: family name clashes with an earlier family of another shape; skipped"
                    );
                }
            }
        }
    }
    out
}
