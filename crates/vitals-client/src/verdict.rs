//! Judging agents: [`Verdict`] and the one [`Thresholds`] type.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codes::ProcStatus;
use crate::delta::{AgentDelta, CostDelta, Match, QueueDelta};
use crate::error::ThresholdError;
use crate::model::Retries;

/// What a watcher makes of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Its process is dead, a zombie, or its pid now names another process.
    Gone,
    /// Alive, but its own and its tree's CPU stayed under
    /// [`Thresholds::stuck_cpu`] for [`Thresholds::stuck_window`], after
    /// [`Thresholds::stuck_min_runtime`] of job runtime.
    Stuck,
    /// Alive and under [`Thresholds::stuck_cpu`], not (yet) long enough to
    /// be stuck.
    Idle,
    /// Its process or one of its children uses at least
    /// [`Thresholds::stuck_cpu`].
    Busy,
    /// Too young to judge: seen once, restarted, or no rate yet.
    New,
    /// Nothing to judge by: no pid, or its process could not be read (no
    /// permission, not supported, ...; see `proc_status`).
    Unknown,
}

impl Verdict {
    /// The verdict as a lowercase word (`"busy"`, `"stuck"`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Gone => "gone",
            Verdict::Stuck => "stuck",
            Verdict::Idle => "idle",
            Verdict::Busy => "busy",
            Verdict::New => "new",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every threshold a watcher judges by: the single source of truth for
/// `vitals watch` and for alerting rules generated from it, so that both
/// call the same agent stuck.
///
/// Durations are written like `"10m"`, `"90s"` or `"1h30m"` in serde
/// formats and in [`Thresholds::set`]. `Default` gives the defaults below.
///
/// ```
/// use std::time::Duration;
/// use vitals_client::Thresholds;
///
/// let mut t = Thresholds::default();
/// assert_eq!(t.stuck_window, Duration::from_secs(600));
/// t.set("stuck_window", "5m")?;
/// t.set_assignment("cost_per_hour=2.5")?;
/// assert_eq!(t.cost_per_hour, Some(2.5));
/// # Ok::<(), vitals_client::ThresholdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Thresholds {
    /// Below this CPU, as a fraction of one core, an agent does nothing
    /// (default `0.01`, 1 % of one core). Both its own process and its
    /// process tree must be under it: a busy child under an idle agent is
    /// work, not a stuck agent.
    pub stuck_cpu: f64,
    /// How long the CPU must stay under `stuck_cpu` (the average over this
    /// window, as a rate over it) before the agent is stuck (default 10 min).
    #[serde(with = "crate::duration::text")]
    pub stuck_window: Duration,
    /// No agent is stuck before its job has run this long (`runtime_s`;
    /// default 15 min): start-up and short waits are not stuck.
    #[serde(with = "crate::duration::text")]
    pub stuck_min_runtime: Duration,
    /// How long an agent may stay [`Verdict::Gone`] (its job still running)
    /// before an alert fires (default 5 min): the orchestrator gets that
    /// long to notice and reap it.
    #[serde(with = "crate::duration::text")]
    pub gone_for: Duration,
    /// A backlog: jobs stay queued and none finishes for this long
    /// (default 15 min).
    #[serde(with = "crate::duration::text")]
    pub backlog_for: Duration,
    /// A job with this many attempts or more (`queue.retries.max_attempts`)
    /// is retrying too much (default 3).
    pub retry_attempts: i64,
    /// Spend above this many dollars per hour (`cost.aggregate.cost_usd`
    /// rate) is too much; `None` (the default) raises no spend alert.
    pub cost_per_hour: Option<f64>,
    /// Slack for pid reuse by age (default 2 s): an agent's process is
    /// another one when `proc_age_s + pid_reuse_slack < runtime_s`, that is
    /// when the process is younger than its job by more than the rounding
    /// of the two ages and the agent's start-up.
    #[serde(with = "crate::duration::text")]
    pub pid_reuse_slack: Duration,
    /// How long a scrape target may be down (`up == 0`) before an alert
    /// fires (default 2 min). Used by the alerting rules only: a watcher
    /// sees a failed fetch at once.
    #[serde(with = "crate::duration::text")]
    pub down_for: Duration,
    /// How long the worker's circuit breaker may stay open (or half-open)
    /// before an alert fires (default 5 min). Used by the alerting rules.
    #[serde(with = "crate::duration::text")]
    pub breaker_open_for: Duration,
    /// How long a section may stay in `error`, `panic`, `timeout` or `busy`
    /// before an alert fires (default 5 min). Used by the alerting rules.
    #[serde(with = "crate::duration::text")]
    pub section_failing_for: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            stuck_cpu: 0.01,
            stuck_window: Duration::from_secs(10 * 60),
            stuck_min_runtime: Duration::from_secs(15 * 60),
            gone_for: Duration::from_secs(5 * 60),
            backlog_for: Duration::from_secs(15 * 60),
            retry_attempts: 3,
            cost_per_hour: None,
            pid_reuse_slack: Duration::from_secs(2),
            down_for: Duration::from_secs(2 * 60),
            breaker_open_for: Duration::from_secs(5 * 60),
            section_failing_for: Duration::from_secs(5 * 60),
        }
    }
}

/// The names [`Thresholds::set`] knows.
const NAMES: &str = "stuck_cpu, stuck_window, stuck_min_runtime, gone_for, backlog_for, \
                     retry_attempts, cost_per_hour, pid_reuse_slack, down_for, \
                     breaker_open_for, section_failing_for";

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Thresholds {
    /// The names [`Thresholds::set`] knows, separated by `", "`.
    pub const NAMES: &'static str = NAMES;

    /// Sets the threshold `name` from text, as a command line writes it:
    /// durations like `"10m"`, `stuck_cpu` and `cost_per_hour` as numbers
    /// (`cost_per_hour` also `"none"`), `retry_attempts` as an integer.
    ///
    /// # Errors
    ///
    /// [`ThresholdError`] for an unknown name or a value that does not parse
    /// or is negative.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ThresholdError> {
        let value = value.trim();
        let duration = |name: &'static str| {
            crate::duration::parse(value)
                .map_err(|source| ThresholdError::Duration { name, source })
        };
        let number = |name: &'static str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| ThresholdError::Number {
                    name,
                    value: value.to_owned(),
                    expected: "a non-negative number",
                })
        };
        match name.trim() {
            "stuck_cpu" => self.stuck_cpu = number("stuck_cpu")?,
            "stuck_window" => self.stuck_window = duration("stuck_window")?,
            "stuck_min_runtime" => self.stuck_min_runtime = duration("stuck_min_runtime")?,
            "gone_for" => self.gone_for = duration("gone_for")?,
            "backlog_for" => self.backlog_for = duration("backlog_for")?,
            "pid_reuse_slack" => self.pid_reuse_slack = duration("pid_reuse_slack")?,
            "down_for" => self.down_for = duration("down_for")?,
            "breaker_open_for" => self.breaker_open_for = duration("breaker_open_for")?,
            "section_failing_for" => self.section_failing_for = duration("section_failing_for")?,
            "retry_attempts" => {
                self.retry_attempts =
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|v| *v >= 0)
                        .ok_or_else(|| ThresholdError::Number {
                            name: "retry_attempts",
                            value: value.to_owned(),
                            expected: "a non-negative integer",
                        })?;
            }
            "cost_per_hour" => {
                self.cost_per_hour = if value.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(number("cost_per_hour")?)
                };
            }
            other => {
                return Err(ThresholdError::Unknown {
                    name: other.to_owned(),
                    known: NAMES,
                });
            }
        }
        Ok(())
    }

    /// Sets one `NAME=VALUE` assignment (see [`Thresholds::set`]).
    ///
    /// # Errors
    ///
    /// As [`Thresholds::set`], and [`ThresholdError::Assignment`] without `=`.
    pub fn set_assignment(&mut self, assignment: &str) -> Result<(), ThresholdError> {
        let (name, value) =
            assignment
                .split_once('=')
                .ok_or_else(|| ThresholdError::Assignment {
                    text: assignment.to_owned(),
                })?;
        self.set(name, value)
    }

    /// Judges one agent.
    ///
    /// `recent` is the agent's delta over the last interval (what the agent
    /// does now); `window`, when the watcher has it, its delta from a
    /// snapshot at least [`Thresholds::stuck_window`] older (what it did over
    /// the window). Without a window long enough, an agent can be idle but
    /// not stuck. In this order:
    ///
    /// 1. **gone**: `state` `Z`/`X`; `proc_status` `no_such_process` (for a
    ///    collector without `proc_status`: a pid without `cpu_ticks`); the
    ///    pid reused (same pid, another `start_ticks`; or the process younger
    ///    than its job by more than [`Thresholds::pid_reuse_slack`]);
    /// 2. **unknown**: no pid, or the process could not be read;
    /// 3. **new**: no rate yet (first sighting, restarted, zero interval);
    /// 4. **stuck**: runtime at least [`Thresholds::stuck_min_runtime`], and
    ///    own and tree CPU under [`Thresholds::stuck_cpu`] both over the
    ///    window and now;
    /// 5. **busy** when own or tree CPU is at least `stuck_cpu` now, else
    ///    **idle**.
    #[must_use]
    pub fn verdict(&self, recent: &AgentDelta, window: Option<&AgentDelta>) -> Verdict {
        let agent = &recent.agent;
        if self.is_gone(recent) || window.is_some_and(|w| w.matched == Match::ReusedPid) {
            return Verdict::Gone;
        }
        let readable = match &agent.proc_status {
            Some(status) => *status == ProcStatus::Ok,
            None => agent.cpu_ticks.is_some(),
        };
        if agent.pid.is_none() || !readable {
            return Verdict::Unknown;
        }
        let Some(now) = recent.busiest() else {
            return Verdict::New;
        };
        let quiet = |delta: &AgentDelta| delta.busiest().is_some_and(|cpu| cpu < self.stuck_cpu);
        let long_enough = |delta: &AgentDelta| {
            delta
                .interval_s
                .is_some_and(|s| s >= secs(self.stuck_window))
        };
        let over_window = window
            .filter(|w| w.matched == Match::Same && long_enough(w))
            .or_else(|| Some(recent).filter(|r| long_enough(r)));
        let old_enough = agent
            .runtime_s
            .is_some_and(|r| r >= secs(self.stuck_min_runtime));
        if now < self.stuck_cpu {
            if old_enough && over_window.is_some_and(quiet) {
                Verdict::Stuck
            } else {
                Verdict::Idle
            }
        } else {
            Verdict::Busy
        }
    }

    /// Whether the agent's process is gone by the later snapshot alone or
    /// by a changed start time (see [`Thresholds::verdict`], step 1).
    fn is_gone(&self, recent: &AgentDelta) -> bool {
        let agent = &recent.agent;
        let dead = match &agent.proc_status {
            Some(status) => *status == ProcStatus::NoSuchProcess,
            None => agent.pid.is_some() && agent.cpu_ticks.is_none(),
        };
        let younger_than_job = match (agent.proc_age_s, agent.runtime_s) {
            (Some(age), Some(runtime)) => age.saturating_add(secs(self.pid_reuse_slack)) < runtime,
            _ => false,
        };
        dead || agent.is_zombie() || recent.matched == Match::ReusedPid || younger_than_job
    }

    /// Whether the queue has a backlog over `delta`: it spans at least
    /// [`Thresholds::backlog_for`], jobs were queued at its end, and none
    /// finished in between.
    #[must_use]
    pub fn backlog(&self, delta: &QueueDelta) -> bool {
        delta
            .interval_s
            .is_some_and(|s| s >= secs(self.backlog_for))
            && delta.depth.is_some_and(|d| d > 0)
            && delta.finished == Some(0)
    }

    /// Whether a job retries too much: `max_attempts` at least
    /// [`Thresholds::retry_attempts`].
    #[must_use]
    pub fn retrying(&self, retries: &Retries) -> bool {
        retries
            .max_attempts
            .is_some_and(|m| m >= self.retry_attempts)
    }

    /// Whether spend is above [`Thresholds::cost_per_hour`] (never, when
    /// that is `None` or the rate is unknown).
    #[must_use]
    pub fn overspending(&self, cost: &CostDelta) -> bool {
        match (self.cost_per_hour, cost.usd_per_hour) {
            (Some(limit), Some(rate)) => rate > limit,
            _ => false,
        }
    }
}
