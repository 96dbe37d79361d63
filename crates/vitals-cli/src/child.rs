//! `vitals __agent`: a stand-in agent process for `vitals demo` (hidden).
//!
//! The demo re-executes its own binary rather than a shell, so it works
//! wherever `vitals` runs. Every mode exits on its own as soon as its parent
//! is gone (it is re-parented), so even a demo killed with SIGKILL leaves no
//! agent behind for long.

use std::hint::black_box;
use std::os::unix::process::parent_id;
use std::time::{Duration, Instant};

use crate::CliError;

/// How often an agent checks that its parent is still there.
const PARENT_CHECK: Duration = Duration::from_millis(200);

/// What the agent does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Burn CPU in a loop (a busy agent).
    Busy,
    /// Sleep (a stuck candidate: alive, no CPU).
    Idle,
}

/// A demo agent process.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What the agent does.
    #[arg(long, value_enum)]
    mode: Mode,

    /// Exit after this many milliseconds (default: run until the parent is gone).
    #[arg(long, value_name = "MS")]
    exit_after_ms: Option<u64>,
}

/// Runs the agent until its time is up or its parent is gone.
pub(crate) fn run(args: &Args) -> Result<(), CliError> {
    let parent = parent_id();
    let started = Instant::now();
    let time_is_up = |now: Instant| {
        args.exit_after_ms
            .is_some_and(|ms| now - started >= Duration::from_millis(ms))
    };
    let mut next_check = started;
    let mut spin: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= next_check {
            if parent_id() != parent || time_is_up(now) {
                return Ok(());
            }
            next_check = now + PARENT_CHECK;
            if args.mode == Mode::Idle {
                std::thread::sleep(PARENT_CHECK);
            }
        }
        if args.mode == Mode::Busy {
            for _ in 0..100_000 {
                spin = black_box(spin.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
    }
}
