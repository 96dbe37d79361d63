//! The process that reads (`own_process`, `own_open_fds`, `own_max_fds`):
//! `LinuxProc` on fake trees with known numbers and on the real `/proc`,
//! `FakeProc`, and the defaults of a source written before these methods.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use vitals_proc::fake::{FakeProc, simple_process};
use vitals_proc::{OwnProcess, ProcError, ProcSource, ProcessInfo, ProcessTable};

/// A source that implements only the required methods.
#[derive(Debug)]
struct OldSource;

impl ProcSource for OldSource {
    fn clk_tck(&self) -> Option<u64> {
        Some(100)
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        Ok(0)
    }
    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        Err(ProcError::NoSuchProcess { pid })
    }
    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        Ok(ProcessTable::default())
    }
}

#[test]
fn a_source_written_before_the_own_methods_answers_unsupported() {
    let source: Arc<dyn ProcSource> = Arc::new(OldSource);
    assert_eq!(source.own_process().unwrap_err().kind(), "unsupported");
    assert_eq!(source.own_open_fds().unwrap_err().kind(), "unsupported");
    assert_eq!(source.own_max_fds().unwrap_err().kind(), "unsupported");
}

#[test]
fn fake_proc_serves_known_numbers_through_every_wrapper() {
    let fake = Arc::new(
        FakeProc::new()
            .with_own_process(OwnProcess::new(simple_process(77, 1, 1234), 4096))
            .with_own_fds(12, Some(1024)),
    );
    let as_dyn: Arc<dyn ProcSource> = fake.clone();
    let boxed: Box<dyn ProcSource> = Box::new(Arc::clone(&fake));
    for source in [&*as_dyn, &*boxed, &&*fake as &dyn ProcSource] {
        let own = source.own_process().unwrap();
        assert_eq!(
            (own.info.pid, own.info.cpu_ticks, own.vsize_bytes),
            (77, 1234, 4096)
        );
        assert_eq!(source.own_open_fds().unwrap(), 12);
        assert_eq!(source.own_max_fds().unwrap(), Some(1024));
    }
    assert!(fake.update_own(|own| own.info.cpu_ticks += 6));
    assert_eq!(as_dyn.own_process().unwrap().info.cpu_ticks, 1240);

    let failing = FakeProc::new()
        .with_own_process_error(ProcError::PermissionDenied { pid: 77 })
        .with_own_fds_error(ProcError::unparsable("/proc/self/limits", "garbage"));
    assert_eq!(
        failing.own_process().unwrap_err().kind(),
        "permission_denied"
    );
    assert_eq!(failing.own_open_fds().unwrap_err().kind(), "unparsable");
    assert_eq!(failing.own_max_fds().unwrap_err().kind(), "unparsable");
    assert!(!failing.update_own(|_| {}));
    assert_eq!(
        FakeProc::new().own_process().unwrap_err().kind(),
        "unsupported"
    );
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::path::Path;

    use vitals_proc::{LinuxProc, ProcSource};

    /// A stat line with known numbers: pid 4242, 7 threads, utime 300,
    /// stime 45, starttime 5000 ticks, vsize 123456789 bytes, rss 250 pages.
    const STAT: &str = "4242 (vitals serve) S 1 4242 4242 0 -1 4194560 5421 0 12 0 300 45 \
        0 0 20 0 7 0 5000 123456789 250 18446744073709551615 \
        1 1 0 0 0 0 0 4096 134295555 0 0 0 17 1 0 0 0 0 0 1 1 1 1 1 1 1 0\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            2048                 524288               files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    /// Writes the own process's files under `dir` (`<root>/self` or `<root>/<pid>`).
    fn write_own(dir: &Path, fds: usize) {
        fs::create_dir_all(dir.join("fd")).unwrap();
        fs::write(dir.join("stat"), STAT).unwrap();
        fs::write(dir.join("limits"), LIMITS).unwrap();
        for fd in 0..fds {
            fs::write(dir.join("fd").join(fd.to_string()), "").unwrap();
        }
    }

    fn check_known_numbers(source: &LinuxProc, fds: u64) {
        let own = source.own_process().unwrap();
        assert_eq!(own.info.pid, 4242);
        assert_eq!(own.info.cpu_ticks, 345);
        assert_eq!(own.info.start_ticks, 5000);
        assert_eq!(own.info.threads, 7);
        // 250 pages of the running system's page size.
        assert_eq!(own.info.rss_bytes % 250, 0);
        let page = own.info.rss_bytes / 250;
        assert!(page.is_power_of_two() && page >= 4096, "page size {page}");
        assert_eq!(own.vsize_bytes, 123_456_789);
        assert_eq!(source.own_open_fds().unwrap(), fds);
        assert_eq!(source.own_max_fds().unwrap(), Some(2048));
    }

    #[test]
    fn a_fake_tree_with_self() {
        let dir = tempfile::tempdir().unwrap();
        write_own(&dir.path().join("self"), 5);
        check_known_numbers(&LinuxProc::with_root(dir.path()), 5);
    }

    #[test]
    fn a_fake_tree_without_self_is_read_under_the_own_pid() {
        let dir = tempfile::tempdir().unwrap();
        write_own(&dir.path().join(std::process::id().to_string()), 3);
        check_known_numbers(&LinuxProc::with_root(dir.path()), 3);
    }

    #[test]
    fn unlimited_fds_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("self");
        write_own(&own, 0);
        let source = LinuxProc::with_root(dir.path());
        assert_eq!(source.own_open_fds().unwrap(), 0);

        fs::write(
            own.join("limits"),
            "Max open files  unlimited  unlimited  files\n",
        )
        .unwrap();
        assert_eq!(source.own_max_fds().unwrap(), None);
        fs::write(
            own.join("limits"),
            "Max open files  many  unlimited  files\n",
        )
        .unwrap();
        assert_eq!(source.own_max_fds().unwrap_err().kind(), "unparsable");
        fs::write(own.join("limits"), b"\xff\xfe").unwrap();
        assert_eq!(source.own_max_fds().unwrap_err().kind(), "unparsable");

        fs::write(own.join("stat"), "4242 (x) S 1 2").unwrap();
        assert_eq!(source.own_process().unwrap_err().kind(), "unparsable");
        fs::write(own.join("stat"), vec![b' '; 70_000]).unwrap();
        assert_eq!(source.own_process().unwrap_err().kind(), "unparsable");

        fs::remove_file(own.join("stat")).unwrap();
        fs::remove_file(own.join("limits")).unwrap();
        fs::remove_dir(own.join("fd")).unwrap();
        assert_eq!(source.own_process().unwrap_err().kind(), "io");
        assert_eq!(source.own_open_fds().unwrap_err().kind(), "io");
        assert_eq!(source.own_max_fds().unwrap_err().kind(), "io");
    }

    #[test]
    fn a_missing_root_is_an_io_error() {
        let source = LinuxProc::with_root("/nonexistent/vitals-proc-root");
        assert_eq!(source.own_process().unwrap_err().kind(), "io");
        assert_eq!(source.own_open_fds().unwrap_err().kind(), "io");
        assert_eq!(source.own_max_fds().unwrap_err().kind(), "io");
    }

    #[test]
    fn the_real_process() {
        let source = LinuxProc::new();
        let own = source.own_process().unwrap();
        assert_eq!(i64::from(own.info.pid), i64::from(std::process::id()));
        // The main thread's state (the test harness's, waiting on this thread).
        assert!(own.info.state.is_ascii_alphabetic(), "{}", own.info.state);
        assert!(own.info.threads >= 1);
        assert!(own.info.rss_bytes > 0);
        assert!(own.vsize_bytes >= own.info.rss_bytes);
        // The same facts as through the pid.
        let by_pid = source.process(i64::from(std::process::id())).unwrap();
        assert_eq!(by_pid.start_ticks, own.info.start_ticks);

        // Opening files raises the count by as many.
        let before = source.own_open_fds().unwrap();
        assert!(before >= 3, "stdin, stdout, stderr at least: {before}");
        let held: Vec<fs::File> = (0..4)
            .map(|_| fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let after = source.own_open_fds().unwrap();
        drop(held);
        // Other test threads open and close files meanwhile, so only a floor:
        // stdin, stdout, stderr and the four held.
        assert!(after >= 7, "{before} -> {after}");

        let max = source.own_max_fds().unwrap();
        if let Some(max) = max {
            assert!(max >= after, "{max} < {after}");
        }
    }
}
