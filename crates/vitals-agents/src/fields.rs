//! The names of the fields of each `agents` entry, in output order, and of
//! the degraded-field records the section writes.
//!
//! The one place they are written: the section's output, its metrics, its
//! degraded-field records and a source's (`vitals-sqlite`) all use these.
//!
//! ```
//! use vitals_agents::fields;
//!
//! assert_eq!(fields::CONTRACT_V1[8], fields::CPU_TICKS);
//! assert_eq!(fields::entry(2, fields::PROC), "agents[2].proc");
//! ```

/// The agent's name.
pub const AGENT: &str = "agent";
/// The latest run's id.
pub const RUN_ID: &str = "run_id";
/// The job's id.
pub const JOB_ID: &str = "job_id";
/// The repository.
pub const REPO: &str = "repo";
/// The process id as stored.
pub const PID: &str = "pid";
/// Whole seconds since the job started.
pub const RUNTIME_S: &str = "runtime_s";
/// The model.
pub const MODEL: &str = "model";
/// The effort setting.
pub const EFFORT: &str = "effort";
/// `utime + stime` of the process, in clock ticks.
pub const CPU_TICKS: &str = "cpu_ticks";
/// The process state letter.
pub const STATE: &str = "state";
/// The process start time, in clock ticks after boot.
pub const START_TICKS: &str = "start_ticks";
/// Whole seconds since the process started.
pub const PROC_AGE_S: &str = "proc_age_s";
/// Threads of the process.
pub const THREADS: &str = "threads";
/// Resident set size in bytes.
pub const RSS_BYTES: &str = "rss_bytes";
/// CPU ticks of the process and its live descendants.
pub const TREE_CPU_TICKS: &str = "tree_cpu_ticks";
/// Processes in the tree, the agent's own included.
pub const TREE_PROCS: &str = "tree_procs";
/// How reading the process went: `ok`, `no_pid`, or the error's kind.
pub const PROC_STATUS: &str = "proc_status";

/// The fields of contract v1, in output order.
pub const CONTRACT_V1: [&str; 9] = [
    AGENT, RUN_ID, JOB_ID, REPO, PID, RUNTIME_S, MODEL, EFFORT, CPU_TICKS,
];

/// Every field of an entry, in output order: contract v1, then the additive
/// process fields.
pub const ALL: [&str; 17] = [
    AGENT,
    RUN_ID,
    JOB_ID,
    REPO,
    PID,
    RUNTIME_S,
    MODEL,
    EFFORT,
    CPU_TICKS,
    STATE,
    START_TICKS,
    PROC_AGE_S,
    THREADS,
    RSS_BYTES,
    TREE_CPU_TICKS,
    TREE_PROCS,
    PROC_STATUS,
];

/// Degraded-field name for an agent's process facts (`agents[i].proc`).
pub const PROC: &str = "proc";
/// Degraded-field name for an agent's process-tree sums (`agents[i].tree`).
pub const TREE: &str = "tree";

/// The name of a degraded field of entry `index`: `agents[3].pid`.
#[must_use]
pub fn entry(index: usize, field: &str) -> String {
    format!("{}[{index}].{field}", crate::KEY)
}

/// The name of a degraded field of every entry at once: `agents[*].tree`.
#[must_use]
pub fn every_entry(field: &str) -> String {
    format!("{}[*].{field}", crate::KEY)
}
