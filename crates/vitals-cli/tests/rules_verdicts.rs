//! The watcher and the rules read the same `Thresholds`: one recorded
//! scenario, fed to both, gets the same verdicts.
//!
//! The scenario is a minute-by-minute story of a few agents (busy, stuck, an
//! idle agent with a busy child, one that dies, one whose pid is reused, a
//! zombie, a job that starts late and stays quiet). Each minute is built by
//! the real collector (the assembler, the agents section, fake sources with
//! a fixed clock): its JSON goes to `vitals-client` (`Delta`, `Thresholds`,
//! `Verdict`, the way `vitals watch` pairs snapshots), its metrics, encoded
//! as Prometheus scrapes them, become the input series of a promtool unit
//! test generated here against the rules generated from the same
//! thresholds. promtool then checks, at every minute, that the agents the
//! rules record as stuck and gone are exactly those the client judges stuck
//! and gone, and at the end that the alerts fire for exactly those.
//!
//! promtool comes from Debian's `prometheus` package; without it the test
//! says on stderr that it is skipped, and fails under `CI=true`.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "the shared helpers forward a child's stderr"
)]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use vitals::agents::fake::FakeAgentSource;
use vitals::agents::{AgentSource, RunningAgent};
use vitals::proc::fake::FakeProc;
use vitals::proc::{ProcSource, ProcessInfo};
use vitals::{Assembler, FixedClock, Resources};
use vitals_client::rules::{RuleFile, RuleOptions, names};
use vitals_client::{Body, Delta, Snapshot, Thresholds, Verdict};

use common::prometheus::tool;
use common::text;

/// Minutes in the story.
const MINUTES: i64 = 45;
/// Clock ticks per second of the fake `/proc`.
const HZ: u64 = 100;
/// The labels Prometheus adds to every series of the target.
const TARGET: &str = r#"job="vitals",instance="scenario:9464""#;

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_833_600, 0).single().unwrap()
}

/// The boot time of the fake machine: a day before the story starts.
fn boot() -> i64 {
    t0().timestamp() - 86_400
}

/// Ticks since boot of the instant `seconds` after `t0` (negative: before).
fn ticks_at(seconds: i64) -> u64 {
    u64::try_from(86_400 + seconds).unwrap() * HZ
}

/// One agent of the story: its job, and its process at minute `m` (`None`:
/// no such process).
struct Character {
    name: &'static str,
    job_id: i64,
    pid: i32,
    /// Seconds after `t0` its job started (negative: before).
    job_started: i64,
    /// From which minute the job runs.
    from_minute: i64,
    process: fn(i64) -> Option<ProcessInfo>,
    /// Its children at minute `m`.
    children: fn(i64) -> Vec<ProcessInfo>,
}

fn process(pid: i32, state: char, cpu_ticks: u64, started: i64) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid: 1,
        state,
        cpu_ticks,
        start_ticks: ticks_at(started),
        threads: 4,
        rss_bytes: 1 << 24,
    }
}

fn none(_: i64) -> Vec<ProcessInfo> {
    Vec::new()
}

/// Half a core is 30 s of CPU a minute: 3000 ticks.
const HALF_CORE_PER_MINUTE: u64 = 3_000;

fn cast() -> Vec<Character> {
    vec![
        Character {
            name: "busy",
            job_id: 1,
            pid: 201,
            job_started: -1200,
            from_minute: 0,
            process: |m| {
                Some(process(
                    201,
                    'R',
                    HALF_CORE_PER_MINUTE * u64::try_from(m).unwrap(),
                    -1199,
                ))
            },
            children: none,
        },
        Character {
            name: "stuck",
            job_id: 2,
            pid: 202,
            job_started: -1200,
            from_minute: 0,
            process: |_| Some(process(202, 'S', 500, -1199)),
            children: none,
        },
        Character {
            name: "waiting",
            job_id: 3,
            pid: 203,
            job_started: -1200,
            from_minute: 0,
            process: |_| Some(process(203, 'S', 100, -1199)),
            children: |m| {
                let mut child = process(
                    303,
                    'R',
                    HALF_CORE_PER_MINUTE * u64::try_from(m).unwrap(),
                    -1100,
                );
                child.ppid = 203;
                vec![child]
            },
        },
        Character {
            name: "crashed",
            job_id: 4,
            pid: 204,
            job_started: -1200,
            from_minute: 0,
            process: |m| (m < 10).then(|| process(204, 'S', 700, -1199)),
            children: none,
        },
        Character {
            name: "reused",
            job_id: 5,
            pid: 205,
            job_started: -1200,
            from_minute: 0,
            // At 10 minutes another process (started 30 s earlier) has its pid.
            process: |m| {
                Some(if m < 10 {
                    process(205, 'S', 900, -1199)
                } else {
                    process(205, 'S', 20, 570)
                })
            },
            children: none,
        },
        Character {
            name: "zombie",
            job_id: 6,
            pid: 206,
            job_started: -1200,
            from_minute: 0,
            process: |m| Some(process(206, if m < 10 { 'S' } else { 'Z' }, 300, -1199)),
            children: none,
        },
        Character {
            name: "fresh",
            job_id: 7,
            pid: 207,
            job_started: 600,
            from_minute: 10,
            process: |_| Some(process(207, 'S', 5, 601)),
            children: none,
        },
    ]
}

/// Minute `m` as the collector reports it: the client's snapshot, and the
/// agents' samples as Prometheus would store them (series text, value).
async fn minute(m: i64) -> (Snapshot, Vec<(String, f64)>) {
    let now = t0() + chrono::Duration::minutes(m);
    let mut rows = Vec::new();
    let mut proc = FakeProc::new()
        .with_clk_tck(Some(HZ))
        .with_boot_time(boot());
    for c in cast() {
        if m < c.from_minute {
            continue;
        }
        rows.push(RunningAgent {
            agent: Some(c.name.to_owned()),
            run_id: Some(c.job_id * 10),
            job_id: Some(c.job_id),
            repo: Some("scenario".to_owned()),
            pid: Some(i64::from(c.pid)),
            started_at: Some(t0() + chrono::Duration::seconds(c.job_started)),
            model: None,
            effort: None,
        });
        if let Some(info) = (c.process)(m) {
            proc = proc.with_process(info);
        }
        for child in (c.children)(m) {
            proc = proc.with_process(child);
        }
    }
    let resources = Resources::new()
        .with::<Arc<dyn AgentSource>>(Arc::new(FakeAgentSource::new(rows)))
        .with::<Arc<dyn ProcSource>>(Arc::new(proc));
    let assembler = Assembler::builder()
        .clock(FixedClock::at(now))
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let body = Body::from_json(snapshot.to_json()).unwrap();
    let client = body.into_snapshot().unwrap();
    let exposition = vitals::http::encode_text(assembler.metric_families(&snapshot));
    let scrape =
        prometheus_parse::Scrape::parse(exposition.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let samples = scrape
        .samples
        .into_iter()
        .filter(|s| s.metric.starts_with("vitals_agent_"))
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let labels: String = labels
                .iter()
                .map(|(k, v)| format!(",{k}=\"{v}\""))
                .collect();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("unexpected value {other:?}"),
            };
            (format!("{}{{{TARGET}{labels}}}", s.metric), value)
        })
        .collect();
    (client, samples)
}

/// What the client says of each agent at minute `m`, as `vitals watch`
/// pairs snapshots: the previous one for "now", the newest one at least
/// `stuck_window` older for the window.
fn verdicts(history: &[Snapshot], m: usize, t: &Thresholds) -> BTreeMap<String, Verdict> {
    let now = &history[m];
    let time = now.time().unwrap();
    let recent = &history[m.saturating_sub(1)];
    let window_start = time - chrono::Duration::from_std(t.stuck_window).unwrap();
    let window = history[..m]
        .iter()
        .rev()
        .find(|s| s.time().is_some_and(|at| at <= window_start))
        .map(|earlier| Delta::between(earlier, now));
    Delta::between(recent, now)
        .agents
        .iter()
        .map(|agent| {
            let long = window
                .as_ref()
                .and_then(|w| w.agent(agent.agent.job_id, agent.agent.run_id));
            (agent.agent.agent.clone().unwrap(), t.verdict(agent, long))
        })
        .collect()
}

fn with_verdict(verdicts: &BTreeMap<String, Verdict>, wanted: Verdict) -> BTreeSet<String> {
    verdicts
        .iter()
        .filter(|(_, v)| **v == wanted)
        .map(|(name, _)| name.clone())
        .collect()
}

/// A promql_expr_test: `expr` at minute `m` has one sample per agent of
/// `agents`, labelled with the agent alone, of value 1.
fn expect_agents(expr: &str, m: i64, agents: &BTreeSet<String>) -> Value {
    json!({
        "expr": expr,
        "eval_time": format!("{m}m"),
        "exp_samples": agents
            .iter()
            .map(|a| json!({"labels": format!("{{agent=\"{a}\"}}"), "value": 1}))
            .collect::<Vec<_>>(),
    })
}

/// Runs the story with `thresholds`; returns the verdict sets at the end
/// (stuck, gone) once promtool agreed with them all along.
async fn agree(
    thresholds: &Thresholds,
    test: &str,
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let promtool = tool("promtool", test)?;
    let mut history = Vec::new();
    let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for m in 0..MINUTES {
        let (snapshot, samples) = minute(m).await;
        history.push(snapshot);
        for (name, value) in samples {
            let values = series.entry(name).or_default();
            values.resize(usize::try_from(m).unwrap(), None);
            values.push(Some(value));
        }
    }
    let minutes = usize::try_from(MINUTES).unwrap();
    let input_series: Vec<Value> = series
        .into_iter()
        .map(|(name, mut values)| {
            values.resize(minutes, None);
            // A series that stops was dropped from the scrape: stale, as
            // Prometheus marks it; before its first sample, nothing.
            let mut seen = false;
            let text: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Some(v) => {
                        seen = true;
                        v.to_string()
                    }
                    None if seen => "stale".to_owned(),
                    None => "_".to_owned(),
                })
                .collect();
            json!({"series": name, "values": text.join(" ")})
        })
        .collect();

    let mut expr_tests = Vec::new();
    let mut last = (BTreeSet::new(), BTreeSet::new());
    for m in 1..MINUTES {
        let judged = verdicts(&history, usize::try_from(m).unwrap(), thresholds);
        let stuck = with_verdict(&judged, Verdict::Stuck);
        let gone = with_verdict(&judged, Verdict::Gone);
        expr_tests.push(expect_agents(
            &format!("group by (agent) ({})", names::AGENT_STUCK_RECORD),
            m,
            &stuck,
        ));
        expr_tests.push(expect_agents(
            &format!("group by (agent) ({})", names::AGENT_GONE_RECORD),
            m,
            &gone,
        ));
        last = (stuck, gone);
    }
    // At the end, the alerts themselves: the story is long enough for
    // every `for` to have passed.
    let end = MINUTES - 1;
    for (alert, agents) in [(names::AGENT_STUCK, &last.0), (names::AGENT_GONE, &last.1)] {
        expr_tests.push(expect_agents(
            &format!("group by (agent) (ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"}})"),
            end,
            agents,
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let rules = RuleFile::generate(&RuleOptions::new(thresholds.clone())).unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules.to_yaml()).unwrap();
    // YAML is a superset of JSON: the test file is written as JSON.
    let test_file = json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["vitals.rules", "vitals.alerts"],
        "tests": [{
            "interval": "1m",
            "input_series": input_series,
            "promql_expr_test": expr_tests,
        }],
    });
    let path = dir.path().join("scenario.test.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&test_file).unwrap()).unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the rules and the client disagree: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    Some(last)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_and_the_client_agree_with_the_default_thresholds() {
    let test = "the_rules_and_the_client_agree_with_the_default_thresholds";
    let Some((stuck, gone)) = agree(&Thresholds::default(), test).await else {
        return;
    };
    // And both say what the story means.
    assert_eq!(stuck, set(&["fresh", "stuck"]));
    assert_eq!(gone, set(&["crashed", "reused", "zombie"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_and_the_client_agree_with_other_thresholds() {
    let test = "the_rules_and_the_client_agree_with_other_thresholds";
    let mut thresholds = Thresholds::default();
    for assignment in [
        "stuck_window=5m",
        "stuck_min_runtime=40m",
        "gone_for=3m",
        "stuck_cpu=0.6",
    ] {
        thresholds.set_assignment(assignment).unwrap();
    }
    assert_eq!(thresholds.stuck_window, Duration::from_secs(300));
    let Some((stuck, gone)) = agree(&thresholds, test).await else {
        return;
    };
    // Under 60% of a core, the busy ones are quiet too; only the jobs that
    // have run 40 minutes count, which the late one has not.
    assert_eq!(stuck, set(&["busy", "stuck", "waiting"]));
    assert_eq!(gone, set(&["crashed", "reused", "zombie"]));
}
