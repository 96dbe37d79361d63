//! The incremental aggregates against full recounts, on real files changed
//! by a writer between scrapes; one file per theme:
//! - `property.rs`: random histories of inserts, updates, deletes, scrapes
//!   and recounts, against the full queries (a property test);
//! - `reuse.rs`: rowids given again at or below a high-water mark;
//! - `reconcile.rs`: what a cheap check sees (drift) and what only a
//!   recount sees, and when each lands;
//! - `full_query.rs`: where the full queries answer instead, and where
//!   both ways must report the same.

mod full_query;
mod property;
mod reconcile;
mod reuse;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use vitals_cost::{CostSource, CostTotals};
use vitals_queue::QueueSource;

use crate::tests::cx;
use crate::{SqliteStore, queries};

/// The full recount, on the writer's connection.
pub(super) fn truth(writer: &Connection, path: &Path) -> (Vec<(String, i64)>, CostTotals) {
    let mut counts = queries::status_counts(writer, path).unwrap().rows;
    counts.sort();
    (counts, crate::totals::totals(writer, path).unwrap().rows)
}

pub(super) async fn answer(store: &SqliteStore) -> (Vec<(String, i64)>, CostTotals) {
    let cx = cx();
    let mut counts = store.status_counts(&cx).await.unwrap();
    counts.sort();
    (counts, store.totals(&cx).await.unwrap())
}

pub(super) fn store(path: &Path) -> SqliteStore {
    // Only drift and explicit recounts reconcile during a test.
    SqliteStore::builder(path)
        .reconcile_interval(Duration::from_secs(3600))
        .build()
}

pub(super) fn ids(writer: &Connection, table: &str) -> Vec<i64> {
    writer
        .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub(super) fn seed(writer: &Connection) {
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, created_at) VALUES
               (1, 'a', 'done', 'c'), (2, 'a', 'failed', 'c'), (3, 'a', 'done', 'c'),
               (4, 'a', 'running', 'c'), (5, 'a', 'queued', 'c');
             INSERT INTO agent_runs (id, job_id, agent, finished_at, cost_usd, input_tokens) VALUES
               (1, 1, 'a', 'f', 1.5, 10), (2, 2, 'a', 'f', 2.5, 20), (3, 4, 'a', NULL, NULL, NULL);",
        )
        .unwrap();
}
