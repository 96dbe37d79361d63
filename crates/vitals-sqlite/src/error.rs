//! The error of the SQLite store, with a short kind for the meta section.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;
use vitals_core::SourceError;

/// Why the SQLite store could not answer a request.
///
/// Every variant keeps its cause. [`SourceError::kind`] gives the short code
/// shown in the snapshot's meta section (`collector.sections.<key>.error.kind`
/// or a degraded field's `kind`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// There is no file at the database path (yet). Kind `no_database`.
    #[error("no database file at {}", path.display())]
    NoDatabase {
        /// The configured path.
        path: PathBuf,
        /// The error of `stat`.
        #[source]
        source: io::Error,
    },
    /// The file exists but has zero bytes. SQLite would treat it as an empty
    /// database (and might delete a `-wal` next to it), so the store does not
    /// open it. Kind `empty_database`.
    #[error("the database file {} is empty (zero bytes)", path.display())]
    EmptyDatabase {
        /// The configured path.
        path: PathBuf,
    },
    /// The file is not an SQLite database (bad header, or SQLite said so).
    /// Kind `not_a_database`.
    #[error("{} is not an sqlite database", path.display())]
    NotADatabase {
        /// The configured path.
        path: PathBuf,
        /// SQLite's own error, when it was SQLite that refused the file.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// The database path, or the `-journal`, `-wal` or `-shm` next to it,
    /// is not a regular file: a FIFO, a directory, a socket, a device, or
    /// (for the three files next to it, which SQLite opens without following
    /// links) a symbolic link. SQLite would block for ever opening a FIFO,
    /// or fail without saying which file, so the store checks before SQLite
    /// opens anything. Kind `not_a_regular_file`.
    #[error("{} is {what}, not a regular file", path.display())]
    NotARegularFile {
        /// The offending file.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a directory", ...).
        what: &'static str,
    },
    /// The process runs as root and a `-journal`, `-wal` or `-shm` next to
    /// the database belongs to another owner than the database file. SQLite
    /// running as root changes the owner of each of these files it opens to
    /// the database's (its unix VFS calls `fchown` when `geteuid()` is 0,
    /// read-only connections included), which could lock the writer out of
    /// its own files; so the store does not open the database while that is
    /// so. Run the collector as the database's owner. Kind `owner_mismatch`.
    #[error(
        "{} belongs to {}:{} and the database to {}:{}; sqlite running as root would give it to the database's owner, so the store does not open the database",
        path.display(), owner.0, owner.1, database_owner.0, database_owner.1
    )]
    OwnerMismatch {
        /// The file next to the database.
        path: PathBuf,
        /// Its user and group ids.
        owner: (u32, u32),
        /// The database file's user and group ids.
        database_owner: (u32, u32),
    },
    /// The database is in WAL mode and has a `-wal` file but no `-shm` file.
    /// Reading it would need a WAL recovery that creates the `-shm` file,
    /// which a read-only collector must not do. Usually transient (a writer
    /// is opening the database). Kind `unrecovered_wal`.
    #[error("{} has a -wal file but no -shm file; reading it would create files", path.display())]
    UnrecoveredWal {
        /// The configured path.
        path: PathBuf,
    },
    /// A *hot journal* sits next to a rollback-journal database: a writer
    /// died in the middle of a transaction (killed, or its machine lost
    /// power) and left a `-journal` holding the pages to put back. Reading
    /// the database needs that rollback first, and the store, being
    /// read-only, will not do it (SQLite answers `SQLITE_READONLY_ROLLBACK`,
    /// "attempt to write a readonly database"). The next read-write open of
    /// the database (the orchestrator's, on restart) rolls it back; until
    /// then every read fails with this. Kind `hot_journal`.
    #[error(
        "{} is a hot journal (a writer died mid-transaction); a read-only collector does not roll it back, the next read-write open of the database does",
        journal.display()
    )]
    HotJournal {
        /// The `-journal` file.
        journal: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A table the query reads does not exist. Kind `missing_table`.
    #[error("no such table: {table}")]
    MissingTable {
        /// The table's name.
        table: String,
        /// SQLite's error, when SQLite reported it.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A column the query needs does not exist. Kind `missing_column`.
    #[error("no such column: {column}")]
    MissingColumn {
        /// The column, as `table.column` when known.
        column: String,
        /// SQLite's error, when SQLite reported it.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A writer held the lock longer than the busy timeout. Kind `busy`.
    #[error("the database stayed locked past the busy timeout")]
    Busy {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The request was cancelled (its section ran out of time) and its query
    /// was interrupted, or it was dropped before it started. Kind `interrupted`.
    #[error("the query was interrupted")]
    Interrupted {
        /// SQLite's error, when a running statement was interrupted.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A value the answer cannot do without has the wrong type. Kind `bad_value`.
    #[error("bad value: {what}")]
    BadValue {
        /// What was wrong, and where.
        what: String,
    },
    /// A sum or value does not fit the 64-bit integer (or finite number) the
    /// contract carries. Kind `overflow`.
    #[error("{what} overflows")]
    Overflow {
        /// What overflowed.
        what: String,
        /// SQLite's error, when SQLite detected it (`integer overflow`).
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// The database file changed while it was read without a writer present
    /// (WAL database without `-wal`, read immutable for one snapshot); the
    /// answer may be torn and was discarded. Kind `changed`.
    #[error("the database file changed while it was read")]
    Changed,
    /// An I/O error on the database path other than "not found". Kind `io`.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Any other SQLite error. Kind `sqlite`.
    #[error("sqlite error")]
    Sqlite(#[source] rusqlite::Error),
    /// The store's worker thread is gone (it could not be started, or the
    /// store is shutting down). Kind `store_closed`.
    #[error("the sqlite store is closed")]
    StoreClosed,
    /// The store's worker thread is stuck in a call that no interruption
    /// reaches (SQLite blocked opening a FIFO that appeared next to the
    /// database after the store's checks, a hung file system): it has run
    /// one request well past that request's deadline. This request was not
    /// run. The stuck worker is abandoned and a fresh one (a new thread and
    /// connection) takes the next requests, unless too many abandoned ones
    /// are still blocked. Kind `busy`.
    #[error(
        "the sqlite worker is stuck in a blocking call since {} ({:.1} s past the deadline of the request it runs); {}",
        since.format("%Y-%m-%dT%H:%M:%SZ"),
        late.as_secs_f64(),
        stuck_outcome(*replaced, *abandoned)
    )]
    WorkerStuck {
        /// When the stuck worker started the request it is blocked in.
        since: chrono::DateTime<chrono::Utc>,
        /// How far past that request's deadline it was.
        late: std::time::Duration,
        /// How many abandoned workers are still blocked.
        abandoned: usize,
        /// Whether a fresh worker now takes the requests.
        replaced: bool,
    },
    /// The worker dropped the request without an answer (a bug: it
    /// panicked while answering; the worker itself survives). Kind `no_reply`.
    #[error("the sqlite worker dropped the request without an answer")]
    NoReply,
    /// The platform is not Unix: the store reads a database file only the
    /// way that is safe on Unix (see the crate documentation,
    /// "Platforms"), so on other platforms every request, and
    /// [`crate::bench::floor_queries`] and [`crate::doctor::diagnose`],
    /// answer with this. Kind `unsupported`.
    #[error("the read-only SQLite store needs a Unix platform: {reason}")]
    Unsupported {
        /// What the store needs that the platform lacks.
        reason: &'static str,
    },
}

impl SourceError for SqliteError {
    fn kind(&self) -> &'static str {
        match self {
            Self::NoDatabase { .. } => "no_database",
            Self::EmptyDatabase { .. } => "empty_database",
            Self::NotADatabase { .. } => "not_a_database",
            Self::NotARegularFile { .. } => "not_a_regular_file",
            Self::OwnerMismatch { .. } => "owner_mismatch",
            Self::UnrecoveredWal { .. } => "unrecovered_wal",
            Self::HotJournal { .. } => "hot_journal",
            Self::MissingTable { .. } => "missing_table",
            Self::MissingColumn { .. } => "missing_column",
            // A database lock held past the busy timeout, or a worker stuck
            // in a blocking call: either way the store is busy elsewhere.
            Self::Busy { .. } | Self::WorkerStuck { .. } => "busy",
            Self::Interrupted { .. } => "interrupted",
            Self::BadValue { .. } => "bad_value",
            Self::Overflow { .. } => "overflow",
            Self::Changed => "changed",
            Self::Io { .. } => "io",
            Self::Sqlite(_) => "sqlite",
            Self::StoreClosed => "store_closed",
            Self::NoReply => "no_reply",
            Self::Unsupported { .. } => "unsupported",
        }
    }
}

/// The end of [`SqliteError::WorkerStuck`]'s message: what happens next.
fn stuck_outcome(replaced: bool, abandoned: usize) -> String {
    if replaced {
        format!(
            "a fresh worker takes the next requests ({abandoned} stuck worker(s) abandoned, still blocked)"
        )
    } else {
        format!(
            "{abandoned} abandoned stuck worker(s) are still blocked, so no fresh one is started until one returns"
        )
    }
}

impl SqliteError {
    /// Classifies an error of SQLite by its code and message. `path` is the
    /// database path, for the variants that name it.
    pub(crate) fn from_sqlite(error: rusqlite::Error, path: &std::path::Path) -> Self {
        let (code, message) = match &error {
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK =>
            {
                let mut journal = path.as_os_str().to_owned();
                journal.push("-journal");
                return Self::HotJournal {
                    journal: PathBuf::from(journal),
                    source: error,
                };
            }
            rusqlite::Error::SqliteFailure(e, msg) => {
                (Some(e.code), msg.clone().unwrap_or_default())
            }
            // A prepare error, with the statement text and the offset.
            rusqlite::Error::SqlInputError { error, msg, .. } => (Some(error.code), msg.clone()),
            _ => (None, String::new()),
        };
        match code {
            Some(ErrorCode::NotADatabase) => Self::NotADatabase {
                path: path.to_owned(),
                source: Some(error),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Self::Busy { source: error }
            }
            Some(ErrorCode::OperationInterrupted) => Self::Interrupted {
                source: Some(error),
            },
            _ => {
                if let Some(table) = message.strip_prefix("no such table: ") {
                    Self::MissingTable {
                        table: table.to_owned(),
                        source: Some(error),
                    }
                } else if let Some(column) = message.strip_prefix("no such column: ") {
                    Self::MissingColumn {
                        column: column.to_owned(),
                        source: Some(error),
                    }
                } else if message == "integer overflow" {
                    Self::Overflow {
                        what: "an integer sum".to_owned(),
                        source: Some(error),
                    }
                } else {
                    Self::Sqlite(error)
                }
            }
        }
    }
}
