//! The `ProcSource` trait as users hold it: forwarding impls, trait objects,
//! and the behaviour of the in-memory `FakeProc`.

use std::io;
use std::sync::Arc;

use vitals_proc::fake::{FakeProc, simple_process};
use vitals_proc::{LinuxProc, PID_MAX_LIMIT, ProcError, ProcSource, ProcessInfo, TreeUsage};

fn family() -> FakeProc {
    FakeProc::new()
        .with_clk_tck(Some(250))
        .with_boot_time(1_000)
        .with_simple_process(10, 1, 5)
        .with_simple_process(11, 10, 7)
        .with_process(ProcessInfo {
            state: 'Z',
            ..simple_process(12, 11, 1)
        })
        .with_error(13, ProcError::PermissionDenied { pid: 13 })
}

/// What any source built from `family()` answers, whatever wraps it.
#[expect(
    clippy::unwrap_used,
    reason = "an assertion helper: a failed unwrap is a failed test"
)]
fn check_family(source: &dyn ProcSource) {
    assert_eq!(source.clk_tck(), Some(250));
    assert_eq!(source.boot_time().unwrap(), 1_000);
    assert_eq!(source.process(11).unwrap(), simple_process(11, 10, 7));
    assert_eq!(source.process(12).unwrap().state, 'Z');
    assert_eq!(source.process(13).unwrap_err().kind(), "permission_denied");
    assert_eq!(source.process(14).unwrap_err().kind(), "no_such_process");
    assert_eq!(source.process(0).unwrap_err().kind(), "invalid_pid");
    let table = source.process_table().unwrap();
    assert_eq!(
        table.tree(10),
        Some(TreeUsage {
            cpu_ticks: 13,
            procs: 3
        })
    );
}

fn assert_source<S: ProcSource>(source: S) -> S {
    source
}

#[test]
fn forwarding_impls() {
    let fake = family();
    check_family(&assert_source(&fake));
    check_family(&assert_source(Box::new(family())));
    check_family(&assert_source(Arc::new(family())));
    check_family(&assert_source(&&fake));

    let boxed: Box<dyn ProcSource> = Box::new(family());
    check_family(&assert_source(&boxed));
    let shared: Arc<dyn ProcSource> = Arc::new(family());
    check_family(&assert_source(Arc::clone(&shared)));
    check_family(&assert_source(Box::new(Arc::clone(&shared))));
    let borrowed: &dyn ProcSource = &fake;
    check_family(&assert_source(borrowed));
}

#[test]
fn sources_and_errors_cross_threads() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<FakeProc>();
    send_sync_static::<LinuxProc>();
    send_sync_static::<Arc<dyn ProcSource>>();
    send_sync_static::<ProcError>();

    let shared: Arc<dyn ProcSource> = Arc::new(family());
    let worker = Arc::clone(&shared);
    let ticks = std::thread::spawn(move || worker.process(10).map(|p| p.cpu_ticks).ok());
    assert_eq!(ticks.join().unwrap(), Some(5));
}

#[test]
fn fake_defaults() {
    let fake = FakeProc::default();
    assert_eq!(fake.clk_tck(), Some(FakeProc::DEFAULT_CLK_TCK));
    assert_eq!(fake.boot_time().unwrap(), FakeProc::DEFAULT_BOOT_TIME);
    assert!(fake.process_table().unwrap().is_empty());
    assert_eq!(fake.process(1).unwrap_err().kind(), "no_such_process");
    assert_eq!(
        fake.process(PID_MAX_LIMIT - 1).unwrap_err().kind(),
        "no_such_process"
    );
    assert_eq!(
        fake.process(PID_MAX_LIMIT).unwrap_err().kind(),
        "invalid_pid"
    );
}

#[test]
fn fake_clock_and_boot_failures() {
    let fake = FakeProc::new()
        .with_clk_tck(None)
        .with_boot_time_error(ProcError::io("/proc/stat", io::Error::other("gone")));
    assert_eq!(fake.clk_tck(), None);
    // The same injected error is returned every time.
    for _ in 0..2 {
        assert_eq!(fake.boot_time().unwrap_err().kind(), "io");
    }
}

#[test]
fn fake_pid_max_is_checked_before_injected_errors() {
    let fake = FakeProc::new()
        .with_pid_max(100)
        .with_simple_process(99, 1, 0)
        .with_error(100, ProcError::Unsupported)
        .with_error(-3, ProcError::Unsupported);
    assert!(fake.process(99).is_ok());
    assert_eq!(fake.process(100).unwrap_err().kind(), "invalid_pid");
    assert_eq!(fake.process(-3).unwrap_err().kind(), "invalid_pid");
}

#[test]
fn fake_table_failure_leaves_processes_readable() {
    let fake = family().with_table_error(ProcError::unparsable("/proc", "test"));
    assert_eq!(fake.process_table().unwrap_err().kind(), "unparsable");
    assert_eq!(fake.process(10).unwrap().cpu_ticks, 5);
}

#[test]
fn fake_changes_while_shared() {
    let fake = Arc::new(family());
    let source: Arc<dyn ProcSource> = fake.clone();

    assert!(fake.update(10, |info| info.cpu_ticks += 100));
    assert!(!fake.update(99, |info| info.cpu_ticks += 100));
    assert_eq!(source.process(10).unwrap().cpu_ticks, 105);

    fake.insert(simple_process(20, 10, 1_000));
    assert_eq!(
        source.process_table().unwrap().tree(10).map(|t| t.procs),
        Some(4)
    );

    assert_eq!(fake.remove(11).map(|info| info.pid), Some(11));
    assert_eq!(fake.remove(11), None);
    assert_eq!(source.process(11).unwrap_err().kind(), "no_such_process");
    // The grandchild is an orphan now: the agent's tree loses both.
    assert_eq!(
        source.process_table().unwrap().tree(10),
        Some(TreeUsage {
            cpu_ticks: 1_105,
            procs: 2
        })
    );
}

#[test]
fn fake_counts_reads() {
    let fake = family();
    assert_eq!((fake.process_reads(), fake.table_reads()), (0, 0));
    let _ = fake.process(10);
    let _ = fake.process(-1);
    let _ = fake.process_table();
    assert_eq!((fake.process_reads(), fake.table_reads()), (2, 1));
}

#[test]
fn fake_survives_a_panic_while_updating() {
    let fake = Arc::new(family());
    let inside = Arc::clone(&fake);
    let outcome = std::thread::spawn(move || {
        inside.update(10, |_| panic!("a test bug while the state is locked"));
    })
    .join();
    assert!(outcome.is_err());
    assert_eq!(fake.process(10).unwrap().cpu_ticks, 5);
}
