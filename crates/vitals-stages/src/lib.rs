//! The `stages` section: tasks that are not finished, with how long they have been in their stage.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vitals_core::{Collect, SectionError, async_trait};

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
