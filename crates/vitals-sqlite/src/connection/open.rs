//! One read-only connection: the open flags, the settings a collector
//! needs, and the handlers that let a request's cancellation stop it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::SqliteError;

/// The cancellation flag of the request a connection is executing, if any.
///
/// Each request carries its own flag; its runner installs it while it runs
/// the request and removes it afterwards. The progress and busy handlers of
/// the connection only ever look at the installed flag, so cancelling one
/// request can never interrupt another.
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    current: Mutex<Option<Arc<AtomicBool>>>,
}

impl Interrupts {
    /// Installs the flag of the request about to run (`None`: no request).
    pub(crate) fn install(&self, flag: Option<Arc<AtomicBool>>) {
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

/// Where a connection reads the database from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// The path, with SQLite's locking.
    Path(&'a Path),
    /// A `file:` URI (`immutable=1`, no locking).
    Uri(&'a str),
}

/// Every SQLite VM step between two looks at the cancellation flag.
const PROGRESS_OPS: i32 = 1000;

/// Opens a connection read-only, with `query_only`, without a checkpoint on
/// close, and with handlers that stop a statement (or a wait for a
/// writer's lock) once the installed request is cancelled. `path` names the
/// database in errors.
pub(crate) fn open_connection(
    target: Target<'_>,
    path: &Path,
    busy_timeout: Duration,
    interrupts: &Arc<Interrupts>,
) -> Result<Connection, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = match target {
        Target::Path(path) => Connection::open_with_flags(path, flags),
        Target::Uri(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI),
    }
    .map_err(sqlite)?;
    // The last connection to close a WAL database checkpoints it and deletes
    // the -wal and -shm files, unless told not to: a collector must not.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(sqlite)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite)?;
    crate::totals::register(&conn).map_err(sqlite)?;
    let busy = Arc::clone(interrupts);
    let mut started = Instant::now();
    conn.busy_handler(Some(move |count: i32| {
        if count == 0 {
            started = Instant::now();
        }
        if busy.should_stop() {
            return false;
        }
        let Some(left) = busy_timeout
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
