//! `vitals rules` and the rule files shipped in `deploy/prometheus/`:
//! the shipped files are the command's output, promtool accepts them and
//! the output for other thresholds, and the promtool unit tests in
//! `deploy/prometheus/tests/` pass.
//!
//! promtool comes from Debian's `prometheus` package (`.ci/run` installs it).
//! Without it the promtool tests say on stderr that they are skipped, and
//! fail under `CI=true`.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![expect(
    clippy::print_stderr,
    reason = "the shared helpers forward a child's stderr"
)]

#[allow(dead_code, reason = "each test binary uses a part of the helpers")]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::prometheus::tool;
use common::{run, text};
use vitals_client::rules::names;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `vitals rules ARGS`, asserted to succeed: the YAML.
fn rules(args: &[&str]) -> String {
    let mut all = vec!["rules"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "vitals {all:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The shipped rule files and the arguments they are the output of.
const SHIPPED: [(&str, &[&str]); 2] = [
    ("deploy/prometheus/vitals.rules.yml", &[]),
    (
        "deploy/prometheus/tests/spend.rules.yml",
        &["--cost-per-hour", "10"],
    ),
];

#[test]
fn the_shipped_rule_files_are_the_output_of_vitals_rules() {
    for (path, args) in SHIPPED {
        let generated = rules(args);
        let file = root().join(path);
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&file, &generated).unwrap();
            continue;
        }
        let shipped = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            shipped == generated,
            "{path} is not the output of `vitals rules {}`: refresh it with \
             `cargo run -q -p vitals-cli -- rules {} > {path}` (or \
             `UPDATE_EXPECT=1 cargo test -p vitals-cli --test rules`), then review the diff \
             and the promtool tests in deploy/prometheus/tests/",
            args.join(" "),
            args.join(" "),
        );
    }
}

#[test]
fn the_rules_hold_every_alert_and_read_their_thresholds() {
    let default = rules(&[]);
    for name in names::ALERTS {
        let line = format!("- alert: {name}\n");
        assert_eq!(
            default.contains(&line),
            name != names::SPEND_HIGH,
            "{name}: the spend alert only with --cost-per-hour"
        );
    }
    let custom = rules(&[
        "--stuck-cpu",
        "0.05",
        "--stuck-window",
        "5m",
        "--stuck-min-runtime",
        "1h30m",
        "--gone-for",
        "90s",
        "--retry-attempts",
        "7",
        "--cost-per-hour",
        "2.5",
        "--job",
        "orchestrator",
    ]);
    for expected in [
        "< 0.05\n",
        "[5m]",
        "agent:vitals_agent_cpu:rate5m",
        ">= 5400\n",
        "for: 1m30s\n",
        ">= 7\n",
        "> 2.5\n",
        r#"job="orchestrator""#,
        "- alert: VitalsSpendHigh\n",
    ] {
        assert!(custom.contains(expected), "{expected:?} in\n{custom}");
    }
    assert!(!custom.contains(r#"job="vitals""#), "{custom}");

    // Bad flags: exit 2 and a message naming the flag.
    for (args, says) in [
        (&["--stuck-window", "soon"][..], "--stuck-window"),
        (&["--stuck-cpu=-1"][..], "--stuck-cpu"),
        (&["--rate-window", "10m"][..], "rate_window"),
        (&["--job", ""][..], "job"),
    ] {
        let mut all = vec!["rules"];
        all.extend_from_slice(args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// `promtool check rules FILE`, asserted to pass; `None` without promtool.
fn promtool_check(file: &Path, test: &str) -> Option<()> {
    let promtool = tool("promtool", test)?;
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules {}: {}{}\n--- the file:\n{}",
        file.display(),
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    Some(())
}

#[test]
fn promtool_accepts_the_shipped_rules_and_other_thresholds() {
    let test = "promtool_accepts_the_shipped_rules_and_other_thresholds";
    for (path, _) in SHIPPED {
        if promtool_check(&root().join(path), test).is_none() {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let variants: [&[&str]; 4] = [
        &[
            "--stuck-cpu",
            "0.05",
            "--stuck-window",
            "5m",
            "--stuck-min-runtime",
            "1h30m",
            "--gone-for",
            "90s",
            "--backlog-for",
            "1h",
            "--retry-attempts",
            "5",
            "--cost-per-hour",
            "2.5",
            "--pid-reuse-slack",
            "500ms",
            "--down-for",
            "30s",
            "--breaker-open-for",
            "0s",
            "--section-failing-for",
            "10m",
            "--rate-window",
            "1m",
        ],
        &[
            "--job",
            "vitals|orchestrator-.*",
            "--cost-per-hour",
            "0.000001",
        ],
        // A job name that needs quoting in PromQL (and a valid RE2 escape).
        &[
            "--job",
            r#"we"ird\.job"#,
            "--stuck-cpu",
            "0",
            "--retry-attempts",
            "0",
        ],
        &[
            "--stuck-window",
            "1h30m500ms",
            "--rate-window",
            "90s",
            "--gone-for",
            "1ms",
            "--cost-per-hour",
            "1000000",
        ],
    ];
    for (i, args) in variants.iter().enumerate() {
        let file = dir.path().join(format!("variant-{i}.yml"));
        std::fs::write(&file, rules(args)).unwrap();
        promtool_check(&file, test);
    }
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    let test = "promtool_unit_tests_of_the_rules_pass";
    let Some(promtool) = tool("promtool", test) else {
        return;
    };
    let dir = root().join("deploy/prometheus/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    // Every alert is named by some test case.
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for name in names::ALERTS {
        assert!(
            all.contains(&format!("alertname: {name}\n")),
            "no promtool test case for {name}"
        );
    }
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .args(&files)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn docs_alerts_md_describes_every_alert_and_record() {
    let docs = std::fs::read_to_string(root().join("docs/alerts.md")).unwrap();
    let mut options = vitals_client::rules::RuleOptions::default();
    options.thresholds.cost_per_hour = Some(20.0);
    let file = vitals_client::rules::RuleFile::generate(&options).unwrap();
    for alert in file.alerts() {
        assert!(
            docs.contains(&format!("### {} (", alert.alert)),
            "docs/alerts.md has no section for {}",
            alert.alert
        );
        // The documented expression is the generated one (with the defaults).
        let expr = alert.expr.lines().next().unwrap();
        assert!(docs.contains(expr), "docs/alerts.md lacks {expr:?}");
    }
    for record in file.records() {
        assert!(
            docs.contains(&format!("`{}`", record.record)),
            "docs/alerts.md does not name {}",
            record.record
        );
    }
}
