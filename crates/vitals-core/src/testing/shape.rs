//! The contract shape check: what makes a change additive or breaking.
//!
//! A JSON value is reduced to its [`Shape`]: every key path with its JSON
//! type. Arrays contribute one element shape (`stages[].task_id`), merged over
//! all elements. Two shapes are then compared with [`compare`]:
//!
//! * a path of the old shape missing from the new one, or with another type,
//!   is **breaking** (bump [`SCHEMA_VERSION`](crate::SCHEMA_VERSION));
//! * a path only in the new shape is **additive** (no bump);
//! * `null` is compatible with every type, an integer where a number was is
//!   compatible, and a missing path under a `null` value or an empty array of
//!   the new shape is not a break (a failed section legitimately has no children).
//!
//! ```
//! use serde_json::json;
//! use vitals_core::testing::shape::{compare, Shape};
//!
//! let v1 = Shape::of(&json!({"queue": {"depth": 3}, "stages": [{"stage": "review"}]}));
//! let added = Shape::of(&json!({"queue": {"depth": 3, "oldest_s": 9}, "stages": [{"stage": "review"}]}));
//! let retyped = Shape::of(&json!({"queue": {"depth": "3"}, "stages": []}));
//!
//! let diff = compare(&v1, &added);
//! assert!(diff.is_compatible());
//! assert_eq!(diff.additive, vec!["queue.oldest_s".to_string()]);
//!
//! let diff = compare(&v1, &retyped);
//! assert!(!diff.is_compatible());
//! assert_eq!(diff.breaking[0].path, "queue.depth");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON type, with integers told apart from other numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without a fractional part or exponent, as serialized.
    Integer,
    /// Any other number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of a value.
    #[must_use]
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Boolean,
            Value::Number(n) if n.is_f64() => Self::Number,
            Value::Number(_) => Self::Integer,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }

    /// Whether a value of type `new` may stand where `self` stood.
    #[must_use]
    pub fn accepts(self, new: Self) -> bool {
        self == new
            || self == Self::Null
            || new == Self::Null
            || (self == Self::Number && new == Self::Integer)
    }

    /// Merges the types of two elements of one array: `null` yields to the
    /// other; an integer and a number make a number; otherwise the first wins.
    fn merge(self, other: Self) -> Self {
        match (self, other) {
            (Self::Integer, Self::Number) | (Self::Number, Self::Integer) => Self::Number,
            (Self::Null, t) | (t, _) => t,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        };
        f.write_str(name)
    }
}

/// Every key path of a JSON value with its type.
///
/// Paths join object keys with `.` and mark array elements with `[]`; the
/// root itself has no entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub BTreeMap<String, JsonType>);

impl Shape {
    /// The shape of `value`.
    #[must_use]
    pub fn of(value: &Value) -> Self {
        let mut shape = Self::default();
        shape.walk("", value);
        shape
    }

    fn add(&mut self, path: String, ty: JsonType) {
        self.0
            .entry(path)
            .and_modify(|t| *t = t.merge(ty))
            .or_insert(ty);
    }

    fn walk(&mut self, prefix: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    self.add(path.clone(), JsonType::of(child));
                    self.walk(&path, child);
                }
            }
            Value::Array(items) => {
                let path = format!("{prefix}[]");
                for item in items {
                    self.add(path.clone(), JsonType::of(item));
                    self.walk(&path, item);
                }
            }
            _ => {}
        }
    }

    /// The type at `path`, if the shape has it.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<JsonType> {
        self.0.get(path).copied()
    }

    /// Whether a missing `path` is explained by an ancestor that is `null`
    /// or an empty array in this shape.
    fn covers_absent(&self, path: &str) -> bool {
        let mut cut = path.len();
        while let Some(pos) = path[..cut].rfind(['.', '[']) {
            let ancestor = &path[..pos];
            if let Some(ty) = self.get(ancestor) {
                if ty == JsonType::Null {
                    return true;
                }
                if ty == JsonType::Array && self.get(&format!("{ancestor}[]")).is_none() {
                    return true;
                }
                return false;
            }
            cut = pos;
        }
        false
    }
}

/// One breaking difference between two shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaking {
    /// The key path.
    pub path: String,
    /// The type the old shape had.
    pub was: JsonType,
    /// The type the new shape has, or `None` when the path disappeared.
    pub now: Option<JsonType>,
}

impl fmt::Display for Breaking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.now {
            Some(now) => write!(f, "`{}` changed type: {} -> {}", self.path, self.was, now),
            None => write!(f, "`{}` ({}) disappeared", self.path, self.was),
        }
    }
}

/// The result of [`compare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShapeDiff {
    /// Changes that break consumers of the old shape.
    pub breaking: Vec<Breaking>,
    /// Paths only the new shape has.
    pub additive: Vec<String>,
}

impl ShapeDiff {
    /// Whether a consumer of the old shape can read the new one.
    #[must_use]
    pub fn is_compatible(&self) -> bool {
        self.breaking.is_empty()
    }
}

/// Compares an old (golden) shape with a new one.
#[must_use]
pub fn compare(old: &Shape, new: &Shape) -> ShapeDiff {
    let mut diff = ShapeDiff::default();
    for (path, &was) in &old.0 {
        match new.get(path) {
            Some(now) if was.accepts(now) => {}
            Some(now) => diff.breaking.push(Breaking {
                path: path.clone(),
                was,
                now: Some(now),
            }),
            None if new.covers_absent(path) => {}
            None => diff.breaking.push(Breaking {
                path: path.clone(),
                was,
                now: None,
            }),
        }
    }
    for path in new.0.keys() {
        if !old.0.contains_key(path) {
            diff.additive.push(path.clone());
        }
    }
    diff
}

/// A golden shape file: the shape of one contract version.
///
/// Stored as JSON (`{"schema_version": 1, "paths": {"stages": "array", ...}}`)
/// under `docs/contract/`; [`Golden::verdict`] compares a current snapshot
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Golden {
    /// The contract version the shape belongs to.
    pub schema_version: u64,
    /// Every key path with its type.
    pub paths: Shape,
}

/// What a snapshot means for a golden shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Same shape (types may have become `null`, integers may stand for numbers).
    Same,
    /// Only additions: no version bump is needed; refresh the golden file at leisure.
    Additive(Vec<String>),
    /// A breaking change under the same `schema_version`: bump the version
    /// (and write a new golden file), or undo the change.
    Breaking(ShapeDiff),
    /// The snapshot carries another `schema_version` than the golden file:
    /// a deliberate bump, which needs a golden file of its own.
    NewVersion {
        /// The version in the golden file.
        golden: u64,
        /// The version in the snapshot (`None` when absent or not an integer).
        current: Option<u64>,
    },
}

impl Golden {
    /// The golden shape of a snapshot body.
    #[must_use]
    pub fn of(body: &Value) -> Self {
        Self {
            schema_version: body
                .get("schema_version")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            paths: Shape::of(body),
        }
    }

    /// Compares a snapshot body with this golden shape.
    #[must_use]
    pub fn verdict(&self, body: &Value) -> Verdict {
        let current = body.get("schema_version").and_then(Value::as_u64);
        if current != Some(self.schema_version) {
            return Verdict::NewVersion {
                golden: self.schema_version,
                current,
            };
        }
        let diff = compare(&self.paths, &Shape::of(body));
        if !diff.is_compatible() {
            Verdict::Breaking(diff)
        } else if diff.additive.is_empty() {
            Verdict::Same
        } else {
            Verdict::Additive(diff.additive)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(old: &Value, new: &Value, breaking: &[&str], additive: &[&str]) {
        let diff = compare(&Shape::of(old), &Shape::of(new));
        let got: Vec<_> = diff.breaking.iter().map(|b| b.path.as_str()).collect();
        assert_eq!(got, breaking, "breaking paths");
        assert_eq!(diff.additive, additive, "additive paths");
    }

    #[test]
    fn shapes_name_every_path_with_its_type() {
        let shape = Shape::of(&json!({"a": {"b": 1, "c": [ {"d": "x"}, {"d": null, "e": 1.5} ]}}));
        let paths: Vec<_> = shape.0.iter().map(|(p, t)| format!("{p}:{t}")).collect();
        assert_eq!(
            paths,
            [
                "a:object",
                "a.b:integer",
                "a.c:array",
                "a.c[]:object",
                "a.c[].d:string",
                "a.c[].e:number"
            ]
        );
    }

    #[test]
    fn identical_shapes_are_compatible() {
        check(&json!({"a": 1}), &json!({"a": 2}), &[], &[]);
    }

    #[test]
    fn a_new_key_is_additive() {
        check(
            &json!({"a": 1}),
            &json!({"a": 1, "b": {"c": true}}),
            &[],
            &["b", "b.c"],
        );
    }

    #[test]
    fn a_missing_key_is_breaking() {
        check(&json!({"a": 1, "b": 2}), &json!({"a": 1}), &["b"], &[]);
    }

    #[test]
    fn a_changed_type_is_breaking() {
        check(&json!({"a": 1}), &json!({"a": "1"}), &["a"], &[]);
        check(&json!({"a": 1}), &json!({"a": 1.5}), &["a"], &[]);
    }

    #[test]
    fn null_is_compatible_with_any_type_both_ways() {
        check(&json!({"a": null}), &json!({"a": [1]}), &[], &["a[]"]);
        check(&json!({"a": {"b": 1}}), &json!({"a": null}), &[], &[]);
    }

    #[test]
    fn an_integer_may_stand_for_a_number() {
        check(&json!({"a": 1.5}), &json!({"a": 2}), &[], &[]);
    }

    #[test]
    fn empty_arrays_do_not_lose_their_element_paths() {
        check(&json!({"s": [{"x": 1}]}), &json!({"s": []}), &[], &[]);
    }

    #[test]
    fn a_retyped_container_breaks_at_its_own_path() {
        check(
            &json!({"s": [{"x": 1}]}),
            &json!({"s": {"x": 1}}),
            &["s", "s[]", "s[].x"],
            &["s.x"],
        );
    }

    #[test]
    fn golden_verdicts() {
        let v1 = json!({"schema_version": 1, "a": 1});
        let golden = Golden::of(&v1);
        assert_eq!(golden.verdict(&v1), Verdict::Same);
        assert_eq!(
            golden.verdict(&json!({"schema_version": 1, "a": 1, "b": 2})),
            Verdict::Additive(vec!["b".into()])
        );
        assert!(matches!(
            golden.verdict(&json!({"schema_version": 1})),
            Verdict::Breaking(_)
        ));
        assert_eq!(
            golden.verdict(&json!({"schema_version": 2})),
            Verdict::NewVersion {
                golden: 1,
                current: Some(2)
            }
        );
    }

    #[test]
    fn shapes_round_trip_through_json() {
        let shape = Shape::of(&json!({"a": [1, 2], "b": null}));
        let text = serde_json::to_string(&shape).unwrap();
        assert_eq!(text, r#"{"a":"array","a[]":"integer","b":"null"}"#);
        assert_eq!(serde_json::from_str::<Shape>(&text).unwrap(), shape);
    }
}
