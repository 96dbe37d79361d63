//! The section itself and its OpenMetrics mapping.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;
use vitals_core::export::{MetricFamily, MetricKind, label_value};
use vitals_core::{Collect, Fallback, Section, SectionError, SectionValue, async_trait};

use crate::fields::{
    AGENT, AGGREGATE, CACHE_CREATION_TOKENS, CACHE_READ_TOKENS, COST_USD, INPUT_TOKENS, JOB_ID,
    OUTPUT_TOKENS, RUN_ID, RUNNING, RUNS,
};

use crate::{CostSource, CostTotals, KEY, ORDER, RunningCost};

/// The `cost` section: `{"running": [...], "aggregate": {...}}` (contract v1).
///
/// * `running`: per running job, its latest run: `run_id`, `job_id`,
///   `agent`, `cost_usd`, `input_tokens`, `output_tokens`,
///   `cache_read_tokens`, `cache_creation_tokens`, in this order; the cost
///   fields are `null` until the run finishes. Guarded on its own: `[]` on
///   failure.
/// * `aggregate`: over all runs: `runs`, `cost_usd` (always a JSON float,
///   `0.0` for an empty table), `input_tokens`, `output_tokens`,
///   `cache_read_tokens`, `cache_creation_tokens` (integers). Guarded on its
///   own: `null` on failure.
///
/// A failing field is listed in the meta section (status `degraded`); the
/// section as a whole falls back to `null` only when it panics outside the
/// guards or misses its deadline. A non-finite cost becomes `null` (JSON
/// has no NaN).
///
/// Metrics: `vitals_cost_usd` (counter, the aggregate cost), `vitals_tokens`
/// (counter, labelled `kind` = `input`, `output`, `cache_read`,
/// `cache_creation`), `vitals_runs` (counter) and, per running run,
/// `vitals_running_cost_usd` (gauge, labelled `run_id`, `job_id`, `agent`;
/// only once the run has a cost). `null` values have no sample.
#[derive(Debug, Clone)]
pub struct CostSection {
    source: Arc<dyn CostSource>,
}

impl CostSection {
    /// A section reading from `source`.
    #[must_use]
    pub fn new(source: Arc<dyn CostSource>) -> Self {
        Self { source }
    }
}

/// The output object; `aggregate` is `None` (`null`) when it fell back.
#[derive(Debug)]
struct CostOut {
    running: Vec<RunningCost>,
    aggregate: Option<CostTotals>,
}

impl Serialize for CostOut {
    /// In contract order, named by [`crate::fields`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("CostOut", 2)?;
        let running: Vec<RunningOut<'_>> = self.running.iter().map(RunningOut).collect();
        out.serialize_field(RUNNING, &running)?;
        out.serialize_field(AGGREGATE, &self.aggregate.map(AggregateOut))?;
        out.end()
    }
}

/// One entry of `running`.
#[derive(Debug)]
struct RunningOut<'a>(&'a RunningCost);

impl Serialize for RunningOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut out = serializer.serialize_struct("RunningOut", 8)?;
        out.serialize_field(RUN_ID, &row.run_id)?;
        out.serialize_field(JOB_ID, &row.job_id)?;
        out.serialize_field(AGENT, &row.agent)?;
        out.serialize_field(COST_USD, &row.cost_usd)?;
        out.serialize_field(INPUT_TOKENS, &row.input_tokens)?;
        out.serialize_field(OUTPUT_TOKENS, &row.output_tokens)?;
        out.serialize_field(CACHE_READ_TOKENS, &row.cache_read_tokens)?;
        out.serialize_field(CACHE_CREATION_TOKENS, &row.cache_creation_tokens)?;
        out.end()
    }
}

/// `aggregate`. `cost_usd` is an `f64`, so it is serialized as a JSON float
/// (`0.0`), never as an integer.
#[derive(Debug)]
struct AggregateOut(CostTotals);

impl Serialize for AggregateOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let totals = &self.0;
        let mut out = serializer.serialize_struct("AggregateOut", 6)?;
        out.serialize_field(RUNS, &totals.runs)?;
        out.serialize_field(COST_USD, &totals.cost_usd)?;
        out.serialize_field(INPUT_TOKENS, &totals.input_tokens)?;
        out.serialize_field(OUTPUT_TOKENS, &totals.output_tokens)?;
        out.serialize_field(CACHE_READ_TOKENS, &totals.cache_read_tokens)?;
        out.serialize_field(CACHE_CREATION_TOKENS, &totals.cache_creation_tokens)?;
        out.end()
    }
}

#[async_trait]
impl Section for CostSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::Null
    }

    fn order(&self) -> i32 {
        ORDER
    }

    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let running = cx
            .field_or(RUNNING, Vec::new(), self.source.running_costs(cx))
            .await;
        let aggregate = cx.field(AGGREGATE, self.source.totals(cx)).await;
        SectionValue::from_serialize(&CostOut { running, aggregate })
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        if let Some(aggregate) = value.get(AGGREGATE).filter(|a| a.is_object()) {
            let number = |field: &str| aggregate.get(field).and_then(Value::as_f64);
            let mut cost = MetricFamily::new(
                "vitals_cost_usd",
                "Cost of all agent runs, in US dollars.",
                MetricKind::Counter,
            );
            if let Some(usd) = number(COST_USD) {
                cost.push(Vec::<(String, String)>::new(), usd);
            }
            cost.emit_into(out);

            let mut tokens = MetricFamily::new(
                "vitals_tokens",
                "Tokens of all agent runs, by kind.",
                MetricKind::Counter,
            );
            let by_kind = [
                ("input", INPUT_TOKENS),
                ("output", OUTPUT_TOKENS),
                ("cache_read", CACHE_READ_TOKENS),
                ("cache_creation", CACHE_CREATION_TOKENS),
            ];
            for (kind, field) in by_kind {
                if let Some(count) = number(field) {
                    tokens.push([("kind", kind)], count);
                }
            }
            tokens.emit_into(out);

            let mut runs =
                MetricFamily::new("vitals_runs", "Agent runs recorded.", MetricKind::Counter);
            if let Some(count) = number(RUNS) {
                runs.push(Vec::<(String, String)>::new(), count);
            }
            runs.emit_into(out);
        }

        let mut running = MetricFamily::new(
            "vitals_running_cost_usd",
            "Cost so far of each running job's latest run, in US dollars (once known).",
            MetricKind::Gauge,
        );
        for run in value
            .get(RUNNING)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(usd) = run.get(COST_USD).and_then(Value::as_f64) else {
                continue;
            };
            let labels = [RUN_ID, JOB_ID, AGENT].map(|name| (name, label_value(run.get(name))));
            running.push(labels, usd);
        }
        running.emit_into(out);
    }
}
