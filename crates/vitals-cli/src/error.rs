//! The CLI's error type and its exit codes.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use vitals::BuildError;
use vitals::http::ConfigError;
use vitals::sqlite::SqliteError;
use vitals_refdb::RefDbError;

use crate::bench::BenchError;

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

    /// The HTTP server stopped with an error.
    #[error("the http server failed")]
    Serve(#[source] io::Error),

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
}

impl CliError {
    /// 2 for errors the user fixes in the command line or its files (like
    /// clap's usage errors), 1 for failures at run time.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Endpoint(_)
            | CliError::TokenFile { .. }
            | CliError::Token { .. }
            | CliError::Unauthenticated { .. }
            | CliError::OutputExists { .. }
            | CliError::Pids { .. }
            | CliError::Shape(_) => 2,
            CliError::Runtime(_)
            | CliError::Signals(_)
            | CliError::Assemble(_)
            | CliError::Bind { .. }
            | CliError::Serve(_)
            | CliError::Stdout(_)
            | CliError::Generate { .. }
            | CliError::DemoSetup { .. }
            | CliError::Spawn { .. }
            | CliError::Simulator(_)
            | CliError::Doctor { .. }
            | CliError::NeedsAttention { .. }
            | CliError::Bench(_) => 1,
        }
    }
}
