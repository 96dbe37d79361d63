//! Every source method's exact output on a database small enough to check by eye.

use chrono::Duration as Age;
use vitals_agents::{AgentSource, RunningAgent};
use vitals_cost::{CostSource, CostTotals, RunningCost};
use vitals_queue::{QueueSource, RetryStats};
use vitals_stages::StageSource;

use super::{build_all, cx, db, now};
use crate::SqliteStore;

const ROWS: &str = "
INSERT INTO tasks (id, work_item_id, repo, stage, stage_entered_at, created_at, updated_at) VALUES
  (1, 'WI-1', 'api', 'review',         '2026-11-28 02:38:33', 'c', 'u'),   -- 100 s ago
  (2, 'WI-2', 'api', 'done',           '2026-11-28 00:00:00', 'c', 'u'),
  (3, 'WI-3', 'web', 'cancelled',      '2026-11-28 00:00:00', 'c', 'u'),
  (4, 'WI-4', 'web', 'waiting-on-ci',  '2026-11-28T02:40:10.5Z', 'c', 'u'), -- 2.5 s ago
  (5, 'WI-5', NULL,  'queued',         '2026-11-27 02:40:13', 'c', 'u');  -- one day ago
INSERT INTO jobs (id, task_id, repo, agent, status, attempts, pid, model, effort, created_at, started_at) VALUES
  (1, 1, 'api', 'coder',    'queued',  0, NULL, NULL, NULL, 'c', NULL),
  (2, 1, 'api', 'coder',    'queued',  2, NULL, NULL, NULL, 'c', NULL),
  (3, 4, 'web', 'reviewer', 'running', 1, 4242, 'opus', 'high', 'c', '2026-11-28 02:39:13'),
  (4, 5, NULL,  'tester',   'running', 0, NULL, NULL, NULL, 'c', NULL),
  (5, 2, 'api', 'coder',    'done',    1, NULL, NULL, NULL, 'c', '2026-11-28 00:00:00'),
  (6, 2, 'api', 'coder',    'failed',  3, NULL, NULL, NULL, 'c', NULL),
  (7, 3, 'web', 'coder',    'paused',  5, NULL, NULL, NULL, 'c', NULL);
INSERT INTO agent_runs (id, job_id, agent, cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens) VALUES
  (1, 3, 'reviewer', 0.5,  10, 20, 30, 40),
  (2, 3, 'reviewer', NULL, NULL, NULL, NULL, NULL),
  (3, 5, 'coder',    1.25, 1, 2, 3, 4);
";

#[tokio::test]
async fn every_method_matches_the_meaning_of_schema_sql() {
    let (_dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    let store = SqliteStore::open(&path);
    let cx = cx();

    let tasks = store.active_tasks(&cx).await.unwrap();
    let summary: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                t.task_id,
                t.work_item.as_deref(),
                t.stage.as_deref(),
                t.repo.as_deref(),
                t.stage_entered_at.and_then(|at| cx.seconds_since(at)),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                Some(1),
                Some("WI-1"),
                Some("review"),
                Some("api"),
                Some(100)
            ),
            (
                Some(4),
                Some("WI-4"),
                Some("waiting-on-ci"),
                Some("web"),
                Some(2)
            ),
            (Some(5), Some("WI-5"), Some("queued"), None, Some(86_400)),
        ]
    );

    let mut counts = store.status_counts(&cx).await.unwrap();
    counts.sort();
    let expected: Vec<(String, i64)> = [
        ("done", 1),
        ("failed", 1),
        ("paused", 1),
        ("queued", 2),
        ("running", 2),
    ]
    .iter()
    .map(|(s, n)| ((*s).to_owned(), *n))
    .collect();
    assert_eq!(counts, expected);

    assert_eq!(
        store.retry_stats(&cx).await.unwrap(),
        RetryStats {
            jobs_with_retries: 2,
            total_attempts: 3,
            max_attempts: 2,
        }
    );

    let agents = store.running_agents(&cx).await.unwrap();
    assert_eq!(
        agents,
        [
            RunningAgent {
                agent: Some("reviewer".into()),
                run_id: Some(2),
                job_id: Some(3),
                repo: Some("web".into()),
                pid: Some(4242),
                started_at: Some(now() - Age::seconds(60)),
                model: Some("opus".into()),
                effort: Some("high".into()),
            },
            RunningAgent {
                agent: Some("tester".into()),
                job_id: Some(4),
                ..RunningAgent::default()
            },
        ]
    );

    let costs = store.running_costs(&cx).await.unwrap();
    assert_eq!(
        costs,
        [
            // The latest run of job 3 (run 2) has not finished: null costs, not run 1's.
            RunningCost {
                run_id: Some(2),
                job_id: Some(3),
                agent: Some("reviewer".into()),
                ..RunningCost::default()
            },
            RunningCost {
                job_id: Some(4),
                agent: Some("tester".into()),
                ..RunningCost::default()
            },
        ]
    );

    assert_eq!(
        store.totals(&cx).await.unwrap(),
        CostTotals {
            runs: 3,
            cost_usd: 1.75,
            input_tokens: 11,
            output_tokens: 22,
            cache_read_tokens: 33,
            cache_creation_tokens: 44,
        }
    );

    // Nothing degraded on a clean database.
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert!(outcome.fields.values().all(Vec::is_empty), "{outcome:#?}");
}

#[tokio::test]
async fn empty_tables_give_zeros_and_empty_lists() {
    let (_dir, path, _writer) = db();
    let store = SqliteStore::open(&path);
    let cx = cx();
    assert_eq!(store.active_tasks(&cx).await.unwrap(), []);
    assert_eq!(store.status_counts(&cx).await.unwrap(), []);
    assert_eq!(store.retry_stats(&cx).await.unwrap(), RetryStats::default());
    assert_eq!(store.running_agents(&cx).await.unwrap(), []);
    assert_eq!(store.running_costs(&cx).await.unwrap(), []);
    assert_eq!(store.totals(&cx).await.unwrap(), CostTotals::default());
}

#[tokio::test]
async fn retries_are_zero_when_only_terminal_jobs_have_attempts() {
    let (_dir, path, writer) = db();
    writer
        .execute_batch(
            "INSERT INTO jobs (id, agent, status, attempts, created_at) VALUES
               (1, 'a', 'done', 3, 'c'), (2, 'a', 'failed', 2, 'c'), (3, 'a', 'queued', 0, 'c');",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    assert_eq!(
        store.retry_stats(&cx()).await.unwrap(),
        RetryStats::default()
    );
}

#[tokio::test]
async fn queries_use_the_reference_indexes() {
    let (_dir, path, writer) = db();
    // Enough terminal history that a full scan would look attractive.
    writer
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO tasks SELECT i, 'w', 'r', CASE WHEN i % 50 = 0 THEN 'review' ELSE 'done' END,
               '2026-01-01 00:00:00', 'c', 'u' FROM n;",
        )
        .unwrap();
    let store = SqliteStore::open(&path);
    let cx = cx();
    // Populate the statement text the store uses, then ask for its plan.
    assert_eq!(store.active_tasks(&cx).await.unwrap().len(), 40);
    let plans = store
        .with_connection_for_test(&cx, |conn| {
            let sql = [
                "SELECT id, work_item_id, stage, repo, stage_entered_at FROM tasks \
                 WHERE stage NOT IN ('done', 'cancelled') ORDER BY +id",
                "SELECT j.id, r.cost_usd FROM jobs AS j LEFT JOIN agent_runs AS r \
                 ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id) \
                 WHERE j.status = 'running' ORDER BY j.id",
                "SELECT status, COUNT(*) FROM jobs GROUP BY status",
            ];
            let mut out = Vec::new();
            for q in sql {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {q}")).unwrap();
                let details: Vec<String> = stmt
                    .query_map([], |row| row.get::<_, String>(3))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                out.push(details.join(" | "));
            }
            Ok(out)
        })
        .await
        .unwrap();
    assert!(plans[0].contains("idx_tasks_active_stage"), "{}", plans[0]);
    assert!(plans[1].contains("idx_jobs_"), "{}", plans[1]);
    assert!(plans[1].contains("idx_agent_runs_job_id"), "{}", plans[1]);
    assert!(plans[2].contains("idx_jobs_status"), "{}", plans[2]);
}
