//! The full-screen view: a fetch task, an input thread and the draw loop.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{mpsc, watch};
use vitals_client::{Body, Fetch, FetchError};

use super::model::{Watcher, backoff};
use super::term::{self, TerminalGuard};
use super::{WatchError, ui};
use crate::CliError;
use crate::stack;

/// How often the input thread checks whether it should stop.
const INPUT_POLL: Duration = Duration::from_millis(100);

/// What the draw loop reacts to.
#[derive(Debug)]
enum Message {
    /// A key was pressed.
    Key(KeyCode, KeyModifiers),
    /// The terminal was resized (the next draw uses the new size).
    Resize,
    /// A fetch ended; the next one is in `retry_in`.
    Sample(Result<Body, FetchError>, Duration),
    /// Reading the terminal failed.
    InputFailed(io::Error),
}

/// Runs the view until `q`, Ctrl-C, SIGINT or SIGTERM.
pub(super) async fn run(fetcher: Arc<dyn Fetch>, mut watcher: Watcher) -> Result<(), CliError> {
    let shutdown = stack::stop_signal()?;
    let guard = TerminalGuard::enter(term::Stdout::new()).map_err(WatchError::Terminal)?;
    term::install_panic_hook(&guard);
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).map_err(WatchError::Terminal)?;

    let (tx, mut rx) = mpsc::channel(64);
    let (pause_tx, pause_rx) = watch::channel(false);
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), Arc::clone(&stop)).map_err(WatchError::Terminal)?;
    let sampler = tokio::spawn(sample(fetcher, watcher.interval, tx, pause_rx));
    tokio::pin!(shutdown);

    let result = loop {
        if let Err(error) = terminal.draw(|frame| ui::draw(frame, &watcher)) {
            break Err(WatchError::Terminal(error));
        }
        let message = tokio::select! {
            message = rx.recv() => message,
            _ = &mut shutdown => break Ok(()),
        };
        match message {
            Some(Message::Sample(result, retry_in)) => watcher.observe(result, retry_in),
            Some(Message::Key(code, modifiers)) => {
                if !handle_key(&mut watcher, code, modifiers, &pause_tx) {
                    break Ok(());
                }
            }
            Some(Message::Resize) => {}
            Some(Message::InputFailed(error)) => break Err(WatchError::Terminal(error)),
            None => break Ok(()),
        }
    };

    sampler.abort();
    stop.store(true, Ordering::Relaxed);
    drop(terminal);
    guard.restore();
    // The input thread sees `stop` within INPUT_POLL.
    let _ = input.join();
    result.map_err(CliError::from)
}

/// Applies a key; `false` to quit.
fn handle_key(
    watcher: &mut Watcher,
    code: KeyCode,
    modifiers: KeyModifiers,
    pause: &watch::Sender<bool>,
) -> bool {
    match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => return false,
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => return false,
        KeyCode::Char('s') => watcher.sort = watcher.sort.next(),
        KeyCode::Char('p') => {
            watcher.paused = !watcher.paused;
            let _ = pause.send(watcher.paused);
        }
        KeyCode::Char('?' | 'h') => watcher.help = !watcher.help,
        _ => {}
    }
    true
}

/// Reads terminal events on a thread of its own until `stop`.
fn spawn_input(
    tx: mpsc::Sender<Message>,
    stop: Arc<AtomicBool>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("vitals-watch-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let message = match event::poll(INPUT_POLL) {
                    Ok(false) => continue,
                    Ok(true) => match event::read() {
                        Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                            Message::Key(key.code, key.modifiers)
                        }
                        Ok(Event::Resize(..)) => Message::Resize,
                        Ok(_) => continue,
                        Err(error) => Message::InputFailed(error),
                    },
                    Err(error) => Message::InputFailed(error),
                };
                let failed = matches!(message, Message::InputFailed(_));
                if tx.blocking_send(message).is_err() || failed {
                    return;
                }
            }
        })
}

/// Fetches every interval (backing off after failures and while the
/// collector is disabled), waiting while paused.
async fn sample(
    fetcher: Arc<dyn Fetch>,
    interval: Duration,
    tx: mpsc::Sender<Message>,
    mut paused: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        let result = fetcher.fetch().await;
        failures = match &result {
            Ok(Body::Snapshot(_)) => 0,
            _ => failures.saturating_add(1),
        };
        let delay = backoff(interval, failures.saturating_sub(1));
        if tx.send(Message::Sample(result, delay)).await.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}
