//! `vitals doctor`: checks a database against what the standard sections need.
//!
//! [`diagnose`] opens the database read-only (as the store does), and
//! reports the journal mode, the tables and columns the sections read, the
//! reference indexes, and each per-scrape query's plan (`EXPLAIN QUERY PLAN`)
//! and time. [`Report::needs_attention`] says whether anything should be
//! fixed by the orchestrator; [`Report`]'s `Display` is the readable report.
//! Nothing here writes: the connection is read-only and `query_only`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::connection::{self, Database};
use crate::error::SqliteError;
use crate::options::DEFAULT_BUSY_TIMEOUT;

/// Tables of the reference schema and the columns the standard sections read.
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "tasks",
        &["id", "work_item_id", "repo", "stage", "stage_entered_at"],
    ),
    (
        "jobs",
        &[
            "id",
            "repo",
            "agent",
            "status",
            "attempts",
            "pid",
            "model",
            "effort",
            "started_at",
        ],
    ),
    (
        "agent_runs",
        &[
            "id",
            "job_id",
            "agent",
            "finished_at",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
        ],
    ),
];

/// An index the per-scrape queries rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceIndex {
    /// The reference schema's name for it.
    pub name: &'static str,
    /// The table it indexes.
    pub table: &'static str,
    /// Its first column (an index with this leading column serves).
    pub column: &'static str,
    /// Whether the reference index is partial (then only a partial index with
    /// the same `WHERE` text is as good).
    pub partial_where: Option<&'static str>,
    /// The statement that creates it.
    pub create: &'static str,
}

/// The indexes of the reference schema.
pub const REFERENCE_INDEXES: &[ReferenceIndex] = &[
    ReferenceIndex {
        name: "idx_tasks_active_stage",
        table: "tasks",
        column: "stage",
        partial_where: Some("stage NOT IN ('done', 'cancelled')"),
        create: "CREATE INDEX idx_tasks_active_stage ON tasks(stage) WHERE stage NOT IN ('done', 'cancelled');",
    },
    ReferenceIndex {
        name: "idx_jobs_status",
        table: "jobs",
        column: "status",
        partial_where: None,
        create: "CREATE INDEX idx_jobs_status ON jobs(status);",
    },
    ReferenceIndex {
        name: "idx_agent_runs_job_id",
        table: "agent_runs",
        column: "job_id",
        partial_where: None,
        create: "CREATE INDEX idx_agent_runs_job_id ON agent_runs(job_id);",
    },
];

/// A per-scrape query the doctor explains and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeQuery {
    /// What it answers.
    pub name: &'static str,
    /// The SQL: the store's query with every column present, or (for
    /// `queue.retries` and `cost.aggregate`) its plain form without the
    /// per-type guards, which reads the same rows through the same plan.
    pub sql: &'static str,
    /// Whether a full scan is inherent (an aggregate over all history).
    pub scans_by_design: bool,
}

/// The queries a full scrape runs (incremental aggregates aside).
pub const SCRAPE_QUERIES: &[ScrapeQuery] = &[
    ScrapeQuery {
        name: "stages",
        sql: "SELECT id, work_item_id, stage, repo, stage_entered_at FROM tasks \
              WHERE stage NOT IN ('done', 'cancelled') ORDER BY +id",
        scans_by_design: false,
    },
    ScrapeQuery {
        name: "queue.counts",
        sql: "SELECT status, COUNT(*) FROM jobs GROUP BY status",
        scans_by_design: false,
    },
    ScrapeQuery {
        name: "queue.retries",
        sql: "SELECT COUNT(CASE WHEN attempts > 0 THEN 1 END), SUM(attempts), MAX(attempts) \
              FROM jobs WHERE status IN ('queued', 'running')",
        scans_by_design: false,
    },
    ScrapeQuery {
        name: "running agents",
        sql: "SELECT j.id, j.agent, j.repo, j.pid, j.started_at, j.model, j.effort, r.id, \
              r.cost_usd, r.input_tokens, r.output_tokens, r.cache_read_tokens, \
              r.cache_creation_tokens FROM jobs AS j LEFT JOIN agent_runs AS r \
              ON r.id = (SELECT MAX(id) FROM agent_runs WHERE job_id = j.id) \
              WHERE j.status = 'running' ORDER BY j.id",
        scans_by_design: false,
    },
    ScrapeQuery {
        name: "cost.aggregate",
        sql: "SELECT COUNT(*), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens), \
              SUM(cache_read_tokens), SUM(cache_creation_tokens) FROM agent_runs",
        scans_by_design: true,
    },
];

/// A full scan of a table with at least this many rows is worth a warning.
pub const LARGE_TABLE_ROWS: u64 = 1_000;

/// The state of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// The table.
    pub table: &'static str,
    /// Its row count, `None` when the table is missing.
    pub rows: Option<u64>,
    /// Columns the sections read that the table lacks.
    pub missing_columns: Vec<&'static str>,
}

/// Whether a reference index (or an equivalent) exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexCheck {
    /// The reference index.
    pub reference: ReferenceIndex,
    /// The name of an existing index that serves, if any.
    pub found: Option<String>,
}

/// One query's plan and time.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCheck {
    /// The query.
    pub query: ScrapeQuery,
    /// `EXPLAIN QUERY PLAN` details, one line per step.
    pub plan: Vec<String>,
    /// Large tables the plan scans without an index (empty when fine).
    pub scans: Vec<String>,
    /// Time to run the query and read every row.
    pub elapsed: Option<Duration>,
    /// Why it could not be explained or run.
    pub error: Option<String>,
}

/// The doctor's findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The database.
    pub path: PathBuf,
    /// File size in bytes.
    pub file_bytes: u64,
    /// `PRAGMA journal_mode` (`wal`, `delete`, ...).
    pub journal_mode: String,
    /// Each table of the reference schema.
    pub tables: Vec<TableCheck>,
    /// Each reference index.
    pub indexes: Vec<IndexCheck>,
    /// Each per-scrape query.
    pub queries: Vec<QueryCheck>,
}

impl Report {
    /// The things that need attention, one line each (empty when all is well).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.journal_mode != "wal" {
            out.push(format!(
                "journal mode is {}: WAL is recommended so scrapes never block the writer \
                 (the orchestrator runs PRAGMA journal_mode=WAL once)",
                self.journal_mode
            ));
        }
        for table in &self.tables {
            match table.rows {
                None => out.push(format!("table {} is missing", table.table)),
                Some(_) if !table.missing_columns.is_empty() => out.push(format!(
                    "table {} lacks column(s) {}",
                    table.table,
                    table.missing_columns.join(", ")
                )),
                Some(_) => {}
            }
        }
        for index in &self.indexes {
            let table_present = self
                .tables
                .iter()
                .any(|t| t.table == index.reference.table && t.rows.is_some());
            if index.found.is_none() && table_present {
                out.push(format!(
                    "index {} is missing: {}",
                    index.reference.name, index.reference.create
                ));
            }
        }
        for query in &self.queries {
            if let Some(error) = &query.error {
                out.push(format!("query {} failed: {error}", query.query.name));
            } else if !query.scans.is_empty() && !query.query.scans_by_design {
                out.push(format!(
                    "query {} scans {} without an index",
                    query.query.name,
                    query.scans.join(", ")
                ));
            }
        }
        out
    }

    /// Whether anything should be fixed.
    #[must_use]
    pub fn needs_attention(&self) -> bool {
        !self.problems().is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |ok: bool| if ok { "ok" } else { "ATTENTION" };
        writeln!(f, "vitals doctor: {}", self.path.display())?;
        writeln!(
            f,
            "  file        {:.1} MB, journal mode {:<8} {}",
            mb(self.file_bytes),
            self.journal_mode,
            mark(self.journal_mode == "wal")
        )?;
        writeln!(f, "tables")?;
        for t in &self.tables {
            match t.rows {
                None => writeln!(
                    f,
                    "  {:<11} missing                          {}",
                    t.table,
                    mark(false)
                )?,
                Some(rows) if t.missing_columns.is_empty() => {
                    writeln!(
                        f,
                        "  {:<11} {rows:>10} rows, all columns       {}",
                        t.table,
                        mark(true)
                    )?;
                }
                Some(rows) => writeln!(
                    f,
                    "  {:<11} {rows:>10} rows, missing {}  {}",
                    t.table,
                    t.missing_columns.join(", "),
                    mark(false)
                )?,
            }
        }
        writeln!(f, "indexes")?;
        for i in &self.indexes {
            match &i.found {
                Some(name) => writeln!(
                    f,
                    "  {:<24} present as {name}  {}",
                    i.reference.name,
                    mark(true)
                )?,
                None => {
                    writeln!(f, "  {:<24} missing  {}", i.reference.name, mark(false))?;
                    writeln!(f, "      create it: {}", i.reference.create)?;
                }
            }
        }
        writeln!(f, "queries")?;
        for q in &self.queries {
            let time = q.elapsed.map_or_else(
                || "   -    ".to_owned(),
                |d| format!("{:>8.2} ms", d.as_secs_f64() * 1000.0),
            );
            let ok = q.error.is_none() && (q.scans.is_empty() || q.query.scans_by_design);
            writeln!(f, "  {:<16} {time}  {}", q.query.name, mark(ok))?;
            if let Some(error) = &q.error {
                writeln!(f, "      error: {error}")?;
            }
            for line in &q.plan {
                writeln!(f, "      plan: {line}")?;
            }
            if !q.scans.is_empty() && q.query.scans_by_design {
                writeln!(
                    f,
                    "      (a scan over all history by design; incremental aggregates keep it off the per-scrape path)"
                )?;
            }
        }
        let problems = self.problems();
        if problems.is_empty() {
            writeln!(f, "all is well")
        } else {
            writeln!(f, "{} thing(s) need attention:", problems.len())?;
            for p in problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

#[expect(clippy::cast_precision_loss, reason = "a size shown with one decimal")]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Checks the database at `path`.
///
/// # Errors
///
/// [`SqliteError`] when the file cannot be opened as a database at all
/// (missing, empty, not SQLite), and [`SqliteError::Unsupported`] on a
/// platform other than Unix; problems inside the database are findings of
/// the [`Report`], not errors.
pub fn diagnose(path: &Path) -> Result<Report, SqliteError> {
    connection::supported()?;
    let file_bytes = std::fs::metadata(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SqliteError::NoDatabase {
                    path: path.to_owned(),
                    source,
                }
            } else {
                SqliteError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?
        .len();
    // Opened exactly as the store opens its connection (read-only,
    // `query_only`, the same WAL rules), in one read transaction.
    let mut database = Database::new(path.to_owned(), DEFAULT_BUSY_TIMEOUT, Arc::default());
    let never = Arc::new(AtomicBool::new(false));
    let report = database.run_alone(&never, |conn, path| {
        examine(conn, path).map_err(|e| SqliteError::from_sqlite(e, path))
    })?;
    // WAL is a property of the file (bytes 18 and 19 of its header are 2);
    // a connection that reads it as immutable reports a rollback journal.
    let journal_mode = if connection::header_says_wal(path) {
        "wal".to_owned()
    } else {
        report.journal_mode
    };
    Ok(Report {
        file_bytes,
        journal_mode,
        ..report
    })
}

fn examine(conn: &Connection, path: &Path) -> rusqlite::Result<Report> {
    let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;

    let mut tables = Vec::new();
    for (table, needed) in REQUIRED_COLUMNS {
        let columns = column_names(conn, table)?;
        if columns.is_empty() {
            tables.push(TableCheck {
                table,
                rows: None,
                missing_columns: Vec::new(),
            });
            continue;
        }
        let rows: i64 =
            conn.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |row| {
                row.get(0)
            })?;
        tables.push(TableCheck {
            table,
            rows: Some(u64::try_from(rows).unwrap_or(0)),
            missing_columns: needed
                .iter()
                .copied()
                .filter(|c| !columns.iter().any(|have| have.eq_ignore_ascii_case(c)))
                .collect(),
        });
    }

    let indexes = REFERENCE_INDEXES
        .iter()
        .map(|reference| {
            Ok(IndexCheck {
                reference: *reference,
                found: serving_index(conn, reference)?,
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let queries = SCRAPE_QUERIES
        .iter()
        .map(|query| check_query(conn, *query, &tables))
        .collect();

    Ok(Report {
        path: path.to_owned(),
        file_bytes: 0,
        journal_mode: journal_mode.to_ascii_lowercase(),
        tables,
        indexes,
        queries,
    })
}

fn column_names(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt
        .query_map([table], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// An existing index on `reference.table` whose first column is
/// `reference.column` (and, for a partial reference index, a partial index
/// whose `WHERE` clause says the same, whitespace aside).
fn serving_index(
    conn: &Connection,
    reference: &ReferenceIndex,
) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare(
        "SELECT il.name, il.partial, m.sql FROM pragma_index_list(?1) AS il \
         JOIN sqlite_master AS m ON m.type = 'index' AND m.name = il.name \
         WHERE (SELECT name FROM pragma_index_info(il.name) WHERE seqno = 0) = ?2 COLLATE NOCASE",
    )?;
    let mut rows = stmt.query([reference.table, reference.column])?;
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let partial: bool = row.get(1)?;
        let sql: Option<String> = row.get(2)?;
        match reference.partial_where {
            None => return Ok(Some(name)),
            Some(wanted) => {
                // A full index also serves a partial query (just bigger).
                let squash = |s: &str| {
                    s.chars()
                        .filter(|c| !c.is_whitespace())
                        .collect::<String>()
                        .to_ascii_lowercase()
                };
                if !partial
                    || sql
                        .as_deref()
                        .is_some_and(|s| squash(s).contains(&squash(wanted)))
                {
                    return Ok(Some(name));
                }
            }
        }
    }
    Ok(None)
}

fn check_query(conn: &Connection, query: ScrapeQuery, tables: &[TableCheck]) -> QueryCheck {
    let mut check = QueryCheck {
        query,
        plan: Vec::new(),
        scans: Vec::new(),
        elapsed: None,
        error: None,
    };
    match explain(conn, query.sql) {
        Ok(plan) => check.plan = plan,
        Err(error) => {
            check.error = Some(error.to_string());
            return check;
        }
    }
    for line in &check.plan {
        // "SCAN jobs" or "SCAN j" (an alias); "SCAN ... USING [COVERING] INDEX" is fine.
        let Some(rest) = line.strip_prefix("SCAN ") else {
            continue;
        };
        if rest.contains("USING INDEX") || rest.contains("USING COVERING INDEX") {
            continue;
        }
        let name = rest.split_whitespace().next().unwrap_or_default();
        let table = tables.iter().find(|t| {
            t.table.eq_ignore_ascii_case(name) || alias_of(query.sql, name) == Some(t.table)
        });
        if let Some(table) = table.filter(|t| t.rows.unwrap_or(0) >= LARGE_TABLE_ROWS) {
            check.scans.push(table.table.to_owned());
        }
    }
    let started = Instant::now();
    match drain(conn, query.sql) {
        Ok(()) => check.elapsed = Some(started.elapsed()),
        Err(error) => check.error = Some(error.to_string()),
    }
    check
}

/// The table `alias` stands for in `sql` (`FROM jobs AS j` -> `j` is `jobs`).
fn alias_of(sql: &str, alias: &str) -> Option<&'static str> {
    REQUIRED_COLUMNS
        .iter()
        .map(|(table, _)| *table)
        .find(|table| sql.contains(&format!("{table} AS {alias} ")))
}

fn explain(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(3))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines)
}

fn drain(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        // Touch the first value so the row is really produced.
        let _: ValueRef<'_> = row.get_ref(0)?;
    }
    Ok(())
}
