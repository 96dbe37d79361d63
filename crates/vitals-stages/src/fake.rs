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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use vitals_core::{Collect, ErrorInfo, SectionError, async_trait};

use crate::{StageRow, StageSource};

/// An in-memory [`StageSource`]: returns the rows it holds as they are (no
/// filtering, no sorting), or fails with the error it was given.
///
/// The answer can be changed while a section holds the fake (behind an
/// `Arc`) with [`set_rows`](Self::set_rows) and [`set_error`](Self::set_error).
#[derive(Debug)]
pub struct FakeStageSource {
    answer: Mutex<Result<Vec<StageRow>, ErrorInfo>>,
    calls: AtomicUsize,
}

impl FakeStageSource {
    /// A source answering `rows`.
    #[must_use]
    pub fn new(rows: Vec<StageRow>) -> Self {
        Self {
            answer: Mutex::new(Ok(rows)),
            calls: AtomicUsize::new(0),
        }
    }

    /// A source failing with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let fake = Self::new(Vec::new());
        fake.set_error(kind, message);
        fake
    }

    /// From now on, answer `rows`.
    pub fn set_rows(&self, rows: Vec<StageRow>) {
        *self.answer() = Ok(rows);
    }

    /// From now on, fail with `SectionError::msg(kind, message)`.
    pub fn set_error(&self, kind: impl Into<String>, message: impl Into<String>) {
        *self.answer() = Err(ErrorInfo::new(kind, message));
    }

    /// How many times [`StageSource::active_tasks`] was called.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn answer(&self) -> MutexGuard<'_, Result<Vec<StageRow>, ErrorInfo>> {
        self.answer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for FakeStageSource {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[async_trait]
impl StageSource for FakeStageSource {
    async fn active_tasks(&self, _cx: &Collect) -> Result<Vec<StageRow>, SectionError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match &*self.answer() {
            Ok(rows) => Ok(rows.clone()),
            Err(failure) => Err(failure.to_error()),
        }
    }
}
