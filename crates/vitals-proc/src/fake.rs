//! An in-memory [`ProcSource`] for tests.
//!
//! [`FakeProc`] is built with `with_*` methods, and can be changed while a
//! collector holds it (behind an `Arc`) with [`FakeProc::insert`],
//! [`FakeProc::update`] and [`FakeProc::remove`], so that a test can take
//! two snapshots with ticks that moved in between, or a process that exited.
//!
//! ```
//! use std::sync::Arc;
//! use vitals_proc::fake::FakeProc;
//! use vitals_proc::{ProcError, ProcSource};
//!
//! let fake = Arc::new(
//!     FakeProc::new()
//!         .with_simple_process(10, 1, 5)
//!         .with_error(11, ProcError::PermissionDenied { pid: 11 }),
//! );
//! let source: Arc<dyn ProcSource> = fake.clone();
//! assert_eq!(source.process(10).map(|p| p.cpu_ticks).ok(), Some(5));
//!
//! fake.update(10, |p| p.cpu_ticks += 20);
//! assert_eq!(source.process(10).map(|p| p.cpu_ticks).ok(), Some(25));
//!
//! assert_eq!(source.process(11).unwrap_err().kind(), "permission_denied");
//! fake.remove(10);
//! assert_eq!(source.process(10).unwrap_err().kind(), "no_such_process");
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{
    OwnProcess, PID_MAX_LIMIT, ProcError, ProcSource, ProcessInfo, ProcessTable, validate_pid,
};

/// An in-memory [`ProcSource`]: processes, errors and clocks set by the test.
///
/// Reads behave like [`LinuxProc`](crate::LinuxProc): a pid is validated
/// against [`pid_max`](Self::with_pid_max) first ([`ProcError::InvalidPid`]),
/// then an error injected with [`with_error`](Self::with_error) is returned,
/// then the process, else [`ProcError::NoSuchProcess`].
///
/// The process that reads (the `own_*` methods) answers
/// [`ProcError::Unsupported`] until it is set with
/// [`with_own_process`](Self::with_own_process) and
/// [`with_own_fds`](Self::with_own_fds).
#[derive(Debug)]
pub struct FakeProc {
    state: Mutex<State>,
    process_reads: AtomicUsize,
    table_reads: AtomicUsize,
}

#[derive(Debug)]
struct State {
    clk_tck: Option<u64>,
    boot_time: Result<i64, ProcError>,
    pid_max: i64,
    processes: BTreeMap<i32, ProcessInfo>,
    errors: BTreeMap<i64, ProcError>,
    table_error: Option<ProcError>,
    own: Result<OwnProcess, ProcError>,
    open_fds: Result<u64, ProcError>,
    max_fds: Result<Option<u64>, ProcError>,
}

impl FakeProc {
    /// The clock ticks per second of a new fake (the usual Linux `USER_HZ`).
    pub const DEFAULT_CLK_TCK: u64 = 100;
    /// The boot time of a new fake, seconds since the epoch (2023-11-14).
    pub const DEFAULT_BOOT_TIME: i64 = 1_700_000_000;

    /// A fake with no process, [`DEFAULT_CLK_TCK`](Self::DEFAULT_CLK_TCK),
    /// [`DEFAULT_BOOT_TIME`](Self::DEFAULT_BOOT_TIME) and a `pid_max` of
    /// [`PID_MAX_LIMIT`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                clk_tck: Some(Self::DEFAULT_CLK_TCK),
                boot_time: Ok(Self::DEFAULT_BOOT_TIME),
                pid_max: PID_MAX_LIMIT,
                processes: BTreeMap::new(),
                errors: BTreeMap::new(),
                table_error: None,
                own: Err(ProcError::Unsupported),
                open_fds: Err(ProcError::Unsupported),
                max_fds: Err(ProcError::Unsupported),
            }),
            process_reads: AtomicUsize::new(0),
            table_reads: AtomicUsize::new(0),
        }
    }

    /// Sets what [`ProcSource::clk_tck`] answers.
    #[must_use]
    pub fn with_clk_tck(mut self, clk_tck: Option<u64>) -> Self {
        self.state_mut().clk_tck = clk_tck;
        self
    }

    /// Sets what [`ProcSource::boot_time`] answers.
    #[must_use]
    pub fn with_boot_time(mut self, boot_time: i64) -> Self {
        self.state_mut().boot_time = Ok(boot_time);
        self
    }

    /// Makes [`ProcSource::boot_time`] fail with `error`.
    #[must_use]
    pub fn with_boot_time_error(mut self, error: ProcError) -> Self {
        self.state_mut().boot_time = Err(error);
        self
    }

    /// Sets the `pid_max` that pids are validated against.
    #[must_use]
    pub fn with_pid_max(mut self, pid_max: i64) -> Self {
        self.state_mut().pid_max = pid_max;
        self
    }

    /// Adds (or replaces) a process.
    #[must_use]
    pub fn with_process(mut self, info: ProcessInfo) -> Self {
        self.state_mut().processes.insert(info.pid, info);
        self
    }

    /// Adds (or replaces) a sleeping, single-threaded process with the given
    /// parent and CPU ticks, started at boot, with no resident memory.
    #[must_use]
    pub fn with_simple_process(self, pid: i32, ppid: i32, cpu_ticks: u64) -> Self {
        self.with_process(simple_process(pid, ppid, cpu_ticks))
    }

    /// Makes [`ProcSource::process`] fail with `error` for `pid` (a valid
    /// pid; invalid ones fail with [`ProcError::InvalidPid`] first).
    #[must_use]
    pub fn with_error(mut self, pid: i64, error: ProcError) -> Self {
        self.state_mut().errors.insert(pid, error);
        self
    }

    /// Makes [`ProcSource::process_table`] fail with `error`.
    #[must_use]
    pub fn with_table_error(mut self, error: ProcError) -> Self {
        self.state_mut().table_error = Some(error);
        self
    }

    /// Sets what [`ProcSource::own_process`] answers.
    #[must_use]
    pub fn with_own_process(mut self, own: OwnProcess) -> Self {
        self.state_mut().own = Ok(own);
        self
    }

    /// Makes [`ProcSource::own_process`] fail with `error`.
    #[must_use]
    pub fn with_own_process_error(mut self, error: ProcError) -> Self {
        self.state_mut().own = Err(error);
        self
    }

    /// Sets what [`ProcSource::own_open_fds`] and [`ProcSource::own_max_fds`]
    /// answer (`max` `None`: unlimited).
    #[must_use]
    pub fn with_own_fds(mut self, open: u64, max: Option<u64>) -> Self {
        let state = self.state_mut();
        state.open_fds = Ok(open);
        state.max_fds = Ok(max);
        self
    }

    /// Makes [`ProcSource::own_open_fds`] and [`ProcSource::own_max_fds`]
    /// fail with `error`.
    #[must_use]
    pub fn with_own_fds_error(mut self, error: ProcError) -> Self {
        let state = self.state_mut();
        state.open_fds = Err(error.clone());
        state.max_fds = Err(error);
        self
    }

    /// Changes the process that reads while the fake is in use; `false`
    /// when it was not set.
    pub fn update_own(&self, change: impl FnOnce(&mut OwnProcess)) -> bool {
        match &mut self.state().own {
            Ok(own) => {
                change(own);
                true
            }
            Err(_) => false,
        }
    }

    /// Adds or replaces a process while the fake is in use.
    pub fn insert(&self, info: ProcessInfo) {
        self.state().processes.insert(info.pid, info);
    }

    /// Changes a process in place; `false` when there is no such process.
    pub fn update(&self, pid: i32, change: impl FnOnce(&mut ProcessInfo)) -> bool {
        match self.state().processes.get_mut(&pid) {
            Some(info) => {
                change(info);
                true
            }
            None => false,
        }
    }

    /// Removes a process (it exited and was reaped), returning it.
    pub fn remove(&self, pid: i32) -> Option<ProcessInfo> {
        self.state().processes.remove(&pid)
    }

    /// How many times [`ProcSource::process`] was called.
    #[must_use]
    pub fn process_reads(&self) -> usize {
        self.process_reads.load(Ordering::Relaxed)
    }

    /// How many times [`ProcSource::process_table`] was called: a collector
    /// should read the table once per snapshot, however many agents it has.
    #[must_use]
    pub fn table_reads(&self) -> usize {
        self.table_reads.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a test panicked while holding it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&mut self) -> &mut State {
        self.state.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for FakeProc {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcSource for FakeProc {
    fn clk_tck(&self) -> Option<u64> {
        self.state().clk_tck
    }

    fn boot_time(&self) -> Result<i64, ProcError> {
        self.state().boot_time.clone()
    }

    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        self.process_reads.fetch_add(1, Ordering::Relaxed);
        let state = self.state();
        let pid32 = validate_pid(pid, state.pid_max)?;
        if let Some(error) = state.errors.get(&pid) {
            return Err(error.clone());
        }
        state
            .processes
            .get(&pid32)
            .cloned()
            .ok_or(ProcError::NoSuchProcess { pid })
    }

    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        self.table_reads.fetch_add(1, Ordering::Relaxed);
        let state = self.state();
        if let Some(error) = &state.table_error {
            return Err(error.clone());
        }
        Ok(state
            .processes
            .values()
            .map(|info| (info.pid, info.ppid, info.cpu_ticks))
            .collect())
    }

    fn own_process(&self) -> Result<OwnProcess, ProcError> {
        self.state().own.clone()
    }

    fn own_open_fds(&self) -> Result<u64, ProcError> {
        self.state().open_fds.clone()
    }

    fn own_max_fds(&self) -> Result<Option<u64>, ProcError> {
        self.state().max_fds.clone()
    }
}

/// A sleeping, single-threaded process with the given parent and CPU ticks,
/// started at boot, with no resident memory: a starting point for
/// [`FakeProc::with_process`] when a test cares about a few fields.
///
/// ```
/// use vitals_proc::ProcessInfo;
/// use vitals_proc::fake::simple_process;
///
/// let zombie = ProcessInfo { state: 'Z', ..simple_process(7, 1, 3) };
/// assert_eq!((zombie.pid, zombie.state, zombie.threads), (7, 'Z', 1));
/// ```
#[must_use]
pub fn simple_process(pid: i32, ppid: i32, cpu_ticks: u64) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid,
        state: 'S',
        cpu_ticks,
        start_ticks: 0,
        threads: 1,
        rss_bytes: 0,
    }
}
