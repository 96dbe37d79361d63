//! `vitals doctor`: is this database ready for the standard sections?

use std::io::Write as _;
use std::path::PathBuf;

use vitals::sqlite::doctor;

use crate::CliError;

/// Check an orchestrator database against what the standard sections need:
/// tables and columns, the reference indexes, each per-scrape query's plan
/// and time, and the journal mode. Exits 0 when all is well, 1 when
/// something needs attention. Never writes to the database.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The orchestrator's SQLite database, opened read-only.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
}

/// Runs `vitals doctor`.
pub(crate) fn run(args: &Args) -> Result<(), CliError> {
    let report = doctor::diagnose(&args.db).map_err(|source| CliError::Doctor {
        path: args.db.clone(),
        source,
    })?;
    let mut out = std::io::stdout().lock();
    write!(out, "{report}")
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)?;
    match report.problems().len() {
        0 => Ok(()),
        count => Err(CliError::NeedsAttention { count }),
    }
}
