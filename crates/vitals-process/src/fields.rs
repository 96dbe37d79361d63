//! The names of the fields of the `process` section, in output order.
//!
//! The one place they are written: the section's output, its metrics and its
//! degraded-field records all use these.
//!
//! ```
//! assert_eq!(vitals_process::fields::ALL[0], vitals_process::fields::PID);
//! ```

/// The process id.
pub const PID: &str = "pid";
/// User plus system CPU time, in seconds.
pub const CPU_SECONDS: &str = "cpu_seconds";
/// Resident set size, in bytes.
pub const RESIDENT_MEMORY_BYTES: &str = "resident_memory_bytes";
/// Virtual memory size, in bytes.
pub const VIRTUAL_MEMORY_BYTES: &str = "virtual_memory_bytes";
/// When the process started, in seconds since the Unix epoch.
pub const START_TIME_SECONDS: &str = "start_time_seconds";
/// Threads of the process.
pub const THREADS: &str = "threads";
/// Open file descriptors.
pub const OPEN_FDS: &str = "open_fds";
/// The soft limit on open file descriptors (`null` when unlimited).
pub const MAX_FDS: &str = "max_fds";

/// Every field, in output order.
pub const ALL: [&str; 8] = [
    PID,
    CPU_SECONDS,
    RESIDENT_MEMORY_BYTES,
    VIRTUAL_MEMORY_BYTES,
    START_TIME_SECONDS,
    THREADS,
    OPEN_FDS,
    MAX_FDS,
];
