//! The snapshot clock: one instant per snapshot, injectable in tests.

use std::fmt;

use chrono::{DateTime, Utc};

/// Where a snapshot reads the time it is taken at.
///
/// Every age in one snapshot (`age_in_stage_s`, `runtime_s`, `proc_age_s`) is
/// measured against the single instant the assembler reads from its clock at
/// the start of the build. Tests inject a [`FixedClock`] so outputs are
/// deterministic.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current UTC time, or `None` when the clock cannot be read (the
    /// envelope then carries `generated_at: ""` and ages are `null`).
    fn now(&self) -> Option<DateTime<Utc>>;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Option<DateTime<Utc>> {
        Some(Utc::now())
    }
}

/// A clock that always answers the same instant (or always fails).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Option<DateTime<Utc>>);

impl FixedClock {
    /// A clock stuck at `at`.
    #[must_use]
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(Some(at))
    }

    /// A clock that cannot be read.
    #[must_use]
    pub fn broken() -> Self {
        Self(None)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Option<DateTime<Utc>> {
        self.0
    }
}

/// Formats an instant as the contract's `generated_at`: `YYYY-MM-DDTHH:MM:SSZ`.
#[must_use]
pub fn format_generated_at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn generated_at_has_second_precision_and_z() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 28, 2, 40, 13)
            .single()
            .expect("valid date");
        assert_eq!(format_generated_at(at), "2026-11-28T02:40:13Z");
    }
}
