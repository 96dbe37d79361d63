//! `vitals rules`: the Prometheus rule file for the chosen thresholds.
//!
//! The rules come from `vitals_client::rules`, which reads the same
//! `Thresholds` as `vitals watch`; this command only turns flags into
//! thresholds and prints the YAML. Each flag's default is the `Thresholds`
//! default, read from it (not written a second time here).

use std::io::Write as _;

use vitals_client::rules::{RuleFile, RuleOptions};
use vitals_client::{DurationError, RulesError, ThresholdError, Thresholds};

use crate::CliError;

/// Print Prometheus recording and alerting rules (YAML) for the chosen
/// thresholds: `vitals rules > vitals.rules.yml`, then list the file under
/// `rule_files` in prometheus.yml. The thresholds are the ones `vitals
/// watch` judges by; docs/alerts.md describes every rule.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Below this CPU, as a fraction of one core, an agent and its process
    /// tree do nothing.
    #[arg(long, value_name = "FRACTION", default_value_t = default_of("stuck_cpu"))]
    stuck_cpu: String,

    /// How long an agent must stay under --stuck-cpu to be stuck (also the
    /// alert's `for`).
    #[arg(long, value_name = "DURATION", default_value_t = default_of("stuck_window"))]
    stuck_window: String,

    /// No agent is stuck before its job has run this long.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("stuck_min_runtime"))]
    stuck_min_runtime: String,

    /// How long an agent's process may be gone while its job runs.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("gone_for"))]
    gone_for: String,

    /// How long jobs may wait with none finishing.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("backlog_for"))]
    backlog_for: String,

    /// A non-terminal job with this many attempts or more retries too much.
    #[arg(long, value_name = "N", default_value_t = default_of("retry_attempts"))]
    retry_attempts: String,

    /// Spend above this many US dollars per hour raises VitalsSpendHigh
    /// (without it, there is no spend alert).
    #[arg(long, value_name = "USD")]
    cost_per_hour: Option<String>,

    /// A process younger than its job by more than this is another process
    /// (the pid was reused).
    #[arg(long, value_name = "DURATION", default_value_t = default_of("pid_reuse_slack"))]
    pid_reuse_slack: String,

    /// How long a target may be down.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("down_for"))]
    down_for: String,

    /// How long the circuit breaker may stay open or half-open.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("breaker_open_for"))]
    breaker_open_for: String,

    /// How long a section may stay in error, panic, timeout or busy.
    #[arg(long, value_name = "DURATION", default_value_t = default_of("section_failing_for"))]
    section_failing_for: String,

    /// The Prometheus scrape job of the vitals targets: a name, or a
    /// regular expression (e.g. 'vitals|orchestrator-.*').
    #[arg(long, value_name = "JOB", default_value_t = RuleOptions::default().job)]
    job: String,

    /// The window of the "CPU now" rates: at least four scrape intervals,
    /// shorter than --stuck-window.
    #[arg(
        long,
        value_name = "DURATION",
        default_value_t = vitals_client::duration::format(RuleOptions::default().rate_window),
        value_parser = parse_duration
    )]
    rate_window: String,
}

/// The default of the threshold `name`, as the flag writes it.
fn default_of(name: &str) -> String {
    let defaults = serde_json::to_value(Thresholds::default()).unwrap_or_default();
    match defaults.get(name) {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn parse_duration(text: &str) -> Result<String, String> {
    vitals_client::duration::parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// Why `vitals rules` printed nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RulesCliError {
    /// A threshold flag that does not parse.
    #[error("invalid --{}", flag.replace('_', "-"))]
    Threshold {
        /// The threshold's name.
        flag: &'static str,
        /// Why.
        #[source]
        source: ThresholdError,
    },
    /// A `--rate-window` that does not parse.
    #[error("invalid --rate-window")]
    RateWindow(#[source] DurationError),
    /// Options the rules cannot be made from.
    #[error("cannot generate the rules")]
    Rules(#[source] RulesError),
}

impl Args {
    /// The options the flags ask for.
    fn options(&self) -> Result<RuleOptions, RulesCliError> {
        let mut thresholds = Thresholds::default();
        let flags: [(&'static str, Option<&String>); 11] = [
            ("stuck_cpu", Some(&self.stuck_cpu)),
            ("stuck_window", Some(&self.stuck_window)),
            ("stuck_min_runtime", Some(&self.stuck_min_runtime)),
            ("gone_for", Some(&self.gone_for)),
            ("backlog_for", Some(&self.backlog_for)),
            ("retry_attempts", Some(&self.retry_attempts)),
            ("cost_per_hour", self.cost_per_hour.as_ref()),
            ("pid_reuse_slack", Some(&self.pid_reuse_slack)),
            ("down_for", Some(&self.down_for)),
            ("breaker_open_for", Some(&self.breaker_open_for)),
            ("section_failing_for", Some(&self.section_failing_for)),
        ];
        for (flag, value) in flags {
            if let Some(value) = value {
                thresholds
                    .set(flag, value)
                    .map_err(|source| RulesCliError::Threshold { flag, source })?;
            }
        }
        let rate_window =
            vitals_client::duration::parse(&self.rate_window).map_err(RulesCliError::RateWindow)?;
        Ok(RuleOptions::new(thresholds)
            .with_job(self.job.clone())
            .with_rate_window(rate_window))
    }
}

/// Runs `vitals rules`.
pub(crate) fn run(args: &Args) -> Result<(), CliError> {
    let options = args.options()?;
    let file = RuleFile::generate(&options).map_err(RulesCliError::Rules)?;
    let mut out = std::io::stdout().lock();
    out.write_all(file.to_yaml().as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}
