//! The assembler: runs sections in isolation and puts the envelope together.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock, format_generated_at};
use crate::context::{Collect, FieldFailure, SnapshotCx, panic_message};
use crate::error::{BuildError, SectionError};
use crate::export::{MetricFamily, MetricKind};
use crate::registry::{Resources, SectionDescriptor, registered};
use crate::section::Section;

/// The contract version this build of vitals emits. Bumped only on a breaking
/// change (a renamed, removed or retyped field); additions do not bump it.
pub const SCHEMA_VERSION: u64 = 1;

/// The key of the meta section that reports how each section fared.
pub const META_KEY: &str = "collector";

/// Keys the envelope owns; no section may fill them.
pub const RESERVED_KEYS: &[&str] = &[
    "schema_version",
    "generated_at",
    "clk_tck",
    "enabled",
    META_KEY,
];

/// The deadline of a section that does not set its own, unless the builder changes it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// A run-time switch for the whole endpoint (the seed's `metrics_endpoint_enabled`).
///
/// Cheap to clone; all clones flip the same switch. When off, a build is
/// exactly `{"schema_version":1,"enabled":false}` and no section runs.
#[derive(Debug, Clone)]
pub struct KillSwitch(Arc<AtomicBool>);

impl Default for KillSwitch {
    fn default() -> Self {
        Self::new(true)
    }
}

impl KillSwitch {
    /// A switch in the given position.
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        Self(Arc::new(AtomicBool::new(enabled)))
    }

    /// Whether snapshots are enabled.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Turns snapshots on or off, effective for the next build.
    pub fn set_enabled(&self, enabled: bool) {
        self.0.store(enabled, Ordering::Release);
    }
}

/// How one section fared in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SectionStatus {
    /// Collected in full.
    Ok,
    /// Collected, but some fields fell back to their defaults.
    Degraded,
    /// Returned an error; the fallback value was used.
    Error,
    /// Panicked; the fallback value was used.
    Panic,
    /// Missed its deadline; the fallback value was used.
    Timeout,
    /// A previous run is still in flight; not started again; the fallback value was used.
    Busy,
}

impl SectionStatus {
    /// Whether the section's own value (possibly with degraded fields) is in the snapshot.
    #[must_use]
    pub fn produced_value(self) -> bool {
        matches!(self, Self::Ok | Self::Degraded)
    }

    /// The status as it appears in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Error => "error",
            Self::Panic => "panic",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
        }
    }
}

/// The kind and message of a section failure.
///
/// The meta section reports a failure with it. Unlike [`SectionError`], it is
/// `Clone`, which makes it the recipe a fake source stores to fail the same
/// way on every call:
///
/// ```
/// use vitals_core::{ErrorInfo, SectionError};
///
/// struct FakeSource {
///     rows: Result<Vec<u32>, ErrorInfo>,
/// }
///
/// impl FakeSource {
///     fn rows(&self) -> Result<Vec<u32>, SectionError> {
///         self.rows.clone().map_err(|info| info.to_error())
///     }
/// }
///
/// let down = FakeSource { rows: Err(ErrorInfo::new("io", "disk gone")) };
/// for _ in 0..2 {
///     let error = down.rows().unwrap_err();
///     assert_eq!((error.kind(), error.message().as_str()), ("io", "disk gone"));
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    /// Short machine-readable kind.
    pub kind: String,
    /// Human-readable message.
    pub message: String,
}

impl ErrorInfo {
    /// A failure of the given kind with the given message.
    #[must_use]
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// A fresh [`SectionError`] of this kind with this message (and no deeper cause).
    #[must_use]
    pub fn to_error(&self) -> SectionError {
        SectionError::msg(self.kind.clone(), self.message.clone())
    }
}

impl From<&SectionError> for ErrorInfo {
    /// The error's kind, and its message with every cause (see [`SectionError::message`]).
    fn from(error: &SectionError) -> Self {
        Self::new(error.kind(), error.message())
    }
}

/// The meta section's entry for one section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionReport {
    /// The section's key.
    #[serde(skip)]
    pub key: String,
    /// How it fared.
    pub status: SectionStatus,
    /// Time from its start to its end (or to the deadline), in milliseconds.
    #[serde(rename = "elapsed_ms", serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// Why it failed, for `error`, `panic`, `timeout` and `busy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The fields that fell back, for `degraded`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldFailure>,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// One built snapshot: the JSON body and the per-section reports behind its meta section.
#[derive(Debug)]
pub struct Snapshot {
    body: Value,
    enabled: bool,
    reports: Vec<SectionReport>,
    elapsed: Duration,
    taken: Instant,
    json: OnceLock<String>,
}

impl Snapshot {
    fn disabled() -> Self {
        Self {
            body: json!({ "schema_version": SCHEMA_VERSION, "enabled": false }),
            enabled: false,
            reports: Vec::new(),
            elapsed: Duration::ZERO,
            taken: Instant::now(),
            json: OnceLock::new(),
        }
    }

    /// The whole envelope as a JSON value (keys in contract order).
    #[must_use]
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The body with every elapsed time of the meta section set to `0`
    /// (`collector.elapsed_ms` and each `collector.sections.<key>.elapsed_ms`).
    ///
    /// With a [`FixedClock`](crate::FixedClock) the rest of a snapshot is
    /// deterministic, so this is what a test compares whole, or against a
    /// golden file. Section values are left as they are.
    #[must_use]
    pub fn body_with_zero_timings(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(meta) = body.get_mut(META_KEY).and_then(Value::as_object_mut) {
            if let Some(elapsed) = meta.get_mut("elapsed_ms") {
                *elapsed = Value::from(0);
            }
            let sections = meta.get_mut("sections").and_then(Value::as_object_mut);
            for report in sections.into_iter().flat_map(|s| s.values_mut()) {
                if let Some(elapsed) = report.get_mut("elapsed_ms") {
                    *elapsed = Value::from(0);
                }
            }
        }
        body
    }

    /// The body serialized as compact JSON (computed once).
    #[must_use]
    pub fn to_json(&self) -> &str {
        self.json.get_or_init(|| {
            serde_json::to_string(&self.body).unwrap_or_else(|_| {
                // Unreachable in practice: a `Value` with string keys always
                // serializes. Never fail the endpoint over it anyway.
                format!("{{\"schema_version\":{SCHEMA_VERSION}}}")
            })
        })
    }

    /// The body as pretty-printed JSON.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.body).unwrap_or_else(|_| self.to_json().to_owned())
    }

    /// Whether the kill switch was on (a disabled snapshot has no sections).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Per-section reports, in output order.
    #[must_use]
    pub fn reports(&self) -> &[SectionReport] {
        &self.reports
    }

    /// The report of one section.
    #[must_use]
    pub fn report(&self, key: &str) -> Option<&SectionReport> {
        self.reports.iter().find(|r| r.key == key)
    }

    /// How long the build took.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How long ago the build finished.
    #[must_use]
    pub fn age(&self) -> Duration {
        self.taken.elapsed()
    }
}

/// Composes an [`Assembler`]: sections by hand or from the registry, clock, deadlines.
pub struct AssemblerBuilder {
    entries: Vec<(i32, Arc<dyn Section>)>,
    clock: Arc<dyn Clock>,
    clk_tck: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
    kill: KillSwitch,
    default_deadline: Duration,
    min_interval: Duration,
}

impl fmt::Debug for AssemblerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssemblerBuilder")
            .field(
                "sections",
                &self
                    .entries
                    .iter()
                    .map(|(_, s)| s.key())
                    .collect::<Vec<_>>(),
            )
            .field("clock", &self.clock)
            .field("default_deadline", &self.default_deadline)
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

impl Default for AssemblerBuilder {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            clock: Arc::new(SystemClock),
            clk_tck: Arc::new(|| None),
            kill: KillSwitch::default(),
            default_deadline: DEFAULT_DEADLINE,
            min_interval: Duration::ZERO,
        }
    }
}

impl AssemblerBuilder {
    /// Adds a section, ordered by its own [`Section::order`].
    #[must_use]
    pub fn section(self, section: impl Section) -> Self {
        let order = section.order();
        self.section_at(order, section)
    }

    /// Adds a section at an explicit order.
    #[must_use]
    pub fn section_at(mut self, order: i32, section: impl Section) -> Self {
        self.entries.push((order, Arc::new(section)));
        self
    }

    /// Adds every registered section whose factory finds its resources in
    /// `resources` (see [`register_section!`](crate::register_section)).
    #[must_use]
    pub fn registered(self, resources: &Resources) -> Self {
        self.descriptors(registered(), resources)
    }

    /// Adds the section of each descriptor whose factory finds its resources
    /// in `resources`, at the descriptor's order: an explicit list, for hosts
    /// that want to name their set rather than take whatever is linked.
    #[must_use]
    pub fn descriptors<'a>(
        mut self,
        descriptors: impl IntoIterator<Item = &'a SectionDescriptor>,
        resources: &Resources,
    ) -> Self {
        for descriptor in descriptors {
            if let Some(section) = (descriptor.factory)(resources) {
                self.entries.push((descriptor.order, Arc::from(section)));
            }
        }
        self
    }

    /// The clock each snapshot reads its instant from (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where `clk_tck` comes from (default: unknown, `null`).
    #[must_use]
    pub fn clk_tck(mut self, provider: impl Fn() -> Option<u64> + Send + Sync + 'static) -> Self {
        self.clk_tck = Arc::new(provider);
        self
    }

    /// Uses `switch` as the kill switch (default: a new switch, on).
    #[must_use]
    pub fn kill_switch(mut self, switch: KillSwitch) -> Self {
        self.kill = switch;
        self
    }

    /// The deadline of sections that do not set their own (default [`DEFAULT_DEADLINE`]).
    #[must_use]
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// Minimum interval between builds: a call within it of the previous
    /// build's end gets that snapshot again (default zero: always build).
    #[must_use]
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// Validates the section set and builds the assembler.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyKey`], [`BuildError::ReservedKey`] or
    /// [`BuildError::DuplicateKey`] for the first offending section.
    pub fn build(self) -> Result<Assembler, BuildError> {
        let mut slots: Vec<Slot> = Vec::with_capacity(self.entries.len());
        for (order, section) in self.entries {
            let key = section.key().to_owned();
            if key.trim().is_empty() {
                return Err(BuildError::EmptyKey);
            }
            if RESERVED_KEYS.contains(&key.as_str()) {
                return Err(BuildError::ReservedKey { key });
            }
            if slots.iter().any(|s| s.key == key) {
                return Err(BuildError::DuplicateKey { key });
            }
            slots.push(Slot {
                key,
                order,
                section,
                busy: Arc::new(AtomicBool::new(false)),
            });
        }
        slots.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.key.cmp(&b.key)));
        Ok(Assembler {
            inner: Arc::new(Inner {
                slots,
                clock: self.clock,
                clk_tck: self.clk_tck,
                kill: self.kill,
                default_deadline: self.default_deadline,
                min_interval: self.min_interval,
                inflight: Mutex::new(None),
                last: Mutex::new(None),
            }),
        })
    }
}

struct Slot {
    key: String,
    order: i32,
    section: Arc<dyn Section>,
    /// Set while a run of this section is in flight, cleared by [`BusyGuard`]
    /// when that run truly ends (even long after its deadline).
    busy: Arc<AtomicBool>,
}

struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

type SharedBuild = Shared<BoxFuture<'static, Arc<Snapshot>>>;

struct Inflight {
    generation: u64,
    build: SharedBuild,
}

struct Inner {
    slots: Vec<Slot>,
    clock: Arc<dyn Clock>,
    clk_tck: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
    kill: KillSwitch,
    default_deadline: Duration,
    min_interval: Duration,
    inflight: Mutex<Option<Inflight>>,
    last: Mutex<Option<Arc<Snapshot>>>,
}

impl Inner {
    /// Ends the build `generation`: its snapshot (if any) becomes the latest
    /// one, then the next call starts a build of its own. In this order, a
    /// call in between finds either the new snapshot or the build that made it.
    fn finish_build(&self, generation: u64, snapshot: Option<&Arc<Snapshot>>) {
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
}

/// Runs a set of sections in isolation and assembles contract-v1 snapshots.
///
/// * Every section runs concurrently as its own task, under its own deadline.
///   An error, a panic or a missed deadline becomes the section's fallback
///   value, a `tracing` warning naming the section, and a status in the meta
///   section (`collector`).
/// * At most one run of a section is in flight: if a previous run is still
///   going (its deadline passed, but blocking work goes on), the next build
///   reports the section `busy` at once instead of starting another.
/// * No lock is held while a section runs.
/// * Concurrent callers of [`build`](Self::build) share one build in flight.
/// * A build never panics and never fails.
///
/// Cloning is cheap; clones share sections, in-flight state and kill switch.
/// Building needs a Tokio runtime (sections run as Tokio tasks).
#[derive(Clone)]
pub struct Assembler {
    inner: Arc<Inner>,
}

impl fmt::Debug for Assembler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assembler")
            .field("sections", &self.keys())
            .field("enabled", &self.inner.kill.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Assembler {
    /// Starts composing an assembler.
    #[must_use]
    pub fn builder() -> AssemblerBuilder {
        AssemblerBuilder::default()
    }

    /// The section keys, in output order.
    #[must_use]
    pub fn keys(&self) -> Vec<&str> {
        self.inner.slots.iter().map(|s| s.key.as_str()).collect()
    }

    /// A handle on this assembler's kill switch.
    #[must_use]
    pub fn kill_switch(&self) -> KillSwitch {
        self.inner.kill.clone()
    }

    /// The most recent finished snapshot, if any.
    #[must_use]
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Builds a snapshot (or joins the build already in flight, or reuses the
    /// last one within the minimum interval). Never panics, never fails.
    ///
    /// The build runs as its own task: a caller that stops waiting (a request
    /// timeout) does not stop it, and the snapshot it makes still becomes the
    /// [`latest`](Self::latest) one.
    pub async fn build(&self) -> Arc<Snapshot> {
        if !self.inner.kill.is_enabled() {
            return Arc::new(Snapshot::disabled());
        }
        if !self.inner.min_interval.is_zero()
            && let Some(last) = self.latest()
            && last.enabled
            && last.age() < self.inner.min_interval
        {
            return last;
        }
        self.join_or_start().await
    }

    fn join_or_start(&self) -> SharedBuild {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = inflight.as_ref() {
            return current.build.clone();
        }
        let generation = inflight_generation();
        let inner = Arc::clone(&self.inner);
        // The task records its own result, so that the bookkeeping happens
        // even when every caller stopped waiting.
        let task = tokio::spawn(async move {
            let snapshot = match AssertUnwindSafe(build_now(Arc::clone(&inner)))
                .catch_unwind()
                .await
            {
                Ok(snapshot) => snapshot,
                Err(payload) => failed_snapshot(&inner, &panic_message(&*payload)),
            };
            let snapshot = Arc::new(snapshot);
            inner.finish_build(generation, Some(&snapshot));
            snapshot
        });
        // Weak: the shared future is stored in `inner` itself.
        let weak = Arc::downgrade(&self.inner);
        let build = async move {
            match task.await {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    // Only when the runtime shuts down under the task.
                    let reason = if error.is_panic() {
                        panic_message(&*error.into_panic())
                    } else {
                        "the build task was cancelled".to_owned()
                    };
                    let Some(inner) = weak.upgrade() else {
                        // Unreachable: whoever awaits this holds the assembler.
                        return Arc::new(Snapshot::disabled());
                    };
                    inner.finish_build(generation, None);
                    Arc::new(failed_snapshot(&inner, &reason))
                }
            }
        }
        .boxed()
        .shared();
        *inflight = Some(Inflight {
            generation,
            build: build.clone(),
        });
        build
    }

    /// Maps a snapshot to metric families: each section's own mapping (a
    /// panicking mapping is skipped and logged), then the collector's own
    /// families: `vitals_collector_success` and
    /// `vitals_collector_duration_seconds` per section.
    #[must_use]
    pub fn metric_families(&self, snapshot: &Snapshot) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let mut enabled = MetricFamily::new(
            "vitals_enabled",
            "Whether the collector's kill switch is on (1) or off (0).",
            MetricKind::Gauge,
        );
        enabled.push(
            Vec::<(String, String)>::new(),
            f64::from(u8::from(snapshot.enabled)),
        );
        out.push(enabled);
        if !snapshot.enabled {
            return out;
        }
        for slot in &self.inner.slots {
            let Some(value) = snapshot.body.get(&slot.key) else {
                continue;
            };
            let mut families = Vec::new();
            let mapped = std::panic::catch_unwind(AssertUnwindSafe(|| {
                slot.section.metrics(value, &mut families);
            }));
            match mapped {
                Ok(()) => out.extend(families),
                Err(payload) => tracing::warn!(
                    section = %slot.key,
                    message = %panic_message(&*payload),
                    "vitals metrics mapping panicked; section omitted"
                ),
            }
        }
        let mut success = MetricFamily::new(
            "vitals_collector_success",
            "Whether the section produced its value in the last snapshot (1) or fell back (0).",
            MetricKind::Gauge,
        );
        let mut duration = MetricFamily::new(
            "vitals_collector_duration",
            "How long the section took in the last snapshot.",
            MetricKind::Gauge,
        )
        .with_unit("seconds");
        for report in &snapshot.reports {
            let labels = [("section", report.key.clone())];
            success.push(
                labels.clone(),
                f64::from(u8::from(report.status.produced_value())),
            );
            duration.push(labels, report.elapsed.as_secs_f64());
        }
        success.emit_into(&mut out);
        duration.emit_into(&mut out);
        out
    }
}

fn inflight_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs a synchronous hook of the host (`owner` "assembler") or of a section
/// (`owner` its key): a panic becomes `None` and a warning, never a failed build.
fn guarded<T>(owner: &str, hook: &str, call: impl FnOnce() -> T) -> Option<T> {
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
fn fallback_of(slot: &Slot) -> Value {
    guarded(&slot.key, "fallback", || slot.section.fallback().to_value()).unwrap_or(Value::Null)
}

fn header(inner: &Inner, now: Option<chrono::DateTime<chrono::Utc>>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("schema_version".into(), Value::from(SCHEMA_VERSION));
    body.insert(
        "generated_at".into(),
        Value::from(now.map(format_generated_at).unwrap_or_default()),
    );
    let clk_tck = guarded("assembler", "clk_tck", || (inner.clk_tck)()).flatten();
    body.insert("clk_tck".into(), clk_tck.map_or(Value::Null, Value::from));
    body
}

fn finish(
    mut body: Map<String, Value>,
    reports: Vec<SectionReport>,
    elapsed: Duration,
) -> Snapshot {
    let mut sections = Map::new();
    for report in &reports {
        let value = serde_json::to_value(report).unwrap_or(Value::Null);
        sections.insert(report.key.clone(), value);
    }
    body.insert(
        META_KEY.into(),
        json!({ "elapsed_ms": millis(elapsed), "sections": sections }),
    );
    Snapshot {
        body: Value::Object(body),
        enabled: true,
        reports,
        elapsed,
        taken: Instant::now(),
        json: OnceLock::new(),
    }
}

fn failed_snapshot(inner: &Inner, reason: &str) -> Snapshot {
    tracing::error!(%reason, "vitals build failed as a whole; serving fallbacks");
    let mut body = header(inner, read_clock(inner));
    let mut reports = Vec::with_capacity(inner.slots.len());
    for slot in &inner.slots {
        body.insert(slot.key.clone(), fallback_of(slot));
        reports.push(SectionReport {
            key: slot.key.clone(),
            status: SectionStatus::Panic,
            elapsed: Duration::ZERO,
            error: Some(ErrorInfo {
                kind: "panic".into(),
                message: reason.to_owned(),
            }),
            fields: Vec::new(),
        });
    }
    finish(body, reports, Duration::ZERO)
}

async fn build_now(inner: Arc<Inner>) -> Snapshot {
    let started = Instant::now();
    let now = read_clock(&inner);
    let snapshot = SnapshotCx::new(now);
    let mut body = header(&inner, now);
    let runs = inner
        .slots
        .iter()
        .map(|slot| run_section(slot, &snapshot, inner.default_deadline));
    let results = join_all(runs).await;
    let mut reports = Vec::with_capacity(results.len());
    for (slot, (value, report)) in inner.slots.iter().zip(results) {
        body.insert(slot.key.clone(), value);
        reports.push(report);
    }
    finish(body, reports, started.elapsed())
}

async fn run_section(
    slot: &Slot,
    snapshot: &Arc<SnapshotCx>,
    default: Duration,
) -> (Value, SectionReport) {
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
        tracing::warn!(section = %slot.key, "vitals section still in flight from an earlier snapshot; reported busy");
        let error = ErrorInfo {
            kind: "busy".into(),
            message: "a previous run of this section is still in flight".into(),
        };
        return (
            fallback,
            report(SectionStatus::Busy, Some(error), Vec::new()),
        );
    }
    let guard = BusyGuard(Arc::clone(&slot.busy));
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
            tracing::warn!(section = %slot.key, kind = %error.kind, message = %error.message, "vitals section failed; fallback used");
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
            tracing::warn!(section = %slot.key, %message, "vitals section panicked; fallback used");
            let error = ErrorInfo {
                kind: "panic".into(),
                message,
            };
            (
                fallback,
                report(SectionStatus::Panic, Some(error), cx.take_field_failures()),
            )
        }
        Err(_elapsed) => {
            // Ask the section to stop; its task is left to finish on its own
            // (blocking work cannot be aborted), and keeps the section busy until then.
            cx.cancellation().cancel();
            tracing::warn!(section = %slot.key, ?deadline, "vitals section missed its deadline; fallback used");
            let error = ErrorInfo {
                kind: "timeout".into(),
                message: format!("no value within {} ms", deadline.as_millis()),
            };
            (
                fallback,
                report(SectionStatus::Timeout, Some(error), Vec::new()),
            )
        }
    }
}
