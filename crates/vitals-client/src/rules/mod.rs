//! Prometheus alerting and recording rules generated from [`Thresholds`].
//!
//! `vitals watch` judges agents in one process; a fleet is judged by
//! Prometheus. Both must call the same agent stuck, so the rules are not
//! written by hand: [`RuleFile::generate`] builds them from the same
//! [`Thresholds`] the watcher reads, and [`RuleFile::to_yaml`] writes the
//! rule file Prometheus loads (`vitals rules` prints it;
//! `deploy/prometheus/vitals.rules.yml` is its output with the defaults).
//!
//! ```
//! use vitals_client::Thresholds;
//! use vitals_client::rules::{RuleFile, RuleOptions, names};
//!
//! let mut thresholds = Thresholds::default();
//! thresholds.set("cost_per_hour", "2.5")?;
//! let options = RuleOptions::new(thresholds).with_job("orchestrator");
//! let file = RuleFile::generate(&options)?;
//!
//! let stuck = file.alert(names::AGENT_STUCK).unwrap();
//! assert_eq!(stuck.for_, std::time::Duration::from_secs(600));
//! assert!(stuck.expr.contains(r#"job="orchestrator""#));
//! assert!(file.alert(names::SPEND_HIGH).is_some(), "only with cost_per_hour");
//!
//! let yaml = file.to_yaml();
//! assert!(yaml.contains("- alert: VitalsAgentStuck"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The rules, their expressions and what each alert means are described in
//! `docs/alerts.md`.

mod exprs;
mod yaml;

use std::fmt;
use std::time::Duration;

use crate::error::RulesError;
use crate::verdict::Thresholds;

/// The names of the alerts and recording rules, as the generated file
/// writes them: part of the contract (dashboards and routes name them).
pub mod names {
    /// A running agent whose own and tree CPU stay under `stuck_cpu`.
    pub const AGENT_STUCK: &str = "VitalsAgentStuck";
    /// A running job whose process is dead, a zombie or another process.
    pub const AGENT_GONE: &str = "VitalsAgentGone";
    /// Jobs waiting and none finishing.
    pub const QUEUE_BACKLOG: &str = "VitalsQueueBacklog";
    /// A non-terminal job at or above `retry_attempts`.
    pub const RETRIES_HIGH: &str = "VitalsRetriesHigh";
    /// The worker's circuit breaker held open.
    pub const BREAKER_OPEN: &str = "VitalsBreakerOpen";
    /// A section in `error`, `panic`, `timeout` or `busy`.
    pub const SECTION_FAILING: &str = "VitalsSectionFailing";
    /// The scrape target is down.
    pub const DOWN: &str = "VitalsDown";
    /// Spend over the last hour above `cost_per_hour` (only when it is set).
    pub const SPEND_HIGH: &str = "VitalsSpendHigh";

    /// Every alert, in the order of the file.
    pub const ALERTS: [&str; 8] = [
        AGENT_STUCK,
        AGENT_GONE,
        QUEUE_BACKLOG,
        RETRIES_HIGH,
        BREAKER_OPEN,
        SECTION_FAILING,
        DOWN,
        SPEND_HIGH,
    ];

    /// Per agent, present while the agent meets the stuck condition (before
    /// the alert's `for`); the value is its process tree's CPU over the
    /// stuck window, as a fraction of one core. Its name does not depend on
    /// the thresholds, so that a dashboard can rely on it.
    pub const AGENT_STUCK_RECORD: &str = "agent:vitals_agent_stuck:cpu_fraction";
    /// Per agent, present while its process is gone (before the alert's
    /// `for`); the value says why: 1 dead, 2 a zombie, 3 the pid reused.
    pub const AGENT_GONE_RECORD: &str = "agent:vitals_agent_gone:reason";
    /// Per instance, dollars spent over the last hour (never negative).
    pub const SPEND_RECORD: &str = "instance:vitals_cost_usd:delta1h";
}

/// What [`RuleFile::generate`] needs: the thresholds, which scrape job the
/// rules select, and the window of the "CPU now" rates.
///
/// ```
/// use std::time::Duration;
/// use vitals_client::rules::RuleOptions;
///
/// let options = RuleOptions::default();
/// assert_eq!(options.job, "vitals");
/// assert_eq!(options.rate_window, Duration::from_secs(120));
/// assert_eq!(options.selector(), r#"job="vitals""#);
/// assert_eq!(options.clone().with_job("vitals|orch-.*").selector(), r#"job=~"vitals|orch-.*""#);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RuleOptions {
    /// The thresholds (the same type `vitals watch` judges by).
    pub thresholds: Thresholds,
    /// The Prometheus `job` label of the vitals targets: a name (`vitals`,
    /// the default), or a regular expression (anchored, RE2) when it holds
    /// one of `.+*?()|[]{}^$\`.
    pub job: String,
    /// The window of the rates that say how busy an agent is now (default
    /// 2 min; at least four scrape intervals, shorter than `stuck_window`).
    pub rate_window: Duration,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self::new(Thresholds::default())
    }
}

/// The characters that make [`RuleOptions::job`] a regular expression.
const REGEX_CHARS: &str = ".+*?()|[]{}^$\\";

impl RuleOptions {
    /// The defaults, with `thresholds`.
    #[must_use]
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            job: "vitals".to_owned(),
            rate_window: Duration::from_secs(2 * 60),
        }
    }

    /// Selects the targets of the scrape job `job` (a name or a regular
    /// expression, see [`RuleOptions::job`]).
    #[must_use]
    pub fn with_job(mut self, job: impl Into<String>) -> Self {
        self.job = job.into();
        self
    }

    /// Sets the window of the "CPU now" rates.
    #[must_use]
    pub fn with_rate_window(mut self, window: Duration) -> Self {
        self.rate_window = window;
        self
    }

    /// The label matcher every rule puts in its selectors: `job="NAME"`, or
    /// `job=~"REGEX"` for a regular expression.
    #[must_use]
    pub fn selector(&self) -> String {
        let op = if self.job.chars().any(|c| REGEX_CHARS.contains(c)) {
            "=~"
        } else {
            "="
        };
        format!("job{op}{}", exprs::promql_string(&self.job))
    }
}

/// An alert's `severity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Someone should look during working hours.
    Warning,
    /// Someone should look now.
    Critical,
}

impl Severity {
    /// `warning` or `critical`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recording rule: `record` is the name of the series `expr` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingRule {
    /// The recorded series' name (`level:metric:operations`).
    pub record: String,
    /// The PromQL expression.
    pub expr: String,
}

/// An alerting rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertingRule {
    /// The alert's name.
    pub alert: String,
    /// The PromQL expression; each of its series is one alert.
    pub expr: String,
    /// How long the expression must hold before the alert fires (zero: at
    /// once, no `for` in the file).
    pub for_: Duration,
    /// The `severity` label.
    pub severity: Severity,
    /// The `summary` annotation (static).
    pub summary: String,
    /// The `description` annotation (a Prometheus template).
    pub description: String,
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// A recording rule.
    Record(RecordingRule),
    /// An alerting rule.
    Alert(AlertingRule),
}

/// A rule group: rules evaluated in order, at the same instant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleGroup {
    /// The group's name, unique in the file.
    pub name: String,
    /// Its rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// A Prometheus rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleFile {
    /// Comment lines written at the top (without `# `).
    pub comment: Vec<String>,
    /// The groups, in order.
    pub groups: Vec<RuleGroup>,
}

impl RuleFile {
    /// The rules for `options`: a group of recording rules (`vitals.rules`)
    /// and one of alerts (`vitals.alerts`), described in `docs/alerts.md`.
    /// `VitalsSpendHigh` is there only when
    /// [`Thresholds::cost_per_hour`] is set.
    ///
    /// # Errors
    ///
    /// [`RulesError`] for a job that cannot be a label matcher (empty, a
    /// control character), a window PromQL cannot use (zero, or a rate
    /// window not shorter than the stuck window), or a number that is
    /// negative or not finite.
    pub fn generate(options: &RuleOptions) -> Result<RuleFile, RulesError> {
        exprs::check(options)?;
        Ok(exprs::file(options))
    }

    /// The file as YAML, as Prometheus and `promtool check rules` read it.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        yaml::write(self)
    }

    /// Every recording rule, in file order.
    pub fn records(&self) -> impl Iterator<Item = &RecordingRule> {
        self.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|rule| match rule {
                Rule::Record(record) => Some(record),
                Rule::Alert(_) => None,
            })
    }

    /// Every alerting rule, in file order.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertingRule> {
        self.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|rule| match rule {
                Rule::Alert(alert) => Some(alert),
                Rule::Record(_) => None,
            })
    }

    /// The alerting rule named `name`.
    #[must_use]
    pub fn alert(&self, name: &str) -> Option<&AlertingRule> {
        self.alerts().find(|a| a.alert == name)
    }

    /// The recording rule that records `name`.
    #[must_use]
    pub fn record(&self, name: &str) -> Option<&RecordingRule> {
        self.records().find(|r| r.record == name)
    }
}

/// The rule file for `options` as YAML: [`RuleFile::generate`] then
/// [`RuleFile::to_yaml`].
///
/// ```
/// let yaml = vitals_client::rules::yaml(&Default::default())?;
/// assert!(yaml.starts_with("# Generated by `vitals rules`"));
/// # Ok::<(), vitals_client::RulesError>(())
/// ```
///
/// # Errors
///
/// As [`RuleFile::generate`].
pub fn yaml(options: &RuleOptions) -> Result<String, RulesError> {
    RuleFile::generate(options).map(|file| file.to_yaml())
}
