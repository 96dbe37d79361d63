#![expect(clippy::unwrap_used, reason = "tests")]
//! The `queue` section against its fakes, through the real assembler.

use std::sync::Arc;

use serde_json::{Value, json};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{Assembler, FixedClock, Resources, Section, SectionError};
use vitals_queue::fake::{FakeQueueSource, FakeWorkerProbe};
use vitals_queue::{KEY, ORDER, QueueSection, QueueSource, RetryStats, WorkerProbe};

const RETRIES: RetryStats = RetryStats {
    jobs_with_retries: 2,
    total_attempts: 5,
    max_attempts: 3,
};

fn full_source() -> FakeQueueSource {
    FakeQueueSource::new()
        .with_counts([("done", 40), ("queued", 3), ("running", 2), ("failed", 1)])
        .with_retries(RETRIES)
}

fn full_probe() -> FakeWorkerProbe {
    FakeWorkerProbe::new()
        .with_breaker(json!({"state": "open", "failures": 5, "opened_at": "2026-11-28T02:00:00Z"}))
        .with_max_concurrency(Some(4))
        .with_poll_interval(Some(2.5))
}

/// One snapshot; the section's value and its meta entry.
async fn snapshot(section: QueueSection) -> (Value, Value) {
    let assembler = Assembler::builder()
        .clock(FixedClock::broken())
        .section(section)
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let body = snapshot.body();
    (
        body[KEY].clone(),
        body["collector"]["sections"][KEY].clone(),
    )
}

/// One snapshot; the section's value with its keys in output order.
async fn ordered(section: QueueSection) -> OrderedJson {
    let assembler = Assembler::builder().section(section).build().unwrap();
    let snapshot = assembler.build().await;
    OrderedJson::parse(snapshot.to_json()).unwrap()[KEY].clone()
}

async fn with_probe(source: FakeQueueSource, probe: FakeWorkerProbe) -> (Value, Value) {
    snapshot(QueueSection::new(Arc::new(source)).with_probe(Arc::new(probe))).await
}

fn full_counts() -> Value {
    json!({"queued": 3, "running": 2, "done": 40, "failed": 1, "cancelled": 0})
}

fn full_retries() -> Value {
    json!({"jobs_with_retries": 2, "total_attempts": 5, "max_attempts": 3})
}

fn full_breaker() -> Value {
    json!({"state": "open", "failures": 5, "opened_at": "2026-11-28T02:00:00Z"})
}

/// Asserts the meta entry is `degraded` with exactly these failed fields (name, kind).
fn assert_degraded(meta: &Value, fields: &[(&str, &str)]) {
    assert_eq!(meta["status"], "degraded", "{meta}");
    let got: Vec<(&str, &str)> = meta["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(got, fields);
}

#[tokio::test]
async fn everything_present() {
    let (value, meta) = with_probe(full_source(), full_probe()).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": full_retries(),
            "breaker": full_breaker(),
            "max_concurrency": 4,
            "poll_interval": 2.5
        })
    );
    assert_eq!(meta["status"], "ok");
    let doc =
        ordered(QueueSection::new(Arc::new(full_source())).with_probe(Arc::new(full_probe())))
            .await;
    assert_eq!(doc.keys(), vitals_queue::fields::ALL);
    assert_eq!(doc["retries"].keys(), vitals_queue::fields::RETRIES_ALL);
    assert_eq!(
        doc.keys(),
        [
            "counts",
            "depth",
            "retries",
            "breaker",
            "max_concurrency",
            "poll_interval"
        ]
    );
}

#[tokio::test]
async fn empty_table_zero_fills_the_five_known_statuses() {
    let (value, meta) = snapshot(QueueSection::new(Arc::new(FakeQueueSource::new()))).await;
    assert_eq!(
        value,
        json!({
            "counts": {"queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0},
            "depth": 0,
            "retries": {"jobs_with_retries": 0, "total_attempts": 0, "max_attempts": 0},
            "breaker": null,
            "max_concurrency": null,
            "poll_interval": null
        })
    );
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn extra_statuses_follow_the_known_ones_sorted_by_name() {
    let source = FakeQueueSource::new().with_counts([
        ("zombie", 1),
        ("running", 2),
        ("Paused", 4),
        ("blocked", 3),
        ("queued", 7),
    ]);
    let (value, _) = snapshot(QueueSection::new(Arc::new(source.clone()))).await;
    assert_eq!(
        value["counts"],
        json!({"queued": 7, "running": 2, "done": 0, "failed": 0, "cancelled": 0,
               "Paused": 4, "blocked": 3, "zombie": 1})
    );
    let doc = ordered(QueueSection::new(Arc::new(source))).await;
    assert_eq!(
        doc["counts"].keys(),
        [
            "queued",
            "running",
            "done",
            "failed",
            "cancelled",
            "Paused",
            "blocked",
            "zombie"
        ]
    );
    assert_eq!(value["depth"], 7);
}

#[tokio::test]
async fn no_probe_gives_three_nulls_and_status_ok() {
    let (value, meta) = snapshot(QueueSection::new(Arc::new(full_source()))).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": full_retries(),
            "breaker": null,
            "max_concurrency": null,
            "poll_interval": null
        })
    );
    assert_eq!(meta["status"], "ok");
    assert!(meta.get("fields").is_none());
}

#[tokio::test]
async fn counts_failing_alone_nulls_counts_and_depth_recorded_once() {
    let source = full_source().with_counts_error("missing_table", "no such table: jobs");
    let (value, meta) = with_probe(source, full_probe()).await;
    assert_eq!(
        value,
        json!({
            "counts": null,
            "depth": null,
            "retries": full_retries(),
            "breaker": full_breaker(),
            "max_concurrency": 4,
            "poll_interval": 2.5
        })
    );
    assert_degraded(&meta, &[("counts", "missing_table")]);
    assert_eq!(meta["fields"][0]["message"], "no such table: jobs");
}

#[tokio::test]
async fn retries_failing_alone() {
    let source = full_source().with_retries_error("wrong_type", "attempts is text");
    let (value, meta) = with_probe(source, full_probe()).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": null,
            "breaker": full_breaker(),
            "max_concurrency": 4,
            "poll_interval": 2.5
        })
    );
    assert_degraded(&meta, &[("retries", "wrong_type")]);
}

#[tokio::test]
async fn breaker_failing_alone() {
    let probe = full_probe().with_breaker_error("poisoned", "breaker lock poisoned");
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": full_retries(),
            "breaker": null,
            "max_concurrency": 4,
            "poll_interval": 2.5
        })
    );
    assert_degraded(&meta, &[("breaker", "poisoned")]);
}

#[tokio::test]
async fn breaker_that_is_not_an_object_degrades_the_field() {
    for bad in [json!("open"), json!([1, 2]), json!(3), json!(true)] {
        let probe = full_probe().with_breaker(bad.clone());
        let (value, meta) = with_probe(full_source(), probe).await;
        assert_eq!(value["breaker"], Value::Null, "{bad}");
        assert_eq!(value["max_concurrency"], 4);
        assert_degraded(&meta, &[("breaker", "invalid_breaker")]);
    }
}

#[tokio::test]
async fn breaker_null_is_honest_and_not_a_failure() {
    let probe = full_probe().with_breaker(Value::Null);
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(value["breaker"], Value::Null);
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn max_concurrency_failing_alone() {
    let probe = full_probe().with_max_concurrency_error("unavailable", "worker not started");
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": full_retries(),
            "breaker": full_breaker(),
            "max_concurrency": null,
            "poll_interval": 2.5
        })
    );
    assert_degraded(&meta, &[("max_concurrency", "unavailable")]);
}

#[tokio::test]
async fn poll_interval_failing_alone() {
    let probe = full_probe().with_poll_interval_error("unavailable", "worker not started");
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(
        value,
        json!({
            "counts": full_counts(),
            "depth": 3,
            "retries": full_retries(),
            "breaker": full_breaker(),
            "max_concurrency": 4,
            "poll_interval": null
        })
    );
    assert_degraded(&meta, &[("poll_interval", "unavailable")]);
}

#[tokio::test]
async fn non_finite_poll_interval_degrades_the_field() {
    let probe = full_probe().with_poll_interval(Some(f64::NAN));
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(value["poll_interval"], Value::Null);
    assert_degraded(&meta, &[("poll_interval", "invalid_poll_interval")]);
}

#[tokio::test]
async fn probe_reporting_unknown_settings_is_not_a_failure() {
    let probe = FakeWorkerProbe::new();
    let (value, meta) = with_probe(full_source(), probe).await;
    assert_eq!(value["breaker"], Value::Null);
    assert_eq!(value["max_concurrency"], Value::Null);
    assert_eq!(value["poll_interval"], Value::Null);
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn whole_source_failure_degrades_every_field_it_feeds() {
    let source = FakeQueueSource::failing("not_a_database", "file is not a database");
    let (value, meta) = with_probe(source, full_probe()).await;
    assert_eq!(
        value,
        json!({
            "counts": null,
            "depth": null,
            "retries": null,
            "breaker": full_breaker(),
            "max_concurrency": 4,
            "poll_interval": 2.5
        })
    );
    assert_degraded(
        &meta,
        &[("counts", "not_a_database"), ("retries", "not_a_database")],
    );
}

#[tokio::test]
async fn everything_failing_still_yields_the_object() {
    let source = FakeQueueSource::failing("io", "disk gone");
    let probe = FakeWorkerProbe::new()
        .with_breaker_error("a", "a")
        .with_max_concurrency_error("b", "b")
        .with_poll_interval_error("c", "c");
    let (value, meta) = with_probe(source, probe).await;
    assert_eq!(
        value,
        json!({"counts": null, "depth": null, "retries": null, "breaker": null,
               "max_concurrency": null, "poll_interval": null})
    );
    assert_degraded(
        &meta,
        &[
            ("counts", "io"),
            ("retries", "io"),
            ("breaker", "a"),
            ("max_concurrency", "b"),
            ("poll_interval", "c"),
        ],
    );
}

/// A host probe that panics: the guard turns it into one degraded field.
#[derive(Debug)]
struct PanickingProbe;

impl WorkerProbe for PanickingProbe {
    #[expect(clippy::panic, reason = "the test is about a panicking probe")]
    fn breaker(&self) -> Result<Value, SectionError> {
        panic!("breaker exploded")
    }
    fn max_concurrency(&self) -> Result<Option<i64>, SectionError> {
        Ok(Some(1))
    }
    fn poll_interval(&self) -> Result<Option<f64>, SectionError> {
        Ok(Some(1.0))
    }
}

#[tokio::test]
async fn a_panicking_probe_degrades_only_its_field() {
    let section = QueueSection::new(Arc::new(full_source())).with_probe(Arc::new(PanickingProbe));
    let (value, meta) = snapshot(section).await;
    assert_eq!(value["breaker"], Value::Null);
    assert_eq!(value["max_concurrency"], 1);
    assert_eq!(value["poll_interval"], 1.0);
    assert_degraded(&meta, &[("breaker", "panic")]);
    assert_eq!(meta["fields"][0]["message"], "breaker exploded");
}

// ---- metrics ----

fn families(value: &Value) -> Vec<MetricFamily> {
    let section = QueueSection::new(Arc::new(FakeQueueSource::new()));
    let mut out = Vec::new();
    section.metrics(value, &mut out);
    out
}

/// (name, unit, kind, [(labels, value)]) of each family, for whole comparisons.
type Flat = Vec<(
    String,
    Option<String>,
    MetricKind,
    Vec<(Vec<(String, String)>, f64)>,
)>;

fn flat(families: &[MetricFamily]) -> Flat {
    families
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.unit.clone(),
                f.kind,
                f.samples
                    .iter()
                    .map(|s| (s.labels.clone(), s.value))
                    .collect(),
            )
        })
        .collect()
}

fn gauge(name: &str, unit: Option<&str>, samples: &[(&[(&str, &str)], f64)]) -> Flat {
    vec![(
        name.to_owned(),
        unit.map(str::to_owned),
        MetricKind::Gauge,
        samples
            .iter()
            .map(|(labels, v)| {
                (
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    *v,
                )
            })
            .collect(),
    )]
}

#[test]
fn metrics_of_a_full_value() {
    let value = json!({
        "counts": {"queued": 3, "running": 2, "done": 40, "failed": 1, "cancelled": 0, "odd": 1},
        "depth": 3,
        "retries": {"jobs_with_retries": 2, "total_attempts": 5, "max_attempts": 3},
        "breaker": {"state": "half-open", "failures": 5, "open": true, "last_error": "boom",
                    "trips_total": 9, "cool-down.s": 1.5, "nested": {"x": 1}},
        "max_concurrency": 4,
        "poll_interval": 2.5
    });
    let expected: Flat = [
        gauge(
            "vitals_jobs",
            None,
            &[
                (&[("status", "queued")], 3.0),
                (&[("status", "running")], 2.0),
                (&[("status", "done")], 40.0),
                (&[("status", "failed")], 1.0),
                (&[("status", "cancelled")], 0.0),
                (&[("status", "odd")], 1.0),
            ],
        ),
        gauge("vitals_queue_depth", None, &[(&[], 3.0)]),
        gauge("vitals_queue_jobs_with_retries", None, &[(&[], 2.0)]),
        gauge("vitals_queue_attempts", None, &[(&[], 5.0)]),
        gauge("vitals_queue_max_attempts", None, &[(&[], 3.0)]),
        gauge("vitals_queue_max_concurrency", None, &[(&[], 4.0)]),
        gauge("vitals_queue_poll_interval", Some("seconds"), &[(&[], 2.5)]),
        gauge(
            "vitals_breaker_state",
            None,
            &[(&[("state", "half-open")], 1.0)],
        ),
        // One family per field, in field-name order (a JSON object's keys
        // carry no order of their own).
        gauge("vitals_breaker_cool_down_s", None, &[(&[], 1.5)]),
        gauge("vitals_breaker_failures", None, &[(&[], 5.0)]),
        gauge("vitals_breaker_open", None, &[(&[], 1.0)]),
        gauge("vitals_breaker_trips_total_value", None, &[(&[], 9.0)]),
    ]
    .concat();
    assert_eq!(flat(&families(&value)), expected);
}

#[test]
fn metrics_skip_nulls() {
    let value = json!({"counts": null, "depth": null, "retries": null, "breaker": null,
                       "max_concurrency": null, "poll_interval": null});
    assert!(families(&value).is_empty());
    assert!(families(&Value::Null).is_empty());
    // A breaker without a string state has no state family.
    let value = json!({"breaker": {"state": null, "failures": 1}});
    assert_eq!(
        flat(&families(&value)),
        gauge("vitals_breaker_failures", None, &[(&[], 1.0)])
    );
}

#[test]
fn breaker_fields_colliding_after_sanitizing_keep_the_first() {
    let value = json!({"breaker": {"a-b": 1, "a_b": 2, "state": "closed"}});
    let names: Vec<String> = families(&value).into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["vitals_breaker_state", "vitals_breaker_a_b"]);
    assert_eq!(families(&value)[1].samples[0].value, 1.0);
}

#[test]
fn a_typed_breaker_snapshot_gives_the_state_an_alert_selects_on() {
    use vitals_queue::{BreakerSnapshot, BreakerState};
    let breaker = BreakerSnapshot::new(BreakerState::Open)
        .with_field("consecutive_failures", 5)
        .into_value();
    let value = json!({ "breaker": breaker });
    let expected: Flat = [
        gauge("vitals_breaker_state", None, &[(&[("state", "open")], 1.0)]),
        gauge("vitals_breaker_consecutive_failures", None, &[(&[], 5.0)]),
    ]
    .concat();
    assert_eq!(flat(&families(&value)), expected);
}

// ---- registry ----

#[tokio::test]
async fn factory_needs_a_queue_source_and_uses_a_probe_when_present() {
    assert!(vitals_queue::factory(&Resources::new()).is_none());
    let probe: Arc<dyn WorkerProbe> = Arc::new(full_probe());
    assert!(vitals_queue::factory(&Resources::new().with(probe.clone())).is_none());

    let source: Arc<dyn QueueSource> = Arc::new(full_source());
    let without = vitals_queue::factory(&Resources::new().with(source.clone())).unwrap();
    assert_eq!((without.key(), without.order()), (KEY, ORDER));
    let cx = vitals_core::Collect::standalone(None, std::time::Duration::from_secs(1));
    assert_eq!(
        without.collect(&cx).await.unwrap().to_value()["max_concurrency"],
        Value::Null
    );

    let with = vitals_queue::factory(&Resources::new().with(source).with(probe)).unwrap();
    assert_eq!(
        with.collect(&cx).await.unwrap().to_value()["max_concurrency"],
        4
    );
}

#[tokio::test]
async fn registered_under_its_key_and_order() {
    let descriptor = vitals_core::registered()
        .into_iter()
        .find(|d| d.name == KEY)
        .unwrap();
    assert_eq!(descriptor.order, ORDER);
    let source: Arc<dyn QueueSource> = Arc::new(full_source());
    let assembler = Assembler::builder()
        .registered(&Resources::new().with(source))
        .build()
        .unwrap();
    assert_eq!(assembler.build().await.body()[KEY]["depth"], 3);
}
