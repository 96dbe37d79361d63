//! The section itself and its OpenMetrics mapping.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;
use vitals_core::export::{MetricFamily, MetricKind, label_value};
use vitals_core::{
    Collect, Fallback, HeaderFields, Section, SectionError, SectionValue, async_trait,
};
use vitals_proc::ProcSource;

use crate::fields::{
    AGENT, CPU_TICKS, EFFORT, JOB_ID, MODEL, PID, PROC_AGE_S, PROC_STATUS, REPO, RSS_BYTES, RUN_ID,
    RUNTIME_S, START_TICKS, STATE, THREADS, TREE_CPU_TICKS, TREE_PROCS,
};
use crate::proc::{self, InFlight, Lookup, ProcFields};
use crate::{AgentSource, KEY, ORDER, RunningAgent};

/// The label of `vitals_agent_process_status` that holds `proc_status`.
const STATUS_LABEL: &str = "status";

/// The `agents` section: one entry per running agent, with its process facts.
///
/// Each entry holds, in this order, the contract-v1 fields `agent`,
/// `run_id`, `job_id`, `repo`, `pid`, `runtime_s`, `model`, `effort`,
/// `cpu_ticks`, then the additive process fields `state`, `start_ticks`,
/// `proc_age_s`, `threads`, `rss_bytes`, `tree_cpu_ticks`, `tree_procs` and
/// `proc_status` (see `docs/contract.md`). `runtime_s` is whole seconds from the job's
/// `started_at` to the snapshot's clock. `cpu_ticks` keeps the seed's
/// meaning: `utime + stime` of the process itself.
///
/// # Process facts
///
/// They come from the [`ProcSource`] given with
/// [`with_proc`](Self::with_proc); without one every process field is
/// `null` and nothing is recorded. With one, reading is done off the async
/// threads, each read on a blocking task of its own, all at once: the
/// process table and the boot time once per snapshot (shared through the
/// snapshot's scratch space, and skipped when no agent has a positive pid),
/// and one `stat` read per distinct pid. The section waits for them until
/// four fifths of its remaining time: a read that does not return by then
/// (a process stuck in the kernel, a `/proc` entry that blocks) nulls what
/// needed it with the kind `timeout`, and is left to finish on its thread;
/// until it does, the same read is not started again (the agent is
/// reported `timeout` at once), so at most one thread per pid, and one for
/// the table, is ever blocked (and 64 in all).
/// `tree_cpu_ticks` adds the descendants' ticks from the table to the
/// agent's own `cpu_ticks` from that later read, so it is never below
/// `cpu_ticks`.
///
/// An agent whose process cannot be read keeps its database fields and gets
/// `null` process fields, while every other agent stays intact; the reason
/// goes to the meta section as a degraded field:
///
/// | field | kind | when |
/// | --- | --- | --- |
/// | `agents[i].proc` | `no_pid` | the running job has no pid (yet) |
/// | `agents[i].proc` | the [`ProcError`](vitals_proc::ProcError) kind: `invalid_pid`, `no_such_process`, `permission_denied`, `unparsable`, `io`, `unsupported` | the pid is zero, negative or too large, the process is gone, unreadable, ... |
/// | `agents[i].tree` | `not_in_table` | the process was read but is not in the snapshot's process table (it started after the table was read): `tree_*` are `null` |
/// | `agents[*].tree` | the table's error kind | the process table could not be read: `tree_*` are `null` for every agent (recorded once) |
/// | `agents[*].proc_age_s` | the boot time's error kind | the boot time could not be read: `proc_age_s` is `null` for every agent (recorded once) |
/// | `agents[i].proc` | `panic` | reading the agent's process panicked |
/// | `agents[i].proc` | `timeout` | reading the agent's process did not finish within the section's budget, or the previous read of it has still not returned (it is not started again until it does) |
/// | `agents[*].tree`, `agents[*].proc_age_s` | `timeout` | the same for the process table and boot time read |
///
/// `proc_status` says how reading the process went, for a consumer that
/// must tell a dead or reused pid from a missing sample: `"ok"`, `"no_pid"`,
/// or the kind in the table above (`"timeout"` when the read did not
/// return in time); `null` without a process source.
///
/// A zombie (`state` `"Z"`) is reported as read: it still exists. Messages
/// name the job id and the pid. `proc_age_s` is also `null`, without a
/// record, when the snapshot has no clock or `clk_tck` is unknown: the
/// envelope shows both already.
///
/// # Metrics
///
/// Per agent, labelled `agent`, `job_id`, `run_id` and `pid` (`""` when
/// null); family names as in [`MetricFamily::name`], the encoder adds the
/// unit and `_total`:
///
/// | family | kind | unit | from |
/// | --- | --- | --- | --- |
/// | `vitals_agent_cpu_ticks` | counter | | `cpu_ticks` |
/// | `vitals_agent_cpu` | counter | seconds | `cpu_ticks / clk_tck`, only when the `clk_tck` the process source reported at [`with_proc`](Self::with_proc) is known |
/// | `vitals_agent_runtime` | gauge | seconds | `runtime_s` |
/// | `vitals_agent_rss` | gauge | bytes | `rss_bytes` |
/// | `vitals_agent_threads` | gauge | | `threads` |
/// | `vitals_agent_tree_cpu_ticks` | gauge | | `tree_cpu_ticks` |
/// | `vitals_agent_tree_procs` | gauge | | `tree_procs` |
/// | `vitals_agent_proc_age` | gauge | seconds | `proc_age_s` |
/// | `vitals_agent_state` | gauge | | 1, with an extra `state` label |
/// | `vitals_agent_tree_cpu` | gauge | seconds | `tree_cpu_ticks / clk_tck`, when `clk_tck` is known |
/// | `vitals_agent_start_ticks` | gauge | | `start_ticks` (another value under the same labels: the pid was reused) |
/// | `vitals_agent_process_status` | gauge | | 1, with an extra `status` label: `proc_status` (`ok`, `no_pid`, `no_such_process`, ...) |
///
/// `vitals_agent_tree_cpu_ticks` and `vitals_agent_tree_cpu` are gauges,
/// not counters: a child that exits takes its ticks out of the tree sum, and
/// a counter that drops would read as a reset. `null` values have no sample.
/// `vitals_agent_process_status` has one series per agent, for its current
/// status: with it a rule tells a dead pid (`no_such_process`) from a
/// sample that is missing because the target is.
#[derive(Debug, Clone)]
pub struct AgentsSection {
    source: Arc<dyn AgentSource>,
    proc: Option<Arc<dyn ProcSource>>,
    clk_tck: Option<u64>,
    /// Process reads still running (hung ones included), shared by clones.
    in_flight: Arc<InFlight>,
}

impl AgentsSection {
    /// A section reading running agents from `source`, with no process facts.
    #[must_use]
    pub fn new(source: Arc<dyn AgentSource>) -> Self {
        Self {
            source,
            proc: None,
            clk_tck: None,
            in_flight: Arc::default(),
        }
    }

    /// Reads process facts from `proc`. Its [`clk_tck`](ProcSource::clk_tck)
    /// is read once, here (the kernel's tick rate does not change while the
    /// system runs), for `proc_age_s` and the CPU-seconds metric.
    #[must_use]
    pub fn with_proc(mut self, proc: Arc<dyn ProcSource>) -> Self {
        self.clk_tck = proc.clk_tck();
        self.proc = Some(proc);
        self
    }

    /// The clock ticks per second of the process source, when one is set and knows it.
    #[must_use]
    pub fn clk_tck(&self) -> Option<u64> {
        self.clk_tck
    }
}

/// One entry of the output.
#[derive(Debug)]
struct AgentEntry {
    agent: Option<String>,
    run_id: Option<i64>,
    job_id: Option<i64>,
    repo: Option<String>,
    pid: Option<i64>,
    runtime_s: Option<i64>,
    model: Option<String>,
    effort: Option<String>,
    cpu_ticks: Option<u64>,
    state: Option<String>,
    start_ticks: Option<u64>,
    proc_age_s: Option<i64>,
    threads: Option<i64>,
    rss_bytes: Option<u64>,
    tree_cpu_ticks: Option<u64>,
    tree_procs: Option<u32>,
    proc_status: Option<String>,
}

impl AgentEntry {
    fn new(row: RunningAgent, runtime_s: Option<i64>, proc: ProcFields) -> Self {
        Self {
            agent: row.agent,
            run_id: row.run_id,
            job_id: row.job_id,
            repo: row.repo,
            pid: row.pid,
            runtime_s,
            model: row.model,
            effort: row.effort,
            cpu_ticks: proc.cpu_ticks,
            state: proc.state,
            start_ticks: proc.start_ticks,
            proc_age_s: proc.proc_age_s,
            threads: proc.threads,
            rss_bytes: proc.rss_bytes,
            tree_cpu_ticks: proc.tree_cpu_ticks,
            tree_procs: proc.tree_procs,
            proc_status: proc.status,
        }
    }
}

impl Serialize for AgentEntry {
    /// In contract order, named by [`crate::fields`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entry = serializer.serialize_struct("AgentEntry", 17)?;
        entry.serialize_field(AGENT, &self.agent)?;
        entry.serialize_field(RUN_ID, &self.run_id)?;
        entry.serialize_field(JOB_ID, &self.job_id)?;
        entry.serialize_field(REPO, &self.repo)?;
        entry.serialize_field(PID, &self.pid)?;
        entry.serialize_field(RUNTIME_S, &self.runtime_s)?;
        entry.serialize_field(MODEL, &self.model)?;
        entry.serialize_field(EFFORT, &self.effort)?;
        entry.serialize_field(CPU_TICKS, &self.cpu_ticks)?;
        entry.serialize_field(STATE, &self.state)?;
        entry.serialize_field(START_TICKS, &self.start_ticks)?;
        entry.serialize_field(PROC_AGE_S, &self.proc_age_s)?;
        entry.serialize_field(THREADS, &self.threads)?;
        entry.serialize_field(RSS_BYTES, &self.rss_bytes)?;
        entry.serialize_field(TREE_CPU_TICKS, &self.tree_cpu_ticks)?;
        entry.serialize_field(TREE_PROCS, &self.tree_procs)?;
        entry.serialize_field(PROC_STATUS, &self.proc_status)?;
        entry.end()
    }
}

#[async_trait]
impl Section for AgentsSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::EmptyArray
    }

    fn order(&self) -> i32 {
        ORDER
    }

    /// The envelope's `clk_tck`: the process source's (read at
    /// [`with_proc`](Self::with_proc)), so that a host that hands the
    /// section a `ProcSource` gets a non-null `clk_tck` without wiring it twice.
    fn header(&self) -> HeaderFields {
        HeaderFields::default().with_clk_tck(self.clk_tck)
    }

    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let rows = self.source.running_agents(cx).await?;
        let mut facts = match &self.proc {
            None => Vec::new(),
            Some(source) => {
                let lookups = rows
                    .iter()
                    .map(|row| Lookup {
                        job_id: row.job_id,
                        pid: row.pid,
                    })
                    .collect();
                let readings = proc::read(cx, source, &self.in_flight, lookups, self.clk_tck).await;
                for failure in &readings.failures {
                    cx.record_field_failure(
                        &failure.field,
                        &failure.error.kind,
                        &failure.error.message,
                    );
                }
                readings.agents
            }
        }
        .into_iter();
        let entries: Vec<AgentEntry> = rows
            .into_iter()
            .map(|row| {
                let runtime_s = row.started_at.and_then(|at| cx.seconds_since(at));
                AgentEntry::new(row, runtime_s, facts.next().unwrap_or_default())
            })
            .collect();
        SectionValue::from_serialize(&entries)
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let family = |name: &str, help: &str, kind, unit: Option<&str>| {
            let family = MetricFamily::new(name, help, kind);
            match unit {
                Some(unit) => family.with_unit(unit),
                None => family,
            }
        };
        use MetricKind::{Counter, Gauge};
        let mut state = family(
            "vitals_agent_state",
            "The agent process's one-letter state (the label), always 1.",
            Gauge,
            None,
        );
        let mut cpu_seconds = family(
            "vitals_agent_cpu",
            "CPU time (user + system) of the agent process itself.",
            Counter,
            Some("seconds"),
        );
        // (JSON field, family)
        let mut plain = [
            (
                CPU_TICKS,
                family(
                    "vitals_agent_cpu_ticks",
                    "CPU time (user + system) of the agent process itself, in clock ticks.",
                    Counter,
                    None,
                ),
            ),
            (
                RUNTIME_S,
                family(
                    "vitals_agent_runtime",
                    "Time since the agent's job started.",
                    Gauge,
                    Some("seconds"),
                ),
            ),
            (
                RSS_BYTES,
                family(
                    "vitals_agent_rss",
                    "Resident set size of the agent process.",
                    Gauge,
                    Some("bytes"),
                ),
            ),
            (
                THREADS,
                family(
                    "vitals_agent_threads",
                    "Threads of the agent process.",
                    Gauge,
                    None,
                ),
            ),
            (
                TREE_CPU_TICKS,
                family(
                    "vitals_agent_tree_cpu_ticks",
                    "CPU time of the agent process and its live descendants, in clock ticks (drops when a child exits).",
                    Gauge,
                    None,
                ),
            ),
            (
                TREE_PROCS,
                family(
                    "vitals_agent_tree_procs",
                    "Processes in the agent's process tree, itself included.",
                    Gauge,
                    None,
                ),
            ),
            (
                PROC_AGE_S,
                family(
                    "vitals_agent_proc_age",
                    "Time since the agent process started.",
                    Gauge,
                    Some("seconds"),
                ),
            ),
        ];
        // Added after the families above (additive): what a rule needs to
        // tell a dead or reused pid from a missing sample, and the tree's
        // CPU in seconds.
        let mut tree_cpu_seconds = family(
            "vitals_agent_tree_cpu",
            "CPU time of the agent process and its live descendants (drops when a child exits).",
            Gauge,
            Some("seconds"),
        );
        let mut start_ticks = family(
            "vitals_agent_start_ticks",
            "When the agent process started, in clock ticks after boot (another value under the same pid: the pid was reused).",
            Gauge,
            None,
        );
        let mut process_status = family(
            "vitals_agent_process_status",
            "How reading the agent's process went (the label: ok, no_pid, no_such_process, ...), always 1.",
            Gauge,
            None,
        );
        let ticks_per_second = self.clk_tck.filter(|t| *t > 0);
        for entry in value.as_array().into_iter().flatten() {
            let labels =
                [AGENT, JOB_ID, RUN_ID, PID].map(|name| (name, label_value(entry.get(name))));
            let with = |name: &'static str, value: &str| {
                let mut labels = labels.to_vec();
                labels.push((name, value.to_owned()));
                labels
            };
            if let Some(letter) = entry.get(STATE).and_then(Value::as_str) {
                state.push(with(STATE, letter), 1.0);
            }
            if let Some(status) = entry.get(PROC_STATUS).and_then(Value::as_str) {
                process_status.push(with(STATUS_LABEL, status), 1.0);
            }
            if let Some(per_second) = ticks_per_second {
                let per_second = per_second as f64;
                if let Some(ticks) = entry.get(CPU_TICKS).and_then(Value::as_f64) {
                    cpu_seconds.push(labels.clone(), ticks / per_second);
                }
                if let Some(ticks) = entry.get(TREE_CPU_TICKS).and_then(Value::as_f64) {
                    tree_cpu_seconds.push(labels.clone(), ticks / per_second);
                }
            }
            if let Some(ticks) = entry.get(START_TICKS).and_then(Value::as_f64) {
                start_ticks.push(labels.clone(), ticks);
            }
            for (field, family) in &mut plain {
                if let Some(number) = entry.get(*field).and_then(Value::as_f64) {
                    family.push(labels.clone(), number);
                }
            }
        }
        let [cpu_ticks, rest @ ..] = plain;
        cpu_ticks.1.emit_into(out);
        cpu_seconds.emit_into(out);
        for (_, family) in rest {
            family.emit_into(out);
        }
        state.emit_into(out);
        tree_cpu_seconds.emit_into(out);
        start_ticks.emit_into(out);
        process_status.emit_into(out);
    }
}
