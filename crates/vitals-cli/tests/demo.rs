//! `vitals demo` as a subprocess: live agents, then a clean stop.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests forward the child's stderr")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Running, get};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// The agent named `name` in a snapshot.
fn agent<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == name)
        .unwrap_or_else(|| panic!("no agent {name} in {body}"))
}

/// Whether `pid` names no process any more: gone (`ESRCH`), or reused by a
/// process that is neither a zombie nor a demo agent.
fn gone(pid: i64) -> bool {
    let pid = i32::try_from(pid).unwrap();
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => true,
        _ => {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !stat.is_empty() && !zombie && !String::from_utf8_lossy(&cmdline).contains("__agent")
        }
    }
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(200));
    }
}

#[test]
fn demo_shows_live_agents_and_leaves_nothing_behind() {
    let mut demo = Running::start(&["demo", "--listen", "127.0.0.1:0"]);
    let addr = demo.address("vitals demo: serving ");
    let db_line = demo.line_starting_with("database: ", Duration::from_secs(10));
    let db = PathBuf::from(
        db_line
            .trim_start_matches("database: ")
            .split(" (")
            .next()
            .unwrap(),
    );
    assert!(db.exists(), "{db:?}");

    // Let the agents settle after their start-up, then two fetches apart.
    sleep(Duration::from_secs(1));
    let first = get(&addr, "/metrics", &[]).json();
    assert_eq!(
        first["collector"]["sections"]["stages"]["status"], "ok",
        "{first}"
    );
    let busy = agent(&first, "busy-agent");
    let stuck = agent(&first, "stuck-agent");
    let short = agent(&first, "short-lived-agent");
    let pids: Vec<i64> = [busy, stuck, short]
        .iter()
        .map(|a| a["pid"].as_i64().unwrap())
        .collect();
    let busy_ticks = busy["cpu_ticks"].as_i64().expect("the busy agent is alive");
    let stuck_ticks = stuck["cpu_ticks"]
        .as_i64()
        .expect("the stuck agent is alive");

    sleep(Duration::from_millis(1500));
    let mut second = get(&addr, "/metrics", &[]).json();
    // A loaded machine may not have scheduled the busy agent yet: wait, bounded.
    let rose = eventually(Duration::from_secs(20), || {
        if agent(&second, "busy-agent")["cpu_ticks"].as_i64().unwrap() > busy_ticks {
            return true;
        }
        second = get(&addr, "/metrics", &[]).json();
        false
    });
    assert!(
        rose,
        "busy-agent's cpu_ticks did not rise from {busy_ticks}: {second}"
    );
    assert_eq!(
        agent(&second, "stuck-agent")["cpu_ticks"],
        stuck_ticks,
        "the sleeper stays flat"
    );

    // The short-lived agent exits after 5 s; the demo reaps it, its job stays
    // running with a dead pid, and its cpu_ticks becomes null.
    let died = eventually(Duration::from_secs(20), || {
        let body = get(&addr, "/metrics", &[]).json();
        agent(&body, "short-lived-agent")["cpu_ticks"].is_null() && gone(pids[2])
    });
    assert!(
        died,
        "the short-lived agent's pid {} did not go dead",
        pids[2]
    );

    demo.signal(Signal::SIGINT);
    let status = demo
        .wait_exit(Duration::from_secs(20))
        .expect("the demo exits after SIGINT");
    assert_eq!(status.code(), Some(0), "{status}");
    for pid in pids {
        assert!(
            gone(pid),
            "agent pid {pid} is still there after the demo stopped"
        );
    }
    assert!(!db.exists(), "the demo's database is removed");
    assert!(
        !db.parent().unwrap().exists(),
        "the demo's temporary directory is removed"
    );
}
