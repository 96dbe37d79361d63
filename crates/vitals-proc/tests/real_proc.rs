//! `LinuxProc` on the real `/proc`, with live child processes: a busy one, a
//! sleeping one, a zombie and a reaped one.
//!
//! Only "rose" and "flat" are asserted about time; waits poll with a generous
//! deadline so that a loaded machine slows the test down instead of failing
//! it.
#![cfg(target_os = "linux")]

use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vitals_proc::{LinuxProc, ProcError, ProcSource, ProcessInfo, proc_age_s};

const DEADLINE: Duration = Duration::from_secs(20);

/// Child processes that are killed and reaped when the test ends, even when
/// an assertion fails first.
struct Children(Vec<Child>);

impl Children {
    fn spawn(&mut self, program: &str, args: &[&str]) -> std::io::Result<i64> {
        let child = Command::new(program).args(args).spawn()?;
        let pid = i64::from(child.id());
        self.0.push(child);
        Ok(pid)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads `pid` until `done` holds; panics at the deadline.
fn read_until(
    source: &LinuxProc,
    pid: i64,
    what: &str,
    done: impl Fn(&ProcessInfo) -> bool,
) -> Result<ProcessInfo, ProcError> {
    let start = Instant::now();
    loop {
        let info = source.process(pid)?;
        if done(&info) {
            return Ok(info);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "pid {pid} never {what}: {info:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

fn now_unix_s() -> Option<i64> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_secs()).ok()
}

#[test]
fn busy_ticks_rise_and_sleeping_ticks_stay_flat() {
    let source = LinuxProc::new();
    let mut children = Children(Vec::new());
    let busy = children
        .spawn("sh", &["-c", "while :; do :; done"])
        .unwrap();
    let sleeper = children.spawn("sleep", &["30"]).unwrap();

    // Once `sleep` has started and is asleep it does not run again; the
    // pause lets its start-up (exec, loader) finish for certain.
    read_until(&source, sleeper, "slept", |info| info.state == 'S').unwrap();
    sleep(Duration::from_millis(200));
    let first_sleeper = source.process(sleeper).unwrap();
    let first_busy = source.process(busy).unwrap();
    sleep(Duration::from_millis(300));
    let second_sleeper = source.process(sleeper).unwrap();
    let second_busy = read_until(&source, busy, "used CPU", |info| {
        info.cpu_ticks > first_busy.cpu_ticks
    })
    .unwrap();

    assert!(second_busy.cpu_ticks > first_busy.cpu_ticks);
    assert_eq!(
        second_sleeper.cpu_ticks, first_sleeper.cpu_ticks,
        "the sleeper ran"
    );
    assert_eq!(second_sleeper.state, 'S');

    // The same process keeps its identity (pid, start_ticks) between reads.
    assert_eq!(second_busy.start_ticks, first_busy.start_ticks);
    assert_eq!(second_sleeper.start_ticks, first_sleeper.start_ticks);

    let me = i32::try_from(std::process::id()).unwrap();
    for info in [&second_busy, &second_sleeper] {
        assert_eq!(info.ppid, me);
        assert!(info.threads >= 1, "{info:?}");
        assert!(info.rss_bytes > 0, "{info:?}");
    }

    // One pass over the table sums this test process and its children.
    let table = source.process_table().unwrap();
    let busy32 = i32::try_from(busy).unwrap();
    assert_eq!(table.parent(busy32), Some(me));
    let tree = table.tree(me).unwrap();
    assert!(tree.procs >= 3, "{tree:?}");
    assert!(tree.cpu_ticks >= second_busy.cpu_ticks, "{tree:?}");
    assert_eq!(table.tree(busy32).map(|tree| tree.procs), Some(1));
}

#[test]
fn a_zombie_then_a_reaped_child() {
    let source = LinuxProc::new();
    let mut children = Children(Vec::new());
    let pid = children.spawn("sh", &["-c", "exit 0"]).unwrap();

    // Exited but not yet waited for: a zombie, still readable.
    let zombie = read_until(&source, pid, "became a zombie", |info| info.state == 'Z').unwrap();
    assert_eq!(zombie.rss_bytes, 0);

    for child in &mut children.0 {
        child.wait().unwrap();
    }
    let error = source.process(pid).unwrap_err();
    assert!(
        matches!(error, ProcError::NoSuchProcess { pid: p } if p == pid),
        "{error:?}"
    );
    let table = source.process_table().unwrap();
    assert!(!table.contains(i32::try_from(pid).unwrap()));
}

#[test]
fn a_killed_and_reaped_child_is_gone() {
    let source = LinuxProc::new();
    let mut children = Children(Vec::new());
    let pid = children.spawn("sleep", &["30"]).unwrap();
    assert!(source.process(pid).is_ok());
    for child in &mut children.0 {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(source.process(pid).unwrap_err().kind(), "no_such_process");
}

#[test]
fn this_process_and_the_clocks() {
    let source = LinuxProc::new();
    let clk_tck = source.clk_tck().unwrap();
    assert!(clk_tck > 0);
    let boot_time = source.boot_time().unwrap();
    let now = now_unix_s().unwrap();
    assert!(
        boot_time > 0 && boot_time <= now,
        "btime {boot_time}, now {now}"
    );
    assert!(source.pid_max() > 1);

    let me = source.process(i64::from(std::process::id())).unwrap();
    assert_eq!(
        me.ppid,
        i32::try_from(std::os::unix::process::parent_id()).unwrap()
    );
    // The state is the main thread's: the harness's main thread waits on the
    // test threads, so it may read `S` although this thread runs.
    assert!(me.state.is_ascii_alphabetic(), "{me:?}");
    assert!(
        me.threads >= 2,
        "the harness main thread and this test thread: {me:?}"
    );

    let age = proc_age_s(now, boot_time, me.start_ticks, clk_tck).unwrap();
    assert!((0..=now - boot_time).contains(&age), "age {age}");
}

#[test]
fn works_behind_a_trait_object() {
    let source: Box<dyn ProcSource> = Box::new(LinuxProc::default());
    assert!(source.process(i64::from(std::process::id())).is_ok());
    assert_eq!(source.process(-1).unwrap_err().kind(), "invalid_pid");
}
