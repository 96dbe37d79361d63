//! Process signals from `/proc` for vitals: CPU ticks, state, start time,
//! threads, RSS and process trees.
//!
//! A watchdog that sees an agent's job "running" for an hour cannot tell from
//! the database alone whether the agent is thinking, waiting on a child
//! `cargo build`, stuck, a zombie, or long gone with its pid reused. The
//! kernel knows. This crate reads what it knows, as **raw signal**: CPU ticks
//! that only grow, the start time that pins a pid to one process, the state
//! letter, and the CPU ticks of the whole process tree. The observer
//! computes deltas between two snapshots; nothing here keeps state between
//! calls.
//!
//! Everything goes through the [`ProcSource`] trait, so a collector can be
//! tested on [`fake::FakeProc`] and pointed at a fake tree on disk with
//! [`LinuxProc::with_root`]. No read panics: a bad pid, a vanished process or
//! a garbage file is a typed [`ProcError`] whose [`kind`](ProcError::kind)
//! goes to the meta section while the fields become `null`.
//!
//! ```
//! use vitals_proc::fake::FakeProc;
//! use vitals_proc::{ProcError, ProcSource, proc_age_s};
//!
//! // An agent (pid 100) whose child `cargo` (101) runs a compiler (102).
//! let source = FakeProc::new()
//!     .with_clk_tck(Some(100))
//!     .with_boot_time(1_700_000_000)
//!     .with_simple_process(100, 1, 50)
//!     .with_simple_process(101, 100, 20)
//!     .with_simple_process(102, 101, 900);
//!
//! let agent = source.process(100)?;
//! assert_eq!(agent.cpu_ticks, 50);
//!
//! // One pass over the table per snapshot, then one cheap lookup per agent.
//! let table = source.process_table()?;
//! let tree = table.tree(100).expect("the agent is in the table");
//! assert_eq!((tree.cpu_ticks, tree.procs), (970, 3));
//!
//! // The agent started 5 s after boot (500 ticks) and now is boot + 65 s.
//! let clk_tck = source.clk_tck().expect("known");
//! let age = proc_age_s(1_700_000_065, source.boot_time()?, 500, clk_tck);
//! assert_eq!(age, Some(60));
//!
//! // Bad pids are errors with a short kind, never panics.
//! assert_eq!(source.process(0).unwrap_err().kind(), "invalid_pid");
//! assert_eq!(source.process(4242).unwrap_err().kind(), "no_such_process");
//! # Ok::<(), ProcError>(())
//! ```
//!
//! On platforms other than Linux the crate compiles, [`LinuxProc`] answers
//! [`ProcError::Unsupported`] to every read and [`ProcSource::clk_tck`] is
//! `None`.

mod error;
pub mod fake;
#[cfg(target_os = "linux")]
mod linux;
mod own;
#[cfg(any(target_os = "linux", test))]
mod stat;
mod table;
#[cfg(any(not(target_os = "linux"), test))]
mod unsupported;

#[cfg(target_os = "linux")]
use linux as imp;
#[cfg(not(target_os = "linux"))]
use unsupported as imp;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::ProcError;
pub use own::{OwnProcess, parse_max_open_files};
pub use table::{ProcessInfo, ProcessTable, TreeUsage};

/// The largest `pid_max` a 64-bit Linux kernel accepts (`PID_MAX_LIMIT`,
/// 2^22). Used when `<root>/sys/kernel/pid_max` cannot be read.
pub const PID_MAX_LIMIT: i64 = 4_194_304;

/// Where process facts come from: the real `/proc`, a fake tree on disk, or
/// memory.
///
/// Implementations never panic; every failure is a [`ProcError`]. The trait
/// is object safe and `Send + Sync`, so a collector can hold an
/// `Arc<dyn ProcSource>`; it is implemented for `&T`, `Box<T>` and `Arc<T>`
/// of any source.
///
/// The `own_*` methods describe the process that reads (the serving process
/// itself, for its `process_*` metrics). They have defaults answering
/// [`ProcError::Unsupported`], so a source written before them still
/// compiles; [`LinuxProc`] and [`fake::FakeProc`] implement them.
pub trait ProcSource: Send + Sync + std::fmt::Debug {
    /// Clock ticks per second (`SC_CLK_TCK`); `None` when unknown.
    fn clk_tck(&self) -> Option<u64>;

    /// System boot time, seconds since the Unix epoch (`btime` in
    /// `<root>/stat`).
    ///
    /// # Errors
    ///
    /// [`ProcError::Io`] when the file cannot be read,
    /// [`ProcError::Unparsable`] when it has no valid `btime` line,
    /// [`ProcError::Unsupported`] off Linux.
    fn boot_time(&self) -> Result<i64, ProcError>;

    /// The facts of one process.
    ///
    /// # Errors
    ///
    /// [`ProcError::InvalidPid`] for a pid that can never exist (checked
    /// before any read), [`ProcError::NoSuchProcess`] when it does not exist
    /// (or exited while being read), [`ProcError::PermissionDenied`],
    /// [`ProcError::Unparsable`] for a truncated or garbage `stat`,
    /// [`ProcError::Io`] for other failures (including a missing root),
    /// [`ProcError::Unsupported`] off Linux.
    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError>;

    /// One pass over the whole process table (pid, ppid, CPU ticks), used to
    /// sum process trees once per snapshot.
    ///
    /// Processes that exit during the pass are left out; processes that
    /// cannot be read are left out and counted in
    /// [`ProcessTable::unreadable`].
    ///
    /// # Errors
    ///
    /// [`ProcError::Io`] when the root cannot be listed,
    /// [`ProcError::Unsupported`] off Linux.
    fn process_table(&self) -> Result<ProcessTable, ProcError>;

    /// The facts of the process that reads them, and its virtual memory size.
    ///
    /// # Errors
    ///
    /// [`ProcError::Io`] or [`ProcError::Unparsable`] when its `stat` cannot
    /// be read; [`ProcError::Unsupported`] off Linux and by default.
    fn own_process(&self) -> Result<OwnProcess, ProcError> {
        Err(ProcError::Unsupported)
    }

    /// How many file descriptors the process that reads has open.
    ///
    /// # Errors
    ///
    /// [`ProcError::Io`] when they cannot be listed; [`ProcError::Unsupported`]
    /// off Linux and by default.
    fn own_open_fds(&self) -> Result<u64, ProcError> {
        Err(ProcError::Unsupported)
    }

    /// The soft limit on the open file descriptors of the process that reads
    /// (`RLIMIT_NOFILE`); `None` when unlimited.
    ///
    /// # Errors
    ///
    /// [`ProcError::Io`] or [`ProcError::Unparsable`] when its limits cannot
    /// be read; [`ProcError::Unsupported`] off Linux and by default.
    fn own_max_fds(&self) -> Result<Option<u64>, ProcError> {
        Err(ProcError::Unsupported)
    }
}

macro_rules! forward_proc_source {
    ($($ty:ty),*) => {$(
        impl<T: ProcSource + ?Sized> ProcSource for $ty {
            fn clk_tck(&self) -> Option<u64> {
                (**self).clk_tck()
            }
            fn boot_time(&self) -> Result<i64, ProcError> {
                (**self).boot_time()
            }
            fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
                (**self).process(pid)
            }
            fn process_table(&self) -> Result<ProcessTable, ProcError> {
                (**self).process_table()
            }
            fn own_process(&self) -> Result<OwnProcess, ProcError> {
                (**self).own_process()
            }
            fn own_open_fds(&self) -> Result<u64, ProcError> {
                (**self).own_open_fds()
            }
            fn own_max_fds(&self) -> Result<Option<u64>, ProcError> {
                (**self).own_max_fds()
            }
        }
    )*};
}

forward_proc_source!(&T, Box<T>, Arc<T>);

/// Checks that `pid` can name a process under a kernel whose `pid_max` is
/// `pid_max`: `1 <= pid < pid_max` (the kernel hands out pids up to
/// `pid_max - 1`) and the pid fits the kernel's `int`.
///
/// ```
/// use vitals_proc::validate_pid;
/// assert_eq!(validate_pid(300, 32768).ok(), Some(300));
/// assert!(validate_pid(32768, 32768).is_err());
/// assert!(validate_pid(0, 32768).is_err());
/// ```
///
/// # Errors
///
/// [`ProcError::InvalidPid`] otherwise.
pub fn validate_pid(pid: i64, pid_max: i64) -> Result<i32, ProcError> {
    if pid <= 0 || pid >= pid_max {
        return Err(ProcError::InvalidPid { pid });
    }
    i32::try_from(pid).map_err(|_| ProcError::InvalidPid { pid })
}

/// Whole seconds the process has existed at `now_unix_s`, given the system
/// `boot_time` (seconds since the epoch), the process's `start_ticks` (clock
/// ticks since boot) and `clk_tck` (ticks per second). Fractions of a second
/// are dropped.
///
/// A process cannot be younger than 0 s: when the clocks disagree (a
/// `now_unix_s` before the computed start, as after a wall-clock step) the
/// result is clamped to `Some(0)`. `None` when `clk_tck` is 0 or a step of
/// the computation overflows.
///
/// ```
/// use vitals_proc::proc_age_s;
/// // Started 2.5 s after boot, now is boot + 10 s.
/// assert_eq!(proc_age_s(1_010, 1_000, 250, 100), Some(7));
/// assert_eq!(proc_age_s(1_000, 1_000, 250, 100), Some(0));
/// assert_eq!(proc_age_s(1_010, 1_000, 250, 0), None);
/// ```
#[must_use]
pub fn proc_age_s(now_unix_s: i64, boot_time: i64, start_ticks: u64, clk_tck: u64) -> Option<i64> {
    if clk_tck == 0 {
        return None;
    }
    let clk_tck = i128::from(clk_tck);
    let since_boot = i128::from(now_unix_s).checked_sub(i128::from(boot_time))?;
    let age_ticks = since_boot
        .checked_mul(clk_tck)?
        .checked_sub(i128::from(start_ticks))?;
    i64::try_from(age_ticks.div_euclid(clk_tck).max(0)).ok()
}

/// The [`ProcSource`] of a Linux `/proc`, read through the `procfs` crate.
///
/// The root is configurable so that tests and `vitals snapshot --proc-root`
/// can point it at a fake tree laid out like `/proc`. It reads
/// `<root>/<pid>/stat` for process facts, `<root>/stat` for `btime` and
/// `<root>/sys/kernel/pid_max` for pid validation (falling back to
/// [`PID_MAX_LIMIT`] when that file is missing or unreadable). Clock ticks
/// and the page size are those of the running system.
///
/// For the process that reads ([`own_process`](ProcSource::own_process),
/// [`own_open_fds`](ProcSource::own_open_fds),
/// [`own_max_fds`](ProcSource::own_max_fds)) it reads `<root>/self/stat`,
/// `<root>/self/fd` and `<root>/self/limits`, or under `<root>/<own pid>`
/// when `<root>/self` does not exist (a fake tree may have either).
///
/// On other platforms this type still exists, and every read answers
/// [`ProcError::Unsupported`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxProc {
    root: PathBuf,
}

impl LinuxProc {
    /// The default root, `/proc`.
    pub const DEFAULT_ROOT: &'static str = "/proc";

    /// Reads the system's `/proc`.
    #[must_use]
    pub fn new() -> Self {
        Self::with_root(Self::DEFAULT_ROOT)
    }

    /// Reads a tree laid out like `/proc` at `root`. A root that does not
    /// exist is not an error here: every read then answers
    /// [`ProcError::Io`] naming the root.
    #[must_use]
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory read.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `pid_max` used to validate pids: `<root>/sys/kernel/pid_max`, or
    /// [`PID_MAX_LIMIT`] when it cannot be read or parsed (and off Linux).
    #[must_use]
    pub fn pid_max(&self) -> i64 {
        imp::pid_max(&self.root)
    }
}

impl Default for LinuxProc {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcSource for LinuxProc {
    fn clk_tck(&self) -> Option<u64> {
        imp::clk_tck()
    }

    fn boot_time(&self) -> Result<i64, ProcError> {
        imp::boot_time(&self.root)
    }

    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        imp::process(&self.root, pid)
    }

    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        imp::process_table(&self.root)
    }

    fn own_process(&self) -> Result<OwnProcess, ProcError> {
        imp::own_process(&self.root)
    }

    fn own_open_fds(&self) -> Result<u64, ProcError> {
        imp::own_open_fds(&self.root)
    }

    fn own_max_fds(&self) -> Result<Option<u64>, ProcError> {
        imp::own_max_fds(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(now: i64, boot: i64, start_ticks: u64, clk_tck: u64) -> Option<i64> {
        proc_age_s(now, boot, start_ticks, clk_tck)
    }

    #[test]
    fn ages() {
        assert_eq!(age(1_010, 1_000, 250, 100), Some(7));
        assert_eq!(age(1_010, 1_000, 0, 100), Some(10));
        assert_eq!(age(1_010, 1_000, 1_000, 100), Some(0));
        assert_eq!(age(1_010, 1_000, 999, 100), Some(0));
        // Younger than 0 s clamps.
        assert_eq!(age(1_000, 1_000, 250, 100), Some(0));
        assert_eq!(age(0, 1_000, 0, 100), Some(0));
        assert_eq!(age(i64::MIN, i64::MAX, u64::MAX, 100), Some(0));
        // Invalid or overflowing input.
        assert_eq!(age(1_010, 1_000, 250, 0), None);
        assert_eq!(age(i64::MAX, i64::MIN, 0, 1), None);
        assert_eq!(age(i64::MAX, i64::MIN, 0, u64::MAX), None);
        // Largest representable results.
        assert_eq!(age(i64::MAX, 0, 0, u64::MAX), Some(i64::MAX));
        assert_eq!(age(i64::MAX, 0, u64::MAX, 1), Some(0));
        assert_eq!(age(i64::MAX, 0, 1, 1), Some(i64::MAX - 1));
    }

    #[test]
    fn pid_validation() {
        let check = |pid: i64, max: i64, ok: bool| {
            let got = validate_pid(pid, max);
            assert_eq!(got.is_ok(), ok, "validate_pid({pid}, {max}) = {got:?}");
        };
        check(1, 32_768, true);
        check(32_767, 32_768, true);
        check(32_768, 32_768, false);
        check(0, 32_768, false);
        check(-1, 32_768, false);
        check(i64::MIN, 32_768, false);
        check(i64::MAX, i64::MAX, false);
        check(i64::from(i32::MAX), i64::MAX, true);
        check(i64::from(i32::MAX) + 1, i64::MAX, false);
        check(1, 1, false);
    }

    #[test]
    fn linux_proc_roots() {
        assert_eq!(LinuxProc::new().root(), Path::new("/proc"));
        assert_eq!(LinuxProc::default(), LinuxProc::new());
        assert_eq!(LinuxProc::with_root("/tmp/x").root(), Path::new("/tmp/x"));
    }
}
