//! Router tests: `oneshot` through the router with fake sections, and one real loopback socket.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{
    Assembler, AssemblerBuilder, Collect, Fallback, KillSwitch, Section, SectionError,
    SectionValue, async_trait,
};
use vitals_http::{BearerToken, MetricsConfig, TEXT_CONTENT_TYPE, router, router_with};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const OM_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counts its builds; optionally slow. Maps itself to a gauge and a counter.
#[derive(Debug)]
struct Widgets {
    builds: Arc<AtomicUsize>,
    delay: Duration,
}

#[async_trait]
impl Section for Widgets {
    fn key(&self) -> &str {
        "widgets"
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    fn order(&self) -> i32 {
        10
    }
    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_secs(30))
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        let build = self.builds.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(json!({
            "build": build,
            "count": 3,
            "items": [
                {"name": "alpha", "bytes": 1024, "temp": 21.5},
                {"name": "beta b", "bytes": 2048, "temp": null},
            ],
        })
        .into())
    }
    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let mut count = MetricFamily::new("test_widgets", "How many widgets.", MetricKind::Gauge);
        if let Some(n) = value["count"].as_f64() {
            count.push(Vec::<(String, String)>::new(), n);
        }
        count.emit_into(out);
        let mut bytes = MetricFamily::new(
            "test_widget_processed",
            "Bytes each widget processed.",
            MetricKind::Counter,
        )
        .with_unit("bytes");
        let mut temp = MetricFamily::new(
            "test_widget_temperature",
            "Widget temperature.",
            MetricKind::Gauge,
        )
        .with_unit("celsius");
        for item in value["items"].as_array().into_iter().flatten() {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            if let Some(b) = item["bytes"].as_f64() {
                bytes.push([("widget", name.clone())], b);
            }
            if let Some(t) = item["temp"].as_f64() {
                temp.push([("widget", name)], t);
            }
        }
        bytes.emit_into(out);
        temp.emit_into(out);
        // Garbage a section could produce: must not break the exposition.
        let mut invalid = MetricFamily::new("test bad name", "x", MetricKind::Gauge);
        invalid.push(Vec::<(String, String)>::new(), 1.0);
        out.push(invalid);
        let mut nan = MetricFamily::new("test_widget_inf", "x", MetricKind::Gauge);
        nan.push([("k", "inf")], f64::INFINITY);
        nan.push([("k", "one")], 1.0);
        out.push(nan);
    }
}

/// Always fails: its key falls back to `[]`.
#[derive(Debug)]
struct Broken;

#[async_trait]
impl Section for Broken {
    fn key(&self) -> &str {
        "broken"
    }
    fn fallback(&self) -> Fallback {
        Fallback::EmptyArray
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        Err(SectionError::msg("unavailable", "the source is down"))
    }
}

/// One field fails, the other does not: the section is `degraded`.
#[derive(Debug)]
struct Partial;

#[async_trait]
impl Section for Partial {
    fn key(&self) -> &str {
        "partial"
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let good = cx.field("good", async { Ok::<_, SectionError>(1) }).await;
        let bad = cx
            .field("bad", async {
                Err::<u8, _>(SectionError::msg("io", "read failed"))
            })
            .await;
        Ok(json!({ "good": good, "bad": bad }).into())
    }
}

struct Fixture {
    assembler: Assembler,
    builds: Arc<AtomicUsize>,
}

fn fixture_with(
    delay: Duration,
    tune: impl FnOnce(AssemblerBuilder) -> AssemblerBuilder,
) -> Fixture {
    let builds = Arc::new(AtomicUsize::new(0));
    let builder = Assembler::builder()
        .section(Widgets {
            builds: Arc::clone(&builds),
            delay,
        })
        .section(Broken)
        .section(Partial);
    Fixture {
        assembler: tune(builder).build().unwrap(),
        builds,
    }
}

fn fixture() -> Fixture {
    fixture_with(Duration::ZERO, |b| b)
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map_or("", |v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get_metrics(app: &Router, headers: &[(&str, &str)]) -> Answer {
    send(app.clone(), request(Method::GET, "/metrics", headers)).await
}

/// A parsed OpenMetrics exposition: samples by (name, sorted labels), plus the raw scrape.
struct Scrape {
    inner: prometheus_parse::Scrape,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        check_openmetrics_lines(text);
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Self {
            inner: prometheus_parse::Scrape::parse(lines).unwrap(),
        }
    }

    /// A Prometheus text format 0.0.4 exposition.
    fn parse_text(text: &str) -> Self {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Self {
            inner: prometheus_parse::Scrape::parse(lines).unwrap(),
        }
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<f64> = self
            .inner
            .samples
            .iter()
            .filter(|s| s.metric == name && *s.labels == wanted)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("unexpected value {other:?}"),
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} appears twice");
        found.first().copied()
    }

    fn names(&self) -> Vec<&str> {
        self.inner
            .samples
            .iter()
            .map(|s| s.metric.as_str())
            .collect()
    }
}

/// The line grammar of OpenMetrics text, stricter than `prometheus-parse`:
/// descriptors name valid metrics, sample lines are `name{labels} value`,
/// and the exposition ends in exactly one `# EOF`.
fn check_openmetrics_lines(text: &str) {
    fn metric_name(s: &str) -> bool {
        let mut b = s.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
    }
    assert!(text.ends_with("# EOF\n"), "no trailing EOF: {text}");
    assert_eq!(text.matches("# EOF").count(), 1);
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap();
            assert!(["HELP", "TYPE", "UNIT"].contains(&kind), "{line}");
            assert!(metric_name(name), "{line}");
            if kind == "TYPE" {
                assert!(
                    ["gauge", "counter", "info"].contains(&parts.next().unwrap()),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        assert!(metric_name(name), "{line}");
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line}");
        }
        assert!(
            value == "NaN" || value.parse::<f64>().is_ok_and(f64::is_finite),
            "bad value in {line}"
        );
    }
}

#[tokio::test]
async fn json_by_default() {
    let f = fixture();
    let app = router(f.assembler.clone());
    let answer = get_metrics(&app, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.headers[header::VARY], "accept, accept-encoding");
    let body = answer.json();
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["widgets"]["count"], 3);
    assert_eq!(body["broken"], json!([]));
    assert_eq!(body["collector"]["sections"]["widgets"]["status"], "ok");
    assert_eq!(body["collector"]["sections"]["broken"]["status"], "error");
    let doc = OrderedJson::parse(&answer.body).unwrap();
    assert_eq!(
        doc.keys(),
        [
            "schema_version",
            "generated_at",
            "clk_tck",
            "widgets",
            "broken",
            "partial",
            "collector"
        ]
    );
    assert_eq!(f.builds.load(Ordering::SeqCst), 1);

    // An explicit JSON Accept, and JSON preferred by q over OpenMetrics.
    for accept in [
        "application/json",
        "application/openmetrics-text;q=0.5, application/json;q=0.9",
        "text/html",
    ] {
        let answer = get_metrics(&app, &[("accept", accept)]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type(), "application/json", "{accept}");
        assert_eq!(answer.json()["schema_version"], 1);
    }
    let answer = send(
        app.clone(),
        request(
            Method::GET,
            "/metrics?format=json",
            &[("accept", PROMETHEUS_ACCEPT)],
        ),
    )
    .await;
    assert_eq!(answer.content_type(), "application/json");
}

#[tokio::test]
async fn degraded_and_failed_sections_still_answer_200() {
    let f = fixture();
    let answer = get_metrics(&router(f.assembler), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    let sections = &body["collector"]["sections"];
    assert_eq!(sections["partial"]["status"], "degraded");
    assert_eq!(sections["partial"]["fields"][0]["field"], "bad");
    assert_eq!(body["partial"], json!({"good": 1, "bad": null}));
    assert_eq!(sections["broken"]["error"]["kind"], "unavailable");
}

fn check_exposition(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), OM_CONTENT_TYPE);
    let scrape = Scrape::parse(&answer.body);
    assert_eq!(scrape.value("vitals_enabled", &[]), Some(1.0));
    assert_eq!(scrape.value("test_widgets", &[]), Some(3.0));
    assert_eq!(
        scrape.value("test_widget_processed_bytes_total", &[("widget", "alpha")]),
        Some(1024.0)
    );
    assert_eq!(
        scrape.value("test_widget_processed_bytes_total", &[("widget", "beta b")]),
        Some(2048.0)
    );
    assert_eq!(
        scrape.value("test_widget_temperature_celsius", &[("widget", "alpha")]),
        Some(21.5)
    );
    assert_eq!(
        scrape.value("test_widget_temperature_celsius", &[("widget", "beta b")]),
        None,
        "a null stays absent, never a fake 0"
    );
    assert_eq!(scrape.value("test_widget_inf", &[("k", "one")]), Some(1.0));
    assert_eq!(scrape.value("test_widget_inf", &[("k", "inf")]), None);
    assert!(!answer.body.contains("bad name"));
    for (section, ok) in [("widgets", 1.0), ("broken", 0.0), ("partial", 1.0)] {
        assert_eq!(
            scrape.value("vitals_collector_success", &[("section", section)]),
            Some(ok),
            "{section}"
        );
        let duration = scrape
            .value("vitals_collector_duration_seconds", &[("section", section)])
            .unwrap();
        assert!(duration >= 0.0);
    }
    let types: HashMap<&str, &str> = answer
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert_eq!(types["test_widget_processed_bytes"], "counter");
    assert_eq!(types["test_widgets"], "gauge");
    assert_eq!(types["vitals_collector_duration_seconds"], "gauge");
    assert!(
        answer
            .body
            .contains("# UNIT test_widget_processed_bytes bytes\n")
    );
    assert_eq!(
        scrape.inner.docs["test_widgets"], "How many widgets.",
        "help text"
    );
    assert!(scrape.names().len() >= 9);
}

#[tokio::test]
async fn openmetrics_for_prometheus_accept_header() {
    let f = fixture();
    let answer = get_metrics(&router(f.assembler), &[("accept", PROMETHEUS_ACCEPT)]).await;
    check_exposition(&answer);
}

/// The Prometheus text format 0.0.4: the same samples as OpenMetrics, a
/// counter's family named with its `_total`, no `# UNIT`, no `# EOF`.
fn check_text_exposition(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), TEXT_CONTENT_TYPE);
    assert!(!answer.body.contains("# EOF"), "{}", answer.body);
    assert!(!answer.body.contains("# UNIT"), "{}", answer.body);
    let scrape = Scrape::parse_text(&answer.body);
    assert_eq!(scrape.value("vitals_enabled", &[]), Some(1.0));
    assert_eq!(scrape.value("test_widgets", &[]), Some(3.0));
    assert_eq!(
        scrape.value("test_widget_processed_bytes_total", &[("widget", "alpha")]),
        Some(1024.0)
    );
    assert_eq!(
        scrape.value("test_widget_temperature_celsius", &[("widget", "alpha")]),
        Some(21.5)
    );
    assert_eq!(
        scrape.value("test_widget_temperature_celsius", &[("widget", "beta b")]),
        None
    );
    assert_eq!(scrape.value("test_widget_inf", &[("k", "inf")]), None);
    assert_eq!(
        scrape.value(
            "vitals_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    for (section, ok) in [("widgets", 1.0), ("broken", 0.0), ("partial", 1.0)] {
        assert_eq!(
            scrape.value("vitals_collector_success", &[("section", section)]),
            Some(ok),
            "{section}"
        );
    }
    let types: HashMap<&str, &str> = answer
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert_eq!(types["test_widget_processed_bytes_total"], "counter");
    assert_eq!(types["vitals_build_info"], "gauge");
    assert_eq!(types["test_widgets"], "gauge");
    assert_eq!(
        scrape.inner.docs["test_widget_processed_bytes_total"],
        "Bytes each widget processed."
    );
    // Every sample's family has its HELP and TYPE lines (what promtool asks).
    for name in scrape.names() {
        assert!(types.contains_key(name), "{name} has no TYPE line");
        assert!(
            scrape.inner.docs.contains_key(name),
            "{name} has no HELP line"
        );
    }
}

#[tokio::test]
async fn text_format_for_text_plain() {
    let f = fixture();
    let app = router(f.assembler);
    for accept in [
        "text/plain; version=0.0.4",
        "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        "text/plain",
        "text/plain; version=0.0.4; charset=utf-8",
        "application/openmetrics-text;q=0.5, text/plain;q=0.8",
        "text/*",
    ] {
        check_text_exposition(&get_metrics(&app, &[("accept", accept)]).await);
    }
    // Prometheus' own Accept header prefers OpenMetrics.
    check_exposition(&get_metrics(&app, &[("accept", PROMETHEUS_ACCEPT)]).await);
    for query in [
        "format=prometheus",
        "format=PROMETHEUS",
        "format=promet%68eus",
    ] {
        let answer = send(
            app.clone(),
            request(
                Method::GET,
                &format!("/metrics?{query}"),
                &[("accept", PROMETHEUS_ACCEPT)],
            ),
        )
        .await;
        check_text_exposition(&answer);
    }
}

#[tokio::test]
async fn openmetrics_for_format_query() {
    let f = fixture();
    let app = router(f.assembler);
    let answer = send(
        app.clone(),
        request(Method::GET, "/metrics?format=openmetrics", &[]),
    )
    .await;
    check_exposition(&answer);
    let answer = send(
        app,
        request(
            Method::GET,
            "/metrics?format=openmetrics",
            &[("accept", "application/json")],
        ),
    )
    .await;
    check_exposition(&answer);
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let f = fixture_with(Duration::ZERO, |b| b.min_interval(Duration::from_secs(60)));
    let app = router(f.assembler);
    let full = get_metrics(&app, &[]).await;
    let head = send(app.clone(), request(Method::HEAD, "/metrics", &[])).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.content_type(), "application/json");
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers[header::CONTENT_LENGTH].to_str().unwrap(),
        full.body.len().to_string()
    );
    let head = send(
        app,
        request(Method::HEAD, "/metrics", &[("accept", PROMETHEUS_ACCEPT)]),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.content_type(), OM_CONTENT_TYPE);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let f = fixture();
    let app = router(f.assembler);
    for method in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ] {
        let answer = send(app.clone(), request(method.clone(), "/metrics", &[])).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(answer.headers[header::ALLOW], "GET, HEAD", "{method}");
    }
    assert_eq!(f.builds.load(Ordering::SeqCst), 0);
    // The router routes nothing else.
    let answer = send(app, request(Method::GET, "/other", &[])).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bearer_token_authentication() {
    let f = fixture();
    let config = MetricsConfig::new().bearer_token(BearerToken::new("s3cr3t").unwrap());
    let app = router_with(f.assembler.clone(), config).unwrap();
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")][..],
        &[("authorization", "Bearer s3cr3")][..],
        &[("authorization", "Bearer s3cr3tt")][..],
        &[("authorization", "Basic s3cr3t")][..],
        &[("authorization", "s3cr3t")][..],
    ] {
        let answer = get_metrics(&app, headers).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(
            answer.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"vitals\""
        );
        assert!(!answer.body.contains("schema_version"));
    }
    let answer = send(app.clone(), request(Method::POST, "/metrics", &[])).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        f.builds.load(Ordering::SeqCst),
        0,
        "no build for an unauthenticated request"
    );

    let answer = get_metrics(&app, &[("authorization", "Bearer s3cr3t")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["widgets"]["count"], 3);
    let answer = get_metrics(
        &app,
        &[
            ("authorization", "bearer s3cr3t"),
            ("accept", PROMETHEUS_ACCEPT),
        ],
    )
    .await;
    check_exposition(&answer);
    assert_eq!(f.builds.load(Ordering::SeqCst), 2);

    // Without a token configured, no header is needed.
    let answer = get_metrics(&router(f.assembler), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn kill_switch_off() {
    let switch = KillSwitch::new(false);
    let f = fixture_with(Duration::ZERO, |b| b.kill_switch(switch.clone()));
    let app = router(f.assembler);
    let answer = get_metrics(&app, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.body, r#"{"schema_version":1,"enabled":false}"#);

    let answer = get_metrics(&app, &[("accept", PROMETHEUS_ACCEPT)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), OM_CONTENT_TYPE);
    let scrape = Scrape::parse(&answer.body);
    assert_eq!(scrape.value("vitals_enabled", &[]), Some(0.0));
    assert_eq!(scrape.names(), ["vitals_enabled"]);
    assert_eq!(f.builds.load(Ordering::SeqCst), 0);

    switch.set_enabled(true);
    let answer = get_metrics(&app, &[]).await;
    assert_eq!(answer.json()["widgets"]["count"], 3);
}

#[tokio::test(start_paused = true)]
async fn min_interval_serves_the_last_snapshot() {
    let f = fixture_with(Duration::ZERO, |b| b.min_interval(Duration::from_secs(10)));
    let app = router(f.assembler);
    let first = get_metrics(&app, &[]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let second = get_metrics(&app, &[]).await;
    assert_eq!(first.body, second.body);
    assert_eq!(first.json()["generated_at"], second.json()["generated_at"]);
    assert_eq!(f.builds.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let third = get_metrics(&app, &[]).await;
    assert_eq!(third.json()["widgets"]["build"], 2);
    assert_eq!(f.builds.load(Ordering::SeqCst), 2);
}

async fn storm(app: &Router, n: usize) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = app.clone();
            let accept = if i % 2 == 0 {
                "application/json"
            } else {
                PROMETHEUS_ACCEPT
            };
            tokio::spawn(async move { get_metrics(&app, &[("accept", accept)]).await.status })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_build() {
    // The build takes 1 s, far longer than starting 200 requests takes.
    let f = fixture_with(Duration::from_secs(1), |b| b);
    let config = MetricsConfig::new().concurrency_limit(256);
    let app = router_with(f.assembler, config).unwrap();
    let statuses = storm(&app, 200).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(f.builds.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_beyond_the_limit_wait_and_reuse_the_snapshot() {
    let f = fixture_with(Duration::from_millis(300), |b| {
        b.min_interval(Duration::from_secs(60))
    });
    let app = router(f.assembler);
    let statuses = storm(&app, 200).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(f.builds.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_times_out_with_503() {
    let f = fixture_with(Duration::from_secs(5), |b| b);
    let config = MetricsConfig::new().timeout(Duration::from_secs(1));
    let app = router_with(f.assembler, config).unwrap();
    let answer = get_metrics(&app, &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_queues_requests() {
    // One slot, builds take 2 s, requests may take 3 s: the first request is
    // served; the second waits 2 s for the slot, then needs a build of its own
    // (no min interval, the first build is over) and runs out of time.
    let f = fixture_with(Duration::from_secs(2), |b| b);
    let config = MetricsConfig::new()
        .concurrency_limit(1)
        .timeout(Duration::from_secs(3));
    let app = router_with(f.assembler, config).unwrap();
    let (a, b) = tokio::join!(get_metrics(&app, &[]), get_metrics(&app, &[]));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE]);
    assert_eq!(f.builds.load(Ordering::SeqCst), 2);
}

fn host(metrics: Router) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "slow"
            }),
        )
        .merge(metrics)
}

#[tokio::test(start_paused = true)]
async fn layers_do_not_touch_the_host_routes() {
    let f = fixture();
    let config = MetricsConfig::new()
        .bearer_token(BearerToken::new("s3cr3t").unwrap())
        .timeout(Duration::from_secs(1))
        .concurrency_limit(1);
    let app = host(router_with(f.assembler, config).unwrap());
    let answer = send(app.clone(), request(Method::GET, "/healthz", &[])).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let answer = send(app.clone(), request(Method::GET, "/slow", &[])).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "slow")
    );
    let answer = send(app.clone(), request(Method::POST, "/healthz", &[])).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let answer = get_metrics(&app, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = get_metrics(&app, &[("authorization", "Bearer s3cr3t")]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_custom_path() {
    let f = fixture();
    let app = router_with(f.assembler, MetricsConfig::new().path("/internal/vitals")).unwrap();
    let answer = send(app.clone(), request(Method::GET, "/internal/vitals", &[])).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(app, request(Method::GET, "/metrics", &[])).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let f = fixture();
    assert!(router_with(f.assembler, MetricsConfig::new().path("metrics")).is_err());
}

/// A minimal HTTP/1.1 client over a blocking socket: status, headers (lowercased), body.
fn fetch(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    accept: &str,
) -> (u16, HashMap<String, String>, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_over_a_real_loopback_socket() {
    let f = fixture();
    let app = host(router(f.assembler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (json, om, head, health, post) = tokio::task::spawn_blocking(move || {
        (
            fetch(addr, "GET", "/metrics", "application/json"),
            fetch(addr, "GET", "/metrics", PROMETHEUS_ACCEPT),
            fetch(addr, "HEAD", "/metrics", "*/*"),
            fetch(addr, "GET", "/healthz", "*/*"),
            fetch(addr, "POST", "/metrics", "*/*"),
        )
    })
    .await
    .unwrap();
    server.abort();

    assert_eq!(json.0, 200);
    assert_eq!(json.1["content-type"], "application/json");
    let body: Value = serde_json::from_str(&json.2).unwrap();
    assert_eq!(body["widgets"]["count"], 3);
    assert_eq!(json.1["content-length"], json.2.len().to_string());

    assert_eq!(om.0, 200);
    let answer = Answer {
        status: StatusCode::OK,
        headers: {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, om.1["content-type"].parse().unwrap());
            h
        },
        body: om.2,
    };
    check_exposition(&answer);

    assert_eq!(head.0, 200);
    assert!(head.2.is_empty());
    assert!(head.1["content-length"].parse::<usize>().unwrap() > 0);
    assert_eq!((health.0, health.2.as_str()), (200, "ok"));
    assert_eq!(post.0, 405);
    assert_eq!(post.1["allow"], "GET, HEAD");
}
