//! Errors of the core: what a section reports, and what composing an assembler refuses.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use serde::Serialize;

/// A typed error of a source crate that knows its own short kind.
///
/// Source crates (`vitals-sqlite`, `vitals-proc`, ...) implement this for their
/// `thiserror` enum; the blanket `From` impl then lets a section use `?` on any
/// source call and still report a precise kind (for example `missing_table`)
/// in the meta section, with the original error kept as the cause.
pub trait SourceError: StdError + Send + Sync + 'static {
    /// A short, stable, `snake_case` code for this error, shown as `kind` in the
    /// meta section (for example `no_such_process` or `not_a_database`).
    fn kind(&self) -> &'static str;
}

/// Why a section (or one of its fields) could not produce its value.
///
/// It carries a short `kind` for machines and keeps the original error as its
/// [`source`](StdError::source), so nothing is flattened to a string until the
/// meta section renders it.
#[derive(Debug)]
pub struct SectionError {
    kind: Cow<'static, str>,
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

/// The error behind [`SectionError::msg`]: a message without a deeper cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl SectionError {
    /// An error of the given kind caused by `error`.
    pub fn new<E>(kind: impl Into<Cow<'static, str>>, error: E) -> Self
    where
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        Self {
            kind: kind.into(),
            inner: error.into(),
        }
    }

    /// An error of the given kind with only a message (no underlying cause).
    pub fn msg(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            inner: Box::new(Message(message.into())),
        }
    }

    /// The short machine-readable kind (`snake_case`).
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The human-readable message: this error and each of its causes, joined by `": "`.
    #[must_use]
    pub fn message(&self) -> String {
        error_chain(&*self.inner)
    }
}

/// Renders an error and its chain of causes on one line, joined by `": "`,
/// without repeating a cause whose text already ends the message (as
/// `thiserror`'s `#[error("...: {0}")]` often does).
///
/// ```
/// let io = std::io::Error::other("disk full");
/// assert_eq!(vitals_core::error_chain(&io), "disk full");
/// ```
#[must_use]
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // thiserror's `#[error("...: {0}")]` often repeats the cause already.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.inner)
    }
}

impl StdError for SectionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.inner)
    }
}

impl<E: SourceError> From<E> for SectionError {
    fn from(error: E) -> Self {
        Self::new(error.kind(), error)
    }
}

impl From<serde_json::Error> for SectionError {
    fn from(error: serde_json::Error) -> Self {
        Self::new("serialize", error)
    }
}

/// The kind and message of a failure: the one cloneable record of "what went wrong".
///
/// The meta section reports a failed section with it, and a degraded field
/// as a [`FieldFailure`] (this plus the field's name). Unlike
/// [`SectionError`], it is `Clone`, which makes it the recipe a fake source
/// stores to fail the same way on every call (see
/// [`Canned`](crate::fake::Canned)):
///
/// ```
/// use vitals_core::{ErrorInfo, SectionError};
///
/// let recipe = ErrorInfo::new("io", "disk gone");
/// for _ in 0..2 {
///     let error: SectionError = recipe.to_error();
///     assert_eq!((error.kind(), error.message().as_str()), ("io", "disk gone"));
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ErrorInfo {
    /// Short machine-readable kind (`snake_case`).
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

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// A field of a section that fell back to its default in one snapshot: the
/// field's name and why. In JSON: `{"field": ..., "kind": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FieldFailure {
    /// The field's name inside its section (for example `breaker`, or
    /// `agents[2].proc` for one entry of an array).
    pub field: String,
    /// Why it fell back.
    #[serde(flatten)]
    pub error: ErrorInfo,
}

impl FieldFailure {
    /// The failure of `field` with `error`.
    #[must_use]
    pub fn new(field: impl Into<String>, error: ErrorInfo) -> Self {
        Self {
            field: field.into(),
            error,
        }
    }
}

/// Why [`AssemblerBuilder::build`](crate::AssemblerBuilder::build) refused a section set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A section's key is empty or only whitespace.
    #[error("a section has an empty key")]
    EmptyKey,
    /// Two sections fill the same key.
    #[error("two sections fill the key `{key}`")]
    DuplicateKey {
        /// The key claimed twice.
        key: String,
    },
    /// A section claims a key the envelope reserves for itself.
    #[error("the key `{key}` is reserved by the envelope")]
    ReservedKey {
        /// The reserved key.
        key: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("disk on fire")]
        Fire(#[source] std::io::Error),
    }
    impl SourceError for Inner {
        fn kind(&self) -> &'static str {
            "fire"
        }
    }

    #[test]
    fn source_errors_keep_their_kind_and_cause() {
        let io = std::io::Error::other("smoke");
        let err: SectionError = Inner::Fire(io).into();
        assert_eq!(err.kind(), "fire");
        assert_eq!(err.message(), "disk on fire: smoke");
        assert!(err.source().is_some());
        assert_eq!(err.to_string(), "fire: disk on fire");
    }

    #[test]
    fn field_failures_serialize_flat() {
        let failure = FieldFailure::new("breaker", ErrorInfo::new("io", "gone"));
        assert_eq!(
            serde_json::to_string(&failure).unwrap(),
            r#"{"field":"breaker","kind":"io","message":"gone"}"#
        );
    }

    #[test]
    fn messages_do_not_repeat_a_cause_already_in_the_text() {
        let err = SectionError::msg("x", "plain");
        assert_eq!(err.message(), "plain");
    }
}
