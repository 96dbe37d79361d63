//! **vitals**: a service publishes a versioned JSON snapshot of its own raw state.
//!
//! A long-running service (the first user runs AI coding agents as child
//! processes and keeps its state in SQLite) answers `GET /metrics` with one
//! JSON object: active task stages, the job queue, running agents with their
//! CPU ticks, cost and tokens. An observer outside the process computes
//! deltas and alerts; vitals only reports what the service alone knows, and
//! promises to **never fail** (a broken source degrades its own section), to
//! be **strictly read-only**, **pluggable** and **cheap**.
//!
//! This crate is the facade: it re-exports every vitals crate and a
//! [`prelude`]. Compose an [`Assembler`] from the built-in sections and your
//! own sources (here in-memory fakes, as a test would):
//!
//! ```
//! use std::sync::Arc;
//! use vitals::prelude::*;
//! use vitals::stages::{StageRow, fake::FakeStageSource};
//! use vitals::cost::fake::FakeCostSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let stages = FakeStageSource::new(vec![StageRow {
//!     task_id: Some(7),
//!     work_item: Some("ORCH-99".into()),
//!     stage: Some("review".into()),
//!     ..StageRow::default()
//! }]);
//! let resources = Resources::new()
//!     .with::<Arc<dyn StageSource>>(Arc::new(stages))
//!     .with::<Arc<dyn CostSource>>(Arc::new(FakeCostSource::new()));
//!
//! let assembler = Assembler::builder()
//!     .descriptors(vitals::BUILTIN.iter(), &resources)
//!     .build()
//!     .expect("the built-in keys are valid");
//! let snapshot = assembler.build().await;
//!
//! let body = snapshot.body();
//! assert_eq!(body["schema_version"], 1);
//! assert_eq!(body["stages"][0]["work_item"], "ORCH-99");
//! assert_eq!(body["cost"]["aggregate"]["runs"], 0);
//! assert_eq!(assembler.keys(), ["stages", "cost"]); // no queue or agent source given
//! # }
//! ```
//!
//! Where to go next: the [`core`] crate documents the [`Section`] trait and
//! the assembler's isolation; [`sqlite`] reads an orchestrator database;
//! [`http`] serves the snapshot (JSON, OpenMetrics, the Prometheus text
//! format, and with [`http::app`] a landing page and health probes);
//! [`process`] adds the serving process's own `process_*` metrics;
//! `docs/contract.md` describes contract v1.

// `doc(inline)`: each crate is documented as a module of the facade, so that
// links to it (`[`core`]`) are real links in a `cargo doc --no-deps` build too.
#[doc(inline)]
pub use vitals_core as core;
pub use vitals_core::{
    Assembler, AssemblerBuilder, BuildError, Clock, Collect, ErrorInfo, Fallback, FieldFailure,
    FixedClock, HeaderFields, KillSwitch, Resources, SCHEMA_VERSION, Section, SectionDescriptor,
    SectionError, SectionStatus, SectionValue, Snapshot, SourceError, SystemClock, async_trait,
    register_section,
};

#[doc(inline)]
pub use vitals_agents as agents;
#[doc(inline)]
pub use vitals_cost as cost;
#[cfg(feature = "http")]
#[doc(inline)]
pub use vitals_http as http;
#[doc(inline)]
pub use vitals_proc as proc;
#[doc(inline)]
pub use vitals_process as process;
#[doc(inline)]
pub use vitals_queue as queue;
#[cfg(feature = "sqlite")]
#[doc(inline)]
pub use vitals_sqlite as sqlite;
#[doc(inline)]
pub use vitals_stages as stages;

pub mod fake;

/// The built-in sections, as an explicit ordered list (`stages`, `queue`,
/// `agents`, `cost`).
///
/// Each entry's factory builds its section when its source is present in the
/// [`Resources`] (see [`AssemblerBuilder::descriptors`]). The same sections
/// are also in the inventory registry ([`vitals_core::registered`]); naming
/// them here is what keeps the linker from dropping those registrations.
pub const BUILTIN: [SectionDescriptor; 4] = [
    SectionDescriptor::new(stages::KEY, stages::ORDER, stages::factory),
    SectionDescriptor::new(queue::KEY, queue::ORDER, queue::factory),
    SectionDescriptor::new(agents::KEY, agents::ORDER, agents::factory),
    SectionDescriptor::new(cost::KEY, cost::ORDER, cost::factory),
];

/// What most users need, in one import.
pub mod prelude {
    pub use vitals_agents::{AgentSource, RunningAgent};
    pub use vitals_core::{
        Assembler, Collect, Fallback, KillSwitch, Resources, Section, SectionError, SectionValue,
        Snapshot, SourceError, async_trait,
    };
    pub use vitals_cost::CostSource;
    pub use vitals_proc::ProcSource;
    pub use vitals_queue::{QueueSource, WorkerProbe};
    pub use vitals_stages::StageSource;
}
