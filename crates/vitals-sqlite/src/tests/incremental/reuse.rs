//! Rowids given again at or below the high-water mark (the tables have no
//! `AUTOINCREMENT`): answered exactly at once, never counted twice or missed.

use super::{answer, ids, seed, store, truth};
use crate::tests::{db, db_with};

/// The minimal case the property test found: rowids at or below the mark
/// given to new rows (the table has no AUTOINCREMENT, so SQLite picks
/// `max(rowid) + 1`) after the newest rows were deleted. No settled row
/// changed, so the answer must be exact at once, not after a recount.
#[tokio::test]
async fn rowids_reused_below_the_mark_are_counted_at_once() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    let store = store(&path);
    writer
        .execute_batch(
            "INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'paused', 'c1'), ('a', 'queued', 'c2');
             INSERT INTO agent_runs (job_id, agent, started_at) VALUES (1, 'a', 's1'), (2, 'a', 's2');
             DELETE FROM jobs WHERE id = 1;
             DELETE FROM agent_runs WHERE id = 1;",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute_batch(
            "DELETE FROM jobs WHERE id = 2;
             DELETE FROM agent_runs WHERE id = 2;
             INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'done', 'c3');
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd, input_tokens)
               VALUES (3, 'a', 's3', 'f', 1.25, 40);",
        )
        .unwrap();
    assert_eq!(
        ids(&writer, "jobs"),
        [1],
        "SQLite gave the new row a reused id"
    );
    assert_eq!(answer(&store).await, truth(&writer, &path));
    assert_eq!(store.stats().reused_mark_answers, 2, "one per table");
}

/// The row at the mark deleted and its id given again, with a gap below it
/// filled as well, all before the next scrape: the maximum is back above
/// the mark, so only the changed row at the mark shows the reuse.
#[tokio::test]
async fn the_row_at_the_mark_replaced_before_the_next_scrape_is_seen() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    let store = store(&path);
    writer
        .execute_batch(
            "INSERT INTO jobs (agent, status, created_at) VALUES
               ('a', 'done', 'c1'), ('a', 'paused', 'c2'), ('a', 'queued', 'c3');
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd) VALUES
               (1, 'a', 's1', 'f', 0.5), (2, 'a', 's2', NULL, NULL), (3, 'a', 's3', NULL, NULL);
             DELETE FROM jobs WHERE id = 2;
             DELETE FROM agent_runs WHERE id = 2;",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute_batch(
            "DELETE FROM jobs WHERE id = 3;
             DELETE FROM agent_runs WHERE id = 3;
             INSERT INTO jobs (agent, status, created_at) VALUES
               ('a', 'failed', 'c4'), ('a', 'queued', 'c5'), ('a', 'done', 'c6');
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd) VALUES
               (4, 'a', 's4', 'f', 2.0), (5, 'a', 's5', NULL, NULL), (6, 'a', 's6', 'f', 0.25);",
        )
        .unwrap();
    assert_eq!(ids(&writer, "jobs"), [1, 2, 3, 4]);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    assert_eq!(store.stats().reused_mark_answers, 2);
    // Then incremental again, from the state the exact answer rebuilt.
    writer
        .execute_batch(
            "INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'done', 'c7');
             UPDATE jobs SET status = 'done' WHERE id = 3;
             UPDATE agent_runs SET finished_at = 'f', cost_usd = 1.0 WHERE id = 3;",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    assert_eq!(store.stats().reused_mark_answers, 2);
    assert_eq!(store.stats().recounts, 0);
}

/// An unsettled row deleted and its id reused, a table emptied and
/// refilled: exact at every scrape.
#[tokio::test]
async fn an_emptied_and_refilled_table_is_exact_at_once() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // The newest job (queued) deleted, its id reused by a settled job.
    writer
        .execute_batch(
            "DELETE FROM jobs WHERE id = 5;
             INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'cancelled', 'later');",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // Emptied, then refilled with fewer rows than before.
    writer
        .execute_batch(
            "DELETE FROM jobs; DELETE FROM agent_runs;
             INSERT INTO jobs (agent, status, created_at) VALUES ('b', 'done', 'x1'), ('b', 'queued', 'x2');
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd) VALUES (1, 'b', 'y1', 'f', 3.0);",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // Emptied, then refilled with more rows than before.
    writer
        .execute_batch(
            "DELETE FROM jobs; DELETE FROM agent_runs;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9)
             INSERT INTO jobs (agent, status, created_at) SELECT 'c', 'done', 'z' || i FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9)
             INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd)
               SELECT i, 'c', 'w' || i, 'f', 0.5 FROM n;",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // Emptied and left empty.
    writer
        .execute_batch("DELETE FROM jobs; DELETE FROM agent_runs;")
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
}

/// Once a table holds rowid `i64::MAX`, SQLite gives new rows random free
/// rowids, anywhere: the full queries answer.
#[tokio::test]
async fn the_largest_rowid_turns_the_incremental_path_off() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    seed(&writer);
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (9223372036854775807, 'a', 'done', 'm');
             INSERT INTO agent_runs (id, job_id, agent, started_at, finished_at, cost_usd)
               VALUES (9223372036854775807, 1, 'a', 'm', 'f', 1.0);",
        )
        .unwrap();
    for round in 0..5 {
        assert_eq!(answer(&store).await, truth(&writer, &path), "round {round}");
        writer
            .execute_batch(
                "INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'done', 'r');
                 INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd)
                   VALUES (1, 'a', 'r', 'f', 0.5);",
            )
            .unwrap();
    }
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // A fresh store never starts incremental on such a table.
    let fresh = self::store(&path);
    for _ in 0..2 {
        assert_eq!(answer(&fresh).await, truth(&writer, &path));
    }
}

/// A database whose tables lack the identity columns: any change of the
/// row at the mark (here a new row with another status at its id) is taken
/// for a reuse and answered exactly.
#[tokio::test]
async fn without_identity_columns_any_change_at_the_mark_is_answered_exactly() {
    let bare = "
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL);
        CREATE INDEX idx_jobs_status ON jobs(status);
        CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, finished_at TEXT, cost_usd REAL,
            input_tokens INTEGER, output_tokens INTEGER,
            cache_read_tokens INTEGER, cache_creation_tokens INTEGER);";
    let (_dir, path, writer) = db_with(bare);
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer
        .execute_batch(
            "INSERT INTO jobs (status) VALUES ('done'), ('queued'), ('paused');
             INSERT INTO agent_runs (finished_at, cost_usd) VALUES ('f', 1.0), (NULL, NULL);
             DELETE FROM jobs WHERE id = 2;",
        )
        .unwrap();
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    writer
        .execute_batch(
            "DELETE FROM jobs WHERE id = 3; DELETE FROM agent_runs WHERE id = 2;
             INSERT INTO jobs (status) VALUES ('done'), ('queued');
             INSERT INTO agent_runs (finished_at, cost_usd) VALUES ('f', 2.0), (NULL, NULL);",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    // Appends alone stay incremental.
    let before = store.stats().reused_mark_answers;
    writer
        .execute_batch(
            "INSERT INTO jobs (status) VALUES ('done');
             INSERT INTO agent_runs (finished_at, cost_usd) VALUES ('f', 0.5);",
        )
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    assert_eq!(store.stats().reused_mark_answers, before);
}
