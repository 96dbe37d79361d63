//! The life of a serving process: the signals it handles and a shutdown
//! that ends within its grace period whatever is still running.
//!
//! * SIGINT, SIGTERM: stop accepting, let requests in flight finish, wait
//!   for section runs still in flight (a read hung on a FIFO, a long query),
//!   all within the grace period from the signal; then name what is
//!   abandoned and return. A second SIGINT or SIGTERM stops waiting at once.
//!   `main` then gives blocking work a last moment and exits: the process
//!   ends within the grace period plus about half a second.
//! * SIGHUP: calls the command's reload hook (`vitals serve` re-reads its
//!   token file); the default action (killing the process with status 129,
//!   no drain, no log line) never happens.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;
use vitals::Assembler;
use vitals::http::Server;

use crate::CliError;

/// The signals a serving process handles. The handlers are installed when
/// [`Signals::install`] returns, so a signal that arrives before the server
/// runs is not lost (and does not kill the process with the default action).
#[derive(Debug)]
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

/// What [`Signals::next`] received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// SIGINT or SIGTERM (the name).
    Stop(&'static str),
    /// SIGHUP.
    Hangup,
}

impl Signals {
    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
    pub(crate) fn install() -> Result<Self, CliError> {
        let install = |kind| signal(kind).map_err(CliError::Signals);
        Ok(Self {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: install(SignalKind::hangup())?,
        })
    }

    /// The next signal received.
    pub(crate) async fn next(&mut self) -> Received {
        tokio::select! {
            _ = self.interrupt.recv() => Received::Stop("SIGINT"),
            _ = self.terminate.recv() => Received::Stop("SIGTERM"),
            _ = self.hangup.recv() => Received::Hangup,
        }
    }
}

/// Runs `server` until SIGINT or SIGTERM (SIGHUP calls `on_hangup`), then
/// shuts down within `grace` from the signal: the server drains (its own
/// grace period should be `grace`), and section runs still in flight in
/// `assembler` are waited for with what is left of it. Whatever is still
/// running then is named in a warning and abandoned.
pub(crate) async fn serve_until_signalled(
    server: Server,
    assembler: Option<&Assembler>,
    grace: Duration,
    mut signals: Signals,
    mut on_hangup: impl FnMut(),
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let which = loop {
        tokio::select! {
            received = signals.next() => match received {
                Received::Stop(name) => break name,
                Received::Hangup => on_hangup(),
            },
            // The server never stops by itself; if its task ended (a panic), stop too.
            result = &mut running => {
                if let Err(error) = result {
                    tracing::error!(%error, "the http server task ended unexpectedly");
                }
                return;
            }
        }
    };
    let deadline = Instant::now() + grace;
    tracing::info!(
        signal = which,
        grace_ms = millis(grace),
        "shutting down: draining connections"
    );
    let _ = stop.send(());
    let server_task = running.abort_handle();

    // Drain, then let section runs in flight end, all before the deadline;
    // a second stop signal gives up waiting at once.
    let wait = async {
        let _ = (&mut running).await;
        if let Some(assembler) = assembler {
            let _ = tokio::time::timeout_at(deadline, assembler.settled()).await;
        }
    };
    tokio::pin!(wait);
    let hurried = loop {
        tokio::select! {
            () = &mut wait => break None,
            () = tokio::time::sleep_until(deadline + Duration::from_millis(100)) => break None,
            received = signals.next() => match received {
                Received::Stop(name) => break Some(name),
                Received::Hangup => on_hangup(),
            },
        }
    };
    if let Some(name) = hurried {
        tracing::warn!(
            signal = name,
            "second signal: stopping without waiting any longer"
        );
    }
    let abandoned: Vec<&str> = assembler.map(Assembler::in_flight).unwrap_or_default();
    if !abandoned.is_empty() {
        tracing::warn!(
            sections = ?abandoned,
            "shutdown: abandoning section runs still in flight (blocking work that did not end within the grace period): {}",
            abandoned.join(", ")
        );
    }
    // Connections still open after a second signal are closed here.
    server_task.abort();
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
