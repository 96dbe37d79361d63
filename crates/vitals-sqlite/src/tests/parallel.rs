//! Full passes shared with a twin connection: where the twin reads (only
//! at the store's point in time), that both aggregates come from one pass,
//! and that the answers are the sequential queries' (a property test).

use std::path::Path;

use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use vitals_cost::{CostSource, CostTotals};
use vitals_queue::QueueSource;

use super::{SCHEMA, build_all, cx, db, db_with, files, lax_schema};
use crate::parallel::{counts_by_difference, job_groups};
use crate::{SqliteError, SqliteStore, SqliteStoreBuilder, queries, totals};

/// Shares a full scan of `agent_runs` with a twin connection from `rows`
/// rowids on, the twin in first (so that it certainly reads).
fn split_from(mut builder: SqliteStoreBuilder, rows: i64) -> SqliteStoreBuilder {
    builder.options.split_min_rows = rows;
    builder.options.twin_first = true;
    builder
}

/// Like [`split_from`], the store's side and the twin racing as in
/// production (the twin may come too late).
fn split_racing_from(mut builder: SqliteStoreBuilder, rows: i64) -> SqliteStoreBuilder {
    builder.options.split_min_rows = rows;
    builder
}

/// Jobs of every status and `runs` finished runs (a few unfinished).
fn fill(writer: &Connection, runs: i64) {
    writer
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {runs})
             INSERT INTO jobs (id, agent, status, attempts, created_at)
               SELECT i, 'a', CASE i % 7 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled'
                                WHEN 2 THEN 'queued' WHEN 3 THEN 'paused' ELSE 'done' END,
                      i % 3, 'c' FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {runs})
             INSERT INTO agent_runs (id, job_id, agent, started_at, finished_at, cost_usd,
                                     input_tokens, output_tokens, cache_read_tokens,
                                     cache_creation_tokens)
               SELECT i, i, 'a', 's', CASE WHEN i % 50 = 0 THEN NULL ELSE 'f' END,
                      CASE WHEN i % 50 = 0 THEN NULL ELSE i / 1000.0 END,
                      i, 2 * i, i % 11, NULL FROM n;"
        ))
        .unwrap();
}

/// The sequential answers, on the writer's connection.
fn truth(writer: &Connection, path: &Path) -> (Vec<(String, i64)>, CostTotals) {
    let mut counts = queries::status_counts(writer, path).unwrap().rows;
    counts.sort();
    (counts, totals::totals(writer, path).unwrap().rows)
}

async fn answer(store: &SqliteStore) -> (Vec<(String, i64)>, CostTotals) {
    let outcome = build_all(store).await;
    outcome.others_ok(&[]);
    let cx = cx();
    let mut counts = store.status_counts(&cx).await.unwrap();
    counts.sort();
    (counts, store.totals(&cx).await.unwrap())
}

fn store(path: &Path, incremental: bool) -> SqliteStore {
    split_from(SqliteStore::builder(path).incremental(incremental), 300).build()
}

fn same(a: &CostTotals, b: &CostTotals) -> bool {
    let close = (a.cost_usd - b.cost_usd).abs() <= 1e-9 * (a.cost_usd.abs() + 1.0);
    close
        && (a.runs, a.input_tokens, a.output_tokens) == (b.runs, b.input_tokens, b.output_tokens)
        && (a.cache_read_tokens, a.cache_creation_tokens)
            == (b.cache_read_tokens, b.cache_creation_tokens)
}

#[tokio::test]
async fn a_rollback_journal_database_is_shared_with_the_twin() {
    for incremental in [true, false] {
        let (_dir, path, writer) = db();
        fill(&writer, 2_000);
        let (counts, totals) = truth(&writer, &path);
        let store = store(&path, incremental);
        let (got_counts, got_totals) = answer(&store).await;
        assert_eq!(got_counts, counts);
        assert!(same(&got_totals, &totals), "{got_totals:?} {totals:?}");
        // One pass served both aggregates of the first snapshot; the second
        // snapshot is incremental, or one more pass.
        let passes = if incremental { 1 } else { 2 };
        assert_eq!(
            store.stats().parallel_passes,
            passes,
            "incremental {incremental}"
        );
    }
}

#[tokio::test]
async fn a_wal_database_without_a_writer_is_shared_and_nothing_is_created() {
    let (dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    fill(&writer, 2_000);
    let (counts, totals) = truth(&writer, &path);
    drop(writer);
    let before = files(dir.path());
    let store = store(&path, false);
    let (got_counts, got_totals) = answer(&store).await;
    assert_eq!(got_counts, counts);
    assert!(same(&got_totals, &totals));
    // Two snapshots (`answer` builds one and reads in another), one pass each.
    assert_eq!(store.stats().parallel_passes, 2);
    drop(store);
    assert_eq!(files(dir.path()), before);
}

#[tokio::test]
async fn a_wal_database_with_a_writer_is_read_by_the_store_alone() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    fill(&writer, 2_000);
    let (counts, totals) = truth(&writer, &path);
    // The writer stays open: a WAL reader keeps no writer out, so no second
    // connection can be at the store's point in time.
    let store = store(&path, false);
    let (got_counts, got_totals) = answer(&store).await;
    assert_eq!(got_counts, counts);
    assert!(same(&got_totals, &totals));
    assert_eq!(store.stats().parallel_passes, 0);
}

#[tokio::test]
async fn uncommitted_rows_are_seen_by_neither_connection() {
    let (_dir, path, writer) = db();
    fill(&writer, 2_000);
    let (counts, totals) = truth(&writer, &path);
    // A writer holding its reserved lock lets readers in; its rows are not
    // committed, so neither connection may see them.
    writer
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO agent_runs (id, job_id, agent, cost_usd, input_tokens)
               VALUES (5000, 1, 'a', 99.0, 1000000);
             INSERT INTO jobs (id, agent, status, created_at) VALUES (5000, 'a', 'done', 'c');",
        )
        .unwrap();
    let store = store(&path, false);
    let (got_counts, got_totals) = answer(&store).await;
    assert_eq!(got_counts, counts);
    assert!(same(&got_totals, &totals));
    assert_eq!(store.stats().parallel_passes, 2);
    writer.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn a_twin_that_comes_late_or_not_at_all_leaves_the_answers_exact() {
    let (_dir, path, writer) = db();
    fill(&writer, 3_000);
    let (counts, totals) = truth(&writer, &path);
    let store = split_racing_from(SqliteStore::builder(&path).incremental(false), 300).build();
    for _ in 0..20 {
        let (got_counts, got_totals) = answer(&store).await;
        assert_eq!(got_counts, counts);
        assert!(same(&got_totals, &totals), "{got_totals:?} {totals:?}");
    }
    // Each of the 40 snapshots had one pass; whether the twin got in is a
    // race on this machine.
    assert!(store.stats().parallel_passes <= 40);
}

#[tokio::test]
async fn the_pass_follows_what_the_snapshots_ask_for() {
    let (_dir, path, writer) = db();
    fill(&writer, 2_000);
    let store = store(&path, false);
    // Two snapshots asking for the counts only: the first computes the
    // totals ahead (nothing is known yet), the second no longer does.
    for _ in 0..2 {
        store.status_counts(&cx()).await.unwrap();
    }
    assert_eq!(store.stats().parallel_passes, 1);
    // A snapshot asking for both: the totals are computed alone, then
    // (having been asked for) with the counts again.
    for _ in 0..2 {
        let cx = cx();
        store.status_counts(&cx).await.unwrap();
        store.totals(&cx).await.unwrap();
    }
    assert_eq!(store.stats().parallel_passes, 3);
}

/// Bad values in a split table: the split steps aside for the sequential
/// queries, which report them exactly.
#[tokio::test]
async fn bad_values_are_reported_as_without_a_split() {
    let (_dir, path, writer) = db_with(&lax_schema());
    fill(&writer, 2_000);
    writer
        .execute_batch(
            "UPDATE agent_runs SET input_tokens = 'lots' WHERE id = 1500;
             UPDATE agent_runs SET cost_usd = x'00' WHERE id = 20;",
        )
        .unwrap();
    let exact = totals::exact_totals(&writer, &path, None)
        .unwrap()
        .0
        .decoded()
        .unwrap();
    for incremental in [true, false] {
        let store = store(&path, incremental);
        let outcome = build_all(&store).await;
        assert_eq!(
            outcome.fields("totals"),
            [("aggregate", "bad_value"), ("aggregate", "bad_value")]
        );
        let got = store.totals(&cx()).await.unwrap();
        assert!(same(&got, &exact.rows), "{got:?}");
    }
}

/// What the sequential query answers, and whether a token column's running
/// sum leaves `i64` somewhere while its total does not (the one case the
/// split may answer where SQLite's `SUM` fails; see `parallel.rs`).
fn sequential(writer: &Connection, path: &Path) -> (Result<CostTotals, SqliteError>, bool) {
    let out = totals::totals(writer, path).map(|d| d.rows);
    let mut cancelled_overflow = false;
    for column in [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
    ] {
        let values: Vec<i64> = writer
            .prepare(&format!(
                "SELECT {column} FROM agent_runs WHERE typeof({column}) = 'integer' ORDER BY rowid"
            ))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut running: i128 = 0;
        let mut left = false;
        for v in &values {
            running += i128::from(*v);
            left |= i64::try_from(running).is_err();
        }
        cancelled_overflow |= left && i64::try_from(running).is_ok();
    }
    (out, cancelled_overflow)
}

fn any_value() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        3 => Just(SqlValue::Null),
        6 => (0_i64..1_000_000).prop_map(SqlValue::Integer),
        1 => prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(1 << 62), Just(-(1 << 62))]
            .prop_map(SqlValue::Integer),
        2 => prop_oneof![
            (0_u32..100_000).prop_map(|c| f64::from(c) / 1000.0),
            Just(1e300),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(2.5),
        ]
        .prop_map(SqlValue::Real),
        1 => prop_oneof![Just("12".to_owned()), Just("x".to_owned())].prop_map(SqlValue::Text),
        1 => Just(SqlValue::Blob(vec![1])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary values over many ranges: the split answers what the
    /// sequential query answers (the cost to the last bits aside), or steps
    /// aside for it.
    #[test]
    fn split_passes_answer_as_the_sequential_query(
        rows in proptest::collection::vec(proptest::collection::vec(any_value(), 5), 0..40),
        incremental in any::<bool>(),
        lax in any::<bool>(),
    ) {
        let schema = if lax { lax_schema() } else { SCHEMA.to_owned() };
        let (_dir, path, writer) = db_with(&schema);
        for (i, row) in rows.iter().enumerate() {
            // Rowids spread out, so that the ranges hold a few rows each.
            let mut values = vec![SqlValue::Integer(10 * i64::try_from(i).unwrap() + 1)];
            values.extend(row.iter().cloned());
            writer
                .execute(
                    "INSERT INTO agent_runs (id, job_id, agent, cost_usd, input_tokens, output_tokens,
                         cache_read_tokens, cache_creation_tokens) VALUES (?1, 1, 'a', ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params_from_iter(values.iter()),
                )
                .unwrap();
        }
        let (expected, exception) = sequential(&writer, &path);
        let store = split_from(SqliteStore::builder(&path).incremental(incremental), 30).build();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = runtime.block_on(async { store.totals(&cx()).await });
        match (&expected, &got) {
            (Ok(a), Ok(b)) => prop_assert!(same(a, b), "{a:?} {b:?}"),
            (Err(a), Err(b)) => prop_assert_eq!(
                vitals_core::SourceError::kind(a),
                b.kind()
            ),
            (Err(SqliteError::Overflow { .. }), Ok(_)) => prop_assert!(exception, "{got:?}"),
            _ => prop_assert!(false, "{expected:?} {got:?}"),
        }
    }
}

fn any_status() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        4 => Just(SqlValue::Text("done".to_owned())),
        1 => prop_oneof![
            Just("DONE"), Just("Done"), Just("don"), Just("done "), Just("donf"), Just("dond"),
            Just("cancelled"), Just("failed"), Just("queued"), Just("running"), Just(""),
        ]
        .prop_map(|s| SqlValue::Text(s.to_owned())),
        1 => Just(SqlValue::Null),
        1 => (-3_i64..3).prop_map(SqlValue::Integer),
        1 => Just(SqlValue::Real(2.5)),
        1 => Just(SqlValue::Blob(b"done".to_vec())),
    ]
}

/// The schemas of `jobs` the difference meets: the reference one (BINARY,
/// indexed), without NOT NULL and without a type, without the index, and
/// with a NOCASE status.
fn job_schemas() -> [(String, bool); 4] {
    let untyped = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status, created_at, agent); \
                   CREATE INDEX idx_jobs_status ON jobs(status);";
    let no_index = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT, created_at, agent);";
    let nocase = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT COLLATE NOCASE, \
                  created_at, agent); CREATE INDEX idx_jobs_status ON jobs(status);";
    [
        (lax_schema(), true),
        (untyped.to_owned(), true),
        (no_index.to_owned(), false),
        (nocase.to_owned(), false),
    ]
}

#[test]
fn the_done_jobs_are_counted_by_difference_only_where_that_is_exact() {
    for (schema, expected) in job_schemas() {
        let (_dir, _path, writer) = db_with(&schema);
        assert_eq!(counts_by_difference(&writer), expected, "{schema}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any statuses under each schema: the groups counted by difference
    /// are the `GROUP BY`'s, in the same order.
    #[test]
    fn job_groups_are_the_group_by(
        statuses in proptest::collection::vec(any_status(), 0..30),
        schema in 0_usize..4,
    ) {
        let (_dir, path, writer) = db_with(&job_schemas()[schema].0);
        for status in &statuses {
            writer
                .execute(
                    "INSERT INTO jobs (status, created_at, agent) VALUES (?1, 'c', 'a')",
                    [status],
                )
                .unwrap();
        }
        let plain = queries::status_groups(&writer, &path).unwrap();
        prop_assert_eq!(job_groups(&writer, &path).unwrap(), plain);
    }
}
