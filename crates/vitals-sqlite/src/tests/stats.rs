//! `SqliteStore::stats`: the counters move with the work, and only then.

use std::time::Duration;

use vitals_agents::AgentSource;
use vitals_core::{Collect, SourceError};
use vitals_cost::CostSource;
use vitals_queue::QueueSource;

use super::{build_all, cx, db, now};
use crate::{SqliteError, SqliteStore, StoreStats};

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";

/// Runs the endless query through the store in the snapshot of `cx`.
async fn endless(store: &SqliteStore, cx: &Collect) -> Result<i64, SqliteError> {
    store
        .with_connection_for_test(cx, |conn| {
            conn.query_row(ENDLESS, [], |r| r.get::<_, i64>(0))
                .map_err(|e| SqliteError::from_sqlite(e, std::path::Path::new("")))
        })
        .await
}

#[tokio::test]
async fn a_new_store_has_counted_nothing() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    assert_eq!(store.stats(), StoreStats::default());
}

#[tokio::test]
async fn interrupted_counts_each_request_whose_caller_gave_up_once() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    // Answered requests are not interrupted.
    build_all(&store).await.others_ok(&[]);
    assert_eq!(store.stats().interrupted, 0);

    // Cancelled before it starts: never sent to the worker.
    let cancelled = cx();
    cancelled.cancellation().cancel();
    let error = store.status_counts(&cancelled).await.unwrap_err();
    assert_eq!(error.kind(), "interrupted");
    assert_eq!(store.stats().interrupted, 1);

    // Past its deadline while its statement runs: stopped, counted once
    // (the caller's answer and the worker's stopped statement are one request).
    let short = Collect::standalone(Some(now()), Duration::from_millis(150));
    assert_eq!(
        endless(&store, &short).await.unwrap_err().kind(),
        "interrupted"
    );
    assert_eq!(store.stats().interrupted, 2);

    // Its future dropped by the caller (a timeout around the call).
    let long = Collect::standalone(Some(now()), Duration::from_secs(20));
    let dropped = tokio::time::timeout(Duration::from_millis(150), endless(&store, &long)).await;
    assert!(dropped.is_err(), "the call was cut by the timeout");
    assert_eq!(store.stats().interrupted, 3);

    // The connection is free again, and answers count nothing.
    assert_eq!(store.totals(&cx()).await.unwrap().runs, 0);
    assert_eq!(store.stats().interrupted, 3);
}

#[tokio::test]
async fn the_counters_follow_snapshots_and_are_shared_by_clones() {
    let (_dir, path, writer) = db();
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (1, 'a', 'running', 'c');
             INSERT INTO agent_runs (id, job_id, agent) VALUES (1, 1, 'a');",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let clone = store.clone();
    let cx = cx();
    assert_eq!(store.running_agents(&cx).await.unwrap().len(), 1);
    assert_eq!(clone.running_costs(&cx).await.unwrap().len(), 1);
    assert_eq!(store.status_counts(&cx).await.unwrap().len(), 1);
    drop(cx);
    let stats = clone.stats();
    assert_eq!(stats, store.stats(), "one set of counters per store");
    assert_eq!(stats.running_queries, 1, "memoized for the snapshot");
    assert_eq!(stats.transactions, 1);
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.cold_passes, 1, "the first scrape of the job counts");
    assert_eq!(
        (stats.recounts, stats.drifts, stats.fallbacks),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.reused_mark_answers, 0);
    // The next snapshot: one more transaction on the same connection, and
    // the job counts answered incrementally.
    assert_eq!(store.status_counts(&super::cx()).await.unwrap().len(), 1);
    let next = store.stats();
    assert_eq!((next.transactions, next.connections), (2, 1));
    assert_eq!(next.cold_passes, 1);
}
