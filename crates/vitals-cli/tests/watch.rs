//! `vitals watch` end to end: a real `vitals serve` over a database whose
//! running jobs are real processes (one busy, one sleeping), and the exit
//! codes of `--once` for each kind of bad target.
//!
//! Every process a test starts writes to files, never to a pipe nobody
//! reads, and every wait is bounded.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "the shared helpers forward a child's stderr"
)]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::agents::{Process, RealAgents, real_agents};
use common::vitals;

/// How long any one process may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(60);

/// `vitals ARGS` with stdout and stderr in files under `dir`.
fn start(dir: &Path, name: &str, args: &[&str]) -> (Process, PathBuf, PathBuf) {
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    let child = vitals()
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    (Process(child), stdout, stderr)
}

/// Runs `vitals ARGS` to its end (at most [`LIMIT`]): exit code, stdout, stderr.
fn run(dir: &Path, name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let (mut process, stdout, stderr) = start(dir, name, args);
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "vitals {args:?} still runs after {LIMIT:?}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(stdout).unwrap(),
        std::fs::read_to_string(stderr).unwrap(),
    )
}

/// `vitals serve --listen 127.0.0.1:0 EXTRA...`; the process and its URL.
fn serve(dir: &Path, extra: &[&str]) -> (Process, String) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (process, stdout, stderr) = start(dir, "serve", &args);
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = std::fs::read_to_string(&stdout).unwrap_or_default();
        if let Some(line) = out.lines().find(|l| l.starts_with("listening on ")) {
            return (process, line.trim_start_matches("listening on ").to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "serve did not listen: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The cells of the table row of `agent` in `--once` output.
fn row<'a>(table: &'a str, agent: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(agent))
        .unwrap_or_else(|| panic!("no row for {agent}:\n{table}"))
        .split_whitespace()
        .collect()
}

/// CPU% (column 6) of `agent`.
fn cpu(table: &str, agent: &str) -> f64 {
    let cells = row(table, agent);
    cells[5]
        .parse()
        .unwrap_or_else(|_| panic!("no CPU% for {agent}: {cells:?}\n{table}"))
}

#[test]
fn reports_a_busy_agent_busy_and_a_sleeper_idle() {
    let dir = tempfile::tempdir().unwrap();
    let RealAgents {
        busy: _busy,
        sleeper: _sleeper,
        db,
    } = real_agents(dir.path(), "w.db");
    let (_server, url) = serve(dir.path(), &["--db", db.to_str().unwrap()]);

    // A loaded machine may not schedule the busy child for a whole
    // interval: a few tries, each sampling four seconds.
    let mut tables = Vec::new();
    for attempt in 0..3 {
        let (code, table, stderr) = run(
            dir.path(),
            &format!("watch-{attempt}"),
            &["watch", "--once", "--interval", "4s", &url],
        );
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            cpu(&table, "sleepy-agent") < 5.0,
            "the sleeper is idle:\n{table}"
        );
        assert_eq!(row(&table, "sleepy-agent")[8], "idle", "{table}");
        let busy_cpu = cpu(&table, "busy-agent");
        tables.push(table);
        if busy_cpu >= 50.0 {
            assert_eq!(row(&tables[attempt], "busy-agent")[8], "busy");
            break;
        }
    }
    let last = tables.last().unwrap();
    assert!(
        cpu(last, "busy-agent") >= 50.0,
        "the busy agent is at 50% or more in one of three samples:\n{}",
        tables.join("\n")
    );

    // The same as one JSON line, and in process from the database.
    let (code, line, stderr) = run(
        dir.path(),
        "watch-json",
        &["watch", "--once", "--json", "--interval", "2s", &url],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(json["status"], "ok");
    let names: Vec<&str> = json["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"]["agent"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["busy-agent", "sleepy-agent"], "{json}");
    assert_eq!(json["agents"][1]["verdict"], "idle", "{json}");

    let (code, table, stderr) = run(
        dir.path(),
        "watch-db",
        &[
            "watch",
            "--once",
            "--interval",
            "2s",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(cpu(&table, "sleepy-agent") < 5.0, "{table}");
    assert!(
        table.contains(&format!("vitals watch {}", db.display())),
        "{table}"
    );
}

/// Serves one connection with a fixed 200 body, on a thread.
fn canned(body: &'static str) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    (url, handle)
}

/// `vitals watch --once URL EXTRA...`: exit code and stderr.
fn once(dir: &Path, url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "watch",
        "--once",
        "--interval",
        "1s",
        "--timeout",
        "20s",
        url,
    ];
    args.extend_from_slice(extra);
    let (code, _, stderr) = run(dir, "once", &args);
    (code, stderr)
}

#[test]
fn once_exits_with_a_code_per_kind_of_failure() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, stderr) = once(dir, &format!("http://127.0.0.1:{port}/metrics"), &[]);
    assert_eq!(code, Some(3), "unreachable: {stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");

    let (url, server) = canned("<html>502 Bad Gateway</html>");
    let (code, stderr) = once(dir, &url, &[]);
    server.join().unwrap();
    assert_eq!(code, Some(6), "not JSON: {stderr}");
    assert!(stderr.contains("not JSON"), "{stderr}");

    let (url, server) = canned(r#"{"schema_version":2,"generated_at":"2030-01-01T00:00:00Z"}"#);
    let (code, stderr) = once(dir, &url, &[]);
    server.join().unwrap();
    assert_eq!(code, Some(7), "unknown version: {stderr}");
    assert!(stderr.contains("unsupported schema_version 2"), "{stderr}");

    let (code, stderr) = once(dir, "ftp://127.0.0.1/metrics", &[]);
    assert_eq!(code, Some(2), "bad URL: {stderr}");

    let db = dir.join("none.db");
    let (server, url) = serve(dir, &["--db", db.to_str().unwrap(), "--disabled"]);
    let (code, stderr) = once(dir, &url, &[]);
    assert_eq!(code, Some(8), "disabled: {stderr}");
    assert!(stderr.contains("kill switch off"), "{stderr}");
    drop(server);

    let token = dir.join("token");
    std::fs::write(&token, "s3cr3t\n").unwrap();
    let token = token.to_str().unwrap();
    let (_server, url) = serve(dir, &["--db", db.to_str().unwrap(), "--token-file", token]);
    let (code, stderr) = once(dir, &url, &[]);
    assert_eq!(code, Some(4), "no token: {stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, stderr) = once(dir, &url, &["--token-file", token]);
    assert_eq!(code, Some(0), "the right token: {stderr}");
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let (code, stderr) = once(dir, &url, &["--token-file", empty.to_str().unwrap()]);
    assert_eq!(code, Some(2), "an empty token file: {stderr}");
}

/// Waits (at most [`LIMIT`]) until the file `path` holds a line for which
/// `check` holds; returns that line.
fn wait_for_line(path: &Path, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // Only whole lines: the last one may still be being written.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        if let Some(line) = whole
            .lines()
            .find(|line| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| check(&v)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} line within {LIMIT:?}:\n{text}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn json_lines_go_on_through_failures_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let (server, url) = serve(dir.path(), &["--db", db.to_str().unwrap()]);
    let (mut watch, stdout, _) = start(
        dir.path(),
        "watch-json",
        &["watch", "--json", "--interval", "1s", &url],
    );
    // The first delta needs two samples a second or more apart.
    let ok = wait_for_line(&stdout, "delta", |v| {
        v["status"] == "ok" && v["interval_s"].as_i64().is_some_and(|s| s >= 1)
    });
    assert!(ok.contains(r#""agents":[]"#), "{ok}");

    // The server goes away: a line says so, and the watcher keeps going.
    drop(server);
    let failed = wait_for_line(&stdout, "error", |v| v["status"] == "error");
    let failed: serde_json::Value = serde_json::from_str(&failed).unwrap();
    assert_eq!(failed["error"]["kind"], "unreachable", "{failed}");
    assert!(failed["retry_in_s"].as_f64().is_some(), "{failed}");
    assert_eq!(watch.0.try_wait().unwrap(), None, "still watching");

    let pid = nix::unistd::Pid::from_raw(i32::try_from(watch.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = watch.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "watch did not stop on SIGTERM");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status}");
}

/// `vitals watch --help` names every threshold `--threshold` accepts.
#[test]
fn the_help_names_every_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (code, help, _) = run(dir.path(), "help", &["watch", "--help"]);
    assert_eq!(code, Some(0));
    for name in vitals_client::Thresholds::NAMES.split(", ") {
        assert!(
            help.contains(&format!("{name}=")),
            "--help lacks {name}:\n{help}"
        );
    }
}
