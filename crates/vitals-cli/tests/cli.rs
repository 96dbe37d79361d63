//! `vitals snapshot` and `vitals gen-db`, run as subprocesses.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use common::{
    assert_all_sections_ok, fake_proc_root, fake_ticks, gen_db, hung_agent, run, running_pids, text,
};
use serde_json::Value;

#[test]
fn snapshot_of_a_generated_database_has_every_section_ok() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S", "--seed", "7"]);
    let pids = running_pids(&db);
    assert_eq!(pids.len(), 8);
    let proc_root = fake_proc_root(dir.path(), &pids);

    let out = run(&[
        "snapshot",
        "--db",
        db.to_str().unwrap(),
        "--proc-root",
        proc_root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "",
        "no warnings when every section is ok"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.lines().count() > 1, "pretty JSON by default");
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_all_sections_ok(&body);

    let doc = vitals_core::testing::OrderedJson::parse(&stdout).unwrap();
    assert_eq!(
        doc.keys(),
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
    assert_eq!(body["stages"].as_array().unwrap().len(), 20);
    assert_eq!(body["queue"]["counts"]["running"], 8);
    assert_eq!(body["queue"]["depth"], 12);
    // No worker probe in the CLI: these are honest nulls.
    assert_eq!(body["queue"]["breaker"], Value::Null);
    assert_eq!(body["queue"]["max_concurrency"], Value::Null);
    assert_eq!(body["queue"]["poll_interval"], Value::Null);
    let agents = body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 8);
    for (agent, pid) in agents.iter().zip(&pids) {
        assert_eq!(agent["pid"], *pid);
        assert_eq!(agent["cpu_ticks"], fake_ticks(*pid), "{agent}");
    }
    assert_eq!(body["cost"]["running"].as_array().unwrap().len(), 8);
    assert_eq!(body["cost"]["aggregate"]["runs"], 10_000);
}

#[test]
fn compact_snapshot_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(
        dir.path(),
        "tiny.db",
        &[
            "--tasks",
            "10",
            "--active-tasks",
            "2",
            "--jobs",
            "20",
            "--runs",
            "25",
            "--running",
            "3",
            "--queued",
            "2",
            "--pid",
            &std::process::id().to_string(),
        ],
    );
    let pids = running_pids(&db);
    let out = run(&["snapshot", "--db", db.to_str().unwrap(), "--compact"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["queue"]["counts"]["running"], 3);
    // The real /proc. The first running job points at this test (--pid):
    // its process is read.
    let agents = body["agents"].as_array().unwrap();
    assert_eq!(agents[0]["pid"], i64::from(std::process::id()));
    assert!(agents[0]["cpu_ticks"].is_u64(), "{}", agents[0]);
    // The others got valid pids that no process held: their process fields
    // degrade as a dead agent's would, with a warning per field (unless a
    // new process took that pid since, which the kernel may do).
    let pid_max: i64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        body["collector"]["sections"]["agents"]["status"],
        "degraded"
    );
    let stderr = text(&out.stderr);
    for (i, pid) in pids.iter().enumerate().skip(1) {
        assert!((1..pid_max).contains(pid), "{pid} under pid_max {pid_max}");
        let warning =
            format!("warning: section agents: field agents[{i}].proc degraded (no_such_process)");
        let taken_since = std::path::Path::new(&format!("/proc/{pid}")).exists();
        assert!(stderr.contains(&warning) || taken_since, "{stderr}");
    }
}

#[test]
fn snapshot_of_a_missing_database_degrades_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("not-yet.db");
    let out = run(&["snapshot", "--db", db.to_str().unwrap()]);
    // The JSON is printed all the same; the status says the file is no database.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["stages"], serde_json::json!([]));
    assert_eq!(body["agents"], serde_json::json!([]));
    assert_eq!(body["collector"]["sections"]["stages"]["status"], "error");
    assert_eq!(
        body["collector"]["sections"]["stages"]["error"]["kind"],
        "no_database"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: section stages: error (no_database): "),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: section agents: error (no_database): "),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: section cost: field running degraded (no_database)"),
        "{stderr}"
    );
    let (warnings, last) = stderr.trim_end().rsplit_once('\n').unwrap();
    assert!(
        warnings.lines().all(|l| l.starts_with("warning: ")),
        "{stderr}"
    );
    assert!(
        last.starts_with("vitals: error: cannot read ") && last.contains("(no_database)"),
        "{stderr}"
    );
    assert!(!db.exists(), "a snapshot never creates the database");
}

/// `vitals snapshot --db DB EXTRA...`: the exit code, the parsed JSON, stderr.
fn snapshot_status(db: &std::path::Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["snapshot", "--db", db.to_str().unwrap(), "--compact"];
    args.extend_from_slice(extra);
    let out = run(&args);
    let body: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the JSON is printed whatever happens ({e}): {}",
            text(&out.stdout)
        )
    });
    assert_eq!(body["schema_version"], 1);
    (out.status.code(), body, text(&out.stderr))
}

#[test]
fn snapshot_exits_2_when_the_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "hello, not a database\n").unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    // A FIFO would block SQLite's open for good: the store refuses it first.
    let fifo = dir.path().join("fifo.db");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    for (db, kind) in [
        (dir.path().to_owned(), "not_a_regular_file"),
        (fifo, "not_a_regular_file"),
        (not_sqlite, "not_a_database"),
        (empty, "empty_database"),
    ] {
        let (code, body, stderr) = snapshot_status(&db, &[]);
        assert_eq!(code, Some(2), "{db:?}: {stderr}");
        assert_eq!(
            body["collector"]["sections"]["stages"]["error"]["kind"],
            kind
        );
        assert!(stderr.contains(&format!("({kind})")), "{stderr}");
    }
}

#[test]
fn snapshot_exits_1_when_a_section_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A database, but not the orchestrator's: every table is missing.
    let db = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE unrelated (x INTEGER);")
        .unwrap();
    drop(conn);
    let (code, body, stderr) = snapshot_status(&db, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(body["collector"]["sections"]["stages"]["status"], "error");
    assert!(
        stderr.contains("vitals: error: section(s) failed: stages"),
        "{stderr}"
    );
}

/// An agent whose `/proc` read hangs (a FIFO) costs that agent only: its
/// read has its own budget inside the section's deadline, so the section is
/// `degraded`, not `timeout`, and the snapshot is printed at once with exit
/// 0. (A section that does time out exits 1: `snapshot::tests`.)
#[test]
fn snapshot_with_a_hung_agent_read_degrades_that_agent_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (db, proc_root) = hung_agent(dir.path());
    let (code, body, stderr) = snapshot_status(
        &db,
        &[
            "--proc-root",
            proc_root.to_str().unwrap(),
            "--section-timeout-ms",
            "300",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let agents = &body["collector"]["sections"]["agents"];
    assert_eq!(agents["status"], "degraded", "{agents}");
    assert_eq!(agents["fields"][0]["field"], "agents[0].proc", "{agents}");
    assert_eq!(agents["fields"][0]["kind"], "timeout", "{agents}");
    assert_eq!(body["collector"]["sections"]["stages"]["status"], "ok");
    assert!(
        stderr.contains("field agents[0].proc degraded (timeout)"),
        "{stderr}"
    );
}

#[test]
fn gen_db_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.db");
    std::fs::write(&path, "keep me").unwrap();
    let out = run(&["gen-db", "--scale", "S", "--out", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to overwrite existing file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

/// `SELECT COUNT(*) ...` on a database opened read-only.
fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

fn counts(db: &std::path::Path) -> [i64; 5] {
    [
        count(db, "SELECT COUNT(*) FROM tasks"),
        count(
            db,
            "SELECT COUNT(*) FROM tasks WHERE stage NOT IN ('done', 'cancelled')",
        ),
        count(db, "SELECT COUNT(*) FROM jobs"),
        count(db, "SELECT COUNT(*) FROM agent_runs"),
        count(db, "SELECT COUNT(*) FROM jobs WHERE status = 'running'"),
    ]
}

#[test]
fn gen_db_explicit_sizes_give_those_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("sized.db");
    let out = run(&[
        "gen-db",
        "--out",
        out_path.to_str().unwrap(),
        "--tasks",
        "40",
        "--active-tasks",
        "6",
        "--jobs",
        "120",
        "--runs",
        "150",
        "--running",
        "3",
        "--queued",
        "5",
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(
        summary.contains("40 tasks (6 active), 120 jobs (3 running, 5 queued"),
        "{summary}"
    );
    assert_eq!(counts(&out_path), [40, 6, 120, 150, 3]);
    assert_eq!(
        count(
            &out_path,
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued'"
        ),
        5
    );
    assert_eq!(
        count(
            &out_path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        ),
        4
    );

    // Explicit sizes override the scale's; --history-factor multiplies the history only.
    let big = gen_db(
        dir.path(),
        "history.db",
        &[
            "--scale",
            "S",
            "--tasks",
            "40",
            "--active-tasks",
            "6",
            "--jobs",
            "120",
            "--runs",
            "150",
            "--running",
            "3",
            "--queued",
            "5",
            "--history-factor",
            "3",
            "--no-indexes",
        ],
    );
    let active_runs = 150
        - count(
            &out_path,
            "SELECT COUNT(*) FROM agent_runs r JOIN jobs j ON j.id = r.job_id WHERE j.status NOT IN ('running', 'queued')",
        );
    assert_eq!(
        counts(&big),
        [
            6 + 34 * 3,
            6,
            8 + 112 * 3,
            active_runs + (150 - active_runs) * 3,
            3
        ]
    );
    assert_eq!(
        count(
            &big,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        ),
        0
    );
}

#[test]
fn gen_db_refuses_inconsistent_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    let out = run(&[
        "gen-db",
        "--out",
        path.to_str().unwrap(),
        "--jobs",
        "10",
        "--running",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid database sizes"),
        "{}",
        text(&out.stderr)
    );
    assert!(!path.exists());
}

#[test]
fn help_lists_the_commands_and_hides_the_agent() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["snapshot", "serve", "demo", "gen-db"] {
        assert!(help.contains(command), "{help}");
    }
    assert!(!help.contains("__agent"), "{help}");
    let out = run(&["serve", "--help"]);
    let help = text(&out.stdout);
    for flag in [
        "--db",
        "--listen",
        "--token-file",
        "--min-interval-ms",
        "--section-timeout-ms",
        "--proc-root",
        "--disabled",
        "--allow-unauthenticated",
        "--disable-file",
        "--header-read-timeout-ms",
        "--idle-timeout-ms",
        "--max-connections",
        "--shutdown-grace-ms",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    let help = text(&run(&["snapshot", "--help"]).stdout);
    assert!(
        help.contains("Exit status: 0 when every section is ok or degraded"),
        "{help}"
    );
    // A usage error is clap's exit code 2.
    assert_eq!(run(&["snapshot"]).status.code(), Some(2));
}
