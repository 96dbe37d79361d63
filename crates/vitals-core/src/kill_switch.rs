//! [`KillSwitch`]: turns the whole endpoint off and on at run time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A run-time switch for the whole endpoint (the seed's `metrics_endpoint_enabled`).
///
/// Cheap to clone; all clones flip the same switch. When off, a build is
/// exactly `{"schema_version":1,"enabled":false}` and no section runs.
///
/// ```
/// use vitals_core::KillSwitch;
///
/// let switch = KillSwitch::default();
/// let handle = switch.clone();
/// handle.set_enabled(false);
/// assert!(!switch.is_enabled());
/// ```
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
