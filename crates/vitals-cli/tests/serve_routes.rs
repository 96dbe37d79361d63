//! `vitals serve` as a Prometheus target: `--listen HOST:PORT`, the landing
//! page, the probes, the three formats and gzip, over a real loopback socket.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Running, gen_db, get, run, text};
use nix::sys::signal::Signal;

const LISTENING: &str = "listening on ";
const EXIT_LIMIT: Duration = Duration::from_secs(15);

/// Polls `/-/ready` until it answers 200, at most `limit`.
fn wait_ready(addr: &str, limit: Duration) -> common::Response {
    let deadline = Instant::now() + limit;
    loop {
        let answer = get(addr, "/-/ready", &[]);
        if answer.status == 200 || Instant::now() >= deadline {
            return answer;
        }
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn listen_accepts_localhost_and_serves_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "localhost:0",
    ]);
    // `localhost` resolved to the IPv4 loopback: no token needed.
    let addr = server.address(LISTENING);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let healthy = get(&addr, "/-/healthy", &[]);
    assert_eq!((healthy.status, healthy.body.as_str()), (200, "healthy\n"));
    // The first snapshot is built at start: ready without a scrape.
    let ready = wait_ready(&addr, Duration::from_secs(30));
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));

    let landing = get(&addr, "/", &[]);
    assert_eq!(landing.status, 200);
    assert_eq!(
        landing.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        landing.body.contains("<h1>vitals serve</h1>"),
        "{}",
        landing.body
    );
    assert!(
        landing.body.contains("href=\"metrics?format=prometheus\""),
        "{}",
        landing.body
    );

    for (format, content_type) in [
        ("json", "application/json"),
        (
            "openmetrics",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        ("prometheus", "text/plain; version=0.0.4; charset=utf-8"),
    ] {
        let answer = get(&addr, &format!("/metrics?format={format}"), &[]);
        assert_eq!(answer.status, 200, "{format}");
        assert_eq!(answer.header("content-type"), Some(content_type));
        assert_eq!(answer.header("vary"), Some("accept, accept-encoding"));
        assert_eq!(answer.header("content-encoding"), None, "{format}");
    }
    let text_format = get(&addr, "/metrics", &[("Accept", "text/plain")]);
    assert!(
        text_format
            .body
            .contains("# TYPE process_cpu_seconds_total counter\n"),
        "{}",
        text_format.body
    );
    let json = get(&addr, "/metrics", &[]).json();
    assert!(json["process"]["resident_memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(json["collector"]["sections"]["process"]["status"], "ok");

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn gzip_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--min-interval-ms",
        "60000",
    ]);
    let addr = server.address(LISTENING);
    let plain = get(&addr, "/metrics?format=prometheus", &[]);
    let zipped = common::get_bytes(
        &addr,
        "/metrics?format=prometheus",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut decoded = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped.body[..]),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(decoded, plain.body);
    assert!(zipped.body.len() < plain.body.len() / 2);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}

#[test]
fn the_probes_need_no_token_and_the_rest_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("absent.db");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cr3t\n").unwrap();
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "localhost:0",
        "--token-file",
        token.to_str().unwrap(),
    ]);
    let addr = server.address(LISTENING);
    for path in ["/", "/metrics", "/metrics?format=prometheus"] {
        assert_eq!(get(&addr, path, &[]).status, 401, "{path}");
        let ok = get(&addr, path, &[("Authorization", "Bearer s3cr3t")]);
        assert_eq!(ok.status, 200, "{path}");
    }
    assert_eq!(get(&addr, "/-/healthy", &[]).status, 200);
    // No database: every database section is in error, so not ready, and
    // the answer says only that.
    let ready = get(&addr, "/-/ready", &[]);
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.body,
        "not ready: a section's status was error in the last snapshot\n"
    );
    assert!(!ready.body.contains("absent.db"));
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(EXIT_LIMIT).expect("exits").code(), Some(0));
}

#[test]
fn a_listen_address_without_a_port_is_a_usage_error() {
    for listen in ["localhost", "localhost:port", "127.0.0.1"] {
        let out = run(&["serve", "--db", "x.db", "--listen", listen]);
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("--listen"), "{listen}: {stderr}");
    }
}

/// The serving layer's flags and the app's routes together: `--listen
/// HOST:PORT` with the server's caps and timeouts, the token (rotated by
/// SIGHUP) on `/` and `/metrics` but never on the probes, and both the
/// `process` and the `server` section in the snapshot.
#[test]
fn the_app_with_the_serve_flags_a_rotated_token_and_both_sections() {
    let dir = tempfile::tempdir().unwrap();
    let db = gen_db(dir.path(), "s.db", &["--scale", "S"]);
    let token = dir.path().join("token");
    std::fs::write(&token, "first-token\n").unwrap();
    let mut server = Running::start(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "localhost:0",
        "--token-file",
        token.to_str().unwrap(),
        "--max-connections",
        "16",
        "--header-read-timeout-ms",
        "5000",
        "--idle-timeout-ms",
        "5000",
        "--shutdown-grace-ms",
        "3000",
    ]);
    let addr = server.address(LISTENING);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let with = |token: &str| [("Authorization", format!("Bearer {token}"))];
    let status = |path: &str, token: &str| {
        let [(name, value)] = with(token);
        get(&addr, path, &[(name, value.as_str())]).status
    };

    for path in ["/", "/metrics", "/metrics?format=openmetrics"] {
        assert_eq!(get(&addr, path, &[]).status, 401, "{path}");
        assert_eq!(status(path, "first-token"), 200, "{path}");
    }
    assert_eq!(wait_ready(&addr, Duration::from_secs(30)).status, 200);

    std::fs::write(&token, "second-token\n").unwrap();
    server.signal(Signal::SIGHUP);
    server.log_line_containing("SIGHUP: token file re-read", Duration::from_secs(10));
    for path in ["/", "/metrics"] {
        assert_eq!(status(path, "first-token"), 401, "{path}");
        assert_eq!(status(path, "second-token"), 200, "{path}");
    }
    assert_eq!(get(&addr, "/-/healthy", &[]).status, 200);
    assert_eq!(get(&addr, "/-/ready", &[]).status, 200);

    let [(name, value)] = with("second-token");
    let json = get(&addr, "/metrics", &[(name, value.as_str())]).json();
    let sections = &json["collector"]["sections"];
    assert_eq!(sections["process"]["status"], "ok", "{sections}");
    assert_eq!(sections["server"]["status"], "ok", "{sections}");
    assert!(json["process"]["open_fds"].as_u64().unwrap() > 0, "{json}");
    assert!(
        json["server"]["connections"]["accepted"].as_u64().unwrap() >= 10,
        "{json}"
    );
    let text_format = get(
        &addr,
        "/metrics?format=prometheus",
        &[(name, value.as_str())],
    );
    for family in [
        "# TYPE process_open_fds gauge\n",
        "# TYPE vitals_http_connections_accepted_total counter\n",
        "# TYPE vitals_log_writes_dropped_total counter\n",
    ] {
        assert!(text_format.body.contains(family), "{}", text_format.body);
    }

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(EXIT_LIMIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}
