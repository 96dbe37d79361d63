//! The SQL behind each source method, and the decoding of its rows.
//!
//! Each function runs on the worker thread, inside the snapshot's read
//! transaction, and uses cached prepared statements. Values are decoded with
//! [`crate::decode`]: a bad value degrades the field, never the query.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use vitals_queue::RetryStats;

use crate::decode::{self, At, Issues};
use crate::error::SqliteError;

/// Rows plus the problems met while decoding them.
#[derive(Debug, Clone)]
pub(crate) struct Decoded<T> {
    pub(crate) rows: T,
    pub(crate) issues: Issues,
}

/// The names of a table's columns (lowercase), or [`SqliteError::MissingTable`].
pub(crate) fn table_columns(
    conn: &Connection,
    table: &str,
    path: &Path,
) -> Result<HashSet<String>, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let mut stmt = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1)")
        .map_err(sqlite)?;
    let mut rows = stmt.query([table]).map_err(sqlite)?;
    let mut names = HashSet::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        if let ValueRef::Text(name) = row.get_ref(0).map_err(sqlite)? {
            names.insert(String::from_utf8_lossy(name).to_ascii_lowercase());
        }
    }
    if names.is_empty() {
        return Err(SqliteError::MissingTable {
            table: table.to_owned(),
            source: None,
        });
    }
    Ok(names)
}

/// Picks the select expression of an optional column: the column itself, or
/// `NULL` and a `missing_column` issue when the table lacks it.
fn optional(
    columns: &HashSet<String>,
    alias: &str,
    name: &str,
    qualified: &'static str,
    issues: &mut Issues,
) -> String {
    if columns.contains(name) {
        format!("{alias}{name}")
    } else {
        issues.note_many(
            qualified,
            "missing_column",
            1,
            format!("no such column: {qualified}"),
        );
        "NULL".to_owned()
    }
}

fn required(columns: &HashSet<String>, name: &str, qualified: &str) -> Result<(), SqliteError> {
    if columns.contains(name) {
        Ok(())
    } else {
        Err(SqliteError::MissingColumn {
            column: qualified.to_owned(),
            source: None,
        })
    }
}

/// One active task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskRow {
    pub(crate) task_id: Option<i64>,
    pub(crate) work_item: Option<String>,
    pub(crate) stage: Option<String>,
    pub(crate) repo: Option<String>,
    pub(crate) stage_entered_at: Option<DateTime<Utc>>,
}

/// `tasks` whose stage is not terminal, ordered by id.
///
/// The `WHERE` clause is written exactly as the partial index
/// `idx_tasks_active_stage` is, and the ordering is `+id` so that the planner
/// does not prefer a full scan in rowid order over the (small) index plus a
/// sort of the few active rows.
pub(crate) fn active_tasks(
    conn: &Connection,
    path: &Path,
) -> Result<Decoded<Vec<TaskRow>>, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let columns = table_columns(conn, "tasks", path)?;
    required(&columns, "id", "tasks.id")?;
    required(&columns, "stage", "tasks.stage")?;
    let mut issues = Issues::default();
    let work_item = optional(
        &columns,
        "",
        "work_item_id",
        "tasks.work_item_id",
        &mut issues,
    );
    let repo = optional(&columns, "", "repo", "tasks.repo", &mut issues);
    let entered = optional(
        &columns,
        "",
        "stage_entered_at",
        "tasks.stage_entered_at",
        &mut issues,
    );
    let sql = format!(
        "SELECT id, {work_item}, stage, {repo}, {entered} FROM tasks \
         WHERE stage NOT IN ('done', 'cancelled') ORDER BY +id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        let id = row.get_ref(0).map_err(sqlite)?;
        let key = match id {
            ValueRef::Integer(i) => format!("task {i}"),
            _ => "a task".to_owned(),
        };
        let at = |column| At { column, row: &key };
        let get = |i| row.get_ref(i).map_err(sqlite);
        out.push(TaskRow {
            task_id: decode::int(id, at("tasks.id"), true, &mut issues),
            work_item: decode::text(get(1)?, at("tasks.work_item_id"), true, &mut issues),
            stage: decode::text(get(2)?, at("tasks.stage"), true, &mut issues),
            repo: decode::text(get(3)?, at("tasks.repo"), false, &mut issues),
            stage_entered_at: decode::timestamp(
                get(4)?,
                at("tasks.stage_entered_at"),
                true,
                &mut issues,
            ),
        });
    }
    Ok(Decoded { rows: out, issues })
}

/// `SELECT status, COUNT(*) FROM jobs GROUP BY status` (through `idx_jobs_status`).
///
/// A NULL status is counted under the key `"null"` (as the seed's
/// `json.dumps(dict(rows))` writes a `None` key) and reported; a non-text
/// status is counted under its text form; statuses that decode to the same
/// text are merged.
pub(crate) fn status_counts(
    conn: &Connection,
    path: &Path,
) -> Result<Decoded<Vec<(String, i64)>>, SqliteError> {
    let groups = status_groups(conn, path)?;
    Ok(fold_statuses(
        groups
            .iter()
            .map(|(status, count)| (status.as_ref(), *count)),
    ))
}

/// The raw groups of `SELECT status, COUNT(*) FROM jobs GROUP BY status`:
/// each distinct stored value (of any type) with its count.
pub(crate) fn status_groups(
    conn: &Connection,
    path: &Path,
) -> Result<Vec<(Owned, i64)>, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let mut stmt = conn
        .prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        .map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        let count = match row.get_ref(1).map_err(sqlite)? {
            ValueRef::Integer(n) => n,
            _ => 0,
        };
        out.push((Owned::of(row.get_ref(0).map_err(sqlite)?), count));
    }
    Ok(out)
}

/// An owned copy of a stored value, text kept as its bytes (which may not
/// be UTF-8), so that it decodes exactly as the original.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Owned {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Owned {
    pub(crate) fn of(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Owned::Null,
            ValueRef::Integer(i) => Owned::Integer(i),
            ValueRef::Real(f) => Owned::Real(f),
            ValueRef::Text(t) => Owned::Text(t.to_vec()),
            ValueRef::Blob(b) => Owned::Blob(b.to_vec()),
        }
    }

    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Owned::Null => ValueRef::Null,
            Owned::Integer(i) => ValueRef::Integer(*i),
            Owned::Real(f) => ValueRef::Real(*f),
            Owned::Text(t) => ValueRef::Text(t),
            Owned::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// The key under which jobs with a NULL status are counted.
const NULL_STATUS: &str = "null";

/// Decodes `(status, count)` groups into the answer of
/// [`status_counts`], with the same issues: shared by the full query and the
/// incremental aggregates, so that both report a bad status identically.
pub(crate) fn fold_statuses<'a>(
    groups: impl IntoIterator<Item = (ValueRef<'a>, i64)>,
) -> Decoded<Vec<(String, i64)>> {
    let mut issues = Issues::default();
    let mut out: Vec<(String, i64)> = Vec::new();
    for (status, count) in groups {
        let key = format!("{count} jobs");
        let at = At {
            column: "jobs.status",
            row: &key,
        };
        let name = if let ValueRef::Null = status {
            issues.note_many(
                "jobs.status",
                "bad_value",
                u64::try_from(count).unwrap_or(0),
                format!(
                    "{count} jobs have a null status (not null in the schema); counted under \"{NULL_STATUS}\""
                ),
            );
            NULL_STATUS.to_owned()
        } else {
            let Some(name) = decode::text(status, at, true, &mut issues) else {
                continue;
            };
            name
        };
        match out.iter_mut().find(|(s, _)| *s == name) {
            Some((_, n)) => *n = n.saturating_add(count),
            None => out.push((name, count)),
        }
    }
    Decoded { rows: out, issues }
}

/// An aggregate's integer result: NULL is 0; anything else but an integer is an error.
pub(crate) fn int_col(value: ValueRef<'_>, what: &str) -> Result<i64, SqliteError> {
    match value {
        ValueRef::Integer(i) => Ok(i),
        ValueRef::Null => Ok(0),
        other => Err(SqliteError::BadValue {
            what: format!("{what} is {other:?}"),
        }),
    }
}

/// Retry statistics over `status IN ('queued', 'running')` (through
/// `idx_jobs_status`). Only INTEGER `attempts` take part; others (text,
/// real, null) are skipped and reported. Zeros when there are no such jobs.
pub(crate) fn retry_stats(
    conn: &Connection,
    path: &Path,
) -> Result<Decoded<RetryStats>, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let mut stmt = conn
        .prepare_cached(
            "SELECT \
               COALESCE(SUM(CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN typeof(attempts) = 'integer' THEN attempts END), 0), \
               COALESCE(MAX(CASE WHEN typeof(attempts) = 'integer' THEN attempts END), 0), \
               COALESCE(SUM(CASE WHEN typeof(attempts) = 'integer' THEN 0 ELSE 1 END), 0) \
             FROM jobs WHERE status IN ('queued', 'running')",
        )
        .map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let row = rows
        .next()
        .map_err(sqlite)?
        .ok_or_else(|| SqliteError::BadValue {
            what: "the retry query returned no row".to_owned(),
        })?;
    let get = |i| row.get_ref(i).map_err(sqlite);
    let stats = RetryStats {
        jobs_with_retries: int_col(get(0)?, "the count of jobs with retries")?,
        total_attempts: int_col(get(1)?, "the sum of attempts")?,
        max_attempts: int_col(get(2)?, "the largest attempts")?,
    };
    let bad = int_col(get(3)?, "the count of bad attempts")?;
    let mut issues = Issues::default();
    issues.note_many(
        "jobs.attempts",
        "bad_value",
        u64::try_from(bad).unwrap_or(0),
        format!("{bad} queued or running jobs have a non-integer attempts; skipped"),
    );
    Ok(Decoded {
        rows: stats,
        issues,
    })
}

/// One running job with its latest run (the run's fields are `None` when
/// the job has no run yet, or the run has not finished).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RunningRow {
    pub(crate) job_id: Option<i64>,
    pub(crate) agent: Option<String>,
    pub(crate) repo: Option<String>,
    pub(crate) pid: Option<i64>,
    pub(crate) model: Option<String>,
    pub(crate) effort: Option<String>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) run_id: Option<i64>,
    pub(crate) cost_usd: Option<f64>,
    pub(crate) input_tokens: Option<i64>,
    pub(crate) output_tokens: Option<i64>,
    pub(crate) cache_read_tokens: Option<i64>,
    pub(crate) cache_creation_tokens: Option<i64>,
}

/// The running-agents rows of one snapshot, shared by `agents` and `cost.running`.
#[derive(Debug, Clone)]
pub(crate) struct RunningSet {
    pub(crate) rows: Vec<RunningRow>,
    pub(crate) issues: Issues,
    /// Why the runs could not be joined (no `agent_runs` table, or it lacks
    /// `id`/`job_id`): agents still answer with null run ids, `cost.running` fails.
    pub(crate) runs_error: Option<Arc<SqliteError>>,
}

/// Jobs with status `running`, ordered by id, each LEFT JOINed to its latest
/// `agent_runs` row (largest id for the job, through `idx_agent_runs_job_id`
/// and the primary key).
pub(crate) fn running(conn: &Connection, path: &Path) -> Result<RunningSet, SqliteError> {
    let sqlite = |e| SqliteError::from_sqlite(e, path);
    let jobs = table_columns(conn, "jobs", path)?;
    required(&jobs, "id", "jobs.id")?;
    required(&jobs, "status", "jobs.status")?;
    let mut issues = Issues::default();
    let mut j = |name, qualified| optional(&jobs, "j.", name, qualified, &mut issues);
    let job_cols = [
        j("agent", "jobs.agent"),
        j("repo", "jobs.repo"),
        j("pid", "jobs.pid"),
        j("model", "jobs.model"),
        j("effort", "jobs.effort"),
        j("started_at", "jobs.started_at"),
    ]
    .join(", ");
    let runs = table_columns(conn, "agent_runs", path).and_then(|runs| {
        required(&runs, "id", "agent_runs.id")?;
        required(&runs, "job_id", "agent_runs.job_id")?;
        Ok(runs)
    });
    let (run_cols, join, runs_error) = match runs {
        Ok(runs) => {
            let mut r = |name, qualified| optional(&runs, "r.", name, qualified, &mut issues);
            let cols = [
                "r.id".to_owned(),
                r("cost_usd", "agent_runs.cost_usd"),
                r("input_tokens", "agent_runs.input_tokens"),
                r("output_tokens", "agent_runs.output_tokens"),
                r("cache_read_tokens", "agent_runs.cache_read_tokens"),
                r("cache_creation_tokens", "agent_runs.cache_creation_tokens"),
            ]
            .join(", ");
            let join = "LEFT JOIN agent_runs AS r \
                        ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id)";
            (cols, join, None)
        }
        Err(error) => {
            let kind = vitals_core::SourceError::kind(&error);
            issues.note_many("agent_runs.id", kind, 1, error.to_string());
            (
                "NULL, NULL, NULL, NULL, NULL, NULL".to_owned(),
                "",
                Some(Arc::new(error)),
            )
        }
    };
    let sql = format!(
        "SELECT j.id, {job_cols}, {run_cols} FROM jobs AS j {join} \
         WHERE j.status = 'running' ORDER BY j.id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        let id = row.get_ref(0).map_err(sqlite)?;
        let key = match id {
            ValueRef::Integer(i) => format!("job {i}"),
            _ => "a job".to_owned(),
        };
        let at = |column| At { column, row: &key };
        let get = |i| row.get_ref(i).map_err(sqlite);
        let run_id = decode::int(get(7)?, at("agent_runs.id"), false, &mut issues);
        let run_key = run_id.map_or_else(|| key.clone(), |r| format!("run {r}"));
        let at_run = |column| At {
            column,
            row: &run_key,
        };
        out.push(RunningRow {
            job_id: decode::int(id, at("jobs.id"), true, &mut issues),
            agent: decode::text(get(1)?, at("jobs.agent"), true, &mut issues),
            repo: decode::text(get(2)?, at("jobs.repo"), false, &mut issues),
            pid: decode::int(get(3)?, at("jobs.pid"), false, &mut issues),
            model: decode::text(get(4)?, at("jobs.model"), false, &mut issues),
            effort: decode::text(get(5)?, at("jobs.effort"), false, &mut issues),
            started_at: decode::timestamp(get(6)?, at("jobs.started_at"), false, &mut issues),
            run_id,
            cost_usd: decode::real(get(8)?, at_run("agent_runs.cost_usd"), &mut issues),
            input_tokens: decode::int(
                get(9)?,
                at_run("agent_runs.input_tokens"),
                false,
                &mut issues,
            ),
            output_tokens: decode::int(
                get(10)?,
                at_run("agent_runs.output_tokens"),
                false,
                &mut issues,
            ),
            cache_read_tokens: decode::int(
                get(11)?,
                at_run("agent_runs.cache_read_tokens"),
                false,
                &mut issues,
            ),
            cache_creation_tokens: decode::int(
                get(12)?,
                at_run("agent_runs.cache_creation_tokens"),
                false,
                &mut issues,
            ),
        });
    }
    Ok(RunningSet {
        rows: out,
        issues,
        runs_error,
    })
}
