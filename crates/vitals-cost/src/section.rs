//! The section itself and its OpenMetrics mapping.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use vitals_core::export::{MetricFamily, MetricKind, label_value};
use vitals_core::{Collect, Fallback, Section, SectionError, async_trait};

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

/// The output object, in contract order.
#[derive(Debug, Serialize)]
struct CostOut {
    running: Value,
    aggregate: Value,
}

/// One entry of `running`, in contract order.
#[derive(Debug, Serialize)]
struct RunningOut {
    run_id: Option<i64>,
    job_id: Option<i64>,
    agent: Option<String>,
    cost_usd: Option<f64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_tokens: Option<i64>,
    cache_creation_tokens: Option<i64>,
}

impl From<RunningCost> for RunningOut {
    fn from(row: RunningCost) -> Self {
        Self {
            run_id: row.run_id,
            job_id: row.job_id,
            agent: row.agent,
            cost_usd: row.cost_usd,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_creation_tokens: row.cache_creation_tokens,
        }
    }
}

/// `aggregate`, in contract order. `cost_usd` is an `f64`, so it is
/// serialized as a JSON float (`0.0`), never as an integer.
#[derive(Debug, Serialize)]
struct AggregateOut {
    runs: i64,
    cost_usd: f64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_creation_tokens: i64,
}

impl From<CostTotals> for AggregateOut {
    fn from(totals: CostTotals) -> Self {
        Self {
            runs: totals.runs,
            cost_usd: totals.cost_usd,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cache_read_tokens: totals.cache_read_tokens,
            cache_creation_tokens: totals.cache_creation_tokens,
        }
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

    async fn collect(&self, cx: &Collect) -> Result<Value, SectionError> {
        let running = cx
            .field_or("running", Value::Array(Vec::new()), async {
                let rows = self.source.running_costs(cx).await?;
                Ok::<_, SectionError>(rows.into_iter().map(RunningOut::from).collect::<Vec<_>>())
            })
            .await;
        let aggregate = cx
            .field("aggregate", async {
                self.source.totals(cx).await.map(AggregateOut::from)
            })
            .await;
        Ok(serde_json::to_value(CostOut { running, aggregate })?)
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        if let Some(aggregate) = value.get("aggregate").filter(|a| a.is_object()) {
            let number = |field: &str| aggregate.get(field).and_then(Value::as_f64);
            let mut cost = MetricFamily::new(
                "vitals_cost_usd",
                "Cost of all agent runs, in US dollars.",
                MetricKind::Counter,
            );
            if let Some(usd) = number("cost_usd") {
                cost.push(Vec::<(String, String)>::new(), usd);
            }
            cost.emit_into(out);

            let mut tokens = MetricFamily::new(
                "vitals_tokens",
                "Tokens of all agent runs, by kind.",
                MetricKind::Counter,
            );
            for kind in ["input", "output", "cache_read", "cache_creation"] {
                if let Some(count) = number(&format!("{kind}_tokens")) {
                    tokens.push([("kind", kind)], count);
                }
            }
            tokens.emit_into(out);

            let mut runs =
                MetricFamily::new("vitals_runs", "Agent runs recorded.", MetricKind::Counter);
            if let Some(count) = number("runs") {
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
            .get("running")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(usd) = run.get("cost_usd").and_then(Value::as_f64) else {
                continue;
            };
            let labels =
                ["run_id", "job_id", "agent"].map(|name| (name, label_value(run.get(name))));
            running.push(labels, usd);
        }
        running.emit_into(out);
    }
}
