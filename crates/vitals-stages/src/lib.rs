//! The `stages` section: tasks that are not finished, with how long they have been in their stage.
//!
//! A task that sits in `review` for six hours is the first thing a watchdog
//! wants to know about, and only the orchestrator knows when each task
//! entered its stage. This crate turns the orchestrator's active tasks into
//! the contract-v1 `stages` array: one entry per task whose stage is not
//! terminal, with `age_in_stage_s` measured in whole seconds against the
//! snapshot's own clock. Terminal stages (`done`, `cancelled`) are filtered
//! here, whatever the source returns; any other stage text is passed
//! through. When the source fails the section is `[]` and the meta section
//! says why.
//!
//! The data comes from a [`StageSource`] (implemented over SQLite by
//! `vitals-sqlite`, or in memory by [`fake::FakeStageSource`]):
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//! use vitals_core::{Assembler, FixedClock};
//! use vitals_stages::fake::FakeStageSource;
//! use vitals_stages::{StageRow, StagesSection};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap();
//! let source = FakeStageSource::new(vec![
//!     StageRow {
//!         task_id: Some(7),
//!         work_item: Some("WI-7".into()),
//!         stage: Some("review".into()),
//!         repo: Some("app".into()),
//!         stage_entered_at: Some(now - chrono::Duration::seconds(90)),
//!     },
//!     StageRow { task_id: Some(8), stage: Some("done".into()), ..StageRow::default() },
//! ]);
//! let assembler = Assembler::builder()
//!     .clock(FixedClock::at(now))
//!     .section(StagesSection::new(Arc::new(source)))
//!     .build()
//!     .unwrap();
//! let snapshot = assembler.build().await;
//! assert_eq!(
//!     snapshot.body()["stages"],
//!     json!([{"work_item": "WI-7", "stage": "review", "age_in_stage_s": 90,
//!             "repo": "app", "task_id": 7}])
//! );
//! # }
//! ```
//!
//! The section registers itself as `stages` (order [`ORDER`]) and is built
//! by the registry whenever an `Arc<dyn StageSource>` is among the
//! [`Resources`] (see [`factory`]).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vitals_core::{Collect, Resources, Section, SectionError, async_trait};

pub mod fake;
pub mod fields;
mod section;

pub use section::StagesSection;

/// The key this section fills in the snapshot.
pub const KEY: &str = "stages";

/// The section's output order (the built-ins use 10, 20, 30, 40).
pub const ORDER: i32 = 10;

/// Stages that mean a task is finished; the section never reports them.
pub const TERMINAL_STAGES: [&str; 2] = ["done", "cancelled"];

/// One task as a [`StageSource`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageRow {
    /// The task's id (`tasks.id`).
    pub task_id: Option<i64>,
    /// The work item it belongs to (`tasks.work_item_id`).
    pub work_item: Option<String>,
    /// Its current stage (`tasks.stage`); any text is passed through.
    pub stage: Option<String>,
    /// The repository (`tasks.repo`).
    pub repo: Option<String>,
    /// When it entered its stage (`tasks.stage_entered_at`); `None` when absent or unparsable.
    pub stage_entered_at: Option<DateTime<Utc>>,
}

/// Where the `stages` section reads active tasks from.
#[async_trait]
pub trait StageSource: Send + Sync + fmt::Debug + 'static {
    /// Tasks whose stage is not terminal, ordered by task id. A source may
    /// return terminal tasks too; the section filters `done` and `cancelled`.
    ///
    /// # Errors
    ///
    /// Any failure to read the tasks; the section then falls back to `[]`.
    async fn active_tasks(&self, cx: &Collect) -> Result<Vec<StageRow>, SectionError>;
}

#[async_trait]
impl<T: StageSource + ?Sized> StageSource for Arc<T> {
    async fn active_tasks(&self, cx: &Collect) -> Result<Vec<StageRow>, SectionError> {
        (**self).active_tasks(cx).await
    }
}

/// The registry factory: a [`StagesSection`] when `resources` holds an
/// `Arc<dyn StageSource>`, nothing otherwise.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::Resources;
/// use vitals_stages::{StageSource, fake::FakeStageSource};
///
/// assert!(vitals_stages::factory(&Resources::new()).is_none());
/// let source: Arc<dyn StageSource> = Arc::new(FakeStageSource::new(Vec::new()));
/// let section = vitals_stages::factory(&Resources::new().with(source)).unwrap();
/// assert_eq!(section.key(), "stages");
/// ```
#[must_use]
pub fn factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let source = resources.get::<Arc<dyn StageSource>>()?;
    Some(Box::new(StagesSection::new(source)))
}

vitals_core::register_section!(KEY, ORDER, factory);
