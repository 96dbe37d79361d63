//! The generator against real SQLite files in temporary directories.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use common::{count, dump, open, rows};
use vitals_refdb::{
    DEFAULT_PID_MAX, GenOptions, INDEX_NAMES, RefDbError, Scale, Shape, Summary, generate,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap()
}

fn options(shape: Shape, seed: u64) -> GenOptions {
    GenOptions {
        shape,
        seed,
        indexes: true,
        now: now(),
        wal: true,
        pid_max: DEFAULT_PID_MAX,
        pids: Vec::new(),
    }
}

fn gen_at(dir: &Path, name: &str, opts: &GenOptions) -> (PathBuf, Summary) {
    let path = dir.join(name);
    let summary = generate(&path, opts).unwrap();
    (path, summary)
}

const SMALL: Shape = Shape {
    tasks: 60,
    active_tasks: 6,
    jobs: 300,
    runs: 330,
    running: 5,
    queued: 6,
};

#[test]
fn same_seed_and_now_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = gen_at(dir.path(), "a.db", &options(SMALL, 42));
    let (b, _) = gen_at(dir.path(), "b.db", &options(SMALL, 42));
    let (c, _) = gen_at(dir.path(), "c.db", &options(SMALL, 43));
    let (a, b, c) = (dump(&a), dump(&b), dump(&c));
    assert_eq!(a.len(), 60 + 300 + 330);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn a_different_now_shifts_the_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = gen_at(dir.path(), "a.db", &options(SMALL, 1));
    let later = GenOptions {
        now: now() + chrono::Duration::days(1),
        ..options(SMALL, 1)
    };
    let (b, _) = gen_at(dir.path(), "b.db", &later);
    let newest = |path: &Path| count(&open(path), "SELECT MAX(id) FROM agent_runs");
    assert_eq!(newest(&a), newest(&b));
    assert_ne!(dump(&a), dump(&b));
}

#[test]
fn scale_s_has_exactly_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape::of(Scale::S);
    let (path, summary) = gen_at(dir.path(), "s.db", &options(shape, 0));
    let conn = open(&path);

    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tasks"), 1_000);
    let active = "SELECT COUNT(*) FROM tasks WHERE stage NOT IN ('done', 'cancelled')";
    assert_eq!(count(&conn, active), 20);
    let stages = rows(&conn, "SELECT DISTINCT stage FROM tasks ORDER BY stage");
    for stage in &stages {
        assert!(
            [
                "analysis",
                "cancelled",
                "done",
                "implementation",
                "queued",
                "review",
                "testing"
            ]
            .iter()
            .any(|s| stage.contains(s)),
            "{stage}"
        );
    }

    let by_status = |status: &str| {
        count(
            &conn,
            &format!("SELECT COUNT(*) FROM jobs WHERE status = '{status}'"),
        )
    };
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM jobs"), 10_000);
    assert_eq!(by_status("running"), 8);
    assert_eq!(by_status("queued"), 12);
    assert_eq!(by_status("done") as u64, summary.done);
    assert_eq!(by_status("failed") as u64, summary.failed);
    assert_eq!(by_status("cancelled") as u64, summary.cancelled);
    assert!(summary.done > 8_000, "{summary:?}");
    assert!(
        summary.failed > 100 && summary.cancelled > 100,
        "{summary:?}"
    );
    assert_eq!(
        summary.done + summary.failed + summary.cancelled + 20,
        10_000
    );

    assert_eq!(count(&conn, "SELECT COUNT(*) FROM agent_runs"), 10_000);
    assert_eq!(
        (
            summary.tasks,
            summary.active_tasks,
            summary.jobs,
            summary.runs
        ),
        (1_000, 20, 10_000, 10_000)
    );
    assert_eq!(
        (summary.running, summary.queued, summary.unfinished_runs),
        (8, 12, 8)
    );

    // Running jobs: a valid pid (below the default pid_max, counting down),
    // started in the recent past, and an unfinished latest run without cost
    // or tokens.
    let running_ok = count(
        &conn,
        "SELECT COUNT(*) FROM jobs j JOIN agent_runs r
           ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id)
         WHERE j.status = 'running'
           AND j.pid BETWEEN 32760 AND 32767
           AND j.started_at BETWEEN datetime('2026-11-28 02:40:13', '-1 hour')
                                AND '2026-11-28 02:40:13'
           AND j.finished_at IS NULL
           AND r.started_at = j.started_at
           AND r.finished_at IS NULL AND r.cost_usd IS NULL
           AND r.input_tokens IS NULL AND r.output_tokens IS NULL
           AND r.cache_read_tokens IS NULL AND r.cache_creation_tokens IS NULL",
    );
    assert_eq!(running_ok, 8);
    let pids: Vec<i64> = conn
        .prepare("SELECT pid FROM jobs WHERE status = 'running' ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pids, (32760..=32767).rev().collect::<Vec<i64>>());
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM jobs WHERE status <> 'running' AND pid IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM agent_runs WHERE finished_at IS NULL"
        ),
        8
    );

    // Retries: half the queued jobs, and some running ones.
    let queued_retried = "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND attempts > 0";
    assert_eq!(count(&conn, queued_retried), 6);
    assert_eq!(shape.queued_with_retries(), 6);
    assert_eq!(summary.queued_with_retries, 6);
    let running_retried = "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND attempts > 0";
    assert_eq!(count(&conn, running_retried), 2);

    // Finished runs have a cost and token counts.
    let costless = "SELECT COUNT(*) FROM agent_runs WHERE finished_at IS NOT NULL
         AND (cost_usd IS NULL OR input_tokens IS NULL OR output_tokens IS NULL
              OR cache_read_tokens IS NULL OR cache_creation_tokens IS NULL)";
    assert_eq!(count(&conn, costless), 0);
    assert_eq!(
        count(
            &conn,
            "SELECT typeof(cost_usd) = 'real' FROM agent_runs WHERE cost_usd IS NOT NULL LIMIT 1"
        ),
        1
    );

    // Runs are spread over jobs: some jobs retried, some never started.
    let multi =
        "SELECT COUNT(*) FROM (SELECT job_id FROM agent_runs GROUP BY job_id HAVING COUNT(*) > 1)";
    assert!(count(&conn, multi) > 100);
    let unstarted = "SELECT COUNT(*) FROM jobs WHERE id NOT IN (SELECT job_id FROM agent_runs)";
    assert!(count(&conn, unstarted) > 100);
    // A job's attempts match its runs (queued jobs wait for their next run).
    let mismatched = "SELECT COUNT(*) FROM jobs j
         WHERE (SELECT COUNT(*) FROM agent_runs WHERE job_id = j.id)
               <> CASE WHEN j.status = 'queued' THEN j.attempts
                       WHEN j.status = 'cancelled' THEN 0
                       ELSE j.attempts + 1 END";
    assert_eq!(count(&conn, mismatched), 0);
}

#[test]
fn ids_are_append_style_and_timestamps_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = gen_at(dir.path(), "s.db", &options(Shape::of(Scale::S), 5));
    let conn = open(&path);
    for (table, column) in [
        ("tasks", "created_at"),
        ("jobs", "created_at"),
        ("agent_runs", "started_at"),
    ] {
        let out_of_order = format!(
            "SELECT COUNT(*) FROM {table} a JOIN {table} b ON b.id = a.id + 1
             WHERE b.{column} < a.{column}"
        );
        assert_eq!(count(&conn, &out_of_order), 0, "{table}");
        let gaps = format!("SELECT MAX(id) - COUNT(*) FROM {table}");
        assert_eq!(count(&conn, &gaps), 0, "{table}");
    }
    for (table, column) in [
        ("tasks", "stage_entered_at"),
        ("tasks", "created_at"),
        ("tasks", "updated_at"),
        ("jobs", "created_at"),
        ("jobs", "started_at"),
        ("jobs", "finished_at"),
        ("agent_runs", "started_at"),
        ("agent_runs", "finished_at"),
    ] {
        let malformed = format!(
            "SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL
               AND ({column} IS NOT datetime({column}) OR {column} > '2026-11-28 02:40:13')"
        );
        assert_eq!(count(&conn, &malformed), 0, "{table}.{column}");
    }
    let before_task = "SELECT COUNT(*) FROM jobs j JOIN tasks t ON t.id = j.task_id
         WHERE j.created_at < t.created_at";
    assert_eq!(count(&conn, before_task), 0);
    let orphans = "SELECT COUNT(*) FROM jobs WHERE task_id IS NULL
         OR task_id NOT IN (SELECT id FROM tasks)";
    assert_eq!(count(&conn, orphans), 0);
    let active_jobs_on_terminal_tasks =
        "SELECT COUNT(*) FROM jobs j JOIN tasks t ON t.id = j.task_id
         WHERE j.status IN ('queued', 'running') AND t.stage IN ('done', 'cancelled', 'queued')";
    assert_eq!(count(&conn, active_jobs_on_terminal_tasks), 0);
    let run_before_job = "SELECT COUNT(*) FROM agent_runs r JOIN jobs j ON j.id = r.job_id
         WHERE r.started_at < j.created_at OR r.finished_at < r.started_at";
    assert_eq!(count(&conn, run_before_job), 0);
}

#[test]
fn active_work_does_not_depend_on_history() {
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape::of(Scale::S);
    let (small, _) = gen_at(dir.path(), "s.db", &options(shape, 9));
    let (big, summary) = gen_at(dir.path(), "big.db", &options(shape.with_history(3), 9));
    assert_eq!(summary.jobs, 20 + 3 * 9_980);
    let active_jobs = "SELECT agent, status, attempts, max_attempts, pid, model, effort,
            created_at, started_at, finished_at, last_error
         FROM jobs WHERE status IN ('queued', 'running') ORDER BY id";
    let active_tasks = "SELECT repo, stage, stage_entered_at, created_at FROM tasks
         WHERE stage NOT IN ('done', 'cancelled') ORDER BY id";
    let active_runs = "SELECT r.agent, r.started_at, r.finished_at, r.cost_usd, r.input_tokens
         FROM agent_runs r JOIN jobs j ON j.id = r.job_id
         WHERE j.status IN ('queued', 'running') ORDER BY r.id";
    for sql in [active_jobs, active_tasks, active_runs] {
        let (a, b) = (rows(&open(&small), sql), rows(&open(&big), sql));
        assert!(!a.is_empty());
        assert_eq!(a, b, "{sql}");
    }
}

#[test]
fn indexes_follow_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let names = |path: &Path| {
        rows(
            &open(path),
            "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name",
        )
    };
    let (with, _) = gen_at(dir.path(), "with.db", &options(SMALL, 3));
    let without_opts = GenOptions {
        indexes: false,
        ..options(SMALL, 3)
    };
    let (without, _) = gen_at(dir.path(), "without.db", &without_opts);
    let mut expected: Vec<String> = INDEX_NAMES
        .iter()
        .map(|name| format!("[Text(\"{name}\")]"))
        .collect();
    expected.sort();
    assert_eq!(names(&with), expected);
    assert!(names(&without).is_empty());
    assert_eq!(dump(&with), dump(&without));
}

#[test]
fn journal_mode_follows_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let mode = |path: &Path| -> String {
        open(path)
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap()
    };
    let (wal, _) = gen_at(dir.path(), "wal.db", &options(SMALL, 3));
    let (rollback, _) = gen_at(
        dir.path(),
        "rollback.db",
        &GenOptions {
            wal: false,
            ..options(SMALL, 3)
        },
    );
    assert_eq!(mode(&wal), "wal");
    assert_eq!(mode(&rollback), "delete");
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.db");
    std::fs::write(&path, b"not yours").unwrap();
    let err = generate(&path, &options(SMALL, 1)).unwrap_err();
    assert!(
        matches!(&err, RefDbError::AlreadyExists { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("refusing to overwrite existing file {}", path.display())
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"not yours");
}

#[test]
fn an_invalid_shape_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    let shape = Shape {
        running: 400,
        ..SMALL
    };
    let err = generate(&path, &options(shape, 1)).unwrap_err();
    assert!(matches!(err, RefDbError::InvalidShape { .. }), "{err:?}");
    assert!(!path.exists());
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir.db");
    let err = generate(&path, &options(SMALL, 1)).unwrap_err();
    assert!(matches!(err, RefDbError::Io { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn edge_shapes_generate() {
    let dir = tempfile::tempdir().unwrap();
    let shapes = [
        Shape {
            tasks: 0,
            active_tasks: 0,
            jobs: 0,
            runs: 0,
            running: 0,
            queued: 0,
        },
        Shape {
            tasks: 0,
            active_tasks: 0,
            jobs: 3,
            runs: 3,
            running: 2,
            queued: 1,
        },
        Shape {
            tasks: 5,
            active_tasks: 5,
            jobs: 10,
            runs: 2,
            running: 0,
            queued: 0,
        },
        Shape {
            tasks: 3,
            active_tasks: 0,
            jobs: 10,
            runs: 100,
            running: 0,
            queued: 0,
        },
        Shape {
            tasks: 100,
            active_tasks: 1,
            jobs: 4,
            runs: 4,
            running: 1,
            queued: 0,
        },
    ];
    for (i, shape) in shapes.into_iter().enumerate() {
        let (path, summary) = gen_at(dir.path(), &format!("{i}.db"), &options(shape, 1));
        let conn = open(&path);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM tasks") as u64,
            shape.tasks,
            "{shape:?}"
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM jobs") as u64,
            shape.jobs,
            "{shape:?}"
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM agent_runs") as u64,
            shape.runs,
            "{shape:?}"
        );
        assert_eq!(summary.running, shape.running);
        assert_eq!(summary.queued, shape.queued);
    }
}

fn running_pids(path: &Path) -> Vec<i64> {
    open(path)
        .prepare("SELECT pid FROM jobs WHERE status = 'running' ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn running_jobs_get_the_given_pids_then_valid_ones_below_pid_max() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions {
        pid_max: 1000,
        pids: vec![999, 4242 % 1000, 7],
        ..options(Shape::of(Scale::S), 2)
    };
    let (path, _) = gen_at(dir.path(), "pids.db", &opts);
    // The given ones first, in job id order; then counting down from
    // pid_max - 1, skipping the given ones.
    assert_eq!(running_pids(&path), [999, 242, 7, 998, 997, 996, 995, 994]);
    assert_eq!(opts.running_pids().unwrap(), running_pids(&path));
    // Only the pids change: every other value is the same.
    let (plain, _) = gen_at(dir.path(), "plain.db", &options(Shape::of(Scale::S), 2));
    let without_pids = |path: &Path| {
        let conn = open(path);
        [
            "SELECT * FROM tasks ORDER BY id",
            "SELECT id, task_id, repo, agent, status, attempts, max_attempts, model, effort,
                    created_at, started_at, finished_at, last_error FROM jobs ORDER BY id",
            "SELECT * FROM agent_runs ORDER BY id",
        ]
        .iter()
        .flat_map(|sql| rows(&conn, sql))
        .collect::<Vec<_>>()
    };
    assert_eq!(without_pids(&path), without_pids(&plain));
}

#[test]
fn pids_that_cannot_be_given_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape::of(Scale::S); // 8 running jobs
    let refused = |opts: GenOptions| {
        let path = dir.path().join("refused.db");
        let error = generate(&path, &opts).unwrap_err();
        assert!(matches!(error, RefDbError::InvalidPids { .. }), "{error:?}");
        assert!(!path.exists());
        error.to_string()
    };
    let base = options(shape, 1);
    let text = refused(GenOptions {
        pids: vec![32768],
        ..base.clone()
    });
    assert!(
        text.contains("pid 32768 is not valid under pid_max 32768"),
        "{text}"
    );
    refused(GenOptions {
        pids: vec![0],
        ..base.clone()
    });
    refused(GenOptions {
        pids: (1..=9).collect(),
        ..base.clone()
    });
    // Four pids below pid_max 5 (1 to 4) for eight running jobs.
    let text = refused(GenOptions {
        pid_max: 5,
        ..base.clone()
    });
    assert!(text.contains("too few pids"), "{text}");
    // Exactly enough.
    let opts = GenOptions { pid_max: 9, ..base };
    assert_eq!(
        opts.running_pids().unwrap(),
        (1..=8).rev().collect::<Vec<i64>>()
    );
}
