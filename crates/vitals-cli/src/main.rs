//! `vitals`: the command-line tool of the vitals collector framework.
//!
//! Each subcommand lives in its own module (`snapshot`, `gen_db`, `serve`,
//! `demo`, `doctor`, `bench`, `watch`, `rules`); [`stack`] holds what they
//! share (store + `/proc` + assembler + app, the `--listen` address, the HTTP
//! server), and [`lifecycle`] the signals and the bounded shutdown of a
//! serving command. Adding a command is a new module plus one [`Command`]
//! variant and its arm in [`run`].

mod bench;
mod child;
mod demo;
mod disable_file;
mod doctor;
mod error;
mod gen_db;
mod lifecycle;
mod logging;
mod rules;
mod serve;
mod server_section;
mod snapshot;
mod stack;
mod token;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub(crate) use error::CliError;

/// Raw-signal snapshots of an orchestrator's own state, from its SQLite
/// database and /proc.
///
/// Logs go to stderr; `RUST_LOG` sets their level (default `info` for
/// `serve` and `demo`, `error` for the one-shot commands, which report
/// problems themselves). Logging never blocks or fails a command: a line
/// stderr cannot take (a pipe nobody reads, a broken pipe, a full disk) is
/// dropped and counted.
#[derive(Debug, Parser)]
#[command(name = "vitals", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one snapshot of a database as contract-v1 JSON.
    Snapshot(snapshot::Args),
    /// Serve GET /metrics (JSON, OpenMetrics, Prometheus text) over HTTP.
    Serve(serve::Args),
    /// Run a live demo: a simulated orchestrator with real agent processes, served at /metrics.
    Demo(demo::Args),
    /// Write a deterministic reference-schema database (tests, benchmarks).
    ///
    /// Its running jobs get valid pids (below this machine's pid_max) that no
    /// process held when it was written: they point at no live process,
    /// unless --pid gives the pids of live ones.
    GenDb(gen_db::Args),
    /// Check a database against what the standard sections need (read-only).
    Doctor(doctor::Args),
    /// Measure what a snapshot of a database costs: warm, cold and the bare queries.
    Bench(bench::BenchArgs),
    /// Watch a vitals endpoint live: CPU, verdicts, queue trend, spend rate.
    Watch(watch::Args),
    /// Print Prometheus alerting and recording rules for the chosen thresholds.
    Rules(rules::Args),
    /// A demo agent process (used by `vitals demo`).
    #[command(name = "__agent", hide = true)]
    Agent(child::Args),
}

impl Command {
    /// The log level when `RUST_LOG` is not set.
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Serve(_) | Command::Demo(_) => "info",
            Command::Snapshot(_)
            | Command::GenDb(_)
            | Command::Doctor(_)
            | Command::Bench(_)
            | Command::Watch(_)
            | Command::Rules(_)
            | Command::Agent(_) => "error",
        }
    }
}

/// How long an exiting process waits for its last log lines to be written.
const LOG_FLUSH: Duration = Duration::from_millis(300);
/// How long an exiting process waits for blocking work still running (a
/// read hung on a FIFO): `serve` has already waited for it within its grace
/// period and logged what it abandons.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stderr = logging::init(cli.command.default_log_filter());
    let code = match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let line = format!("vitals: error: {}\n", vitals::core::error_chain(&error));
            stderr.line(line.as_bytes());
            ExitCode::from(error.exit_code())
        }
    };
    stderr.flush(LOG_FLUSH);
    code
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Snapshot(args) => block_on(snapshot::run(&args)),
        Command::Serve(args) => block_on(serve::run(&args)),
        Command::Demo(args) => block_on(demo::run(&args)),
        Command::GenDb(args) => gen_db::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Bench(args) => block_on(async { bench::run(args).await.map_err(CliError::from) }),
        Command::Watch(args) => block_on(watch::run(&args)),
        Command::Rules(args) => rules::run(&args),
        Command::Agent(args) => child::run(&args),
    }
}

/// Runs an async command on a multi-threaded runtime; blocking work still
/// running when it returns is abandoned after [`RUNTIME_SHUTDOWN`].
fn block_on(command: impl Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(command);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}
