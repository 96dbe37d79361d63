//! The store never drops the POSIX locks of other connections of this
//! process: on POSIX, closing any descriptor of a file releases every
//! `fcntl` lock the process holds on it. A writer in this process (the
//! embedded case: the host's own read-write connection) must keep its lock
//! across store open/close cycles, recounts, `floor_queries` and `diagnose`.
//!
//! Locks of one process do not conflict with each other (and SQLite shares
//! its lock state between the connections of one process), so the lock is
//! probed from another process: this test binary run again on the
//! `lock_probe_child` test, which tries to take the write lock.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use vitals_cost::CostSource;
use vitals_queue::QueueSource;

use super::{cx, db};
use crate::SqliteStore;

const PROBE_ENV: &str = "VITALS_SQLITE_LOCK_PROBE";

/// Run as a child: tries `BEGIN IMMEDIATE` (the RESERVED lock) without
/// waiting, and prints whether it got it. Does nothing in a normal run.
#[test]
fn lock_probe_child() {
    let Some(path) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    let outcome = match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => "acquired".to_owned(),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {
            "busy".to_owned()
        }
        Err(e) => format!("error {e}"),
    };
    println!("LOCK_PROBE={outcome}");
}

/// Whether another process can take the write lock now.
fn probe(path: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::locks::lock_probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PROBE_ENV, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split("LOCK_PROBE=")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no probe answer: {stdout}"))
        .to_owned()
}

/// Long enough for a dropped store's worker threads to close everything.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_writer_in_this_process_keeps_its_lock_while_stores_come_and_go() {
    let (_dir, path, writer) = db();
    writer
        .execute_batch(
            "INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'done', 'c1'), ('a', 'queued', 'c2');
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd) VALUES (1, 'a', 's1', 'f', 0.5);",
        )
        .unwrap();
    assert_eq!(probe(&path), "acquired", "nobody holds the lock yet");
    // The host's write transaction: RESERVED (readers may still read).
    writer
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'queued', 'c3');",
        )
        .unwrap();
    assert_eq!(probe(&path), "busy", "the writer holds the lock");
    for round in 0..2 {
        let store = SqliteStore::open(&path);
        let counts = store.status_counts(&cx()).await.unwrap();
        assert_eq!(
            counts.iter().map(|(_, n)| n).sum::<i64>(),
            2,
            "committed rows only"
        );
        assert_eq!(store.totals(&cx()).await.unwrap().runs, 1);
        store.recount_for_test().await;
        let full = SqliteStore::builder(&path).incremental(false).build();
        assert_eq!(full.totals(&cx()).await.unwrap().runs, 1);
        drop((store, full));
        settle().await;
        assert_eq!(probe(&path), "busy", "after the stores of round {round}");
    }
    crate::bench::floor_queries(&path).unwrap();
    assert_eq!(probe(&path), "busy", "after floor_queries");
    crate::doctor::diagnose(&path).unwrap();
    assert_eq!(probe(&path), "busy", "after diagnose");
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(probe(&path), "acquired", "the writer committed");
}
