//! Tooling for tests and golden files (feature `test-support`).
//!
//! None of this is needed to build or serve snapshots; it is what a test
//! (of vitals, or of a host's own sections) uses to compare snapshots whole:
//!
//! * [`SnapshotExt`]: a snapshot with its timings zeroed, as a value or as
//!   the pretty JSON a golden file holds;
//! * [`OrderedJson`]: JSON parsed with its object keys in document order, to
//!   check the contract's key order (a [`serde_json::Value`] sorts them);
//! * [`shape`]: the contract shape check behind "additive needs no version bump".
//!
//! ```
//! use serde_json::json;
//! use vitals_core::testing::{OrderedJson, SnapshotExt};
//! use vitals_core::{Assembler, FixedClock};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let snapshot = Assembler::builder()
//!     .clock(FixedClock::broken())
//!     .build()
//!     .unwrap()
//!     .build()
//!     .await;
//! assert_eq!(
//!     snapshot.body_with_zero_timings(),
//!     json!({"schema_version": 1, "generated_at": "", "clk_tck": null,
//!            "collector": {"elapsed_ms": 0, "sections": {}}})
//! );
//! let doc = OrderedJson::parse(snapshot.to_json()).unwrap();
//! assert_eq!(doc.keys(), ["schema_version", "generated_at", "clk_tck", "collector"]);
//! # }
//! ```

use std::fmt;
use std::ops::Index;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::assembler::{Snapshot, Timings, pretty};

pub mod shape;

/// Golden-file helpers on [`Snapshot`].
pub trait SnapshotExt {
    /// The body with every elapsed time of the meta section set to `0`
    /// (`collector.elapsed_ms` and each `collector.sections.<key>.elapsed_ms`).
    ///
    /// With a [`FixedClock`](crate::FixedClock) the rest of a snapshot is
    /// deterministic, so this is what a test compares whole. Section values
    /// are left as they are.
    fn body_with_zero_timings(&self) -> Value;

    /// The same, as pretty-printed JSON in contract key order: what a golden
    /// file holds.
    fn pretty_json_with_zero_timings(&self) -> String;
}

impl SnapshotExt for Snapshot {
    fn body_with_zero_timings(&self) -> Value {
        serde_json::from_str(&self.render(Timings::Zero)).unwrap_or(Value::Null)
    }

    fn pretty_json_with_zero_timings(&self) -> String {
        pretty(&self.render(Timings::Zero))
    }
}

/// A JSON document whose objects keep their keys in document order.
///
/// Indexing never panics: a missing key or index gives [`OrderedJson::Null`],
/// as `serde_json::Value` does.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderedJson {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<OrderedJson>),
    /// An object, keys in document order.
    Object(Vec<(String, OrderedJson)>),
}

static NULL: OrderedJson = OrderedJson::Null;

impl OrderedJson {
    /// Parses JSON text.
    ///
    /// # Errors
    ///
    /// The parser's error when `text` is not JSON.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The keys of an object in document order (empty for anything else).
    #[must_use]
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// The value at `key` of an object.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(entries) => entries.iter().find_map(|(k, v)| (k == key).then_some(v)),
            _ => None,
        }
    }
}

impl Index<&str> for OrderedJson {
    type Output = Self;
    fn index(&self, key: &str) -> &Self {
        self.get(key).unwrap_or(&NULL)
    }
}

impl Index<usize> for OrderedJson {
    type Output = Self;
    fn index(&self, index: usize) -> &Self {
        match self {
            Self::Array(items) => items.get(index).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = OrderedJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OrderedJson, E> {
        Number::from_f64(v)
            .map(OrderedJson::Number)
            .ok_or_else(|| E::custom("a non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OrderedJson::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, OrderedJson>()? {
            entries.push(entry);
        }
        Ok(OrderedJson::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_document_order() {
        let doc = OrderedJson::parse(r#"{"z": {"b": 1, "a": [true, null]}, "y": 2.5}"#).unwrap();
        assert_eq!(doc.keys(), ["z", "y"]);
        assert_eq!(doc["z"].keys(), ["b", "a"]);
        assert_eq!(doc["z"]["a"][0], OrderedJson::Bool(true));
        assert_eq!(doc["z"]["a"][7], OrderedJson::Null);
        assert_eq!(doc["missing"]["deeper"], OrderedJson::Null);
        assert!(doc["y"].keys().is_empty());
    }
}
