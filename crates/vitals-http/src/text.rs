//! Encoding [`MetricFamily`] values in the Prometheus text format 0.0.4 with `prometheus-client`.

use prometheus_client::registry::Registry;
use vitals_core::export::MetricFamily;

use crate::families::{Dialect, Families};

/// The content type of an answer in the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Encodes metric families in the Prometheus text format 0.0.4, the format
/// that `promtool check metrics` and every Prometheus-compatible scraper read.
///
/// The families go through the `prometheus-client` crate's Prometheus text encoder.
/// Unlike OpenMetrics, a counter's family is named with its `_total`
/// (`# TYPE vitals_runs_total counter`), an info family is a gauge named
/// `<name>_info`, there are no `# UNIT` lines (the unit is only in the name)
/// and no `# EOF`. The same checks as
/// [`encode_openmetrics`](crate::encode_openmetrics) apply first, so both
/// formats carry the same samples.
///
/// ```
/// use vitals_core::export::{MetricFamily, MetricKind};
///
/// let mut runs = MetricFamily::new("vitals_runs", "Agent runs recorded.", MetricKind::Counter);
/// runs.push(Vec::<(String, String)>::new(), 7.0);
/// let mut rss = MetricFamily::new("vitals_agent_rss", "Resident set size.", MetricKind::Gauge)
///     .with_unit("bytes");
/// rss.push([("agent", "coder")], 1024.0);
/// let text = vitals_http::encode_text(vec![runs, rss]);
/// let expected = concat!(
///     "# HELP vitals_runs_total Agent runs recorded.\n",
///     "# TYPE vitals_runs_total counter\n",
///     "vitals_runs_total 7.0\n",
///     "# HELP vitals_agent_rss_bytes Resident set size.\n",
///     "# TYPE vitals_agent_rss_bytes gauge\n",
///     "vitals_agent_rss_bytes{agent=\"coder\"} 1024.0\n",
/// );
/// assert_eq!(text, expected);
/// ```
#[must_use]
pub fn encode_text(families: impl IntoIterator<Item = MetricFamily>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families::new(families, Dialect::Text)));
    let mut out = String::new();
    if let Err(error) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        // Writing to a String cannot fail, and our collector returns no error
        // of its own; still, never answer a broken exposition.
        tracing::error!(%error, "vitals text encoding failed; serving an empty exposition");
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_core::export::MetricKind;

    fn family(name: &str, kind: MetricKind, unit: Option<&str>, value: f64) -> MetricFamily {
        let mut f = MetricFamily::new(name, "help", kind);
        f.unit = unit.map(str::to_owned);
        f.push([("a", "1")], value);
        f
    }

    #[track_caller]
    fn check(families: Vec<MetricFamily>, expected: &str) {
        assert_eq!(encode_text(families), expected);
    }

    #[test]
    fn counters_are_named_with_their_total() {
        check(
            vec![
                family("cpu", MetricKind::Counter, Some("seconds"), 1.5),
                family("runs_total", MetricKind::Counter, None, 2.0),
            ],
            "# HELP cpu_seconds_total help\n# TYPE cpu_seconds_total counter\n\
             cpu_seconds_total{a=\"1\"} 1.5\n\
             # HELP runs_total help\n# TYPE runs_total counter\nruns_total{a=\"1\"} 2.0\n",
        );
    }

    #[test]
    fn units_are_in_the_name_only() {
        check(
            vec![family(
                "age_seconds",
                MetricKind::Gauge,
                Some("seconds"),
                3.0,
            )],
            "# HELP age_seconds help\n# TYPE age_seconds gauge\nage_seconds{a=\"1\"} 3.0\n",
        );
    }

    #[test]
    fn info_families_are_gauges_of_one() {
        let mut info = MetricFamily::new("build_info", "Build.", MetricKind::Info).with_unit("x");
        info.push([("version", "1.2.3")], 7.0);
        check(
            vec![info],
            "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version=\"1.2.3\"} 1\n",
        );
    }

    #[test]
    fn help_and_labels_are_escaped_for_this_format() {
        let mut f = MetricFamily::new(
            "h",
            "a \"quoted\" back\\slash\nnew\rline",
            MetricKind::Gauge,
        );
        f.push([("l", "v \"q\" \\ \n")], f64::NAN);
        check(
            vec![f],
            "# HELP h a \"quoted\" back\\\\slash\\nnew line\n# TYPE h gauge\n\
             h{l=\"v \\\"q\\\" \\\\ \\n\"} NaN\n",
        );
    }

    #[test]
    fn the_same_checks_as_openmetrics() {
        let mut bad = MetricFamily::new("ok", "h", MetricKind::Gauge);
        bad.push([("bad-label", "x")], 1.0);
        bad.push([("good", "x")], f64::INFINITY);
        check(
            vec![
                family("1bad", MetricKind::Gauge, None, 1.0),
                family("c", MetricKind::Counter, None, -1.0),
                family("u", MetricKind::Gauge, Some("per cent"), 1.0),
                bad,
            ],
            "",
        );
        // A gauge named like a counter's samples is skipped.
        check(
            vec![
                family("c", MetricKind::Counter, None, 1.0),
                family("c_total", MetricKind::Gauge, None, 2.0),
            ],
            "# HELP c_total help\n# TYPE c_total counter\nc_total{a=\"1\"} 1.0\n",
        );
        check(Vec::new(), "");
    }
}
