//! An in-memory [`StageSource`] for tests and demos.
//!
//! ```
//! use std::sync::Arc;
//! use vitals_stages::fake::FakeStageSource;
//! use vitals_stages::{StageRow, StageSource};
//!
//! let fake = Arc::new(FakeStageSource::failing("missing_table", "no such table: tasks"));
//! let source: Arc<dyn StageSource> = fake.clone();
//! // ... build a snapshot: `stages` is `[]` ...
//! fake.set_rows(vec![StageRow { task_id: Some(1), ..StageRow::default() }]);
//! // ... the next snapshot has one task.
//! # let _ = source;
//! ```

use vitals_core::fake::Canned;
use vitals_core::{Collect, SectionError, async_trait};

use crate::{StageRow, StageSource};

/// An in-memory [`StageSource`]: returns the rows it holds as they are (no
/// filtering, no sorting), or fails with the error it was given.
///
/// The answer can be changed while a section holds the fake (behind an
/// `Arc`) with [`set_rows`](Self::set_rows) and [`set_error`](Self::set_error).
#[derive(Debug, Default)]
pub struct FakeStageSource {
    rows: Canned<Vec<StageRow>>,
}

impl FakeStageSource {
    /// A source answering `rows`.
    #[must_use]
    pub fn new(rows: Vec<StageRow>) -> Self {
        Self {
            rows: Canned::new(rows),
        }
    }

    /// A source failing with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rows: Canned::failing(kind, message),
        }
    }

    /// From now on, answer `rows`.
    pub fn set_rows(&self, rows: Vec<StageRow>) {
        self.rows.set(rows);
    }

    /// From now on, fail with `SectionError::msg(kind, message)`.
    pub fn set_error(&self, kind: impl Into<String>, message: impl Into<String>) {
        self.rows.set_error(kind, message);
    }

    /// How many times [`StageSource::active_tasks`] was called.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.rows.calls()
    }
}

#[async_trait]
impl StageSource for FakeStageSource {
    async fn active_tasks(&self, _cx: &Collect) -> Result<Vec<StageRow>, SectionError> {
        self.rows.answer()
    }
}
