//! Read-only: a build changes no byte of the database or its `-wal`, creates
//! no file, and a write through the store's connection fails.

use rusqlite::Connection;
use vitals_queue::QueueSource;

use super::{build_all, cx, db, files};
use crate::{SqliteError, SqliteStore};

const ROWS: &str = "
INSERT INTO tasks VALUES (1, 'WI-1', 'api', 'review', '2026-11-28 02:38:33', 'c', 'u');
INSERT INTO jobs (id, agent, status, attempts, pid, created_at, started_at)
  VALUES (1, 'coder', 'running', 1, 10, 'c', '2026-11-28 02:39:13');
INSERT INTO agent_runs (id, job_id, agent, cost_usd) VALUES (1, 1, 'coder', 0.5);
";

/// The files whose bytes must not change (the `-shm` is shared memory that
/// every reader updates, by design).
fn durable(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    files(dir)
        .into_iter()
        .filter(|(name, _)| !name.ends_with("-shm"))
        .collect()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    files(dir).into_keys().collect()
}

async fn assert_build_reads_only(dir: &std::path::Path, store: &SqliteStore) {
    let (before, before_names) = (durable(dir), names(dir));
    let outcome = build_all(store).await;
    outcome.others_ok(&[]);
    assert!(
        outcome.body["running_agents"]
            .as_str()
            .unwrap()
            .contains("job_id: Some(1)")
    );
    // A second build through the kept connection, too.
    build_all(store).await.others_ok(&[]);
    assert_eq!(names(dir), before_names, "a file appeared or disappeared");
    assert_eq!(durable(dir), before, "the database or its -wal changed");
}

#[tokio::test]
async fn wal_with_a_writer_open() {
    let (dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    writer.execute_batch(ROWS).unwrap();
    assert!(names(dir.path()).contains(&"orchestrator.db-wal".to_owned()));
    let store = SqliteStore::open(&path);
    assert_build_reads_only(dir.path(), &store).await;
    drop(writer);
    drop(store);
}

#[tokio::test]
async fn wal_without_a_writer() {
    let (dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer.execute_batch(ROWS).unwrap();
    drop(writer);
    // The last connection checkpointed and removed -wal and -shm.
    assert_eq!(names(dir.path()), ["orchestrator.db"]);
    let store = SqliteStore::open(&path);
    assert_build_reads_only(dir.path(), &store).await;
    assert_eq!(store.stats().connections, 2);

    // A writer that appears later is then read through the ordinary connection.
    let writer = Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (2, 'a', 'queued', 'c')",
        )
        .unwrap();
    assert!(names(dir.path()).contains(&"orchestrator.db-shm".to_owned()));
    assert_build_reads_only(dir.path(), &store).await;
    let counts = store.status_counts(&cx()).await.unwrap();
    assert!(counts.contains(&("queued".to_owned(), 1)));
}

#[tokio::test]
async fn rollback_journal_database() {
    let (dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    let store = SqliteStore::open(&path);
    assert_build_reads_only(dir.path(), &store).await;
    drop(writer);
    assert_build_reads_only(dir.path(), &store).await;
}

#[tokio::test]
async fn a_write_through_the_store_connection_fails() {
    for wal in [false, true] {
        let (dir, path, writer) = db();
        if wal {
            writer.pragma_update(None, "journal_mode", "wal").unwrap();
        }
        writer.execute_batch(ROWS).unwrap();
        let before = durable(dir.path());
        let store = SqliteStore::open(&path);
        let cx = cx();
        for sql in [
            "INSERT INTO jobs (id, agent, status, created_at) VALUES (9, 'x', 'queued', 'c')",
            "CREATE TABLE evil (x)",
            "PRAGMA query_only = OFF; DELETE FROM jobs",
        ] {
            let error = store
                .with_connection_for_test(&cx, move |conn| {
                    conn.execute_batch(sql).map_err(SqliteError::Sqlite)
                })
                .await
                .unwrap_err();
            let text = match error {
                SqliteError::Sqlite(e) => e.to_string(),
                other => other.to_string(),
            };
            assert!(
                text.contains("readonly") || text.contains("read-only"),
                "{sql}: {text}"
            );
        }
        drop(cx);
        assert_eq!(durable(dir.path()), before);
    }
}

#[tokio::test]
async fn a_checkpoint_during_a_detached_read_is_detected() {
    let (dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer.execute_batch(ROWS).unwrap();
    drop(writer);
    let store = SqliteStore::open(&path);
    let cx = cx();
    let writer_path = path.clone();
    // While the store reads the writer-less database, a writer appears,
    // commits and checkpoints into the main file.
    let error = store
        .with_connection_for_test(&cx, move |conn| {
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))
                .map_err(SqliteError::Sqlite)?;
            let writer = Connection::open(&writer_path).unwrap();
            writer
                .execute_batch(
                    "INSERT INTO jobs (id, agent, status, created_at) VALUES (5, 'a', 'queued', 'c');
                     PRAGMA wal_checkpoint(TRUNCATE);",
                )
                .unwrap();
            Ok(n)
        })
        .await
        .unwrap_err();
    assert!(matches!(error, SqliteError::Changed), "{error:?}");
    drop(cx);
    let _ = dir;
}
