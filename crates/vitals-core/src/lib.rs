//! The core of **vitals**: the [`Section`] trait, the registry and the isolating [`Assembler`].
//!
//! A service publishes a versioned JSON snapshot of its own raw state; an
//! observer outside the process computes deltas and alerts. vitals-core is
//! the part that knows nothing of where the state lives (SQLite, `/proc`) or
//! how it is served (HTTP): it runs [`Section`]s, each filling one key of
//! the snapshot, and guarantees that a build **never fails**: a section that
//! errors, panics or hangs degrades to its own fallback value while every
//! other section is intact, and the meta section (`collector`) says what
//! happened.
//!
//! ```
//! use serde_json::json;
//! use vitals_core::{async_trait, Assembler, Collect, Fallback, Section, SectionError, SectionValue};
//!
//! #[derive(Debug)]
//! struct Uptime;
//!
//! #[async_trait]
//! impl Section for Uptime {
//!     fn key(&self) -> &str { "uptime" }
//!     fn fallback(&self) -> Fallback { Fallback::Null }
//!     async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
//!         Ok(json!({ "seconds": 42 }).into())
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct Broken;
//!
//! #[async_trait]
//! impl Section for Broken {
//!     fn key(&self) -> &str { "broken" }
//!     fn fallback(&self) -> Fallback { Fallback::EmptyArray }
//!     async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
//!         Err(SectionError::msg("unavailable", "the source is down"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let assembler = Assembler::builder().section(Uptime).section(Broken).build().unwrap();
//! let snapshot = assembler.build().await;
//! let body = snapshot.body();
//! assert_eq!(body["schema_version"], 1);
//! assert_eq!(body["uptime"]["seconds"], 42);
//! assert_eq!(body["broken"], json!([]));
//! assert_eq!(body["collector"]["sections"]["broken"]["status"], "error");
//! assert_eq!(body["collector"]["sections"]["broken"]["error"]["kind"], "unavailable");
//! # }
//! ```
//!
//! The pieces:
//! * [`Section`]: one key, its fallback and how to collect it, into a
//!   [`SectionValue`] (JSON text that keeps the section's key order);
//! * [`Collect`]: the per-snapshot context (clock instant, shared [`Scratch`],
//!   deadline, and the field guard [`Collect::field`]);
//! * [`Assembler`] and [`AssemblerBuilder`]: composition by hand or from the
//!   [registry](register_section), isolation, coalescing, the [`KillSwitch`];
//! * [`export`]: a neutral metric model that exposition formats encode;
//! * [`fake::Canned`]: the stored answer every fake source is built from;
//! * `testing` (feature `test-support`): golden-file helpers and the
//!   contract shape check behind "additive needs no version bump".

mod assembler;
mod clock;
mod context;
mod error;
pub mod export;
pub mod fake;
mod kill_switch;
mod registry;
mod section;
#[cfg(feature = "test-support")]
pub mod testing;
mod value;

pub use assembler::{
    Assembler, AssemblerBuilder, DEFAULT_DEADLINE, DEFAULT_LOG_REMINDER, META_KEY, RESERVED_KEYS,
    SCHEMA_VERSION, SectionReport, SectionStatus, Snapshot,
};
pub use clock::{Clock, FixedClock, SystemClock, format_generated_at};
pub use context::{Collect, Scratch, panic_message};
pub use error::{BuildError, ErrorInfo, FieldFailure, SectionError, SourceError, error_chain};
pub use kill_switch::KillSwitch;
pub use registry::{Resources, SectionDescriptor, SectionFactory, registered};
pub use section::{Fallback, HeaderFields, Section};
pub use value::SectionValue;

/// Re-exported so that sections can be written without naming `async-trait` themselves.
pub use async_trait::async_trait;
/// Re-exported for [`register_section!`]; not part of the API otherwise.
#[doc(hidden)]
pub use inventory;
