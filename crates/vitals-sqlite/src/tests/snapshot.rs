//! One snapshot, one transaction; the running query once; interruption; reopening.

use std::time::Duration;

use rusqlite::Connection;
use vitals_agents::AgentSource;
use vitals_core::{Collect, SourceError};
use vitals_cost::CostSource;
use vitals_queue::QueueSource;
use vitals_stages::StageSource;

use super::{SCHEMA, build_all, cx, db, now};
use crate::{SqliteError, SqliteStore};

fn add_queued(writer: &Connection, id: i64) {
    writer
        .execute(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (?1, 'a', 'queued', 'c')",
            [id],
        )
        .unwrap();
}

fn queued(counts: &[(String, i64)]) -> i64 {
    counts
        .iter()
        .find(|(s, _)| s == "queued")
        .map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn a_snapshot_sees_one_point_in_time() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    add_queued(&writer, 1);
    let store = SqliteStore::open(&path);

    let first = cx();
    assert_eq!(queued(&store.status_counts(&first).await.unwrap()), 1);
    // A writer commits between two calls of the same snapshot...
    add_queued(&writer, 2);
    writer
        .execute(
            "INSERT INTO jobs (id, agent, status, attempts, created_at) VALUES (3, 'a', 'running', 4, 'c')",
            [],
        )
        .unwrap();
    // ...which does not see it,
    assert_eq!(queued(&store.status_counts(&first).await.unwrap()), 1);
    assert_eq!(store.retry_stats(&first).await.unwrap().total_attempts, 0);
    assert_eq!(store.running_agents(&first).await.unwrap(), []);
    drop(first);
    // while the next snapshot does.
    let second = cx();
    assert_eq!(queued(&store.status_counts(&second).await.unwrap()), 2);
    assert_eq!(store.retry_stats(&second).await.unwrap().total_attempts, 4);
    assert_eq!(store.stats().transactions, 2);
}

#[tokio::test]
async fn a_newer_snapshot_ends_an_older_open_one() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    add_queued(&writer, 1);
    let store = SqliteStore::open(&path);
    let old = cx();
    assert_eq!(queued(&store.status_counts(&old).await.unwrap()), 1);
    add_queued(&writer, 2);
    // `old` is still alive, but a newer snapshot takes over the connection.
    let new = cx();
    assert_eq!(queued(&store.status_counts(&new).await.unwrap()), 2);
    drop(old);
    assert_eq!(queued(&store.status_counts(&new).await.unwrap()), 2);
}

#[tokio::test]
async fn the_running_query_runs_once_per_snapshot() {
    let (_dir, path, writer) = db();
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (1, 'a', 'running', 'c');
             INSERT INTO agent_runs (id, job_id, agent) VALUES (1, 1, 'a');",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    // Through an assembler: agents and cost.running run concurrently.
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(store.stats().running_queries, 1);
    build_all(&store).await.others_ok(&[]);
    assert_eq!(store.stats().running_queries, 2);
    // And by hand, one context.
    let cx = cx();
    assert_eq!(store.running_agents(&cx).await.unwrap().len(), 1);
    assert_eq!(store.running_costs(&cx).await.unwrap().len(), 1);
    assert_eq!(store.running_agents(&cx).await.unwrap().len(), 1);
    assert_eq!(store.stats().running_queries, 3);
}

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";

#[tokio::test]
async fn a_cancelled_query_is_interrupted_and_the_next_one_works() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    let cx = cx();
    let (tx, rx) = std::sync::mpsc::channel();
    let token = cx.cancellation();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        token.cancel();
    });
    let error = store
        .with_connection_for_test(&cx, move |conn| {
            let out = conn.query_row(ENDLESS, [], |r| r.get::<_, i64>(0));
            let out = out.map_err(|e| SqliteError::from_sqlite(e, std::path::Path::new("")));
            // What the worker itself saw, for the test.
            let _ = tx.send(
                out.as_ref()
                    .map_err(SourceError::kind)
                    .copied()
                    .map_err(str::to_owned),
            );
            out
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "interrupted");
    let seen = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen, Err("interrupted".to_owned()));
    // The cancelled context stays cancelled; the connection is free for the next.
    assert_eq!(
        store.status_counts(&cx).await.unwrap_err().kind(),
        "interrupted"
    );
    assert_eq!(store.status_counts(&super::cx()).await.unwrap(), []);
}

#[tokio::test]
async fn a_query_past_its_deadline_is_interrupted() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    let cx = Collect::standalone(Some(now()), Duration::from_millis(200));
    let started = std::time::Instant::now();
    let error = store
        .with_connection_for_test(&cx, |conn| {
            conn.query_row(ENDLESS, [], |r| r.get::<_, i64>(0))
                .map_err(|e| SqliteError::from_sqlite(e, std::path::Path::new("")))
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "interrupted");
    assert!(started.elapsed() < Duration::from_secs(5));
    let next = super::cx();
    assert_eq!(store.totals(&next).await.unwrap().runs, 0);
}

#[tokio::test]
async fn a_late_cancellation_does_not_touch_the_next_request() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    let cx = cx();
    // A request that finished, then is "cancelled" (its flag is set on drop):
    assert_eq!(store.status_counts(&cx).await.unwrap(), []);
    // A request whose caller gives up before the worker reaches it.
    let blocker_cx = Collect::standalone(Some(now()), Duration::from_millis(100));
    let blocked = store.with_connection_for_test(&blocker_cx, |_conn| {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    });
    assert_eq!(blocked.await.unwrap_err().kind(), "interrupted");
    // Then a long but legitimate query runs to its end.
    let n = store
        .with_connection_for_test(&cx, |conn| {
            conn.query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT COUNT(*) FROM c",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(SqliteError::Sqlite)
        })
        .await
        .unwrap();
    assert_eq!(n, 300_000);
}

#[tokio::test]
async fn a_writer_lock_past_the_busy_timeout_is_busy() {
    let (_dir, path, writer) = db();
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO jobs (id, agent, status, created_at) VALUES (1, 'a', 'queued', 'c');").unwrap();
    let store = SqliteStore::builder(&path)
        .busy_timeout(Duration::from_millis(150))
        .build();
    let started = std::time::Instant::now();
    let error = store.status_counts(&cx()).await.unwrap_err();
    assert_eq!(error.kind(), "busy");
    assert!(started.elapsed() >= Duration::from_millis(140));
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(queued(&store.status_counts(&cx()).await.unwrap()), 1);
}

#[tokio::test]
async fn the_store_opens_the_file_when_it_appears_and_when_it_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchestrator.db");
    let store = SqliteStore::open(&path);
    let error = store.active_tasks(&cx()).await.unwrap_err();
    assert_eq!(error.kind(), "no_database");

    let writer = Connection::open(&path).unwrap();
    writer.execute_batch(SCHEMA).unwrap();
    add_queued(&writer, 1);
    assert_eq!(queued(&store.status_counts(&cx()).await.unwrap()), 1);
    drop(writer);

    // Replaced by another database (renamed over it, as a restore would).
    let other = dir.path().join("other.db");
    let writer = Connection::open(&other).unwrap();
    writer.execute_batch(SCHEMA).unwrap();
    for id in 1..=3 {
        add_queued(&writer, id);
    }
    drop(writer);
    std::fs::rename(&other, &path).unwrap();
    assert_eq!(queued(&store.status_counts(&cx()).await.unwrap()), 3);

    // Removed: an error again, and back when it returns.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(store.totals(&cx()).await.unwrap_err().kind(), "no_database");
    let writer = Connection::open(&path).unwrap();
    writer.execute_batch(SCHEMA).unwrap();
    assert_eq!(store.totals(&cx()).await.unwrap().runs, 0);
}

#[tokio::test]
async fn a_generated_reference_database_reads_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let shape = vitals_refdb::Shape::of(vitals_refdb::Scale::S);
    vitals_refdb::generate(&path, &vitals_refdb::GenOptions::new(shape, 7)).unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert!(outcome.fields.values().all(Vec::is_empty), "{outcome:#?}");
    let cx = cx();
    assert_eq!(store.running_agents(&cx).await.unwrap().len(), 8);
    let totals = store.totals(&cx).await.unwrap();
    assert_eq!(totals.runs, 10_000);
    let total: i64 = store
        .status_counts(&cx)
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 10_000);
}
