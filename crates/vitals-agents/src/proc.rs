//! Reading process facts for the agents of one snapshot, off the async threads.
//!
//! The process table and the boot time are read once per snapshot and kept
//! in the snapshot's scratch space; each agent then costs one read of its
//! own `stat` and one lookup in the table.

use std::sync::Arc;

use vitals_core::{Collect, ErrorInfo, FieldFailure};
use vitals_proc::{ProcError, ProcSource, ProcessInfo, ProcessTable, proc_age_s};

use crate::fields::{self, PROC, PROC_AGE_S, TREE};

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

fn read_view(source: &Arc<dyn ProcSource>) -> ProcView {
    ProcView {
        source: address(source),
        table: source
            .process_table()
            .map_err(|e| proc_failure("cannot read the process table", &e)),
        boot_time: source
            .boot_time()
            .map_err(|e| proc_failure("cannot read the boot time", &e)),
    }
}

async fn read_view_blocking(source: &Arc<dyn ProcSource>) -> Arc<ProcView> {
    let moved = Arc::clone(source);
    match tokio::task::spawn_blocking(move || read_view(&moved)).await {
        Ok(view) => Arc::new(view),
        Err(error) => {
            let failure = panic_failure("reading the process table", error);
            Arc::new(ProcView {
                source: address(source),
                table: Err(failure.clone()),
                boot_time: Err(failure),
            })
        }
    }
}

/// The snapshot's view, read at most once per snapshot (and source).
async fn view(cx: &Collect, source: &Arc<dyn ProcSource>) -> Arc<ProcView> {
    let memo = cx
        .scratch()
        .get_or_init(|| async { ProcViewMemo(read_view_blocking(source).await) })
        .await;
    if memo.0.source == address(source) {
        memo.0
    } else {
        read_view_blocking(source).await
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

/// Reads the process fields of every agent.
pub(crate) async fn read(
    cx: &Collect,
    source: &Arc<dyn ProcSource>,
    lookups: Vec<Lookup>,
    clk_tck: Option<u64>,
) -> Readings {
    let count = lookups.len();
    let live = lookups.iter().any(|l| l.pid.is_some_and(|pid| pid > 0));
    // No agent with a pid that could exist: no walk over /proc at all.
    let view = if live {
        Some(view(cx, source).await)
    } else {
        None
    };
    let now_unix = cx.now().map(|now| now.timestamp());
    let moved = Arc::clone(source);
    let task = tokio::task::spawn_blocking(move || {
        read_agents(&*moved, view.as_deref(), &lookups, now_unix, clk_tck)
    });
    match task.await {
        Ok(readings) => readings,
        Err(error) => Readings {
            agents: vec![ProcFields::failed("panic"); count],
            failures: vec![FieldFailure::new(
                fields::every_entry(PROC),
                panic_failure("reading processes", error),
            )],
        },
    }
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
    source: &dyn ProcSource,
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
        let info = match source.process(pid) {
            Ok(info) => info,
            Err(error) => {
                readings.failures.push(FieldFailure::new(
                    fields::entry(i, PROC),
                    proc_failure(&who(lookup, pid), &error),
                ));
                readings.agents.push(ProcFields::failed(error.kind()));
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
