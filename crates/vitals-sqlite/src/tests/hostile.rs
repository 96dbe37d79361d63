//! Files next to the database that a collector must survive without
//! blocking, writing or misnaming them: a hot journal left by a writer that
//! died mid-transaction, FIFOs where SQLite expects files, and (as root)
//! `-wal`/`-shm` files owned by someone else than the database.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use vitals_stages::StageSource;

use super::{METHODS, build_all, cx, db, files};
use crate::SqliteStore;

/// `path` with `suffix` appended to its file name.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

const ROWS: &str = "
INSERT INTO tasks VALUES (1, 'WI-1', 'api', 'review', '2026-11-28 02:38:33', 'c', 'u');
INSERT INTO jobs (id, agent, status, attempts, pid, created_at, started_at)
  VALUES (1, 'coder', 'running', 1, 10, 'c', '2026-11-28 02:39:13');
INSERT INTO agent_runs (id, job_id, agent, cost_usd) VALUES (1, 1, 'coder', 0.5);
WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO jobs (id, agent, status, attempts, created_at, repo)
  SELECT i, 'coder', 'done', 0, 'c', hex(zeroblob(100)) FROM n;
";

/// The first eight bytes of a rollback journal's header.
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// A database in `dir` as a writer killed in the middle of a big
/// transaction leaves it: the writer's pages partly spilled into the
/// database file, and a `-journal` holding the original pages. Made by
/// copying a live writer's files while its transaction is open (what the
/// disk holds at a `SIGKILL`), then rolling the live one back.
fn crashed_writer(dir: &Path) -> PathBuf {
    let (_live_dir, live, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    // A small cache, so that the update spills pages into the database
    // file before the commit, as a big transaction does.
    writer.pragma_update(None, "cache_size", 8).unwrap();
    writer
        .execute_batch("BEGIN; UPDATE jobs SET repo = hex(randomblob(100)), status = 'failed';")
        .unwrap();
    let path = dir.join("orchestrator.db");
    std::fs::copy(&live, &path).unwrap();
    std::fs::copy(sidecar(&live, "-journal"), sidecar(&path, "-journal")).unwrap();
    writer.execute_batch("ROLLBACK").unwrap();
    path
}

#[tokio::test]
async fn a_hot_journal_is_named_and_left_for_the_orchestrator_to_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = crashed_writer(dir.path());
    let journal = std::fs::read(sidecar(&path, "-journal")).unwrap();
    assert_eq!(journal.get(..8), Some(&JOURNAL_MAGIC[..]), "a valid header");
    let before = files(dir.path());

    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("hot_journal"), "{method}");
    }
    let error = store.active_tasks(&cx()).await.unwrap_err();
    let message = error.message();
    // Says what it is first; SQLite's own words follow as the cause.
    let expected = format!("{} is a hot journal", sidecar(&path, "-journal").display());
    assert!(message.starts_with(&expected), "{message}");
    // Not rolled back, nothing created: the files are as the crash left them.
    assert_eq!(files(dir.path()), before);

    // The orchestrator's next open rolls it back; the store then reads the
    // state from before the interrupted transaction.
    let orchestrator = Connection::open(&path).unwrap();
    let failed: i64 = orchestrator
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 0);
    drop(orchestrator);
    let outcome = build_all(&store).await;
    outcome.others_ok(&[]);
    assert!(
        outcome.body["status_counts"]
            .as_str()
            .unwrap()
            .contains("(\"done\", 2999)")
    );
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// Every method refused the file at `path` as `what`, not a regular file.
async fn refused(store: &SqliteStore, path: &Path, what: &str) {
    let outcome = build_all(store).await;
    for method in METHODS {
        assert_eq!(
            outcome.error(method),
            Some("not_a_regular_file"),
            "{method}"
        );
    }
    let message = store.active_tasks(&cx()).await.unwrap_err().message();
    assert_eq!(
        message,
        format!("{} is {what}, not a regular file", path.display())
    );
}

#[tokio::test]
async fn a_fifo_next_to_the_database_is_refused_by_name_and_removing_it_heals() {
    for suffix in ["-journal", "-wal", "-shm"] {
        let (_dir, path, writer) = db();
        writer.execute_batch(ROWS).unwrap();
        drop(writer);
        let store = SqliteStore::open(&path);
        // A first snapshot opens the connection the store keeps.
        build_all(&store).await.others_ok(&[]);
        let fifo = sidecar(&path, suffix);
        mkfifo(&fifo);
        // SQLite would block opening it (for a `-journal`, at the start of
        // every read transaction): refused before SQLite sees it.
        refused(&store, &fifo, "a FIFO").await;
        refused(&store, &fifo, "a FIFO").await;
        std::fs::remove_file(&fifo).unwrap();
        build_all(&store).await.others_ok(&[]);
    }
}

#[tokio::test]
async fn a_fifo_or_a_directory_at_the_database_path_is_not_a_regular_file() {
    let (dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    drop(writer);
    let store = SqliteStore::open(&path);
    build_all(&store).await.others_ok(&[]);
    let aside = dir.path().join("aside.db");
    std::fs::rename(&path, &aside).unwrap();
    mkfifo(&path);
    refused(&store, &path, "a FIFO").await;
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    refused(&store, &path, "a directory").await;
    std::fs::remove_dir(&path).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    build_all(&store).await.others_ok(&[]);
    // A symbolic link to the database is followed, as SQLite does; one in
    // place of a `-journal` is refused (SQLite opens those with O_NOFOLLOW).
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let linked = SqliteStore::open(&link);
    build_all(&linked).await.others_ok(&[]);
    let journal = sidecar(&link, "-journal");
    std::os::unix::fs::symlink(&aside, &journal).unwrap();
    refused(&linked, &journal, "a symbolic link").await;
}

/// Owner and change time of the file at `path`.
fn owner_and_ctime(path: &Path) -> ((u32, u32), (i64, i64)) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    ((meta.uid(), meta.gid()), (meta.ctime(), meta.ctime_nsec()))
}

/// SQLite's unix VFS `fchown`s every `-wal`, `-shm` (and hot `-journal`)
/// it opens to the database's owner when the process runs as root, even
/// through a read-only connection. The store refuses to open a database
/// whose files belong to someone else then; files that already belong to
/// the database's owner get only their change time touched, which this
/// test holds as the documented exception to "changes nothing".
#[tokio::test]
async fn as_root_files_of_another_owner_are_refused_not_given_away() {
    let (_dir, path, writer) = db();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    writer.execute_batch(ROWS).unwrap();
    let (wal, shm) = (sidecar(&path, "-wal"), sidecar(&path, "-shm"));
    let database_owner = owner_and_ctime(&path).0;
    if !nix::unistd::geteuid().is_root() {
        // Not root: SQLite changes no owner nor change time, and the store
        // checks nothing.
        let before = [owner_and_ctime(&wal), owner_and_ctime(&shm)];
        build_all(&SqliteStore::open(&path)).await.others_ok(&[]);
        assert_eq!([owner_and_ctime(&wal), owner_and_ctime(&shm)], before);
        return;
    }
    // The writer runs as another user than the database's owner.
    let other = (4242, 4343);
    for file in [&wal, &shm] {
        std::os::unix::fs::chown(file, Some(other.0), Some(other.1)).unwrap();
    }
    let store = SqliteStore::open(&path);
    let outcome = build_all(&store).await;
    for method in METHODS {
        assert_eq!(outcome.error(method), Some("owner_mismatch"), "{method}");
    }
    let message = store.active_tasks(&cx()).await.unwrap_err().message();
    assert!(
        message.starts_with(&format!(
            "{} belongs to 4242:4343 and the database to {}:{}",
            wal.display(),
            database_owner.0,
            database_owner.1
        )),
        "{message}"
    );
    assert_eq!(owner_and_ctime(&wal).0, other, "the -wal was given away");
    assert_eq!(owner_and_ctime(&shm).0, other, "the -shm was given away");

    // The same owner as the database: read, and only the change time moves.
    for file in [&wal, &shm] {
        std::os::unix::fs::chown(file, Some(database_owner.0), Some(database_owner.1)).unwrap();
    }
    let before = owner_and_ctime(&wal);
    // A tick of the file system's clock, so that a new change time shows.
    std::thread::sleep(std::time::Duration::from_millis(50));
    build_all(&store).await.others_ok(&[]);
    let after = owner_and_ctime(&wal);
    assert_eq!(after.0, before.0);
    assert_ne!(
        after.1, before.1,
        "SQLite as root fchowns the -wal it opens"
    );
    drop(writer);
}
