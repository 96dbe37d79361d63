//! Every kind of bad input degrades only what reads it.

use proptest::prelude::*;
use rusqlite::types::Value as SqlValue;
use vitals_agents::AgentSource;
use vitals_cost::CostSource;
use vitals_queue::QueueSource;
use vitals_stages::StageSource;

use super::{METHODS, build_all, cx, db, db_with, files, lax_schema};
use crate::SqliteStore;

const ONE_OF_EACH: &str = "
INSERT INTO tasks VALUES (1, 'WI-1', 'api', 'review', '2026-11-28 02:38:33', 'c', 'u');
INSERT INTO jobs (id, agent, status, attempts, pid, created_at, started_at)
  VALUES (1, 'coder', 'running', 1, 10, 'c', '2026-11-28 02:39:13'),
         (2, 'coder', 'queued', 2, NULL, 'c', NULL);
INSERT INTO agent_runs (id, job_id, agent, cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
  VALUES (1, 1, 'coder', 0.5, 1, 2, 3, 4);
";

#[tokio::test]
async fn missing_file_fails_every_method_with_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("absent.db"));
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("no_database"), "{method}");
    }
    // Nothing was created.
    assert!(files(dir.path()).is_empty());
}

#[tokio::test]
async fn zero_length_file_is_empty_database_and_its_wal_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchestrator.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::write(dir.path().join("orchestrator.db-wal"), b"not touched").unwrap();
    let before = files(dir.path());
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("empty_database"), "{method}");
    }
    assert_eq!(files(dir.path()), before);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchestrator.db");
    std::fs::write(
        &path,
        "this is a text file, long enough to have a header.".repeat(10),
    )
    .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("not_a_database"), "{method}");
    }
    // A short file too.
    std::fs::write(&path, "tiny").unwrap();
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("totals"), Some("not_a_database"));
    // And a file with the right magic but a corrupt body (SQLite says so).
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.resize(4096, 0xAB);
    std::fs::write(&path, bytes).unwrap();
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("not_a_database"), "{method}");
    }
}

#[tokio::test]
async fn missing_agent_runs_table_degrades_cost_and_only_run_id_of_agents() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer.execute_batch("DROP TABLE agent_runs").unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("running_costs"), Some("missing_table"));
    assert_eq!(outcome.error("totals"), Some("missing_table"));
    outcome.others_ok(&["running_costs", "totals"]);
    assert_eq!(
        outcome.fields("running_agents"),
        [("run_id", "missing_table")]
    );
    let agents = store.running_agents(&cx()).await.unwrap();
    assert_eq!(
        (agents[0].job_id, agents[0].run_id, agents[0].pid),
        (Some(1), None, Some(10))
    );
}

#[tokio::test]
async fn missing_tasks_table_degrades_only_stages() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer.execute_batch("DROP TABLE tasks").unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("active_tasks"), Some("missing_table"));
    outcome.others_ok(&["active_tasks"]);
}

#[tokio::test]
async fn missing_optional_column_nulls_that_field_only() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch("ALTER TABLE jobs DROP COLUMN pid")
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(
        outcome.fields("running_agents"),
        [("pid", "missing_column")]
    );
    assert!(outcome.fields("running_costs").is_empty());
    let agents = store.running_agents(&cx()).await.unwrap();
    assert_eq!(
        (agents[0].job_id, agents[0].pid, agents[0].run_id),
        (Some(1), None, Some(1))
    );
}

#[tokio::test]
async fn missing_required_column_fails_the_methods_that_need_it() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch("DROP INDEX idx_jobs_status; DROP INDEX idx_jobs_running; ALTER TABLE jobs DROP COLUMN status")
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    for method in [
        "status_counts",
        "retry_stats",
        "running_agents",
        "running_costs",
    ] {
        assert_eq!(
            outcome.error(method),
            Some("missing_column"),
            "{method}: {}",
            outcome.body["collector"]
        );
    }
    outcome.others_ok(&[
        "status_counts",
        "retry_stats",
        "running_agents",
        "running_costs",
    ]);

    // A token column the aggregate needs.
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch("ALTER TABLE agent_runs DROP COLUMN cache_creation_tokens")
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("totals"), Some("missing_column"));
    outcome.others_ok(&["totals"]);
    assert_eq!(
        outcome.fields("running_costs"),
        [("running.cache_creation_tokens", "missing_column")]
    );
}

#[tokio::test]
async fn text_in_integer_columns_nulls_the_field() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "UPDATE jobs SET pid = 'abc' WHERE id = 1;
             UPDATE jobs SET attempts = 'x' WHERE id = 2;
             UPDATE agent_runs SET input_tokens = 'many' WHERE id = 1;",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(outcome.fields("running_agents"), [("pid", "bad_value")]);
    assert_eq!(outcome.fields("retry_stats"), [("retries", "bad_value")]);
    assert_eq!(outcome.fields("totals"), [("aggregate", "bad_value")]);
    assert_eq!(
        outcome.fields("running_costs"),
        [("running.input_tokens", "bad_value")]
    );
    let cx = cx();
    assert_eq!(store.running_agents(&cx).await.unwrap()[0].pid, None);
    // attempts 'x' is skipped: only job 1 (attempts 1) counts.
    let retries = store.retry_stats(&cx).await.unwrap();
    assert_eq!(
        (
            retries.jobs_with_retries,
            retries.total_attempts,
            retries.max_attempts
        ),
        (1, 1, 1)
    );
    let totals = store.totals(&cx).await.unwrap();
    assert_eq!((totals.input_tokens, totals.output_tokens), (0, 2));
    assert_eq!(
        store.running_costs(&cx).await.unwrap()[0].input_tokens,
        None
    );
}

#[tokio::test]
async fn null_where_the_schema_says_not_null() {
    let (_dir, path, writer) = db_with(&lax_schema());
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, attempts, created_at) VALUES (3, NULL, NULL, NULL, NULL);
             INSERT INTO jobs (id, agent, status, attempts, created_at) VALUES (4, NULL, 'running', NULL, NULL);
             UPDATE tasks SET work_item_id = NULL, stage_entered_at = NULL;",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(outcome.fields("status_counts"), [("counts", "bad_value")]);
    assert_eq!(
        outcome.fields("active_tasks"),
        [("work_item", "bad_value"), ("age_in_stage_s", "bad_value")]
    );
    assert_eq!(outcome.fields("running_agents"), [("agent", "bad_value")]);
    let cx = cx();
    let mut counts = store.status_counts(&cx).await.unwrap();
    counts.sort();
    // The job with a NULL status is counted under "null", as the seed does.
    assert_eq!(
        counts,
        [
            ("null".to_owned(), 1),
            ("queued".to_owned(), 1),
            ("running".to_owned(), 2)
        ]
    );
    let tasks = store.active_tasks(&cx).await.unwrap();
    assert_eq!(
        (tasks[0].work_item.as_deref(), tasks[0].stage_entered_at),
        (None, None)
    );
    let agents = store.running_agents(&cx).await.unwrap();
    assert_eq!(
        (agents[1].job_id, agents[1].agent.as_deref()),
        (Some(4), None)
    );
}

/// Jobs with a NULL status (a damaged database) are counted under `"null"`
/// and reported, by the full query and by the incremental aggregates alike,
/// on the first scrape and on the catch-ups after it: nothing is lost.
#[tokio::test]
async fn a_null_status_is_counted_under_null_on_both_paths() {
    let (_dir, path, writer) = db_with(&lax_schema());
    writer.execute_batch(ONE_OF_EACH).unwrap();
    let null_job = "INSERT INTO jobs (agent, status, created_at) VALUES ('coder', NULL, 'c')";
    writer.execute_batch(null_job).unwrap();
    let incremental = SqliteStore::open(&path);
    let full = SqliteStore::builder(&path).incremental(false).build();
    for round in 1..=3_i64 {
        for (name, store) in [("incremental", &incremental), ("full", &full)] {
            let outcome = build_all(store).await;
            assert_eq!(
                outcome.fields("status_counts"),
                [("counts", "bad_value")],
                "{name}, round {round}"
            );
            let mut counts = store.status_counts(&cx()).await.unwrap();
            counts.sort();
            assert_eq!(
                counts,
                [
                    ("null".to_owned(), round),
                    ("queued".to_owned(), 1),
                    ("running".to_owned(), 1)
                ],
                "{name}, round {round}"
            );
        }
        // More damaged rows arrive: the incremental catch-up reads them.
        writer.execute_batch(null_job).unwrap();
    }
    assert!(incremental.stats().cold_passes >= 1);
}

#[tokio::test]
async fn reals_beyond_i64_in_numeric_columns() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "UPDATE agent_runs SET cost_usd = 1e30, output_tokens = 1e30 WHERE id = 1;
             UPDATE jobs SET pid = 1e30 WHERE id = 1;",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(outcome.fields("running_agents"), [("pid", "overflow")]);
    assert_eq!(
        outcome.fields("running_costs"),
        [("running.output_tokens", "overflow")]
    );
    assert_eq!(outcome.fields("totals"), [("aggregate", "bad_value")]);
    let cx = cx();
    let cost = &store.running_costs(&cx).await.unwrap()[0];
    assert_eq!(
        (cost.cost_usd, cost.output_tokens, cost.input_tokens),
        (Some(1e30), None, Some(1))
    );
    let totals = store.totals(&cx).await.unwrap();
    assert_eq!((totals.cost_usd, totals.output_tokens), (1e30, 0));
    assert_eq!(
        outcome.body["totals"].as_str().map(|s| s.contains("1e30")),
        Some(true)
    );
}

#[tokio::test]
async fn token_sums_beyond_i64_fail_totals_with_overflow() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "INSERT INTO agent_runs (id, job_id, agent, input_tokens) VALUES
               (2, 9, 'a', 9223372036854775807), (3, 9, 'a', 9223372036854775807);",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("totals"), Some("overflow"));
    outcome.others_ok(&["totals"]);
}

#[tokio::test]
async fn infinite_cost_is_an_overflow() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch("UPDATE agent_runs SET cost_usd = 9e999")
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    assert_eq!(outcome.error("totals"), Some("overflow"));
    assert_eq!(
        outcome.fields("running_costs"),
        [("running.cost_usd", "overflow")]
    );
    outcome.others_ok(&["totals"]);
}

#[tokio::test]
async fn non_utf8_text_is_decoded_lossily_and_reported() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "UPDATE jobs SET agent = CAST(x'61ff62' AS TEXT), status = CAST(x'72756e6e696e67' AS TEXT) WHERE id = 1;
             UPDATE jobs SET status = CAST(x'71ff' AS TEXT) WHERE id = 2;
             UPDATE tasks SET stage = CAST(x'72ff' AS TEXT), stage_entered_at = CAST(x'32ff' AS TEXT);",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(outcome.fields("running_agents"), [("agent", "bad_value")]);
    assert_eq!(outcome.fields("status_counts"), [("counts", "bad_value")]);
    assert_eq!(
        outcome.fields("active_tasks"),
        [("stage", "bad_value"), ("age_in_stage_s", "bad_value")]
    );
    let cx = cx();
    assert_eq!(
        store.running_agents(&cx).await.unwrap()[0].agent.as_deref(),
        Some("a\u{fffd}b")
    );
    let mut counts = store.status_counts(&cx).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [("q\u{fffd}".to_owned(), 1), ("running".to_owned(), 1)]
    );
}

#[tokio::test]
async fn unparsable_timestamps_are_null() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ONE_OF_EACH).unwrap();
    writer
        .execute_batch(
            "UPDATE tasks SET stage_entered_at = 'last tuesday';
             UPDATE jobs SET started_at = 1700000000 WHERE id = 1;",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert_eq!(
        outcome.fields("active_tasks"),
        [("age_in_stage_s", "bad_value")]
    );
    assert_eq!(
        outcome.fields("running_agents"),
        [("runtime_s", "bad_value")]
    );
}

fn any_value() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        Just(SqlValue::Null),
        any::<i64>().prop_map(SqlValue::Integer),
        any::<f64>().prop_map(SqlValue::Real),
        prop_oneof![
            Just("running".to_owned()),
            Just("queued".to_owned()),
            Just("2026-11-28 02:40:13".to_owned()),
            ".{0,12}"
        ]
        .prop_map(SqlValue::Text),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(SqlValue::Blob),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary values of arbitrary types in every column: no panic, and
    /// every method answers or fails with a kind (never a panic or a hang).
    #[test]
    fn arbitrary_values_never_panic(
        tasks in proptest::collection::vec(proptest::collection::vec(any_value(), 7), 0..4),
        jobs in proptest::collection::vec(proptest::collection::vec(any_value(), 14), 0..5),
        runs in proptest::collection::vec(proptest::collection::vec(any_value(), 10), 0..5),
    ) {
        let (_dir, path, writer) = db_with(&lax_schema().replace("INTEGER PRIMARY KEY", "ANY_PK"));
        for (table, rows, n) in [("tasks", &tasks, 7), ("jobs", &jobs, 14), ("agent_runs", &runs, 10)] {
            let marks = vec!["?"; n].join(", ");
            let sql = format!("INSERT INTO {table} VALUES ({marks})");
            for row in rows {
                writer.execute(&sql, rusqlite::params_from_iter(row.iter())).unwrap();
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = runtime.block_on(async {
            let store = SqliteStore::open(&path);
            build_all(&store).await
        });
        for method in METHODS {
            let report = &outcome.body["collector"]["sections"][method];
            let status = report["status"].as_str().unwrap_or_default();
            prop_assert!(["ok", "degraded", "error"].contains(&status), "{method}: {report}");
        }
    }
}
