//! The [`Section`] trait: one key of the snapshot, collected in isolation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::context::Collect;
use crate::error::SectionError;
use crate::export::MetricFamily;
use crate::value::SectionValue;

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

/// Envelope header fields a section can supply (see [`Section::header`]).
///
/// The envelope opens with `schema_version`, `generated_at` and `clk_tck`.
/// The first two belong to the assembler; `clk_tck` (the kernel's clock
/// ticks per second, the unit of every `*_ticks` field) belongs to whichever
/// section reads process facts, so that a host wires it once, with that
/// section's source, and never gets `"clk_tck": null` next to CPU ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderFields {
    /// Clock ticks per second, when this section knows them.
    pub clk_tck: Option<u64>,
}

impl HeaderFields {
    /// Header fields with `clk_tck` set to `ticks` (or unknown for `None`).
    #[must_use]
    pub fn with_clk_tck(mut self, ticks: Option<u64>) -> Self {
        self.clk_tck = ticks;
        self
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
/// use serde::Serialize;
/// use serde_json::json;
/// use vitals_core::{
///     async_trait, Assembler, Collect, Fallback, Section, SectionError, SectionValue,
/// };
///
/// /// Reports how many widgets the service holds.
/// #[derive(Debug)]
/// struct Widgets(u64);
///
/// /// The section's output: serde writes the fields in this order.
/// #[derive(Serialize)]
/// struct WidgetsOut { count: u64, largest: Option<u64> }
///
/// #[async_trait]
/// impl Section for Widgets {
///     fn key(&self) -> &str { "widgets" }
///     fn fallback(&self) -> Fallback { Fallback::Null }
///     fn deadline(&self) -> Option<Duration> { Some(Duration::from_millis(200)) }
///     async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
///         SectionValue::from_serialize(&WidgetsOut { count: self.0, largest: None })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let assembler = Assembler::builder().section(Widgets(3)).build().unwrap();
/// let snapshot = assembler.build().await;
/// assert_eq!(snapshot.body()["widgets"], json!({ "count": 3, "largest": null }));
/// assert!(snapshot.to_json().contains(r#""widgets":{"count":3,"largest":null}"#));
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

    /// Envelope header fields this section supplies (default: none). Read
    /// once per snapshot; for each field the first section, in output
    /// order, that knows it wins, unless the builder set the field itself
    /// (see [`AssemblerBuilder::clk_tck`](crate::AssemblerBuilder::clk_tck)).
    /// A panic here is logged and read as "nothing known".
    fn header(&self) -> HeaderFields {
        HeaderFields::default()
    }

    /// Collects the section's value for one snapshot.
    ///
    /// Serialize a typed value with [`SectionValue::from_serialize`] (its
    /// key order is the order in the output), or convert a
    /// [`serde_json::Value`] with `.into()` when order does not matter.
    ///
    /// # Errors
    ///
    /// Any [`SectionError`]; the assembler then uses the fallback value and
    /// records the error's kind and message in the meta section.
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError>;

    /// Maps this section's value (as it appears in a snapshot, parsed) to metric
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
            fn header(&self) -> HeaderFields {
                (**self).header()
            }
            async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
                (**self).collect(cx).await
            }
            fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
                (**self).metrics(value, out);
            }
        }
    )*};
}

forward_section!(Box<S>, Arc<S>);
