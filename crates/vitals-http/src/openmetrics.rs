//! Encoding [`MetricFamily`] values in the OpenMetrics text format with `prometheus-client`.

use prometheus_client::registry::Registry;
use vitals_core::export::MetricFamily;

use crate::families::{Dialect, Families};

/// The content type of an OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes metric families in the OpenMetrics 1.0 text format, ending in `# EOF`.
///
/// The families go through the `prometheus-client` crate's OpenMetrics text encoder
/// (a collector over them), which appends the unit to the name, `_total` to a
/// counter's samples and `_info` to an info family's (`# TYPE … info`).
/// Before that, every family is checked, and what the format cannot carry is
/// dropped with a `tracing` warning rather than breaking the output (the same
/// checks as [`encode_text`](crate::encode_text)):
///
/// * a name that is not `[a-zA-Z_:][a-zA-Z0-9_:]*` (after normalization: a
///   counter's trailing `_total`, an info family's trailing `_info` and a
///   trailing `_<unit>` are removed, since the encoder adds them) or a unit
///   that is not `[a-zA-Z0-9_]+`: the family;
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
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families::new(families, Dialect::OpenMetrics)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_core::export::MetricKind;

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

    #[test]
    fn info_families_are_openmetrics_info() {
        let mut info = MetricFamily::new("build_info", "Build.", MetricKind::Info);
        info.push([("version", "1.2.3")], 1.0);
        let mut same = MetricFamily::new("build", "Build.", MetricKind::Info).with_unit("seconds");
        same.push([("version", "4.5.6")], 9.0);
        let clash = gauge("build_info", 1.0);
        let text = encode_openmetrics(vec![info, same, clash]);
        assert_eq!(
            text,
            "# HELP build Build.\n# TYPE build info\n\
             build_info{version=\"1.2.3\"} 1\nbuild_info{version=\"4.5.6\"} 1\n# EOF\n"
        );
    }
}
