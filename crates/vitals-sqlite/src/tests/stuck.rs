//! A worker stuck in a call no interruption reaches (SQLite blocked in
//! `open()` of a FIFO, a hung file system) is replaced by a fresh one
//! instead of making every later request wait behind it; at most
//! [`MAX_ABANDONED`] stuck ones pile up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vitals_core::{Collect, SourceError};
use vitals_stages::StageSource;

use super::{build_all, cx, db, now};
use crate::client::{MAX_ABANDONED, STUCK_AFTER};
use crate::{SqliteError, SqliteStore};

const ROWS: &str = "
INSERT INTO tasks VALUES (1, 'WI-1', 'api', 'review', '2026-11-28 02:38:33', 'c', 'u');
INSERT INTO jobs (id, agent, status, attempts, pid, created_at, started_at)
  VALUES (1, 'coder', 'running', 1, 10, 'c', '2026-11-28 02:39:13');
";

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// Opens the FIFO at `path` for writing without blocking, which lets a
/// reader blocked in `open()` of it go on (and, once dropped, read EOF).
fn release(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path);
}

/// A context whose deadline is `after` from now.
fn within(after: Duration) -> Collect {
    Collect::standalone(Some(now()), after)
}

/// Runs, on the store's worker, a request that blocks opening the FIFO at
/// `fifo` until it is released; its caller gives up after 100 ms.
async fn block_on(store: &SqliteStore, fifo: &Path) -> SqliteError {
    let fifo = fifo.to_owned();
    store
        .with_connection_for_test(&within(Duration::from_millis(100)), move |_| {
            let _ = std::fs::File::open(&fifo);
            Ok(())
        })
        .await
        .unwrap_err()
}

/// Waits until the request blocked now counts as stuck.
async fn until_stuck() {
    tokio::time::sleep(Duration::from_millis(100) + STUCK_AFTER + Duration::from_millis(200)).await;
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[tokio::test]
async fn a_worker_stuck_in_sqlite_open_is_replaced_and_removing_the_fifo_heals() {
    let (dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    drop(writer);
    let store = SqliteStore::open(&path);
    build_all(&store).await.others_ok(&[]);
    // A FIFO appears at `-journal` after the store's checks: SQLite, looking
    // for a hot journal at the start of the read transaction, blocks in
    // `open()` of it. The request's interruption cannot reach it.
    let fifo = sidecar(&path, "-journal");
    let raced = fifo.clone();
    let stuck = store
        .with_connection_for_test(&within(Duration::from_millis(100)), move |conn| {
            mkfifo(&raced);
            conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get::<_, i64>(0))
                .map_err(SqliteError::Sqlite)
        })
        .await
        .unwrap_err();
    assert_eq!(stuck.kind(), "interrupted");
    // A second name for the FIFO, to let the blocked thread go at the end.
    let handle = dir.path().join("release");
    std::fs::hard_link(&fifo, &handle).unwrap();
    until_stuck().await;

    // The next snapshot goes to a fresh worker (thread and connection),
    // which names the FIFO instead of blocking on it.
    let outcome = build_all(&store).await;
    for method in super::METHODS {
        assert_eq!(
            outcome.error(method),
            Some("not_a_regular_file"),
            "{method}"
        );
    }
    assert_eq!(store.stats().workers_replaced, 1);
    std::fs::remove_file(&fifo).unwrap();
    build_all(&store).await.others_ok(&[]);
    build_all(&store).await.others_ok(&[]);
    assert_eq!(store.stats().workers_replaced, 1, "replaced once");
    release(&handle);
}

#[tokio::test]
async fn a_request_queued_behind_a_stuck_worker_says_so() {
    let (dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    let store = SqliteStore::open(&path);
    let fifo = dir.path().join("hang");
    mkfifo(&fifo);
    assert_eq!(block_on(&store, &fifo).await.kind(), "interrupted");
    // Sent while the worker is still within its grace: queued, never started.
    let queued = store
        .active_tasks(&within(STUCK_AFTER + Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert_eq!(queued.kind(), "busy");
    let message = queued.message();
    assert!(
        message.starts_with("the sqlite worker is stuck in a blocking call since "),
        "{message}"
    );
    assert!(
        message.contains("a fresh worker takes the next requests"),
        "{message}"
    );
    // Which it does.
    assert_eq!(store.active_tasks(&cx()).await.unwrap().len(), 1);
    assert_eq!(store.stats().workers_replaced, 1);
    release(&fifo);
}

#[tokio::test]
async fn at_most_two_stuck_workers_are_abandoned_then_requests_answer_busy() {
    let (dir, path, writer) = db();
    writer.execute_batch(ROWS).unwrap();
    let store = SqliteStore::open(&path);
    let fifos: Vec<PathBuf> = (0..=MAX_ABANDONED)
        .map(|i| dir.path().join(format!("hang-{i}")))
        .collect();
    for (i, fifo) in fifos.iter().enumerate() {
        mkfifo(fifo);
        // Worker i blocks; once stuck, it is abandoned for worker i + 1.
        assert_eq!(block_on(&store, fifo).await.kind(), "interrupted");
        until_stuck().await;
        let answer = store.active_tasks(&cx()).await;
        if i < MAX_ABANDONED {
            assert_eq!(answer.unwrap().len(), 1, "worker {}", i + 1);
        } else {
            let error = answer.unwrap_err();
            assert_eq!(error.kind(), "busy");
            let message = error.message();
            assert!(
                message.contains(&format!(
                    "{MAX_ABANDONED} abandoned stuck worker(s) are still blocked, so no fresh one is started"
                )),
                "{message}"
            );
        }
    }
    assert_eq!(store.stats().workers_replaced, MAX_ABANDONED as u64);
    // The first abandoned worker returns and ends: a fresh one may start.
    release(&fifos[0]);
    let start = Instant::now();
    loop {
        match store.active_tasks(&cx()).await {
            Ok(tasks) => break assert_eq!(tasks.len(), 1),
            Err(error) => assert_eq!(error.kind(), "busy"),
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never replaced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.stats().workers_replaced, MAX_ABANDONED as u64 + 1);
    for fifo in &fifos[1..] {
        release(fifo);
    }
}
