//! Random histories of writes, scrapes and recounts: the incremental
//! answers are exact whenever no settled row was changed since the last
//! recount, and within the changes otherwise.

use proptest::prelude::*;
use rusqlite::{Connection, params};

use super::{answer, ids, store, truth};
use crate::tests::db;

const STATUSES: [&str; 6] = ["queued", "running", "done", "failed", "cancelled", "paused"];

fn terminal(status: &str) -> bool {
    matches!(status, "done" | "failed" | "cancelled")
}

/// Sum over statuses of the absolute differences of two count lists.
fn count_distance(a: &[(String, i64)], b: &[(String, i64)]) -> i64 {
    let mut names: Vec<&String> = a.iter().chain(b).map(|(s, _)| s).collect();
    names.sort();
    names.dedup();
    let get = |l: &[(String, i64)], n: &String| l.iter().find(|(s, _)| s == n).map_or(0, |x| x.1);
    names.iter().map(|n| (get(a, n) - get(b, n)).abs()).sum()
}

#[derive(Debug, Clone)]
enum Op {
    InsertJob(usize),
    InsertRun { finished: bool, quarters: u8 },
    SetStatus { pick: usize, status: usize },
    FinishRun { pick: usize, quarters: u8 },
    Unfinish(usize),
    DeleteJob(usize),
    DeleteRun(usize),
    Purge(usize),
    Scrape,
    Reconcile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..STATUSES.len()).prop_map(Op::InsertJob),
        4 => (any::<bool>(), 0_u8..8).prop_map(|(finished, quarters)| Op::InsertRun { finished, quarters }),
        4 => (any::<usize>(), 0..STATUSES.len()).prop_map(|(pick, status)| Op::SetStatus { pick, status }),
        3 => (any::<usize>(), 0_u8..8).prop_map(|(pick, quarters)| Op::FinishRun { pick, quarters }),
        1 => any::<usize>().prop_map(Op::Unfinish),
        1 => any::<usize>().prop_map(Op::DeleteJob),
        1 => any::<usize>().prop_map(Op::DeleteRun),
        1 => (1_usize..4).prop_map(Op::Purge),
        4 => Just(Op::Scrape),
        1 => Just(Op::Reconcile),
    ]
}

fn pick(ids: &[i64], pick: usize) -> Option<i64> {
    (!ids.is_empty()).then(|| ids[pick % ids.len()])
}

/// How far the incremental answer may be from the truth: the settled rows
/// changed or deleted since the last reconcile.
#[derive(Debug, Default)]
struct Dirt {
    jobs: i64,
    runs: i64,
    /// Rows inserted so far (not dirt: numbers the creation stamps).
    inserts: u64,
}

/// Applies `op`; records in `dirt` each change to a settled row.
fn apply(writer: &Connection, op: &Op, dirt: &mut Dirt) {
    let status_of = |id: i64| -> String {
        writer
            .query_row("SELECT status FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    };
    let finished = |id: i64| -> bool {
        writer
            .query_row(
                "SELECT finished_at IS NOT NULL FROM agent_runs WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    match *op {
        // As the reference writer does, a row's creation stamp (`created_at`,
        // `started_at`) tells it from the rows inserted before it: that is
        // how the store knows the row at its high-water mark was replaced.
        Op::InsertJob(status) => {
            dirt.inserts += 1;
            writer
                .execute(
                    "INSERT INTO jobs (agent, status, created_at) VALUES ('a', ?1, ?2)",
                    params![STATUSES[status], format!("c{}", dirt.inserts)],
                )
                .unwrap();
        }
        Op::InsertRun { finished, quarters } => {
            dirt.inserts += 1;
            let cost = f64::from(quarters) / 4.0;
            writer
                .execute(
                    "INSERT INTO agent_runs (job_id, agent, started_at, finished_at, cost_usd, input_tokens, output_tokens)
                     VALUES (1, 'a', ?4, ?1, ?2, ?3, 7)",
                    params![
                        finished.then_some("f"),
                        finished.then_some(cost),
                        i64::from(quarters) * 100,
                        format!("s{}", dirt.inserts)
                    ],
                )
                .unwrap();
        }
        Op::SetStatus { pick: p, status } => {
            if let Some(id) = pick(&ids(writer, "jobs"), p) {
                if terminal(&status_of(id)) {
                    dirt.jobs += 1;
                }
                writer
                    .execute(
                        "UPDATE jobs SET status = ?2 WHERE id = ?1",
                        params![id, STATUSES[status]],
                    )
                    .unwrap();
            }
        }
        Op::FinishRun { pick: p, quarters } => {
            if let Some(id) = pick(&ids(writer, "agent_runs"), p) {
                if finished(id) {
                    dirt.runs += 1;
                }
                writer
                    .execute(
                        "UPDATE agent_runs SET finished_at = 'f', cost_usd = ?2, cache_read_tokens = ?3 WHERE id = ?1",
                        params![id, f64::from(quarters) / 4.0, i64::from(quarters)],
                    )
                    .unwrap();
            }
        }
        Op::Unfinish(p) => {
            if let Some(id) = pick(&ids(writer, "agent_runs"), p) {
                if finished(id) {
                    dirt.runs += 1;
                }
                writer
                    .execute(
                        "UPDATE agent_runs SET finished_at = NULL WHERE id = ?1",
                        [id],
                    )
                    .unwrap();
            }
        }
        Op::DeleteJob(p) => {
            if let Some(id) = pick(&ids(writer, "jobs"), p) {
                if terminal(&status_of(id)) {
                    dirt.jobs += 1;
                }
                writer
                    .execute("DELETE FROM jobs WHERE id = ?1", [id])
                    .unwrap();
            }
        }
        Op::DeleteRun(p) => {
            if let Some(id) = pick(&ids(writer, "agent_runs"), p) {
                if finished(id) {
                    dirt.runs += 1;
                }
                writer
                    .execute("DELETE FROM agent_runs WHERE id = ?1", [id])
                    .unwrap();
            }
        }
        Op::Purge(n) => {
            for id in ids(writer, "jobs").into_iter().take(n) {
                if terminal(&status_of(id)) {
                    dirt.jobs += 1;
                }
                writer
                    .execute("DELETE FROM jobs WHERE id = ?1", [id])
                    .unwrap();
            }
            for id in ids(writer, "agent_runs").into_iter().take(n) {
                if finished(id) {
                    dirt.runs += 1;
                }
                writer
                    .execute("DELETE FROM agent_runs WHERE id = ?1", [id])
                    .unwrap();
            }
        }
        Op::Scrape | Op::Reconcile => {}
    }
}

fn run_ops(ops: &[Op]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_dir, path, writer) = db();
        writer.pragma_update(None, "journal_mode", "wal").unwrap();
        let store = store(&path);
        let mut dirt = Dirt::default();
        for (step, op) in ops.iter().enumerate() {
            apply(&writer, op, &mut dirt);
            if let Op::Reconcile = op {
                store.recount_for_test().await;
                dirt = Dirt {
                    inserts: dirt.inserts,
                    ..Dirt::default()
                };
            }
            if matches!(op, Op::Scrape | Op::Reconcile) || step + 1 == ops.len() {
                let (counts, totals) = answer(&store).await;
                let (want_counts, want_totals) = truth(&writer, &path);
                let at = format!("after {op:?} (step {step}), {dirt:?}");
                if dirt.jobs == 0 {
                    assert_eq!(counts, want_counts, "{at}");
                } else {
                    let off = count_distance(&counts, &want_counts);
                    assert!(off <= 2 * dirt.jobs, "{at}: counts off by {off}");
                }
                if dirt.runs == 0 {
                    // Costs are multiples of 1/4: every sum is exact.
                    assert_eq!(totals, want_totals, "{at}");
                } else {
                    assert!(
                        (totals.runs - want_totals.runs).abs() <= dirt.runs,
                        "{at}: {totals:?} vs {want_totals:?}"
                    );
                }
            }
        }
        // And a final reconcile always lands on the truth.
        store.recount_for_test().await;
        assert_eq!(answer(&store).await, truth(&writer, &path));
    });
}

/// 48 cases, so that `cargo test` stays fast; `PROPTEST_CASES=N` runs N.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig {
            cases: 48,
            ..default
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn incremental_answers_match_full_recounts(ops in proptest::collection::vec(op(), 1..40)) {
        run_ops(&ops);
    }
}
