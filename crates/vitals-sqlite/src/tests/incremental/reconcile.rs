//! Drift seen by the cheap checks and changes only a recount sees: each
//! reaches the answers, through a background recount, within its bound.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use vitals_cost::CostSource;

use super::{answer, seed, store, truth};
use crate::SqliteStore;
use crate::tests::db;

#[tokio::test]
async fn an_append_only_history_is_exact_without_any_recount() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    let store = store(&path);
    for round in 0_i64..20 {
        // New work arrives, earlier work moves forward, nothing is rewritten.
        writer
            .execute(
                "INSERT INTO jobs (id, agent, status, created_at) VALUES (?1, 'a', 'queued', 'c')",
                [round + 1],
            )
            .unwrap();
        writer
            .execute(
                "INSERT INTO agent_runs (id, job_id, agent) VALUES (?1, ?1, 'a')",
                [round + 1],
            )
            .unwrap();
        if round > 0 {
            writer
                .execute("UPDATE jobs SET status = 'running' WHERE id = ?1", [round])
                .unwrap();
        }
        if round > 1 {
            let status = ["done", "failed", "cancelled"][usize::try_from(round % 3).unwrap()];
            writer
                .execute(
                    "UPDATE jobs SET status = ?2 WHERE id = ?1",
                    params![round - 1, status],
                )
                .unwrap();
            writer
                .execute(
                    "UPDATE agent_runs SET finished_at = 'f', cost_usd = 0.5, input_tokens = ?1 WHERE id = ?1",
                    [round - 1],
                )
                .unwrap();
        }
        assert_eq!(answer(&store).await, truth(&writer, &path), "round {round}");
    }
    let stats = store.stats();
    assert_eq!(stats.cold_passes, 2, "one per table");
    assert_eq!(stats.drifts, 0);
    assert_eq!(stats.recounts, 0);
    assert_eq!(stats.fallbacks, 0);
}

/// Scrapes until the answer is the truth, for at most ten seconds.
/// Waits until the store answers what the full queries answer now. The
/// writer is done when this is called, so the truth is computed once (each
/// computation scans the whole history, which on a loaded machine would
/// compete with the very recount being waited for). The bound only keeps a
/// broken build from hanging: it is no timing assertion.
async fn until_exact(store: &SqliteStore, writer: &Connection, path: &Path) {
    const HANG_GUARD: Duration = Duration::from_secs(120);
    let expected = truth(writer, path);
    let start = Instant::now();
    loop {
        if answer(store).await == expected {
            return;
        }
        assert!(start.elapsed() < HANG_GUARD, "never reconciled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_purge_of_the_oldest_rows_is_seen_and_recounted_in_the_background() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute_batch("DELETE FROM jobs WHERE id = 1; DELETE FROM agent_runs WHERE id = 1;")
        .unwrap();
    until_exact(&store, &writer, &path).await;
    assert!(store.stats().drifts >= 1);
    assert!(store.stats().recounts >= 1);
}

#[tokio::test]
async fn a_requeued_failed_job_is_seen_through_the_status_index() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute("UPDATE jobs SET status = 'queued' WHERE id = 2", [])
        .unwrap();
    until_exact(&store, &writer, &path).await;
    assert!(store.stats().drifts >= 1);
}

#[tokio::test]
async fn an_invisible_correction_lands_within_the_reconcile_interval() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    let store = SqliteStore::builder(&path)
        .reconcile_interval(Duration::from_millis(200))
        .build();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // Rewrites of settled rows in place: no cheap check sees them.
    writer
        .execute_batch(
            "UPDATE jobs SET status = 'failed' WHERE id = 3;
             UPDATE agent_runs SET cost_usd = 4.0, input_tokens = 11 WHERE id = 2;",
        )
        .unwrap();
    let (counts, totals) = answer(&store).await;
    assert_ne!((counts, totals), truth(&writer, &path), "not seen at once");
    until_exact(&store, &writer, &path).await;
    assert_eq!(store.stats().drifts, 0);
    assert!(store.stats().recounts >= 1);
}

#[tokio::test]
async fn a_first_scrape_cut_by_its_deadline_gets_its_state_from_the_background() {
    let (_dir, path, writer) = db();
    let tx = writer.unchecked_transaction().unwrap();
    tx.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
         INSERT INTO agent_runs (job_id, agent, finished_at, cost_usd, input_tokens)
         SELECT i, 'a', 'f', 0.5, i FROM n;",
    )
    .unwrap();
    tx.commit().unwrap();
    let store = store(&path);
    // A deadline far shorter than the scan: the inline pass is interrupted.
    let short = vitals_core::Collect::standalone(None, Duration::from_millis(2));
    let error = store.totals(&short).await.unwrap_err();
    assert_eq!(error.kind(), "interrupted");
    drop(short);
    // Scrapes with the same short deadline succeed once the state landed.
    let start = Instant::now();
    loop {
        let short = vitals_core::Collect::standalone(None, Duration::from_millis(2));
        if store.totals(&short).await.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no background state"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.stats().recounts >= 1);
    assert_eq!(store.stats().cold_passes, 0);
    assert_eq!(answer(&store).await.1, truth(&writer, &path).1);
}

#[tokio::test]
async fn a_drift_seen_while_recounts_are_throttled_is_recounted_later() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    // Enough history that a recount takes a while: the next drift-triggered
    // one must wait as long as that one took.
    writer
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
             INSERT INTO agent_runs (id, job_id, agent, finished_at, cost_usd, input_tokens)
             SELECT i, 1, 'a', 'f', 0.5, i FROM n;",
        )
        .unwrap();
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    store.recount_for_test().await;
    // At once after that recount: a requeue, seen as drift while a new
    // recount may not start yet. It must start once it may.
    writer
        .execute("UPDATE jobs SET status = 'queued' WHERE id = 2", [])
        .unwrap();
    until_exact(&store, &writer, &path).await;
    assert!(store.stats().drifts >= 1);
}
