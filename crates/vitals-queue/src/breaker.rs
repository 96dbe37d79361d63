//! The circuit breaker snapshot a [`WorkerProbe`](crate::WorkerProbe)
//! reports, built typed.
//!
//! The `breaker` field of the `queue` object is whatever JSON object the host
//! reports, so that any breaker fits. One convention makes it useful to an
//! alert rule: its `state` is one of the strings `closed`, `open` and
//! `half-open` ([`BreakerState`]). The metrics mapping turns it into
//! `vitals_breaker_state{state="open"} 1`, which is what the
//! `VitalsBreakerOpen` rule selects on; every other top-level number or
//! boolean becomes a `vitals_breaker_<field>` gauge. [`BreakerSnapshot`]
//! builds such an object so that the state cannot be misspelt.

use std::fmt;

use serde_json::{Map, Value};

use crate::fields::BREAKER_STATE;

/// A circuit breaker's state, as `queue.breaker.state` reports it.
///
/// ```
/// use vitals_queue::BreakerState;
///
/// assert_eq!(BreakerState::HalfOpen.as_str(), "half-open");
/// assert_eq!(BreakerState::from_code("open"), Some(BreakerState::Open));
/// assert_eq!(BreakerState::from_code("tripped"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Work flows: `"closed"`.
    Closed,
    /// Work is refused after failures: `"open"`.
    Open,
    /// A trial lets some work through to decide: `"half-open"`.
    HalfOpen,
}

impl BreakerState {
    /// Every state, in the order above.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// The state as the snapshot writes it: `closed`, `open`, `half-open`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }

    /// The state written as `code`; `None` for any other text.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == code)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A breaker snapshot for [`WorkerProbe::breaker`](crate::WorkerProbe::breaker):
/// a state and any other facts the breaker has.
///
/// ```
/// use serde_json::json;
/// use vitals_queue::{BreakerSnapshot, BreakerState};
///
/// let snapshot = BreakerSnapshot::new(BreakerState::Open)
///     .with_field("consecutive_failures", 5)
///     .with_field("open_for_s", 42.5)
///     .with_field("manual", false);
/// assert_eq!(
///     snapshot.into_value(),
///     json!({"state": "open", "consecutive_failures": 5, "open_for_s": 42.5, "manual": false})
/// );
/// ```
///
/// In the metrics this is `vitals_breaker_state{state="open"} 1`,
/// `vitals_breaker_consecutive_failures 5`, `vitals_breaker_open_for_s 42.5`
/// and `vitals_breaker_manual 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    state: BreakerState,
    fields: Map<String, Value>,
}

impl BreakerSnapshot {
    /// A snapshot in `state`, with no other field.
    #[must_use]
    pub fn new(state: BreakerState) -> Self {
        Self {
            state,
            fields: Map::new(),
        }
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Adds (or replaces) the field `name`. Numbers and booleans become
    /// `vitals_breaker_<name>` gauges; other values are in the JSON only. A
    /// field named `state` is ignored: the state is the one given to
    /// [`new`](Self::new).
    #[must_use]
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if name != BREAKER_STATE {
            self.fields.insert(name, value.into());
        }
        self
    }

    /// The JSON object [`WorkerProbe::breaker`](crate::WorkerProbe::breaker)
    /// returns: `state` and the fields.
    #[must_use]
    pub fn into_value(self) -> Value {
        let mut object = Map::with_capacity(self.fields.len() + 1);
        object.insert(BREAKER_STATE.to_owned(), Value::from(self.state.as_str()));
        object.extend(self.fields);
        Value::Object(object)
    }
}

impl From<BreakerSnapshot> for Value {
    fn from(snapshot: BreakerSnapshot) -> Self {
        snapshot.into_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_state_fields_are_ignored() {
        for state in BreakerState::ALL {
            assert_eq!(BreakerState::from_code(state.as_str()), Some(state));
            assert_eq!(state.to_string(), state.as_str());
        }
        let value = BreakerSnapshot::new(BreakerState::Closed)
            .with_field("state", "open")
            .into_value();
        assert_eq!(value, serde_json::json!({"state": "closed"}));
    }
}
