//! The dedicated thread that owns the connection: snapshots, transactions,
//! reopening, and per-request interruption.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::aggregate::{Aggregates, FullScan};
use crate::error::SqliteError;
use crate::files;
use crate::incremental::Incremental;
use crate::options::Options;
use crate::stats::Stats;

/// The cancellation flag of the request the worker is executing, if any.
///
/// Each request carries its own flag; the worker installs it while it runs
/// the request and removes it afterwards. The progress and busy handlers of
/// the connection only ever look at the installed flag, so cancelling one
/// request can never interrupt another.
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    current: Mutex<Option<Arc<AtomicBool>>>,
}

impl Interrupts {
    fn install(&self, flag: Option<Arc<AtomicBool>>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = flag;
    }

    fn should_stop(&self) -> bool {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }
}

/// What the worker needs to know about a request besides its work.
#[derive(Debug)]
pub(crate) struct Request {
    /// The snapshot it belongs to.
    pub(crate) snapshot: u64,
    /// Set when the caller gives up (deadline, cancellation, dropped future).
    pub(crate) cancel: Arc<AtomicBool>,
}

/// A unit of work, run on the worker thread.
pub(crate) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A message to the worker.
pub(crate) enum Msg {
    /// Run a request.
    Run(Job),
    /// The snapshot with this id ended: close its read transaction.
    End(u64),
}

/// What a request's work gets: the connection inside the snapshot's read
/// transaction, the database path, and the aggregates strategy.
pub(crate) struct Session<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) path: &'a Path,
    pub(crate) aggregates: &'a mut dyn Aggregates,
    /// When the read transaction was begun (its point in time is at or
    /// after this instant).
    pub(crate) began: Instant,
}

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

/// What identifies a version of the file: any write changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

struct Db {
    conn: Connection,
    mode: Mode,
    fingerprint: Fingerprint,
}

/// The open file: the connection (if any), and the process-wide descriptor
/// the header is read through ([`files::descriptor`]). That descriptor is
/// never closed: closing any descriptor of the database file would release
/// every POSIX lock this process holds on it, SQLite's included.
struct Handle {
    db: Option<Db>,
    file: Arc<File>,
    identity: files::Identity,
}

/// The worker: owns the connection and runs requests one at a time.
pub(crate) struct Worker {
    path: PathBuf,
    options: Options,
    interrupts: Arc<Interrupts>,
    stats: Arc<Stats>,
    handle: Option<Handle>,
    /// The snapshot the current read transaction belongs to.
    snapshot: Option<u64>,
    /// When the current read transaction was begun.
    began: Instant,
    aggregates: Box<dyn Aggregates>,
}

const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Starts the store's worker thread, with incremental aggregates or not.
pub(crate) fn spawn(
    path: PathBuf,
    options: Options,
    incremental: bool,
    stats: Arc<Stats>,
) -> io::Result<Sender<Msg>> {
    let aggregates: Box<dyn Aggregates> = if incremental {
        Box::new(Incremental::new(
            path.clone(),
            options.clone(),
            Arc::clone(&stats),
        ))
    } else {
        Box::new(FullScan)
    };
    let worker = Worker::new(path, options, stats, aggregates);
    worker.spawn("vitals-sqlite")
}

impl Worker {
    /// A worker that has opened nothing yet.
    pub(crate) fn new(
        path: PathBuf,
        options: Options,
        stats: Arc<Stats>,
        aggregates: Box<dyn Aggregates>,
    ) -> Self {
        Worker {
            path,
            options,
            interrupts: Arc::default(),
            stats,
            handle: None,
            snapshot: None,
            began: Instant::now(),
            aggregates,
        }
    }

    /// A worker that answers the aggregates with the full queries and keeps
    /// counters of its own: for work outside a store's snapshots (the
    /// background recount, the benchmark floor, the doctor).
    pub(crate) fn plain(path: PathBuf, options: Options) -> Self {
        Worker::new(path, options, Arc::default(), Box::new(FullScan))
    }

    /// Runs this worker on its own thread, serving the returned channel.
    pub(crate) fn spawn(self, name: &str) -> io::Result<Sender<Msg>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || self.serve(&rx))?;
        Ok(tx)
    }

    /// Runs `work` in a read transaction of its own (a private snapshot),
    /// then ends that transaction; the connection stays open for the next
    /// call. Interrupted when `cancel` is set. Used by the background
    /// recount and by [`crate::bench::floor_queries`].
    pub(crate) fn run_alone<T>(
        &mut self,
        cancel: &Arc<AtomicBool>,
        work: impl FnOnce(Session<'_>) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        static NEXT_PRIVATE: AtomicU64 = AtomicU64::new(1);
        // Private snapshots count down from the top, far from the
        // assembler's ids (which this worker never sees anyway).
        let snapshot = u64::MAX - NEXT_PRIVATE.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            snapshot,
            cancel: Arc::clone(cancel),
        };
        let out = self.run(&request, work);
        self.end_snapshot();
        out
    }

    fn serve(mut self, rx: &Receiver<Msg>) {
        loop {
            let msg = if self.snapshot.is_some() {
                match rx.recv_timeout(self.options.idle_release) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::debug!("vitals-sqlite: closing an idle read transaction");
                        self.end_snapshot();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                }
            };
            match msg {
                Msg::Run(job) => {
                    if catch_unwind(AssertUnwindSafe(|| job(&mut self))).is_err() {
                        tracing::error!(
                            "vitals-sqlite: a request panicked; its snapshot is closed"
                        );
                        self.interrupts.install(None);
                        self.end_snapshot();
                    }
                }
                Msg::End(snapshot) => {
                    if self.snapshot == Some(snapshot) {
                        self.end_snapshot();
                    }
                }
            }
        }
        self.end_snapshot();
        self.close();
    }

    /// Runs one request's work inside its snapshot's read transaction.
    pub(crate) fn run<T>(
        &mut self,
        request: &Request,
        work: impl FnOnce(Session<'_>) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        if request.cancel.load(Ordering::Acquire) {
            return Err(SqliteError::Interrupted { source: None });
        }
        self.interrupts.install(Some(Arc::clone(&request.cancel)));
        let out = self.run_installed(request.snapshot, work);
        self.interrupts.install(None);
        out
    }

    fn run_installed<T>(
        &mut self,
        snapshot: u64,
        work: impl FnOnce(Session<'_>) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        self.enter(snapshot)?;
        let Self {
            handle,
            aggregates,
            path,
            began,
            ..
        } = self;
        let Some(db) = handle.as_ref().and_then(|h| h.db.as_ref()) else {
            return Err(SqliteError::StoreClosed);
        };
        let out = work(Session {
            conn: &db.conn,
            path,
            aggregates: &mut **aggregates,
            began: *began,
        });
        if db.mode == Mode::Detached {
            let now = fs::metadata(&*path).map(|m| Fingerprint::of(&m)).ok();
            if now != Some(db.fingerprint) {
                // Whatever the work derived from a torn read is forgotten.
                aggregates.reset();
                return Err(SqliteError::Changed);
            }
        }
        out
    }

    /// Makes sure a connection is open and a read transaction is open for `snapshot`.
    fn enter(&mut self, snapshot: u64) -> Result<(), SqliteError> {
        if self.snapshot != Some(snapshot) {
            // A newer snapshot (or any other) ends the current one.
            self.end_snapshot();
            self.snapshot = Some(snapshot);
            self.probe()?;
        } else if self.handle.as_ref().is_none_or(|h| h.db.is_none()) {
            self.probe()?;
        }
        let Some(db) = self.handle.as_ref().and_then(|h| h.db.as_ref()) else {
            return Err(SqliteError::StoreClosed);
        };
        if db.conn.is_autocommit() {
            // Deferred: the read transaction starts at the first SELECT and
            // holds that point in time until the snapshot ends. Also taken
            // again if an error rolled the transaction back.
            self.began = Instant::now();
            db.conn
                .execute_batch("BEGIN")
                .map_err(|e| SqliteError::from_sqlite(e, &self.path))?;
            self.stats.transactions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Ends the current snapshot: closes its read transaction, and drops a
    /// per-snapshot (detached) connection.
    fn end_snapshot(&mut self) {
        self.snapshot = None;
        let Some(handle) = self.handle.as_mut() else {
            return;
        };
        let Some(db) = handle.db.as_ref() else {
            return;
        };
        if !db.conn.is_autocommit()
            && let Err(error) = db.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(%error, "vitals-sqlite: closing the read transaction failed; reopening");
            handle.db = None;
            return;
        }
        if db.mode == Mode::Detached {
            handle.db = None;
        }
    }

    /// Closes the connection (the file descriptor stays in the registry).
    fn close(&mut self) {
        if let Some(mut handle) = self.handle.take() {
            handle.db = None;
            drop(handle);
            self.aggregates.reset();
        }
    }

    /// Checks the file at the start of a snapshot (cheap: three `stat`s and
    /// a 100-byte read) and opens, keeps or reopens the connection.
    fn probe(&mut self) -> Result<(), SqliteError> {
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
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                source: None,
            });
        }
        let seen = Fingerprint::of(&path_meta);
        if self
            .handle
            .as_ref()
            .is_some_and(|h| h.identity != seen.identity())
        {
            tracing::info!(path = %self.path.display(), "vitals-sqlite: the database file was replaced; reopening");
            self.close();
        }
        if seen.len == 0 {
            self.close();
            return Err(SqliteError::EmptyDatabase {
                path: self.path.clone(),
            });
        }
        let io_err = |source| SqliteError::Io {
            path: self.path.clone(),
            source,
        };
        let handle = match self.handle.take() {
            Some(handle) => handle,
            None => {
                let (file, identity) = files::descriptor(&self.path).map_err(io_err)?;
                Handle {
                    db: None,
                    file,
                    identity,
                }
            }
        };
        let handle = self.handle.insert(handle);
        let mut header = [0_u8; 100];
        if let Err(source) = handle.file.read_exact_at(&mut header, 0) {
            handle.db = None;
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
            handle.db = None;
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                source: None,
            });
        }
        let mode = if header[18] == 2 || header[19] == 2 {
            let wal = exists(&sidecar(&self.path, "-wal")).map_err(io_err)?;
            let shm = exists(&sidecar(&self.path, "-shm")).map_err(io_err)?;
            match (wal, shm) {
                (true, true) => Mode::Locked,
                (false, _) => Mode::Detached,
                (true, false) => {
                    handle.db = None;
                    return Err(SqliteError::UnrecoveredWal {
                        path: self.path.clone(),
                    });
                }
            }
        } else {
            Mode::Locked
        };
        if handle
            .db
            .as_ref()
            .is_some_and(|db| db.mode != mode || mode == Mode::Detached)
        {
            handle.db = None;
        }
        if handle.db.is_none() {
            let conn = open_connection(&self.path, mode, &self.options, &self.interrupts)?;
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            handle.db = Some(Db {
                conn,
                mode,
                fingerprint: seen,
            });
        }
        Ok(())
    }
}

fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` appended to its file name (`db` -> `db-wal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A `file:` URI for `path` with `immutable=1`, every byte outside the
/// unreserved set percent-encoded.
fn immutable_uri(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
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

/// Every SQLite VM step between two looks at the cancellation flag.
const PROGRESS_OPS: i32 = 1000;

fn open_connection(
    path: &Path,
    mode: Mode,
    options: &Options,
    interrupts: &Arc<Interrupts>,
) -> Result<Connection, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = match mode {
        Mode::Locked => Connection::open_with_flags(path, flags),
        Mode::Detached => {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        }
    }
    .map_err(sqlite)?;
    // The last connection to close a WAL database checkpoints it and deletes
    // the -wal and -shm files, unless told not to: a collector must not.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(sqlite)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite)?;
    let busy = Arc::clone(interrupts);
    let timeout = options.busy_timeout;
    let mut started = Instant::now();
    conn.busy_handler(Some(move |count: i32| {
        if count == 0 {
            started = Instant::now();
        }
        if busy.should_stop() {
            return false;
        }
        let Some(left) = timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        else {
            return false;
        };
        let step = Duration::from_millis(match count {
            0 => 1,
            1 => 2,
            2 => 5,
            _ => 10,
        });
        std::thread::sleep(step.min(left));
        true
    }))
    .map_err(sqlite)?;
    let progress = Arc::clone(interrupts);
    conn.progress_handler(PROGRESS_OPS, Some(move || progress.should_stop()))
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
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
        assert_eq!(
            sidecar(Path::new("/x/db.sqlite"), "-wal"),
            Path::new("/x/db.sqlite-wal")
        );
    }
}
