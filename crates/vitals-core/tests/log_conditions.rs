#![expect(clippy::unwrap_used, reason = "tests")]
//! What goes wrong is logged when it appears, when it clears, and at most
//! once per reminder interval in between, never on every scrape; the
//! per-scrape detail stays in the `collector` section and at debug level.
//! Log lines are captured in-process; time is Tokio's paused clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tracing_subscriber::filter::LevelFilter;
use vitals_core::{Assembler, Collect, Fallback, Section, SectionError, SectionValue, async_trait};

/// Log lines written by the subscriber of [`capture`].
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    /// The lines written since the last call, each with its level.
    fn take(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| l.trim_start().to_owned())
            .collect()
    }
}

/// Every log line of this thread, at debug level and above, into a buffer.
fn capture() -> (Buffer, tracing::subscriber::DefaultGuard) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(LevelFilter::DEBUG)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

fn at(level: &str, lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with(level))
        .cloned()
        .collect()
}

/// A section of agents whose pids in `dead` cannot be read, and that fails
/// as a whole while `broken` is set.
#[derive(Debug, Default)]
struct Agents {
    dead: Mutex<Vec<usize>>,
    broken: AtomicBool,
}

/// The section, sharing its state with the test.
#[derive(Debug)]
struct Shared(Arc<Agents>);

#[async_trait]
impl Section for Shared {
    fn key(&self) -> &str {
        "agents"
    }
    fn fallback(&self) -> Fallback {
        Fallback::EmptyArray
    }
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        if self.0.broken.load(Ordering::SeqCst) {
            return Err(SectionError::msg("missing_table", "no such table: jobs"));
        }
        let dead = self.0.dead.lock().unwrap().clone();
        for i in dead {
            cx.record_field_failure(
                &format!("agents[{i}].proc"),
                "no_such_process",
                &format!("job {i}, pid {}: no such process", 1000 + i),
            );
        }
        Ok(json!([]).into())
    }
}

#[tokio::test(start_paused = true)]
async fn conditions_are_logged_when_they_appear_persist_and_clear() {
    let (logs, _guard) = capture();
    let agents = Arc::new(Agents {
        dead: Mutex::new((0..8).collect()),
        ..Agents::default()
    });
    let assembler = Assembler::builder()
        .section(Shared(Arc::clone(&agents)))
        .build()
        .unwrap();
    let scrape_every = Duration::from_secs(5);

    assembler.build().await;
    let first = logs.take();
    let warnings = at("WARN", &first);
    assert_eq!(warnings.len(), 8, "{first:#?}");
    assert!(
        warnings[0].contains("vitals field degraded"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("field=\"agents[0].proc\""),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("kind=\"no_such_process\""),
        "{}",
        warnings[0]
    );
    for scrape in 2..=100 {
        tokio::time::advance(scrape_every).await;
        let snapshot = assembler.build().await;
        // The detail is still in the snapshot and at debug level ...
        assert_eq!(snapshot.report("agents").unwrap().fields.len(), 8);
        let lines = logs.take();
        assert_eq!(at("DEBUG", &lines).len(), 8, "scrape {scrape}");
        // ... and nothing above it.
        assert_eq!(lines.len(), 8, "scrape {scrape}: {lines:#?}");
    }

    // Ten minutes after the first line: one reminder per condition, with
    // the occurrences since.
    tokio::time::advance(Duration::from_secs(600) - scrape_every * 99).await;
    assembler.build().await;
    let reminders = at("WARN", &logs.take());
    assert_eq!(reminders.len(), 8, "{reminders:#?}");
    assert!(
        reminders[0].contains("vitals condition persists"),
        "{}",
        reminders[0]
    );
    assert!(reminders[0].contains("occurrences=100"), "{}", reminders[0]);
    assert!(reminders[0].contains("lasted_s=600"), "{}", reminders[0]);

    // A pid comes back: one info line.
    agents.dead.lock().unwrap().retain(|i| *i != 3);
    assembler.build().await;
    let lines = logs.take();
    assert_eq!(at("WARN", &lines), Vec::<String>::new());
    let cleared = at("INFO", &lines);
    assert_eq!(cleared.len(), 1, "{lines:#?}");
    assert!(
        cleared[0].contains("vitals condition cleared"),
        "{}",
        cleared[0]
    );
    assert!(
        cleared[0].contains("field=\"agents[3].proc\""),
        "{}",
        cleared[0]
    );

    // The section fails as a whole: one warning, however long it lasts; its
    // fields are neither seen nor cleared meanwhile.
    agents.broken.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        assembler.build().await;
    }
    let lines = logs.take();
    let warnings = at("WARN", &lines);
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("vitals section failed"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("kind=\"missing_table\""),
        "{}",
        warnings[0]
    );
    assert_eq!(at("INFO", &lines), Vec::<String>::new());
    agents.broken.store(false, Ordering::SeqCst);
    assembler.build().await;
    let lines = logs.take();
    assert_eq!(
        at("WARN", &lines),
        Vec::<String>::new(),
        "the dead pids are still known"
    );
    let cleared = at("INFO", &lines);
    assert_eq!(cleared.len(), 1, "{lines:#?}");
    assert!(
        cleared[0].contains("kind=\"missing_table\""),
        "{}",
        cleared[0]
    );
}

#[tokio::test(start_paused = true)]
async fn the_reminder_interval_is_the_builders() {
    let (logs, _guard) = capture();
    let agents = Arc::new(Agents {
        dead: Mutex::new(vec![0]),
        ..Agents::default()
    });
    let assembler = Assembler::builder()
        .section(Shared(Arc::clone(&agents)))
        .log_reminder(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut reminders = Vec::new();
    for _ in 0..=9 {
        assembler.build().await;
        reminders.extend(at("WARN", &logs.take()));
        tokio::time::advance(Duration::from_secs(10)).await;
    }
    // At 0 s the condition appears; at 30, 60 and 90 s a reminder counts
    // the three scrapes since the previous line.
    assert_eq!(reminders.len(), 4, "{reminders:#?}");
    assert!(
        reminders[1..].iter().all(|r| r.contains("occurrences=3")),
        "{reminders:#?}"
    );
}
