//! Contract v1 held in place: the golden shape, and a whole golden snapshot.
//!
//! * `docs/contract/v1.shape.json` is the shape of contract v1. A change that
//!   removes or retypes a path fails here unless `schema_version` is bumped.
//!   Additive changes pass; refresh the file with
//!   `UPDATE_CONTRACT=1 cargo test -p vitals --test contract`.
//! * `tests/golden/populated.json` is a whole snapshot of the built-in sections
//!   over `vitals::fake::populated()` with a fixed clock. Refresh it with
//!   `UPDATE_EXPECT=1 cargo test -p vitals --test contract` and read the diff.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use vitals::core::testing::shape::{Golden, Verdict};
use vitals::core::testing::{OrderedJson, SnapshotExt};
use vitals::{
    Assembler, Collect, Fallback, FixedClock, Section, SectionError, SectionValue, Snapshot,
    async_trait,
};

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn builder() -> vitals::AssemblerBuilder {
    Assembler::builder()
        .clock(FixedClock::at(vitals::fake::at()))
        .clk_tck(|| Some(100))
        .descriptors(vitals::BUILTIN.iter(), &vitals::fake::populated())
}

async fn populated() -> Arc<Snapshot> {
    let assembler = builder().build().unwrap();
    let snapshot = assembler.build().await;
    for report in snapshot.reports() {
        assert_eq!(
            report.status,
            vitals::SectionStatus::Ok,
            "{} did not build cleanly: {report:?}",
            report.key
        );
    }
    snapshot
}

async fn populated_body() -> Value {
    populated().await.body().clone()
}

#[tokio::test]
async fn the_output_keeps_the_golden_shape_of_its_schema_version() {
    let body = populated_body().await;
    let version = body["schema_version"].as_u64().unwrap();
    let path = repo_file(&format!("docs/contract/v{version}.shape.json"));
    let update = std::env::var_os("UPDATE_CONTRACT").is_some();

    let golden: Option<Golden> = std::fs::read_to_string(&path)
        .ok()
        .map(|text| serde_json::from_str(&text).expect("the golden shape file parses"));
    let verdict = golden.as_ref().map(|g| g.verdict(&body));
    match (&verdict, update) {
        (Some(Verdict::Breaking(diff)), _) => {
            let lines: Vec<String> = diff.breaking.iter().map(ToString::to_string).collect();
            panic!(
                "the snapshot breaks contract v{version} ({}):\n  {}\n\
                 Undo the change, or make it a new contract version: bump SCHEMA_VERSION \
                 and run UPDATE_CONTRACT=1 cargo test -p vitals --test contract \
                 to write docs/contract/v{{N}}.shape.json.",
                path.display(),
                lines.join("\n  ")
            );
        }
        (None | Some(Verdict::Additive(_) | Verdict::NewVersion { .. }), true) => {
            let text = serde_json::to_string_pretty(&Golden::of(&body)).unwrap();
            std::fs::write(&path, text + "\n").unwrap();
            eprintln!("wrote {}", path.display());
        }
        (None, false) => panic!(
            "no golden shape for schema_version {version} at {}: run \
             UPDATE_CONTRACT=1 cargo test -p vitals --test contract",
            path.display()
        ),
        (Some(Verdict::NewVersion { golden, current }), false) => {
            panic!("golden file says v{golden}, snapshot says {current:?}: run UPDATE_CONTRACT=1")
        }
        (Some(Verdict::Additive(paths)), false) => eprintln!(
            "additive change (no version bump needed): {paths:?}\n\
             refresh the golden shape with UPDATE_CONTRACT=1 cargo test -p vitals --test contract"
        ),
        (Some(_), _) => {}
    }
}

#[tokio::test]
async fn the_populated_snapshot_matches_its_golden_file() {
    let actual = populated().await.pretty_json_with_zero_timings() + "\n";
    let path = repo_file("tests/golden/populated.json");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the snapshot differs from {}; if the change is intended, refresh it with \
         UPDATE_EXPECT=1 cargo test -p vitals --test contract\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[tokio::test]
async fn every_v1_field_is_present_in_contract_order() {
    let body = OrderedJson::parse(populated().await.to_json()).unwrap();
    let keys =
        |v: &OrderedJson| -> Vec<String> { v.keys().into_iter().map(str::to_owned).collect() };
    assert_eq!(
        keys(&body),
        [
            "schema_version",
            "generated_at",
            "clk_tck",
            "stages",
            "queue",
            "agents",
            "cost",
            "collector"
        ]
    );
    assert_eq!(
        keys(&body["stages"][0]),
        ["work_item", "stage", "age_in_stage_s", "repo", "task_id"]
    );
    assert_eq!(
        keys(&body["queue"]),
        [
            "counts",
            "depth",
            "retries",
            "breaker",
            "max_concurrency",
            "poll_interval"
        ]
    );
    assert_eq!(
        keys(&body["queue"]["counts"]),
        ["queued", "running", "done", "failed", "cancelled"]
    );
    assert_eq!(
        keys(&body["queue"]["retries"]),
        ["jobs_with_retries", "total_attempts", "max_attempts"]
    );
    assert_eq!(
        keys(&body["agents"][0])[..9],
        [
            "agent",
            "run_id",
            "job_id",
            "repo",
            "pid",
            "runtime_s",
            "model",
            "effort",
            "cpu_ticks"
        ]
    );
    assert_eq!(keys(&body["cost"]), ["running", "aggregate"]);
    assert_eq!(
        keys(&body["cost"]["running"][0]),
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
        keys(&body["cost"]["aggregate"]),
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

/// A section a team might add: it must not need a version bump.
#[derive(Debug)]
struct Disk;

#[async_trait]
impl Section for Disk {
    fn key(&self) -> &str {
        "disk"
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        Ok(json!({"path": "/var/lib/orchestrator", "free_bytes": 123_456_789}).into())
    }
}

#[tokio::test]
async fn a_new_section_is_additive() {
    let base = Golden::of(&populated_body().await);
    let snapshot = builder().section(Disk).build().unwrap().build().await;
    match base.verdict(snapshot.body()) {
        Verdict::Additive(paths) => assert_eq!(
            paths,
            [
                "collector.sections.disk",
                "collector.sections.disk.elapsed_ms",
                "collector.sections.disk.status",
                "disk",
                "disk.free_bytes",
                "disk.path"
            ]
        ),
        other => panic!("expected an additive change, got {other:?}"),
    }
}

#[tokio::test]
async fn removing_or_retyping_a_field_is_breaking() {
    let body = populated_body().await;
    let golden = Golden::of(&body);

    let mut removed = body.clone();
    removed["queue"].as_object_mut().unwrap().remove("depth");
    assert!(matches!(golden.verdict(&removed), Verdict::Breaking(_)));

    let mut retyped = body.clone();
    retyped["agents"][0]["cpu_ticks"] = json!("1234");
    let Verdict::Breaking(diff) = golden.verdict(&retyped) else {
        panic!("a retyped field must break");
    };
    assert_eq!(diff.breaking[0].path, "agents[].cpu_ticks");
}

#[tokio::test]
async fn failed_sections_keep_the_shape() {
    // Fallbacks (`[]`, `null`) are compatible with the golden shape: a
    // consumer of v1 reads a degraded snapshot unchanged.
    let golden = Golden::of(&populated_body().await);
    let snapshot = Assembler::builder()
        .clock(FixedClock::at(vitals::fake::at()))
        .descriptors(vitals::BUILTIN.iter(), &broken_resources())
        .build()
        .unwrap()
        .build()
        .await;
    let verdict = golden.verdict(snapshot.body());
    assert!(
        !matches!(verdict, Verdict::Breaking(_)),
        "a degraded snapshot broke the shape: {verdict:?}"
    );
    assert_eq!(snapshot.body()["stages"], json!([]));
    assert_eq!(snapshot.body()["agents"], json!([]));
}

fn broken_resources() -> vitals::Resources {
    use vitals::prelude::*;
    Resources::new()
        .with::<Arc<dyn StageSource>>(Arc::new(vitals::stages::fake::FakeStageSource::failing(
            "io", "gone",
        )))
        .with::<Arc<dyn QueueSource>>(Arc::new(vitals::queue::fake::FakeQueueSource::failing(
            "io", "gone",
        )))
        .with::<Arc<dyn AgentSource>>(Arc::new(vitals::agents::fake::FakeAgentSource::failing(
            "io", "gone",
        )))
        .with::<Arc<dyn CostSource>>(Arc::new(vitals::cost::fake::FakeCostSource::failing(
            "io", "gone",
        )))
}
