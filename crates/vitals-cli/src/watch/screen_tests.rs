//! Screen tests: recorded snapshot pairs (`testdata/<case>.jsonl`, one
//! body per line) drawn on ratatui's `TestBackend`
//! and compared with golden screens (`testdata/<case>.screen`; refresh them
//! with `UPDATE_EXPECT=1 cargo test -p vitals-cli`).

use std::path::PathBuf;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use vitals_client::{Body, FetchError, Thresholds};

use super::model::{SortKey, Watcher};
use super::{plain, ui};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 24;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/watch/testdata")
        .join(name)
}

/// A watcher that has taken in the recorded bodies of `case`, in order.
fn watcher(case: &str) -> Watcher {
    // One body per line, parsed from its own text (key order included).
    let text = std::fs::read_to_string(testdata(&format!("{case}.jsonl"))).unwrap();
    let mut watcher = Watcher::new(
        "http://127.0.0.1:9464/metrics".to_owned(),
        Thresholds::default(),
        Duration::from_secs(2),
    );
    for line in text.lines() {
        let body = Body::from_json(line).unwrap();
        watcher.observe(Ok(body), Duration::from_secs(2));
    }
    watcher
}

fn render(watcher: &Watcher) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    terminal.draw(|frame| ui::draw(frame, watcher)).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compares `actual` with the golden file `name` (or writes it).
fn golden(name: &str, actual: &str) {
    let path = testdata(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_EXPECT=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "screen {name} differs (UPDATE_EXPECT=1 refreshes it):\n{actual}"
    );
}

/// The foreground colour of the first cell of `word` on the screen.
fn colour_of(buffer: &Buffer, word: &str) -> Color {
    let area = buffer.area;
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        if let Some(byte) = line.find(word) {
            let x = u16::try_from(line[..byte].chars().count()).unwrap();
            return buffer[(x, y)].fg;
        }
    }
    panic!("{word:?} is not on the screen:\n{}", text(buffer));
}

/// Draws `case`, checks it against its golden screen and returns the buffer.
fn check(case: &str) -> Buffer {
    let watcher = watcher(case);
    let buffer = render(&watcher);
    golden(&format!("{case}.screen"), &text(&buffer));
    buffer
}

#[test]
fn busy_agents_and_a_busy_child() {
    let buffer = check("busy");
    assert_eq!(colour_of(&buffer, "busy "), Color::Green);
}

#[test]
fn a_quiet_agent_over_the_window_is_stuck() {
    let buffer = check("stuck");
    assert_eq!(colour_of(&buffer, "stuck"), Color::Yellow);
}

#[test]
fn dead_and_zombie_agents_are_gone() {
    let buffer = check("gone");
    assert_eq!(colour_of(&buffer, "gone "), Color::Red);
    assert_eq!(colour_of(&buffer, "degraded"), Color::Yellow);
}

#[test]
fn a_reused_pid_is_gone_without_a_rate() {
    let watcher = watcher("reused_pid");
    let row = &watcher.report.as_ref().unwrap().agents[0];
    assert_eq!(row.delta.cpu, None);
    check("reused_pid");
}

#[test]
fn a_disabled_collector_is_a_status_line() {
    let buffer = check("disabled");
    assert!(text(&buffer).contains("collector disabled (kill switch off)"));
    assert_eq!(colour_of(&buffer, "collector disabled"), Color::Yellow);
}

#[test]
fn degraded_and_failed_sections_are_shown() {
    let buffer = check("degraded");
    assert_eq!(colour_of(&buffer, "error"), Color::Red);
    assert_eq!(colour_of(&buffer, "timeout"), Color::Red);
    let screen = text(&buffer);
    assert!(
        screen.contains("queue error (missing_table): no such table: jobs"),
        "{screen}"
    );
}

#[test]
fn a_failed_fetch_is_a_status_line_and_the_last_data_stays() {
    let mut watcher = watcher("busy");
    for _ in 0..3 {
        watcher.observe(
            Err(FetchError::other("connection refused", None)),
            Duration::from_secs(8),
        );
    }
    let buffer = render(&watcher);
    let screen = text(&buffer);
    assert!(
        screen.contains("other (retrying in 8s, 3 failure(s) in a row): connection refused"),
        "{screen}"
    );
    assert_eq!(colour_of(&buffer, "other (retrying"), Color::Red);
    assert!(
        screen.contains("implementer"),
        "the last sample stays: {screen}"
    );
}

#[test]
fn sort_help_pause_and_small_terminals() {
    let mut watcher = watcher("busy");
    watcher.sort = SortKey::Cpu;
    watcher.paused = true;
    let screen = text(&render(&watcher));
    assert!(screen.contains("sorted by cpu"), "{screen}");
    assert!(screen.contains("PAUSED"), "{screen}");
    assert!(screen.contains("p resume"), "{screen}");
    watcher.help = true;
    let screen = text(&render(&watcher));
    assert!(screen.contains("cycle the sort"), "{screen}");
    // A tiny or resized terminal draws without panicking.
    for (w, h) in [(1, 1), (20, 5), (40, 12), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|frame| ui::draw(frame, &watcher)).unwrap();
    }
}

#[test]
fn the_plain_table_of_a_busy_pair() {
    let watcher = watcher("busy");
    let mut out = Vec::new();
    plain::write_table(&mut out, &watcher).unwrap();
    golden("busy.table", &String::from_utf8(out).unwrap());
}
