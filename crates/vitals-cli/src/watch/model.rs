//! The watcher's state: samples in, rates and verdicts out. No I/O, so the
//! screen tests and the plain output share it.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use vitals_client::{
    AgentDelta, Body, CostDelta, Delta, FetchError, QueueDelta, Snapshot, Thresholds, Verdict,
};

/// At most this many snapshots are kept for the stuck and backlog windows
/// (one every 500 ms for 15 minutes is 1800).
const MAX_HISTORY: usize = 4096;

/// The longest pause between two fetches after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The pause before the next fetch after `failures` failures in a row:
/// the interval, then doubling, at most [`MAX_BACKOFF`] (or the interval,
/// when that is longer).
pub(crate) fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF.max(interval))
}

/// An error for a status line: its own message and its root cause (the
/// whole chain repeats itself: reqwest names the URL at every level).
fn brief(error: &FetchError) -> String {
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    if std::ptr::addr_eq(root, error) {
        error.to_string()
    } else {
        format!("{error}: {root}")
    }
}

/// What the last fetch gave.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    /// Nothing fetched yet.
    Waiting,
    /// A snapshot.
    Ok,
    /// The kill switch's body.
    Disabled {
        /// When the next fetch is.
        retry_in: Duration,
    },
    /// A failure.
    Failed {
        /// `FetchError::kind`.
        kind: &'static str,
        /// The error and its causes.
        message: String,
        /// When the next fetch is.
        retry_in: Duration,
        /// Failures in a row.
        failures: u32,
    },
}

/// How the agents table is sorted (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// Worst verdict first (gone, stuck, idle, busy, new, unknown).
    Verdict,
    /// Most CPU (own or tree) first.
    Cpu,
    /// Longest runtime first.
    Runtime,
    /// By job id.
    Job,
}

impl SortKey {
    pub(crate) fn next(self) -> SortKey {
        match self {
            SortKey::Verdict => SortKey::Cpu,
            SortKey::Cpu => SortKey::Runtime,
            SortKey::Runtime => SortKey::Job,
            SortKey::Job => SortKey::Verdict,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SortKey::Verdict => "verdict",
            SortKey::Cpu => "cpu",
            SortKey::Runtime => "runtime",
            SortKey::Job => "job",
        }
    }
}

/// One agent: its delta over the last interval and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Row {
    #[serde(flatten)]
    pub(crate) delta: AgentDelta,
    pub(crate) verdict: Verdict,
}

/// What the last two samples say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    /// The earlier sample's `generated_at`.
    pub(crate) from: String,
    /// The later sample's `generated_at`.
    pub(crate) to: String,
    /// Seconds between them (collector clock).
    pub(crate) interval_s: Option<i64>,
    /// Every agent of the later sample.
    pub(crate) agents: Vec<Row>,
    /// The queue over the last interval.
    pub(crate) queue: Option<QueueDelta>,
    /// Cost over the last interval.
    pub(crate) cost: Option<CostDelta>,
    /// Jobs queued and none finished for `backlog_for` (needs that much history).
    pub(crate) backlog: bool,
    /// A job retries `retry_attempts` times or more.
    pub(crate) retrying: bool,
    /// Spend above `cost_per_hour`.
    pub(crate) overspending: bool,
}

/// The watcher's whole state.
#[derive(Debug)]
pub(crate) struct Watcher {
    pub(crate) target: String,
    pub(crate) thresholds: Thresholds,
    pub(crate) interval: Duration,
    /// Snapshots with a usable `generated_at`, oldest first.
    history: VecDeque<Snapshot>,
    pub(crate) latest: Option<Snapshot>,
    pub(crate) report: Option<Report>,
    pub(crate) status: Status,
    pub(crate) samples: u64,
    pub(crate) sort: SortKey,
    pub(crate) paused: bool,
    pub(crate) help: bool,
}

impl Watcher {
    pub(crate) fn new(target: String, thresholds: Thresholds, interval: Duration) -> Self {
        Watcher {
            target,
            thresholds,
            interval,
            history: VecDeque::new(),
            latest: None,
            report: None,
            status: Status::Waiting,
            samples: 0,
            sort: SortKey::Verdict,
            paused: false,
            help: false,
        }
    }

    /// Takes in one fetch result; `retry_in` is when the next fetch is.
    pub(crate) fn observe(&mut self, result: Result<Body, FetchError>, retry_in: Duration) {
        match result {
            Ok(Body::Snapshot(snapshot)) => self.sample(*snapshot),
            Ok(_) => self.status = Status::Disabled { retry_in },
            Err(error) => {
                let failures = match &self.status {
                    Status::Failed { failures, .. } => failures.saturating_add(1),
                    _ => 1,
                };
                self.status = Status::Failed {
                    kind: error.kind(),
                    message: brief(&error),
                    retry_in,
                    failures,
                };
            }
        }
    }

    /// Takes in one snapshot: the report compares it with the newest
    /// earlier one (at least a second older, since `generated_at` has
    /// second precision) and, for the stuck and backlog windows, with the
    /// newest one at least that window older.
    pub(crate) fn sample(&mut self, snapshot: Snapshot) {
        self.status = Status::Ok;
        self.samples += 1;
        let report = match snapshot.time() {
            Some(now) => {
                let older_than = |span: Duration| {
                    let cutoff =
                        now - chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX);
                    self.history
                        .iter()
                        .rev()
                        .find(|s| s.time().is_some_and(|t| t <= cutoff))
                };
                let recent = older_than(Duration::from_secs(1)).or(self.latest.as_ref());
                let window = older_than(self.thresholds.stuck_window)
                    .map(|earlier| Delta::between(earlier, &snapshot));
                let backlog = older_than(self.thresholds.backlog_for)
                    .map(|earlier| Delta::between(earlier, &snapshot));
                self.report(recent, &snapshot, window.as_ref(), backlog.as_ref())
            }
            None => {
                // No instant: compare with the previous sample (no rates).
                let previous = self.latest.as_ref();
                self.report(previous, &snapshot, None, None)
            }
        };
        self.report = Some(report);
        if let Some(now) = snapshot.time() {
            self.history.push_back(snapshot.clone());
            self.prune(now);
        }
        self.latest = Some(snapshot);
    }

    fn report(
        &self,
        earlier: Option<&Snapshot>,
        later: &Snapshot,
        window: Option<&Delta>,
        backlog: Option<&Delta>,
    ) -> Report {
        // The first sample is compared with itself: no interval, no rate.
        let delta = Delta::between(earlier.unwrap_or(later), later);
        let t = &self.thresholds;
        let agents = delta
            .agents
            .iter()
            .map(|recent| {
                let long = window.and_then(|w| w.agent(recent.agent.job_id, recent.agent.run_id));
                Row {
                    verdict: t.verdict(recent, long),
                    delta: recent.clone(),
                }
            })
            .collect();
        Report {
            from: delta.from,
            to: delta.to,
            interval_s: delta.interval_s,
            agents,
            backlog: backlog
                .and_then(|b| b.queue.as_ref())
                .is_some_and(|q| t.backlog(q)),
            retrying: delta
                .queue
                .as_ref()
                .and_then(|q| q.retries.as_ref())
                .is_some_and(|r| t.retrying(r)),
            overspending: delta.cost.as_ref().is_some_and(|c| t.overspending(c)),
            queue: delta.queue,
            cost: delta.cost,
        }
    }

    /// Keeps what the windows need: one snapshot at or before the longest
    /// window's start, and everything after it.
    fn prune(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let span = self
            .thresholds
            .stuck_window
            .max(self.thresholds.backlog_for);
        let cutoff = now - chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX);
        while self.history.len() > 1
            && self
                .history
                .get(1)
                .and_then(Snapshot::time)
                .is_some_and(|t| t <= cutoff)
        {
            self.history.pop_front();
        }
        while self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
    }

    /// The agents in the current sort order.
    pub(crate) fn rows(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .report
            .as_ref()
            .map(|r| r.agents.iter().collect())
            .unwrap_or_default();
        let job = |r: &Row| r.delta.agent.job_id.unwrap_or(i64::MAX);
        match self.sort {
            SortKey::Verdict => rows.sort_by_key(|r| (r.verdict, job(r))),
            SortKey::Cpu => rows.sort_by(|a, b| {
                let cpu = |r: &Row| r.delta.busiest().unwrap_or(-1.0);
                cpu(b).total_cmp(&cpu(a)).then(job(a).cmp(&job(b)))
            }),
            SortKey::Runtime => rows.sort_by_key(|r| {
                (
                    std::cmp::Reverse(r.delta.agent.runtime_s.unwrap_or(-1)),
                    job(r),
                )
            }),
            SortKey::Job => rows.sort_by_key(|r| job(r)),
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(2), 0), s(2));
        assert_eq!(backoff(s(2), 1), s(4));
        assert_eq!(backoff(s(2), 3), s(16));
        assert_eq!(backoff(s(2), 10), s(30));
        assert_eq!(backoff(s(60), 5), s(60), "never shorter than the interval");
        assert_eq!(backoff(Duration::MAX, 40), Duration::MAX);
    }

    #[test]
    fn sort_keys_cycle() {
        let mut key = SortKey::Verdict;
        for _ in 0..4 {
            key = key.next();
        }
        assert_eq!(key, SortKey::Verdict);
    }
}
