//! The simulated orchestrator against real SQLite files in temporary directories.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{count, dump, open};
use rusqlite::Connection;
use vitals_refdb::{RefDbError, Simulator, StepReport};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap()
}

/// Runs `ticks` steps ten seconds apart, checking the invariants after each.
fn run(sim: &mut Simulator, path: &Path, from: i64, ticks: i64) -> Vec<StepReport> {
    (from..from + ticks)
        .map(|i| {
            let report = sim.step(start() + Duration::seconds(10 * i)).unwrap();
            check_invariants(&open(path), i);
            report
        })
        .collect()
}

fn check_invariants(conn: &Connection, tick: i64) {
    let zero = |what: &str, sql: &str| assert_eq!(count(conn, sql), 0, "tick {tick}: {what}");
    zero(
        "running job without started_at",
        "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND started_at IS NULL",
    );
    zero(
        "running job whose latest run is finished or missing",
        "SELECT COUNT(*) FROM jobs j LEFT JOIN agent_runs r
           ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id)
         WHERE j.status = 'running' AND (r.id IS NULL OR r.finished_at IS NOT NULL
               OR r.cost_usd IS NOT NULL OR r.input_tokens IS NOT NULL)",
    );
    zero(
        "finished run without cost",
        "SELECT COUNT(*) FROM agent_runs WHERE finished_at IS NOT NULL
           AND (cost_usd IS NULL OR input_tokens IS NULL OR output_tokens IS NULL
                OR cache_read_tokens IS NULL OR cache_creation_tokens IS NULL)",
    );
    zero(
        "unfinished run of a job that is not running",
        "SELECT COUNT(*) FROM agent_runs r JOIN jobs j ON j.id = r.job_id
         WHERE r.finished_at IS NULL AND j.status <> 'running'",
    );
    zero(
        "terminal job without finished_at",
        "SELECT COUNT(*) FROM jobs WHERE status IN ('done', 'failed', 'cancelled')
           AND finished_at IS NULL",
    );
    zero(
        "attempts beyond max_attempts",
        "SELECT COUNT(*) FROM jobs WHERE attempts >= max_attempts",
    );
    zero(
        "unknown stage or status",
        "SELECT (SELECT COUNT(*) FROM tasks WHERE stage NOT IN
                   ('queued', 'analysis', 'implementation', 'review', 'testing', 'done', 'cancelled'))
              + (SELECT COUNT(*) FROM jobs WHERE status NOT IN
                   ('queued', 'running', 'done', 'failed', 'cancelled'))",
    );
    zero(
        "open job on a terminal task",
        "SELECT COUNT(*) FROM jobs j JOIN tasks t ON t.id = j.task_id
         WHERE j.status IN ('queued', 'running') AND t.stage IN ('done', 'cancelled')",
    );
    assert!(
        count(conn, "SELECT COUNT(*) FROM tasks") <= 8 + 24 + 8,
        "tick {tick}"
    );
    assert!(
        count(conn, "SELECT COUNT(*) FROM jobs") <= 200,
        "tick {tick}"
    );
    assert!(
        count(conn, "SELECT COUNT(*) FROM agent_runs") <= 600,
        "tick {tick}"
    );
    assert!(
        count(conn, "SELECT COUNT(*) FROM jobs WHERE status = 'running'") <= 3 + 2,
        "tick {tick}"
    );
}

fn total(reports: &[StepReport], field: fn(&StepReport) -> u64) -> u64 {
    reports.iter().map(field).sum()
}

#[test]
fn a_hundred_steps_keep_the_invariants_and_show_life() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let mut sim = Simulator::create(&path, 1).unwrap();
    let reports = run(&mut sim, &path, 0, 100);

    assert!(total(&reports, |r| r.tasks_created) >= 8);
    assert!(total(&reports, |r| r.stage_moves) > 0);
    assert!(total(&reports, |r| r.jobs_queued) > 0);
    assert!(total(&reports, |r| r.jobs_started) > 0);
    assert!(total(&reports, |r| r.jobs_done) > 0);
    assert!(total(&reports, |r| r.jobs_retried) > 0);

    let conn = open(&path);
    assert!(count(&conn, "SELECT COUNT(*) FROM agent_runs WHERE cost_usd > 0") > 0);
    assert!(count(&conn, "SELECT COUNT(*) FROM jobs WHERE attempts > 0") > 0);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn stays_bounded_over_a_long_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.db");
    let mut sim = Simulator::create(&path, 2).unwrap();
    let reports: Vec<StepReport> = (0..1_500)
        .map(|i| sim.step(start() + Duration::seconds(10 * i)).unwrap())
        .collect();
    check_invariants(&open(&path), 1_500);
    assert!(total(&reports, |r| r.tasks_done) > 0);
    assert!(total(&reports, |r| r.tasks_cancelled) > 0);
    assert!(total(&reports, |r| r.tasks_pruned) > 0);
    // Pruning never reuses an id: ids keep ascending with time.
    let conn = open(&path);
    for (table, column) in [
        ("tasks", "created_at"),
        ("jobs", "created_at"),
        ("agent_runs", "started_at"),
    ] {
        let sql = format!(
            "SELECT COUNT(*) FROM {table} a JOIN {table} b ON b.id > a.id WHERE b.{column} < a.{column}"
        );
        assert_eq!(count(&conn, &sql), 0, "{table}");
    }
}

#[test]
fn same_seed_and_clock_give_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let simulate = |name: &str, seed: u64| {
        let path = dir.path().join(name);
        let mut sim = Simulator::create(&path, seed).unwrap();
        for i in 0..60 {
            sim.step(start() + Duration::seconds(10 * i)).unwrap();
        }
        drop(sim);
        dump(&path)
    };
    let a = simulate("a.db", 5);
    assert!(!a.is_empty());
    assert_eq!(a, simulate("b.db", 5));
    assert_ne!(a, simulate("c.db", 6));
}

#[test]
fn a_pinned_job_runs_until_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinned.db");
    let mut sim = Simulator::create(&path, 3).unwrap();
    run(&mut sim, &path, 0, 10);
    let pid = i64::from(std::process::id());
    let job = sim
        .start_agent_job_at(
            start() + Duration::seconds(100),
            "claude",
            Some(pid),
            Some("claude-opus-4-1"),
            Some("high"),
        )
        .unwrap();
    let other = sim.start_agent_job("codex", None, None, None).unwrap();
    assert_ne!(job, other);
    assert_eq!(sim.pinned_jobs().collect::<Vec<_>>(), vec![job, other]);
    run(&mut sim, &path, 10, 200);

    let conn = open(&path);
    let live = format!(
        "SELECT COUNT(*) FROM jobs j JOIN agent_runs r ON r.job_id = j.id
         WHERE j.id = {job} AND j.status = 'running' AND j.pid = {pid}
           AND j.agent = 'claude' AND j.model = 'claude-opus-4-1' AND j.effort = 'high'
           AND j.started_at = '2026-11-28 02:41:53' AND r.finished_at IS NULL"
    );
    assert_eq!(count(&conn, &live), 1);
    let stage = format!(
        "SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.task_id = t.id WHERE j.id = {job} AND t.stage = 'implementation'"
    );
    assert_eq!(count(&conn, &stage), 1);

    sim.finish_job_at(start() + Duration::seconds(3_000), job)
        .unwrap();
    assert_eq!(sim.pinned_jobs().collect::<Vec<_>>(), vec![other]);
    let done = format!(
        "SELECT COUNT(*) FROM jobs j JOIN agent_runs r ON r.job_id = j.id
         WHERE j.id = {job} AND j.status = 'done' AND j.pid IS NULL
           AND j.finished_at = '2026-11-28 03:30:13'
           AND r.finished_at = j.finished_at AND r.cost_usd > 0 AND r.output_tokens > 0"
    );
    assert_eq!(count(&conn, &done), 1);
    check_invariants(&conn, -1);
    let again = sim.finish_job(job).unwrap_err();
    assert!(
        matches!(&again, RefDbError::JobNotRunning { job_id, status } if *job_id == job && status == "done"),
        "{again:?}"
    );

    // Its task goes on living once the job is done (and may be pruned once
    // terminal).
    let task = count(&conn, &format!("SELECT task_id FROM jobs WHERE id = {job}"));
    run(&mut sim, &path, 300, 60);
    let stuck =
        format!("SELECT COUNT(*) FROM tasks WHERE id = {task} AND stage = 'implementation'");
    assert_eq!(count(&open(&path), &stuck), 0);

    let unknown = sim.finish_job(999_999).unwrap_err();
    assert!(
        matches!(unknown, RefDbError::UnknownJob { job_id: 999_999 }),
        "{unknown:?}"
    );
    sim.finish_job(other).unwrap();
    assert_eq!(sim.pinned_jobs().count(), 0);
}

#[test]
fn create_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exists.db");
    std::fs::write(&path, b"keep me").unwrap();
    let err = Simulator::create(&path, 1).unwrap_err();
    assert!(matches!(err, RefDbError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn a_reader_can_read_while_it_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let mut sim = Simulator::create(&path, 4).unwrap();
    let reader = open(&path);
    reader.execute_batch("BEGIN").unwrap();
    let before = count(&reader, "SELECT COUNT(*) FROM tasks");
    run(&mut sim, &path, 0, 20);
    // A read transaction keeps its snapshot while the simulator commits.
    assert_eq!(count(&reader, "SELECT COUNT(*) FROM tasks"), before);
    reader.execute_batch("COMMIT").unwrap();
    assert!(count(&reader, "SELECT COUNT(*) FROM tasks") > before);
}
