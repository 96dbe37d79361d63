//! The `process` section: the serving process's own CPU time, memory, file
//! descriptors and threads, the `process_*` metrics of every Prometheus client.
//!
//! An observer that scrapes a service wants to know what the scrape target
//! itself costs and whether it is about to run out of file descriptors:
//! Prometheus' client libraries all export the same `process_*` families
//! for that, and dashboards and alerts expect them. This section reads them
//! through a [`ProcSource`] (the real `/proc/self` with
//! [`ProcessSection::linux`], a fake tree or memory in tests) and exports them
//! under those names. Every field degrades on its own: a source that cannot
//! read the file descriptors leaves `open_fds` `null` and the section
//! `degraded`, never failed.
//!
//! A host adds it with one line, next to its other sections:
//!
//! ```
//! use std::sync::Arc;
//! use vitals_core::Assembler;
//! use vitals_proc::OwnProcess;
//! use vitals_proc::fake::{FakeProc, simple_process};
//! use vitals_process::ProcessSection;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // In a host: `.section(ProcessSection::linux())`, the real /proc/self.
//! let proc = FakeProc::new()
//!     .with_clk_tck(Some(100))
//!     .with_boot_time(1_700_000_000)
//!     .with_own_process(OwnProcess::new(
//!         vitals_proc::ProcessInfo { start_ticks: 250, rss_bytes: 8 << 20, ..simple_process(42, 1, 1234) },
//!         64 << 20,
//!     ))
//!     .with_own_fds(17, Some(1024));
//! let assembler = Assembler::builder()
//!     .section(ProcessSection::new(Arc::new(proc)))
//!     .build()
//!     .unwrap();
//! let snapshot = assembler.build().await;
//! let process = &snapshot.body()["process"];
//! assert_eq!(process["cpu_seconds"], 12.34);
//! assert_eq!(process["start_time_seconds"], 1_700_000_002.5);
//! assert_eq!(process["resident_memory_bytes"], 8 << 20);
//! assert_eq!(process["open_fds"], 17);
//!
//! let families = assembler.metric_families(&snapshot);
//! assert!(families.iter().any(|f| f.name == "process_cpu"));
//! # }
//! ```
//!
//! The section is not one of the built-in contract sections and does not
//! register itself in the inventory registry: it describes the process that
//! serves the snapshot, which only a serving host wants. Add it by hand
//! ([`ProcessSection::new`], [`ProcessSection::linux`]) or with
//! [`DESCRIPTOR`] beside `vitals::BUILTIN`.

use std::sync::Arc;

use vitals_core::{Resources, Section, SectionDescriptor};
use vitals_proc::ProcSource;

pub mod fields;
mod section;

pub use section::ProcessSection;

/// The key this section fills in the snapshot.
pub const KEY: &str = "process";

/// The section's output order: after the built-ins (10, 20, 30, 40).
pub const ORDER: i32 = 50;

/// The factory: a [`ProcessSection`] when `resources` holds an
/// `Arc<dyn ProcSource>`, nothing otherwise.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::Resources;
/// use vitals_proc::{ProcSource, fake::FakeProc};
///
/// assert!(vitals_process::factory(&Resources::new()).is_none());
/// let source: Arc<dyn ProcSource> = Arc::new(FakeProc::new());
/// let section = vitals_process::factory(&Resources::new().with(source)).unwrap();
/// assert_eq!(section.key(), "process");
/// ```
#[must_use]
pub fn factory(resources: &Resources) -> Option<Box<dyn Section>> {
    let source = resources.get::<Arc<dyn ProcSource>>()?;
    Some(Box::new(ProcessSection::new(source)))
}

/// The section's descriptor, for
/// [`AssemblerBuilder::descriptors`](vitals_core::AssemblerBuilder::descriptors)
/// beside the built-in list. It is not registered in the inventory registry.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::{Assembler, Resources};
/// use vitals_proc::{ProcSource, fake::FakeProc};
///
/// let source: Arc<dyn ProcSource> = Arc::new(FakeProc::new());
/// let resources = Resources::new().with(source);
/// let assembler = Assembler::builder()
///     .descriptors([&vitals_process::DESCRIPTOR], &resources)
///     .build()
///     .unwrap();
/// assert_eq!(assembler.keys(), ["process"]);
/// ```
pub const DESCRIPTOR: SectionDescriptor = SectionDescriptor::new(KEY, ORDER, factory);
