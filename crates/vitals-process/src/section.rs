//! The section itself and its metrics mapping.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::{Collect, ErrorInfo, Fallback, Section, SectionError, SectionValue, async_trait};
use vitals_proc::{LinuxProc, OwnProcess, ProcError, ProcSource};

use crate::fields::{
    CPU_SECONDS, MAX_FDS, OPEN_FDS, PID, RESIDENT_MEMORY_BYTES, START_TIME_SECONDS, THREADS,
    VIRTUAL_MEMORY_BYTES,
};
use crate::{KEY, ORDER};

/// The `process` section: the serving process's own resource use.
///
/// The value is an object with, in this order: `pid`, `cpu_seconds` (user +
/// system CPU time), `resident_memory_bytes`, `virtual_memory_bytes`,
/// `start_time_seconds` (since the Unix epoch), `threads`, `open_fds` and
/// `max_fds` (the soft limit; `null` when unlimited). A field whose source
/// failed is `null` and recorded as degraded; `cpu_seconds` and
/// `start_time_seconds` also need the clock ticks per second (and the
/// latter the boot time). The section itself never fails (fallback `null`).
///
/// Metrics, without labels (the scrape target names the process):
/// `process_cpu_seconds_total` (counter), `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_start_time_seconds`,
/// `process_open_fds`, `process_max_fds`, `process_threads` (gauges); a
/// `null` field has no sample.
#[derive(Debug, Clone)]
pub struct ProcessSection {
    source: Arc<dyn ProcSource>,
}

impl ProcessSection {
    /// A section reading the process that serves from `source`.
    #[must_use]
    pub fn new(source: Arc<dyn ProcSource>) -> Self {
        Self { source }
    }

    /// A section reading the real `/proc/self` ([`LinuxProc::new`]).
    #[must_use]
    pub fn linux() -> Self {
        Self::new(Arc::new(LinuxProc::new()))
    }
}

/// The section's output; `None` is `null`.
#[derive(Debug, Default)]
struct ProcessOut {
    pid: Option<i32>,
    cpu_seconds: Option<f64>,
    resident_memory_bytes: Option<u64>,
    virtual_memory_bytes: Option<u64>,
    start_time_seconds: Option<f64>,
    threads: Option<i64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

impl Serialize for ProcessOut {
    /// In output order, named by [`crate::fields`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ProcessOut", 8)?;
        out.serialize_field(PID, &self.pid)?;
        out.serialize_field(CPU_SECONDS, &self.cpu_seconds)?;
        out.serialize_field(RESIDENT_MEMORY_BYTES, &self.resident_memory_bytes)?;
        out.serialize_field(VIRTUAL_MEMORY_BYTES, &self.virtual_memory_bytes)?;
        out.serialize_field(START_TIME_SECONDS, &self.start_time_seconds)?;
        out.serialize_field(THREADS, &self.threads)?;
        out.serialize_field(OPEN_FDS, &self.open_fds)?;
        out.serialize_field(MAX_FDS, &self.max_fds)?;
        out.end()
    }
}

/// Everything read from the source for one snapshot.
#[derive(Debug)]
struct Readings {
    clk_tck: Option<u64>,
    boot_time: Result<i64, ProcError>,
    own: Result<OwnProcess, ProcError>,
    open_fds: Result<u64, ProcError>,
    max_fds: Result<Option<u64>, ProcError>,
}

impl Readings {
    fn read(source: &dyn ProcSource) -> Self {
        Self {
            clk_tck: source.clk_tck().filter(|&ticks| ticks > 0),
            boot_time: source.boot_time(),
            own: source.own_process(),
            open_fds: source.own_open_fds(),
            max_fds: source.own_max_fds(),
        }
    }
}

fn failure(context: &str, error: &ProcError) -> ErrorInfo {
    ErrorInfo::new(
        error.kind(),
        format!("{context}: {}", vitals_core::error_chain(error)),
    )
}

fn record(cx: &Collect, fields: &[&str], error: &ErrorInfo) {
    for field in fields {
        cx.record_field_failure(field, &error.kind, &error.message);
    }
}

/// Ticks to seconds.
fn seconds(ticks: u64, clk_tck: u64) -> f64 {
    ticks as f64 / clk_tck as f64
}

/// The output from the readings; each failure is recorded for the fields it empties.
fn output(readings: Readings, cx: &Collect) -> ProcessOut {
    let mut out = ProcessOut::default();
    match readings.own {
        Ok(own) => {
            out.pid = Some(own.info.pid);
            out.resident_memory_bytes = Some(own.info.rss_bytes);
            out.virtual_memory_bytes = Some(own.vsize_bytes);
            out.threads = Some(own.info.threads);
            match (readings.clk_tck, readings.boot_time) {
                (None, _) => record(
                    cx,
                    &[CPU_SECONDS, START_TIME_SECONDS],
                    &ErrorInfo::new("unknown_clk_tck", "clock ticks per second unknown"),
                ),
                (Some(clk_tck), boot_time) => {
                    out.cpu_seconds = Some(seconds(own.info.cpu_ticks, clk_tck));
                    match boot_time {
                        Ok(boot) => {
                            out.start_time_seconds =
                                Some(boot as f64 + seconds(own.info.start_ticks, clk_tck));
                        }
                        Err(error) => record(
                            cx,
                            &[START_TIME_SECONDS],
                            &failure("reading the boot time", &error),
                        ),
                    }
                }
            }
        }
        Err(error) => record(
            cx,
            &[
                PID,
                CPU_SECONDS,
                RESIDENT_MEMORY_BYTES,
                VIRTUAL_MEMORY_BYTES,
                START_TIME_SECONDS,
                THREADS,
            ],
            &failure("reading the own process", &error),
        ),
    }
    match readings.open_fds {
        Ok(open) => out.open_fds = Some(open),
        Err(error) => record(
            cx,
            &[OPEN_FDS],
            &failure("listing the open file descriptors", &error),
        ),
    }
    match readings.max_fds {
        Ok(max) => out.max_fds = max,
        Err(error) => record(
            cx,
            &[MAX_FDS],
            &failure("reading the file descriptor limit", &error),
        ),
    }
    out
}

#[async_trait]
impl Section for ProcessSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::Null
    }

    fn order(&self) -> i32 {
        ORDER
    }

    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let source = Arc::clone(&self.source);
        let out = match tokio::task::spawn_blocking(move || Readings::read(&*source)).await {
            Ok(readings) => output(readings, cx),
            Err(error) => {
                let reason = if error.is_panic() {
                    vitals_core::panic_message(&*error.into_panic())
                } else {
                    "the task was cancelled".to_owned()
                };
                let error = ErrorInfo::new("panic", format!("reading the own process: {reason}"));
                record(cx, &crate::fields::ALL, &error);
                ProcessOut::default()
            }
        };
        SectionValue::from_serialize(&out)
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        use MetricKind::{Counter, Gauge};
        let mapping = [
            (
                CPU_SECONDS,
                "process_cpu",
                "User and system CPU time the process has used.",
                Counter,
                Some("seconds"),
            ),
            (
                RESIDENT_MEMORY_BYTES,
                "process_resident_memory",
                "Resident memory size of the process.",
                Gauge,
                Some("bytes"),
            ),
            (
                VIRTUAL_MEMORY_BYTES,
                "process_virtual_memory",
                "Virtual memory size of the process.",
                Gauge,
                Some("bytes"),
            ),
            (
                START_TIME_SECONDS,
                "process_start_time",
                "When the process started, since the Unix epoch.",
                Gauge,
                Some("seconds"),
            ),
            (
                OPEN_FDS,
                "process_open_fds",
                "Open file descriptors of the process.",
                Gauge,
                None,
            ),
            (
                MAX_FDS,
                "process_max_fds",
                "The process's limit on open file descriptors.",
                Gauge,
                None,
            ),
            (
                THREADS,
                "process_threads",
                "Operating system threads of the process.",
                Gauge,
                None,
            ),
        ];
        for (field, name, help, kind, unit) in mapping {
            let Some(number) = value.get(field).and_then(Value::as_f64) else {
                continue;
            };
            let mut family = MetricFamily::new(name, help, kind);
            if let Some(unit) = unit {
                family = family.with_unit(unit);
            }
            family.push(Vec::<(String, String)>::new(), number);
            family.emit_into(out);
        }
    }
}
