//! The engine: one build, each section as its own task under its own deadline,
//! with `busy`, panic and timeout isolation.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, Shared, join_all};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::assembler::builder::ClkTckProvider;
use crate::assembler::conditions::Conditions;
use crate::assembler::snapshot::{Header, SectionReport, SectionStatus, Snapshot};
use crate::clock::{Clock, format_generated_at};
use crate::context::{Collect, SnapshotCx, panic_message};
use crate::error::ErrorInfo;
use crate::kill_switch::KillSwitch;
use crate::section::Section;
use crate::value::SectionValue;

/// One section of an assembler, with its in-flight flag.
pub(crate) struct Slot {
    pub(crate) key: String,
    pub(crate) order: i32,
    pub(crate) section: Arc<dyn Section>,
    /// Set while a run of this section is in flight, cleared by [`BusyGuard`]
    /// when that run truly ends (even long after its deadline).
    busy: Arc<AtomicBool>,
}

impl Slot {
    pub(crate) fn new(key: String, order: i32, section: Arc<dyn Section>) -> Self {
        Self {
            key,
            order,
            section,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a run of this section is in flight.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}

/// Clears a slot's busy flag when a run really ends, and wakes whoever waits
/// for the assembler to settle.
struct BusyGuard {
    busy: Arc<AtomicBool>,
    settled: Arc<Notify>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
        self.settled.notify_waiters();
    }
}

pub(crate) type SharedBuild = Shared<BoxFuture<'static, Arc<Snapshot>>>;

/// The build in flight, shared by every concurrent caller.
pub(crate) struct Inflight {
    pub(crate) generation: u64,
    pub(crate) build: SharedBuild,
}

/// Everything an assembler and its clones share.
pub(crate) struct Inner {
    pub(crate) slots: Vec<Slot>,
    clock: Arc<dyn Clock>,
    clk_tck: Option<ClkTckProvider>,
    pub(crate) kill: KillSwitch,
    default_deadline: Duration,
    pub(crate) min_interval: Duration,
    pub(crate) inflight: Mutex<Option<Inflight>>,
    pub(crate) last: Mutex<Option<Arc<Snapshot>>>,
    /// Notified each time a section run ends.
    pub(crate) settled: Arc<Notify>,
    /// What the builds found wrong, logged when it appears and clears.
    conditions: Mutex<Conditions>,
}

impl Inner {
    pub(crate) fn new(
        slots: Vec<Slot>,
        clock: Arc<dyn Clock>,
        clk_tck: Option<ClkTckProvider>,
        kill: KillSwitch,
        default_deadline: Duration,
        min_interval: Duration,
        log_reminder: Duration,
    ) -> Self {
        Self {
            slots,
            clock,
            clk_tck,
            kill,
            default_deadline,
            min_interval,
            inflight: Mutex::new(None),
            last: Mutex::new(None),
            settled: Arc::new(Notify::new()),
            conditions: Mutex::new(Conditions::new(log_reminder)),
        }
    }

    /// Logs what the reports of a build say that the previous builds did
    /// not (see `conditions.rs`).
    fn log_conditions(&self, reports: &[SectionReport]) {
        let lines = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(Instant::now(), reports);
        for line in &lines {
            line.emit();
        }
    }

    /// Ends the build `generation`: its snapshot (if any) becomes the latest
    /// one, then the next call starts a build of its own. In this order, a
    /// call in between finds either the new snapshot or the build that made it.
    pub(crate) fn finish_build(&self, generation: u64, snapshot: Option<&Arc<Snapshot>>) {
        if let Some(snapshot) = snapshot {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(snapshot));
        }
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if inflight
            .as_ref()
            .is_some_and(|f| f.generation == generation)
        {
            *inflight = None;
        }
    }

    /// The envelope header at `now`: `generated_at` and `clk_tck` (the
    /// builder's provider, else the first section that knows it).
    fn header(&self, now: Option<chrono::DateTime<chrono::Utc>>) -> Header {
        let clk_tck = match &self.clk_tck {
            Some(provider) => guarded("assembler", "clk_tck", || provider()).flatten(),
            None => self.slots.iter().find_map(|slot| {
                guarded(&slot.key, "header", || slot.section.header()).and_then(|h| h.clk_tck)
            }),
        };
        Header {
            generated_at: now.map(format_generated_at).unwrap_or_default(),
            clk_tck,
        }
    }
}

/// A process-unique number for each build started.
pub(crate) fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs a synchronous hook of the host (`owner` "assembler") or of a section
/// (`owner` its key): a panic becomes `None` and a warning, never a failed build.
pub(crate) fn guarded<T>(owner: &str, hook: &str, call: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => Some(value),
        Err(payload) => {
            tracing::warn!(
                owner,
                hook,
                message = %panic_message(&*payload),
                "vitals hook panicked; its default is used"
            );
            None
        }
    }
}

/// The snapshot's instant; `None` (`generated_at: ""`) when the clock fails or panics.
fn read_clock(inner: &Inner) -> Option<chrono::DateTime<chrono::Utc>> {
    guarded("assembler", "clock", || inner.clock.now()).flatten()
}

/// A section's fallback value; `null` when its `fallback` panics.
fn fallback_of(slot: &Slot) -> SectionValue {
    guarded(&slot.key, "fallback", || slot.section.fallback())
        .map_or_else(SectionValue::null, SectionValue::from)
}

/// The snapshot served when a build fails as a whole (its task panicked or
/// was cancelled): every section at its fallback, reported as a panic.
pub(crate) fn failed_snapshot(inner: &Inner, reason: &str) -> Snapshot {
    tracing::error!(%reason, "vitals build failed as a whole; serving fallbacks");
    let header = inner.header(read_clock(inner));
    let mut sections = Vec::with_capacity(inner.slots.len());
    let mut reports = Vec::with_capacity(inner.slots.len());
    for slot in &inner.slots {
        sections.push((slot.key.clone(), fallback_of(slot)));
        reports.push(SectionReport {
            key: slot.key.clone(),
            status: SectionStatus::Panic,
            elapsed: Duration::ZERO,
            error: Some(ErrorInfo::new("panic", reason)),
            fields: Vec::new(),
        });
    }
    Snapshot::new(true, header, sections, reports, Duration::ZERO)
}

/// One build: the header, then every section concurrently.
pub(crate) async fn build_now(inner: Arc<Inner>) -> Snapshot {
    let started = Instant::now();
    let now = read_clock(&inner);
    let snapshot = SnapshotCx::new(now, true);
    let header = inner.header(now);
    let runs = inner
        .slots
        .iter()
        .map(|slot| run_section(slot, &snapshot, inner.default_deadline, &inner.settled));
    let results = join_all(runs).await;
    let mut sections = Vec::with_capacity(results.len());
    let mut reports = Vec::with_capacity(results.len());
    for (slot, (value, report)) in inner.slots.iter().zip(results) {
        sections.push((slot.key.clone(), value));
        reports.push(report);
    }
    inner.log_conditions(&reports);
    Snapshot::new(true, header, sections, reports, started.elapsed())
}

async fn run_section(
    slot: &Slot,
    snapshot: &Arc<SnapshotCx>,
    default: Duration,
    settled: &Arc<Notify>,
) -> (SectionValue, SectionReport) {
    let started = Instant::now();
    let fallback = fallback_of(slot);
    let report = |status, error: Option<ErrorInfo>, fields| SectionReport {
        key: slot.key.clone(),
        status,
        elapsed: started.elapsed(),
        error,
        fields,
    };

    if slot.busy.swap(true, Ordering::AcqRel) {
        tracing::debug!(section = %slot.key, "vitals section still in flight from an earlier snapshot; reported busy");
        let error = ErrorInfo::new("busy", "a previous run of this section is still in flight");
        return (
            fallback,
            report(SectionStatus::Busy, Some(error), Vec::new()),
        );
    }
    let guard = BusyGuard {
        busy: Arc::clone(&slot.busy),
        settled: Arc::clone(settled),
    };
    let deadline = guarded(&slot.key, "deadline", || slot.section.deadline())
        .flatten()
        .unwrap_or(default);
    let cx = Collect::for_section(snapshot, &slot.key, deadline);
    let section = Arc::clone(&slot.section);
    let task_cx = cx.clone();
    let mut task = tokio::spawn(async move {
        let _guard = guard;
        section.collect(&task_cx).await
    });

    match tokio::time::timeout_at(cx.deadline(), &mut task).await {
        Ok(Ok(Ok(value))) => {
            let fields = cx.take_field_failures();
            let status = if fields.is_empty() {
                SectionStatus::Ok
            } else {
                SectionStatus::Degraded
            };
            (value, report(status, None, fields))
        }
        Ok(Ok(Err(error))) => {
            let error = ErrorInfo::from(&error);
            tracing::debug!(section = %slot.key, kind = %error.kind, message = %error.message, "vitals section failed; fallback used");
            (
                fallback,
                report(SectionStatus::Error, Some(error), cx.take_field_failures()),
            )
        }
        Ok(Err(join)) => {
            let message = if join.is_panic() {
                panic_message(&*join.into_panic())
            } else {
                "the section task was cancelled".to_owned()
            };
            tracing::debug!(section = %slot.key, %message, "vitals section panicked; fallback used");
            (
                fallback,
                report(
                    SectionStatus::Panic,
                    Some(ErrorInfo::new("panic", message)),
                    cx.take_field_failures(),
                ),
            )
        }
        Err(_elapsed) => {
            // Ask the section to stop; its task is left to finish on its own
            // (blocking work cannot be aborted), and keeps the section busy until then.
            cx.cancellation().cancel();
            tracing::debug!(section = %slot.key, ?deadline, "vitals section missed its deadline; fallback used");
            let error = ErrorInfo::new(
                "timeout",
                format!("no value within {} ms", deadline.as_millis()),
            );
            (
                fallback,
                report(SectionStatus::Timeout, Some(error), Vec::new()),
            )
        }
    }
}
