//! The names of the fields of the `cost` object, in output order.
//!
//! The one place they are written: the section's output, its metrics, its
//! degraded-field records and a source's (`vitals-sqlite`) all use these.
//!
//! ```
//! use vitals_cost::fields;
//!
//! assert_eq!(fields::ALL, ["running", "aggregate"]);
//! assert_eq!(fields::AGGREGATE_ALL[0], fields::RUNS);
//! ```

/// Per running job, its latest run.
pub const RUNNING: &str = "running";
/// Totals over all runs.
pub const AGGREGATE: &str = "aggregate";

/// Every field of the object, in output order.
pub const ALL: [&str; 2] = [RUNNING, AGGREGATE];

/// `running[].run_id`.
pub const RUN_ID: &str = "run_id";
/// `running[].job_id`.
pub const JOB_ID: &str = "job_id";
/// `running[].agent`.
pub const AGENT: &str = "agent";
/// `running[].cost_usd` and `aggregate.cost_usd`: US dollars.
pub const COST_USD: &str = "cost_usd";
/// Input tokens (in `running[]` and `aggregate`).
pub const INPUT_TOKENS: &str = "input_tokens";
/// Output tokens (in `running[]` and `aggregate`).
pub const OUTPUT_TOKENS: &str = "output_tokens";
/// Cache-read tokens (in `running[]` and `aggregate`).
pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
/// Cache-creation tokens (in `running[]` and `aggregate`).
pub const CACHE_CREATION_TOKENS: &str = "cache_creation_tokens";
/// `aggregate.runs`: the number of runs.
pub const RUNS: &str = "runs";

/// Every field of a `running` entry, in output order.
pub const RUNNING_ALL: [&str; 8] = [
    RUN_ID,
    JOB_ID,
    AGENT,
    COST_USD,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_CREATION_TOKENS,
];

/// Every field of `aggregate`, in output order.
pub const AGGREGATE_ALL: [&str; 6] = [
    RUNS,
    COST_USD,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_CREATION_TOKENS,
];
