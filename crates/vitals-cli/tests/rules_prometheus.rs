//! The generated rules in a real Prometheus: it scrapes `vitals serve`
//! over a database whose running jobs are real processes (one busy, one
//! sleeping), evaluates `vitals rules` every second, and every rule group
//! is healthy; the CPU-fraction recording rules say the busy agent is busy
//! and the sleeper is not.
//!
//! Prometheus comes from Debian's `prometheus` package (`.ci/run` installs
//! it). Without it the test says on stderr that it is skipped, and fails
//! under `CI=true`. Every process writes its output to a file, and every
//! wait is bounded.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(clippy::print_stderr, reason = "tests say how long they took")]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::agents::{Process, RealAgents, real_agents};
use common::prometheus::{Prometheus, sample, scrape_job, tool};
use common::{run, text, vitals};
use serde_json::Value;

/// How long any one wait may take.
const LIMIT: Duration = Duration::from_secs(90);

/// `vitals serve --db DB --listen 127.0.0.1:0`, its output in files under
/// `dir`; the process and its `HOST:PORT`.
fn serve(dir: &Path, db: &Path) -> (Process, String) {
    let stdout = dir.join("serve.out");
    let stderr = dir.join("serve.err");
    let child = vitals()
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let process = Process(child);
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = std::fs::read_to_string(&stdout).unwrap_or_default();
        if let Some(line) = out.lines().find(|l| l.starts_with("listening on ")) {
            let addr = line
                .trim_start_matches("listening on ")
                .trim_start_matches("http://")
                .trim_end_matches("/metrics")
                .to_owned();
            return (process, addr);
        }
        assert!(
            Instant::now() < deadline,
            "serve did not listen: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every rule of every group has been evaluated; returns the groups.
fn evaluated_groups(prometheus: &Prometheus) -> Vec<Value> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let groups = prometheus.api("rules")["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let all_evaluated = groups.len() == 2
            && groups.iter().all(|g| {
                g["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            })
            && groups.iter().all(|g| {
                g["rules"]
                    .as_array()
                    .is_some_and(|rules| rules.iter().all(|r| r["health"] != "unknown"))
            });
        if all_evaluated {
            return groups;
        }
        assert!(
            Instant::now() < deadline,
            "the rules were not all evaluated within {LIMIT:?}: {groups:?}\nprometheus log:\n{}",
            prometheus.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_evaluates_the_rules_over_vitals_serve_with_real_agents() {
    let test = "prometheus_evaluates_the_rules_over_vitals_serve_with_real_agents";
    if tool("prometheus", test).is_none() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let RealAgents {
        busy,
        sleeper: _sleeper,
        db,
    } = real_agents(dir.path(), "rules.db");
    let (_server, addr) = serve(dir.path(), &db);

    // A short rate window for a one-second scrape: `rate` divides by the
    // whole window, so a series younger than the window reads low.
    let rules = run(&["rules", "--rate-window", "10s"]);
    assert!(rules.status.success(), "{}", text(&rules.stderr));
    let rules = text(&rules.stdout);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{}",
        scrape_job("vitals", &addr, None)
    );
    let Some(prometheus) = Prometheus::start(&config, &[("vitals.rules.yml", &rules)], test) else {
        return;
    };
    let ready = started.elapsed();

    // Every group loaded, every rule evaluated without an error.
    let groups = evaluated_groups(&prometheus);
    let mut names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["vitals.alerts", "vitals.rules"]);
    for group in &groups {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            assert_eq!(rule["lastError"].as_str().unwrap_or(""), "", "{rule}");
        }
    }
    let evaluated = started.elapsed();

    // The CPU-fraction records: the busy agent near a core, the sleeper near zero.
    let fraction = |record: &str, agent: &str| -> Vec<Value> {
        prometheus.query(&format!("{record}{{job=\"vitals\",agent=\"{agent}\"}}"))
    };
    for record in [
        "agent:vitals_agent_cpu:rate10s",
        "agent:vitals_agent_tree_cpu:deriv10s",
    ] {
        let result = prometheus.wait_for(
            &format!("{record}{{job=\"vitals\",agent=\"busy-agent\"}}"),
            LIMIT,
            |r| r.len() == 1 && sample(&r[0]).1 > 0.3,
        );
        let (labels, value) = sample(&result[0]);
        assert_eq!(labels["pid"], busy.0.id().to_string(), "{labels:?}");
        assert!(value <= 2.0, "{record}: {value}");
        let sleepy = fraction(record, "sleepy-agent");
        assert_eq!(sleepy.len(), 1, "{record}: {sleepy:?}");
        assert!(sample(&sleepy[0]).1 < 0.05, "{record}: {sleepy:?}");
    }
    let measured = started.elapsed();

    // Nothing is gone: both processes are alive and as old as their jobs.
    let alerts = prometheus.api("alerts");
    let gone: Vec<&Value> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "VitalsAgentGone")
        .collect();
    assert!(gone.is_empty(), "{gone:?}");
    let up = prometheus.query("up{job=\"vitals\"}");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(sample(&up[0]).1, 1.0);

    eprintln!(
        "{test}: prometheus ready after {ready:?}, every rule evaluated after {evaluated:?}, \
         CPU fractions read after {measured:?}"
    );
    let log = prometheus.stop();
    assert!(
        !log.contains("level=error"),
        "prometheus logged errors:\n{log}"
    );
}
