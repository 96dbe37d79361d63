//! A short soak of `vitals serve` (issue #10): about 20 s at full rate from
//! a few client threads while the database is replaced, truncated, deleted
//! and restored under it. Every answer must be 200 with contract-v1 JSON,
//! and the server's memory, threads and descriptors must end within a small
//! bound of where they were after the warm-up. Alone in its test binary so
//! that nothing else competes for the machine while it runs. The figures it
//! prints (with `--nocapture`) are those `docs/reliability.md` quotes.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "the soak prints its figures")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Running, fake_proc_root, gen_db, running_pids, try_get};
use nix::sys::signal::Signal;

const WARM_UP: Duration = Duration::from_secs(3);
const SOAK: Duration = Duration::from_secs(20);
const CLIENTS: usize = 4;
/// How long each state of the database lasts.
const STEP: Duration = Duration::from_millis(150);

/// Resident memory (KiB), threads and open descriptors of `pid`.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    rss_kib: u64,
    threads: u64,
    fds: u64,
}

fn footprint(pid: i32) -> Footprint {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    Footprint {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds: u64::try_from(fds).unwrap(),
    }
}

/// The states the database goes through, over and over. Replacements
/// rename hard links of a fixed set of files over the path, and the
/// truncated file is rewritten in place, so that the path only ever names
/// the same few inodes: vitals-sqlite keeps one descriptor per database
/// inode it met for the life of the process (so that closing one never
/// drops a host's SQLite locks), and a fresh inode per step would grow the
/// descriptor count by design, not by a leak.
struct Mutator {
    live: PathBuf,
    first: PathBuf,
    second: PathBuf,
    scratch: PathBuf,
    content: Vec<u8>,
}

impl Mutator {
    fn new(dir: &Path, source: &Path) -> Self {
        let content = fs::read(source).unwrap();
        let m = Self {
            live: dir.join("live.db"),
            first: dir.join("first.db"),
            second: dir.join("second.db"),
            scratch: dir.join("scratch.db"),
            content,
        };
        fs::write(&m.first, &m.content).unwrap();
        fs::write(&m.second, &m.content).unwrap();
        fs::write(&m.scratch, &m.content).unwrap();
        m.put(&m.first);
        m
    }

    /// Makes the live path name `file`'s inode, atomically.
    fn put(&self, file: &Path) {
        let tmp = self.live.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        fs::hard_link(file, &tmp).unwrap();
        fs::rename(&tmp, &self.live).unwrap();
    }

    /// Step `i` of the cycle: replaced, replaced, truncated, deleted, restored.
    fn step(&self, i: u64) -> &'static str {
        match i % 5 {
            0 => {
                self.put(&self.second);
                "replaced"
            }
            1 => {
                // The scratch file gets its content back in place (same inode).
                fs::write(&self.scratch, &self.content).unwrap();
                self.put(&self.scratch);
                "replaced"
            }
            2 => {
                fs::OpenOptions::new()
                    .write(true)
                    .open(&self.live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                "truncated"
            }
            3 => {
                fs::remove_file(&self.live).unwrap();
                "deleted"
            }
            _ => {
                self.put(&self.first);
                "restored"
            }
        }
    }
}

#[test]
fn a_soak_with_the_database_replaced_keeps_every_answer_and_the_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let source = gen_db(dir.path(), "source.db", &["--scale", "S"]);
    let proc_root = fake_proc_root(dir.path(), &running_pids(&source));
    let mutator = Mutator::new(dir.path(), &source);
    let mut server = Running::start(&[
        "serve",
        "--db",
        mutator.live.to_str().unwrap(),
        "--proc-root",
        proc_root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let addr = server.address("listening on ");
    let pid = server.pid();

    let served = AtomicU64::new(0);
    let not_ok = AtomicU64::new(0);
    let loading = AtomicBool::new(true);
    let mut steps = 0_u64;
    let (before, after) = thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    while loading.load(Ordering::Relaxed) {
                        match try_get(&addr, "/metrics", &[]) {
                            Ok(answer)
                                if answer.status == 200
                                    && serde_json::from_str::<serde_json::Value>(&answer.body)
                                        .is_ok_and(|b| b["schema_version"] == 1) =>
                            {
                                served.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(answer) => {
                                eprintln!("soak: {} {}", answer.status, answer.body);
                                not_ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(error) => {
                                eprintln!("soak: {error}");
                                not_ok.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        // Warm-up: the same load and the same churn, not measured.
        let warm_until = Instant::now() + WARM_UP;
        while Instant::now() < warm_until {
            mutator.step(steps);
            steps += 1;
            thread::sleep(STEP);
        }
        let before = footprint(pid);
        let served_before = served.load(Ordering::Relaxed);
        let soak_until = Instant::now() + SOAK;
        while Instant::now() < soak_until {
            mutator.step(steps);
            steps += 1;
            thread::sleep(STEP);
        }
        // End on a readable database, as the soak began.
        while !steps.is_multiple_of(5) {
            mutator.step(steps);
            steps += 1;
        }
        loading.store(false, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        // Let connections close and the last snapshot end.
        thread::sleep(Duration::from_secs(1));
        let after = footprint(pid);
        eprintln!(
            "soak: {} requests in {SOAK:?} (after a {WARM_UP:?} warm-up; {} in all), {} database states",
            served.load(Ordering::Relaxed) - served_before,
            served.load(Ordering::Relaxed),
            steps
        );
        (before, after)
    });
    eprintln!("soak: before {before:?}");
    eprintln!("soak: after  {after:?}");
    assert_eq!(
        not_ok.load(Ordering::Relaxed),
        0,
        "answers other than 200 JSON"
    );
    assert!(served.load(Ordering::Relaxed) > 100, "the load ran");
    assert!(
        after.rss_kib <= before.rss_kib + 16 * 1024,
        "memory grew: {before:?} -> {after:?}"
    );
    assert!(
        after.threads <= before.threads + 4,
        "threads grew: {before:?} -> {after:?}"
    );
    assert!(
        after.fds <= before.fds + 4,
        "descriptors grew: {before:?} -> {after:?}"
    );

    let signalled = Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit after SIGTERM"));
    eprintln!("soak: shutdown took {:?}", signalled.elapsed());
    assert_eq!(status.code(), Some(0), "{status}");
}
