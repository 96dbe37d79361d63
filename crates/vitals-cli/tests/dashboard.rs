//! `deploy/grafana/vitals.json`: every PromQL expression in it parses
//! (with `promql-parser`, Grafana's variables replaced by valid values), and
//! every metric it names is one vitals exposes (read from a fully populated
//! snapshot's text exposition, with the `process` section, as `vitals serve`
//! serves it), `up`, or one the generated rules record.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeSet;
use std::path::Path;

use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;
use vitals::{Assembler, FixedClock};
use vitals_client::rules::{RuleFile, RuleOptions};

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/vitals.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every panel, those inside rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Grafana's variables, replaced by values that keep the PromQL valid.
const VARIABLES: [(&str, &str); 8] = [
    ("${__rate_interval}", "1m"),
    ("$__rate_interval", "1m"),
    ("${__interval}", "30s"),
    ("$__interval", "30s"),
    ("${job}", "vitals"),
    ("$job", "vitals"),
    ("${instance}", "orch-1:9464|orch-2:9464"),
    ("$instance", "orch-1:9464|orch-2:9464"),
];

fn substitute(expr: &str) -> String {
    let mut out = expr.to_owned();
    for (variable, value) in VARIABLES {
        out = out.replace(variable, value);
    }
    assert!(!out.contains('$'), "an unknown variable in {expr:?}");
    out
}

/// The metric names an expression selects.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn selector(&mut self, selector: &parser::VectorSelector) {
        if let Some(name) = &selector.name {
            self.0.insert(name.clone());
        }
        for matcher in &selector.matchers.matchers {
            if matcher.name == "__name__" {
                self.0.insert(matcher.value.clone());
            }
        }
    }
}

impl ExprVisitor for Names {
    type Error = ();

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        match expr {
            Expr::VectorSelector(selector) => self.selector(selector),
            Expr::MatrixSelector(matrix) => self.selector(&matrix.vs),
            _ => {}
        }
        Ok(true)
    }
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let parsed =
        parser::parse(&substitute(expr)).unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}"));
    let mut names = Names::default();
    walk_expr(&mut names, &parsed).unwrap();
    assert!(!names.0.is_empty(), "{expr:?} selects no metric");
    names.0
}

/// The metric names a fully populated snapshot exposes, as `vitals serve`
/// serves it (the four sections, the collector's families, the process).
fn exposed() -> BTreeSet<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resources = vitals::fake::populated();
    let assembler = Assembler::builder()
        .clock(FixedClock::at(vitals::fake::at()))
        .descriptors(
            vitals::BUILTIN.iter().chain([&vitals::process::DESCRIPTOR]),
            &resources,
        )
        .build()
        .unwrap();
    let snapshot = runtime.block_on(assembler.build());
    let text = vitals::http::encode_text(assembler.metric_families(&snapshot));
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape.samples.into_iter().map(|s| s.metric).collect()
}

#[test]
fn every_expression_parses_and_names_only_what_vitals_exposes_or_the_rules_record() {
    let dashboard = dashboard();
    let mut known = exposed();
    known.insert("up".to_owned());
    let rules = RuleFile::generate(&RuleOptions::default()).unwrap();
    let recorded: BTreeSet<String> = rules.records().map(|r| r.record.clone()).collect();
    known.extend(recorded.iter().cloned());

    let mut exprs = Vec::new();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    // The template variables' queries: `label_values(SELECTOR, LABEL)`.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _label)| selector.trim())
            .unwrap_or_else(|| panic!("unexpected variable query {query:?}"));
        exprs.push(inner.to_owned());
    }
    assert!(exprs.len() >= 20, "{exprs:?}");

    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                known.contains(&name),
                "{expr:?} uses {name}, which vitals does not expose and no rule records"
            );
            used.insert(name);
        }
    }
    // The dashboard shows the stuck and gone verdicts of the rules.
    for record in [
        vitals_client::rules::names::AGENT_STUCK_RECORD,
        vitals_client::rules::names::AGENT_GONE_RECORD,
    ] {
        assert!(used.contains(record), "no panel shows {record}");
    }
    // It uses no record whose name depends on the thresholds (a window in
    // the name): those change with `vitals rules` flags.
    for name in &used {
        if recorded.contains(name) {
            assert!(
                [
                    vitals_client::rules::names::AGENT_STUCK_RECORD,
                    vitals_client::rules::names::AGENT_GONE_RECORD,
                    vitals_client::rules::names::SPEND_RECORD,
                ]
                .contains(&name.as_str()),
                "{name}: its name changes with the thresholds"
            );
        }
    }
}

#[test]
fn ranges_are_the_rate_interval_and_selectors_the_variables() {
    let dashboard = dashboard();
    let names: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["datasource", "job", "instance"]);
    for panel in panels(&dashboard) {
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Every range is Grafana's rate interval.
            for (i, _) in expr.match_indices('[') {
                assert!(
                    expr[i..].starts_with("[$__rate_interval]"),
                    "{expr:?}: a range other than $__rate_interval"
                );
            }
            // Every selector is narrowed to the chosen job and instances.
            let selectors = expr.matches('{').count();
            let narrowed = expr.matches(r#"job=~"$job",instance=~"$instance""#).count();
            assert_eq!(selectors, narrowed, "{expr:?}");
        }
    }
}
