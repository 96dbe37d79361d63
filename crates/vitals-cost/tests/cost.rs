#![expect(clippy::unwrap_used, reason = "tests")]
//! The `cost` section against its fake, through the real assembler.

use std::sync::Arc;

use serde_json::{Value, json};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{Assembler, FixedClock, Resources, Section};
use vitals_cost::fake::FakeCostSource;
use vitals_cost::{CostSection, CostSource, CostTotals, KEY, ORDER, RunningCost};

async fn snapshot(source: FakeCostSource) -> (Value, Value) {
    let assembler = Assembler::builder()
        .clock(FixedClock::broken())
        .section(CostSection::new(Arc::new(source)))
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
async fn ordered(source: FakeCostSource) -> OrderedJson {
    let assembler = Assembler::builder()
        .section(CostSection::new(Arc::new(source)))
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    OrderedJson::parse(snapshot.to_json()).unwrap()[KEY].clone()
}

fn finished(job: i64) -> RunningCost {
    RunningCost {
        run_id: Some(job * 10),
        job_id: Some(job),
        agent: Some("coder".into()),
        cost_usd: Some(0.75),
        input_tokens: Some(1000),
        output_tokens: Some(200),
        cache_read_tokens: Some(5000),
        cache_creation_tokens: Some(300),
    }
}

fn unfinished(job: i64) -> RunningCost {
    RunningCost {
        run_id: Some(job * 10),
        job_id: Some(job),
        agent: Some("reviewer".into()),
        ..RunningCost::default()
    }
}

const TOTALS: CostTotals = CostTotals {
    runs: 12,
    cost_usd: 3.5,
    input_tokens: 10_000,
    output_tokens: 2_000,
    cache_read_tokens: 50_000,
    cache_creation_tokens: 3_000,
};

fn totals_json() -> Value {
    json!({"runs": 12, "cost_usd": 3.5, "input_tokens": 10_000, "output_tokens": 2_000,
           "cache_read_tokens": 50_000, "cache_creation_tokens": 3_000})
}

fn finished_json(job: i64) -> Value {
    json!({"run_id": job * 10, "job_id": job, "agent": "coder", "cost_usd": 0.75,
           "input_tokens": 1000, "output_tokens": 200, "cache_read_tokens": 5000,
           "cache_creation_tokens": 300})
}

fn unfinished_json(job: i64) -> Value {
    json!({"run_id": job * 10, "job_id": job, "agent": "reviewer", "cost_usd": null,
           "input_tokens": null, "output_tokens": null, "cache_read_tokens": null,
           "cache_creation_tokens": null})
}

fn failed_fields(meta: &Value) -> Vec<(&str, &str)> {
    meta["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn running_and_aggregate_in_contract_order() {
    let source = FakeCostSource::new()
        .with_running(vec![finished(1), unfinished(2)])
        .with_totals(TOTALS);
    let (value, meta) = snapshot(source.clone()).await;
    assert_eq!(
        value,
        json!({"running": [finished_json(1), unfinished_json(2)], "aggregate": totals_json()})
    );
    assert_eq!(meta["status"], "ok");
    let doc = ordered(source).await;
    assert_eq!(doc.keys(), ["running", "aggregate"]);
    assert_eq!(doc.keys(), vitals_cost::fields::ALL);
    assert_eq!(doc["running"][0].keys(), vitals_cost::fields::RUNNING_ALL);
    assert_eq!(doc["aggregate"].keys(), vitals_cost::fields::AGGREGATE_ALL);
    assert_eq!(
        doc["running"][0].keys(),
        [
            "run_id",
            "job_id",
            "agent",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens"
        ]
    );
    assert_eq!(
        doc["aggregate"].keys(),
        [
            "runs",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens"
        ]
    );
}

#[tokio::test]
async fn empty_table_gives_zeros_with_a_float_cost() {
    let (value, meta) = snapshot(FakeCostSource::new()).await;
    assert_eq!(
        value,
        json!({"running": [], "aggregate": {"runs": 0, "cost_usd": 0.0, "input_tokens": 0,
               "output_tokens": 0, "cache_read_tokens": 0, "cache_creation_tokens": 0}})
    );
    assert_eq!(meta["status"], "ok");
    // A float, not the integer 0, on the wire too.
    assert!(value["aggregate"]["cost_usd"].is_f64());
    assert_ne!(value["aggregate"]["cost_usd"], json!(0));
    let text = serde_json::to_string(&value["aggregate"]).unwrap();
    assert!(text.contains("\"cost_usd\":0.0"), "{text}");
}

#[tokio::test]
async fn a_whole_dollar_cost_stays_a_float() {
    let source = FakeCostSource::new().with_totals(CostTotals {
        runs: 1,
        cost_usd: 2.0,
        ..CostTotals::default()
    });
    let (value, _) = snapshot(source).await;
    assert!(value["aggregate"]["cost_usd"].is_f64());
    assert_eq!(value["aggregate"]["cost_usd"], json!(2.0));
}

#[tokio::test]
async fn an_unfinished_run_has_null_cost_fields() {
    let source = FakeCostSource::new().with_running(vec![unfinished(3)]);
    let (value, _) = snapshot(source).await;
    assert_eq!(value["running"], json!([unfinished_json(3)]));
}

#[tokio::test]
async fn a_job_without_a_run_yet_is_all_null_but_its_job() {
    let source = FakeCostSource::new().with_running(vec![RunningCost {
        job_id: Some(4),
        agent: Some("coder".into()),
        ..RunningCost::default()
    }]);
    let (value, _) = snapshot(source).await;
    assert_eq!(
        value["running"],
        json!([{"run_id": null, "job_id": 4, "agent": "coder", "cost_usd": null,
                "input_tokens": null, "output_tokens": null, "cache_read_tokens": null,
                "cache_creation_tokens": null}])
    );
}

#[tokio::test]
async fn running_failing_alone_gives_an_empty_array() {
    let source = FakeCostSource::new()
        .with_running_error("wrong_type", "cost_usd is text")
        .with_totals(TOTALS);
    let (value, meta) = snapshot(source).await;
    assert_eq!(value, json!({"running": [], "aggregate": totals_json()}));
    assert_eq!(meta["status"], "degraded");
    assert_eq!(failed_fields(&meta), [("running", "wrong_type")]);
    assert_eq!(meta["fields"][0]["message"], "cost_usd is text");
}

#[tokio::test]
async fn aggregate_failing_alone_gives_null() {
    let source = FakeCostSource::new()
        .with_running(vec![finished(1)])
        .with_totals_error("missing_table", "no such table: agent_runs");
    let (value, meta) = snapshot(source).await;
    assert_eq!(
        value,
        json!({"running": [finished_json(1)], "aggregate": null})
    );
    assert_eq!(meta["status"], "degraded");
    assert_eq!(failed_fields(&meta), [("aggregate", "missing_table")]);
}

#[tokio::test]
async fn whole_source_failure_degrades_both_fields() {
    let (value, meta) = snapshot(FakeCostSource::failing(
        "not_a_database",
        "file is not a database",
    ))
    .await;
    assert_eq!(value, json!({"running": [], "aggregate": null}));
    assert_eq!(
        failed_fields(&meta),
        [
            ("running", "not_a_database"),
            ("aggregate", "not_a_database")
        ]
    );
}

#[tokio::test]
async fn a_non_finite_cost_is_null_not_a_broken_document() {
    let mut run = finished(1);
    run.cost_usd = Some(f64::NAN);
    let source = FakeCostSource::new()
        .with_running(vec![run])
        .with_totals(CostTotals {
            cost_usd: f64::INFINITY,
            ..TOTALS
        });
    let (value, _) = snapshot(source).await;
    assert_eq!(value["running"][0]["cost_usd"], Value::Null);
    assert_eq!(value["aggregate"]["cost_usd"], Value::Null);
    assert_eq!(value["aggregate"]["runs"], 12);
}

// ---- metrics ----

fn families(value: &Value) -> Vec<MetricFamily> {
    let section = CostSection::new(Arc::new(FakeCostSource::new()));
    let mut out = Vec::new();
    section.metrics(value, &mut out);
    out
}

type Flat = Vec<(String, MetricKind, Vec<(Vec<(String, String)>, f64)>)>;

fn flat(families: &[MetricFamily]) -> Flat {
    families
        .iter()
        .map(|f| {
            assert_eq!(f.unit, None, "{}", f.name);
            (
                f.name.clone(),
                f.kind,
                f.samples
                    .iter()
                    .map(|s| (s.labels.clone(), s.value))
                    .collect(),
            )
        })
        .collect()
}

fn family(name: &str, kind: MetricKind, samples: &[(&[(&str, &str)], f64)]) -> Flat {
    vec![(
        name.to_owned(),
        kind,
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
    let value =
        json!({"running": [finished_json(1), unfinished_json(2)], "aggregate": totals_json()});
    let expected: Flat = [
        family("vitals_cost_usd", MetricKind::Counter, &[(&[], 3.5)]),
        family(
            "vitals_tokens",
            MetricKind::Counter,
            &[
                (&[("kind", "input")], 10_000.0),
                (&[("kind", "output")], 2_000.0),
                (&[("kind", "cache_read")], 50_000.0),
                (&[("kind", "cache_creation")], 3_000.0),
            ],
        ),
        family("vitals_runs", MetricKind::Counter, &[(&[], 12.0)]),
        family(
            "vitals_running_cost_usd",
            MetricKind::Gauge,
            &[(
                &[("run_id", "10"), ("job_id", "1"), ("agent", "coder")],
                0.75,
            )],
        ),
    ]
    .concat();
    assert_eq!(flat(&families(&value)), expected);
}

#[test]
fn metrics_skip_nulls_and_fallbacks() {
    assert!(families(&Value::Null).is_empty());
    assert!(families(&json!({"running": [], "aggregate": null})).is_empty());
    assert!(families(&json!({"running": [unfinished_json(2)], "aggregate": null})).is_empty());
    let partial = json!({"running": [], "aggregate": {"runs": 2, "cost_usd": null}});
    assert_eq!(
        flat(&families(&partial)),
        family("vitals_runs", MetricKind::Counter, &[(&[], 2.0)])
    );
}

#[test]
fn counter_names_do_not_end_in_total() {
    let value = json!({"running": [finished_json(1)], "aggregate": totals_json()});
    for f in families(&value) {
        assert!(!f.name.ends_with("_total"), "{}", f.name);
    }
}

// ---- registry ----

#[tokio::test]
async fn factory_needs_a_cost_source() {
    assert!(vitals_cost::factory(&Resources::new()).is_none());
    let source: Arc<dyn CostSource> = Arc::new(FakeCostSource::new().with_totals(TOTALS));
    let section = vitals_cost::factory(&Resources::new().with(source.clone())).unwrap();
    assert_eq!((section.key(), section.order()), (KEY, ORDER));

    let descriptor = vitals_core::registered()
        .into_iter()
        .find(|d| d.name == KEY)
        .unwrap();
    assert_eq!(descriptor.order, ORDER);
    let assembler = Assembler::builder()
        .registered(&Resources::new().with(source))
        .build()
        .unwrap();
    assert_eq!(
        assembler.build().await.body()[KEY],
        json!({"running": [], "aggregate": totals_json()})
    );
}
