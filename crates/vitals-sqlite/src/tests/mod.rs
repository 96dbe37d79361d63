//! Tests against real database files in temporary directories (no mocks).
//!
//! They check Unix behaviour (file identities, POSIX locks, WAL files), so
//! they run on Unix only; elsewhere the tests of the `unsupported` fallback
//! (`connection/unsupported.rs`) run.
#![cfg(unix)]

mod bad_input;
mod hostile;
mod incremental;
mod layout;
mod locks;
mod parallel;
mod parity;
mod read_only;
mod snapshot;
mod stats;
mod stuck;
mod totals;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};
use vitals_agents::AgentSource;
use vitals_core::{Assembler, Collect, Fallback, Section, SectionError, SectionValue, async_trait};
use vitals_cost::CostSource;
use vitals_queue::QueueSource;
use vitals_stages::StageSource;

use crate::SqliteStore;

/// The reference schema (`shared/reference/schema.sql`), tables and
/// indexes, from the one copy `vitals-refdb` holds.
pub(crate) const SCHEMA: &str = vitals_refdb::SCHEMA_SQL;

/// The snapshot clock of the tests.
pub(crate) fn now() -> DateTime<Utc> {
    "2026-11-28T02:40:13Z".parse().unwrap()
}

pub(crate) fn cx() -> Collect {
    Collect::standalone(Some(now()), Duration::from_secs(20))
}

/// A fresh directory and a writer connection to `dir/orchestrator.db` with
/// `schema` applied (rollback-journal mode).
pub(crate) fn db_with(schema: &str) -> (tempfile::TempDir, PathBuf, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchestrator.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(schema).unwrap();
    // The writer runs the store's totals queries too (as the truth).
    crate::totals::register(&conn).unwrap();
    (dir, path, conn)
}

pub(crate) fn db() -> (tempfile::TempDir, PathBuf, Connection) {
    db_with(SCHEMA)
}

/// The reference schema without its NOT NULL constraints (to store what a
/// broken writer could).
pub(crate) fn lax_schema() -> String {
    SCHEMA.replace(" NOT NULL", "")
}

/// Every file of `dir` with its content.
pub(crate) fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The outcome of every source method called in one snapshot: per method
/// its error kind (or `None`) and its degraded fields as `(field, kind)`.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) body: Value,
    pub(crate) errors: BTreeMap<String, Option<String>>,
    pub(crate) fields: BTreeMap<String, Vec<(String, String)>>,
}

impl Outcome {
    pub(crate) fn error(&self, method: &str) -> Option<&str> {
        self.errors[method].as_deref()
    }

    pub(crate) fn fields(&self, method: &str) -> Vec<(&str, &str)> {
        self.fields[method]
            .iter()
            .map(|(f, k)| (f.as_str(), k.as_str()))
            .collect()
    }

    /// Asserts that every method but those in `failing` answered.
    pub(crate) fn others_ok(&self, failing: &[&str]) {
        for (method, error) in &self.errors {
            if !failing.contains(&method.as_str()) {
                assert_eq!(error, &None, "{method} failed: {self:#?}");
            }
        }
    }
}

pub(crate) const METHODS: [&str; 6] = [
    "active_tasks",
    "status_counts",
    "retry_stats",
    "running_agents",
    "running_costs",
    "totals",
];

#[derive(Debug)]
struct Method(SqliteStore, &'static str);

#[async_trait]
impl Section for Method {
    fn key(&self) -> &str {
        self.1
    }
    fn fallback(&self) -> Fallback {
        Fallback::Null
    }
    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_secs(20))
    }
    async fn collect(&self, cx: &Collect) -> Result<SectionValue, SectionError> {
        let s = &self.0;
        let text = match self.1 {
            "active_tasks" => format!("{:?}", s.active_tasks(cx).await?),
            "status_counts" => format!("{:?}", s.status_counts(cx).await?),
            "retry_stats" => format!("{:?}", s.retry_stats(cx).await?),
            "running_agents" => format!("{:?}", s.running_agents(cx).await?),
            "running_costs" => format!("{:?}", s.running_costs(cx).await?),
            _ => format!("{:?}", s.totals(cx).await?),
        };
        Ok(json!(text).into())
    }
}

/// Builds one snapshot with every source method as its own section.
pub(crate) async fn build_all(store: &SqliteStore) -> Outcome {
    let mut builder = Assembler::builder().clock(vitals_core::FixedClock::at(now()));
    for method in METHODS {
        builder = builder.section(Method(store.clone(), method));
    }
    let snapshot = builder.build().unwrap().build().await;
    let mut errors = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for method in METHODS {
        let report = snapshot.report(method).unwrap();
        errors.insert(
            method.to_owned(),
            report.error.as_ref().map(|e| e.kind.clone()),
        );
        fields.insert(
            method.to_owned(),
            report
                .fields
                .iter()
                .map(|f| (f.field.clone(), f.error.kind.clone()))
                .collect(),
        );
    }
    Outcome {
        body: snapshot.body().clone(),
        errors,
        fields,
    }
}
