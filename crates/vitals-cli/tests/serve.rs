//! `vitals serve` end to end over a real loopback socket, as a subprocess.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::time::Duration;

use common::{
    Running, assert_all_sections_ok, fake_proc_root, gen_db, get, run, running_pids, text,
};
use nix::sys::signal::Signal;

const LISTENING: &str = "listening on ";
const EXIT_LIMIT: Duration = Duration::from_secs(15);

#[test]
fn serves_json_and_openmetrics_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let proc_root = fake_proc_root(dir.path(), &running_pids(&db));
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--proc-root",
        proc_root.to_str().unwrap(),
    ]);
    let addr = server.address(LISTENING);

    let json = get(&addr, "/metrics", &[]);
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let body = json.json();
    assert_all_sections_ok(&body);
    assert_eq!(body["agents"].as_array().unwrap().len(), 8);
    assert_eq!(body["queue"]["depth"], 12);

    let om = get(&addr, "/metrics?format=openmetrics", &[]);
    assert_eq!(om.status, 200);
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        om.headers
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    assert!(om.body.contains("\nvitals_enabled 1"), "{}", om.body);
    // The same content negotiated the way Prometheus asks for it.
    let prom = get(
        &addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(prom.body.ends_with("# EOF\n"));

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn serves_before_the_database_exists_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("later.db");
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let addr = server.address(LISTENING);
    let body = get(&addr, "/metrics", &[]).json();
    assert_eq!(body["schema_version"], 1);
    assert_eq!(
        body["collector"]["sections"]["stages"]["error"]["kind"],
        "no_database"
    );

    // The database appears: the next scrape reads it.
    gen_db(
        dir.path(),
        "later.db",
        &[
            "--tasks",
            "10",
            "--active-tasks",
            "3",
            "--jobs",
            "10",
            "--runs",
            "10",
            "--running",
            "1",
            "--queued",
            "1",
        ],
    );
    let body = get(&addr, "/metrics", &[]).json();
    assert_eq!(
        body["collector"]["sections"]["stages"]["status"], "ok",
        "{body}"
    );
    assert_eq!(body["stages"].as_array().unwrap().len(), 3);

    server.signal(Signal::SIGINT);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGINT");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn non_loopback_needs_a_token_or_an_explicit_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any.db");
    let db = db.to_str().unwrap();

    let out = run(&["serve", "--db", db, "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to serve on the non-loopback address 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(stderr.contains("--token-file"), "{stderr}");

    let mut server = Running::start(&[
        "serve",
        "--db",
        db,
        "--listen",
        "0.0.0.0:0",
        "--allow-unauthenticated",
    ]);
    let addr = server.address(LISTENING);
    let port = addr.rsplit(':').next().unwrap();
    let answer = get(&format!("127.0.0.1:{port}"), "/metrics", &[]);
    assert_eq!(answer.status, 200);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}

#[test]
fn token_file_requires_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any.db");
    let token = dir.path().join("token");
    std::fs::write(&token, "  s3cr3t-token\n").unwrap();
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
        "--token-file",
        token.to_str().unwrap(),
    ]);
    let addr = server.address(LISTENING);
    let addr = format!("127.0.0.1:{}", addr.rsplit(':').next().unwrap());

    let refused = get(&addr, "/metrics", &[]);
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        get(&addr, "/metrics", &[("Authorization", "Bearer wrong")]).status,
        401
    );
    let ok = get(
        &addr,
        "/metrics",
        &[("Authorization", "Bearer s3cr3t-token")],
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["schema_version"], 1);

    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}

#[test]
fn an_empty_or_missing_token_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    for (file, message) in [
        (empty.to_str().unwrap(), "the bearer token is empty"),
        ("/nonexistent/vitals-token", "cannot read the token file"),
    ] {
        let out = run(&[
            "serve",
            "--db",
            "x.db",
            "--token-file",
            file,
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
}

#[test]
fn disabled_serves_the_kill_switch_body() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any.db");
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--disabled",
    ]);
    let addr = server.address(LISTENING);
    let answer = get(&addr, "/metrics", &[]);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        serde_json::json!({"schema_version": 1, "enabled": false})
    );
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}
