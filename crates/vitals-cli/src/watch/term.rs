//! Entering and leaving the full-screen terminal, whatever happens.
//!
//! [`TerminalGuard::enter`] switches the terminal to raw mode and the
//! alternate screen. It is put back by [`TerminalGuard::restore`], which
//! runs when the guard drops (a normal quit, an error, a panic unwinding
//! through the draw loop) and from the panic hook [`install_panic_hook`]
//! puts in place, *before* the panic message is printed, so the message
//! lands on the normal screen and the shell is usable. Restoring twice is
//! harmless: the first call takes the console.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// What the guard drives: raw mode and an output for escape sequences. The
/// real one is stdout; tests use a recording fake.
pub(crate) trait Console: Send {
    /// Turns raw mode on or off.
    fn raw_mode(&mut self, on: bool) -> io::Result<()>;
    /// Where escape sequences go.
    fn out(&mut self) -> &mut dyn Write;
}

/// The process's terminal.
#[derive(Debug)]
pub(crate) struct Stdout(io::Stdout);

impl Stdout {
    pub(crate) fn new() -> Self {
        Stdout(io::stdout())
    }
}

impl Console for Stdout {
    fn raw_mode(&mut self, on: bool) -> io::Result<()> {
        if on {
            enable_raw_mode()
        } else {
            disable_raw_mode()
        }
    }

    fn out(&mut self) -> &mut dyn Write {
        &mut self.0
    }
}

type Slot = Arc<Mutex<Option<Box<dyn Console>>>>;

/// Holds the terminal in full-screen mode; puts it back when dropped.
pub(crate) struct TerminalGuard {
    console: Slot,
}

impl std::fmt::Debug for TerminalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalGuard").finish_non_exhaustive()
    }
}

impl TerminalGuard {
    /// Raw mode, the alternate screen, the cursor hidden. On failure the
    /// terminal is put back before the error is returned.
    pub(crate) fn enter(console: impl Console + 'static) -> io::Result<Self> {
        let guard = TerminalGuard {
            console: Arc::new(Mutex::new(Some(Box::new(console)))),
        };
        {
            let mut slot = guard.console.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(console) = slot.as_mut() {
                console.raw_mode(true)?;
                let mut out = console.out();
                execute!(&mut out, EnterAlternateScreen, Hide)?;
            }
        }
        Ok(guard)
    }

    /// Puts the terminal back (idempotent).
    pub(crate) fn restore(&self) {
        restore(&self.console);
    }

    /// A handle for the panic hook.
    fn handle(&self) -> Slot {
        Arc::clone(&self.console)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Leaves the alternate screen, shows the cursor, leaves raw mode; every
/// step is tried even when one fails (there is nobody to tell).
fn restore(slot: &Slot) {
    // A poisoned lock still holds the console: restore it anyway.
    let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(mut console) = taken {
        let mut out = console.out();
        let _ = execute!(&mut out, LeaveAlternateScreen, Show);
        let _ = console.raw_mode(false);
        let _ = console.out().flush();
    }
}

/// Chains a panic hook that restores the terminal of `guard` before the
/// previous hook prints the panic.
pub(crate) fn install_panic_hook(guard: &TerminalGuard) {
    let slot = guard.handle();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore(&slot);
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    /// The panic hook is global: the tests that panic take turns.
    static HOOK: Mutex<()> = Mutex::new(());

    /// Records what the guard does, in order.
    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Vec<String>>>);

    struct FakeOut(Arc<Mutex<Vec<String>>>);

    impl Write for FakeOut {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct FakeConsole {
        log: Arc<Mutex<Vec<String>>>,
        out: FakeOut,
    }

    impl Console for FakeConsole {
        fn raw_mode(&mut self, on: bool) -> io::Result<()> {
            self.log.lock().unwrap().push(format!("raw {on}"));
            Ok(())
        }
        fn out(&mut self) -> &mut dyn Write {
            &mut self.out
        }
    }

    impl Fake {
        fn console(&self) -> FakeConsole {
            FakeConsole {
                log: Arc::clone(&self.0),
                out: FakeOut(Arc::clone(&self.0)),
            }
        }
        fn log(&self) -> String {
            self.0.lock().unwrap().concat()
        }
    }

    const ENTER: &str = "\x1b[?1049h";
    const LEAVE: &str = "\x1b[?1049l";
    const SHOW: &str = "\x1b[?25h";

    fn restored(log: &str) -> bool {
        let leave = log.find(LEAVE);
        let show = log.find(SHOW);
        let raw_off = log.find("raw false");
        leave.is_some() && show.is_some() && raw_off > leave
    }

    #[test]
    fn entering_and_dropping_restores_the_terminal_once() {
        let fake = Fake::default();
        let guard = TerminalGuard::enter(fake.console()).unwrap();
        let entered = fake.log();
        assert!(entered.starts_with("raw true"), "{entered:?}");
        assert!(entered.contains(ENTER), "{entered:?}");
        guard.restore();
        drop(guard);
        let log = fake.log();
        assert!(restored(&log), "{log:?}");
        assert_eq!(log.matches(LEAVE).count(), 1, "restored once: {log:?}");
    }

    #[test]
    fn a_panic_inside_the_draw_loop_restores_the_terminal() {
        let _turn = HOOK.lock().unwrap_or_else(PoisonError::into_inner);
        let fake = Fake::default();
        let mut terminal = Terminal::new(TestBackend::new(40, 10)).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _guard = TerminalGuard::enter(fake.console()).unwrap();
            for frame in 0.. {
                terminal
                    .draw(|f| {
                        assert!(frame < 2, "a bug in the draw code");
                        f.render_widget(ratatui::widgets::Paragraph::new("ok"), f.area());
                    })
                    .unwrap();
            }
        }));
        assert!(result.is_err(), "the draw loop panicked");
        let log = fake.log();
        assert!(restored(&log), "{log:?}");
    }

    #[test]
    fn the_panic_hook_restores_before_the_message_is_printed() {
        let _turn = HOOK.lock().unwrap_or_else(PoisonError::into_inner);
        let original = std::panic::take_hook();
        let fake = Fake::default();
        // Stands for the default hook, which prints the message.
        let printed = fake.clone();
        std::panic::set_hook(Box::new(move |_| {
            printed.0.lock().unwrap().push("printed".to_owned());
        }));
        let guard = TerminalGuard::enter(fake.console()).unwrap();
        install_panic_hook(&guard);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _guard = guard;
            panic!("boom");
        }));
        std::panic::set_hook(original);
        assert!(result.is_err());
        let log = fake.log();
        let printed_at = log.find("printed").unwrap();
        assert!(
            restored(&log[..printed_at]),
            "restored before printing: {log:?}"
        );
        assert_eq!(log.matches(LEAVE).count(), 1, "{log:?}");
    }
}
