#![expect(clippy::unwrap_used, reason = "tests")]
//! A read of one agent's process facts that never returns costs that agent
//! its process fields (kind `timeout`), never the whole section: each read
//! has its own budget inside the section's deadline, and a read still hung
//! is not started again, so blocked threads never pile up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use vitals_agents::fake::FakeAgentSource;
use vitals_agents::{AgentsSection, KEY, RunningAgent};
use vitals_core::{Assembler, FixedClock};
use vitals_proc::fake::{FakeProc, simple_process};
use vitals_proc::{ProcError, ProcSource, ProcessInfo, ProcessTable};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap()
}

fn agent(job: i64, pid: i64) -> RunningAgent {
    RunningAgent {
        agent: Some(format!("agent-{job}")),
        job_id: Some(job),
        pid: Some(pid),
        ..RunningAgent::default()
    }
}

/// An assembler with the agents section alone, reading `proc`, under a
/// short deadline.
fn assembler(agents: Vec<RunningAgent>, proc: Arc<dyn ProcSource>) -> Assembler {
    Assembler::builder()
        .clock(FixedClock::at(now()))
        .default_deadline(Duration::from_millis(400))
        .section(AgentsSection::new(Arc::new(FakeAgentSource::new(agents))).with_proc(proc))
        .build()
        .unwrap()
}

/// One snapshot: the agents, and their meta entry.
async fn scrape(assembler: &Assembler) -> (Vec<Value>, Value) {
    let snapshot = assembler.build().await;
    let body = snapshot.body();
    assert!(
        assembler.in_flight().is_empty(),
        "the section's run ended within its deadline"
    );
    (
        body[KEY].as_array().unwrap().clone(),
        body["collector"]["sections"][KEY].clone(),
    )
}

/// The recorded failure of `field`: (kind, message).
fn failure(meta: &Value, field: &str) -> Option<(String, String)> {
    meta["fields"].as_array()?.iter().find_map(|f| {
        (f["field"] == field).then(|| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
    })
}

/// A process source whose read of one pid blocks until the gate opens.
#[derive(Debug)]
struct Hanging {
    inner: FakeProc,
    pid: i64,
    open: Mutex<bool>,
    opened: Condvar,
    reads: AtomicUsize,
}

impl Hanging {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl ProcSource for Hanging {
    fn clk_tck(&self) -> Option<u64> {
        self.inner.clk_tck()
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        self.inner.boot_time()
    }
    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        if pid == self.pid {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        self.inner.process(pid)
    }
    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        self.inner.process_table()
    }
}

#[tokio::test]
async fn a_hung_process_read_costs_its_agent_only_and_is_not_started_twice() {
    let hanging = Arc::new(Hanging {
        inner: FakeProc::new()
            .with_process(simple_process(100, 1, 50))
            .with_process(simple_process(200, 1, 60))
            .with_process(simple_process(300, 1, 70)),
        pid: 200,
        open: Mutex::new(false),
        opened: Condvar::new(),
        reads: AtomicUsize::new(0),
    });
    let assembler = assembler(
        vec![agent(1, 100), agent(2, 200), agent(3, 300)],
        Arc::clone(&hanging) as Arc<dyn ProcSource>,
    );
    for round in 0..3 {
        let (agents, meta) = scrape(&assembler).await;
        assert_eq!(meta["status"], "degraded", "round {round}: {meta}");
        assert_eq!(agents[0]["cpu_ticks"], 50, "round {round}");
        assert_eq!(agents[0]["tree_cpu_ticks"], 50, "round {round}");
        assert_eq!(agents[2]["cpu_ticks"], 70, "round {round}");
        assert_eq!(agents[1]["cpu_ticks"], Value::Null, "round {round}");
        assert_eq!(agents[1]["proc_status"], "timeout", "round {round}");
        let (kind, message) = failure(&meta, "agents[1].proc").unwrap();
        assert_eq!(kind, "timeout");
        assert!(message.starts_with("job 2, pid 200: "), "{message}");
        if round > 0 {
            assert!(message.contains("not started again"), "{message}");
        }
        assert_eq!(meta["fields"].as_array().unwrap().len(), 1, "{meta}");
        // One thread blocked, however many snapshots.
        assert_eq!(hanging.reads.load(Ordering::SeqCst), 1);
    }
    // The read returns: the next snapshot reads the process again.
    hanging.open();
    let start = Instant::now();
    loop {
        let (agents, _) = scrape(&assembler).await;
        if agents[1]["proc_status"] == "ok" {
            assert_eq!(agents[1]["cpu_ticks"], 60);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never read again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hanging.reads.load(Ordering::SeqCst), 2);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_stat_file_that_never_answers_times_out_in_a_fake_proc_tree() {
    use std::os::unix::fs::OpenOptionsExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("stat"), "cpu 1 2 3\nbtime 1764290000\n").unwrap();
    std::fs::create_dir(root.join("100")).unwrap();
    std::fs::write(
        root.join("100/stat"),
        "100 (agent) S 1 100 100 34816 100 4194560 5421 0 12 0 40 2 0 0 20 0 3 0 1000 \
         1150976000 100 18446744073709551615 1 1 1 0 0 0 0 4096 134295555 0 0 0 17 1 0 0 \
         0 0 0 1 1 1 1 1 1 1 0\n",
    )
    .unwrap();
    // Pid 200's stat is a FIFO nobody writes: opening it blocks for ever
    // (the process table read, which walks every stat, blocks on it too).
    std::fs::create_dir(root.join("200")).unwrap();
    let fifo = root.join("200/stat");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    let proc = Arc::new(vitals_proc::LinuxProc::with_root(root));
    let assembler = assembler(vec![agent(1, 100), agent(2, 200)], proc);
    for round in 0..2 {
        let (agents, meta) = scrape(&assembler).await;
        assert_eq!(meta["status"], "degraded", "round {round}: {meta}");
        assert_eq!(agents[0]["cpu_ticks"], 42, "round {round}");
        assert_eq!(agents[0]["state"], "S", "round {round}");
        assert_eq!(agents[0]["proc_status"], "ok", "round {round}");
        assert_eq!(agents[1]["proc_status"], "timeout", "round {round}");
        assert_eq!(agents[1]["cpu_ticks"], Value::Null, "round {round}");
        assert_eq!(failure(&meta, "agents[1].proc").unwrap().0, "timeout");
        // The table could not be read: the tree sums of every agent are
        // null, said once.
        assert_eq!(failure(&meta, "agents[*].tree").unwrap().0, "timeout");
        assert_eq!(agents[0]["tree_cpu_ticks"], Value::Null);
    }
    // Let the blocked readers go (they read an empty file and end).
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&fifo);
}
