//! Reading process facts for the agents of one snapshot, off the async
//! threads, each read under a budget.
//!
//! The process table and the boot time are read once per snapshot and kept
//! in the snapshot's scratch space; each agent then costs one read of its
//! own `stat` and one lookup in the table.
//!
//! Every read runs as its own blocking task, and the section waits for them
//! until a budget derived from its deadline ([`read_deadline`]): a read that
//! never returns (a process in uninterruptible sleep, a `/proc` entry that
//! blocks, a source that hangs) nulls the fields that needed it, with the
//! kind `timeout`, and every other agent keeps its values. The thread of a
//! hung read cannot be stopped; it is left to finish, and while it runs
//! that read is not started again ([`InFlight`]), so that blocked threads
//! never pile up: at most one per pid and one for the table, and at most
//! [`MAX_HUNG`] in all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinHandle;
use tokio::time::Instant;
use vitals_core::{Collect, ErrorInfo, FieldFailure};
use vitals_proc::{ProcError, ProcSource, ProcessInfo, ProcessTable, proc_age_s};

use crate::fields::{self, PROC, PROC_AGE_S, TREE};

/// The most reads of one agents section that may hang at once (their
/// threads blocked); beyond that no new read is started.
pub(crate) const MAX_HUNG: usize = 64;

/// A process source's error, with what was being read.
fn proc_failure(context: &str, error: &ProcError) -> ErrorInfo {
    ErrorInfo::new(
        error.kind(),
        format!("{context}: {}", vitals_core::error_chain(error)),
    )
}

/// A blocking task that did not return: it panicked (or was cancelled).
fn panic_failure(what: &str, error: tokio::task::JoinError) -> ErrorInfo {
    let reason = if error.is_panic() {
        vitals_core::panic_message(&*error.into_panic())
    } else {
        "the task was cancelled".to_owned()
    };
    ErrorInfo::new("panic", format!("{what} panicked: {reason}"))
}

/// The instant until which the section waits for its reads: four fifths of
/// the time left before its deadline, so that a hung read leaves the
/// section the rest to put its answer together.
pub(crate) fn read_deadline(cx: &Collect) -> Instant {
    let now = Instant::now();
    let budget = cx.remaining().saturating_mul(4) / 5;
    now.checked_add(budget).unwrap_or(now)
}

/// What a read in flight is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Read {
    /// The process table and the boot time.
    View,
    /// One process.
    Pid(i64),
}

/// The reads of one agents section still running, hung ones included: a
/// read is not started again while the previous one of the same thing runs.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    reads: Mutex<HashMap<Read, std::time::Instant>>,
}

/// Why a read was not started.
#[derive(Debug)]
enum NotStarted {
    /// The previous read of the same thing is still running, since then.
    Running(std::time::Instant),
    /// [`MAX_HUNG`] reads are running.
    TooMany,
}

impl NotStarted {
    fn failure(&self, what: &str) -> ErrorInfo {
        let message = match self {
            Self::Running(since) => format!(
                "{what}: the previous read has not returned after {} s; not started again until it does",
                since.elapsed().as_secs()
            ),
            Self::TooMany => format!(
                "{what}: {MAX_HUNG} reads of processes have not returned; no new one is started until they do"
            ),
        };
        ErrorInfo::new("timeout", message)
    }
}

/// A read marked in flight; unmarked when dropped, that is when the read
/// really ends (it is moved into the blocking task).
struct Ticket {
    in_flight: Arc<InFlight>,
    read: Read,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.in_flight
            .reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.read);
    }
}

impl InFlight {
    fn start(self: &Arc<Self>, read: Read) -> Result<Ticket, NotStarted> {
        let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = reads.get(&read) {
            return Err(NotStarted::Running(*since));
        }
        if reads.len() >= MAX_HUNG {
            return Err(NotStarted::TooMany);
        }
        reads.insert(read, std::time::Instant::now());
        Ok(Ticket {
            in_flight: Arc::clone(self),
            read,
        })
    }
}

/// A read started as a blocking task, or why it was not.
type Started<T> = Result<JoinHandle<T>, NotStarted>;

/// Runs `read` as a blocking task marked in flight, unless the previous
/// one is still running.
fn spawn_read<T: Send + 'static>(
    in_flight: &Arc<InFlight>,
    read: Read,
    work: impl FnOnce() -> T + Send + 'static,
) -> Started<T> {
    let ticket = in_flight.start(read)?;
    Ok(tokio::task::spawn_blocking(move || {
        let _ticket = ticket;
        work()
    }))
}

/// Waits for a read until `until`: its value, or why there is none.
async fn wait_read<T>(task: Started<T>, until: Instant, what: &str) -> Result<T, ErrorInfo> {
    let task = task.map_err(|not| not.failure(what))?;
    match tokio::time::timeout_at(until, task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(panic_failure(what, error)),
        Err(_elapsed) => Err(ErrorInfo::new(
            "timeout",
            format!(
                "{what}: no answer within the section's budget; the read is left to finish and not started again until it does"
            ),
        )),
    }
}

/// The process fields of one agent; `None` is `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcFields {
    pub(crate) cpu_ticks: Option<u64>,
    pub(crate) state: Option<String>,
    pub(crate) start_ticks: Option<u64>,
    pub(crate) proc_age_s: Option<i64>,
    pub(crate) threads: Option<i64>,
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) tree_cpu_ticks: Option<u64>,
    pub(crate) tree_procs: Option<u32>,
    /// How reading the process went: `ok`, `no_pid` or the error's kind.
    pub(crate) status: Option<String>,
}

impl ProcFields {
    /// No facts, and why.
    fn failed(kind: &str) -> Self {
        Self {
            status: Some(kind.to_owned()),
            ..Self::default()
        }
    }
}

/// What one snapshot reads once for all its agents.
#[derive(Debug)]
struct ProcView {
    /// The address of the source it was read from: a second agents section
    /// with another source in the same snapshot must not use this one.
    source: usize,
    table: Result<ProcessTable, ErrorInfo>,
    boot_time: Result<i64, ErrorInfo>,
}

/// The scratch entry holding the snapshot's [`ProcView`].
#[derive(Debug, Clone)]
struct ProcViewMemo(Arc<ProcView>);

fn address(source: &Arc<dyn ProcSource>) -> usize {
    Arc::as_ptr(source).cast::<()>() as usize
}

/// Reads the table and the boot time on a blocking task, until `until`.
async fn read_view_blocking(
    source: &Arc<dyn ProcSource>,
    in_flight: &Arc<InFlight>,
    until: Instant,
) -> Arc<ProcView> {
    let moved = Arc::clone(source);
    let task = spawn_read(in_flight, Read::View, move || {
        (
            moved
                .process_table()
                .map_err(|e| proc_failure("cannot read the process table", &e)),
            moved
                .boot_time()
                .map_err(|e| proc_failure("cannot read the boot time", &e)),
        )
    });
    let (table, boot_time) = match wait_read(task, until, "reading the process table").await {
        Ok(read) => read,
        Err(failure) => (Err(failure.clone()), Err(failure)),
    };
    Arc::new(ProcView {
        source: address(source),
        table,
        boot_time,
    })
}

/// The snapshot's view, read at most once per snapshot (and source).
async fn view(
    cx: &Collect,
    source: &Arc<dyn ProcSource>,
    in_flight: &Arc<InFlight>,
    until: Instant,
) -> Arc<ProcView> {
    let memo = cx
        .scratch()
        .get_or_init(|| async { ProcViewMemo(read_view_blocking(source, in_flight, until).await) })
        .await;
    if memo.0.source == address(source) {
        memo.0
    } else {
        read_view_blocking(source, in_flight, until).await
    }
}

/// The agent being looked up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup {
    pub(crate) job_id: Option<i64>,
    pub(crate) pid: Option<i64>,
}

/// Everything the section needs from `/proc` for one snapshot.
#[derive(Debug, Default)]
pub(crate) struct Readings {
    /// One entry per lookup, in order.
    pub(crate) agents: Vec<ProcFields>,
    /// Failures to record in the meta section, in a stable order: each
    /// agent's in agent order, then the snapshot-wide ones.
    pub(crate) failures: Vec<FieldFailure>,
}

/// One process's facts, or why there are none (kind, and what went wrong
/// without naming the job).
type ProcRead = Result<ProcessInfo, ErrorInfo>;

/// Reads the process fields of every agent: each distinct pid on its own
/// blocking task, the table and boot time on another, all at once, waited
/// for until [`read_deadline`].
pub(crate) async fn read(
    cx: &Collect,
    source: &Arc<dyn ProcSource>,
    in_flight: &Arc<InFlight>,
    lookups: Vec<Lookup>,
    clk_tck: Option<u64>,
) -> Readings {
    let until = read_deadline(cx);
    let mut pids: Vec<i64> = lookups.iter().filter_map(|l| l.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    // Started before the view is awaited, so that they all run at once.
    let tasks: Vec<(i64, Started<Result<ProcessInfo, ProcError>>)> = pids
        .into_iter()
        .map(|pid| {
            let moved = Arc::clone(source);
            (
                pid,
                spawn_read(in_flight, Read::Pid(pid), move || moved.process(pid)),
            )
        })
        .collect();
    let live = lookups.iter().any(|l| l.pid.is_some_and(|pid| pid > 0));
    // No agent with a pid that could exist: no walk over /proc at all.
    let view = if live {
        Some(view(cx, source, in_flight, until).await)
    } else {
        None
    };
    let mut reads: HashMap<i64, ProcRead> = HashMap::with_capacity(tasks.len());
    for (pid, task) in tasks {
        let read = match wait_read(task, until, "reading the process").await {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(error)) => Err(ErrorInfo::new(
                error.kind(),
                vitals_core::error_chain(&error),
            )),
            Err(failure) => Err(failure),
        };
        reads.insert(pid, read);
    }
    let now_unix = cx.now().map(|now| now.timestamp());
    read_agents(&reads, view.as_deref(), &lookups, now_unix, clk_tck)
}

fn who(lookup: &Lookup, pid: i64) -> String {
    match lookup.job_id {
        Some(job) => format!("job {job}, pid {pid}"),
        None => format!("job unknown, pid {pid}"),
    }
}

/// The tree sum of the agent `info`, with the agent's own ticks taken from
/// `info` rather than from the table.
///
/// The table was read before the agent's own `stat`, so a busy agent's
/// ticks in it are older than `info.cpu_ticks`: summing the table alone
/// could give a `tree_cpu_ticks` below the `cpu_ticks` printed next to it.
/// Swapping in the fresher own reading keeps `tree_cpu_ticks >= cpu_ticks`
/// and makes both come from the same read.
fn tree_cpu_ticks(table: &ProcessTable, tree_sum: u64, info: &ProcessInfo) -> u64 {
    let own_in_table = table.cpu_ticks(info.pid).unwrap_or(0);
    tree_sum
        .saturating_sub(own_in_table)
        .saturating_add(info.cpu_ticks)
}

fn read_agents(
    reads: &HashMap<i64, ProcRead>,
    view: Option<&ProcView>,
    lookups: &[Lookup],
    now_unix: Option<i64>,
    clk_tck: Option<u64>,
) -> Readings {
    let mut readings = Readings::default();
    let (mut table_needed, mut boot_needed) = (false, false);
    for (i, lookup) in lookups.iter().enumerate() {
        let Some(pid) = lookup.pid else {
            let job = lookup.job_id.map_or_else(
                || "a job with an unknown id".to_owned(),
                |j| format!("job {j}"),
            );
            readings.failures.push(FieldFailure::new(
                fields::entry(i, PROC),
                ErrorInfo::new("no_pid", format!("{job} is running with no pid")),
            ));
            readings.agents.push(ProcFields::failed("no_pid"));
            continue;
        };
        let info = match reads.get(&pid) {
            Some(Ok(info)) => info.clone(),
            Some(Err(failure)) => {
                readings.failures.push(FieldFailure::new(
                    fields::entry(i, PROC),
                    ErrorInfo::new(
                        failure.kind.clone(),
                        format!("{}: {}", who(lookup, pid), failure.message),
                    ),
                ));
                readings.agents.push(ProcFields::failed(&failure.kind));
                continue;
            }
            // Every pid of the lookups was read above.
            None => {
                readings.agents.push(ProcFields::failed("unavailable"));
                continue;
            }
        };
        let mut fields = ProcFields::failed("ok");
        fields.cpu_ticks = Some(info.cpu_ticks);
        fields.state = Some(info.state.to_string());
        fields.start_ticks = Some(info.start_ticks);
        fields.threads = Some(info.threads);
        fields.rss_bytes = Some(info.rss_bytes);

        match view.map(|v| &v.table) {
            Some(Ok(table)) => match table.tree(info.pid) {
                Some(tree) => {
                    fields.tree_cpu_ticks = Some(tree_cpu_ticks(table, tree.cpu_ticks, &info));
                    fields.tree_procs = Some(tree.procs);
                }
                None => readings.failures.push(FieldFailure::new(
                    fields::entry(i, TREE),
                    ErrorInfo::new(
                        "not_in_table",
                        format!(
                            "{}: the process is not in the process table read for this snapshot",
                            who(lookup, pid)
                        ),
                    ),
                )),
            },
            Some(Err(_)) | None => table_needed = true,
        }

        match (view.map(|v| &v.boot_time), now_unix, clk_tck) {
            (Some(Ok(boot_time)), Some(now), Some(clk_tck)) => {
                fields.proc_age_s = proc_age_s(now, *boot_time, info.start_ticks, clk_tck);
            }
            // Without a clock or clk_tck the envelope already shows it
            // (`generated_at: ""`, `clk_tck: null`): nothing to record.
            (Some(Ok(_)), _, _) => {}
            (Some(Err(_)) | None, _, _) => boot_needed = true,
        }
        readings.agents.push(fields);
    }
    // Snapshot-wide failures, recorded once and only when a field needed them.
    let global = |needed: bool, field: &str, pick: fn(&ProcView) -> Option<&ErrorInfo>| {
        if !needed {
            return None;
        }
        let failure = view.and_then(pick).cloned().unwrap_or_else(|| {
            ErrorInfo::new(
                "unavailable",
                "the process view was not read for this snapshot",
            )
        });
        Some(FieldFailure::new(fields::every_entry(field), failure))
    };
    readings
        .failures
        .extend(global(table_needed, TREE, |v| v.table.as_ref().err()));
    readings
        .failures
        .extend(global(boot_needed, PROC_AGE_S, |v| {
            v.boot_time.as_ref().err()
        }));
    readings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_in_flight_is_not_started_twice_and_hung_ones_are_bounded() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.start(Read::Pid(7)).ok();
        assert!(first.is_some());
        assert!(matches!(
            in_flight.start(Read::Pid(7)),
            Err(NotStarted::Running(_))
        ));
        drop(first);
        let tickets: Vec<Ticket> = (0..MAX_HUNG)
            .map(|i| in_flight.start(Read::Pid(i as i64)).ok().unwrap())
            .collect();
        assert!(matches!(
            in_flight.start(Read::View),
            Err(NotStarted::TooMany)
        ));
        let failure = NotStarted::TooMany.failure("reading the process table");
        assert_eq!(failure.kind, "timeout");
        drop(tickets);
        assert!(in_flight.start(Read::View).is_ok());
    }
}
