//! The reference orchestrator schema as code: a deterministic database
//! generator and a simulated orchestrator, for tests, benchmarks and demos.
//!
//! `vitals` reads an orchestrator's SQLite database (`tasks`, `jobs`,
//! `agent_runs`) strictly read-only, and promises that a scrape costs little
//! and grows with the *active* work rather than with history. Checking those
//! promises needs databases: small ones with exact, known contents for tests,
//! large ones (a million jobs) for benchmarks, ones without indexes for
//! `vitals doctor`, and a live one that changes while a demo scrapes it. This
//! crate makes all of them from the one reference schema
//! ([`SCHEMA_SQL`]). It is the only part of the project that writes SQL, and
//! it only writes to databases it creates: it refuses to overwrite a file.
//!
//! - [`create_schema`] creates the reference tables, with or without the four
//!   reference indexes.
//! - [`generate`] writes a database of a given [`Shape`] (or [`Scale`]
//!   preset), deterministically from a seed and a clock instant.
//! - [`Simulator`] keeps a small database alive, tick by tick, and can pin
//!   real process ids onto running jobs.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use vitals_refdb::{GenOptions, Shape, generate};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("orchestrator.db");
//! let shape = Shape { tasks: 50, active_tasks: 5, jobs: 200, runs: 220, running: 3, queued: 4 };
//! let opts = GenOptions {
//!     shape,
//!     seed: 7,
//!     indexes: true,
//!     now: Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).single().ok_or("no such time")?,
//!     wal: true,
//!     // Valid pids on a kernel with the default pid_max, counting down from 32767.
//!     pid_max: vitals_refdb::DEFAULT_PID_MAX,
//!     pids: Vec::new(),
//! };
//! let summary = generate(&path, &opts)?;
//! assert_eq!((summary.tasks, summary.jobs, summary.runs), (50, 200, 220));
//! assert_eq!((summary.running, summary.queued), (3, 4));
//!
//! // Every running job has a pid below pid_max and an unfinished latest run.
//! let conn = rusqlite::Connection::open(&path)?;
//! let unfinished: i64 = conn.query_row(
//!     "SELECT COUNT(*) FROM jobs j JOIN agent_runs r
//!        ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id)
//!      WHERE j.status = 'running' AND j.pid BETWEEN 32765 AND 32767
//!        AND r.finished_at IS NULL AND r.cost_usd IS NULL",
//!     [],
//!     |row| row.get(0),
//! )?;
//! assert_eq!(unfinished, 3);
//!
//! // The crate never overwrites a database.
//! assert!(generate(&path, &opts).is_err());
//! # Ok(())
//! # }
//! ```

mod error;
mod files;
mod generate;
mod options;
mod schema;
mod shape;
mod simulate;
mod time;
mod vocab;

pub use error::RefDbError;
pub use generate::generate;
pub use options::{DEFAULT_PID_MAX, GenOptions, Summary};
pub use schema::{INDEX_NAMES, INDEXES_SQL, SCHEMA_SQL, TABLES_SQL, create_indexes, create_schema};
pub use shape::{Scale, Shape};
pub use simulate::{Simulator, StepReport};
pub use vocab::PID_MAX_LIMIT;
