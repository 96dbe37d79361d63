//! Contract v1 as Rust types: the envelope, the four standard sections and
//! the meta section.
//!
//! Every type here is tolerant the way the contract asks a consumer to be:
//! unknown keys are ignored, a missing optional key is `None`, and a section
//! that fell back (`null`, `[]`) is a value like any other. Fields of the
//! original (seed) contract are always written back; the additive ones (the
//! process fields, `collector`) only when they have a value, so a body from
//! the original Python collector round-trips unchanged.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codes::{ProcStatus, SectionStatus};
use crate::error::ParseError;
use crate::ordered::OrderedMap;

/// The contract version this crate reads.
pub const SCHEMA_VERSION: u64 = 1;

/// What one `GET /metrics` answered: a snapshot, or the kill switch's body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// A full snapshot.
    Snapshot(Box<Snapshot>),
    /// The kill switch is off: `{"schema_version":1,"enabled":false}`. A
    /// value, not an error: the collector says on purpose that it publishes
    /// nothing.
    Disabled,
}

/// The header every body has, read before the rest.
#[derive(Deserialize)]
struct Header {
    schema_version: Option<serde_json::Value>,
    enabled: Option<serde_json::Value>,
}

impl Body {
    /// Parses a response body.
    ///
    /// # Errors
    ///
    /// [`ParseError::NotJson`] when the bytes are not JSON,
    /// [`ParseError::NotAnEnvelope`] when the JSON is not an object with an
    /// integer `schema_version`, [`ParseError::UnsupportedVersion`] for a
    /// `schema_version` other than 1, and [`ParseError::Shape`] when a known
    /// field has another JSON type than the contract gives it.
    pub fn from_slice(bytes: &[u8]) -> Result<Body, ParseError> {
        // A derived struct also reads a JSON array (by position): check the
        // body is an object first.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => ParseError::NotAnEnvelope {
                        reason: "the body is not a JSON object",
                    },
                    Err(source) => ParseError::NotJson(source),
                },
            );
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|source| {
            if source.is_data() {
                ParseError::NotAnEnvelope {
                    reason: "the body is not a JSON object",
                }
            } else {
                ParseError::NotJson(source)
            }
        })?;
        let version = match header.schema_version {
            Some(serde_json::Value::Number(n)) => n.as_u64().ok_or(ParseError::NotAnEnvelope {
                reason: "schema_version is not a non-negative integer",
            })?,
            Some(_) => {
                return Err(ParseError::NotAnEnvelope {
                    reason: "schema_version is not an integer",
                });
            }
            None => {
                return Err(ParseError::NotAnEnvelope {
                    reason: "no schema_version",
                });
            }
        };
        if version != SCHEMA_VERSION {
            return Err(ParseError::UnsupportedVersion { version });
        }
        if header.enabled == Some(serde_json::Value::Bool(false)) {
            return Ok(Body::Disabled);
        }
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(ParseError::Shape)?;
        Ok(Body::Snapshot(Box::new(snapshot)))
    }

    /// Parses a response body held as text. See [`Body::from_slice`].
    ///
    /// # Errors
    ///
    /// As [`Body::from_slice`].
    pub fn from_json(text: &str) -> Result<Body, ParseError> {
        Body::from_slice(text.as_bytes())
    }

    /// The snapshot, unless the collector is disabled.
    #[must_use]
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            Body::Snapshot(snapshot) => Some(snapshot),
            Body::Disabled => None,
        }
    }

    /// The snapshot, unless the collector is disabled.
    #[must_use]
    pub fn into_snapshot(self) -> Option<Snapshot> {
        match self {
            Body::Snapshot(snapshot) => Some(*snapshot),
            Body::Disabled => None,
        }
    }

    /// The body as contract-v1 JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        match self {
            // Serializing these types cannot fail: every map key is a string.
            Body::Snapshot(snapshot) => serde_json::to_string(snapshot).unwrap_or_default(),
            Body::Disabled => format!(r#"{{"schema_version":{SCHEMA_VERSION},"enabled":false}}"#),
        }
    }
}

/// One contract-v1 snapshot (the envelope with the kill switch on).
///
/// `stages`, `queue`, `agents` and `cost` are `None` when the key is absent
/// (a collector composed without that section) or `null` (the section fell
/// back); [`Snapshot::section`] tells which from the meta section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// Always [`SCHEMA_VERSION`] once parsed.
    pub schema_version: u64,
    /// The snapshot instant, UTC, `YYYY-MM-DDTHH:MM:SSZ`; `""` when the
    /// collector's clock failed. See [`Snapshot::time`].
    #[serde(default)]
    pub generated_at: String,
    /// Clock ticks per second, to turn CPU ticks into seconds.
    #[serde(default)]
    pub clk_tck: Option<i64>,
    /// Active tasks (`[]` when the section failed).
    #[serde(default)]
    pub stages: Option<Vec<Stage>>,
    /// The job queue (`None` when the section failed).
    #[serde(default)]
    pub queue: Option<Queue>,
    /// Running agents (`[]` when the section failed).
    #[serde(default)]
    pub agents: Option<Vec<Agent>>,
    /// Cost and tokens (`None` when the section failed).
    #[serde(default)]
    pub cost: Option<Cost>,
    /// The meta section: how the snapshot was built (additive; absent from
    /// the original Python collector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<Collector>,
}

impl Snapshot {
    /// `generated_at` as an instant, `None` when it is empty or not in the
    /// contract's format. Second precision, in the collector's clock.
    #[must_use]
    pub fn time(&self) -> Option<DateTime<Utc>> {
        NaiveDateTime::parse_from_str(&self.generated_at, "%Y-%m-%dT%H:%M:%SZ")
            .ok()
            .map(|naive| naive.and_utc())
    }

    /// The agents, or an empty slice when the section is absent or null.
    #[must_use]
    pub fn agents(&self) -> &[Agent] {
        self.agents.as_deref().unwrap_or_default()
    }

    /// The stages, or an empty slice when the section is absent or null.
    #[must_use]
    pub fn stages(&self) -> &[Stage] {
        self.stages.as_deref().unwrap_or_default()
    }

    /// The meta entry of the section `key` (`"agents"`, ...), if the
    /// collector reports one.
    #[must_use]
    pub fn section(&self, key: &str) -> Option<&SectionMeta> {
        self.collector.as_ref()?.sections.get(key)
    }
}

/// One active task (`stages[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stage {
    /// `tasks.work_item_id`.
    #[serde(default)]
    pub work_item: Option<String>,
    /// `tasks.stage`.
    #[serde(default)]
    pub stage: Option<String>,
    /// Seconds since the task entered its stage.
    #[serde(default)]
    pub age_in_stage_s: Option<i64>,
    /// `tasks.repo`.
    #[serde(default)]
    pub repo: Option<String>,
    /// `tasks.id`.
    #[serde(default)]
    pub task_id: Option<i64>,
}

/// The job queue (`queue`). Each field is collected on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Queue {
    /// Jobs per status, in the collector's order (`queued`, `running`,
    /// `done`, `failed`, `cancelled`, then any other status).
    #[serde(default)]
    pub counts: Option<OrderedMap<i64>>,
    /// Queued jobs (`counts.queued`).
    #[serde(default)]
    pub depth: Option<i64>,
    /// Retries over the non-terminal jobs.
    #[serde(default)]
    pub retries: Option<Retries>,
    /// The host's circuit breaker, as the host reports it.
    #[serde(default)]
    pub breaker: Option<serde_json::Value>,
    /// The worker's concurrency limit.
    #[serde(default)]
    pub max_concurrency: Option<i64>,
    /// The worker's poll interval, seconds.
    #[serde(default)]
    pub poll_interval: Option<f64>,
}

impl Queue {
    /// The count of jobs with `status`, if reported.
    #[must_use]
    pub fn count(&self, status: &str) -> Option<i64> {
        self.counts.as_ref()?.get(status).copied()
    }
}

/// Retries over `queued` and `running` jobs (`queue.retries`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retries {
    /// Jobs with at least one retry.
    #[serde(default)]
    pub jobs_with_retries: Option<i64>,
    /// The sum of their attempts.
    #[serde(default)]
    pub total_attempts: Option<i64>,
    /// The most attempts of one job (0 when none).
    #[serde(default)]
    pub max_attempts: Option<i64>,
}

/// One running agent (`agents[]`).
///
/// The fields from `state` on are additive process facts: absent from the
/// original Python collector, `null` for an agent whose process could not be
/// read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Agent {
    /// `jobs.agent`.
    #[serde(default)]
    pub agent: Option<String>,
    /// The latest run's id.
    #[serde(default)]
    pub run_id: Option<i64>,
    /// `jobs.id`.
    #[serde(default)]
    pub job_id: Option<i64>,
    /// `jobs.repo`.
    #[serde(default)]
    pub repo: Option<String>,
    /// `jobs.pid`.
    #[serde(default)]
    pub pid: Option<i64>,
    /// Seconds since `jobs.started_at`.
    #[serde(default)]
    pub runtime_s: Option<i64>,
    /// `jobs.model`.
    #[serde(default)]
    pub model: Option<String>,
    /// `jobs.effort`.
    #[serde(default)]
    pub effort: Option<String>,
    /// utime + stime of the process, clock ticks.
    #[serde(default)]
    pub cpu_ticks: Option<i64>,
    /// One-letter process state (`R`, `S`, `D`, `Z`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Process start time, clock ticks since boot: with `pid`, it names one
    /// process across pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<i64>,
    /// Whole seconds the process has existed at `generated_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_age_s: Option<i64>,
    /// Threads of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<i64>,
    /// Resident set size, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<i64>,
    /// CPU ticks of the process and all its live descendants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_cpu_ticks: Option<i64>,
    /// Processes counted in `tree_cpu_ticks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_procs: Option<i64>,
    /// How reading the process went; `None` when the collector reads no
    /// process facts (or predates the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_status: Option<ProcStatus>,
}

impl Agent {
    /// Whether the process is a zombie or dead (`state` `Z` or `X`).
    #[must_use]
    pub fn is_zombie(&self) -> bool {
        matches!(self.state.as_deref(), Some("Z" | "X" | "x"))
    }
}

/// Cost and tokens (`cost`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// Per running job, its latest run (`[]` when this field failed).
    #[serde(default)]
    pub running: Option<Vec<RunningCost>>,
    /// Totals over all runs (`None` when this field failed).
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
}

/// The cost of one running job's latest run (`cost.running[]`). The cost
/// fields are `None` until the run finishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunningCost {
    /// The run's id.
    #[serde(default)]
    pub run_id: Option<i64>,
    /// The job's id.
    #[serde(default)]
    pub job_id: Option<i64>,
    /// The job's agent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Dollars spent.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: Option<i64>,
    /// Tokens read from the cache.
    #[serde(default)]
    pub cache_read_tokens: Option<i64>,
    /// Tokens written to the cache.
    #[serde(default)]
    pub cache_creation_tokens: Option<i64>,
}

/// Totals over all runs (`cost.aggregate`); an empty history gives zeros.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Aggregate {
    /// Runs counted.
    #[serde(default)]
    pub runs: Option<i64>,
    /// Dollars spent.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: Option<i64>,
    /// Tokens read from the cache.
    #[serde(default)]
    pub cache_read_tokens: Option<i64>,
    /// Tokens written to the cache.
    #[serde(default)]
    pub cache_creation_tokens: Option<i64>,
}

impl Aggregate {
    /// All tokens: input, output, cache reads and cache writes (`None` when
    /// none is reported).
    #[must_use]
    pub fn tokens(&self) -> Option<i64> {
        let parts = [
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_creation_tokens,
        ];
        parts.iter().flatten().copied().reduce(i64::saturating_add)
    }
}

/// The meta section (`collector`): how the snapshot was built.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collector {
    /// The whole build, milliseconds.
    #[serde(default)]
    pub elapsed_ms: Option<f64>,
    /// Each section's report, in the snapshot's order.
    #[serde(default)]
    pub sections: OrderedMap<SectionMeta>,
}

/// One section's report (`collector.sections.<key>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SectionMeta {
    /// `ok`, `degraded`, `error`, `panic`, `timeout`, `busy`.
    #[serde(default)]
    pub status: Option<SectionStatus>,
    /// The section's time, milliseconds.
    #[serde(default)]
    pub elapsed_ms: Option<f64>,
    /// Why the section fell back (`error`, `panic`, `timeout`, `busy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorMeta>,
    /// The fields that fell back (`degraded`, per-agent process failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldMeta>>,
}

/// A section's failure (`collector.sections.<key>.error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorMeta {
    /// A stable `snake_case` code (`missing_table`, `timeout`, ...).
    #[serde(default)]
    pub kind: Option<String>,
    /// For people; may change.
    #[serde(default)]
    pub message: Option<String>,
}

/// One fallen-back field (`collector.sections.<key>.fields[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldMeta {
    /// The field's name.
    #[serde(default)]
    pub field: Option<String>,
    /// A stable `snake_case` code.
    #[serde(default)]
    pub kind: Option<String>,
    /// For people; may change.
    #[serde(default)]
    pub message: Option<String>,
}
