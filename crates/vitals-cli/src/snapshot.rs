//! `vitals snapshot`: one snapshot of a database, printed as JSON.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use vitals::{SectionStatus, Snapshot};

use crate::CliError;
use crate::stack::{self, StackConfig};

/// Print one contract-v1 snapshot of an orchestrator database as JSON on
/// stdout. Exits 0 even when sections degrade; each degraded or failed
/// section or field is reported on stderr as a `warning:` line.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The orchestrator's SQLite database, opened read-only.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,

    /// A directory laid out like /proc to read process facts from.
    #[arg(long, value_name = "DIR", default_value = vitals::proc::LinuxProc::DEFAULT_ROOT)]
    proc_root: PathBuf,

    /// Print compact JSON on one line instead of pretty JSON.
    #[arg(long)]
    compact: bool,

    /// The deadline of each section, in milliseconds (default 2000).
    #[arg(long, value_name = "N")]
    section_timeout_ms: Option<u64>,
}

/// Runs `vitals snapshot`.
pub(crate) async fn run(args: &Args) -> Result<(), CliError> {
    let config = StackConfig {
        db: args.db.clone(),
        proc_root: args.proc_root.clone(),
        section_timeout: args.section_timeout_ms.map(Duration::from_millis),
        min_interval: None,
        enabled: true,
        process_metrics: false,
    };
    let snapshot = stack::assembler(&config)?.build().await;
    let mut out = std::io::stdout().lock();
    if args.compact {
        writeln!(out, "{}", snapshot.to_json())
    } else {
        writeln!(out, "{}", snapshot.to_json_pretty())
    }
    .and_then(|()| out.flush())
    .map_err(CliError::Stdout)?;
    let mut err = std::io::stderr().lock();
    for line in warnings(&snapshot) {
        // A closed stderr must not turn a printed snapshot into a failure.
        let _ = writeln!(err, "{line}");
    }
    Ok(())
}

/// One `warning:` line per failed section and per degraded field.
fn warnings(snapshot: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for report in snapshot.reports() {
        if report.status == SectionStatus::Ok {
            continue;
        }
        let key = &report.key;
        let status = report.status.as_str();
        match &report.error {
            Some(error) => lines.push(format!(
                "warning: section {key}: {status} ({}): {}",
                error.kind, error.message
            )),
            None if report.fields.is_empty() => {
                lines.push(format!("warning: section {key}: {status}"));
            }
            None => {}
        }
        for field in &report.fields {
            lines.push(format!(
                "warning: section {key}: field {} {status} ({}): {}",
                field.field, field.error.kind, field.error.message
            ));
        }
    }
    lines
}
