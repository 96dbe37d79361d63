//! The CLI's error type and its exit codes.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use vitals::BuildError;
use vitals::http::ConfigError;
use vitals::sqlite::SqliteError;
use vitals_refdb::RefDbError;

use crate::bench::BenchError;
use crate::rules::RulesCliError;
use crate::watch::WatchError;

/// Everything a `vitals` command can fail with. Degraded sections are not
/// errors: a snapshot always succeeds.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),

    /// The signal handlers (SIGINT, SIGTERM) could not be installed.
    #[error("cannot install the signal handlers")]
    Signals(#[source] io::Error),

    /// The built-in section set was refused by the assembler.
    #[error("cannot assemble the built-in sections")]
    Assemble(#[source] BuildError),

    /// The endpoint configuration was refused.
    #[error("invalid endpoint configuration")]
    Endpoint(#[source] ConfigError),

    /// The token file could not be read.
    #[error("cannot read the token file {}", path.display())]
    TokenFile {
        /// The file given with `--token-file`.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },

    /// The token file is not a regular file (a FIFO would block the start).
    #[error("the token file {} is {what}; it must be a regular file", path.display())]
    TokenFileNotRegular {
        /// The file given with `--token-file`.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },

    /// The token file's content is not a usable token.
    #[error("unusable token in {}", path.display())]
    Token {
        /// The file given with `--token-file`.
        path: PathBuf,
        /// What is wrong with the token.
        #[source]
        source: ConfigError,
    },

    /// A non-loopback address without a token and without `--allow-unauthenticated`.
    #[error(
        "refusing to serve on the non-loopback address {addr} without authentication: \
         pass --token-file FILE, or --allow-unauthenticated to let anyone who can reach it read the snapshot"
    )]
    Unauthenticated {
        /// The refused address.
        addr: SocketAddr,
    },

    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address given with `--listen`.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },

    /// Writing the result to stdout failed.
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),

    /// `gen-db --out` names an existing file.
    #[error("refusing to overwrite existing file {}", path.display())]
    OutputExists {
        /// The file given with `--out`.
        path: PathBuf,
    },

    /// The requested database sizes contradict each other.
    #[error("invalid database sizes")]
    Shape(#[source] RefDbError),

    /// `gen-db --pid` names pids that cannot be given to the running jobs,
    /// or too few pids are free.
    #[error("invalid pids: {reason}")]
    Pids {
        /// What is wrong.
        reason: String,
    },

    /// Generating the database failed.
    #[error("cannot generate the database {}", path.display())]
    Generate {
        /// The file given with `--out`.
        path: PathBuf,
        /// What failed.
        #[source]
        source: RefDbError,
    },

    /// A demo resource (temporary directory, thread) could not be created.
    #[error("cannot {what}")]
    DemoSetup {
        /// What the demo was doing.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// A demo agent process could not be started.
    #[error("cannot start the demo agent {agent}")]
    Spawn {
        /// The agent's name.
        agent: &'static str,
        /// Why spawning failed.
        #[source]
        source: io::Error,
    },

    /// The simulated orchestrator failed.
    #[error("the simulated orchestrator failed")]
    Simulator(#[source] RefDbError),

    /// `snapshot`: the database file cannot be read as a database at all.
    #[error("cannot read {} as a database ({kind}): {message}", path.display())]
    NotADatabase {
        /// The file given with `--db`.
        path: PathBuf,
        /// The store's error kind (`no_database`, `empty_database`,
        /// `not_a_database`, `not_a_regular_file`).
        kind: String,
        /// The store's message.
        message: String,
    },

    /// `snapshot`: sections failed (their fallback values were printed).
    #[error("section(s) failed: {sections} (see the warnings above)")]
    SectionsFailed {
        /// The failed sections' keys, comma-separated.
        sections: String,
    },

    /// `doctor` could not open the database at all.
    #[error("cannot examine {}", path.display())]
    Doctor {
        /// The file given with `--db`.
        path: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: SqliteError,
    },

    /// `doctor` found things to fix (its report lists them).
    #[error("{count} thing(s) need attention (see the report above)")]
    NeedsAttention {
        /// How many.
        count: usize,
    },

    /// `bench` could not measure.
    #[error("cannot benchmark")]
    Bench(#[from] BenchError),

    /// `watch` could not watch (its own exit codes: see `watch::Args`).
    #[error("cannot watch")]
    Watch(#[from] WatchError),

    /// `rules` could not make the rules from its flags.
    #[error(transparent)]
    Rules(#[from] RulesCliError),
}

impl CliError {
    /// 2 for errors the user fixes in the command line or its files (like
    /// clap's usage errors), 1 for failures at run time.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Endpoint(_)
            | CliError::TokenFile { .. }
            | CliError::TokenFileNotRegular { .. }
            | CliError::Token { .. }
            | CliError::Unauthenticated { .. }
            | CliError::OutputExists { .. }
            | CliError::NotADatabase { .. }
            | CliError::Pids { .. }
            | CliError::Shape(_)
            | CliError::Rules(_) => 2,
            CliError::Runtime(_)
            | CliError::Signals(_)
            | CliError::Assemble(_)
            | CliError::Bind { .. }
            | CliError::Stdout(_)
            | CliError::Generate { .. }
            | CliError::DemoSetup { .. }
            | CliError::Spawn { .. }
            | CliError::Simulator(_)
            | CliError::Doctor { .. }
            | CliError::SectionsFailed { .. }
            | CliError::NeedsAttention { .. }
            | CliError::Bench(_) => 1,
            CliError::Watch(error) => error.exit_code(),
        }
    }
}
