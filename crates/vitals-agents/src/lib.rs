//! The `agents` section: running agents with process identity, runtime and CPU ticks.
//!
//! An AI coding agent that has run for forty minutes may be thinking,
//! waiting on a child `cargo build`, stuck in a syscall, a zombie, or long
//! gone with its pid handed to another process. The database knows which
//! jobs are running and their pids; the kernel knows what those pids are
//! doing. This crate joins the two into the contract-v1 `agents` array: per
//! running agent its identity and `runtime_s`, the seed's `cpu_ticks`, and
//! the additive process facts a watchdog needs to tell those cases apart
//! (`state`, `start_ticks`, `proc_age_s`, `threads`, `rss_bytes`,
//! `tree_cpu_ticks`, `tree_procs`). One unreadable process nulls the fields
//! of that agent alone.
//!
//! Running agents come from an [`AgentSource`] (`vitals-sqlite`, or
//! [`fake::FakeAgentSource`]); process facts from a [`ProcSource`]
//! (`vitals_proc::LinuxProc`, or `vitals_proc::fake::FakeProc`):
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use vitals_agents::fake::FakeAgentSource;
//! use vitals_agents::{AgentsSection, RunningAgent};
//! use vitals_core::{Assembler, FixedClock};
//! use vitals_proc::fake::FakeProc;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap();
//! let agents = FakeAgentSource::new(vec![RunningAgent {
//!     agent: Some("coder".into()),
//!     job_id: Some(12),
//!     pid: Some(4242),
//!     started_at: Some(now - chrono::Duration::seconds(600)),
//!     ..RunningAgent::default()
//! }]);
//! // The agent (4242) waits on a compiler (4243) that burns CPU.
//! let proc = FakeProc::new()
//!     .with_simple_process(4242, 1, 150)
//!     .with_simple_process(4243, 4242, 9_000);
//! let section = AgentsSection::new(Arc::new(agents)).with_proc(Arc::new(proc));
//! let assembler = Assembler::builder()
//!     .clock(FixedClock::at(now))
//!     .section(section)
//!     .build()
//!     .unwrap();
//! let snapshot = assembler.build().await;
//! let agent = &snapshot.body()["agents"][0];
//! assert_eq!(agent["runtime_s"], 600);
//! assert_eq!(agent["cpu_ticks"], 150);
//! assert_eq!(agent["state"], "S");
//! assert_eq!(agent["tree_cpu_ticks"], 9_150);
//! assert_eq!(agent["tree_procs"], 2);
//! # }
//! ```
//!
//! The section registers itself as `agents` (order [`ORDER`]) and is built
//! by the registry whenever an `Arc<dyn AgentSource>` is among the
//! [`Resources`], with the `Arc<dyn ProcSource>` too when there is one (see
//! [`factory`]).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vitals_core::{Collect, Resources, Section, SectionError, async_trait};

pub use vitals_proc::ProcSource;

pub mod fake;
pub mod fields;
mod proc;
mod section;

pub use section::AgentsSection;

/// The key this section fills in the snapshot.
pub const KEY: &str = "agents";

/// The section's output order (the built-ins use 10, 20, 30, 40).
pub const ORDER: i32 = 30;

/// One running agent as an [`AgentSource`] reports it: a job with status
/// `running` and its latest run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunningAgent {
    /// The agent's name (`jobs.agent`).
    pub agent: Option<String>,
    /// The latest run's id (`agent_runs.id`), `None` before the first run.
    pub run_id: Option<i64>,
    /// The job's id.
    pub job_id: Option<i64>,
    /// The repository.
    pub repo: Option<String>,
    /// The process id as stored; `None` when absent or not an integer.
    pub pid: Option<i64>,
    /// When the job started (`jobs.started_at`); `None` when absent or unparsable.
    pub started_at: Option<DateTime<Utc>>,
    /// The model.
    pub model: Option<String>,
    /// The effort setting.
    pub effort: Option<String>,
}

/// Where the `agents` section reads running agents from.
#[async_trait]
pub trait AgentSource: Send + Sync + fmt::Debug + 'static {
    /// Running agents, ordered by job id.
    ///
    /// # Errors
    ///
    /// Any failure to read; the section then falls back to `[]`.
    async fn running_agents(&self, cx: &Collect) -> Result<Vec<RunningAgent>, SectionError>;
}

#[async_trait]
impl<T: AgentSource + ?Sized> AgentSource for Arc<T> {
    async fn running_agents(&self, cx: &Collect) -> Result<Vec<RunningAgent>, SectionError> {
        (**self).running_agents(cx).await
    }
}

/// The registry factory: an [`AgentsSection`] when `resources` holds an
/// `Arc<dyn AgentSource>` (reading processes from the `Arc<dyn ProcSource>`
/// when present), nothing otherwise.
///
/// ```
/// use std::sync::Arc;
/// use vitals_agents::{AgentSource, fake::FakeAgentSource};
/// use vitals_core::Resources;
///
/// assert!(vitals_agents::factory(&Resources::new()).is_none());
/// let source: Arc<dyn AgentSource> = Arc::new(FakeAgentSource::new(Vec::new()));
/// let section = vitals_agents::factory(&Resources::new().with(source)).unwrap();
/// assert_eq!(section.key(), "agents");
/// ```
#[must_use]
pub fn factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let source = resources.get::<Arc<dyn AgentSource>>()?;
    let mut section = AgentsSection::new(source);
    if let Some(proc) = resources.get::<Arc<dyn ProcSource>>() {
        section = section.with_proc(proc);
    }
    Some(Box::new(section))
}

vitals_core::register_section!(KEY, ORDER, factory);
