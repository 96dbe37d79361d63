#![expect(clippy::unwrap_used, reason = "tests")]
//! The `stages` section against its fake, through the real assembler.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{Assembler, FixedClock, Resources, Section};
use vitals_stages::fake::FakeStageSource;
use vitals_stages::{KEY, ORDER, StageRow, StageSource, StagesSection};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap()
}

fn row(id: i64, stage: &str, age_s: Option<i64>) -> StageRow {
    StageRow {
        task_id: Some(id),
        work_item: Some(format!("WI-{id}")),
        stage: Some(stage.to_owned()),
        repo: Some("app".to_owned()),
        stage_entered_at: age_s.map(|s| now() - Duration::seconds(s)),
    }
}

/// Builds one snapshot with `source` and `clock`; returns the section's value and its meta entry.
async fn snapshot(source: FakeStageSource, clock: FixedClock) -> (Value, Value) {
    let assembler = Assembler::builder()
        .clock(clock)
        .section(StagesSection::new(Arc::new(source)))
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let body = snapshot.body();
    (
        body[KEY].clone(),
        body["collector"]["sections"][KEY].clone(),
    )
}

async fn check(rows: Vec<StageRow>, expected: Value) {
    let (value, meta) = snapshot(FakeStageSource::new(rows), FixedClock::at(now())).await;
    assert_eq!(value, expected);
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn active_tasks_in_contract_order() {
    check(
        vec![row(1, "analysis", Some(5)), row(2, "review", Some(3600))],
        json!([
            {"work_item": "WI-1", "stage": "analysis", "age_in_stage_s": 5, "repo": "app", "task_id": 1},
            {"work_item": "WI-2", "stage": "review", "age_in_stage_s": 3600, "repo": "app", "task_id": 2},
        ]),
    )
    .await;
}

#[tokio::test]
async fn key_order_is_the_contracts() {
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .section(StagesSection::new(Arc::new(FakeStageSource::new(vec![
            row(1, "queued", Some(0)),
        ]))))
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let doc = OrderedJson::parse(snapshot.to_json()).unwrap();
    assert_eq!(
        doc[KEY][0].keys(),
        ["work_item", "stage", "age_in_stage_s", "repo", "task_id"]
    );
    assert_eq!(doc[KEY][0].keys(), vitals_stages::fields::ALL);
}

#[tokio::test]
async fn terminal_stages_are_filtered_whatever_the_source_returns() {
    check(
        vec![
            row(1, "done", Some(1)),
            row(2, "testing", Some(2)),
            row(3, "cancelled", Some(3)),
        ],
        json!([{"work_item": "WI-2", "stage": "testing", "age_in_stage_s": 2, "repo": "app", "task_id": 2}]),
    )
    .await;
    check(
        vec![row(1, "done", Some(1)), row(2, "cancelled", None)],
        json!([]),
    )
    .await;
    check(Vec::new(), json!([])).await;
}

#[tokio::test]
async fn unknown_stage_text_passes_through_and_filtering_is_exact() {
    check(
        vec![row(1, "blocked-on-human", Some(10)), row(2, "Done", Some(1))],
        json!([
            {"work_item": "WI-1", "stage": "blocked-on-human", "age_in_stage_s": 10, "repo": "app", "task_id": 1},
            {"work_item": "WI-2", "stage": "Done", "age_in_stage_s": 1, "repo": "app", "task_id": 2},
        ]),
    )
    .await;
}

#[tokio::test]
async fn missing_values_are_null() {
    check(
        vec![
            row(1, "review", None),
            StageRow::default(),
        ],
        json!([
            {"work_item": "WI-1", "stage": "review", "age_in_stage_s": null, "repo": "app", "task_id": 1},
            {"work_item": null, "stage": null, "age_in_stage_s": null, "repo": null, "task_id": null},
        ]),
    )
    .await;
}

#[tokio::test]
async fn ages_floor_and_may_be_negative_under_skew() {
    let mut sub_second = row(1, "review", None);
    sub_second.stage_entered_at = Some(now() - Duration::milliseconds(1999));
    let future = row(2, "review", Some(-30));
    check(
        vec![sub_second, future],
        json!([
            {"work_item": "WI-1", "stage": "review", "age_in_stage_s": 1, "repo": "app", "task_id": 1},
            {"work_item": "WI-2", "stage": "review", "age_in_stage_s": -30, "repo": "app", "task_id": 2},
        ]),
    )
    .await;
}

#[tokio::test]
async fn broken_clock_gives_null_ages() {
    let (value, meta) = snapshot(
        FakeStageSource::new(vec![row(1, "review", Some(60))]),
        FixedClock::broken(),
    )
    .await;
    assert_eq!(
        value,
        json!([{"work_item": "WI-1", "stage": "review", "age_in_stage_s": null, "repo": "app", "task_id": 1}])
    );
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn source_error_gives_empty_array_and_an_error_status() {
    let (value, meta) = snapshot(
        FakeStageSource::failing("missing_table", "no such table: tasks"),
        FixedClock::at(now()),
    )
    .await;
    assert_eq!(value, json!([]));
    assert_eq!(meta["status"], "error");
    assert_eq!(
        meta["error"],
        json!({"kind": "missing_table", "message": "no such table: tasks"})
    );
}

#[tokio::test]
async fn the_fake_can_change_between_snapshots() {
    let fake = Arc::new(FakeStageSource::failing("busy", "database is locked"));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .section(StagesSection::new(fake.clone()))
        .build()
        .unwrap();
    assert_eq!(assembler.build().await.body()[KEY], json!([]));
    fake.set_rows(vec![row(4, "implementation", Some(7))]);
    assert_eq!(
        assembler.build().await.body()[KEY],
        json!([{"work_item": "WI-4", "stage": "implementation", "age_in_stage_s": 7, "repo": "app", "task_id": 4}])
    );
    assert_eq!(fake.calls(), 2);
}

// ---- metrics ----

fn families(value: &Value) -> Vec<MetricFamily> {
    let section = StagesSection::new(Arc::new(FakeStageSource::default()));
    let mut out = Vec::new();
    section.metrics(value, &mut out);
    out
}

#[test]
fn metrics_one_gauge_per_task_with_an_age() {
    let out = families(&json!([
        {"work_item": "WI-1", "stage": "review", "age_in_stage_s": 12, "repo": "app", "task_id": 1},
        {"work_item": null, "stage": "queued", "age_in_stage_s": 3, "task_id": 2},
        {"work_item": "WI-3", "stage": "review", "age_in_stage_s": null, "repo": "app", "task_id": 3},
    ]));
    assert_eq!(out.len(), 1);
    let family = &out[0];
    assert_eq!(family.name, "vitals_task_age_in_stage");
    assert_eq!(family.unit.as_deref(), Some("seconds"));
    assert_eq!(family.kind, MetricKind::Gauge);
    assert_eq!(family.samples.len(), 2);
    let labels = |i: usize| -> Vec<(&str, &str)> {
        family.samples[i]
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    };
    assert_eq!(
        labels(0),
        [
            ("work_item", "WI-1"),
            ("stage", "review"),
            ("repo", "app"),
            ("task_id", "1")
        ]
    );
    assert_eq!(family.samples[0].value, 12.0);
    assert_eq!(
        labels(1),
        [
            ("work_item", ""),
            ("stage", "queued"),
            ("repo", ""),
            ("task_id", "2")
        ]
    );
    assert_eq!(family.samples[1].value, 3.0);
}

#[test]
fn metrics_of_a_fallback_or_empty_value_are_nothing() {
    assert!(families(&json!([])).is_empty());
    assert!(families(&Value::Null).is_empty());
    assert!(families(&json!([{"age_in_stage_s": null}])).is_empty());
}

// ---- registry ----

#[test]
fn factory_needs_a_stage_source() {
    assert!(vitals_stages::factory(&Resources::new()).is_none());
    let source: Arc<dyn StageSource> = Arc::new(FakeStageSource::default());
    let section = vitals_stages::factory(&Resources::new().with(source)).unwrap();
    assert_eq!(section.key(), KEY);
    assert_eq!(section.order(), ORDER);
}

#[tokio::test]
async fn registered_under_its_key_and_order() {
    let descriptor = vitals_core::registered()
        .into_iter()
        .find(|d| d.name == KEY)
        .unwrap();
    assert_eq!(descriptor.order, ORDER);
    assert!((descriptor.factory)(&Resources::new()).is_none());

    let source: Arc<dyn StageSource> =
        Arc::new(FakeStageSource::new(vec![row(1, "review", Some(2))]));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .registered(&Resources::new().with(source))
        .build()
        .unwrap();
    assert!(assembler.keys().contains(&KEY));
    assert_eq!(assembler.build().await.body()[KEY][0]["age_in_stage_s"], 2);
}
