#![expect(clippy::unwrap_used, reason = "tests")]
//! The `agents` section against its fake and `FakeProc`, through the real assembler.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use vitals_agents::fake::FakeAgentSource;
use vitals_agents::{AgentSource, AgentsSection, KEY, ORDER, RunningAgent};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{Assembler, Clock, FixedClock, Resources, Section};
use vitals_proc::fake::{FakeProc, simple_process};
use vitals_proc::{ProcError, ProcSource, ProcessInfo, ProcessTable};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 2, 40, 13).unwrap()
}

/// `start_ticks` of a process that is `age_s` old at `now()` under the fake's boot time and clk_tck.
fn started_ago(age_s: i64) -> u64 {
    let since_boot = now().timestamp() - FakeProc::DEFAULT_BOOT_TIME - age_s;
    u64::try_from(since_boot).unwrap() * FakeProc::DEFAULT_CLK_TCK
}

/// A running job `job` with pid `pid`, started `job * 100` seconds ago.
fn agent(job: i64, pid: Option<i64>) -> RunningAgent {
    RunningAgent {
        agent: Some(format!("agent-{job}")),
        run_id: Some(job * 10),
        job_id: Some(job),
        repo: Some("app".into()),
        pid,
        started_at: Some(now() - Duration::seconds(job * 100)),
        model: Some("opus".into()),
        effort: Some("high".into()),
    }
}

/// A live process: `threads` 4, `rss_bytes` 1 MiB, `proc_age_s` 90, alone in its tree.
fn process(pid: i32, cpu_ticks: u64) -> ProcessInfo {
    ProcessInfo {
        state: 'R',
        start_ticks: started_ago(90),
        threads: 4,
        rss_bytes: 1 << 20,
        ..simple_process(pid, 1, cpu_ticks)
    }
}

/// The database part of an expected entry, with every process field null.
fn expected(job: i64, pid: Value) -> Value {
    let mut entry = json!({
        "agent": format!("agent-{job}"), "run_id": job * 10, "job_id": job, "repo": "app",
        "pid": null, "runtime_s": job * 100, "model": "opus", "effort": "high",
        "cpu_ticks": null, "state": null, "start_ticks": null, "proc_age_s": null,
        "threads": null, "rss_bytes": null, "tree_cpu_ticks": null, "tree_procs": null,
        "proc_status": null
    });
    entry["pid"] = pid;
    entry
}

/// `entry` whose process could not be read, for the reason `kind`.
fn unread(mut entry: Value, kind: &str) -> Value {
    entry["proc_status"] = json!(kind);
    entry
}

/// `base` with the process fields set.
fn with_proc(mut base: Value, fields: Value) -> Value {
    let Value::Object(fields) = fields else {
        return base;
    };
    for (k, v) in fields {
        base[k] = v;
    }
    base
}

/// The process fields of [`process`]`(_, cpu)` with the given tree.
fn live(cpu: u64, tree_cpu: u64, tree_procs: u32) -> Value {
    json!({
        "cpu_ticks": cpu, "state": "R", "start_ticks": started_ago(90), "proc_age_s": 90,
        "threads": 4, "rss_bytes": 1 << 20, "tree_cpu_ticks": tree_cpu, "tree_procs": tree_procs,
        "proc_status": "ok"
    })
}

async fn run(section: AgentsSection, clock: impl Clock) -> (Value, Value) {
    let assembler = Assembler::builder()
        .clock(clock)
        .section(section)
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let body = snapshot.body();
    (
        body[KEY].clone(),
        body["collector"]["sections"][KEY].clone(),
    )
}

async fn snapshot(agents: Vec<RunningAgent>, proc: impl ProcSource + 'static) -> (Value, Value) {
    let section =
        AgentsSection::new(Arc::new(FakeAgentSource::new(agents))).with_proc(Arc::new(proc));
    run(section, FixedClock::at(now())).await
}

/// The (field, kind) pairs recorded in the meta entry, and whether messages contain `needles`.
fn failures(meta: &Value) -> Vec<(String, String)> {
    meta.get("fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    (
                        f["field"].as_str().unwrap().to_owned(),
                        f["kind"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn live_agents_with_every_field_in_contract_order() {
    let proc = FakeProc::new()
        .with_process(process(100, 50))
        .with_process(process(200, 7));
    let section = AgentsSection::new(Arc::new(FakeAgentSource::new(vec![
        agent(1, Some(100)),
        agent(2, Some(200)),
    ])))
    .with_proc(Arc::new(proc));
    let (value, meta) = run(section.clone(), FixedClock::at(now())).await;
    assert_eq!(
        value,
        json!([
            with_proc(expected(1, json!(100)), live(50, 50, 1)),
            with_proc(expected(2, json!(200)), live(7, 7, 1)),
        ])
    );
    assert_eq!(meta["status"], "ok");
    let assembler = Assembler::builder().section(section).build().unwrap();
    let doc = OrderedJson::parse(assembler.build().await.to_json()).unwrap();
    let keys = doc[KEY][0].keys();
    assert_eq!(keys, vitals_agents::fields::ALL);
    assert_eq!(
        keys,
        [
            "agent",
            "run_id",
            "job_id",
            "repo",
            "pid",
            "runtime_s",
            "model",
            "effort",
            "cpu_ticks",
            "state",
            "start_ticks",
            "proc_age_s",
            "threads",
            "rss_bytes",
            "tree_cpu_ticks",
            "tree_procs",
            "proc_status"
        ]
    );
}

#[tokio::test]
async fn tree_sums_cover_children_and_grandchildren_only() {
    // 100 -> 101 -> 102, 100 -> 103; 300 is unrelated; 101 is a zombie child.
    let proc = FakeProc::new()
        .with_process(process(100, 50))
        .with_process(ProcessInfo {
            state: 'Z',
            ..simple_process(101, 100, 20)
        })
        .with_simple_process(102, 101, 900)
        .with_simple_process(103, 100, 30)
        .with_simple_process(300, 1, 10_000);
    let (value, meta) = snapshot(vec![agent(1, Some(100))], proc).await;
    assert_eq!(
        value,
        json!([with_proc(expected(1, json!(100)), live(50, 1000, 4))])
    );
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn pid_none_gives_null_process_fields_and_a_no_pid_note() {
    let proc = FakeProc::new().with_process(process(200, 7));
    let (value, meta) = snapshot(vec![agent(1, None), agent(2, Some(200))], proc).await;
    assert_eq!(
        value,
        json!([
            unread(expected(1, Value::Null), "no_pid"),
            with_proc(expected(2, json!(200)), live(7, 7, 1))
        ])
    );
    assert_eq!(meta["status"], "degraded");
    assert_eq!(failures(&meta), pairs(&[("agents[0].proc", "no_pid")]));
    assert_eq!(meta["fields"][0]["message"], "job 1 is running with no pid");
}

#[tokio::test]
async fn zero_negative_and_too_large_pids_are_invalid() {
    let proc = FakeProc::new().with_process(process(200, 7));
    let (value, meta) = snapshot(
        vec![
            agent(1, Some(0)),
            agent(2, Some(200)),
            agent(3, Some(-5)),
            agent(4, Some(i64::MAX)),
        ],
        proc,
    )
    .await;
    assert_eq!(
        value,
        json!([
            unread(expected(1, json!(0)), "invalid_pid"),
            with_proc(expected(2, json!(200)), live(7, 7, 1)),
            unread(expected(3, json!(-5)), "invalid_pid"),
            unread(expected(4, json!(i64::MAX)), "invalid_pid"),
        ])
    );
    assert_eq!(
        failures(&meta),
        pairs(&[
            ("agents[0].proc", "invalid_pid"),
            ("agents[2].proc", "invalid_pid"),
            ("agents[3].proc", "invalid_pid"),
        ])
    );
    assert_eq!(
        meta["fields"][1]["message"],
        "job 3, pid -5: invalid pid -5"
    );
}

#[tokio::test]
async fn dead_process_nulls_that_agent_only() {
    let proc = FakeProc::new().with_process(process(100, 50));
    let (value, meta) = snapshot(vec![agent(1, Some(100)), agent(2, Some(4242))], proc).await;
    assert_eq!(
        value,
        json!([
            with_proc(expected(1, json!(100)), live(50, 50, 1)),
            unread(expected(2, json!(4242)), "no_such_process")
        ])
    );
    assert_eq!(meta["status"], "degraded");
    assert_eq!(
        failures(&meta),
        pairs(&[("agents[1].proc", "no_such_process")])
    );
    assert_eq!(
        meta["fields"][0]["message"],
        "job 2, pid 4242: no such process: pid 4242"
    );
}

#[tokio::test]
async fn permission_denied_nulls_that_agent_only() {
    let proc = FakeProc::new()
        .with_process(process(100, 50))
        .with_process(process(200, 7))
        .with_error(200, ProcError::PermissionDenied { pid: 200 });
    let (value, meta) = snapshot(vec![agent(1, Some(100)), agent(2, Some(200))], proc).await;
    assert_eq!(
        value,
        json!([
            with_proc(expected(1, json!(100)), live(50, 50, 1)),
            unread(expected(2, json!(200)), "permission_denied")
        ])
    );
    assert_eq!(
        failures(&meta),
        pairs(&[("agents[1].proc", "permission_denied")])
    );
    assert_eq!(
        meta["fields"][0]["message"],
        "job 2, pid 200: permission denied reading process 200"
    );
}

#[tokio::test]
async fn io_errors_keep_their_cause_in_the_message() {
    let io = ProcError::io("/proc/200/stat", std::io::Error::other("disk on fire"));
    let proc = FakeProc::new()
        .with_process(process(200, 7))
        .with_error(200, io);
    let (_, meta) = snapshot(vec![agent(2, Some(200))], proc).await;
    assert_eq!(failures(&meta), pairs(&[("agents[0].proc", "io")]));
    assert_eq!(
        meta["fields"][0]["message"],
        "job 2, pid 200: cannot read /proc/200/stat: disk on fire"
    );
}

#[tokio::test]
async fn a_zombie_is_reported_as_read() {
    let zombie = ProcessInfo {
        state: 'Z',
        threads: 1,
        rss_bytes: 0,
        ..process(100, 55)
    };
    let proc = FakeProc::new().with_process(zombie);
    let (value, meta) = snapshot(vec![agent(1, Some(100))], proc).await;
    assert_eq!(
        value,
        json!([with_proc(
            expected(1, json!(100)),
            json!({"cpu_ticks": 55, "state": "Z", "start_ticks": started_ago(90), "proc_age_s": 90,
                   "threads": 1, "rss_bytes": 0, "tree_cpu_ticks": 55, "tree_procs": 1,
                   "proc_status": "ok"})
        )])
    );
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn runtime_and_proc_age_come_from_the_snapshot_clock() {
    // A reused pid: the process (30 s old) is younger than the job (100 s).
    let young = ProcessInfo {
        start_ticks: started_ago(30) + 50, // 29.5 s old: floored to 29
        ..process(100, 5)
    };
    let mut row = agent(1, Some(100));
    row.started_at = Some(now() - Duration::milliseconds(100_900)); // floored to 100
    let (value, _) = snapshot(vec![row], FakeProc::new().with_process(young)).await;
    assert_eq!(value[0]["runtime_s"], 100);
    assert_eq!(value[0]["proc_age_s"], 29);
    assert_eq!(value[0]["start_ticks"], started_ago(30) + 50);
}

#[tokio::test]
async fn a_missing_started_at_gives_a_null_runtime() {
    let mut row = agent(1, Some(100));
    row.started_at = None;
    let (value, meta) = snapshot(vec![row], FakeProc::new().with_process(process(100, 5))).await;
    assert_eq!(value[0]["runtime_s"], Value::Null);
    assert_eq!(value[0]["proc_age_s"], 90);
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn broken_clock_nulls_runtime_and_proc_age_without_a_record() {
    let section = AgentsSection::new(Arc::new(FakeAgentSource::new(vec![agent(1, Some(100))])))
        .with_proc(Arc::new(FakeProc::new().with_process(process(100, 50))));
    let (value, meta) = run(section, FixedClock::broken()).await;
    let mut want = with_proc(expected(1, json!(100)), live(50, 50, 1));
    want["runtime_s"] = Value::Null;
    want["proc_age_s"] = Value::Null;
    assert_eq!(value, json!([want]));
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn unknown_clk_tck_nulls_proc_age_without_a_record() {
    let proc = FakeProc::new()
        .with_clk_tck(None)
        .with_process(process(100, 50));
    let (value, meta) = snapshot(vec![agent(1, Some(100))], proc).await;
    let mut want = with_proc(expected(1, json!(100)), live(50, 50, 1));
    want["proc_age_s"] = Value::Null;
    assert_eq!(value, json!([want]));
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn boot_time_failure_nulls_every_proc_age_recorded_once() {
    let proc = FakeProc::new()
        .with_boot_time_error(ProcError::unparsable("/proc/stat", "no btime line"))
        .with_process(process(100, 50))
        .with_process(process(200, 7));
    let (value, meta) = snapshot(vec![agent(1, Some(100)), agent(2, Some(200))], proc).await;
    let mut one = with_proc(expected(1, json!(100)), live(50, 50, 1));
    let mut two = with_proc(expected(2, json!(200)), live(7, 7, 1));
    one["proc_age_s"] = Value::Null;
    two["proc_age_s"] = Value::Null;
    assert_eq!(value, json!([one, two]));
    assert_eq!(
        failures(&meta),
        pairs(&[("agents[*].proc_age_s", "unparsable")])
    );
    assert_eq!(
        meta["fields"][0]["message"],
        "cannot read the boot time: cannot parse /proc/stat: no btime line"
    );
}

#[tokio::test]
async fn table_failure_nulls_every_tree_recorded_once() {
    let proc = FakeProc::new()
        .with_table_error(ProcError::io("/proc", std::io::Error::other("gone")))
        .with_process(process(100, 50))
        .with_process(process(200, 7));
    let (value, meta) = snapshot(
        vec![
            agent(1, Some(100)),
            agent(2, Some(200)),
            agent(3, Some(300)),
        ],
        proc,
    )
    .await;
    let mut one = with_proc(expected(1, json!(100)), live(50, 50, 1));
    let mut two = with_proc(expected(2, json!(200)), live(7, 7, 1));
    for entry in [&mut one, &mut two] {
        entry["tree_cpu_ticks"] = Value::Null;
        entry["tree_procs"] = Value::Null;
    }
    assert_eq!(
        value,
        json!([one, two, unread(expected(3, json!(300)), "no_such_process")])
    );
    assert_eq!(
        failures(&meta),
        pairs(&[
            ("agents[2].proc", "no_such_process"),
            ("agents[*].tree", "io")
        ])
    );
    assert_eq!(
        meta["fields"][1]["message"],
        "cannot read the process table: cannot read /proc: gone"
    );
}

#[tokio::test]
async fn the_table_is_read_once_per_snapshot_and_not_at_all_without_a_live_pid() {
    let proc = Arc::new(
        FakeProc::new()
            .with_process(process(100, 50))
            .with_process(process(200, 7)),
    );
    let agents = Arc::new(FakeAgentSource::new(vec![
        agent(1, Some(100)),
        agent(2, Some(200)),
        agent(3, Some(300)),
    ]));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .section(AgentsSection::new(agents.clone()).with_proc(proc.clone()))
        .build()
        .unwrap();
    assembler.build().await;
    assert_eq!((proc.table_reads(), proc.process_reads()), (1, 3));
    assembler.build().await;
    assert_eq!((proc.table_reads(), proc.process_reads()), (2, 6));

    agents.set_agents(vec![agent(1, None), agent(2, Some(0))]);
    assembler.build().await;
    assert_eq!(proc.table_reads(), 2);
    agents.set_agents(Vec::new());
    let snapshot = assembler.build().await;
    assert_eq!(snapshot.body()[KEY], json!([]));
    assert_eq!(proc.table_reads(), 2);
}

#[tokio::test]
async fn ticks_move_between_snapshots_and_an_exited_process_becomes_null() {
    let proc = Arc::new(FakeProc::new().with_process(process(100, 50)));
    let agents = Arc::new(FakeAgentSource::new(vec![agent(1, Some(100))]));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .section(AgentsSection::new(agents).with_proc(proc.clone()))
        .build()
        .unwrap();
    assert_eq!(assembler.build().await.body()[KEY][0]["cpu_ticks"], 50);
    proc.update(100, |p| p.cpu_ticks += 25);
    assert_eq!(assembler.build().await.body()[KEY][0]["cpu_ticks"], 75);
    proc.remove(100);
    let snapshot = assembler.build().await;
    assert_eq!(
        snapshot.body()[KEY],
        json!([unread(expected(1, json!(100)), "no_such_process")])
    );
    assert_eq!(
        snapshot.body()["collector"]["sections"][KEY]["fields"][0]["kind"],
        "no_such_process"
    );
}

/// Answers processes from `FakeProc` but an empty process table, as when a
/// process starts after the table was read.
#[derive(Debug)]
struct EmptyTable(FakeProc);

impl ProcSource for EmptyTable {
    fn clk_tck(&self) -> Option<u64> {
        self.0.clk_tck()
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        self.0.boot_time()
    }
    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        self.0.process(pid)
    }
    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        Ok(ProcessTable::default())
    }
}

#[tokio::test]
async fn a_process_missing_from_the_table_has_null_tree_fields() {
    let proc = EmptyTable(FakeProc::new().with_process(process(100, 50)));
    let (value, meta) = snapshot(vec![agent(1, Some(100))], proc).await;
    let mut want = with_proc(expected(1, json!(100)), live(50, 50, 1));
    want["tree_cpu_ticks"] = Value::Null;
    want["tree_procs"] = Value::Null;
    assert_eq!(value, json!([want]));
    assert_eq!(
        failures(&meta),
        pairs(&[("agents[0].tree", "not_in_table")])
    );
}

/// Answers the process table as read a moment earlier: each process's own
/// ticks in it are `lag` lower than what `process` answers now.
#[derive(Debug)]
struct StaleTable {
    proc: FakeProc,
    lag: u64,
}

impl ProcSource for StaleTable {
    fn clk_tck(&self) -> Option<u64> {
        self.proc.clk_tck()
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        self.proc.boot_time()
    }
    fn process(&self, pid: i64) -> Result<ProcessInfo, ProcError> {
        self.proc.process(pid)
    }
    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        let table = self.proc.process_table()?;
        let pids = [100, 101];
        Ok(pids
            .into_iter()
            .filter_map(|pid| {
                let ticks = table.cpu_ticks(pid)?.saturating_sub(self.lag);
                Some((pid, table.parent(pid)?, ticks))
            })
            .collect())
    }
}

#[tokio::test]
async fn tree_cpu_ticks_never_lags_the_agents_own_cpu_ticks() {
    // The table is read before each agent's stat: a busy agent has burnt
    // more ticks by the time its own stat is read.
    let lone = StaleTable {
        proc: FakeProc::new().with_process(process(100, 50)),
        lag: 10,
    };
    let (value, _) = snapshot(vec![agent(1, Some(100))], lone).await;
    assert_eq!(
        value,
        json!([with_proc(expected(1, json!(100)), live(50, 50, 1))])
    );

    let parent = StaleTable {
        proc: FakeProc::new()
            .with_process(process(100, 50))
            .with_simple_process(101, 100, 30),
        lag: 10,
    };
    let (value, _) = snapshot(vec![agent(1, Some(100))], parent).await;
    // The agent's fresh 50 plus the child's 20 as the table saw it.
    assert_eq!(
        value,
        json!([with_proc(expected(1, json!(100)), live(50, 70, 2))])
    );
}

/// A process source that panics on every per-pid read.
#[derive(Debug)]
struct Exploding;

impl ProcSource for Exploding {
    fn clk_tck(&self) -> Option<u64> {
        Some(100)
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        Ok(0)
    }
    #[expect(clippy::panic, reason = "the test is about a panicking source")]
    fn process(&self, _pid: i64) -> Result<ProcessInfo, ProcError> {
        panic!("stat parser exploded")
    }
    fn process_table(&self) -> Result<ProcessTable, ProcError> {
        Ok(ProcessTable::default())
    }
}

/// Each pid is read on its own: a read that panics nulls the process
/// fields of its agent alone, and says so for that agent.
#[tokio::test]
async fn a_panicking_proc_source_nulls_process_fields_and_keeps_the_agents() {
    let (value, meta) = snapshot(vec![agent(1, Some(100)), agent(2, None)], Exploding).await;
    assert_eq!(
        value,
        json!([
            unread(expected(1, json!(100)), "panic"),
            unread(expected(2, Value::Null), "no_pid")
        ])
    );
    assert_eq!(meta["status"], "degraded");
    assert_eq!(
        failures(&meta),
        pairs(&[("agents[0].proc", "panic"), ("agents[1].proc", "no_pid")])
    );
    assert_eq!(
        meta["fields"][0]["message"],
        "job 1, pid 100: reading the process panicked: stat parser exploded"
    );
}

#[tokio::test]
async fn the_envelope_takes_clk_tck_from_the_sections_process_source() {
    let with = AgentsSection::new(Arc::new(FakeAgentSource::new(Vec::new())))
        .with_proc(Arc::new(FakeProc::new().with_clk_tck(Some(250))));
    let without = AgentsSection::new(Arc::new(FakeAgentSource::new(Vec::new())));
    let clk_tck = |section| async move {
        let assembler = Assembler::builder().section(section).build().unwrap();
        assembler.build().await.body()["clk_tck"].clone()
    };
    assert_eq!(clk_tck(with).await, json!(250));
    assert_eq!(clk_tck(without).await, Value::Null);
}

#[tokio::test]
async fn without_a_proc_source_every_process_field_is_null_and_nothing_is_recorded() {
    let section = AgentsSection::new(Arc::new(FakeAgentSource::new(vec![
        agent(1, Some(100)),
        agent(2, None),
    ])));
    assert_eq!(section.clk_tck(), None);
    let (value, meta) = run(section, FixedClock::at(now())).await;
    assert_eq!(
        value,
        json!([expected(1, json!(100)), expected(2, Value::Null)])
    );
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn source_error_gives_empty_array_and_an_error_status() {
    let section = AgentsSection::new(Arc::new(FakeAgentSource::failing(
        "missing_table",
        "no such table: jobs",
    )))
    .with_proc(Arc::new(FakeProc::new()));
    let (value, meta) = run(section, FixedClock::at(now())).await;
    assert_eq!(value, json!([]));
    assert_eq!(meta["status"], "error");
    assert_eq!(
        meta["error"],
        json!({"kind": "missing_table", "message": "no such table: jobs"})
    );
}

#[tokio::test]
async fn no_running_agents_is_an_honest_empty_array() {
    let (value, meta) = snapshot(Vec::new(), FakeProc::new()).await;
    assert_eq!(value, json!([]));
    assert_eq!(meta["status"], "ok");
}

#[tokio::test]
async fn database_nulls_pass_through() {
    let row = RunningAgent {
        pid: Some(100),
        ..RunningAgent::default()
    };
    let (value, _) = snapshot(vec![row], FakeProc::new().with_process(process(100, 1))).await;
    assert_eq!(
        value,
        json!([with_proc(
            json!({"agent": null, "run_id": null, "job_id": null, "repo": null, "pid": 100,
                   "runtime_s": null, "model": null, "effort": null}),
            live(1, 1, 1)
        )])
    );
}

// ---- metrics ----

fn families(section: &AgentsSection, value: &Value) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    section.metrics(value, &mut out);
    out
}

fn section_with_clk_tck(clk_tck: Option<u64>) -> AgentsSection {
    AgentsSection::new(Arc::new(FakeAgentSource::default()))
        .with_proc(Arc::new(FakeProc::new().with_clk_tck(clk_tck)))
}

#[test]
fn metrics_per_agent() {
    let value = json!([
        with_proc(expected(1, json!(100)), live(250, 1000, 3)),
        expected(2, Value::Null),
    ]);
    let section = section_with_clk_tck(Some(100));
    assert_eq!(section.clk_tck(), Some(100));
    let out = families(&section, &value);
    let summary: Vec<(&str, Option<&str>, MetricKind, usize)> = out
        .iter()
        .map(|f| (f.name.as_str(), f.unit.as_deref(), f.kind, f.samples.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("vitals_agent_cpu_ticks", None, MetricKind::Counter, 1),
            ("vitals_agent_cpu", Some("seconds"), MetricKind::Counter, 1),
            (
                "vitals_agent_runtime",
                Some("seconds"),
                MetricKind::Gauge,
                2
            ),
            ("vitals_agent_rss", Some("bytes"), MetricKind::Gauge, 1),
            ("vitals_agent_threads", None, MetricKind::Gauge, 1),
            ("vitals_agent_tree_cpu_ticks", None, MetricKind::Gauge, 1),
            ("vitals_agent_tree_procs", None, MetricKind::Gauge, 1),
            (
                "vitals_agent_proc_age",
                Some("seconds"),
                MetricKind::Gauge,
                1
            ),
            ("vitals_agent_state", None, MetricKind::Gauge, 1),
            (
                "vitals_agent_tree_cpu",
                Some("seconds"),
                MetricKind::Gauge,
                1
            ),
            ("vitals_agent_start_ticks", None, MetricKind::Gauge, 1),
            ("vitals_agent_process_status", None, MetricKind::Gauge, 1),
        ]
    );
    let values: Vec<f64> = out.iter().map(|f| f.samples[0].value).collect();
    assert_eq!(
        values,
        [
            250.0,
            2.5,
            100.0,
            1_048_576.0,
            4.0,
            1000.0,
            3.0,
            90.0,
            1.0,
            10.0,
            started_ago(90) as f64,
            1.0
        ]
    );
    let labels =
        |f: &MetricFamily, i: usize| -> Vec<(String, String)> { f.samples[i].labels.clone() };
    let want = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        labels(&out[0], 0),
        want(&[
            ("agent", "agent-1"),
            ("job_id", "1"),
            ("run_id", "10"),
            ("pid", "100")
        ])
    );
    // The agent without a pid still has a runtime, with an empty pid label.
    assert_eq!(
        labels(&out[2], 1),
        want(&[
            ("agent", "agent-2"),
            ("job_id", "2"),
            ("run_id", "20"),
            ("pid", "")
        ])
    );
    assert_eq!(
        labels(&out[8], 0),
        want(&[
            ("agent", "agent-1"),
            ("job_id", "1"),
            ("run_id", "10"),
            ("pid", "100"),
            ("state", "R")
        ])
    );
    assert_eq!(
        labels(&out[11], 0),
        want(&[
            ("agent", "agent-1"),
            ("job_id", "1"),
            ("run_id", "10"),
            ("pid", "100"),
            ("status", "ok")
        ])
    );
}

/// A dead pid has no CPU sample, but its status says why: a rule can tell
/// it from a target that is missing.
#[test]
fn metrics_say_how_reading_the_process_went() {
    let value = json!([
        unread(expected(1, json!(100)), "no_such_process"),
        unread(expected(2, Value::Null), "no_pid"),
    ]);
    let out = families(&section_with_clk_tck(Some(100)), &value);
    let status = out
        .iter()
        .find(|f| f.name == "vitals_agent_process_status")
        .unwrap();
    let statuses: Vec<(&str, &str, f64)> = status
        .samples
        .iter()
        .map(|s| {
            let label = |name: &str| {
                s.labels
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap()
            };
            (label("pid"), label("status"), s.value)
        })
        .collect();
    assert_eq!(
        statuses,
        [("100", "no_such_process", 1.0), ("", "no_pid", 1.0)]
    );
    assert!(
        out.iter().all(|f| !f.name.contains("cpu")),
        "no CPU sample for a dead pid"
    );
}

#[test]
fn metrics_without_clk_tck_have_no_cpu_seconds() {
    let value = json!([with_proc(expected(1, json!(100)), live(250, 1000, 3))]);
    let names: Vec<String> = families(&section_with_clk_tck(None), &value)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(names.contains(&"vitals_agent_cpu_ticks".to_owned()));
    assert!(!names.contains(&"vitals_agent_cpu".to_owned()));
    let zero = families(&section_with_clk_tck(Some(0)), &value);
    assert!(zero.iter().all(|f| f.name != "vitals_agent_cpu"));
}

#[test]
fn metrics_of_empty_or_null_values_are_nothing() {
    let section = section_with_clk_tck(Some(100));
    assert!(families(&section, &json!([])).is_empty());
    assert!(families(&section, &Value::Null).is_empty());
    let all_null = json!([{"agent": null, "runtime_s": null, "cpu_ticks": null, "state": null}]);
    assert!(families(&section, &all_null).is_empty());
}

// ---- registry ----

#[tokio::test]
async fn factory_needs_an_agent_source_and_uses_a_proc_source_when_present() {
    assert!(vitals_agents::factory(&Resources::new()).is_none());
    let proc: Arc<dyn ProcSource> = Arc::new(FakeProc::new().with_process(process(100, 50)));
    assert!(vitals_agents::factory(&Resources::new().with(proc.clone())).is_none());

    let source: Arc<dyn AgentSource> = Arc::new(FakeAgentSource::new(vec![agent(1, Some(100))]));
    let without = vitals_agents::factory(&Resources::new().with(source.clone())).unwrap();
    assert_eq!((without.key(), without.order()), (KEY, ORDER));
    let cx = vitals_core::Collect::standalone(Some(now()), std::time::Duration::from_secs(1));
    assert_eq!(
        without.collect(&cx).await.unwrap().to_value()[0]["cpu_ticks"],
        Value::Null
    );

    let with = vitals_agents::factory(&Resources::new().with(source).with(proc)).unwrap();
    let cx = vitals_core::Collect::standalone(Some(now()), std::time::Duration::from_secs(1));
    assert_eq!(
        with.collect(&cx).await.unwrap().to_value()[0]["cpu_ticks"],
        50
    );
}

#[tokio::test]
async fn registered_under_its_key_and_order() {
    let descriptor = vitals_core::registered()
        .into_iter()
        .find(|d| d.name == KEY)
        .unwrap();
    assert_eq!(descriptor.order, ORDER);
    let source: Arc<dyn AgentSource> = Arc::new(FakeAgentSource::new(vec![agent(1, None)]));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now()))
        .registered(&Resources::new().with(source))
        .build()
        .unwrap();
    assert_eq!(
        assembler.build().await.body()[KEY],
        json!([expected(1, Value::Null)])
    );
}
