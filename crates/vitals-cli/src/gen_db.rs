//! `vitals gen-db`: a deterministic reference-schema database.

use std::io::Write as _;
use std::path::PathBuf;

use chrono::Utc;
use vitals::proc::{LinuxProc, ProcSource};
use vitals_refdb::{GenOptions, Scale, Shape};

use crate::CliError;

/// Write a deterministic reference-schema database (`tasks`, `jobs`,
/// `agent_runs`) for tests, benchmarks and `vitals doctor`.
///
/// Sizes come from --scale, then any explicit size overrides the scale's,
/// then --history-factor multiplies the history. Never overwrites a file.
///
/// Running jobs get valid pids (below this machine's pid_max) that no
/// process held when the database was written, counting down from
/// pid_max - 1: they point at no live process, so a snapshot shows each
/// agent's process as `no_such_process`, unless --pid gives the pids of
/// live processes (an agent you started) to the first running jobs.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A preset size: S = 1,000 tasks / 10,000 jobs / 10,000 runs / 8 running,
    /// M = 10x S with 16 running, L = 100x S with 32 running.
    #[arg(long, value_name = "S|M|L", default_value = "S", value_parser = parse_scale)]
    scale: Scale,

    /// The database file to create; it must not exist.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,

    /// Seed of the random streams: the same seed and sizes give the same rows.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// Leave out the four reference indexes (to exercise `vitals doctor`).
    #[arg(long)]
    no_indexes: bool,

    /// Leave the database in rollback-journal mode instead of WAL.
    #[arg(long)]
    no_wal: bool,

    /// All tasks, active and terminal (overrides the scale's).
    #[arg(long, value_name = "N")]
    tasks: Option<u64>,

    /// Tasks in an active stage; the rest are done or cancelled (overrides the scale's).
    #[arg(long, value_name = "N")]
    active_tasks: Option<u64>,

    /// All jobs, of every status (overrides the scale's).
    #[arg(long, value_name = "N")]
    jobs: Option<u64>,

    /// All agent_runs rows (overrides the scale's).
    #[arg(long, value_name = "N")]
    runs: Option<u64>,

    /// Jobs with status running, each with a pid (of no live process, unless
    /// given with --pid) and an unfinished run (overrides the scale's).
    #[arg(long, value_name = "N")]
    running: Option<u64>,

    /// Jobs with status queued (overrides the scale's).
    #[arg(long, value_name = "N")]
    queued: Option<u64>,

    /// The same active work with K times the history (terminal tasks, jobs
    /// and their runs), applied after the sizes above.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    history_factor: Option<u64>,

    /// Give the first running jobs these pids, in job id order (repeat the
    /// option, or separate pids with commas): live processes to observe,
    /// such as agents you started. Each must be below this machine's
    /// pid_max; the other running jobs point at no live process.
    #[arg(long = "pid", value_name = "PID", value_delimiter = ',')]
    pids: Vec<i64>,
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    s.parse::<Scale>().map_err(|e| e.to_string())
}

impl Args {
    /// The sizes the flags ask for.
    fn shape(&self) -> Shape {
        let preset = Shape::of(self.scale);
        let shape = Shape {
            tasks: self.tasks.unwrap_or(preset.tasks),
            active_tasks: self.active_tasks.unwrap_or(preset.active_tasks),
            jobs: self.jobs.unwrap_or(preset.jobs),
            runs: self.runs.unwrap_or(preset.runs),
            running: self.running.unwrap_or(preset.running),
            queued: self.queued.unwrap_or(preset.queued),
        };
        match self.history_factor {
            Some(factor) => shape.with_history(factor),
            None => shape,
        }
    }
}

/// The pids of the running jobs, in job id order: `given`, then the pids
/// below `pid_max`, counting down, that no process (nor thread: a thread's
/// id is a pid too) holds now, as `proc` sees it. Where processes cannot
/// be read (not Linux), the pids below `pid_max` are taken unchecked.
fn running_pids(
    proc: &dyn ProcSource,
    pid_max: i64,
    given: &[i64],
    running: u64,
) -> Result<Vec<i64>, CliError> {
    let invalid = |reason: String| Err(CliError::Pids { reason });
    if let Some(pid) = given.iter().find(|&&pid| pid < 1 || pid >= pid_max) {
        return invalid(format!(
            "--pid {pid} is not a valid pid on this machine (1 <= pid < pid_max {pid_max})"
        ));
    }
    let running = usize::try_from(running).unwrap_or(usize::MAX);
    if given.len() > running {
        return invalid(format!(
            "{} pids given for {running} running jobs",
            given.len()
        ));
    }
    let mut pids = given.to_vec();
    let mut next = pid_max - 1;
    while pids.len() < running {
        if next < 1 {
            return invalid(format!(
                "fewer than {running} pids below pid_max {pid_max} are free"
            ));
        }
        let free = match proc.process(next) {
            Ok(_) => false,
            Err(error) => matches!(error.kind(), "no_such_process" | "unsupported"),
        };
        if free && !given.contains(&next) {
            pids.push(next);
        }
        next -= 1;
    }
    Ok(pids)
}

/// Runs `vitals gen-db`.
pub(crate) fn run(args: &Args) -> Result<(), CliError> {
    let shape = args.shape();
    shape.validate().map_err(CliError::Shape)?;
    let proc = LinuxProc::new();
    let pid_max = proc.pid_max();
    let pids = running_pids(&proc, pid_max, &args.pids, shape.running)?;
    // `generate` refuses too; checking first gives the plain message (and
    // `symlink_metadata` also catches a dangling symlink).
    if args.out.symlink_metadata().is_ok() {
        return Err(CliError::OutputExists {
            path: args.out.clone(),
        });
    }
    let opts = GenOptions {
        shape,
        seed: args.seed,
        indexes: !args.no_indexes,
        now: Utc::now(),
        wal: !args.no_wal,
        pid_max,
        pids,
    };
    let summary = vitals_refdb::generate(&args.out, &opts).map_err(|source| match source {
        vitals_refdb::RefDbError::AlreadyExists { path } => CliError::OutputExists { path },
        source => CliError::Generate {
            path: args.out.clone(),
            source,
        },
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {}: {} tasks ({} active), {} jobs ({} running, {} queued, {} done, {} failed, {} cancelled), \
         {} runs ({} unfinished), indexes {}, {} journal, seed {}, running pids [{}] (pid_max {}), in {:.2} s",
        args.out.display(),
        summary.tasks,
        summary.active_tasks,
        summary.jobs,
        summary.running,
        summary.queued,
        summary.done,
        summary.failed,
        summary.cancelled,
        summary.runs,
        summary.unfinished_runs,
        if opts.indexes { "yes" } else { "no" },
        if opts.wal { "wal" } else { "rollback" },
        args.seed,
        opts.pids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        opts.pid_max,
        summary.elapsed.as_secs_f64(),
    )
    .map_err(CliError::Stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals::proc::ProcError;
    use vitals::proc::fake::FakeProc;

    #[test]
    fn running_jobs_get_the_given_pids_then_free_ones_below_pid_max() {
        let proc = FakeProc::new()
            .with_pid_max(100)
            .with_simple_process(99, 1, 0)
            .with_simple_process(97, 1, 0)
            .with_error(96, ProcError::PermissionDenied { pid: 96 });
        // 99 and 97 are live, 96 is there but unreadable, 95 is given.
        let pids = running_pids(&proc, 100, &[95, 42], 5).unwrap();
        assert_eq!(pids, [95, 42, 98, 94, 93]);
        assert_eq!(running_pids(&proc, 100, &[], 0).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn pids_that_cannot_be_given_are_usage_errors() {
        let proc = FakeProc::new().with_pid_max(10);
        for (given, running) in [(&[10_i64][..], 3), (&[0][..], 3), (&[1, 2][..], 1)] {
            let error = running_pids(&proc, 10, given, running).unwrap_err();
            assert!(matches!(error, CliError::Pids { .. }), "{error:?}");
            assert_eq!(error.exit_code(), 2);
        }
        // Nine pids below 10, one given: eight free ones at most.
        let error = running_pids(&proc, 10, &[5], 10).unwrap_err();
        assert!(error.to_string().contains("fewer than 10 pids"), "{error}");
    }
}
