//! The [`Section`] trait: one key of the snapshot, collected in isolation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::context::Collect;
use crate::error::SectionError;
use crate::export::MetricFamily;

/// The value a section takes when it fails, as the contract says for that key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fallback {
    /// `null` (the seed's `queue` and `cost`).
    Null,
    /// `[]` (the seed's `stages` and `agents`).
    EmptyArray,
    /// `{}`.
    EmptyObject,
}

impl Fallback {
    /// The JSON value of this fallback.
    #[must_use]
    pub fn to_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::EmptyArray => Value::Array(Vec::new()),
            Self::EmptyObject => Value::Object(serde_json::Map::new()),
        }
    }
}

/// One key of the snapshot: what it is called, what it falls back to, how to collect it.
///
/// A section is the unit of isolation. The [`Assembler`](crate::Assembler)
/// runs every section concurrently, each under its own deadline; an error, a
/// panic or a timeout turns into the section's [`fallback`](Section::fallback)
/// and a status in the meta section, and every other section stays intact.
///
/// A section reads its data through a small source trait handed to it at
/// construction (`StageSource`, `QueueSource`, ...) and never knows where the
/// data lives. Sections whose fields degrade independently build each field
/// through [`Collect::field`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vitals_core::{async_trait, Assembler, Collect, Fallback, Section, SectionError};
/// use serde_json::{json, Value};
///
/// /// Reports how many widgets the service holds.
/// #[derive(Debug)]
/// struct Widgets(u64);
///
/// #[async_trait]
/// impl Section for Widgets {
///     fn key(&self) -> &str { "widgets" }
///     fn fallback(&self) -> Fallback { Fallback::Null }
///     fn deadline(&self) -> Option<Duration> { Some(Duration::from_millis(200)) }
///     async fn collect(&self, _cx: &Collect) -> Result<Value, SectionError> {
///         Ok(json!({ "count": self.0 }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let assembler = Assembler::builder().section(Widgets(3)).build().unwrap();
/// let snapshot = assembler.build().await;
/// assert_eq!(snapshot.body()["widgets"], json!({ "count": 3 }));
/// # }
/// ```
#[async_trait]
pub trait Section: Send + Sync + fmt::Debug + 'static {
    /// The top-level JSON key this section fills. Non-empty, unique in an
    /// assembler, and not one the envelope reserves (see [`RESERVED_KEYS`](crate::RESERVED_KEYS)).
    fn key(&self) -> &str;

    /// The value the key takes when the section fails.
    fn fallback(&self) -> Fallback;

    /// Where the section goes in the output: sections are ordered by this
    /// number, then by key. The built-ins use 10, 20, 30, 40; the default is 100.
    fn order(&self) -> i32 {
        100
    }

    /// How long the section may take before it is reported as `timeout`.
    /// `None` uses the assembler's default deadline.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    /// Collects the section's value for one snapshot.
    ///
    /// # Errors
    ///
    /// Any [`SectionError`]; the assembler then uses the fallback value and
    /// records the error's kind and message in the meta section.
    async fn collect(&self, cx: &Collect) -> Result<Value, SectionError>;

    /// Maps this section's value (as it appears in a snapshot) to metric
    /// families for the OpenMetrics text format. The default maps nothing:
    /// a section without a mapping is simply absent from that format.
    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let _ = (value, out);
    }
}

macro_rules! forward_section {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: Section + ?Sized> Section for $ty {
            fn key(&self) -> &str {
                (**self).key()
            }
            fn fallback(&self) -> Fallback {
                (**self).fallback()
            }
            fn order(&self) -> i32 {
                (**self).order()
            }
            fn deadline(&self) -> Option<Duration> {
                (**self).deadline()
            }
            async fn collect(&self, cx: &Collect) -> Result<Value, SectionError> {
                (**self).collect(cx).await
            }
            fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
                (**self).metrics(value, out);
            }
        }
    )*};
}

forward_section!(Box<S>, Arc<S>);
