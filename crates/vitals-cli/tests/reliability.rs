//! `vitals serve` under abuse (issue #10, the serving layer): a broken or
//! full stderr, a read hung on a FIFO at shutdown, slow clients past the
//! connection cap, no file descriptors left, SIGHUP, a bad token file, and
//! the disable file flipped under load. Each test talks to loopback only,
//! writes the server's output to files, and bounds every wait; the only
//! timing assertions are "ends within" bounds of seconds. See
//! `docs/reliability.md`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Running, gen_db, get, hung_reads, try_get};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const LISTENING: &str = "listening on ";
/// A bound on "the process exits", far above what it needs.
const EXIT_LIMIT: Duration = Duration::from_secs(15);
/// A bound on "this happens", far above what it needs.
const BOUND: Duration = Duration::from_secs(10);

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Scrapes `/metrics` from `clients` threads, `per_client` times each;
/// returns every status (0 for an exchange that failed) after checking that
/// each 200 is JSON.
fn scrape_concurrently(addr: &str, clients: usize, per_client: usize) -> Vec<u16> {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    (0..per_client)
                        .map(|_| match try_get(addr, "/metrics", &[]) {
                            Ok(answer) => {
                                if answer.status == 200 {
                                    assert_eq!(answer.json()["schema_version"], 1);
                                }
                                answer.status
                            }
                            Err(error) => {
                                eprintln!("scrape failed: {error}");
                                0
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn stop(mut server: Running) {
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn a_broken_stderr_pipe_never_fails_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    // No database: every snapshot logs warnings.
    let db = dir.path().join("missing.db");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // the log reader is gone: every write to stderr is EPIPE
    let mut server = Running::start_with(
        &["serve", "--db", path(&db), "--listen", "127.0.0.1:0"],
        Some(Stdio::from(writer)),
        &[],
    );
    let addr = server.address(LISTENING);
    let statuses = scrape_concurrently(&addr, 10, 5);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");

    let body = get(&addr, "/metrics", &[]).json();
    let dropped = body["server"]["log_writes_dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{}", body["server"]);
    let om = get(&addr, "/metrics?format=openmetrics", &[]);
    assert!(
        om.body.contains("\nvitals_log_writes_dropped_total "),
        "{}",
        om.body
    );
    stop(server);
}

#[test]
fn a_stderr_on_a_full_disk_never_fails_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut server = Running::start_with(
        &["serve", "--db", path(&db), "--listen", "127.0.0.1:0"],
        Some(Stdio::from(full)),
        &[],
    );
    let addr = server.address(LISTENING);
    let statuses = scrape_concurrently(&addr, 4, 5);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let body = get(&addr, "/metrics", &[]).json();
    assert!(
        body["server"]["log_writes_dropped"].as_u64().unwrap() > 0,
        "{}",
        body["server"]
    );
    stop(server);
}

#[test]
fn a_full_stderr_pipe_never_blocks_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let token = dir.path().join("token");
    write_token(&token, "right");
    // Nobody reads: the pipe (64 KiB) and then the log queue fill up.
    let (reader, writer) = std::io::pipe().unwrap();
    let mut server = Running::start_with(
        &[
            "serve",
            "--db",
            path(&db),
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            path(&token),
        ],
        Some(Stdio::from(writer)),
        // Each refused request logs a line at debug level.
        &[("RUST_LOG", "debug")],
    );
    let addr = server.address(LISTENING);
    let refused: Vec<u16> = thread::scope(|scope| {
        let flood: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..750)
                        .map(|_| status_with(&addr, "wrong"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        flood.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(refused.iter().all(|&s| s == 401), "{refused:?}");
    let scrapes: Vec<u16> = thread::scope(|scope| {
        let clients: Vec<_> = (0..10)
            .map(|_| scope.spawn(|| status_with(&addr, "right")))
            .collect();
        clients.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(scrapes.iter().all(|&s| s == 200), "{scrapes:?}");
    let body = get(&addr, "/metrics", &[("Authorization", "Bearer right")]).json();
    assert!(
        body["server"]["log_writes_dropped"].as_u64().unwrap() > 0,
        "{}",
        body["server"]
    );
    // Its last lines cannot be written either: it exits all the same.
    stop(server);
    drop(reader);
}

#[test]
fn shutdown_with_a_hung_read_ends_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (db, proc_root) = hung_reads(dir.path());
    let grace = Duration::from_secs(2);
    let mut server = Running::start(&[
        "serve",
        "--db",
        path(&db),
        "--proc-root",
        path(&proc_root),
        "--listen",
        "127.0.0.1:0",
        "--section-timeout-ms",
        "300",
        "--shutdown-grace-ms",
        "2000",
    ]);
    let addr = server.address(LISTENING);
    let body = get(&addr, "/metrics", &[]).json();
    let sections = &body["collector"]["sections"];
    // `timeout`, or `busy` when the first snapshot `serve` builds at start
    // already timed out on the read.
    assert!(
        ["timeout", "busy"].contains(&sections["process"]["status"].as_str().unwrap()),
        "{sections}"
    );
    // The agent's hung read has its own budget: that agent only.
    assert_eq!(sections["agents"]["status"], "degraded", "{sections}");
    assert_eq!(sections["stages"]["status"], "ok", "{sections}");
    // The read is still hung: the next scrape finds the section busy.
    let body = get(&addr, "/metrics", &[]).json();
    assert_eq!(body["collector"]["sections"]["process"]["status"], "busy");

    let signalled = Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    let took = signalled.elapsed();
    eprintln!("shutdown with a hung read: exited {took:?} after SIGTERM (grace {grace:?})");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        took < grace + Duration::from_secs(1),
        "took {took:?}, the grace period is {grace:?}"
    );
    let line = server.log_line_containing("abandoning section runs", BOUND);
    assert!(line.contains("process"), "{line}");
    server.log_line_containing("vitals serve: stopped", BOUND);
}

#[test]
fn a_second_signal_stops_the_shutdown_wait_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, proc_root) = hung_reads(dir.path());
    let mut server = Running::start(&[
        "serve",
        "--db",
        path(&db),
        "--proc-root",
        path(&proc_root),
        "--listen",
        "127.0.0.1:0",
        "--section-timeout-ms",
        "300",
        "--shutdown-grace-ms",
        "60000",
    ]);
    let addr = server.address(LISTENING);
    assert_eq!(get(&addr, "/metrics", &[]).status, 200);
    server.signal(Signal::SIGTERM);
    server.log_line_containing("shutting down", BOUND);
    server.signal(Signal::SIGINT);
    let status = server
        .wait_exit(BOUND)
        .expect("exits after a second signal");
    assert_eq!(status.code(), Some(0), "{status}");
    server.log_line_containing("second signal", BOUND);
    let line = server.log_line_containing("abandoning section runs", BOUND);
    assert!(line.contains("process"), "{line}");
}

/// A connection that sent half a request line and waits for the server.
fn half_request(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HT").unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream
}

/// Whether the server closed `stream` (EOF or reset) before the read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0_u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_clients_beyond_the_cap_neither_starve_a_scrape_nor_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let server = {
        let mut server = Running::start(&[
            "serve",
            "--db",
            path(&db),
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "8",
            "--header-read-timeout-ms",
            "1500",
        ]);
        let addr = server.address(LISTENING);
        (server, addr)
    };
    let (server, addr) = server;
    let mut slow: Vec<TcpStream> = (0..20).map(|_| half_request(&addr)).collect();
    // One more drips a byte every 300 ms: activity does not reset the timeout.
    let mut drip = half_request(&addr);
    let dripping = thread::spawn(move || {
        for _ in 0..30 {
            thread::sleep(Duration::from_millis(300));
            if drip.write_all(b"T").is_err() {
                return true;
            }
        }
        closed_by_server(&mut drip)
    });

    let started = Instant::now();
    let answer = get(&addr, "/metrics", &[]);
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());

    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream),
            "slow connection {i} still open after {BOUND:?}"
        );
    }
    assert!(
        dripping.join().unwrap(),
        "the dripping client was not closed"
    );
    let body = get(&addr, "/metrics", &[]).json();
    let connections = &body["server"]["connections"];
    let closed: u64 = ["evicted", "header_timeouts", "refused"]
        .iter()
        .map(|counter| connections[counter].as_u64().unwrap())
        .sum();
    assert!(closed >= 21, "{connections}");
    assert!(
        connections["evicted"].as_u64().unwrap() >= 12,
        "{connections}"
    );
    stop(server);
}

#[test]
fn out_of_file_descriptors_the_server_logs_and_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let mut server = Running::start_with_fd_limit(
        &[
            "serve",
            "--db",
            path(&db),
            "--listen",
            "127.0.0.1:0",
            "--header-read-timeout-ms",
            "60000",
        ],
        48,
    );
    let addr = server.address(LISTENING);
    server.log_line_containing("above what the file-descriptor limit allows", BOUND);
    let slow: Vec<TcpStream> = (0..80).map(|_| half_request(&addr)).collect();
    server.log_line_containing("accepting a connection failed", BOUND);
    let answer = get(&addr, "/metrics", &[]);
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert!(
        body["server"]["connections"]["accept_errors"]
            .as_u64()
            .unwrap()
            > 0,
        "{}",
        body["server"]
    );
    drop(slow);
    stop(server);
}

/// Writes `token` to `file` (mode 0600) by replacing it, as a rotation would.
fn write_token(file: &Path, token: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, token).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn status_with(addr: &str, token: &str) -> u16 {
    get(
        addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .status
}

#[test]
fn sighup_rereads_the_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let token = dir.path().join("token");
    write_token(&token, "first-token\n");
    let mut server = Running::start(&[
        "serve",
        "--db",
        path(&db),
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        path(&token),
    ]);
    let addr = server.address(LISTENING);
    assert_eq!(status_with(&addr, "first-token"), 200);

    write_token(&token, "second-token\n");
    server.signal(Signal::SIGHUP);
    server.log_line_containing("SIGHUP: token file re-read", BOUND);
    assert_eq!(status_with(&addr, "first-token"), 401);
    assert_eq!(status_with(&addr, "second-token"), 200);

    // An unusable file keeps the token in force.
    write_token(&token, "  \n");
    server.signal(Signal::SIGHUP);
    let line = server.log_line_containing("SIGHUP: cannot re-read the token file", BOUND);
    assert!(line.contains("the bearer token is empty"), "{line}");
    assert_eq!(status_with(&addr, "second-token"), 200);
    stop(server);
}

#[test]
fn a_token_file_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let token = dir.path().join("token");
    std::fs::write(&token, "shared-token").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut server = Running::start(&[
        "serve",
        "--db",
        path(&db),
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        path(&token),
    ]);
    let addr = server.address(LISTENING);
    let line = server.log_line_containing("accessible to group or others", BOUND);
    assert!(line.contains("0644"), "{line}");
    assert_eq!(status_with(&addr, "shared-token"), 200);
    stop(server);
}

#[test]
fn a_token_file_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let fifo = dir.path().join("token-fifo");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    for (file, what) in [(fifo.as_path(), "a FIFO"), (dir.path(), "a directory")] {
        let mut server = Running::start(&[
            "serve",
            "--db",
            path(&db),
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            path(file),
        ]);
        let status = server
            .wait_exit(BOUND)
            .unwrap_or_else(|| panic!("a token file that is {what} hangs the start"));
        assert_eq!(status.code(), Some(2));
        let stderr = server.stderr_text();
        assert!(
            stderr.contains(&format!("is {what}; it must be a regular file")),
            "{stderr}"
        );
    }
}

/// One answer of the flip test: when it was asked and answered (since the
/// test's start), and whether it was a full snapshot.
struct Answer {
    asked: Duration,
    answered: Duration,
    enabled: bool,
}

#[test]
fn the_disable_file_turns_snapshots_off_and_on_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(
        dir.path(),
        "small.db",
        &[
            "--tasks",
            "10",
            "--active-tasks",
            "2",
            "--jobs",
            "10",
            "--runs",
            "10",
            "--running",
            "0",
            "--queued",
            "2",
        ],
    );
    let off = dir.path().join("vitals.off");
    let mut server = Running::start(&[
        "serve",
        "--db",
        path(&db),
        "--listen",
        "127.0.0.1:0",
        "--disable-file",
        path(&off),
    ]);
    let addr = server.address(LISTENING);
    let t0 = Instant::now();
    let done = AtomicBool::new(false);
    // (time, file exists from then on), recorded once the change is made
    // (create) or just before it is made (remove).
    let mut flips: Vec<(Duration, bool)> = Vec::new();
    let answers: Vec<Answer> = thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut answers = Vec::new();
                    while !done.load(Ordering::Relaxed) {
                        let asked = t0.elapsed();
                        let answer = get(&addr, "/metrics", &[]);
                        let answered = t0.elapsed();
                        assert_eq!(answer.status, 200);
                        let body = answer.json();
                        let enabled = body != json!({"schema_version": 1, "enabled": false});
                        if enabled {
                            assert_eq!(body["schema_version"], 1);
                            assert!(body.get("collector").is_some(), "{body}");
                        }
                        answers.push(Answer {
                            asked,
                            answered,
                            enabled,
                        });
                    }
                    answers
                })
            })
            .collect();
        for _ in 0..3 {
            thread::sleep(Duration::from_millis(400));
            std::fs::write(&off, "").unwrap();
            flips.push((t0.elapsed(), true));
            thread::sleep(Duration::from_millis(400));
            flips.push((t0.elapsed(), false));
            std::fs::remove_file(&off).unwrap();
        }
        thread::sleep(Duration::from_millis(400));
        done.store(true, Ordering::Relaxed);
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });

    // The file's state over [asked, answered], when it did not change inside.
    let state = |a: &Answer| -> Option<bool> {
        let before = flips.iter().rev().find(|(t, _)| *t <= a.asked);
        let inside = flips.iter().any(|(t, _)| *t > a.asked && *t < a.answered);
        if inside {
            return None;
        }
        Some(before.is_some_and(|(_, exists)| *exists))
    };
    let (mut off_checked, mut on_checked) = (0, 0);
    for answer in &answers {
        match state(answer) {
            Some(true) => {
                assert!(!answer.enabled, "a snapshot while the disable file existed");
                off_checked += 1;
            }
            Some(false) => {
                assert!(answer.enabled, "disabled while the disable file was absent");
                on_checked += 1;
            }
            None => {}
        }
    }
    assert!(
        off_checked >= 3 && on_checked >= 3,
        "{off_checked} off, {on_checked} on"
    );
    let flipped = server.log_line_containing("disable file present: snapshots off", BOUND);
    assert!(flipped.contains("vitals.off"), "{flipped}");
    server.log_line_containing("disable file gone: snapshots on", BOUND);
    stop(server);
}

#[test]
fn disable_file_and_disabled_conflict() {
    let out = common::run(&[
        "serve",
        "--db",
        "x.db",
        "--disabled",
        "--disable-file",
        "/tmp/off",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_server_section_counts_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let mut server = Running::start(&["serve", "--db", path(&db), "--listen", "127.0.0.1:0"]);
    let addr = server.address(LISTENING);
    let _ = get(&addr, "/metrics", &[]);
    let body: Value = get(&addr, "/metrics", &[]).json();
    let server_section = &body["server"];
    assert_eq!(
        body["collector"]["sections"]["server"]["status"], "ok",
        "{body}"
    );
    assert!(server_section["connections"]["accepted"].as_u64().unwrap() >= 2);
    // This request's own, and perhaps the previous one, still closing.
    assert!(server_section["connections"]["open"].as_u64().unwrap() >= 1);
    let om = get(&addr, "/metrics?format=openmetrics", &[]);
    for family in [
        "vitals_http_connections_open ",
        "vitals_http_connections_accepted_total ",
        "vitals_http_connections_closed_total{reason=\"evicted\"} ",
        "vitals_http_accept_errors_total ",
    ] {
        assert!(om.body.contains(family), "{family}: {}", om.body);
    }
    stop(server);
}
