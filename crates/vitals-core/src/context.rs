//! The collect context: what a section knows about the snapshot it is part of.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::error::{ErrorInfo, FieldFailure, SectionError};

static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(1);

/// What one snapshot shares between its sections.
#[derive(Debug)]
pub(crate) struct SnapshotCx {
    pub(crate) id: u64,
    pub(crate) now: Option<DateTime<Utc>>,
    pub(crate) scratch: Scratch,
    pub(crate) cancel: CancellationToken,
    /// Whether an assembler logs what goes wrong as conditions (then a
    /// degraded field is logged here at debug level only).
    pub(crate) tracked: bool,
}

impl SnapshotCx {
    pub(crate) fn new(now: Option<DateTime<Utc>>, tracked: bool) -> Arc<Self> {
        Arc::new(Self {
            id: NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed),
            now,
            scratch: Scratch::default(),
            cancel: CancellationToken::new(),
            tracked,
        })
    }
}

/// The context handed to [`Section::collect`](crate::Section::collect) and on to sources.
///
/// It carries the snapshot's single clock instant, a per-snapshot
/// [`Scratch`] where sources share work (one query result serving two
/// sections), the section's deadline and cancellation, and the field guard
/// ([`Collect::field`]) that lets fields degrade independently.
///
/// Cloning is cheap; clones refer to the same snapshot and section.
#[derive(Clone)]
pub struct Collect {
    snapshot: Arc<SnapshotCx>,
    section: Arc<str>,
    deadline: Instant,
    cancel: CancellationToken,
    fields: Arc<Mutex<Vec<FieldFailure>>>,
}

impl fmt::Debug for Collect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collect")
            .field("snapshot", &self.snapshot.id)
            .field("section", &self.section)
            .field("now", &self.snapshot.now)
            .finish_non_exhaustive()
    }
}

impl Collect {
    /// A context for a one-off collection outside an assembler (tests, tools):
    /// a fresh snapshot taken at `now`, section name `""`, and the given deadline from now.
    #[must_use]
    pub fn standalone(now: Option<DateTime<Utc>>, deadline: Duration) -> Self {
        let snapshot = SnapshotCx::new(now, false);
        Self::for_section(&snapshot, "", deadline)
    }

    pub(crate) fn for_section(
        snapshot: &Arc<SnapshotCx>,
        section: &str,
        deadline: Duration,
    ) -> Self {
        Self {
            cancel: snapshot.cancel.child_token(),
            snapshot: Arc::clone(snapshot),
            section: Arc::from(section),
            deadline: deadline_from_now(deadline),
            fields: Arc::default(),
        }
    }

    /// A process-unique id of the snapshot this collection belongs to.
    #[must_use]
    pub fn snapshot_id(&self) -> u64 {
        self.snapshot.id
    }

    /// The snapshot's clock instant; `None` when the clock could not be read.
    #[must_use]
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.snapshot.now
    }

    /// Whole seconds from `since` to the snapshot's instant (floored; negative
    /// when `since` lies in the future), or `None` without a clock.
    #[must_use]
    pub fn seconds_since(&self, since: DateTime<Utc>) -> Option<i64> {
        let now = self.snapshot.now?;
        Some(
            now.signed_duration_since(since)
                .num_milliseconds()
                .div_euclid(1000),
        )
    }

    /// The key of the section being collected (`""` for a standalone context).
    #[must_use]
    pub fn section(&self) -> &str {
        &self.section
    }

    /// The instant after which this section is reported as timed out.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the deadline (zero when it has passed).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Resolves when this section's work should stop: its deadline passed and
    /// the assembler gave up on it. Blocking work should watch this (or
    /// [`cancellation`](Self::cancellation)) and interrupt itself.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// A token cancelled when this section's work should stop, to move into
    /// blocking code or a watcher task.
    #[must_use]
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The per-snapshot scratch space shared by all sections of this snapshot.
    #[must_use]
    pub fn scratch(&self) -> &Scratch {
        &self.snapshot.scratch
    }

    /// The field guard: runs `fut`; on an error or a panic, logs it (see
    /// [`record_field_failure`](Self::record_field_failure)), records the
    /// failure for the meta section (the section becomes `degraded`) and
    /// returns `None` (the field is `null`). The other fields of the
    /// section are unaffected.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use vitals_core::{Collect, SectionError};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cx = Collect::standalone(None, Duration::from_secs(1));
    /// let depth = cx.field("depth", async { Ok::<_, SectionError>(4) }).await;
    /// let breaker = cx
    ///     .field("breaker", async { Err::<u8, _>(SectionError::msg("io", "probe gone")) })
    ///     .await;
    /// assert_eq!((depth, breaker), (Some(4), None));
    /// # }
    /// ```
    pub async fn field<T, F>(&self, name: &str, fut: F) -> Option<T>
    where
        F: Future<Output = Result<T, SectionError>>,
    {
        let outcome = match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(payload) => Err(SectionError::msg("panic", panic_message(&*payload))),
        };
        match outcome {
            Ok(value) => Some(value),
            Err(error) => {
                self.record_field_failure(name, error.kind(), &error.message());
                None
            }
        }
    }

    /// Like [`field`](Self::field), with `default` instead of `None` on failure
    /// (for example `[]` for a list).
    pub async fn field_or<T, F>(&self, name: &str, default: T, fut: F) -> T
    where
        F: Future<Output = Result<T, SectionError>>,
    {
        self.field(name, fut).await.unwrap_or(default)
    }

    /// Records that `field` fell back, without running anything through the
    /// guard (for fields a section computes synchronously).
    ///
    /// Inside an assembler's build the failure is logged at debug level: the
    /// assembler logs it as a condition (a warning when it appears, not on
    /// every snapshot; see [`AssemblerBuilder::log_reminder`](crate::AssemblerBuilder::log_reminder)).
    /// A [`standalone`](Self::standalone) context logs a warning.
    pub fn record_field_failure(&self, field: &str, kind: &str, message: &str) {
        if self.snapshot.tracked {
            tracing::debug!(section = %self.section, field, kind, message, "vitals field degraded");
        } else {
            tracing::warn!(section = %self.section, field, kind, message, "vitals field degraded");
        }
        self.fields
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(FieldFailure::new(field, ErrorInfo::new(kind, message)));
    }

    pub(crate) fn take_field_failures(&self) -> Vec<FieldFailure> {
        std::mem::take(&mut *self.fields.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The instant `after` from now; a deadline too far to represent (such as
/// `Duration::MAX`, "no deadline") becomes about 30 years from now, as Tokio
/// does for its own far future, instead of panicking on overflow.
fn deadline_from_now(after: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(after.min(FAR)).unwrap_or(now)
}

/// Renders a panic payload (`&str` or `String`, what `panic!` produces) as text.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(vitals_core::panic_message(&*payload), "boom 1");
/// ```
#[must_use]
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// A per-snapshot type map where sources share work between sections.
///
/// Entries are keyed by their value type: wrap what you store in a newtype
/// of your own (`struct RunningRows(Arc<Vec<Row>>)`) so that it cannot
/// collide with another source. Everything in it is dropped when the
/// snapshot ends (when the build finished and no late section still holds
/// the context), which makes it the natural place for a per-snapshot guard
/// such as an open read transaction.
///
/// Initialisation runs at most once per snapshot even when two sections ask
/// at the same time; the second waits for the first.
#[derive(Default)]
pub struct Scratch {
    map: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.map.lock().map_or(0, |m| m.len());
        f.debug_struct("Scratch").field("entries", &len).finish()
    }
}

impl Scratch {
    fn cell<T: Send + Sync + 'static>(&self) -> Arc<OnceCell<T>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(OnceCell::<T>::new()));
        match Arc::clone(entry).downcast::<OnceCell<T>>() {
            Ok(cell) => cell,
            // Unreachable: the entry for `TypeId::of::<T>()` is only ever
            // created just above with a `OnceCell<T>`. Recover anyway by
            // replacing it rather than panicking.
            Err(_) => {
                let cell = Arc::new(OnceCell::<T>::new());
                map.insert(TypeId::of::<T>(), cell.clone());
                cell
            }
        }
    }

    /// The value of type `T` for this snapshot, computing it with `init` the
    /// first time. Errors are memoized too if `T` is a `Result`.
    pub async fn get_or_init<T, F, Fut>(&self, init: F) -> T
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.cell::<T>().get_or_init(init).await.clone()
    }

    /// The value of type `T` for this snapshot, computing it with `init` the
    /// first time; an error is returned and not stored, so a later caller in
    /// the same snapshot tries again.
    ///
    /// # Errors
    ///
    /// The error `init` returned.
    pub async fn get_or_try_init<T, E, F, Fut>(&self, init: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.cell::<T>().get_or_try_init(init).await.cloned()
    }

    /// The value of type `T` if one was stored in this snapshot.
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.cell::<T>().get().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn scratch_initialises_once_per_snapshot() {
        let cx = Collect::standalone(None, Duration::from_secs(1));
        let calls = AtomicUsize::new(0);
        let init = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            7_u32
        };
        let (a, b) = tokio::join!(
            cx.scratch().get_or_init(init),
            cx.scratch().get_or_init(init)
        );
        assert_eq!((a, b), (7, 7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let other = Collect::standalone(None, Duration::from_secs(1));
        assert_eq!(other.scratch().get::<u32>(), None);
    }

    #[tokio::test]
    async fn scratch_does_not_memoize_errors_of_try_init() {
        let cx = Collect::standalone(None, Duration::from_secs(1));
        let first: Result<u8, &str> = cx.scratch().get_or_try_init(|| async { Err("no") }).await;
        assert_eq!(first, Err("no"));
        let second: Result<u8, &str> = cx.scratch().get_or_try_init(|| async { Ok(3) }).await;
        assert_eq!(second, Ok(3));
    }

    #[tokio::test]
    async fn field_guard_turns_errors_and_panics_into_defaults() {
        let cx = Collect::standalone(None, Duration::from_secs(1));
        let ok = cx.field("a", async { Ok::<_, SectionError>(1) }).await;
        let err = cx
            .field("b", async {
                Err::<u8, _>(SectionError::msg("boom", "it broke"))
            })
            .await;
        let panicked = cx
            .field_or("c", vec![9_u8], async {
                if cx.snapshot_id() > 0 {
                    panic!("field exploded");
                }
                Ok::<Vec<u8>, SectionError>(Vec::new())
            })
            .await;
        assert_eq!(ok, Some(1));
        assert_eq!(err, None);
        assert_eq!(panicked, [9]);
        let failures = cx.take_field_failures();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].field, "b");
        assert_eq!(failures[0].error.kind, "boom");
        assert_eq!(failures[1].error.kind, "panic");
        assert_eq!(failures[1].error.message, "field exploded");
    }

    #[test]
    fn seconds_since_floors_against_the_snapshot_clock() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).single().unwrap();
        let cx = Collect::standalone(Some(now), Duration::from_secs(1));
        let since = now - chrono::Duration::milliseconds(2500);
        assert_eq!(cx.seconds_since(since), Some(2));
        assert_eq!(
            cx.seconds_since(now + chrono::Duration::milliseconds(500)),
            Some(-1)
        );
        let blind = Collect::standalone(None, Duration::from_secs(1));
        assert_eq!(blind.seconds_since(since), None);
    }
}
