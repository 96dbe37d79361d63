//! The database file opened read-only: the checks before opening, the two
//! ways of opening it, and one read transaction at a time.
//!
//! [`Database`] is what every reader of the file goes through: the store's
//! worker (across snapshots), the background recount of the incremental
//! aggregates, [`crate::bench::floor_queries`] and [`crate::doctor::diagnose`]
//! (one private read each, [`Database::run_alone`]). So they all open the
//! file the same way (the crate documentation, "Read-only, enforced by the
//! connection", says which way and why):
//!
//! - before opening, at the start of every read, the file is checked
//!   (cheap: four `stat`s and a 100-byte read of its header through the
//!   process-wide descriptor of `descriptors.rs`): missing, not a regular
//!   file, empty, not SQLite, replaced on disk; whether the `-journal`,
//!   `-wal` and `-shm` that exist are regular files (SQLite would block on
//!   a FIFO), and, for a WAL database, whether its `-wal` and `-shm` exist;
//! - a rollback-journal database, or a WAL database a writer has open, is
//!   read through an ordinary read-only connection kept across reads
//!   ([`Mode::Locked`]); a WAL database nobody has open through an
//!   `immutable=1` connection for one read only, whose answer is discarded
//!   when the file changed meanwhile ([`Mode::Detached`]);
//! - every connection is opened by [`open::open_connection`].
//!
//! The checks need a Unix platform (`unix.rs`: device and inode, change
//! time, `pread`, and POSIX locks as the reason the descriptors are never
//! closed). Elsewhere `unsupported.rs` stands in, and every read answers
//! [`SqliteError::Unsupported`] before it opens anything.

#[cfg(unix)]
mod descriptors;
mod open;
mod sidecars;
#[cfg(unix)]
mod unix;
#[cfg(any(not(unix), test))]
mod unsupported;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::SqliteError;
use crate::stats::Stats;

use open::{Interrupts, Target, open_connection};
use sidecars::{check_owners, sidecars};
#[cfg(unix)]
use unix as platform;
#[cfg(not(unix))]
use unsupported as platform;

use platform::{Fingerprint, Identity};

/// How the current connection reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An ordinary read-only connection with SQLite's locking, kept across
    /// snapshots: a rollback-journal database, or a WAL database whose
    /// `-wal` and `-shm` exist (a writer has it open, or left them).
    Locked,
    /// A WAL database without a `-wal` file: no writer has it open, and the
    /// main file holds every committed transaction. Read through an
    /// `immutable=1` connection that lives for one snapshot only (it takes
    /// no lock and creates no file), and each answer is checked against the
    /// file's fingerprint taken when the snapshot began.
    Detached,
}

/// An open connection and how it reads the file.
struct OpenConnection {
    conn: Connection,
    mode: Mode,
    /// The file as it was when the connection was opened.
    fingerprint: Fingerprint,
}

/// The open file: the connection (if any), and the process-wide descriptor
/// the header is read through (`descriptors::descriptor`). That descriptor
/// is never closed: closing any descriptor of the database file would
/// release every POSIX lock this process holds on it, SQLite's included.
struct OpenFile {
    connection: Option<OpenConnection>,
    descriptor: Arc<File>,
    identity: Identity,
}

const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The database file at one path, opened read-only on demand: its checks,
/// its connection and its read transaction.
///
/// Owned by one thread; the cancellation flag of the request it runs is
/// installed with [`install`](Self::install).
pub(crate) struct Database {
    path: PathBuf,
    busy_timeout: Duration,
    interrupts: Arc<Interrupts>,
    stats: Arc<Stats>,
    file: Option<OpenFile>,
    /// When the current read transaction was begun.
    began: Instant,
    /// The file was closed (missing, replaced, emptied) since the last
    /// [`take_closed`](Self::take_closed).
    closed: bool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The file at `path`, nothing opened yet. Connections and read
    /// transactions are counted in `stats`.
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration, stats: Arc<Stats>) -> Self {
        Database {
            path,
            busy_timeout,
            interrupts: Arc::default(),
            stats,
            file: None,
            began: Instant::now(),
            closed: false,
        }
    }

    /// The database path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Installs the cancellation flag of the request about to run (`None`
    /// once it is done): the connection's handlers stop a statement, or a
    /// wait for a writer's lock, once it is set.
    pub(crate) fn install(&self, flag: Option<Arc<AtomicBool>>) {
        self.interrupts.install(flag);
    }

    /// Whether a connection is open.
    pub(crate) fn is_open(&self) -> bool {
        self.file.as_ref().is_some_and(|f| f.connection.is_some())
    }

    /// The open connection, if any.
    pub(crate) fn connection(&self) -> Option<&Connection> {
        self.file
            .as_ref()
            .and_then(|f| f.connection.as_ref())
            .map(|c| &c.conn)
    }

    /// When the current read transaction was begun (its point in time is at
    /// or after this instant).
    pub(crate) fn began(&self) -> Instant {
        self.began
    }

    /// Whether the file was closed (found missing, replaced or emptied, or
    /// [`close`](Self::close)d) since the last call: whatever a caller
    /// derived from earlier reads may be about another file.
    pub(crate) fn take_closed(&mut self) -> bool {
        std::mem::take(&mut self.closed)
    }

    /// Makes sure a read transaction is open on the open connection: a
    /// deferred `BEGIN`, so the transaction starts at the first `SELECT` and
    /// holds that point in time until [`end_transaction`](Self::end_transaction).
    /// Also taken again if an error rolled the transaction back.
    ///
    /// # Errors
    ///
    /// [`SqliteError::StoreClosed`] without an open connection; the error
    /// of `BEGIN`.
    pub(crate) fn begin(&mut self) -> Result<(), SqliteError> {
        let Some(open) = self.file.as_ref().and_then(|f| f.connection.as_ref()) else {
            return Err(SqliteError::StoreClosed);
        };
        if open.conn.is_autocommit() {
            self.began = Instant::now();
            open.conn
                .execute_batch("BEGIN")
                .map_err(|e| SqliteError::from_sqlite(e, &self.path))?;
            Stats::bump(&self.stats.transactions);
        }
        Ok(())
    }

    /// Whether the file changed since a detached (immutable) connection
    /// was opened on it: what it read may be torn.
    pub(crate) fn changed_while_read(&self) -> bool {
        let Some(open) = self.file.as_ref().and_then(|f| f.connection.as_ref()) else {
            return false;
        };
        if open.mode != Mode::Detached {
            return false;
        }
        let now = fs::metadata(&self.path)
            .ok()
            .and_then(|meta| platform::fingerprint(&self.path, &meta).ok());
        now != Some(open.fingerprint)
    }

    /// Ends the current read transaction, if any, and drops a detached
    /// connection (it lives for one read only).
    pub(crate) fn end_transaction(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let Some(open) = file.connection.as_ref() else {
            return;
        };
        if !open.conn.is_autocommit()
            && let Err(error) = open.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(%error, "vitals-sqlite: closing the read transaction failed; reopening");
            file.connection = None;
            return;
        }
        if open.mode == Mode::Detached {
            file.connection = None;
        }
    }

    /// Closes the connection (the file's descriptor stays in the
    /// process-wide registry).
    pub(crate) fn close(&mut self) {
        if let Some(mut file) = self.file.take() {
            file.connection = None;
            drop(file);
            self.closed = true;
        }
    }

    /// Runs `work` in a read transaction of its own, then ends that
    /// transaction; the connection stays open for the next call.
    /// Interrupted when `cancel` is set. Used by the background recount,
    /// [`crate::bench::floor_queries`] and [`crate::doctor::diagnose`].
    ///
    /// # Errors
    ///
    /// The file's checks, opening and `BEGIN`; [`SqliteError::Interrupted`]
    /// when `cancel` is set; [`SqliteError::Changed`] when a detached read
    /// saw the file change; else the error of `work`.
    pub(crate) fn run_alone<T>(
        &mut self,
        cancel: &Arc<AtomicBool>,
        work: impl FnOnce(&Connection, &Path) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        if cancel.load(Ordering::Acquire) {
            return Err(SqliteError::Interrupted { source: None });
        }
        self.install(Some(Arc::clone(cancel)));
        let out = self.read_once(work);
        self.install(None);
        self.end_transaction();
        out
    }

    fn read_once<T>(
        &mut self,
        work: impl FnOnce(&Connection, &Path) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        self.end_transaction();
        self.open()?;
        self.begin()?;
        let Some(conn) = self.connection() else {
            return Err(SqliteError::StoreClosed);
        };
        let out = work(conn, &self.path);
        if self.changed_while_read() {
            return Err(SqliteError::Changed);
        }
        out
    }

    /// Checks the file at the start of a read (cheap: four `stat`s and a
    /// 100-byte read) and opens, keeps or reopens the connection.
    ///
    /// # Errors
    ///
    /// What the checks found wrong with the file (missing, not a regular
    /// file, a `-journal`, `-wal` or `-shm` that is not a regular file,
    /// empty, not SQLite, a `-wal` without `-shm`), or the error of opening.
    pub(crate) fn open(&mut self) -> Result<(), SqliteError> {
        platform::supported()?;
        let path_meta = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(source) => {
                self.close();
                return Err(if source.kind() == io::ErrorKind::NotFound {
                    SqliteError::NoDatabase {
                        path: self.path.clone(),
                        source,
                    }
                } else {
                    SqliteError::Io {
                        path: self.path.clone(),
                        source,
                    }
                });
            }
        };
        if !path_meta.is_file() {
            self.close();
            return Err(SqliteError::NotARegularFile {
                path: self.path.clone(),
                what: platform::describe(path_meta.file_type()),
            });
        }
        let checked = sidecars(&self.path).and_then(|found| {
            check_owners(&self.path, &path_meta, &found)?;
            Ok(found)
        });
        let [_journal, wal, shm] = match checked {
            Ok(found) => found,
            Err(error) => {
                // Not closed (the file is the same), but no connection may
                // read until the next check passes: a kept one would open
                // the FIFO at its next read transaction.
                if let Some(file) = self.file.as_mut() {
                    file.connection = None;
                }
                return Err(error);
            }
        };
        let seen = platform::fingerprint(&self.path, &path_meta)?;
        if self
            .file
            .as_ref()
            .is_some_and(|f| f.identity != seen.identity())
        {
            tracing::info!(path = %self.path.display(), "vitals-sqlite: the database file was replaced; reopening");
            self.close();
        }
        if seen.size() == 0 {
            self.close();
            return Err(SqliteError::EmptyDatabase {
                path: self.path.clone(),
            });
        }
        let io_err = |source| SqliteError::Io {
            path: self.path.clone(),
            source,
        };
        let file = match self.file.take() {
            Some(file) => file,
            None => {
                let (descriptor, identity) =
                    platform::descriptor(&self.path).map_err(|source| {
                        // Replaced by something else than a file since the `stat`.
                        if source.kind() == io::ErrorKind::InvalidInput {
                            SqliteError::NotARegularFile {
                                path: self.path.clone(),
                                what: "not a regular file any more",
                            }
                        } else {
                            io_err(source)
                        }
                    })?;
                OpenFile {
                    connection: None,
                    descriptor,
                    identity,
                }
            }
        };
        let file = self.file.insert(file);
        let mut header = [0_u8; 100];
        if let Err(source) = platform::read_at(&file.descriptor, &mut header, 0) {
            file.connection = None;
            return Err(if source.kind() == io::ErrorKind::UnexpectedEof {
                SqliteError::NotADatabase {
                    path: self.path.clone(),
                    source: None,
                }
            } else {
                SqliteError::Io {
                    path: self.path.clone(),
                    source,
                }
            });
        }
        if !header.starts_with(HEADER_MAGIC) {
            file.connection = None;
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                source: None,
            });
        }
        let mode = if header[18] == 2 || header[19] == 2 {
            match (wal.is_some(), shm.is_some()) {
                (true, true) => Mode::Locked,
                (false, _) => Mode::Detached,
                (true, false) => {
                    file.connection = None;
                    return Err(SqliteError::UnrecoveredWal {
                        path: self.path.clone(),
                    });
                }
            }
        } else {
            Mode::Locked
        };
        if file
            .connection
            .as_ref()
            .is_some_and(|open| open.mode != mode || mode == Mode::Detached)
        {
            file.connection = None;
        }
        if file.connection.is_none() {
            let uri;
            let target = match mode {
                Mode::Locked => Target::Path(&self.path),
                Mode::Detached => {
                    uri = immutable_uri(&self.path);
                    Target::Uri(&uri)
                }
            };
            let conn = open_connection(target, &self.path, self.busy_timeout, &self.interrupts)?;
            Stats::bump(&self.stats.connections);
            file.connection = Some(OpenConnection {
                conn,
                mode,
                fingerprint: seen,
            });
        }
        Ok(())
    }
}

/// What a second connection needs to read exactly what a [`Database`]'s
/// open read transaction reads (see [`Database::same_point`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SamePoint {
    identity: Identity,
    kind: SameKind,
}

#[derive(Debug, Clone, Copy)]
enum SameKind {
    /// The first connection is detached (immutable): a second detached
    /// connection reads the same thing while the file keeps this
    /// fingerprint, which both check after every read.
    Detached(Fingerprint),
    /// The first connection reads with SQLite's locking: on a
    /// rollback-journal database its shared lock keeps every writer from
    /// changing the file until its transaction ends, so a second reader
    /// that takes its own shared lock meanwhile reads the same thing. (A
    /// WAL reader keeps no writer out: no second connection can be at its
    /// point in time.)
    Locked,
}

impl SamePoint {
    /// Whether `conn`, the first connection, holds what this point needs,
    /// once a statement of its read transaction has read the database: for
    /// a locked read, an open transaction on a database not in WAL mode.
    pub(crate) fn held_by(&self, conn: &Connection) -> bool {
        match self.kind {
            SameKind::Detached(_) => true,
            SameKind::Locked => {
                !conn.is_autocommit()
                    && conn
                        .query_row("PRAGMA main.journal_mode", [], |row| {
                            row.get::<_, String>(0)
                        })
                        .is_ok_and(|mode| !mode.eq_ignore_ascii_case("wal"))
            }
        }
    }
}

impl Database {
    /// What a second connection needs to read the same point in time as
    /// the open connection (`None` without one).
    pub(crate) fn same_point(&self) -> Option<SamePoint> {
        let file = self.file.as_ref()?;
        let open = file.connection.as_ref()?;
        let kind = match open.mode {
            Mode::Detached => SameKind::Detached(open.fingerprint),
            Mode::Locked => SameKind::Locked,
        };
        Some(SamePoint {
            identity: file.identity,
            kind,
        })
    }

    /// Whether the open connection reads the file `point` names, the way
    /// it needs.
    fn reads(&self, point: &SamePoint) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        let Some(open) = file.connection.as_ref() else {
            return false;
        };
        file.identity == point.identity
            && match point.kind {
                SameKind::Detached(fingerprint) => {
                    open.mode == Mode::Detached && open.fingerprint == fingerprint
                }
                SameKind::Locked => open.mode == Mode::Locked,
            }
    }

    /// Runs `work` in a read transaction of its own that reads exactly
    /// what the transaction `point` was taken from reads, while that one is
    /// open (and, for a locked read, has read: see [`SamePoint::held_by`]);
    /// `Ok(None)` when this connection cannot be at that point (the file
    /// was replaced or changed, a writer's lock is in the way, or it is
    /// read another way). Waits for no lock: a `Database` made for this has
    /// a busy timeout of zero. Interrupted when `cancel` is set.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Interrupted`] when `cancel` is set; else the errors
    /// of opening the file and of `work`.
    pub(crate) fn run_at<T>(
        &mut self,
        point: &SamePoint,
        cancel: &Arc<AtomicBool>,
        work: impl FnOnce(&Connection, &Path) -> Result<T, SqliteError>,
    ) -> Result<Option<T>, SqliteError> {
        if cancel.load(Ordering::Acquire) {
            return Err(SqliteError::Interrupted { source: None });
        }
        self.install(Some(Arc::clone(cancel)));
        let out = self.read_at(point, work);
        self.install(None);
        self.end_transaction();
        out
    }

    fn read_at<T>(
        &mut self,
        point: &SamePoint,
        work: impl FnOnce(&Connection, &Path) -> Result<T, SqliteError>,
    ) -> Result<Option<T>, SqliteError> {
        self.end_transaction();
        self.open()?;
        if !self.reads(point) {
            return Ok(None);
        }
        self.begin()?;
        let Some(conn) = self.connection() else {
            return Err(SqliteError::StoreClosed);
        };
        let out = match work(conn, &self.path) {
            Ok(out) => out,
            // A writer's lock in the way: not at that point, not an error.
            Err(SqliteError::Busy { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let still = fs::metadata(&self.path)
            .ok()
            .and_then(|meta| platform::fingerprint(&self.path, &meta).ok())
            .is_some_and(|now| now.identity() == point.identity);
        if self.changed_while_read() || !still {
            return Ok(None);
        }
        Ok(Some(out))
    }
}

/// Whether the store can read a database on this platform.
///
/// # Errors
///
/// [`SqliteError::Unsupported`] on a platform other than Unix.
pub(crate) fn supported() -> Result<(), SqliteError> {
    platform::supported()
}

/// Whether the header of the database at `path` says WAL (bytes 18 and 19
/// are 2). Read through the process-wide descriptor of the file: opening
/// and closing one here would drop this process's POSIX locks on it.
pub(crate) fn header_says_wal(path: &Path) -> bool {
    let mut header = [0_u8; 20];
    platform::descriptor(path)
        .and_then(|(file, _)| platform::read_at(&file, &mut header, 0))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
}

/// A `file:` URI for `path` with `immutable=1`, every byte outside the
/// unreserved set percent-encoded.
fn immutable_uri(path: &Path) -> String {
    // The bytes of the path on Unix (on other platforms an encoding of
    // them; never reached there).
    let bytes = path.as_os_str().as_encoded_bytes();
    // An absolute path gets an empty authority (`file:///abs`), so that a
    // path starting with `//` is not read as a host name.
    let mut uri = String::from(if bytes.starts_with(b"/") {
        "file://"
    } else {
        "file:"
    });
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_and_keep_absolute_paths_absolute() {
        assert_eq!(
            immutable_uri(Path::new("/tmp/a b/x?.db")),
            "file:///tmp/a%20b/x%3F.db?mode=ro&immutable=1"
        );
        assert_eq!(
            immutable_uri(Path::new("rel/db")),
            "file:rel/db?mode=ro&immutable=1"
        );
        assert_eq!(
            immutable_uri(Path::new("//h/db")),
            "file:////h/db?mode=ro&immutable=1"
        );
    }
}
