//! Where the full queries answer (the incremental path off, refused, or
//! starting over), and where both ways must report the same.

use rusqlite::Connection;

use super::{answer, seed, store, truth};
use crate::SqliteStore;
use crate::tests::{SCHEMA, build_all, db, db_with, lax_schema};

#[tokio::test]
async fn off_every_scrape_runs_the_full_queries() {
    let (_dir, path, writer) = db();
    seed(&writer);
    let store = SqliteStore::builder(&path).incremental(false).build();
    for _ in 0..3 {
        assert_eq!(answer(&store).await, truth(&writer, &path));
    }
    writer
        .execute("UPDATE jobs SET status = 'failed' WHERE id = 3", [])
        .unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
    assert_eq!(store.stats().cold_passes, 0);
}

#[tokio::test]
async fn bad_values_are_reported_the_same_way_incrementally() {
    let (_dir, path, writer) = db_with(&lax_schema());
    let rows = "
        INSERT INTO jobs (agent, status, created_at) VALUES
          ('a', NULL, 'c'), ('a', x'00ff', 'c'), ('a', 'done', 'c'), ('a', 7, 'c'),
          ('a', CAST(x'ff61' AS TEXT), 'c'), ('a', 'queued', 'c');
        INSERT INTO agent_runs (job_id, agent, finished_at, cost_usd, input_tokens, output_tokens) VALUES
          (1, 'a', 'f', 'lots', 5, 'x'), (1, 'a', NULL, 1.0, x'00', 3), (1, 'a', 'f', 2, 4, NULL);
    ";
    writer.execute_batch(rows).unwrap();
    let incremental = store(&path);
    let full = SqliteStore::builder(&path).incremental(false).build();
    for round in 0..3 {
        let a = build_all(&incremental).await;
        let b = build_all(&full).await;
        for method in ["status_counts", "totals"] {
            assert_eq!(a.error(method), b.error(method), "{method}, round {round}");
            assert_eq!(
                a.fields(method),
                b.fields(method),
                "{method}, round {round}"
            );
        }
        let answers =
            |body: &serde_json::Value| [body["status_counts"].clone(), body["totals"].clone()];
        assert_eq!(answers(&a.body), answers(&b.body), "round {round}");
        // More bad rows arrive: they are read by the catch-up.
        writer.execute_batch(rows).unwrap();
    }
}

#[tokio::test]
async fn without_a_status_index_or_with_too_much_active_work_the_full_queries_answer() {
    let unindexed = SCHEMA.replace("CREATE INDEX idx_jobs_status ON jobs(status);", "");
    assert_ne!(unindexed, SCHEMA, "the schema has idx_jobs_status");
    let (_dir, path, writer) = db_with(&unindexed);
    seed(&writer);
    let store = store(&path);
    for _ in 0..2 {
        assert_eq!(answer(&store).await, truth(&writer, &path));
    }
    let (_dir2, path2, writer2) = db();
    seed(&writer2);
    let tx = writer2.unchecked_transaction().unwrap();
    for _ in 0..=crate::incremental::MAX_UNSETTLED {
        tx.execute(
            "INSERT INTO jobs (agent, status, created_at) VALUES ('a', 'paused', 'c')",
            [],
        )
        .unwrap();
        tx.execute("INSERT INTO agent_runs (job_id, agent) VALUES (1, 'a')", [])
            .unwrap();
    }
    tx.commit().unwrap();
    let store2 = self::store(&path2);
    for _ in 0..2 {
        assert_eq!(answer(&store2).await, truth(&writer2, &path2));
    }
}

#[tokio::test]
async fn a_replaced_file_starts_over() {
    let (dir, path, writer) = db();
    seed(&writer);
    let store = store(&path);
    assert_eq!(answer(&store).await, truth(&writer, &path));
    drop(writer);
    let other = dir.path().join("other.db");
    let w2 = Connection::open(&other).unwrap();
    w2.execute_batch(SCHEMA).unwrap();
    w2.execute_batch(
        "INSERT INTO jobs (id, agent, status, created_at) VALUES (9, 'a', 'cancelled', 'c');",
    )
    .unwrap();
    drop(w2);
    std::fs::rename(&other, &path).unwrap();
    let writer = Connection::open(&path).unwrap();
    assert_eq!(answer(&store).await, truth(&writer, &path));
}
