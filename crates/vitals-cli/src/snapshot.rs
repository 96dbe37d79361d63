//! `vitals snapshot`: one snapshot of a database, printed as JSON.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use vitals::core::ErrorInfo;
use vitals::{SectionStatus, Snapshot};

use crate::CliError;

use crate::stack::{self, StackConfig};

/// The exit status of `vitals snapshot`, as `--help` shows it.
const EXIT_STATUS: &str = "\
The JSON is printed whatever happens; degraded or failed sections and fields are \
reported on stderr as `warning:` lines.

Exit status: 0 when every section is ok or degraded (some of its fields are null); \
1 when any section failed (error, panic, timeout, busy); 2 when --db cannot be read \
as a database at all (missing, empty, not SQLite, or not a regular file: a directory, \
a FIFO, or such a file at its -journal, -wal or -shm; the error kinds no_database, \
empty_database, not_a_database, not_a_regular_file).";

/// Print one contract-v1 snapshot of an orchestrator database as JSON on
/// stdout. The JSON is printed whatever happens; each degraded or failed
/// section or field is reported on stderr as a `warning:` line. The exit
/// status is [`EXIT_STATUS`].
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS)]
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
    drop(err);
    outcome(&snapshot, &args.db)
}

/// The error kinds of the SQLite store that mean the file is not a database
/// it can read at all (`not_a_regular_file`: the path, or its `-journal`,
/// `-wal` or `-shm`, is a directory, a FIFO, a socket or a device, which the
/// store refuses before SQLite opens anything).
const NOT_A_DATABASE: [&str; 4] = [
    "no_database",
    "empty_database",
    "not_a_database",
    "not_a_regular_file",
];

/// The exit status as an error: [`CliError::NotADatabase`] (2) when any
/// section or field failed because the file is not a readable database,
/// [`CliError::SectionsFailed`] (1) when any section failed, else success.
fn outcome(snapshot: &Snapshot, db: &std::path::Path) -> Result<(), CliError> {
    let reports = snapshot.reports();
    let errors = reports.iter().flat_map(|report| {
        let fields = report.fields.iter().map(|field| &field.error);
        report.error.iter().chain(fields)
    });
    if let Some(error) = errors
        .clone()
        .find(|error: &&ErrorInfo| NOT_A_DATABASE.contains(&error.kind.as_str()))
    {
        return Err(CliError::NotADatabase {
            path: db.to_owned(),
            kind: error.kind.clone(),
            message: error.message.clone(),
        });
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|report| {
            matches!(
                report.status,
                SectionStatus::Error
                    | SectionStatus::Panic
                    | SectionStatus::Timeout
                    | SectionStatus::Busy
            )
        })
        .map(|report| report.key.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::SectionsFailed {
            sections: failed.join(", "),
        })
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vitals::{Assembler, Collect, Fallback, Section, SectionError, SectionValue, async_trait};

    use super::*;

    /// A section whose run outlives any deadline (a read hung for good).
    #[derive(Debug)]
    struct Stuck;

    #[async_trait]
    impl Section for Stuck {
        fn key(&self) -> &str {
            "stuck"
        }

        fn fallback(&self) -> Fallback {
            Fallback::Null
        }

        async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            SectionValue::from_serialize(&0)
        }
    }

    /// The hung read of `vitals snapshot` end to end now only degrades its
    /// agent (`tests/cli.rs`); a section that times out, or is still busy
    /// with a run that did, exits 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_section_that_times_out_or_is_busy_exits_1() {
        let assembler = Assembler::builder()
            .section(Stuck)
            .default_deadline(Duration::from_millis(50))
            .build()
            .unwrap();
        let db = std::path::Path::new("unused.db");
        for status in [SectionStatus::Timeout, SectionStatus::Busy] {
            let snapshot = assembler.build().await;
            assert_eq!(snapshot.reports()[0].status, status);
            match outcome(&snapshot, db) {
                Err(error @ CliError::SectionsFailed { .. }) => {
                    assert_eq!(error.exit_code(), 1);
                    assert!(error.to_string().contains("stuck"), "{error}");
                }
                other => panic!("{status:?}: {other:?}"),
            }
        }
    }
}
