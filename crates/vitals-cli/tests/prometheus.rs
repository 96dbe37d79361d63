//! `vitals serve` and `vitals demo` as Prometheus targets: a real Prometheus
//! scrapes every text format and answers queries over what it ingested, and
//! `promtool check metrics` accepts what they serve.
//!
//! Prometheus and promtool come from Debian's `prometheus` package (`.ci/run`
//! installs it). Without them these tests say on stderr that they are
//! skipped, and fail under `CI=true`.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "tests forward the child's stderr and say when they skip"
)]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::prometheus::{Prometheus, promtool_check_metrics, sample, scrape_job, tool};
use common::{Running, gen_db, get, text};
use nix::sys::signal::Signal;
use serde_json::Value;

const LISTENING: &str = "listening on ";
const EXIT_LIMIT: Duration = Duration::from_secs(15);
/// How long Prometheus may take from ready to a first scrape of every job.
const SCRAPE_LIMIT: Duration = Duration::from_secs(60);

/// One scrape job per text format: what Prometheus negotiates with its own
/// `Accept` header (OpenMetrics), and each format forced by `format=`.
const JOBS: [(&str, Option<&str>); 3] = [
    ("negotiated", None),
    ("openmetrics", Some("openmetrics")),
    ("prometheus", Some("prometheus")),
];

/// The one value of `promql`, which must have exactly one sample.
fn one(prometheus: &Prometheus, promql: &str) -> f64 {
    let result = prometheus.query(promql);
    assert_eq!(result.len(), 1, "{promql}: {result:?}");
    sample(&result[0]).1
}

#[test]
fn prometheus_ingests_every_text_format_from_vitals_serve() {
    let test = "prometheus_ingests_every_text_format_from_vitals_serve";
    if tool("prometheus", test).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let addr = server.address(LISTENING);
    let json = get(&addr, "/metrics", &[]).json();

    let mut config =
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n".to_owned();
    for (job, format) in JOBS {
        config.push_str(&scrape_job(job, &addr, format));
    }
    let started = Instant::now();
    let Some(prometheus) = Prometheus::start(&config, &[], test) else {
        return;
    };
    let ready = started.elapsed();

    // Every job is up: each format was parsed without error.
    let up = prometheus.wait_for("up == 1", SCRAPE_LIMIT, |r| r.len() == JOBS.len());
    let jobs: BTreeSet<&str> = up
        .iter()
        .map(|r| sample(r).0["job"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, JOBS.iter().map(|(job, _)| *job).collect());
    let scraped = started.elapsed();

    let queued = json["queue"]["counts"]["queued"].as_f64().unwrap();
    let runs = json["cost"]["aggregate"]["runs"].as_f64().unwrap();
    for (job, _) in JOBS {
        let selector = format!("job=\"{job}\"");
        // A sample read back equals the JSON snapshot's.
        assert_eq!(
            one(
                &prometheus,
                &format!("vitals_jobs{{{selector},status=\"queued\"}}")
            ),
            queued,
            "{job}"
        );
        // A counter, an info family and the process metrics, in every format.
        assert_eq!(
            one(&prometheus, &format!("vitals_runs_total{{{selector}}}")),
            runs,
            "{job}"
        );
        let build = prometheus.query(&format!("vitals_build_info{{{selector}}}"));
        assert_eq!(build.len(), 1, "{job}: {build:?}");
        assert_eq!(
            sample(&build[0]).0["version"],
            env!("CARGO_PKG_VERSION"),
            "{job}"
        );
        assert_eq!(
            one(&prometheus, &format!("vitals_schema_version{{{selector}}}")),
            1.0
        );
        assert!(
            one(
                &prometheus,
                &format!("process_resident_memory_bytes{{{selector}}}")
            ) > 0.0,
            "{job}"
        );
        one(
            &prometheus,
            &format!("process_cpu_seconds_total{{{selector}}}"),
        );
        assert!(
            one(&prometheus, &format!("process_open_fds{{{selector}}}")) >= 3.0,
            "{job}"
        );
        // The status an alert selects on.
        assert_eq!(
            one(
                &prometheus,
                &format!("vitals_collector_status{{{selector},section=\"queue\",status=\"ok\"}}")
            ),
            1.0,
            "{job}"
        );
        assert_eq!(
            one(
                &prometheus,
                &format!("vitals_collector_success{{{selector},section=\"queue\"}}")
            ),
            1.0,
            "{job}"
        );
    }
    // The three formats carry the same series.
    let counts: Vec<f64> = JOBS
        .iter()
        .map(|(job, _)| {
            one(
                &prometheus,
                &format!("scrape_samples_scraped{{job=\"{job}\"}}"),
            )
        })
        .collect();
    assert!(
        counts.iter().all(|c| *c == counts[0] && *c > 50.0),
        "{counts:?}"
    );
    let compared = started.elapsed();
    eprintln!(
        "{test}: prometheus ready after {ready:?}, every job scraped after {scraped:?}, \
         queries done after {compared:?} (uptime {:?})",
        prometheus.uptime()
    );
    let log = prometheus.stop();
    assert!(
        !log.contains("level=error"),
        "prometheus logged errors:\n{log}"
    );

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// The OpenMetrics sample names that differ from their family's name
/// (counters: `x_total`), which the text parser promtool uses reports as
/// "no help text".
fn openmetrics_counter_samples(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| match l.split_once(' ')? {
            (name, "counter") => Some(format!("{name}_total")),
            _ => None,
        })
        .collect()
}

/// `(name, sorted labels, value)` of one sample.
type Sample = (String, Vec<(String, String)>, String);

/// Every sample, and each name's help.
type Parsed = (BTreeSet<Sample>, BTreeSet<(String, String)>);

fn parse(exposition: &str) -> Parsed {
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
    let docs = scrape.docs.into_iter().collect();
    (samples, docs)
}

/// promtool accepts the text format with no complaint at all. It cannot
/// read OpenMetrics (prometheus/prometheus#8932: its text parser stops at
/// `# TYPE … info` and takes `x_total` for a family without help); so the
/// OpenMetrics output is checked to carry the text format's series (a second
/// parser, `prometheus-parse`), and promtool's complaints about it to be only
/// those two.
/// With `static_data` (a database nothing writes to), both formats must also
/// carry the same series; the demo's simulator moves between two requests.
fn check_with_promtool(addr: &str, test: &str, static_data: bool) -> Option<()> {
    let text_format = get(addr, "/metrics?format=prometheus", &[]);
    assert_eq!(
        text_format.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let output = promtool_check_metrics(&text_format.body, test)?;
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n--- input:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr),
        text_format.body
    );

    let openmetrics = get(addr, "/metrics?format=openmetrics", &[]);
    let output = promtool_check_metrics(&openmetrics.body, test)?;
    let counters = openmetrics_counter_samples(&openmetrics.body);
    let unexpected: Vec<String> = text(&output.stdout)
        .lines()
        .chain(text(&output.stderr).lines())
        .filter(|line| !line.trim().is_empty())
        .filter(|line| {
            let no_help = line
                .strip_suffix(" no help text")
                .is_some_and(|name| counters.contains(name));
            !no_help && !line.contains("unknown metric type \"info\"")
        })
        .map(str::to_owned)
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool on OpenMetrics: unexpected {unexpected:?}\n--- input:\n{}",
        openmetrics.body
    );

    // The same series in both formats (two builds apart: the values of
    // timings and of the process itself move, the series do not), and the
    // same help texts (keyed by sample name in the text format, by family
    // name in OpenMetrics).
    let (text_samples, text_docs) = parse(&text_format.body);
    let (om_samples, om_docs) = parse(&openmetrics.body);
    if static_data {
        let series = |samples: &BTreeSet<Sample>| {
            samples
                .iter()
                .map(|(name, labels, _)| (name.clone(), labels.clone()))
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(series(&text_samples), series(&om_samples));
        let texts = |docs: &BTreeSet<(String, String)>| {
            docs.iter()
                .map(|(_, help)| help.clone())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(texts(&text_docs), texts(&om_docs));
    }
    eprintln!(
        "{test}: promtool accepts the text format ({} samples); it cannot parse OpenMetrics \
         (prometheus/prometheus#8932), which carries the same samples",
        text_samples.len()
    );
    Some(())
}

#[test]
fn promtool_accepts_what_vitals_serve_serves() {
    let test = "promtool_accepts_what_vitals_serve_serves";
    if tool("promtool", test).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let addr = server.address(LISTENING);
    check_with_promtool(&addr, test, true);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}

#[test]
fn promtool_accepts_what_the_demo_serves() {
    let test = "promtool_accepts_what_the_demo_serves";
    if tool("promtool", test).is_none() {
        return;
    }
    let mut demo = Running::start(&["demo", "--listen", "127.0.0.1:0"]);
    let addr = demo.address("vitals demo: serving ");
    check_with_promtool(&addr, test, false);
    let body: Value = get(&addr, "/metrics", &[]).json();
    assert!(
        body["process"]["pid"].as_i64().is_some(),
        "{}",
        body["process"]
    );
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}
