//! `vitals_client::rules`: what the generated file holds for given
//! options, and the options it refuses. (promtool checks and runs the
//! rules in `crates/vitals-cli/tests/rules*.rs`.)

use std::time::Duration;

use vitals_client::rules::{RuleFile, RuleOptions, Severity, names};
use vitals_client::{RulesError, Thresholds};

fn generate(change: impl FnOnce(&mut RuleOptions)) -> Result<RuleFile, RulesError> {
    let mut options = RuleOptions::default();
    change(&mut options);
    RuleFile::generate(&options)
}

#[test]
fn the_default_file_has_its_groups_alerts_and_severities() {
    let file = generate(|_| {}).unwrap();
    let groups: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["vitals.rules", "vitals.alerts"]);
    let alerts: Vec<(&str, Severity, Duration)> = file
        .alerts()
        .map(|a| (a.alert.as_str(), a.severity, a.for_))
        .collect();
    let min = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(
        alerts,
        [
            (names::AGENT_STUCK, Severity::Warning, min(10)),
            (names::AGENT_GONE, Severity::Critical, min(5)),
            (names::QUEUE_BACKLOG, Severity::Warning, Duration::ZERO),
            (names::RETRIES_HIGH, Severity::Warning, Duration::ZERO),
            (names::BREAKER_OPEN, Severity::Critical, min(5)),
            (names::SECTION_FAILING, Severity::Warning, min(5)),
            (names::DOWN, Severity::Critical, min(2)),
        ]
    );
    for alert in file.alerts() {
        assert!(alert.expr.contains(r#"job="vitals""#), "{}", alert.expr);
        assert!(!alert.summary.contains("{{"), "a static summary");
        assert!(alert.description.contains("{{ $labels.instance }}"));
    }
    // Every record's name is `level:metric:operations`, and every alert
    // about one agent reads a record that keeps the agent's labels.
    for record in file.records() {
        assert_eq!(record.record.split(':').count(), 3, "{}", record.record);
    }
    assert!(file.record(names::AGENT_STUCK_RECORD).is_some());
    assert!(file.record(names::AGENT_GONE_RECORD).is_some());
    assert!(file.record(names::SPEND_RECORD).is_some());
}

#[test]
fn thresholds_and_options_reach_the_expressions() {
    let mut thresholds = Thresholds::default();
    thresholds.set("stuck_cpu", "0.25").unwrap();
    thresholds.set("stuck_window", "20m").unwrap();
    thresholds.set("pid_reuse_slack", "1500ms").unwrap();
    thresholds.set("cost_per_hour", "12.5").unwrap();
    thresholds.set("down_for", "0s").unwrap();
    let options = RuleOptions::new(thresholds)
        .with_job("orch|vitals-.*")
        .with_rate_window(Duration::from_secs(90));
    let file = RuleFile::generate(&options).unwrap();
    let stuck = file.record(names::AGENT_STUCK_RECORD).unwrap();
    assert!(stuck.expr.contains("< 0.25"), "{}", stuck.expr);
    assert!(
        stuck
            .expr
            .contains("agent:vitals_agent_tree_cpu:deriv1m30s_avg20m"),
        "{}",
        stuck.expr
    );
    assert!(stuck.expr.contains(r#"job=~"orch|vitals-.*""#));
    let gone = file.record(names::AGENT_GONE_RECORD).unwrap();
    assert!(gone.expr.contains("> 1.5)"), "{}", gone.expr);
    assert!(gone.expr.contains("[10m]"), "twice gone_for: {}", gone.expr);
    let spend = file.alert(names::SPEND_HIGH).unwrap();
    assert!(spend.expr.ends_with("> 12.5"), "{}", spend.expr);
    let down = file.alert(names::DOWN).unwrap();
    assert_eq!(down.for_, Duration::ZERO);
    assert!(
        !file.to_yaml().contains("for: 0s"),
        "a zero `for` is left out"
    );
}

#[test]
fn a_job_is_quoted_for_promql() {
    let options = RuleOptions::default().with_job(r#"a"b"#);
    assert_eq!(options.selector(), r#"job="a\"b""#);
    let options = RuleOptions::default().with_job(r"a\.b");
    assert_eq!(options.selector(), r#"job=~"a\\.b""#);
}

#[test]
fn options_the_rules_cannot_use_are_refused() {
    let refused = |change: fn(&mut RuleOptions)| generate(change).unwrap_err();
    assert!(matches!(refused(|o| o.job.clear()), RulesError::Job { .. }));
    assert!(matches!(
        refused(|o| o.job = "a\nb".to_owned()),
        RulesError::Job { .. }
    ));
    assert!(matches!(
        refused(|o| o.rate_window = Duration::ZERO),
        RulesError::Window {
            name: "rate_window",
            ..
        }
    ));
    assert!(matches!(
        refused(|o| o.rate_window = o.thresholds.stuck_window),
        RulesError::Window {
            name: "rate_window",
            ..
        }
    ));
    assert!(matches!(
        refused(|o| o.thresholds.backlog_for = Duration::ZERO),
        RulesError::Window {
            name: "backlog_for",
            ..
        }
    ));
    assert!(matches!(
        refused(|o| o.thresholds.stuck_cpu = f64::NAN),
        RulesError::Number {
            name: "stuck_cpu",
            ..
        }
    ));
    assert!(matches!(
        refused(|o| o.thresholds.cost_per_hour = Some(-1.0)),
        RulesError::Number {
            name: "cost_per_hour",
            ..
        }
    ));
    assert!(matches!(
        refused(|o| o.thresholds.retry_attempts = -1),
        RulesError::Number {
            name: "retry_attempts",
            ..
        }
    ));
    assert_eq!(
        refused(|o| o.job.clear()).to_string(),
        r#"invalid job "": it is empty"#
    );
}
