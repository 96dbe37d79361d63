//! `doctor` on real database files: healthy, without indexes, broken, read-only.
//! Unix only, as the doctor is (elsewhere it answers `unsupported`: see
//! `src/connection/unsupported.rs`).
#![cfg(unix)]
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::path::Path;

use vitals_refdb::{GenOptions, Scale, Shape};
use vitals_sqlite::doctor::diagnose;

fn generate(path: &Path, indexes: bool, wal: bool) {
    let mut options = GenOptions::new(Shape::of(Scale::S), 3);
    options.indexes = indexes;
    options.wal = wal;
    vitals_refdb::generate(path, &options).unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_generated_database_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ok.db");
    generate(&db, true, true);
    let report = diagnose(&db).unwrap();
    assert_eq!(report.journal_mode, "wal");
    assert_eq!(report.problems(), Vec::<String>::new(), "{report}");
    assert!(!report.needs_attention());
    let text = report.to_string();
    assert!(text.contains("all is well"), "{text}");
    assert!(text.contains("idx_tasks_active_stage"), "{text}");
    assert!(report.queries.iter().all(|q| q.elapsed.is_some()));
    // The aggregate scans all history by design, and says so.
    let aggregate = report
        .queries
        .iter()
        .find(|q| q.query.name == "cost.aggregate")
        .unwrap();
    assert_eq!(aggregate.scans, ["agent_runs"]);
}

#[test]
fn a_database_without_indexes_gets_the_statements_to_create_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bare.db");
    generate(&db, false, true);
    let report = diagnose(&db).unwrap();
    assert!(report.needs_attention());
    let problems = report.problems().join("\n");
    for create in [
        "CREATE INDEX idx_tasks_active_stage ON tasks(stage) WHERE stage NOT IN ('done', 'cancelled');",
        "CREATE INDEX idx_jobs_status ON jobs(status);",
        "CREATE INDEX idx_agent_runs_job_id ON agent_runs(job_id);",
    ] {
        assert!(problems.contains(create), "missing {create} in\n{problems}");
    }
    assert!(
        problems.contains("query stages scans tasks without an index"),
        "{problems}"
    );
    assert!(
        problems.contains("query running agents scans"),
        "{problems}"
    );
}

#[test]
fn missing_tables_and_columns_and_a_rollback_journal_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("odd.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, stage TEXT);
         CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT, agent TEXT);",
    )
    .unwrap();
    drop(conn);
    let report = diagnose(&db).unwrap();
    let problems = report.problems().join("\n");
    assert!(problems.contains("journal mode is delete"), "{problems}");
    assert!(
        problems.contains("table agent_runs is missing"),
        "{problems}"
    );
    assert!(
        problems.contains("table tasks lacks column(s) work_item_id, repo, stage_entered_at"),
        "{problems}"
    );
    assert!(
        problems.contains("query cost.aggregate failed"),
        "{problems}"
    );
}

#[test]
fn the_doctor_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ro.db");
    generate(&db, false, true);
    let before = files(dir.path());
    let _ = diagnose(&db).unwrap();
    assert_eq!(files(dir.path()), before);
}

#[test]
fn a_missing_or_foreign_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = diagnose(&dir.path().join("nope.db")).unwrap_err();
    assert_eq!(vitals_core::SourceError::kind(&missing), "no_database");
    let text = dir.path().join("text.db");
    std::fs::write(&text, "not a database, just text that is long enough to have a header......................................").unwrap();
    let foreign = diagnose(&text).unwrap_err();
    assert_eq!(vitals_core::SourceError::kind(&foreign), "not_a_database");
}
