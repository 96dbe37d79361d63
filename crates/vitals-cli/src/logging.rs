//! The CLI's log: `tracing` events written to stderr by a thread of their
//! own, behind a bounded queue, so that logging can never fail, panic or
//! block a request.
//!
//! `tracing-subscriber`'s fmt layer writes each event with one `write_all`
//! on the writer it is given, and reports a failed write with `eprintln!`,
//! which panics when stderr is a broken pipe: with stderr writing
//! synchronously, a scrape that logged a warning while the log reader was
//! gone got an empty reply. Here the fmt layer's writer only puts the line
//! in a queue ([`QUEUE_LINES`] lines) and never fails; the `vitals-log`
//! thread writes the lines to stderr. A line is dropped, and counted in
//! [`dropped`], when the queue is full (stderr is a pipe nobody reads, or a
//! slow terminal) or when writing it fails (a broken pipe, a full disk).
//! `vitals serve` publishes the count as `server.log_writes_dropped` in its
//! JSON and `vitals_log_writes_dropped_total` in OpenMetrics.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How many lines wait for the writer thread at most; more are dropped.
const QUEUE_LINES: usize = 1024;

/// Lines dropped since the start (queue full, write failed, no writer thread).
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Lines queued and not yet written (or dropped) by the writer thread.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// How many log lines were dropped since the process started.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Installs the `tracing` subscriber (level from `RUST_LOG`, else
/// `default_filter`) writing through the lossy stderr queue, and returns the
/// handle that [`Stderr::line`] and [`Stderr::flush`] use.
pub(crate) fn init(default_filter: &str) -> Stderr {
    let stderr = Stderr::start();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Nothing else installs a subscriber; if something did, keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stderr.clone())
        .with_ansi(io::stderr().is_terminal())
        // Our writer never fails; were it to, never `eprintln!` about it.
        .log_internal_errors(false)
        .try_init();
    stderr
}

/// The sending side of the stderr queue. Cloning is cheap.
#[derive(Debug, Clone)]
pub(crate) struct Stderr {
    queue: Option<SyncSender<Vec<u8>>>,
}

impl Stderr {
    /// Starts the writer thread. Without one (it could not be started),
    /// every line is dropped and counted.
    fn start() -> Self {
        let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
        let started = std::thread::Builder::new()
            .name("vitals-log".to_owned())
            .spawn(move || write_lines(&lines));
        Self {
            queue: started.is_ok().then_some(queue),
        }
    }

    /// Queues `bytes` for stderr, or drops and counts them; never blocks.
    pub(crate) fn line(&self, bytes: &[u8]) {
        let Some(queue) = &self.queue else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        PENDING.fetch_add(1, Ordering::AcqRel);
        match queue.try_send(bytes.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                PENDING.fetch_sub(1, Ordering::AcqRel);
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits at most `limit` for the queued lines to be written (a process
    /// about to exit calls this so that its last lines are not lost, without
    /// hanging on a stderr nobody reads). Returns whether all were written.
    pub(crate) fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while PENDING.load(Ordering::Acquire) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

/// The writer thread: one `write_all` per line; a failure drops the line.
fn write_lines(lines: &Receiver<Vec<u8>>) {
    let mut stderr = io::stderr();
    while let Ok(line) = lines.recv() {
        if stderr.write_all(&line).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the fmt layer writes one event into: it queues whatever it is given.
#[derive(Debug)]
pub(crate) struct EventWriter<'a>(&'a Stderr);

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(self)
    }
}
