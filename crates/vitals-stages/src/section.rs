//! The section itself and its OpenMetrics mapping.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;
use vitals_core::export::{MetricFamily, MetricKind, label_value};
use vitals_core::{Collect, Fallback, Section, SectionError, SectionValue, async_trait};

use crate::fields::{AGE_IN_STAGE_S, REPO, STAGE, TASK_ID, WORK_ITEM};
use crate::{KEY, ORDER, StageRow, StageSource, TERMINAL_STAGES};

/// The `stages` section: one entry per task whose stage is not terminal.
///
/// Each entry is, in this order, `work_item`, `stage`, `age_in_stage_s`,
/// `repo` and `task_id` (contract v1). `age_in_stage_s` is whole seconds
/// from the task's `stage_entered_at` to the snapshot's clock (floored;
/// negative when the stored instant lies in the future, so that clock skew
/// stays visible), and `null` when either is unknown. Tasks in `done` or
/// `cancelled` are dropped whatever the source returns. Falls back to `[]`.
///
/// Metrics: `vitals_task_age_in_stage_seconds` (gauge), labelled
/// `work_item`, `stage`, `repo` and `task_id` (`""` when null); a task
/// with a `null` age has no sample.
#[derive(Debug, Clone)]
pub struct StagesSection {
    source: Arc<dyn StageSource>,
}

impl StagesSection {
    /// A section reading from `source`.
    #[must_use]
    pub fn new(source: Arc<dyn StageSource>) -> Self {
        Self { source }
    }
}

/// One entry of the output.
#[derive(Debug)]
struct StageEntry {
    work_item: Option<String>,
    stage: Option<String>,
    age_in_stage_s: Option<i64>,
    repo: Option<String>,
    task_id: Option<i64>,
}

impl Serialize for StageEntry {
    /// In contract order, named by [`crate::fields`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entry = serializer.serialize_struct("StageEntry", 5)?;
        entry.serialize_field(WORK_ITEM, &self.work_item)?;
        entry.serialize_field(STAGE, &self.stage)?;
        entry.serialize_field(AGE_IN_STAGE_S, &self.age_in_stage_s)?;
        entry.serialize_field(REPO, &self.repo)?;
        entry.serialize_field(TASK_ID, &self.task_id)?;
        entry.end()
    }
}

fn is_terminal(row: &StageRow) -> bool {
    row.stage
        .as_deref()
        .is_some_and(|stage| TERMINAL_STAGES.contains(&stage))
}

#[async_trait]
impl Section for StagesSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::EmptyArray
    }

    fn order(&self) -> i32 {
        ORDER
    }

    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let rows = self.source.active_tasks(cx).await?;
        let entries: Vec<StageEntry> = rows
            .into_iter()
            .filter(|row| !is_terminal(row))
            .map(|row| StageEntry {
                age_in_stage_s: row
                    .stage_entered_at
                    .and_then(|since| cx.seconds_since(since)),
                work_item: row.work_item,
                stage: row.stage,
                repo: row.repo,
                task_id: row.task_id,
            })
            .collect();
        SectionValue::from_serialize(&entries)
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let mut age = MetricFamily::new(
            "vitals_task_age_in_stage",
            "Whole seconds each active task has been in its current stage.",
            MetricKind::Gauge,
        )
        .with_unit("seconds");
        for entry in value.as_array().into_iter().flatten() {
            let Some(seconds) = entry.get(AGE_IN_STAGE_S).and_then(Value::as_f64) else {
                continue;
            };
            let labels =
                [WORK_ITEM, STAGE, REPO, TASK_ID].map(|name| (name, label_value(entry.get(name))));
            age.push(labels, seconds);
        }
        age.emit_into(out);
    }
}
