//! `vitals`: the command-line tool of the vitals collector framework.
//!
//! Each subcommand lives in its own module (`snapshot`, `gen_db`, `serve`,
//! `demo`, `doctor`, `bench`); [`stack`] holds what they share (store + `/proc` + assembler +
//! router, and the HTTP server loop). Adding a command is a new module plus
//! one [`Command`] variant and its arm in [`run`].

mod bench;
mod child;
mod demo;
mod doctor;
mod error;
mod gen_db;
mod serve;
mod snapshot;
mod stack;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

pub(crate) use error::CliError;

/// Raw-signal snapshots of an orchestrator's own state, from its SQLite
/// database and /proc.
///
/// Logs go to stderr; `RUST_LOG` sets their level (default `info` for
/// `serve` and `demo`, `error` for the one-shot commands, which report
/// problems themselves).
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
    /// Serve GET /metrics (JSON and OpenMetrics) over HTTP.
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
            | Command::Agent(_) => "error",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.command.default_log_filter());
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Nothing better to do when stderr itself is gone.
            let _ = writeln!(
                std::io::stderr(),
                "vitals: error: {}",
                vitals::core::error_chain(&error)
            );
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Snapshot(args) => block_on(snapshot::run(&args)),
        Command::Serve(args) => block_on(serve::run(&args)),
        Command::Demo(args) => block_on(demo::run(&args)),
        Command::GenDb(args) => gen_db::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Bench(args) => block_on(async { bench::run(args).await.map_err(CliError::from) }),
        Command::Agent(args) => child::run(&args),
    }
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(command: impl Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?
        .block_on(command)
}

fn init_tracing(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Nothing else installs a subscriber; if something did, keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
