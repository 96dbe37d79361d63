//! `vitals doctor` and `vitals bench`, run as subprocesses.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use common::{gen_db, run, text};

#[test]
fn doctor_passes_a_generated_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "ok.db", &["--scale", "S"]);
    let out = run(&["doctor", "--db", db.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("all is well"), "{stdout}");
    assert!(stdout.contains("journal mode wal"), "{stdout}");
}

#[test]
fn doctor_names_the_missing_indexes_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "bare.db", &["--scale", "S", "--no-indexes"]);
    let before = std::fs::read(&db).unwrap();
    let out = run(&["doctor", "--db", db.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for index in [
        "idx_tasks_active_stage",
        "idx_jobs_status",
        "idx_agent_runs_job_id",
    ] {
        assert!(
            stdout.contains(&format!("CREATE INDEX {index}")),
            "{index} in\n{stdout}"
        );
    }
    assert!(
        text(&out.stderr).contains("need attention"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "doctor wrote to the database"
    );
}

#[test]
fn doctor_on_a_missing_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("absent.db");
    let out = run(&["doctor", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot examine"),
        "{}",
        text(&out.stderr)
    );
    assert!(!db.exists(), "doctor created the file");
}

#[test]
fn bench_prints_one_json_object_with_four_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let out = run(&[
        "bench",
        "--db",
        db.to_str().unwrap(),
        "--iterations",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let body: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let series = ["warm", "cold", "floor", "reference_floor"];
    for name in series {
        for stat in ["p50_ms", "p95_ms", "max_ms"] {
            let value = body[name][stat].as_f64();
            assert!(value.is_some(), "{name}.{stat} in {body}");
            // Milliseconds rounded to the microsecond.
            let micros = value.unwrap_or_default() * 1000.0;
            assert!(
                (micros - micros.round()).abs() < 1e-6,
                "{name}.{stat} in {stdout}"
            );
        }
        assert!(body[name]["p50_ms"].as_f64() <= body[name]["max_ms"].as_f64());
    }
    // In this order.
    let at: Vec<usize> = series
        .iter()
        .map(|name| stdout.find(&format!("\"{name}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{stdout}");
}
