//! Contract v1 as the typed model reads it: the collector's golden file,
//! bodies the original Python collector would produce, and the failure modes.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use vitals_client::{Body, ParseError, ProcStatus, SectionStatus, Snapshot};

/// The workspace's golden snapshot, every field filled in.
const POPULATED: &str = include_str!("../../../tests/golden/populated.json");

/// JSON numbers compared as numbers (`0` and `0.0` are the same number; the
/// typed model reads every `number` field as `f64`).
fn normalize(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Number(n), Value::Number),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

fn snapshot(text: &str) -> Snapshot {
    match Body::from_json(text) {
        Ok(Body::Snapshot(s)) => *s,
        other => panic!("not a snapshot: {other:?}"),
    }
}

/// Parses, writes back, and checks both the JSON and the typed value survive.
fn check_round_trip(text: &str) {
    let body = Body::from_json(text).unwrap();
    let written = body.to_json();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    let again: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(normalize(again), normalize(original), "{written}");
    assert_eq!(Body::from_json(&written).unwrap(), body);
}

#[test]
fn the_golden_snapshot_round_trips_with_every_field() {
    check_round_trip(POPULATED);
    let s = snapshot(POPULATED);
    assert_eq!(s.schema_version, 1);
    assert_eq!(s.clk_tck, Some(100));
    assert_eq!(s.time().unwrap().to_rfc3339(), "2026-11-28T02:40:13+00:00");
    assert_eq!(s.stages().len(), 2);
    assert_eq!(s.stages()[1].age_in_stage_s, Some(4000));
    let queue = s.queue.as_ref().unwrap();
    assert_eq!(
        queue.counts.as_ref().unwrap().keys().collect::<Vec<_>>(),
        ["queued", "running", "done", "failed", "cancelled"]
    );
    assert_eq!(queue.count("done"), Some(120));
    assert_eq!(queue.retries.as_ref().unwrap().max_attempts, Some(3));
    assert_eq!(queue.breaker.as_ref().unwrap()["state"], "closed");
    assert_eq!(queue.poll_interval, Some(2.5));
    let implementer = &s.agents()[0];
    assert_eq!(implementer.start_ticks, Some(8_630_500));
    assert_eq!(implementer.tree_cpu_ticks, Some(1734));
    assert_eq!(implementer.proc_status, Some(ProcStatus::Ok));
    let cost = s.cost.as_ref().unwrap();
    assert_eq!(cost.running.as_ref().unwrap()[1].cost_usd, None);
    assert_eq!(cost.aggregate.as_ref().unwrap().cost_usd, Some(57.25));
    let collector = s.collector.as_ref().unwrap();
    assert_eq!(
        collector.sections.keys().collect::<Vec<_>>(),
        ["stages", "queue", "agents", "cost"],
        "the sections' order is kept"
    );
    assert_eq!(s.section("agents").unwrap().status, Some(SectionStatus::Ok));
}

/// What `build_metrics()` of the seed returns: no `collector`, no process
/// fields, `breaker`/`max_concurrency`/`poll_interval` null without a worker.
const PYTHON: &str = r#"{"schema_version": 1, "generated_at": "2026-11-28T02:40:13Z", "clk_tck": 100,
 "stages": [{"work_item": "ORCH-41", "stage": "implementation", "age_in_stage_s": 300, "repo": "orchestrator", "task_id": 41}],
 "queue": {"counts": {"queued": 3, "running": 1, "done": 10, "failed": 0, "cancelled": 0}, "depth": 3,
           "retries": {"jobs_with_retries": 0, "total_attempts": 0, "max_attempts": 0},
           "breaker": null, "max_concurrency": null, "poll_interval": null},
 "agents": [{"agent": "implementer", "run_id": 901, "job_id": 311, "repo": "orchestrator", "pid": 4242,
             "runtime_s": 90, "model": "opus", "effort": "high", "cpu_ticks": 1234},
            {"agent": "reviewer", "run_id": null, "job_id": 312, "repo": null, "pid": null,
             "runtime_s": null, "model": null, "effort": null, "cpu_ticks": null}],
 "cost": {"running": [{"run_id": 901, "job_id": 311, "agent": "implementer", "cost_usd": null,
                       "input_tokens": null, "output_tokens": null, "cache_read_tokens": null,
                       "cache_creation_tokens": null}],
          "aggregate": {"runs": 0, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
                        "cache_read_tokens": 0, "cache_creation_tokens": 0}}}"#;

#[test]
fn a_python_collector_body_round_trips_unchanged() {
    check_round_trip(PYTHON);
    let s = snapshot(PYTHON);
    assert!(s.collector.is_none());
    let agent = &s.agents()[0];
    assert_eq!(agent.cpu_ticks, Some(1234));
    assert_eq!(
        (
            agent.state.as_deref(),
            agent.start_ticks,
            agent.proc_status.as_ref()
        ),
        (None, None, None),
        "missing additive fields are None"
    );
    assert_eq!(s.section("agents"), None);
}

#[test]
fn python_bodies_with_failed_sources() {
    // The seed's section fallbacks and a failed clock: each is a value.
    for text in [
        r#"{"schema_version":1,"generated_at":"","clk_tck":null,"stages":[],"queue":null,"agents":[],"cost":null}"#,
        r#"{"schema_version":1,"generated_at":"2026-11-28T02:40:13Z","clk_tck":null,"stages":[],
            "queue":{"counts":null,"depth":null,"retries":null,"breaker":null,"max_concurrency":null,"poll_interval":null},
            "agents":[],"cost":{"running":[],"aggregate":null}}"#,
    ] {
        check_round_trip(text);
        let s = snapshot(text);
        assert_eq!(s.clk_tck, None);
        assert!(s.agents().is_empty());
    }
    let s = snapshot(
        r#"{"schema_version":1,"generated_at":"","clk_tck":null,"stages":[],"queue":null,"agents":[],"cost":null}"#,
    );
    assert_eq!(s.time(), None, "an empty generated_at is no instant");
    assert_eq!((s.queue, s.cost), (None, None));
}

#[test]
fn the_kill_switch_body_is_a_value() {
    let body = Body::from_json(r#"{"schema_version":1,"enabled":false}"#).unwrap();
    assert_eq!(body, Body::Disabled);
    assert_eq!(body.snapshot(), None);
    assert_eq!(body.to_json(), r#"{"schema_version":1,"enabled":false}"#);
    // `enabled: true` (or no `enabled`) is a snapshot.
    let on = Body::from_json(r#"{"schema_version":1,"enabled":true,"generated_at":""}"#).unwrap();
    assert!(on.snapshot().is_some());
}

#[test]
fn unknown_keys_are_ignored_and_unknown_codes_kept() {
    let s = snapshot(
        r#"{"schema_version":1,"generated_at":"2026-11-28T02:40:13Z","clk_tck":100,
            "gpus":[{"busy":true}],
            "agents":[{"job_id":1,"pid":5,"cpu_ticks":1,"proc_status":"zapped","future":{"x":1}}],
            "collector":{"elapsed_ms":1.5,"sections":{"agents":{"status":"throttled","elapsed_ms":0.2,"extra":1}}}}"#,
    );
    assert_eq!(s.stages, None, "an absent section is None");
    assert_eq!(
        s.agents()[0].proc_status,
        Some(ProcStatus::Other("zapped".into()))
    );
    let status = s.section("agents").unwrap().status.clone().unwrap();
    assert_eq!(status, SectionStatus::Other("throttled".into()));
    assert!(
        status.is_fallback(),
        "an unknown status is not trusted as data"
    );
}

#[test]
fn every_proc_status_of_the_contract_is_known() {
    for code in [
        "ok",
        "no_pid",
        "no_such_process",
        "invalid_pid",
        "permission_denied",
        "unparsable",
        "io",
        "unsupported",
        "panic",
        "timeout",
    ] {
        let status = ProcStatus::from_code(code);
        assert!(!matches!(status, ProcStatus::Other(_)), "{code}");
        assert_eq!(status.as_str(), code);
    }
}

#[test]
fn a_degraded_section_reports_its_fields() {
    let s = snapshot(
        r#"{"schema_version":1,"generated_at":"2026-11-28T02:40:13Z","clk_tck":100,"stages":[],
            "queue":null,"agents":[],"cost":null,
            "collector":{"elapsed_ms":2.4,"sections":{
              "stages":{"status":"ok","elapsed_ms":0.7},
              "queue":{"status":"error","elapsed_ms":1.1,"error":{"kind":"missing_table","message":"no such table: jobs"}},
              "agents":{"status":"degraded","elapsed_ms":0.2,"fields":[{"field":"agents[0].cpu_ticks","kind":"no_such_process","message":"gone"}]},
              "cost":{"status":"timeout","elapsed_ms":2000.4,"error":{"kind":"timeout","message":"no value within 2000 ms"}}}}}"#,
    );
    let queue = s.section("queue").unwrap();
    assert_eq!(queue.status, Some(SectionStatus::Error));
    assert_eq!(
        queue.error.as_ref().unwrap().kind.as_deref(),
        Some("missing_table")
    );
    let agents = s.section("agents").unwrap();
    assert_eq!(
        agents.fields.as_ref().unwrap()[0].kind.as_deref(),
        Some("no_such_process")
    );
    assert_eq!(
        s.section("cost").unwrap().status,
        Some(SectionStatus::Timeout)
    );
}

fn check_error(text: &str, expected: &str) {
    let error = Body::from_json(text).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(expected), "{text:?}: {message}");
}

#[test]
fn bodies_that_are_not_contract_v1_are_errors_that_say_why() {
    check_error("<html>502 Bad Gateway</html>", "not JSON");
    check_error("", "not JSON");
    check_error("[1,2]", "not a JSON object");
    check_error(r#"{"status":"ok"}"#, "no schema_version");
    check_error(
        r#"{"schema_version":"1"}"#,
        "schema_version is not an integer",
    );
    check_error(
        r#"{"schema_version":2,"generated_at":""}"#,
        "unsupported schema_version 2",
    );
    check_error(r#"{"schema_version":0}"#, "unsupported schema_version 0");
    check_error(
        r#"{"schema_version":1,"agents":[{"pid":"4242"}]}"#,
        "shape of contract v1",
    );
    assert!(matches!(
        Body::from_json(r#"{"schema_version":7,"enabled":false}"#),
        Err(ParseError::UnsupportedVersion { version: 7 })
    ));
}
