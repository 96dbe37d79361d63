//! The whole app (`/`, `/metrics`, `/-/healthy`, `/-/ready`), compression,
//! the three formats' families, and odd `Accept`/`Accept-Encoding` values.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;
use vitals_core::{
    Assembler, Collect, Fallback, KillSwitch, Section, SectionError, SectionValue, async_trait,
};
use vitals_http::{
    BearerToken, ConfigError, JSON_CONTENT_TYPE, MetricsConfig, OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE, app, app_with, probes, router,
};

/// A section that answers what it is told, counting its runs.
#[derive(Debug)]
struct Scripted {
    key: &'static str,
    runs: Arc<AtomicUsize>,
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Degraded,
    Error,
    Slow,
}

#[async_trait]
impl Section for Scripted {
    fn key(&self) -> &str {
        self.key
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_millis(200))
    }
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match self.outcome {
            Outcome::Ok => Ok(json!({ "n": 1, "padding": "x".repeat(200) }).into()),
            Outcome::Degraded => {
                let a = cx
                    .field("a", async { Err::<u8, _>(SectionError::msg("io", "gone")) })
                    .await;
                let b = cx
                    .field("b", async { Err::<u8, _>(SectionError::msg("io", "gone")) })
                    .await;
                Ok(json!({ "a": a, "b": b }).into())
            }
            Outcome::Error => Err(SectionError::msg("unavailable", "secret/path/db is down")),
            Outcome::Slow => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(json!(null).into())
            }
        }
    }
}

struct Fixture {
    assembler: Assembler,
    runs: Arc<AtomicUsize>,
}

fn fixture(outcomes: &[(&'static str, Outcome)]) -> Fixture {
    fixture_with(outcomes, KillSwitch::new(true))
}

fn fixture_with(outcomes: &[(&'static str, Outcome)], switch: KillSwitch) -> Fixture {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut builder = Assembler::builder()
        .kill_switch(switch)
        // One snapshot serves a test's requests, so bodies compare equal.
        .min_interval(Duration::from_secs(600));
    for &(key, outcome) in outcomes {
        builder = builder.section(Scripted {
            key,
            runs: Arc::clone(&runs),
            outcome,
        });
    }
    Fixture {
        assembler: builder.build().unwrap(),
        runs,
    }
}

const ALL_OK: &[(&str, Outcome)] = &[("alpha", Outcome::Ok)];

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// The body, gunzipped when it says it is gzip.
    fn decoded(&self) -> String {
        match self.header(header::CONTENT_ENCODING) {
            Some("gzip") => {
                let mut out = String::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_string(&mut out)
                    .unwrap();
                out
            }
            None => self.text(),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }
}

async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: body.to_vec(),
    }
}

async fn get(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    send(app, Method::GET, uri, headers).await
}

/// `(name, labels) -> value` of a text exposition, in either text format.
fn samples(text: &str) -> HashMap<(String, Vec<(String, String)>), f64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .into_iter()
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
                other => panic!("unexpected value {other:?}"),
            };
            ((s.metric, labels), value)
        })
        .collect()
}

fn key(name: &str, labels: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

const FORMATS: [(&str, &str); 3] = [
    ("json", JSON_CONTENT_TYPE),
    ("openmetrics", OPENMETRICS_CONTENT_TYPE),
    ("prometheus", TEXT_CONTENT_TYPE),
];

#[tokio::test]
async fn every_format_is_gzipped_when_asked_and_round_trips() {
    let f = fixture(ALL_OK);
    let app = router(f.assembler);
    for (format, content_type) in FORMATS {
        let uri = format!("/metrics?format={format}");
        let plain = get(&app, &uri, &[]).await;
        assert_eq!(plain.status, StatusCode::OK);
        assert_eq!(plain.header(header::CONTENT_TYPE), Some(content_type));
        assert_eq!(plain.header(header::CONTENT_ENCODING), None, "{format}");
        assert_eq!(
            plain.header(header::VARY),
            Some("accept, accept-encoding"),
            "{format}"
        );
        for accept_encoding in [
            "gzip",
            "GZIP",
            "br;q=1, gzip;q=0.5",
            "deflate, gzip",
            "x-gzip",
        ] {
            let zipped = get(&app, &uri, &[("accept-encoding", accept_encoding)]).await;
            assert_eq!(zipped.status, StatusCode::OK);
            assert_eq!(
                zipped.header(header::CONTENT_ENCODING),
                Some("gzip"),
                "{format} {accept_encoding}"
            );
            assert_eq!(zipped.header(header::CONTENT_TYPE), Some(content_type));
            assert_eq!(zipped.header(header::VARY), Some("accept, accept-encoding"));
            assert_eq!(zipped.header(header::CONTENT_LENGTH), None);
            assert_ne!(zipped.body, plain.body);
            assert_eq!(zipped.decoded(), plain.text(), "{format} {accept_encoding}");
        }
    }
    assert_eq!(f.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn odd_accept_encoding_values_get_identity() {
    let f = fixture(ALL_OK);
    let app = router(f.assembler);
    let plain = get(&app, "/metrics", &[]).await;
    for accept_encoding in [
        "",
        "identity",
        "gzip;q=0",
        "br",
        "zstd, deflate",
        "garbage;;;,",
        "gzip;q=abc",
        "*;q=0",
    ] {
        let answer = get(&app, "/metrics", &[("accept-encoding", accept_encoding)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept_encoding:?}");
        assert_eq!(
            answer.header(header::CONTENT_ENCODING),
            None,
            "{accept_encoding:?}"
        );
        assert_eq!(answer.body, plain.body, "{accept_encoding:?}");
    }
}

#[tokio::test]
async fn odd_accept_values_get_json() {
    let f = fixture(ALL_OK);
    let app = router(f.assembler);
    for accept in [
        "garbage",
        ";;;",
        ",,,",
        "text/plain;q=abc",
        "application/openmetrics-text;q=2",
        "*/json",
        "text/plain; version=2.0",
        "application/openmetrics-text;q=0",
        "text/html, image/png",
    ] {
        let answer = get(&app, "/metrics", &[("accept", accept)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept:?}");
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            Some(JSON_CONTENT_TYPE),
            "{accept:?}"
        );
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["schema_version"], 1);
    }
    // Bytes that are not text in the header: still JSON.
    let mut request = Request::get("/metrics").body(Body::empty()).unwrap();
    request.headers_mut().insert(
        header::ACCEPT,
        header::HeaderValue::from_bytes(b"text/plain\xff").unwrap(),
    );
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
}

#[tokio::test]
async fn the_status_families_say_ok_from_degraded_from_error() {
    let f = fixture(&[
        ("good", Outcome::Ok),
        ("partial", Outcome::Degraded),
        ("broken", Outcome::Error),
    ]);
    let app = router(f.assembler);
    for format in ["openmetrics", "prometheus"] {
        let answer = get(&app, &format!("/metrics?format={format}"), &[]).await;
        let samples = samples(&answer.text());
        for (section, expected) in [("good", "ok"), ("partial", "degraded"), ("broken", "error")] {
            for status in ["ok", "degraded", "error", "panic", "timeout", "busy"] {
                assert_eq!(
                    samples.get(&key(
                        "vitals_collector_status",
                        &[("section", section), ("status", status)]
                    )),
                    Some(&f64::from(u8::from(status == expected))),
                    "{format}: {section} {status}"
                );
            }
        }
        // Unchanged: success is 1 for ok and degraded alike.
        for (section, success, degraded) in [
            ("good", 1.0, 0.0),
            ("partial", 1.0, 2.0),
            ("broken", 0.0, 0.0),
        ] {
            assert_eq!(
                samples.get(&key("vitals_collector_success", &[("section", section)])),
                Some(&success),
                "{format}: {section}"
            );
            assert_eq!(
                samples.get(&key(
                    "vitals_collector_degraded_fields",
                    &[("section", section)]
                )),
                Some(&degraded),
                "{format}: {section}"
            );
            assert!(samples.contains_key(&key(
                "vitals_collector_duration_seconds",
                &[("section", section)]
            )));
        }
        assert_eq!(
            samples.get(&key(
                "vitals_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            )),
            Some(&1.0),
            "{format}"
        );
        assert_eq!(
            samples.get(&key("vitals_schema_version", &[])),
            Some(&1.0),
            "{format}"
        );
    }
    let om = get(&app, "/metrics?format=openmetrics", &[]).await.text();
    assert!(om.contains("# TYPE vitals_build info\n"), "{om}");
    let text = get(&app, "/metrics?format=prometheus", &[]).await.text();
    assert!(text.contains("# TYPE vitals_build_info gauge\n"), "{text}");
}

#[tokio::test]
async fn the_router_alone_mounts_only_metrics() {
    let f = fixture(ALL_OK);
    let app = router(f.assembler);
    for uri in ["/", "/-/healthy", "/-/ready"] {
        assert_eq!(
            get(&app, uri, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn the_app_serves_its_four_routes() {
    let f = fixture(ALL_OK);
    let app = app_with(
        f.assembler,
        MetricsConfig::new().service_name("orchestrator <prod>"),
    )
    .unwrap();

    let healthy = get(&app, "/-/healthy", &[]).await;
    assert_eq!(
        (healthy.status, healthy.text().as_str()),
        (StatusCode::OK, "healthy\n")
    );
    assert_eq!(f.runs.load(Ordering::SeqCst), 0, "the probes build nothing");

    let landing = get(&app, "/", &[]).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert_eq!(
        landing.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    let page = landing.decoded();
    assert!(
        page.contains("<h1>orchestrator &lt;prod&gt;</h1>"),
        "{page}"
    );
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    for link in [
        "metrics?format=json",
        "metrics?format=openmetrics",
        "metrics?format=prometheus",
        "-/healthy",
        "-/ready",
        MetricsConfig::DEFAULT_DOCS_URL,
    ] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}: {page}");
    }
    // Each link of the page answers 200 (after a first scrape, ready too).
    for (format, content_type) in FORMATS {
        let answer = get(&app, &format!("/metrics?format={format}"), &[]).await;
        assert_eq!(answer.header(header::CONTENT_TYPE), Some(content_type));
    }
    assert_eq!(get(&app, "/-/ready", &[]).await.status, StatusCode::OK);
    let zipped = get(&app, "/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(zipped.header(header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(zipped.decoded(), page);
}

#[tokio::test]
async fn head_on_every_route() {
    let f = fixture(ALL_OK);
    let app = app(f.assembler);
    for (uri, accept_encoding) in [
        ("/", ""),
        ("/", "gzip"),
        ("/-/healthy", ""),
        ("/-/ready", ""),
        ("/metrics", ""),
        ("/metrics?format=openmetrics", ""),
        ("/metrics?format=prometheus", "gzip"),
        ("/metrics?format=json", "gzip"),
    ] {
        let headers: &[(&str, &str)] = if accept_encoding.is_empty() {
            &[]
        } else {
            &[("accept-encoding", accept_encoding)]
        };
        let full = get(&app, uri, headers).await;
        let head = send(&app, Method::HEAD, uri, headers).await;
        assert_eq!(head.status, full.status, "{uri}");
        assert!(head.body.is_empty(), "{uri}");
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::VARY,
            header::CONTENT_LENGTH,
        ] {
            assert_eq!(
                head.header(name.clone()),
                full.header(name.clone()),
                "{uri} {name}"
            );
        }
    }
}

#[tokio::test]
async fn other_methods_get_405_on_every_route() {
    let f = fixture(ALL_OK);
    let app = app(f.assembler);
    for uri in ["/", "/-/healthy", "/-/ready", "/metrics"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let answer = send(&app, method.clone(), uri, &[]).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            assert_eq!(answer.header(header::ALLOW), Some("GET, HEAD"), "{uri}");
        }
    }
    assert_eq!(f.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn every_route_with_and_without_a_token() {
    let f = fixture(ALL_OK);
    let config = MetricsConfig::new().bearer_token(BearerToken::new("s3cr3t").unwrap());
    let app = app_with(f.assembler, config).unwrap();
    let token = [("authorization", "Bearer s3cr3t")];
    let wrong = [("authorization", "Bearer nope")];

    for uri in ["/", "/metrics", "/metrics?format=prometheus"] {
        for headers in [&[][..], &wrong[..]] {
            let answer = get(&app, uri, headers).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri} {headers:?}");
            assert_eq!(
                answer.header(header::WWW_AUTHENTICATE),
                Some("Bearer realm=\"vitals\"")
            );
            let head = send(&app, Method::HEAD, uri, headers).await;
            assert_eq!(head.status, StatusCode::UNAUTHORIZED, "HEAD {uri}");
        }
    }
    assert_eq!(
        f.runs.load(Ordering::SeqCst),
        0,
        "no build without the token"
    );

    // The probes need no token, and reveal a status word only.
    let ready = get(&app, "/-/ready", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.text(), "not ready: no snapshot built yet\n");
    for headers in [&[][..], &wrong[..], &token[..]] {
        let answer = get(&app, "/-/healthy", headers).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (StatusCode::OK, "healthy\n")
        );
    }

    for uri in ["/", "/metrics", "/metrics?format=prometheus"] {
        let answer = get(&app, uri, &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        let head = send(&app, Method::HEAD, uri, &token).await;
        assert_eq!(head.status, StatusCode::OK, "HEAD {uri}");
    }
    for headers in [&[][..], &wrong[..], &token[..]] {
        let answer = get(&app, "/-/ready", headers).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (StatusCode::OK, "ready\n")
        );
    }
}

#[tokio::test]
async fn ready_follows_the_last_snapshot() {
    // Degraded is ready; error is not, and the reason names no section and no message.
    let f = fixture(&[("good", Outcome::Ok), ("partial", Outcome::Degraded)]);
    let first = app(f.assembler.clone());
    assert_eq!(
        get(&first, "/-/ready", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    f.assembler.build().await;
    assert_eq!(get(&first, "/-/ready", &[]).await.status, StatusCode::OK);

    let f = fixture(&[("good", Outcome::Ok), ("broken", Outcome::Error)]);
    let app = app(f.assembler.clone());
    f.assembler.build().await;
    let answer = get(&app, "/-/ready", &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = answer.text();
    assert_eq!(
        text,
        "not ready: a section's status was error in the last snapshot\n"
    );
    assert!(!text.contains("broken") && !text.contains("secret"));
    let head = send(&app, Method::HEAD, "/-/ready", &[]).await;
    assert_eq!(head.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(head.body.is_empty());
}

#[tokio::test(start_paused = true)]
async fn ready_is_503_after_a_timeout() {
    let f = fixture(&[("slow", Outcome::Slow)]);
    let app = probes(f.assembler.clone());
    f.assembler.build().await;
    let answer = get(&app, "/-/ready", &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.text(),
        "not ready: a section's status was timeout in the last snapshot\n"
    );
}

#[tokio::test]
async fn ready_while_the_kill_switch_is_off() {
    let switch = KillSwitch::new(false);
    let f = fixture_with(&[("broken", Outcome::Error)], switch.clone());
    let app = app(f.assembler.clone());
    assert_eq!(get(&app, "/-/ready", &[]).await.status, StatusCode::OK);
    let text = get(&app, "/metrics?format=prometheus", &[]).await.text();
    assert_eq!(
        text,
        "# HELP vitals_enabled Whether the collector's kill switch is on (1) or off (0).\n\
         # TYPE vitals_enabled gauge\nvitals_enabled 0.0\n"
    );
    switch.set_enabled(true);
    assert_eq!(
        get(&app, "/-/ready", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(f.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_metrics_path_cannot_take_another_route() {
    for path in ["/", "/-/healthy", "/-/ready"] {
        let f = fixture(ALL_OK);
        let error = app_with(f.assembler, MetricsConfig::new().path(path)).unwrap_err();
        assert_eq!(
            error,
            ConfigError::PathConflict {
                path: path.to_owned()
            }
        );
    }
    let f = fixture(ALL_OK);
    let app = app_with(f.assembler, MetricsConfig::new().path("/internal/vitals")).unwrap();
    assert_eq!(
        get(&app, "/internal/vitals", &[]).await.status,
        StatusCode::OK
    );
    let page = get(&app, "/", &[]).await.text();
    assert!(
        page.contains("href=\"internal/vitals?format=json\""),
        "{page}"
    );
    assert!(matches!(
        app_with(fixture(ALL_OK).assembler, MetricsConfig::new().path("x")),
        Err(ConfigError::InvalidPath { .. })
    ));
}
