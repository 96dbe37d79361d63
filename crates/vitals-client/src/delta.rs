//! Rates between two snapshots: what the raw counters mean per second.

use serde::Serialize;

use crate::model::{Agent, Retries, Snapshot};

/// How an agent of the later snapshot relates to the earlier one.
///
/// Agents are matched by job and run id; the process is the same only when
/// its pid **and** its start time (`start_ticks`) are too. A collector that
/// reports no `start_ticks` (the original Python one) is matched by job, run
/// and pid alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Match {
    /// The same process in both snapshots: the rates are meaningful.
    Same,
    /// No agent of the same job and run in the earlier snapshot.
    New,
    /// Same job and run, another pid: the agent was restarted.
    Restarted,
    /// Same job, run and pid, another start time: the pid now names another
    /// process (the agent's own is gone).
    ReusedPid,
}

/// What changed between two snapshots. Built by [`Delta::between`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Delta {
    /// The earlier snapshot's `generated_at`.
    pub from: String,
    /// The later snapshot's `generated_at`.
    pub to: String,
    /// Seconds from the earlier to the later `generated_at` (both in the
    /// collector's clock, second precision). `None` when either is missing;
    /// it may be zero or negative (two snapshots in the same second, a clock
    /// step), and then no rate is given.
    pub interval_s: Option<i64>,
    /// One entry per agent of the later snapshot, in its order.
    pub agents: Vec<AgentDelta>,
    /// The queue, when both snapshots have one.
    pub queue: Option<QueueDelta>,
    /// Cost and tokens, when both snapshots have an aggregate.
    pub cost: Option<CostDelta>,
}

/// One agent of the later snapshot and its rates since the earlier one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AgentDelta {
    /// The agent as the later snapshot reports it.
    pub agent: Agent,
    /// How it relates to the earlier snapshot.
    pub matched: Match,
    /// Seconds between the two snapshots (see [`Delta::interval_s`]).
    pub interval_s: Option<i64>,
    /// CPU of the agent's own process, as a fraction of one core (`1.0` is
    /// one core busy). `None` without a rate: not the same process, a zero
    /// or negative interval, a tick count missing or gone backwards, no
    /// `clk_tck`.
    pub cpu: Option<f64>,
    /// CPU of the agent's whole process tree, fraction of one core; never
    /// below `cpu` (a child that exited takes its ticks out of the tree
    /// sum, so the tree's own delta can be negative). `None` when the
    /// collector reports no tree ticks, or without a rate as for `cpu`.
    pub tree_cpu: Option<f64>,
    /// How much the resident set grew (negative: shrank), bytes.
    pub rss_change_bytes: Option<i64>,
}

impl AgentDelta {
    /// The larger of `cpu` and `tree_cpu`: how busy the agent and its
    /// children are.
    #[must_use]
    pub fn busiest(&self) -> Option<f64> {
        match (self.cpu, self.tree_cpu) {
            (Some(own), Some(tree)) => Some(own.max(tree)),
            (own, tree) => own.or(tree),
        }
    }
}

/// The queue between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct QueueDelta {
    /// Seconds between the two snapshots.
    pub interval_s: Option<i64>,
    /// Queued jobs in the later snapshot.
    pub depth: Option<i64>,
    /// How the depth changed (later − earlier).
    pub depth_change: Option<i64>,
    /// Jobs that finished in between: the sum of the increases of the
    /// `done`, `failed` and `cancelled` counts (a count that went down, a
    /// purge or a requeued job, adds nothing: never negative).
    pub finished: Option<i64>,
    /// `finished` per hour (`None` without a positive interval).
    pub finished_per_hour: Option<f64>,
    /// Retries in the later snapshot.
    pub retries: Option<Retries>,
    /// How `retries.total_attempts` changed (a gauge over the non-terminal
    /// jobs: it goes down when retried jobs finish).
    pub attempts_change: Option<i64>,
}

/// Cost and tokens between two snapshots, from `cost.aggregate` (runs are
/// counted when they finish, so spend arrives in steps).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CostDelta {
    /// Seconds between the two snapshots.
    pub interval_s: Option<i64>,
    /// Dollars spent in between (`None` when the total went down: a reset).
    pub spend_usd: Option<f64>,
    /// Tokens (input, output, cache reads and writes) in between (`None`
    /// on a reset).
    pub tokens: Option<i64>,
    /// Runs that finished in between (`None` on a reset).
    pub runs: Option<i64>,
    /// `spend_usd` per hour.
    pub usd_per_hour: Option<f64>,
    /// `tokens` per hour.
    pub tokens_per_hour: Option<f64>,
}

impl Delta {
    /// Compares two snapshots of the same collector, `earlier` first.
    ///
    /// Rates come from the counters and the two `generated_at`, both in the
    /// collector's own clock, so the consumer's clock plays no part. With a
    /// zero or negative interval (snapshots in the same second) every rate
    /// is `None`, never infinite.
    #[must_use]
    pub fn between(earlier: &Snapshot, later: &Snapshot) -> Delta {
        let interval_s = match (earlier.time(), later.time()) {
            (Some(a), Some(b)) => Some((b - a).num_seconds()),
            _ => None,
        };
        let seconds = interval_s.filter(|s| *s > 0).map(|s| s as f64);
        let clk_tck = later.clk_tck.filter(|t| *t > 0).map(|t| t as f64);
        let agents = later
            .agents()
            .iter()
            .map(|agent| agent_delta(earlier.agents(), agent, interval_s, seconds, clk_tck))
            .collect();
        let queue = match (&earlier.queue, &later.queue) {
            (Some(a), Some(b)) => {
                let finished = ["done", "failed", "cancelled"]
                    .iter()
                    .map(|status| Some((b.count(status)? - a.count(status)?).max(0)))
                    .sum::<Option<i64>>();
                let attempts = |r: &Option<Retries>| r.as_ref().and_then(|r| r.total_attempts);
                Some(QueueDelta {
                    interval_s,
                    depth: b.depth,
                    depth_change: sub(b.depth, a.depth),
                    finished,
                    finished_per_hour: per_hour(finished.map(|f| f as f64), seconds),
                    retries: b.retries.clone(),
                    attempts_change: sub(attempts(&b.retries), attempts(&a.retries)),
                })
            }
            _ => None,
        };
        let aggregate = |s: &Snapshot| s.cost.as_ref().and_then(|c| c.aggregate.clone());
        let cost = match (aggregate(earlier), aggregate(later)) {
            (Some(a), Some(b)) => {
                let spend_usd = match (a.cost_usd, b.cost_usd) {
                    // A compensated float sum: a tiny negative is rounding, not a reset.
                    (Some(x), Some(y)) if y - x >= -1e-9 => Some((y - x).max(0.0)),
                    _ => None,
                };
                let tokens = sub(b.tokens(), a.tokens()).filter(|t| *t >= 0);
                let runs = sub(b.runs, a.runs).filter(|r| *r >= 0);
                Some(CostDelta {
                    interval_s,
                    spend_usd,
                    tokens,
                    runs,
                    usd_per_hour: per_hour(spend_usd, seconds),
                    tokens_per_hour: per_hour(tokens.map(|t| t as f64), seconds),
                })
            }
            _ => None,
        };
        Delta {
            from: earlier.generated_at.clone(),
            to: later.generated_at.clone(),
            interval_s,
            agents,
            queue,
            cost,
        }
    }

    /// The delta of the agent of `job_id` and `run_id`, if the later snapshot has it.
    #[must_use]
    pub fn agent(&self, job_id: Option<i64>, run_id: Option<i64>) -> Option<&AgentDelta> {
        self.agents
            .iter()
            .find(|a| a.agent.job_id == job_id && a.agent.run_id == run_id)
    }
}

fn sub(later: Option<i64>, earlier: Option<i64>) -> Option<i64> {
    later?.checked_sub(earlier?)
}

fn per_hour(amount: Option<f64>, seconds: Option<f64>) -> Option<f64> {
    Some(amount? * 3600.0 / seconds?)
}

fn agent_delta(
    earlier: &[Agent],
    later: &Agent,
    interval_s: Option<i64>,
    seconds: Option<f64>,
    clk_tck: Option<f64>,
) -> AgentDelta {
    let previous = later.job_id.and_then(|_| {
        earlier
            .iter()
            .find(|a| a.job_id == later.job_id && a.run_id == later.run_id)
    });
    let matched = match previous {
        None => Match::New,
        Some(p) if p.pid != later.pid => Match::Restarted,
        Some(p) if p.start_ticks != later.start_ticks => Match::ReusedPid,
        Some(_) => Match::Same,
    };
    let same = previous.filter(|_| matched == Match::Same);
    let rate = |ticks: Option<i64>| -> Option<f64> { Some(ticks? as f64 / clk_tck? / seconds?) };
    let own_ticks = same.and_then(|p| sub(later.cpu_ticks, p.cpu_ticks).filter(|t| *t >= 0));
    let tree_ticks = same.and_then(|p| sub(later.tree_cpu_ticks, p.tree_cpu_ticks));
    let tree_ticks = match (tree_ticks, own_ticks) {
        (Some(tree), Some(own)) => Some(tree.max(own)),
        (Some(tree), None) => Some(tree.max(0)),
        (None, _) => None,
    };
    AgentDelta {
        agent: later.clone(),
        matched,
        interval_s,
        cpu: rate(own_ticks),
        tree_cpu: rate(tree_ticks),
        rss_change_bytes: same.and_then(|p| sub(later.rss_bytes, p.rss_bytes)),
    }
}
