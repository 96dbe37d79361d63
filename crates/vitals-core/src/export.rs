//! A neutral model of metric families, for exposition formats such as OpenMetrics.
//!
//! Sections map their JSON value to [`MetricFamily`] values in
//! [`Section::metrics`](crate::Section::metrics); an exposition crate
//! (`vitals-http`) encodes them. The core depends on no encoder.

use serde_json::Value;

/// The label value for a JSON field: a string as it is, a number or a
/// boolean as written in JSON, anything else (`null`, missing, arrays,
/// objects) as `""`.
///
/// ```
/// use serde_json::json;
/// use vitals_core::export::label_value;
///
/// let agent = json!({"agent": "reviewer", "pid": 4242, "repo": null});
/// assert_eq!(label_value(agent.get("agent")), "reviewer");
/// assert_eq!(label_value(agent.get("pid")), "4242");
/// assert_eq!(label_value(agent.get("repo")), "");
/// assert_eq!(label_value(agent.get("model")), "");
/// ```
#[must_use]
pub fn label_value(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
        _ => String::new(),
    }
}

/// What kind of metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing total (its name gets `_total` when encoded).
    Counter,
    /// Facts about the target carried in labels, with the value 1 (its name
    /// gets `_info` when encoded): an OpenMetrics `info` family, a gauge in
    /// the Prometheus text format. The sample values are ignored (always 1).
    Info,
}

/// One labelled observation of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label pairs, in the order they are encoded.
    pub labels: Vec<(String, String)>,
    /// The observed value.
    pub value: f64,
}

/// A named family of samples sharing a kind, help text and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name without a unit or `_total` suffix, for example `vitals_queue_depth`.
    pub name: String,
    /// One line of help text.
    pub help: String,
    /// The unit (`seconds`, `bytes`, ...), appended to the name when encoded.
    pub unit: Option<String>,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family with no samples yet.
    #[must_use]
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricKind) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            unit: None,
            kind,
            samples: Vec::new(),
        }
    }

    /// Sets the unit.
    #[must_use]
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Adds a sample with the given labels.
    pub fn push<K, V>(&mut self, labels: impl IntoIterator<Item = (K, V)>, value: f64)
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.samples.push(Sample {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            value,
        });
    }

    /// Adds the family to `out` when it has at least one sample.
    pub fn emit_into(self, out: &mut Vec<MetricFamily>) {
        if !self.samples.is_empty() {
            out.push(self);
        }
    }
}
