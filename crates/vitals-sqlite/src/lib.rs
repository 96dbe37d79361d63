//! Read-only SQLite implementation of the vitals standard sources.
//!
//! An orchestrator keeps its state in SQLite (`tasks`, `jobs`, `agent_runs`);
//! the `stages`, `queue`, `agents` and `cost` sections read it through their
//! source traits. [`SqliteStore`] implements all four over the reference
//! schema, so that a host publishes its snapshot with one line, and it does
//! so the way a collector must: it never writes, never blocks the async
//! runtime, never lets a slow query outlive its section's deadline, sees one
//! point in time per snapshot, and turns every kind of bad input into an
//! error kind (or a null field) in the meta section instead of a failure.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vitals_core::Collect;
//! use vitals_sqlite::SqliteStore;
//! use vitals_stages::StageSource;
//! use vitals_cost::CostSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("orchestrator.db");
//! let writer = rusqlite::Connection::open(&path).unwrap();
//! writer.execute_batch("
//!     CREATE TABLE tasks (id INTEGER PRIMARY KEY, work_item_id TEXT NOT NULL, repo TEXT,
//!         stage TEXT NOT NULL, stage_entered_at TEXT NOT NULL,
//!         created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
//!     CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL,
//!         agent TEXT NOT NULL, started_at TEXT, finished_at TEXT, cost_usd REAL,
//!         input_tokens INTEGER, output_tokens INTEGER,
//!         cache_read_tokens INTEGER, cache_creation_tokens INTEGER);
//!     INSERT INTO tasks VALUES (1, 'WI-1', 'api', 'review', '2026-01-01 00:00:00', '', ''),
//!                              (2, 'WI-2', 'api', 'done',   '2026-01-01 00:00:00', '', '');
//! ").unwrap();
//!
//! let store = SqliteStore::open(&path);
//! let now = "2026-01-01T00:01:40Z".parse().unwrap();
//! let cx = Collect::standalone(Some(now), Duration::from_secs(5));
//!
//! let tasks = store.active_tasks(&cx).await.unwrap();
//! assert_eq!(tasks.len(), 1);
//! assert_eq!(tasks[0].stage.as_deref(), Some("review"));
//! assert_eq!(cx.seconds_since(tasks[0].stage_entered_at.unwrap()), Some(100));
//! // An empty table gives zeros, not an error.
//! assert_eq!(store.totals(&cx).await.unwrap().runs, 0);
//!
//! // A host hands the store to the registered sections:
//! let resources = store.resources();
//! assert!(resources.contains::<Arc<dyn StageSource>>());
//! # }
//! ```
//!
//! # Read-only, enforced by the connection
//!
//! * Every connection is opened with `SQLITE_OPEN_READ_ONLY` and then
//!   `PRAGMA query_only = ON`; a write through it fails
//!   (`attempt to write a readonly database`).
//! * `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` is set, so closing the store never
//!   checkpoints a WAL database nor deletes its `-wal`/`-shm` files.
//! * **WAL databases.** A read-only connection to a WAL database creates the
//!   `-wal` and `-shm` files when they do not exist and the directory is
//!   writable (<https://sqlite.org/wal.html>, "read-only databases"). The
//!   store therefore looks before it opens, at the start of every snapshot:
//!   - rollback-journal database, or WAL database whose `-wal` and `-shm`
//!     both exist (a writer has it open): an ordinary read-only connection
//!     with SQLite's locking, kept across snapshots. It opens the existing
//!     files and creates none.
//!   - WAL database without a `-wal` file: no connection has it open (a
//!     writer's connection keeps its `-wal` until it closes, and the last
//!     one to close checkpoints everything into the main file first), so the
//!     main file alone is the whole database. It is read through an
//!     `immutable=1` connection that lives **for this snapshot only**: it
//!     takes no lock and creates no file. `immutable` is unsafe only if the
//!     file changes while it is read, so the store takes the file's
//!     fingerprint (device, inode, size, mtime, ctime) when the snapshot
//!     begins and checks it after every query: if a writer appeared and
//!     checkpointed meanwhile, the answer is discarded with the kind
//!     `changed` (the next snapshot sees the new state). A writer that merely
//!     appends to a new `-wal` during the snapshot does not touch the main
//!     file; the snapshot then shows the state at its start, as any read
//!     transaction would.
//!   - WAL database with a `-wal` but no `-shm`: reading it needs a recovery
//!     that creates the `-shm`, so it is refused with `unrecovered_wal`
//!     (this is usually a writer caught opening the database; the next
//!     snapshot reads it).
//! * **Running as root.** SQLite's unix VFS, when `geteuid()` is 0, `fchown`s
//!   every `-wal`, `-shm` and rollback `-journal` it opens to the database
//!   file's owner (`robustFchown`, so that root leaves no file the owner
//!   cannot open), through read-only connections too; no open flag or URI
//!   parameter turns it off (`readonly_shm=1` does not), only replacing the
//!   VFS's `fchown` for the whole process. So, as root, the store refuses a
//!   database whose `-journal`, `-wal` or `-shm` belongs to another owner
//!   (`owner_mismatch`) rather than let SQLite give them away. When they
//!   already belong to the database's owner, the `fchown` changes nothing
//!   but their change time (`ctime`): the one metadata write of a collector
//!   run as root. Run it as the database's owner to avoid even that.
//! * A zero-length file is refused (`empty_database`) without opening it:
//!   SQLite would read it as an empty database and may delete a `-wal`
//!   next to it.
//! * The store reads the 100-byte database header through a descriptor of
//!   its own, and never closes it: on POSIX, closing *any* descriptor of a
//!   file drops every `fcntl` lock the process holds on it
//!   (<https://sqlite.org/howtocorrupt.html>, section 2.2), SQLite's locks
//!   included, those of a host's own read-write connection when the
//!   collector is embedded. One descriptor per database file (device and
//!   inode) is opened the first time any store, recount,
//!   [`bench::floor_queries`] or [`doctor::diagnose`] of the process meets
//!   it, shared by all of them, and kept for the life of the process: a
//!   few descriptors at most, one more each time the file is replaced on
//!   disk (a replaced file's blocks are then freed only when the process
//!   exits).
//!
//! # Platforms
//!
//! The store needs a Unix platform (its tests run on Linux): the rules above
//! rest on a file's device and inode (a replaced file), its change time (a
//! rewritten file), `pread`, and POSIX locks (the reason a descriptor is
//! never closed). The crate compiles on every platform; elsewhere every
//! source method, [`bench::floor_queries`] and [`doctor::diagnose`] answer
//! [`SqliteError::Unsupported`] (kind `unsupported`) before they open
//! anything, so the sections degrade as for any other error.
//!
//! # One snapshot, one read transaction
//!
//! A dedicated thread owns the connection; source methods send it requests
//! tagged with [`Collect::snapshot_id`](vitals_core::Collect::snapshot_id)
//! and await the reply, so blocking SQLite work never runs on the async
//! runtime. The first request of a snapshot checks the file (missing,
//! replaced: reopened) and issues a deferred `BEGIN`; the read transaction
//! starts at its first `SELECT` and every later query of the snapshot sees
//! that point in time. It ends when the snapshot ends (a guard kept in the
//! snapshot's [`Scratch`](vitals_core::Scratch) sends "end snapshot N" when
//! it drops), when a request of another snapshot arrives, or after the
//! builder's `idle_release` without requests. The running-agents query,
//! which both `agents` and `cost.running` need, runs once per snapshot: its
//! rows are memoized in the scratch.
//!
//! # Interruption
//!
//! Each request carries its own cancellation flag, set when its caller
//! gives up: the section's context is cancelled, its deadline passes, or the
//! future is dropped. While the worker runs a request it installs that flag
//! where the connection's progress handler (every 1000 VM steps) and busy
//! handler look; they stop the statement when it is set (`interrupted`).
//! A flag belongs to one request only, so a cancellation that arrives late
//! can never interrupt the next request (unlike `sqlite3_interrupt`, which
//! stops whatever runs at that moment). A request cancelled before it starts
//! is not run at all.
//!
//! A worker still running a request a second past that request's deadline
//! is stuck in a call no interruption reaches (SQLite blocked opening a
//! FIFO raced next to the database, a hung file system). The next request
//! starts a fresh worker (a new thread, connection and aggregates) instead
//! of queueing behind it; a request that was queued behind it answers
//! `busy`, saying since when it is stuck. At most two abandoned workers may
//! stay blocked; beyond that requests answer `busy` at once with the
//! reason, until one returns. [`StoreStats::workers_replaced`] counts them.
//!
//! # Bad input
//!
//! | input | result |
//! |---|---|
//! | no file | every method: `no_database`; the store opens it when it appears |
//! | a FIFO, directory, socket or device at the path; one of those or a symbolic link at its `-journal`, `-wal` or `-shm` | every method: `not_a_regular_file`, naming the file, before SQLite opens anything (SQLite would block for ever opening a FIFO); the next snapshot after it is gone reads again |
//! | zero-length file | every method: `empty_database` |
//! | running as root, a `-journal`, `-wal` or `-shm` of another owner than the database | every method: `owner_mismatch`, naming the file and both owners; nothing is opened (SQLite would `fchown` it to the database's owner) |
//! | not SQLite | every method: `not_a_database` |
//! | hot journal (a writer killed mid-transaction left a `-journal`) | every method: `hot_journal`, naming the `-journal`; nothing is rolled back (read-only); the orchestrator's next read-write open rolls it back and the store reads again |
//! | missing table | the methods reading it: `missing_table` (no `agent_runs`: agents answer with null `run_id`, degraded) |
//! | missing column | required (keys, `status`, `stage`, aggregate inputs): that method fails with `missing_column`; other columns: the field is null and reported |
//! | wrong type (`pid` `'abc'`) | the field is null, reported as `bad_value` |
//! | `attempts` not an integer | skipped by the retry statistics, reported |
//! | NULL where the schema says NOT NULL | the field is null, reported; jobs with a NULL status are counted under the key `"null"` of `queue.counts` (as the seed's `json.dumps` writes a `None` key) and reported |
//! | integer column holding a REAL beyond `i64` | the field is null, reported as `overflow` |
//! | `cost_usd` of `1e30` | a number like any other; infinity: null (`overflow`) |
//! | token sums beyond `i64` | `totals` fails with `overflow` (`aggregate: null`) |
//! | non-UTF-8 text | decoded lossily (U+FFFD) and reported |
//! | unparsable timestamp | null, reported |
//!
//! "Reported" means a degraded field in the meta section of the section that
//! reads it (through [`Collect::record_field_failure`](vitals_core::Collect::record_field_failure)).
//!
//! # Incremental aggregates
//!
//! The job counts by status (`queue.counts`) and the cost and token totals
//! (`cost.aggregate`) are over all history; answered by the plain queries
//! they cost a scan of `jobs` and of `agent_runs` on every scrape. By default
//! ([`SqliteStoreBuilder::incremental`]) the store keeps instead, per table,
//! running sums of the *settled* rows (jobs whose status is exactly `done`,
//! `failed` or `cancelled`; runs whose `finished_at` is not NULL), the
//! largest rowid counted (the mark) with a few never-updated columns of the
//! row there, and the ids of the few unsettled rows. A scrape reads the row
//! at the mark, the rows above it, the non-terminal jobs through
//! `idx_jobs_status`, and the unsettled rows by rowid: its cost follows the
//! active work. The first scrape runs the plain queries and derives the
//! state from the same read transaction.
//!
//! **What you can rely on.** The answers are exact whenever settled rows
//! are never modified nor deleted (new rows arrive, unsettled rows change
//! in any way: queued/running to a terminal status, unfinished to
//! finished, or deleted), which is how the reference orchestrator writes.
//! That includes rowids reused by SQLite: the tables have no
//! `AUTOINCREMENT`, so after the newest rows are deleted new rows may get
//! ids at or below the mark. That can only happen while the row at the mark
//! is deleted, so a scrape that finds it gone, or finds another row there
//! (its `created_at`, `agent`, `task_id`; for a run its `job_id`,
//! `started_at`, `agent`), answers with the full query from its own read
//! transaction and rebuilds the state from it, as the first scrape does.
//! Not seen: the row at the mark replaced by a new row with the same values
//! in those columns after new rows also took ids the store never counted;
//! a table lacking `created_at`/`agent` (`job_id`/`started_at`) compares the
//! whole row there instead. A table holding rowid `i64::MAX` (SQLite then
//! picks random free rowids) is answered by the full query. A change to a
//! settled row (a correction, a requeue of a failed job, a finished run
//! reopened, a purge of old rows) is reflected at the latest after the
//! [`reconcile_interval`](SqliteStoreBuilder::reconcile_interval) plus the
//! time of one recount, and usually sooner: a change of the smallest
//! rowid, a requeue seen through the status index or an unsettled row that
//! vanished triggers a background recount at once (or, when the previous
//! recount ended less than its own duration ago, as soon as that has
//! passed), and a settled row at the mark deleted or changed in those
//! columns is answered exactly at once, as above. Sums keep
//! integer precision; the cost is a compensated floating-point sum that may
//! differ from SQLite's `TOTAL()` in the last bits. Every answer still
//! comes from the snapshot's one read transaction.
//!
//! [`SqliteStore::stats`] tells a host how it goes: how many inline passes,
//! fallbacks, reused-mark answers, drifts and recounts there were.
//!
//! # Cold builds
//!
//! A full query (the first scrape, every scrape with `incremental(false)`)
//! sums the totals in one scan with an aggregate of this crate that checks
//! each value's type as it goes (type-checking SQL runs only when it finds a
//! bad value), and counts the `done` jobs by difference through the status
//! index. Both history-wide aggregates come from one pass, whose scan
//! of `agent_runs` is shared by rowid ranges with a second read-only
//! connection when it can read the same point in time (a WAL database without
//! a writer, or a rollback-journal database under the store's shared lock;
//! never a WAL database with a writer). Counts and bad values are the
//! sequential queries'; a shared pass's cost may differ from one `TOTAL()` in
//! the last bits, and a token sum that leaves the 64-bit range and comes back
//! within one range is summed, not reported (see `parallel/mod.rs`).
//! [`StoreStats::parallel_passes`] counts the shared passes.
//!
//! # Module layout
//!
//! For whoever carries the crate on (the modules are private, but for
//! [`bench`](mod@bench) and [`doctor`]). Dependencies go one way: each module names
//! only the modules above it in this table, and inside a folder each file
//! only the files above it in its own list (a test, `src/tests/layout.rs`,
//! holds both orders).
//!
//! | module | one idea |
//! |---|---|
//! | `error` | [`SqliteError`] and its kinds |
//! | `options` | the builder's settings and their defaults |
//! | `stats` | the counters and [`StoreStats`] |
//! | `decode` | one stored value decoded, and the issues met (the degraded fields) |
//! | `columns` | which column feeds which section field, for the degraded fields |
//! | `queries` | the SQL behind each source method, run on a given connection |
//! | `totals` | the cost and token totals: their sums, the cheap query (with the `vitals_checked_sums` aggregate every connection gets) and the exact query |
//! | `connection/` | the file opened read-only (`Database`): `descriptors.rs` (the process-wide descriptors), `open.rs` (a connection's flags, settings and interrupt handlers), `unix.rs` / `unsupported.rs` (what the checks need of the platform), `sidecars.rs` (the `-journal`, `-wal` and `-shm` checked), `mod.rs` (the checks before opening, the locked and detached modes, one read transaction at a time, a second connection at the same point in time) |
//! | `parallel/` | the full scans of a transaction in one pass, shared with a twin connection at the same point in time: `tx.rs`, `groups.rs` (the `done` jobs counted by difference), `scan.rs`, `twin.rs`, `split.rs`, and `mod.rs` (what is computed ahead, when a pass is split) |
//! | `aggregate` | the `Aggregates` seam, and `FullScan` |
//! | `worker` | the thread that owns the store's connection: snapshots, their transactions, per-request interruption |
//! | `incremental/` | the incremental `Aggregates`: `refusal.rs`, `marks.rs`, `jobs.rs`, `runs.rs`, `table.rs`, `recount.rs`, and `mod.rs` (the design note and the control flow) |
//! | `client` | the async side of the worker: a request tagged with its snapshot, waited for, cancelled; what a store keeps in a snapshot's scratch; a stuck worker replaced |
//! | `bench`, `doctor` | one private read each, through a `Database` of their own |
//! | the crate root | [`SqliteStore`], its builder, and the four source traits |
//!
//! **The `Aggregates` seam.** The history-wide aggregates are the one part
//! of a snapshot with two implementations. The worker holds a
//! `Box<dyn Aggregates>` and knows nothing else of them: inside a
//! snapshot's read transaction it calls `status_counts` and `totals`, and
//! `reset` when the file was closed or replaced or an answer discarded
//! (whatever was derived from earlier reads may be about another file).
//! [`SqliteStoreBuilder::build`] chooses the implementation (`FullScan`, or
//! `Incremental` unless [`incremental(false)`](SqliteStoreBuilder::incremental))
//! and hands it to the worker. The incremental one's background recount
//! opens its own `Database` on its own thread; it never goes through the
//! worker.

mod aggregate;
pub mod bench;
mod client;
mod columns;
mod connection;
mod decode;
pub mod doctor;
mod error;
mod incremental;
mod options;
mod parallel;
mod queries;
mod stats;
mod totals;
mod worker;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vitals_agents::{AgentSource, RunningAgent};
use vitals_core::{Collect, Resources, SectionError, async_trait};
use vitals_cost::{CostSource, CostTotals, RunningCost};
use vitals_queue::{QueueSource, RetryStats};
use vitals_stages::{StageRow, StageSource};

pub use error::SqliteError;
pub use options::{DEFAULT_BUSY_TIMEOUT, DEFAULT_IDLE_RELEASE, DEFAULT_RECONCILE_INTERVAL};
pub use stats::StoreStats;

use aggregate::{Aggregates, FullScan};
use client::WorkerClient;
use incremental::Incremental;
use options::Options;
use stats::Stats;
use worker::Worker;

/// The read-only SQLite store: implements [`StageSource`], [`QueueSource`],
/// [`AgentSource`] and [`CostSource`] over the reference schema.
///
/// Cheap to clone (clones share one worker thread and connection). The
/// worker stops when the last clone, and the last snapshot using it, is gone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    client: WorkerClient,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("running", &self.inner.client.is_running())
            .finish_non_exhaustive()
    }
}

/// Options of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    options: Options,
    incremental: bool,
}

impl SqliteStoreBuilder {
    /// How long a query waits while a writer holds the lock before failing
    /// with `busy` (default [`DEFAULT_BUSY_TIMEOUT`]). The wait also ends
    /// when the request is cancelled.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.options.busy_timeout = timeout;
        self
    }

    /// How long a snapshot's read transaction may stay open without any
    /// request before the store closes it (default [`DEFAULT_IDLE_RELEASE`]).
    /// Normally a transaction ends with its snapshot; this bounds how long a
    /// context kept alive by mistake can hold back the writer's checkpoints.
    #[must_use]
    pub fn idle_release(mut self, idle: Duration) -> Self {
        self.options.idle_release = idle;
        self
    }

    /// Whether the history-wide aggregates (`queue.counts` and
    /// `cost.aggregate`) are answered incrementally (default `true`).
    ///
    /// On, a scrape reads only the rows added since the previous one and the
    /// active (unsettled) rows, so its cost follows the active work; the
    /// running sums are recounted in the background on a second read-only
    /// connection when a cheap check sees drift and every
    /// [`reconcile_interval`](Self::reconcile_interval). Off, every scrape
    /// runs the full queries (each scans all history). See the
    /// [crate documentation](crate#incremental-aggregates) for the exact guarantee.
    #[must_use]
    pub fn incremental(mut self, on: bool) -> Self {
        self.incremental = on;
        self
    }

    /// How often the incremental aggregates are recounted from scratch
    /// (default [`DEFAULT_RECONCILE_INTERVAL`]): the longest time a change
    /// no cheap check sees (a settled row corrected or deleted in place)
    /// stays out of the answers, plus the duration of one recount.
    #[must_use]
    pub fn reconcile_interval(mut self, interval: Duration) -> Self {
        self.options.reconcile_interval = interval;
        self
    }

    /// Starts the store. Infallible: a missing or bad file is reported by
    /// each request (and picked up when it appears), and a worker thread
    /// that cannot be spawned makes every request fail with `store_closed`.
    #[must_use]
    pub fn build(self) -> SqliteStore {
        let stats = Arc::new(Stats::default());
        // A fresh worker (thread, connection, aggregates) each time: the
        // first one, and one for each worker found stuck.
        let (path, options, incremental) = (self.path.clone(), self.options, self.incremental);
        let worker_stats = Arc::clone(&stats);
        let spawn: client::Spawner = Box::new(move || {
            let aggregates: Box<dyn Aggregates> = if incremental {
                Box::new(Incremental::new(
                    path.clone(),
                    options.clone(),
                    Arc::clone(&worker_stats),
                ))
            } else {
                Box::new(FullScan::new(
                    path.clone(),
                    &options,
                    Arc::clone(&worker_stats),
                ))
            };
            Worker::new(
                path.clone(),
                &options,
                Arc::clone(&worker_stats),
                aggregates,
            )
            .spawn("vitals-sqlite")
        });
        SqliteStore {
            inner: Arc::new(Inner {
                path: self.path,
                client: WorkerClient::new(spawn, stats),
            }),
        }
    }
}

impl SqliteStore {
    /// A store reading the database at `path`, with the default options.
    ///
    /// Nothing is opened yet: the file is checked at the start of every
    /// snapshot, so a missing file only degrades the sections until it appears.
    #[must_use]
    pub fn open(path: impl AsRef<Path>) -> Self {
        Self::builder(path).build()
    }

    /// A builder for a store reading the database at `path`.
    #[must_use]
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.as_ref().to_owned(),
            options: Options::default(),
            incremental: true,
        }
    }

    /// The database path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Resources holding this store as every source it implements
    /// (`Arc<dyn StageSource>`, `Arc<dyn QueueSource>`, `Arc<dyn AgentSource>`,
    /// `Arc<dyn CostSource>`), for `Assembler::builder().registered(&resources)`.
    #[must_use]
    pub fn resources(&self) -> Resources {
        let mut resources = Resources::new();
        self.add_to(&mut resources);
        resources
    }

    /// Inserts this store into `resources` as every source it implements.
    pub fn add_to(&self, resources: &mut Resources) {
        resources
            .insert::<Arc<dyn StageSource>>(Arc::new(self.clone()))
            .insert::<Arc<dyn QueueSource>>(Arc::new(self.clone()))
            .insert::<Arc<dyn AgentSource>>(Arc::new(self.clone()))
            .insert::<Arc<dyn CostSource>>(Arc::new(self.clone()));
    }

    /// What this store has counted of its own work since it was built
    /// (all its clones together): see [`StoreStats`] for each counter.
    ///
    /// Cheap (a few atomic loads): a host may read it on every scrape.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vitals_core::Collect;
    /// use vitals_queue::QueueSource;
    /// use vitals_sqlite::SqliteStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("orchestrator.db");
    /// rusqlite::Connection::open(&path).unwrap()
    ///     .execute_batch("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER);
    ///                     INSERT INTO jobs VALUES (1, 'queued', 0);")
    ///     .unwrap();
    ///
    /// let store = SqliteStore::open(&path);
    /// let cx = Collect::standalone(None, Duration::from_secs(5));
    /// store.status_counts(&cx).await.unwrap();
    /// store.retry_stats(&cx).await.unwrap();
    /// let stats = store.stats();
    /// assert_eq!((stats.connections, stats.transactions), (1, 1), "one snapshot, one transaction");
    /// assert_eq!(stats.interrupted, 0);
    ///
    /// // A section that gives up (here: its context is cancelled) is counted.
    /// cx.cancellation().cancel();
    /// assert!(store.status_counts(&cx).await.is_err());
    /// assert_eq!(store.stats().interrupted, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        self.inner.client.stats()
    }

    fn client(&self) -> &WorkerClient {
        &self.inner.client
    }

    /// Tests: runs a background recount of the incremental aggregates now
    /// and waits for it; the next snapshot starts from it.
    #[cfg(all(test, unix))]
    async fn recount_for_test(&self) {
        let cx = Collect::standalone(None, Duration::from_secs(120));
        let _ = self
            .client()
            .call(&cx, |s| {
                s.aggregates.recount_and_wait();
                Ok(())
            })
            .await;
    }

    /// Runs arbitrary work on the store's own connection, in the snapshot's
    /// transaction (tests: attempted writes, slow queries, query plans).
    #[cfg(all(test, unix))]
    async fn with_connection_for_test<T, F>(&self, cx: &Collect, work: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, SqliteError> + Send + 'static,
    {
        self.client().call(cx, move |s| work(s.conn)).await
    }
}

#[async_trait]
impl StageSource for SqliteStore {
    async fn active_tasks(&self, cx: &Collect) -> Result<Vec<StageRow>, SectionError> {
        let decoded = self
            .client()
            .call(cx, |s| queries::active_tasks(s.conn, s.path))
            .await?;
        decoded.issues.record(cx, columns::STAGE_FIELDS);
        Ok(decoded
            .rows
            .into_iter()
            .map(|t| StageRow {
                task_id: t.task_id,
                work_item: t.work_item,
                stage: t.stage,
                repo: t.repo,
                stage_entered_at: t.stage_entered_at,
            })
            .collect())
    }
}

#[async_trait]
impl QueueSource for SqliteStore {
    async fn status_counts(&self, cx: &Collect) -> Result<Vec<(String, i64)>, SectionError> {
        let decoded = self
            .client()
            .call(cx, |s| s.aggregates.status_counts(&s.tx))
            .await?;
        decoded.issues.record_all(cx, vitals_queue::fields::COUNTS);
        Ok(decoded.rows)
    }

    async fn retry_stats(&self, cx: &Collect) -> Result<RetryStats, SectionError> {
        let decoded = self
            .client()
            .call(cx, |s| queries::retry_stats(s.conn, s.path))
            .await?;
        decoded.issues.record_all(cx, vitals_queue::fields::RETRIES);
        Ok(decoded.rows)
    }
}

#[async_trait]
impl AgentSource for SqliteStore {
    async fn running_agents(&self, cx: &Collect) -> Result<Vec<RunningAgent>, SectionError> {
        let set = self.client().running_set(cx).await?;
        set.issues.record(cx, columns::AGENT_FIELDS);
        Ok(set
            .rows
            .iter()
            .map(|r| RunningAgent {
                agent: r.agent.clone(),
                run_id: r.run_id,
                job_id: r.job_id,
                repo: r.repo.clone(),
                pid: r.pid,
                started_at: r.started_at,
                model: r.model.clone(),
                effort: r.effort.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl CostSource for SqliteStore {
    async fn running_costs(&self, cx: &Collect) -> Result<Vec<RunningCost>, SectionError> {
        let set = self.client().running_set(cx).await?;
        if let Some(error) = &set.runs_error {
            return Err(client::shared(error));
        }
        set.issues.record_in(
            cx,
            vitals_cost::fields::RUNNING,
            columns::COST_RUNNING_FIELDS,
        );
        Ok(set
            .rows
            .iter()
            .map(|r| RunningCost {
                run_id: r.run_id,
                job_id: r.job_id,
                agent: r.agent.clone(),
                cost_usd: r.cost_usd,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cache_read_tokens: r.cache_read_tokens,
                cache_creation_tokens: r.cache_creation_tokens,
            })
            .collect())
    }

    async fn totals(&self, cx: &Collect) -> Result<CostTotals, SectionError> {
        let decoded = self
            .client()
            .call(cx, |s| s.aggregates.totals(&s.tx))
            .await?;
        decoded
            .issues
            .record_all(cx, vitals_cost::fields::AGGREGATE);
        Ok(decoded.rows)
    }
}
