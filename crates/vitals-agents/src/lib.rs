//! The `agents` section: running agents with process identity, runtime and CPU ticks.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vitals_core::{Collect, SectionError, async_trait};

pub use vitals_proc::ProcSource;

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
