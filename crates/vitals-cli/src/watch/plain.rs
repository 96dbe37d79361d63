//! Output for scripts and CI: one plain table (`--once`, or stdout not a
//! terminal) or JSON lines (`--json`).

use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;
use vitals_client::{Body, Fetch};

use super::model::{Report, Status, Watcher, backoff};
use super::{WatchError, require_snapshot, ui};
use crate::CliError;
use crate::stack;

/// Two samples one interval apart, as one table on stdout.
pub(super) async fn once(fetcher: Arc<dyn Fetch>, mut watcher: Watcher) -> Result<(), CliError> {
    two_samples(fetcher.as_ref(), &mut watcher).await?;
    let mut out = io::stdout().lock();
    write_table(&mut out, &watcher)
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Fetches two snapshots one interval apart into `watcher`.
async fn two_samples(fetcher: &dyn Fetch, watcher: &mut Watcher) -> Result<(), WatchError> {
    for i in 0..2 {
        if i > 0 {
            tokio::time::sleep(watcher.interval).await;
        }
        let body = fetcher.fetch().await.map_err(WatchError::Fetch)?;
        watcher.sample(require_snapshot(body)?);
    }
    Ok(())
}

/// The JSON line of one delta (or of a failed fetch).
#[derive(Serialize)]
struct JsonLine<'a> {
    target: &'a str,
    /// `ok`, `disabled` or `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_s: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    report: Option<&'a Report>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    kind: &'a str,
    message: &'a str,
}

fn json_line(watcher: &Watcher) -> String {
    let (status, error, retry_in) = match &watcher.status {
        Status::Ok | Status::Waiting => ("ok", None, None),
        Status::Disabled { retry_in } => ("disabled", None, Some(retry_in.as_secs_f64())),
        Status::Failed {
            kind,
            message,
            retry_in,
            ..
        } => (
            "error",
            Some(JsonError { kind, message }),
            Some(retry_in.as_secs_f64()),
        ),
    };
    let line = JsonLine {
        target: &watcher.target,
        status,
        error,
        retry_in_s: retry_in,
        report: if status == "ok" {
            watcher.report.as_ref()
        } else {
            None
        },
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// `--json`: with `once`, two samples and one line; otherwise one line per
/// delta (and per failed fetch, with backoff) until SIGINT or SIGTERM.
pub(super) async fn json_lines(
    fetcher: Arc<dyn Fetch>,
    mut watcher: Watcher,
    once: bool,
) -> Result<(), CliError> {
    if once {
        two_samples(fetcher.as_ref(), &mut watcher).await?;
        return print_line(&json_line(&watcher));
    }
    let shutdown = stack::stop_signal()?;
    tokio::pin!(shutdown);
    let mut failures: u32 = 0;
    loop {
        let result = tokio::select! {
            result = fetcher.fetch() => result,
            _ = &mut shutdown => return Ok(()),
        };
        failures = match &result {
            Ok(Body::Snapshot(_)) => 0,
            _ => failures.saturating_add(1),
        };
        let delay = backoff(watcher.interval, failures.saturating_sub(1));
        watcher.observe(result, delay);
        // The first snapshot has nothing to compare with: no line.
        if watcher.status != Status::Ok || watcher.samples > 1 {
            match print_line(&json_line(&watcher)) {
                Ok(()) => {}
                // The reader went away (`| head`): done.
                Err(CliError::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
}

fn print_line(line: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// The plain table: a header, the agents, the queue and cost lines.
pub(super) fn write_table(out: &mut impl Write, watcher: &Watcher) -> io::Result<()> {
    let Some(snapshot) = &watcher.latest else {
        return writeln!(out, "vitals watch {}: no snapshot", watcher.target);
    };
    writeln!(
        out,
        "vitals watch {}  generated_at {}  schema v{}  interval {}",
        watcher.target,
        snapshot.generated_at,
        snapshot.schema_version,
        watcher
            .report
            .as_ref()
            .and_then(|r| r.interval_s)
            .map_or_else(|| "-".to_owned(), |s| format!("{s}s"))
    )?;
    let sections: Vec<String> = ui::section_spans(snapshot)
        .into_iter()
        .map(|(key, status, _)| format!("{key} {status}"))
        .collect();
    writeln!(out, "sections: {}", sections.join(", "))?;
    let rows: Vec<[String; 9]> = watcher.rows().into_iter().map(ui::cells).collect();
    let mut widths = ui::COLUMNS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(&ui::COLUMNS.map(str::to_owned)))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    if rows.is_empty() {
        writeln!(out, "(no running agents)")?;
    }
    let queue: Vec<String> = ui::queue_lines(watcher)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    writeln!(out, "queue: {}", queue.join("; "))?;
    let cost: Vec<String> = ui::cost_lines(watcher)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    writeln!(out, "cost: {}", cost.join("; "))
}
