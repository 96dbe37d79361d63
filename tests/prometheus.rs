//! A fully populated snapshot (every built-in section and field, the
//! `process` section and a custom section) in both text formats: promtool
//! accepts the Prometheus text format without a complaint, and both formats
//! carry the same samples.
//!
//! promtool comes from Debian's `prometheus` package (`.ci/run` installs it).
//! Without it the promtool test says on stderr that it is skipped, and fails
//! under `CI=true`.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};
use vitals::core::export::{MetricFamily, MetricKind};
use vitals::http::{encode_openmetrics, encode_text};
use vitals::{
    Assembler, Collect, Fallback, FixedClock, Section, SectionError, SectionStatus, SectionValue,
    async_trait,
};

/// A host's own section with a metrics mapping: a gauge with a unit, a
/// counter and an info family.
#[derive(Debug)]
struct Widgets;

#[async_trait]
impl Section for Widgets {
    fn key(&self) -> &str {
        "widgets"
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        Ok(json!({"temperature": 21.5, "made": 7, "model": "w-1 \"deluxe\""}).into())
    }
    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let mut temperature = MetricFamily::new(
            "widgets_temperature",
            "Temperature of the widget oven.",
            MetricKind::Gauge,
        )
        .with_unit("celsius");
        temperature.push(
            Vec::<(String, String)>::new(),
            value["temperature"].as_f64().unwrap(),
        );
        out.push(temperature);
        let mut made = MetricFamily::new("widgets_made", "Widgets made.", MetricKind::Counter);
        made.push([("line", "a")], value["made"].as_f64().unwrap());
        out.push(made);
        let mut model = MetricFamily::new(
            "widgets_model",
            "The widget model, with a \\ backslash.",
            MetricKind::Info,
        );
        model.push([("model", value["model"].as_str().unwrap())], 1.0);
        out.push(model);
    }
}

async fn populated() -> (Assembler, Arc<vitals::Snapshot>) {
    let resources = vitals::fake::populated();
    let assembler = Assembler::builder()
        .clock(FixedClock::at(vitals::fake::at()))
        .descriptors(
            vitals::BUILTIN.iter().chain([&vitals::process::DESCRIPTOR]),
            &resources,
        )
        .section(Widgets)
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    for report in snapshot.reports() {
        assert_eq!(report.status, SectionStatus::Ok, "{report:?}");
    }
    (assembler, snapshot)
}

/// `(name, sorted labels, value)` of one sample.
type Sample = (String, Vec<(String, String)>, String);

/// Every sample, and every help text.
fn parse(exposition: &str) -> (BTreeSet<Sample>, BTreeSet<String>) {
    let scrape =
        prometheus_parse::Scrape::parse(exposition.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let samples = scrape
        .samples
        .iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("unexpected value {other:?}"),
            };
            (s.metric.clone(), labels, value.to_string())
        })
        .collect();
    (samples, scrape.docs.into_values().collect())
}

#[tokio::test]
async fn both_text_formats_carry_the_same_samples() {
    let (assembler, snapshot) = populated().await;
    let text = encode_text(assembler.metric_families(&snapshot));
    let openmetrics = encode_openmetrics(assembler.metric_families(&snapshot));
    let (text_samples, text_help) = parse(&text);
    let (om_samples, om_help) = parse(&openmetrics);
    assert_eq!(text_samples, om_samples);
    assert_eq!(text_help, om_help);
    let names: BTreeSet<&str> = text_samples.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in [
        "vitals_enabled",
        "vitals_build_info",
        "vitals_schema_version",
        "vitals_task_age_in_stage_seconds",
        "vitals_jobs",
        "vitals_breaker_state",
        "vitals_agent_cpu_seconds_total",
        "vitals_tokens_total",
        "vitals_running_cost_usd",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "widgets_temperature_celsius",
        "widgets_made_total",
        "widgets_model_info",
        "vitals_collector_success",
        "vitals_collector_duration_seconds",
        "vitals_collector_status",
        "vitals_collector_degraded_fields",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // The text format names a counter's family with its `_total`.
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter\n"),
        "{text}"
    );
    assert!(
        openmetrics.contains("# TYPE process_cpu_seconds counter\n"),
        "{openmetrics}"
    );
}

#[tokio::test]
async fn promtool_accepts_the_text_format_of_a_fully_populated_snapshot() {
    let test = "promtool_accepts_the_text_format_of_a_fully_populated_snapshot";
    let Some(promtool) = promtool(test) else {
        return;
    };
    let (assembler, snapshot) = populated().await;
    let text = encode_text(assembler.metric_families(&snapshot));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n--- input:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// promtool on `PATH`; when missing, a failure under `CI=true` and a skip
/// said on stderr otherwise.
fn promtool(test: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        assert!(
            !ci,
            "{test}: promtool is not installed, and CI=true: .ci/run installs Debian's \
             `prometheus` package, which holds it"
        );
        // Straight to stderr, not `eprintln!`, which the harness captures.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: `promtool` is not on PATH (Debian's `prometheus` package has it). \
             Under CI=true this fails instead."
        );
    }
    found
}
