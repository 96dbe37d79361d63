//! `vitals watch`: a live, top-like view of a vitals endpoint (or of a
//! database, in process), built on `vitals-client` alone.
//!
//! The collector publishes raw counters; the watcher turns two snapshots
//! into rates and verdicts ([`vitals_client::Delta`],
//! [`vitals_client::Thresholds`]). Modes:
//!
//! * a terminal on stdout: the full-screen view ([`tui`]);
//! * `--once`, or stdout not a terminal: two samples one interval apart, one
//!   plain table ([`plain`]), and an exit code that says what went wrong;
//! * `--json`: one JSON line per delta, forever (or once with `--once`).
//!
//! [`model`] is the state all of them share; [`fetch`] builds the fetcher
//! (HTTP, or the collector in process for `--db`).

mod fetch;
mod model;
mod plain;
#[cfg(test)]
mod screen_tests;
mod term;
mod tui;
mod ui;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use vitals_client::{Body, FetchError, ParseError, ThresholdError, Thresholds};

use crate::CliError;

/// Watch a vitals endpoint live: CPU per agent and its process tree, verdicts
/// (busy, idle, stuck, gone, new), the queue's trend and the spend rate.
///
/// With --once, or when stdout is not a terminal, it takes two samples one
/// interval apart, prints one table and exits with a code that says what
/// went wrong ([`EXIT_CODES`], shown by `--help`; [`WatchError::exit_code`]).
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// The endpoint, e.g. http://127.0.0.1:9464/metrics (no path: /metrics).
    #[arg(
        value_name = "URL",
        required_unless_present = "db",
        conflicts_with = "db"
    )]
    url: Option<String>,

    /// Watch a database in process instead, through the collector itself
    /// (read-only, like `vitals snapshot`).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Time between samples, e.g. 2s, 500ms, 1m.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_interval)]
    interval: Duration,

    /// A file holding the bearer token to send; surrounding whitespace is trimmed.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// How long one fetch may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    timeout: Duration,

    /// Two samples, one table (or one JSON line with --json), then exit.
    #[arg(long)]
    once: bool,

    /// Print each delta as one JSON line instead of a table.
    #[arg(long)]
    json: bool,

    /// Set a threshold, NAME=VALUE (repeatable): stuck_cpu=0.02,
    /// stuck_window=5m, stuck_min_runtime=15m, gone_for=5m, backlog_for=15m,
    /// retry_attempts=3, cost_per_hour=2.5, pid_reuse_slack=2s, down_for=2m,
    /// breaker_open_for=5m, section_failing_for=5m.
    #[arg(long = "threshold", value_name = "NAME=VALUE")]
    thresholds: Vec<String>,

    /// With --db: a directory laid out like /proc to read process facts from.
    #[arg(long, value_name = "DIR", default_value = vitals::proc::LinuxProc::DEFAULT_ROOT, requires = "db")]
    proc_root: PathBuf,
}

/// The exit codes of `--once` (and of a `--json` or non-terminal run that
/// stops early), as `--help` shows them.
const EXIT_CODES: &str = "\
Keys: q quit, s cycle the sort, p pause, ? help.

Exit codes (--once, or stdout not a terminal):
  0  ok
  1  anything else (terminal i/o, ...)
  2  bad command line, URL or token file
  3  the target is unreachable or did not answer in time
  4  unauthorized (HTTP 401 or 403): missing or wrong --token-file
  5  another HTTP status than 200
  6  not a vitals snapshot (not JSON, not an envelope, wrong shape, too long)
  7  unsupported schema_version
  8  the collector is disabled (kill switch off)";

fn parse_interval(text: &str) -> Result<Duration, String> {
    match vitals_client::duration::parse(text) {
        Ok(d) if d.is_zero() => Err("must be more than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Why `vitals watch` stopped without a result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WatchError {
    /// The target cannot be used as given (a bad URL, an unsupported scheme).
    #[error("cannot watch this target")]
    Target(#[source] FetchError),

    /// The token file is empty.
    #[error("the token file {} is empty", path.display())]
    EmptyToken {
        /// The file given with `--token-file`.
        path: PathBuf,
    },

    /// A `--threshold` that does not parse.
    #[error("invalid --threshold")]
    Threshold(#[source] ThresholdError),

    /// A sample could not be fetched (with `--once`).
    #[error("cannot fetch a snapshot")]
    Fetch(#[source] FetchError),

    /// The collector answers with the kill switch's body (with `--once`).
    #[error("the collector is disabled (kill switch off): it publishes no snapshot")]
    Disabled,

    /// The terminal could not be set up, drawn or read.
    #[error("terminal i/o failed")]
    Terminal(#[source] std::io::Error),
}

impl WatchError {
    /// The exit code (see [`Args`]).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            WatchError::Target(_) | WatchError::EmptyToken { .. } | WatchError::Threshold(_) => 2,
            WatchError::Fetch(error) => fetch_exit_code(error),
            WatchError::Disabled => 8,
            WatchError::Terminal(_) => 1,
        }
    }
}

/// The exit code of a failed fetch.
fn fetch_exit_code(error: &FetchError) -> u8 {
    match error {
        FetchError::Unreachable { .. } | FetchError::Timeout { .. } => 3,
        FetchError::Unauthorized { .. } => 4,
        FetchError::Status { .. } => 5,
        FetchError::Body { .. }
        | FetchError::TooLarge { .. }
        | FetchError::Parse(ParseError::NotJson(_) | ParseError::NotAnEnvelope { .. })
        | FetchError::Parse(ParseError::Shape(_)) => 6,
        FetchError::Parse(ParseError::UnsupportedVersion { .. }) => 7,
        FetchError::InvalidUrl { .. } | FetchError::UnsupportedScheme { .. } => 2,
        _ => 1,
    }
}

/// Runs `vitals watch`.
pub(crate) async fn run(args: &Args) -> Result<(), CliError> {
    let mut thresholds = Thresholds::default();
    for assignment in &args.thresholds {
        thresholds
            .set_assignment(assignment)
            .map_err(WatchError::Threshold)?;
    }
    let fetcher = fetch::fetcher(args)?;
    let watcher = model::Watcher::new(fetcher.target().to_owned(), thresholds, args.interval);
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if args.json {
        plain::json_lines(fetcher, watcher, args.once).await
    } else if args.once || !terminal {
        plain::once(fetcher, watcher).await
    } else {
        tui::run(fetcher, watcher).await
    }
}

/// The body of a sample, for `--once`: a disabled collector is a failure there.
fn require_snapshot(body: Body) -> Result<vitals_client::Snapshot, WatchError> {
    body.into_snapshot().ok_or(WatchError::Disabled)
}
