//! [`SectionValue`]: a section's value as it goes into the snapshot, key order included.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::SectionError;
use crate::section::Fallback;

/// A section's value, held as the JSON text it will have in the snapshot.
///
/// The contract fixes the key order of its objects (`queue` is `counts`,
/// `depth`, `retries`, ...). A [`serde_json::Value`] object does not keep
/// insertion order unless serde_json's `preserve_order` feature is on, and
/// that feature is global: Cargo unifies it across a host's whole build, so a
/// library that turned it on would change the order of every `Map` in the
/// host. vitals keeps order by construction instead: a section serializes a
/// typed value (serde derives and `serialize_map` keep the order they write)
/// straight into a `SectionValue`, and the envelope is assembled from these
/// texts in order.
///
/// ```
/// use serde::Serialize;
/// use serde_json::json;
/// use vitals_core::SectionValue;
///
/// #[derive(Serialize)]
/// struct Disk { path: &'static str, free_bytes: u64 }
///
/// // A typed value keeps its field order.
/// let typed = SectionValue::from_serialize(&Disk { path: "/var", free_bytes: 7 }).unwrap();
/// assert_eq!(typed.as_json(), r#"{"path":"/var","free_bytes":7}"#);
///
/// // A `serde_json::Value` converts too (its object keys come out sorted).
/// let loose = SectionValue::from(json!({"b": 1, "a": 2}));
/// assert_eq!(loose.to_value(), json!({"a": 2, "b": 1}));
/// ```
#[derive(Clone)]
pub struct SectionValue(Box<RawValue>);

impl SectionValue {
    /// Serializes `value` into a section value, in the order its `Serialize`
    /// implementation writes.
    ///
    /// # Errors
    ///
    /// A [`SectionError`] of kind `serialize` when `value` cannot be
    /// represented as JSON (a map with non-string keys, say).
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, SectionError> {
        Ok(Self(serde_json::value::to_raw_value(value)?))
    }

    /// JSON `null`.
    #[must_use]
    pub fn null() -> Self {
        Self::raw("null")
    }

    /// The value as compact JSON text.
    #[must_use]
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The value parsed into a [`serde_json::Value`] (for reading fields; key
    /// order is not kept).
    #[must_use]
    pub fn to_value(&self) -> Value {
        // The text came from a serializer, so it always parses back.
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// A value from JSON text known to be valid (a literal of this module).
    fn raw(json: &'static str) -> Self {
        match RawValue::from_string(json.to_owned()) {
            Ok(raw) => Self(raw),
            // Unreachable: only called with the valid literals of this module.
            Err(_) => Self::from(Value::Null),
        }
    }
}

impl From<Value> for SectionValue {
    /// A `serde_json::Value` as a section value. Objects of a `Value` have
    /// sorted keys (vitals does not turn on `preserve_order`); serialize a
    /// typed value with [`from_serialize`](SectionValue::from_serialize) to
    /// choose the order.
    fn from(value: Value) -> Self {
        match serde_json::value::to_raw_value(&value) {
            Ok(raw) => Self(raw),
            // Unreachable: a `Value` has string keys and finite numbers, so it
            // always serializes. Never fail a section over it anyway.
            Err(_) => Self::raw("null"),
        }
    }
}

impl From<Fallback> for SectionValue {
    fn from(fallback: Fallback) -> Self {
        match fallback {
            Fallback::Null => Self::raw("null"),
            Fallback::EmptyArray => Self::raw("[]"),
            Fallback::EmptyObject => Self::raw("{}"),
        }
    }
}

impl Serialize for SectionValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl fmt::Debug for SectionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SectionValue").field(&self.0.get()).finish()
    }
}

impl fmt::Display for SectionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl PartialEq for SectionValue {
    /// Equal when the JSON texts are equal (same values in the same order).
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fallbacks_are_their_json() {
        let text = |f: Fallback| SectionValue::from(f).as_json().to_owned();
        assert_eq!(text(Fallback::Null), "null");
        assert_eq!(text(Fallback::EmptyArray), "[]");
        assert_eq!(text(Fallback::EmptyObject), "{}");
        assert_eq!(SectionValue::null().to_value(), Value::Null);
    }

    #[test]
    fn ordered_maps_keep_their_order() {
        struct Pairs;
        impl Serialize for Pairs {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("zeta", &1)?;
                map.serialize_entry("alpha", &2)?;
                map.end()
            }
        }
        let value = SectionValue::from_serialize(&Pairs).unwrap();
        assert_eq!(value.as_json(), r#"{"zeta":1,"alpha":2}"#);
        assert_eq!(value.to_value(), json!({"alpha": 2, "zeta": 1}));
    }

    #[test]
    fn unserializable_values_are_a_serialize_error() {
        let map = std::collections::HashMap::from([((1, 2), 3)]);
        let error = SectionValue::from_serialize(&map).unwrap_err();
        assert_eq!(error.kind(), "serialize");
    }
}
