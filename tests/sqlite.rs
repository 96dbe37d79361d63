//! End to end through the facade on real SQLite files: a generated database,
//! a broken one, and the read-only promise.

#![expect(clippy::expect_used, reason = "test helpers outside #[test] functions")]
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use vitals::core::testing::shape::{Golden, Verdict};
use vitals::proc::{LinuxProc, ProcSource};
use vitals::sqlite::SqliteStore;
use vitals::{Assembler, SectionStatus};
use vitals_refdb::{GenOptions, Scale, Shape};

fn generate(path: &Path) {
    let mut options = GenOptions::new(Shape::of(Scale::S), 7);
    options.now = vitals::fake::at();
    // Pids that no kernel hands out (its pid_max is at most PID_MAX_LIMIT):
    // the process of every agent is certainly not there.
    options.pid_max = vitals_refdb::PID_MAX_LIMIT + 100;
    vitals_refdb::generate(path, &options).expect("generate S");
}

fn assembler(db: &Path) -> Assembler {
    let mut resources = SqliteStore::open(db).resources();
    resources.insert::<Arc<dyn ProcSource>>(Arc::new(LinuxProc::new()));
    Assembler::builder()
        .clock(vitals::FixedClock::at(vitals::fake::at()))
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .expect("built-in keys are valid")
}

fn status(body: &Value, key: &str) -> String {
    body["collector"]["sections"][key]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_generated_database_fills_every_section_in_contract_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchestrator.db");
    generate(&db);
    let snapshot = assembler(&db).build().await;
    let body = snapshot.body();

    assert_eq!(body["stages"].as_array().unwrap().len(), 20);
    assert_eq!(body["queue"]["counts"]["running"], 8);
    assert_eq!(body["queue"]["depth"], body["queue"]["counts"]["queued"]);
    assert_eq!(body["agents"].as_array().unwrap().len(), 8);
    assert_eq!(body["cost"]["running"].as_array().unwrap().len(), 8);
    assert_eq!(body["cost"]["aggregate"]["runs"], 10_000);
    // Running jobs' latest runs are unfinished: null, never 0.
    assert!(
        body["cost"]["running"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cost_usd"].is_null())
    );
    for key in ["stages", "queue", "cost"] {
        assert_eq!(status(body, key), "ok", "{key}: {}", body["collector"]);
    }
    // The pids are beyond any kernel's pid_max: the agents are there,
    // their process fields are null, and the meta section says why.
    assert_eq!(status(body, "agents"), "degraded");
    assert!(
        body["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["cpu_ticks"].is_null())
    );
    assert_eq!(
        body["collector"]["sections"]["agents"]["fields"][0]["kind"],
        "invalid_pid"
    );

    let golden_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/contract/v1.shape.json"),
    )
    .unwrap();
    let golden: Golden = serde_json::from_str(&golden_text).unwrap();
    let verdict = golden.verdict(body);
    assert!(
        matches!(verdict, Verdict::Same | Verdict::Additive(_)),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_missing_table_degrades_only_the_sections_that_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchestrator.db");
    generate(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE agent_runs;")
        .unwrap();
    let snapshot = assembler(&db).build().await;
    let body = snapshot.body();
    assert_eq!(status(body, "stages"), "ok");
    assert_eq!(status(body, "queue"), "ok");
    // cost: both fields read agent_runs and fall back; the section stands.
    assert_eq!(body["cost"], json!({"running": [], "aggregate": null}));
    assert_eq!(status(body, "cost"), "degraded");
    let kinds: Vec<_> = body["collector"]["sections"]["cost"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["missing_table", "missing_table"]);
}

#[tokio::test]
async fn a_missing_database_degrades_every_section_and_recovers_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("later.db");
    let assembler = assembler(&db);

    let first = assembler.build().await;
    assert_eq!(first.body()["stages"], json!([]));
    assert_eq!(first.body()["agents"], json!([]));
    assert_eq!(
        first.report("stages").unwrap().status,
        SectionStatus::Error,
        "{}",
        first.body()["collector"]
    );
    assert_eq!(
        first.body()["collector"]["sections"]["stages"]["error"]["kind"],
        "no_database"
    );

    generate(&db);
    let second = assembler.build().await;
    assert_eq!(second.report("stages").unwrap().status, SectionStatus::Ok);
    assert_eq!(second.body()["stages"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn a_build_leaves_the_directory_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchestrator.db");
    generate(&db);
    // An orchestrator holding the database open in WAL mode.
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch("PRAGMA journal_mode=WAL; UPDATE tasks SET repo = repo WHERE id = 1;")
        .unwrap();

    let listing = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                // Readers legitimately update the shared-memory index.
                let bytes = if name.ends_with("-shm") {
                    Vec::new()
                } else {
                    std::fs::read(e.path()).unwrap()
                };
                (name, bytes)
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    let assembler = assembler(&db);
    for _ in 0..3 {
        let snapshot = assembler.build().await;
        assert_eq!(snapshot.report("stages").unwrap().status, SectionStatus::Ok);
    }
    assert_eq!(listing(), before, "a build changed or created a file");
    drop(writer);
}
