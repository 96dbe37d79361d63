//! An in-memory [`AgentSource`] for tests and demos.
//!
//! ```
//! use std::sync::Arc;
//! use vitals_agents::fake::FakeAgentSource;
//! use vitals_agents::{AgentSource, RunningAgent};
//!
//! let fake = Arc::new(FakeAgentSource::new(vec![RunningAgent {
//!     job_id: Some(1),
//!     pid: Some(100),
//!     ..RunningAgent::default()
//! }]));
//! let source: Arc<dyn AgentSource> = fake.clone();
//! // ... a snapshot shows one agent ...
//! fake.set_error("missing_table", "no such table: jobs");
//! // ... the next one shows `[]` and the error in the meta section.
//! # let _ = source;
//! ```

use vitals_core::fake::Canned;
use vitals_core::{Collect, SectionError, async_trait};

use crate::{AgentSource, RunningAgent};

/// An in-memory [`AgentSource`]: returns the agents it holds as they are,
/// or fails with the error it was given.
///
/// The answer can be changed while a section holds the fake (behind an
/// `Arc`) with [`set_agents`](Self::set_agents) and [`set_error`](Self::set_error).
#[derive(Debug, Default)]
pub struct FakeAgentSource {
    agents: Canned<Vec<RunningAgent>>,
}

impl FakeAgentSource {
    /// A source answering `agents`.
    #[must_use]
    pub fn new(agents: Vec<RunningAgent>) -> Self {
        Self {
            agents: Canned::new(agents),
        }
    }

    /// A source failing with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            agents: Canned::failing(kind, message),
        }
    }

    /// From now on, answer `agents`.
    pub fn set_agents(&self, agents: Vec<RunningAgent>) {
        self.agents.set(agents);
    }

    /// From now on, fail with `SectionError::msg(kind, message)`.
    pub fn set_error(&self, kind: impl Into<String>, message: impl Into<String>) {
        self.agents.set_error(kind, message);
    }

    /// How many times [`AgentSource::running_agents`] was called.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.agents.calls()
    }
}

#[async_trait]
impl AgentSource for FakeAgentSource {
    async fn running_agents(&self, _cx: &Collect) -> Result<Vec<RunningAgent>, SectionError> {
        self.agents.answer()
    }
}
