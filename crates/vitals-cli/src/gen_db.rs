//! `vitals gen-db`: a deterministic reference-schema database.

use std::io::Write as _;
use std::path::PathBuf;

use chrono::Utc;
use vitals_refdb::{GenOptions, Scale, Shape};

use crate::CliError;

/// Write a deterministic reference-schema database (`tasks`, `jobs`,
/// `agent_runs`) for tests, benchmarks and `vitals doctor`.
///
/// Sizes come from --scale, then any explicit size overrides the scale's,
/// then --history-factor multiplies the history. Never overwrites a file.
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

    /// Jobs with status running, each with a pid and an unfinished run (overrides the scale's).
    #[arg(long, value_name = "N")]
    running: Option<u64>,

    /// Jobs with status queued (overrides the scale's).
    #[arg(long, value_name = "N")]
    queued: Option<u64>,

    /// The same active work with K times the history (terminal tasks, jobs
    /// and their runs), applied after the sizes above.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    history_factor: Option<u64>,
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

/// Runs `vitals gen-db`.
pub(crate) fn run(args: &Args) -> Result<(), CliError> {
    let shape = args.shape();
    shape.validate().map_err(CliError::Shape)?;
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
         {} runs ({} unfinished), indexes {}, {} journal, seed {}, in {:.2} s",
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
        summary.elapsed.as_secs_f64(),
    )
    .map_err(CliError::Stdout)
}
