//! `Delta::between` and `Thresholds::verdict` over hand-made snapshot pairs.
#![expect(
    clippy::unwrap_used,
    clippy::needless_pass_by_value,
    reason = "test helpers outside #[test] functions, taking json! values"
)]

use std::time::Duration;

use serde_json::{Value, json};
use vitals_client::{Body, Delta, Match, Snapshot, ThresholdError, Thresholds, Verdict};

const T0: &str = "2026-11-28T02:40:00Z";

/// `T0` plus `s` seconds, in the contract's format.
fn at(s: i64) -> String {
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-28T02:40:00Z").unwrap();
    (t0 + chrono::Duration::seconds(s))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A live agent of job 7, run 70, pid 4242: `overrides` replace its fields.
fn agent(overrides: Value) -> Value {
    let mut agent = json!({
        "agent": "implementer", "run_id": 70, "job_id": 7, "repo": "r", "pid": 4242,
        "runtime_s": 1200, "model": "opus", "effort": "high", "cpu_ticks": 1000,
        "state": "S", "start_ticks": 555, "proc_age_s": 1201, "threads": 4,
        "rss_bytes": 1000, "tree_cpu_ticks": 1000, "tree_procs": 1, "proc_status": "ok"
    });
    for (key, value) in overrides.as_object().unwrap() {
        agent[key] = value.clone();
    }
    agent
}

fn snapshot(generated_at: &str, agents: Vec<Value>, extra: Value) -> Snapshot {
    let mut body = json!({
        "schema_version": 1, "generated_at": generated_at, "clk_tck": 100, "agents": agents,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    Body::from_slice(body.to_string().as_bytes())
        .unwrap()
        .into_snapshot()
        .unwrap()
}

/// The one agent's delta from `a` (at T0) to `b` (at T0 + `seconds`).
fn one(a: Value, b: Value, seconds: i64) -> vitals_client::AgentDelta {
    let earlier = snapshot(T0, vec![agent(a)], json!({}));
    let later = snapshot(&at(seconds), vec![agent(b)], json!({}));
    let delta = Delta::between(&earlier, &later);
    assert_eq!(delta.interval_s, Some(seconds));
    delta.agents.into_iter().next().unwrap()
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-9)
}

#[test]
fn cpu_fraction_from_ticks_clock_and_interval() {
    let d = one(
        json!({}),
        json!({"cpu_ticks": 1500, "tree_cpu_ticks": 2500, "rss_bytes": 1500}),
        10,
    );
    assert_eq!(d.matched, Match::Same);
    assert!(close(d.cpu, 0.5), "{d:?}");
    assert!(close(d.tree_cpu, 1.5), "{d:?}");
    assert_eq!(d.rss_change_bytes, Some(500));
    assert_eq!(Thresholds::default().verdict(&d, None), Verdict::Busy);
}

#[test]
fn a_busy_child_under_an_idle_agent_is_busy_not_stuck() {
    // Ten minutes, runtime over the minimum: the agent itself did nothing.
    let d = one(
        json!({}),
        json!({"tree_cpu_ticks": 1000 + 60_000, "runtime_s": 2000, "proc_age_s": 2001}),
        600,
    );
    assert!(close(d.cpu, 0.0));
    assert!(close(d.tree_cpu, 1.0));
    assert_eq!(Thresholds::default().verdict(&d, Some(&d)), Verdict::Busy);
}

#[test]
fn stuck_needs_the_window_the_runtime_and_both_cpus_quiet() {
    let t = Thresholds::default();
    // 600 s at 1 tick: 0.00017 of a core, under 0.01, runtime 1200 s >= 900 s.
    let window = one(
        json!({}),
        json!({"cpu_ticks": 1001, "tree_cpu_ticks": 1001}),
        600,
    );
    let recent = one(
        json!({"cpu_ticks": 1001, "tree_cpu_ticks": 1001}),
        json!({"cpu_ticks": 1001, "tree_cpu_ticks": 1001}),
        2,
    );
    assert_eq!(t.verdict(&recent, Some(&window)), Verdict::Stuck);
    assert_eq!(
        t.verdict(&window, None),
        Verdict::Stuck,
        "a recent delta as long as the window"
    );
    // Without a window, or a window too short: idle, not stuck.
    assert_eq!(t.verdict(&recent, None), Verdict::Idle);
    let short = one(
        json!({}),
        json!({"cpu_ticks": 1001, "tree_cpu_ticks": 1001}),
        599,
    );
    assert_eq!(t.verdict(&recent, Some(&short)), Verdict::Idle);
    // A job younger than stuck_min_runtime: idle.
    let young = one(json!({"runtime_s": 300}), json!({"runtime_s": 899}), 600);
    assert_eq!(t.verdict(&young, Some(&young)), Verdict::Idle);
    // Busy now after a quiet window: busy.
    let waking = one(
        json!({}),
        json!({"cpu_ticks": 1100, "tree_cpu_ticks": 1100}),
        2,
    );
    assert_eq!(t.verdict(&waking, Some(&window)), Verdict::Busy);
    // The tree was busy over the window: not stuck.
    let tree_busy = one(
        json!({}),
        json!({"cpu_ticks": 1001, "tree_cpu_ticks": 1000 + 6000}),
        600,
    );
    assert_eq!(t.verdict(&recent, Some(&tree_busy)), Verdict::Idle);
}

#[test]
fn a_reused_pid_never_yields_a_delta_and_is_gone() {
    let d = one(
        json!({}),
        json!({"start_ticks": 999_999, "cpu_ticks": 5, "tree_cpu_ticks": 5}),
        10,
    );
    assert_eq!(d.matched, Match::ReusedPid);
    assert_eq!((d.cpu, d.tree_cpu, d.rss_change_bytes), (None, None, None));
    assert_eq!(Thresholds::default().verdict(&d, None), Verdict::Gone);
}

#[test]
fn a_process_younger_than_its_job_is_a_reused_pid() {
    let t = Thresholds::default();
    let d = one(
        json!({}),
        json!({"proc_age_s": 100, "runtime_s": 1210, "cpu_ticks": 1500}),
        10,
    );
    assert_eq!(t.verdict(&d, None), Verdict::Gone);
    // Within the slack (start-up, rounding): still the agent.
    let d = one(
        json!({}),
        json!({"proc_age_s": 1208, "runtime_s": 1210, "cpu_ticks": 1500}),
        10,
    );
    assert_eq!(t.verdict(&d, None), Verdict::Busy);
}

#[test]
fn a_restarted_agent_is_new() {
    let d = one(
        json!({}),
        json!({"pid": 5000, "start_ticks": 99, "cpu_ticks": 3}),
        10,
    );
    assert_eq!(d.matched, Match::Restarted);
    assert_eq!(d.cpu, None);
    assert_eq!(Thresholds::default().verdict(&d, None), Verdict::New);
    // An agent the earlier snapshot did not have.
    let earlier = snapshot(T0, vec![], json!({}));
    let later = snapshot(&at(10), vec![agent(json!({}))], json!({}));
    let d = &Delta::between(&earlier, &later).agents[0];
    assert_eq!(d.matched, Match::New);
    assert_eq!(Thresholds::default().verdict(d, None), Verdict::New);
}

#[test]
fn dead_and_zombie_agents_are_gone() {
    let t = Thresholds::default();
    let zombie = one(json!({}), json!({"state": "Z"}), 10);
    assert_eq!(t.verdict(&zombie, None), Verdict::Gone);
    let dead = one(
        json!({}),
        json!({"proc_status": "no_such_process", "cpu_ticks": null, "state": null,
               "start_ticks": null, "tree_cpu_ticks": null}),
        10,
    );
    assert_eq!(dead.cpu, None);
    assert_eq!(t.verdict(&dead, None), Verdict::Gone);
    // The Python collector: a pid without cpu_ticks is a dead process.
    let earlier = snapshot(
        T0,
        vec![json!({"job_id": 7, "run_id": 70, "pid": 4242, "cpu_ticks": 10, "runtime_s": 50})],
        json!({}),
    );
    let later = snapshot(
        &at(10),
        vec![json!({"job_id": 7, "run_id": 70, "pid": 4242, "cpu_ticks": null, "runtime_s": 60})],
        json!({}),
    );
    assert_eq!(
        t.verdict(&Delta::between(&earlier, &later).agents[0], None),
        Verdict::Gone
    );
}

#[test]
fn the_python_collector_is_judged_by_pid_and_own_ticks() {
    let a = json!({"job_id": 7, "run_id": 70, "pid": 4242, "cpu_ticks": 10, "runtime_s": 50});
    let b = json!({"job_id": 7, "run_id": 70, "pid": 4242, "cpu_ticks": 510, "runtime_s": 60});
    let delta = Delta::between(
        &snapshot(T0, vec![a], json!({})),
        &snapshot(&at(10), vec![b], json!({})),
    );
    let d = &delta.agents[0];
    assert_eq!(d.matched, Match::Same);
    assert!(close(d.cpu, 0.5));
    assert_eq!(d.tree_cpu, None, "no tree ticks reported");
    assert_eq!(Thresholds::default().verdict(d, None), Verdict::Busy);
}

#[test]
fn unreadable_or_pidless_agents_are_unknown() {
    let t = Thresholds::default();
    for overrides in [
        json!({"proc_status": "permission_denied", "cpu_ticks": null}),
        json!({"proc_status": "no_pid", "pid": null, "cpu_ticks": null}),
        json!({"proc_status": "invalid_pid", "pid": -3, "cpu_ticks": null}),
    ] {
        let d = one(overrides.clone(), overrides.clone(), 10);
        assert_eq!(t.verdict(&d, None), Verdict::Unknown, "{overrides}");
    }
}

#[test]
fn a_zero_or_negative_interval_gives_no_rate() {
    for seconds in [0, -5] {
        let d = one(json!({}), json!({"cpu_ticks": 1500}), seconds);
        assert_eq!((d.cpu, d.tree_cpu), (None, None), "{seconds} s");
        assert_eq!(Thresholds::default().verdict(&d, None), Verdict::New);
    }
    // No generated_at (a failed clock): no interval at all.
    let earlier = snapshot("", vec![agent(json!({}))], json!({}));
    let later = snapshot(&at(10), vec![agent(json!({"cpu_ticks": 2000}))], json!({}));
    let delta = Delta::between(&earlier, &later);
    assert_eq!(delta.interval_s, None);
    assert_eq!(delta.agents[0].cpu, None);
}

#[test]
fn counters_that_go_backwards_give_no_negative_rate() {
    let d = one(
        json!({}),
        json!({"cpu_ticks": 900, "tree_cpu_ticks": 900}),
        10,
    );
    assert_eq!(d.cpu, None, "own ticks went down: no rate");
    assert!(close(d.tree_cpu, 0.0));
    // A child exited: the tree sum dropped, the agent itself worked.
    let d = one(
        json!({"tree_cpu_ticks": 5000}),
        json!({"cpu_ticks": 1200, "tree_cpu_ticks": 1200}),
        10,
    );
    assert!(close(d.cpu, 0.2));
    assert!(close(d.tree_cpu, 0.2), "never below the agent's own: {d:?}");
}

#[test]
fn queue_and_cost_between_two_snapshots() {
    let queue = |queued: i64, done: i64, failed: i64, attempts: i64| {
        json!({"queue": {
            "counts": {"queued": queued, "running": 2, "done": done, "failed": failed, "cancelled": 1},
            "depth": queued,
            "retries": {"jobs_with_retries": 1, "total_attempts": attempts, "max_attempts": 3}},
            "cost": {"running": [], "aggregate": {"runs": 10, "cost_usd": 1.5,
                "input_tokens": 1000, "output_tokens": 100, "cache_read_tokens": 0, "cache_creation_tokens": 0}}})
    };
    let earlier = snapshot(T0, vec![], queue(5, 100, 4, 3));
    let mut later_body = queue(8, 103, 3, 5);
    later_body["cost"]["aggregate"] = json!({"runs": 12, "cost_usd": 2.0,
        "input_tokens": 1500, "output_tokens": 200, "cache_read_tokens": 0, "cache_creation_tokens": 0});
    let later = snapshot(&at(1800), vec![], later_body);
    let delta = Delta::between(&earlier, &later);
    let q = delta.queue.unwrap();
    assert_eq!(q.depth, Some(8));
    assert_eq!(q.depth_change, Some(3));
    assert_eq!(
        q.finished,
        Some(3),
        "done +3, failed -1 (requeued) adds nothing"
    );
    assert!(close(q.finished_per_hour, 6.0));
    assert_eq!(q.attempts_change, Some(2));
    let t = Thresholds::default();
    assert!(t.retrying(q.retries.as_ref().unwrap()));
    assert!(!t.backlog(&q), "jobs finished");
    let c = delta.cost.unwrap();
    assert!(close(c.spend_usd, 0.5));
    assert!(close(c.usd_per_hour, 1.0));
    assert_eq!(c.tokens, Some(600));
    assert!(close(c.tokens_per_hour, 1200.0));
    assert_eq!(c.runs, Some(2));
    assert!(!t.overspending(&c), "no cost_per_hour: no spend alert");
    let mut strict = t.clone();
    strict.cost_per_hour = Some(0.5);
    assert!(strict.overspending(&c));

    // Reversed: every total went down (a purge): no rate, no negative.
    let back = Delta::between(&later, &snapshot(&at(3600), vec![], queue(8, 103, 3, 5)));
    let c = back.cost.unwrap();
    assert_eq!(
        (c.spend_usd, c.tokens, c.runs, c.usd_per_hour),
        (None, None, None, None)
    );
    // Nothing finished for backlog_for with jobs queued: a backlog.
    let stalled = Delta::between(
        &later,
        &snapshot(&at(1800 + 900), vec![], queue(8, 103, 3, 5)),
    );
    assert!(t.backlog(&stalled.queue.unwrap()));
}

#[test]
fn thresholds_defaults_serde_and_cli_values() {
    let t = Thresholds::default();
    assert_eq!(t.stuck_cpu, 0.01);
    assert_eq!(t.stuck_window, Duration::from_secs(600));
    assert_eq!(t.stuck_min_runtime, Duration::from_secs(900));
    assert_eq!(t.gone_for, Duration::from_secs(300));
    assert_eq!(t.backlog_for, Duration::from_secs(900));
    assert_eq!(t.retry_attempts, 3);
    assert_eq!(t.cost_per_hour, None);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        json,
        json!({"stuck_cpu": 0.01, "stuck_window": "10m", "stuck_min_runtime": "15m",
               "gone_for": "5m", "backlog_for": "15m", "retry_attempts": 3,
               "cost_per_hour": null, "pid_reuse_slack": "2s", "down_for": "2m",
               "breaker_open_for": "5m", "section_failing_for": "5m"})
    );
    assert_eq!(serde_json::from_value::<Thresholds>(json).unwrap(), t);
    let partial: Thresholds = serde_json::from_str(r#"{"stuck_window":"90s"}"#).unwrap();
    assert_eq!(partial.stuck_window, Duration::from_secs(90));
    assert_eq!(
        partial.stuck_min_runtime, t.stuck_min_runtime,
        "the rest defaults"
    );
    assert!(serde_json::from_str::<Thresholds>(r#"{"stuck_windw":"90s"}"#).is_err());
    assert!(serde_json::from_str::<Thresholds>(r#"{"stuck_window":"soon"}"#).is_err());

    let mut set = Thresholds::default();
    set.set_assignment("stuck_window=5m").unwrap();
    set.set("gone_for", "90s").unwrap();
    set.set("stuck_cpu", "0.05").unwrap();
    set.set("retry_attempts", "5").unwrap();
    set.set("cost_per_hour", "3").unwrap();
    assert_eq!(set.stuck_window, Duration::from_secs(300));
    assert_eq!(set.gone_for, Duration::from_secs(90));
    assert_eq!(
        (set.stuck_cpu, set.retry_attempts, set.cost_per_hour),
        (0.05, 5, Some(3.0))
    );
    set.set("cost_per_hour", "none").unwrap();
    assert_eq!(set.cost_per_hour, None);
    assert!(matches!(
        set.set("stuck", "1"),
        Err(ThresholdError::Unknown { .. })
    ));
    assert!(matches!(
        set.set("stuck_cpu", "-1"),
        Err(ThresholdError::Number { .. })
    ));
    assert!(matches!(
        set.set("stuck_cpu", "NaN"),
        Err(ThresholdError::Number { .. })
    ));
    assert!(matches!(
        set.set("gone_for", "5"),
        Err(ThresholdError::Duration { .. })
    ));
    assert!(matches!(
        set.set_assignment("gone_for"),
        Err(ThresholdError::Assignment { .. })
    ));
}
