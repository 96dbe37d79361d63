//! The assembler: runs sections in isolation and puts the envelope together.
//!
//! * `builder.rs`: [`AssemblerBuilder`], composing and validating a section set;
//! * `run.rs`: the engine (one build, each section as its own task, `busy`,
//!   deadlines, panics);
//! * `snapshot.rs`: [`Snapshot`], [`SectionReport`] and the ordered envelope writer;
//! * `metrics.rs`: the collector's own metric families;
//! * `conditions.rs`: what builds find wrong, logged when it appears and
//!   when it clears instead of on every scrape;
//! * this file: [`Assembler`], the handle, and the coalescing of concurrent builds.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures::future::FutureExt;

use crate::context::panic_message;
use crate::kill_switch::KillSwitch;

mod builder;
mod conditions;
mod metrics;
mod run;
mod snapshot;

pub use builder::AssemblerBuilder;
pub use conditions::DEFAULT_LOG_REMINDER;
pub use snapshot::{
    META_KEY, RESERVED_KEYS, SCHEMA_VERSION, SectionReport, SectionStatus, Snapshot,
};

#[cfg(feature = "test-support")]
pub(crate) use snapshot::{Timings, pretty};

use run::{Inflight, Inner, SharedBuild, build_now, failed_snapshot, next_generation};

/// The deadline of a section that does not set its own, unless the builder changes it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// Runs a set of sections in isolation and assembles contract-v1 snapshots.
///
/// * Every section runs concurrently as its own task, under its own deadline.
///   An error, a panic or a missed deadline becomes the section's fallback
///   value and a status in the meta section (`collector`).
/// * What a build finds wrong (a section's failure, a degraded field) is
///   logged as a *condition*: a `tracing` warning naming the section (and
///   field) when it appears, an info line when it clears, and in between a
///   reminder at most every [`log_reminder`](AssemblerBuilder::log_reminder)
///   interval with the number of occurrences since the last line; every
///   occurrence is logged at debug level. Eight dead agent pids make eight
///   warnings, not eight per scrape.
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
    ///
    /// Only sections that were built are listed: a section added through
    /// [`AssemblerBuilder::descriptors`] or [`AssemblerBuilder::registered`]
    /// whose factory found no resource (no `Arc<dyn QueueSource>`, say) is
    /// not part of the set, and the builder logs that at debug level.
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

    /// The keys of the sections with a run in flight right now (a run that
    /// missed its deadline stays in flight until it really ends), in output order.
    #[must_use]
    pub fn in_flight(&self) -> Vec<&str> {
        self.inner
            .slots
            .iter()
            .filter(|s| s.is_busy())
            .map(|s| s.key.as_str())
            .collect()
    }

    /// Resolves once no section run is in flight: every run, including one
    /// that missed its deadline, has really ended. A host that shuts down
    /// waits on this with a bound, and names what is still
    /// [`in_flight`](Self::in_flight) when the bound passes.
    pub async fn settled(&self) {
        loop {
            let mut notified = std::pin::pin!(self.inner.settled.notified());
            // Registered before the check, so an end in between is not missed.
            notified.as_mut().enable();
            if self.inner.slots.iter().all(|s| !s.is_busy()) {
                return;
            }
            notified.await;
        }
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
            && last.is_enabled()
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
        let generation = next_generation();
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
}
