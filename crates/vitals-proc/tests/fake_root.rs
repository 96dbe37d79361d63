//! `LinuxProc` on fake `/proc` trees written to temporary directories: every
//! bad input the agents section can meet, and a process tree.
//!
//! `LinuxProc` reads three kinds of files, so the fake tree holds exactly
//! those: `<root>/<pid>/stat` (state, ppid, utime, stime, num_threads,
//! starttime, rss), `<root>/stat` (`btime`) and `<root>/sys/kernel/pid_max`.
//! procfs only opens `<root>/<pid>` as a directory handle; it reads no
//! `status` file for these fields.
#![cfg(target_os = "linux")]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vitals_proc::{LinuxProc, ProcError, ProcSource, ProcessInfo, TreeUsage};

const BTIME: i64 = 1_795_835_728;

/// The fields of a fake `/proc/<pid>/stat` a test cares about.
#[derive(Debug, Clone)]
struct Stat {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    utime: u64,
    stime: u64,
    threads: i64,
    starttime: u64,
    rss_pages: u64,
}

impl Stat {
    fn new(pid: i32, ppid: i32) -> Self {
        Self {
            pid,
            comm: "agent".to_owned(),
            state: 'S',
            ppid,
            utime: 0,
            stime: 0,
            threads: 1,
            starttime: 1_000,
            rss_pages: 100,
        }
    }

    fn ticks(self, utime: u64, stime: u64) -> Self {
        Self {
            utime,
            stime,
            ..self
        }
    }

    /// The line the kernel writes: 52 fields, values from a real process.
    fn line(&self) -> String {
        let Self {
            pid,
            comm,
            state,
            ppid,
            utime,
            stime,
            threads,
            starttime,
            rss_pages,
        } = self;
        format!(
            "{pid} ({comm}) {state} {ppid} {pid} {pid} 34816 {pid} 4194560 5421 0 12 0 {utime} {stime} \
             0 0 20 0 {threads} 0 {starttime} 1150976000 {rss_pages} 18446744073709551615 \
             94557134880768 94557135011633 140724647683936 0 0 0 0 4096 134295555 0 0 0 17 1 0 0 \
             0 0 0 94557135060144 94557135066200 94557155954688 140724647689043 140724647689069 \
             140724647689069 140724647690221 0\n"
        )
    }
}

/// A directory laid out like `/proc`.
struct FakeRoot {
    dir: tempfile::TempDir,
}

impl FakeRoot {
    /// A root with `<root>/stat` (btime) and `pid_max` 32768, and no process.
    fn new() -> io::Result<Self> {
        let root = Self {
            dir: tempfile::tempdir()?,
        };
        root.write(
            "stat",
            format!(
                "cpu  10 0 20 300 0 0 0 0 0 0\ncpu0 10 0 20 300 0 0 0 0 0 0\nintr 42 0 0\n\
                 ctxt 1000\nbtime {BTIME}\nprocesses 500\nprocs_running 1\nprocs_blocked 0\n"
            ),
        )?;
        root.write("sys/kernel/pid_max", "32768\n")?;
        Ok(root)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn source(&self) -> LinuxProc {
        LinuxProc::with_root(self.path())
    }

    fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> io::Result<PathBuf> {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, content)?;
        Ok(path)
    }

    fn add(&self, stat: &Stat) -> io::Result<()> {
        self.write(&format!("{}/stat", stat.pid), stat.line())
            .map(drop)
    }
}

fn page_size() -> u64 {
    procfs::page_size()
}

/// The error kind of a read, or `"ok"` when it succeeded.
fn kind(result: Result<ProcessInfo, ProcError>) -> &'static str {
    result.map_or_else(|error| error.kind(), |_| "ok")
}

#[test]
fn a_normal_process() {
    let root = FakeRoot::new().unwrap();
    let stat = Stat {
        threads: 12,
        starttime: 29_874,
        rss_pages: 381,
        ..Stat::new(4242, 1).ticks(150, 50)
    };
    root.add(&stat).unwrap();
    let info = root.source().process(4242).unwrap();
    assert_eq!(
        info,
        ProcessInfo {
            pid: 4242,
            ppid: 1,
            state: 'S',
            cpu_ticks: 200,
            start_ticks: 29_874,
            threads: 12,
            rss_bytes: 381 * page_size(),
        }
    );
}

#[test]
fn boot_time_comes_from_btime() {
    let root = FakeRoot::new().unwrap();
    assert_eq!(root.source().boot_time().unwrap(), BTIME);

    root.write("stat", "cpu 1 2 3\nintr 1\n").unwrap();
    let error = root.source().boot_time().unwrap_err();
    assert_eq!(error.kind(), "unparsable");
    assert!(error.to_string().contains("no btime line"), "{error}");

    root.write("stat", "btimeless 5\n").unwrap();
    assert_eq!(root.source().boot_time().unwrap_err().kind(), "unparsable");

    root.write("stat", "btime soon\n").unwrap();
    assert_eq!(root.source().boot_time().unwrap_err().kind(), "unparsable");

    root.write("stat", b"intr \xff\xfe\nbtime 12\n").unwrap();
    assert_eq!(root.source().boot_time().unwrap(), 12);
}

#[test]
fn a_process_tree() {
    let root = FakeRoot::new().unwrap();
    for stat in [
        Stat::new(1, 0).ticks(5, 5),
        Stat::new(100, 1).ticks(10, 2),        // the agent
        Stat::new(101, 100).ticks(300, 30),    // cargo
        Stat::new(102, 100).ticks(1, 0),       // a shell
        Stat::new(103, 101).ticks(4_000, 500), // rustc, a grandchild
        Stat::new(200, 1).ticks(77, 0),        // unrelated
    ] {
        root.add(&stat).unwrap();
    }
    let table = root.source().process_table().unwrap();
    assert_eq!(table.len(), 6);
    assert_eq!(table.unreadable(), 0);
    assert_eq!(table.parent(103), Some(101));
    assert_eq!(
        table.tree(100),
        Some(TreeUsage {
            cpu_ticks: 12 + 330 + 1 + 4_500,
            procs: 4
        })
    );
    assert_eq!(
        table.tree(101),
        Some(TreeUsage {
            cpu_ticks: 4_830,
            procs: 2
        })
    );
    assert_eq!(
        table.tree(103),
        Some(TreeUsage {
            cpu_ticks: 4_500,
            procs: 1
        })
    );
    assert_eq!(table.tree(1).map(|tree| tree.procs), Some(6));
    assert_eq!(table.tree(999), None);
}

#[test]
fn non_process_entries_are_ignored_by_the_table() {
    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(7, 1)).unwrap();
    root.write("self/stat", Stat::new(7, 1).line()).unwrap();
    root.write("net/dev", "nothing").unwrap();
    let table = root.source().process_table().unwrap();
    assert_eq!((table.len(), table.unreadable()), (1, 0));
}

#[test]
fn invalid_pids_are_rejected_before_any_read() {
    let root = FakeRoot::new().unwrap();
    // Files exist for these pids, yet they are refused by validation.
    root.add(&Stat::new(32_768, 1)).unwrap();
    root.add(&Stat::new(40_000, 1)).unwrap();
    let source = root.source();
    assert_eq!(source.pid_max(), 32_768);
    for pid in [
        0,
        -1,
        -4242,
        i64::MIN,
        32_768,
        40_000,
        i64::from(i32::MAX) + 1,
        i64::MAX,
    ] {
        assert_eq!(kind(source.process(pid)), "invalid_pid", "pid {pid}");
    }
    assert_eq!(kind(source.process(32_767)), "no_such_process");
}

#[test]
fn pid_max_falls_back_to_the_kernel_limit() {
    let root = FakeRoot::new().unwrap();
    fs::remove_file(root.path().join("sys/kernel/pid_max")).unwrap();
    let source = root.source();
    assert_eq!(source.pid_max(), vitals_proc::PID_MAX_LIMIT);
    assert_eq!(kind(source.process(4_194_303)), "no_such_process");
    assert_eq!(kind(source.process(4_194_304)), "invalid_pid");

    root.write("sys/kernel/pid_max", "lots").unwrap();
    assert_eq!(source.pid_max(), vitals_proc::PID_MAX_LIMIT);
    root.write("sys/kernel/pid_max", "-5\n").unwrap();
    assert_eq!(source.pid_max(), vitals_proc::PID_MAX_LIMIT);
}

#[test]
fn a_missing_pid() {
    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(10, 1)).unwrap();
    let error = root.source().process(11).unwrap_err();
    assert!(
        matches!(error, ProcError::NoSuchProcess { pid: 11 }),
        "{error:?}"
    );
}

#[test]
fn a_process_that_exits_between_listing_and_reading() {
    // Its directory is still listed, its stat is already gone.
    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(10, 1).ticks(3, 4)).unwrap();
    fs::create_dir(root.path().join("11")).unwrap();
    let source = root.source();
    assert_eq!(kind(source.process(11)), "no_such_process");
    let table = source.process_table().unwrap();
    assert_eq!((table.len(), table.unreadable()), (1, 0));
    assert!(!table.contains(11));
}

#[test]
fn a_zombie() {
    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(10, 1).ticks(50, 5)).unwrap();
    root.add(&Stat {
        state: 'Z',
        rss_pages: 0,
        ..Stat::new(11, 10).ticks(7, 1)
    })
    .unwrap();
    let source = root.source();
    let zombie = source.process(11).unwrap();
    assert_eq!(
        (zombie.state, zombie.cpu_ticks, zombie.rss_bytes),
        ('Z', 8, 0)
    );
    // Zombies count as processes of the tree, with the ticks /proc reports.
    let table = source.process_table().unwrap();
    assert_eq!(
        table.tree(10),
        Some(TreeUsage {
            cpu_ticks: 63,
            procs: 2
        })
    );
}

#[test]
fn command_names_with_spaces_and_parentheses() {
    let root = FakeRoot::new().unwrap();
    for (pid, comm) in [(10, "(a) b (c)"), (11, ") R 1 2 3"), (12, "a b"), (13, "")] {
        let stat = Stat {
            comm: comm.to_owned(),
            state: 'R',
            ..Stat::new(pid, 1).ticks(1, 2)
        };
        root.add(&stat).unwrap();
        let info = root.source().process(pid.into()).unwrap();
        assert_eq!(
            (info.pid, info.state, info.ppid, info.cpu_ticks),
            (pid, 'R', 1, 3),
            "{comm:?}"
        );
    }
}

#[test]
fn truncated_and_garbage_stat_files() {
    let root = FakeRoot::new().unwrap();
    let line = Stat::new(10, 1).ticks(1, 2).line();
    let cases: [(&str, &[u8]); 6] = [
        ("truncated", &line.as_bytes()[..40]),
        (
            "cut before rss",
            &line.as_bytes()[..line.find(" 1150976000").unwrap()],
        ),
        ("garbage", b"\x00\x01 not a stat file at all"),
        ("empty", b""),
        ("parens only", b")("),
        ("letters for numbers", b"10 (x) S one two three"),
    ];
    for (name, content) in cases {
        let path = root.write("10/stat", content).unwrap();
        match root.source().process(10) {
            Err(ProcError::Unparsable { path: at, reason }) => {
                assert_eq!(at, path, "{name}");
                assert!(!reason.is_empty(), "{name}");
            }
            other => panic!("{name}: expected unparsable, got {other:?}"),
        }
    }
}

#[test]
fn a_stat_for_another_pid_is_unparsable() {
    let root = FakeRoot::new().unwrap();
    root.write("10/stat", Stat::new(11, 1).line()).unwrap();
    let error = root.source().process(10).unwrap_err();
    assert_eq!(error.kind(), "unparsable");
    assert!(error.to_string().contains("does not match"), "{error}");
}

#[test]
fn the_table_skips_and_counts_unreadable_entries() {
    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(10, 1).ticks(1, 1)).unwrap();
    root.add(&Stat::new(11, 10).ticks(2, 2)).unwrap();
    root.write("12/stat", "garbage").unwrap();
    root.write("13/stat", Stat::new(14, 1).line()).unwrap();
    let table = root.source().process_table().unwrap();
    assert_eq!((table.len(), table.unreadable()), (2, 2));
    assert_eq!(
        table.tree(10),
        Some(TreeUsage {
            cpu_ticks: 6,
            procs: 2
        })
    );
}

#[test]
fn an_unreadable_process_directory() {
    use std::os::unix::fs::PermissionsExt;

    let root = FakeRoot::new().unwrap();
    root.add(&Stat::new(10, 1)).unwrap();
    let stat = root.path().join("10/stat");
    fs::set_permissions(&stat, fs::Permissions::from_mode(0o000)).unwrap();
    let result = root.source().process(10);
    // A privileged user (root, CAP_DAC_OVERRIDE) reads through mode 000, so
    // which branch runs depends on who runs the tests; both are asserted.
    if fs::read(&stat).is_ok() {
        assert_eq!(result.unwrap().pid, 10, "privileged: the file is readable");
    } else {
        assert!(
            matches!(result, Err(ProcError::PermissionDenied { pid: 10 })),
            "{result:?}"
        );
    }
}

#[test]
fn a_root_that_does_not_exist() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("no-such-proc");
    let source = LinuxProc::with_root(&missing);

    match source.process(1) {
        Err(ProcError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected an io error on the root, got {other:?}"),
    }
    assert_eq!(source.process(0).unwrap_err().kind(), "invalid_pid");
    assert_eq!(source.boot_time().unwrap_err().kind(), "io");
    match source.process_table() {
        Err(error @ ProcError::Io { .. }) => {
            assert!(error.to_string().contains("no-such-proc"), "{error}");
        }
        other => panic!("expected an io error, got {other:?}"),
    }
    assert_eq!(source.pid_max(), vitals_proc::PID_MAX_LIMIT);
    assert!(source.clk_tck().is_some(), "clock ticks are the system's");
}

#[test]
fn a_root_that_is_a_file() {
    let root = FakeRoot::new().unwrap();
    let file = root.write("plain", "not a directory").unwrap();
    let source = LinuxProc::with_root(&file);
    assert_eq!(source.process(1).unwrap_err().kind(), "io");
    assert_eq!(source.process_table().unwrap_err().kind(), "io");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever bytes `stat` holds, reading the process returns (Ok or Err)
    /// instead of panicking, and the table counts it without failing.
    #[test]
    fn arbitrary_stat_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let root = FakeRoot::new().unwrap();
        root.write("10/stat", &bytes).unwrap();
        let source = root.source();
        match source.process(10) {
            Ok(info) => prop_assert_eq!(info.pid, 10),
            Err(error) => prop_assert_eq!(error.kind(), "unparsable"),
        }
        let table = source.process_table().unwrap();
        prop_assert_eq!(table.len() + table.unreadable(), 1);
    }

    /// Lines that are nearly right reach deeper into the parser.
    #[test]
    fn damaged_stat_lines_never_panic(cut in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..30)) {
        let root = FakeRoot::new().unwrap();
        let mut bytes = Stat { comm: "(a) b (c)".to_owned(), ..Stat::new(10, 1) }.line().into_bytes();
        bytes.truncate(cut);
        bytes.extend_from_slice(&junk);
        root.write("10/stat", &bytes).unwrap();
        let _ = root.source().process(10);
    }
}
