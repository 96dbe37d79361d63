//! `vitals bench`: what a snapshot of a database costs, warm and cold,
//! against the floors of the straightforward queries.
//!
//! Four series of `--iterations` measurements each, on the same file:
//! - `floor`: the store's own per-scrape queries timed alone, one after the
//!   other on a fresh read-only connection
//!   ([`vitals::sqlite::bench::floor_queries`]);
//! - `reference floor`: the plain per-scrape SQL that the reference schema
//!   describes, on a fresh read-only connection: what a straightforward
//!   port of the original collector pays
//!   ([`vitals::sqlite::bench::reference_floor`]);
//! - `cold`: a fresh store and assembler, one build (the first scrape after
//!   a start);
//! - `warm`: one build on a store that is open and caught up (every scrape
//!   after the first).
//!
//! The builds cover the four built-in sections with a fake `/proc` (no
//! process is read: the figures are the database's). The floors and the
//! cold runs alternate, so that all see the same machine load.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use vitals::proc::ProcSource;
use vitals::proc::fake::FakeProc;
use vitals::sqlite::{SqliteError, SqliteStore};
use vitals::{Assembler, BuildError, Snapshot};

/// Measure what a snapshot of a database costs: median, p95 and max of warm
/// builds, cold builds and the straightforward queries alone (the floor).
#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// The orchestrator database to measure (read-only).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: PathBuf,

    /// Measurements per series (warm, cold, floor).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) iterations: u32,

    /// Print one JSON object: {"warm": {"p50_ms", "p95_ms", "max_ms"}, "cold": {...},
    /// "floor": {...}, "reference_floor": {...}}, milliseconds rounded to the microsecond.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Why `vitals bench` could not measure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// The straightforward queries failed on this database (missing file,
    /// not a database, missing table, ...): there is nothing to compare.
    #[error("cannot run the queries on {}", path.display())]
    Floor {
        /// The database.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: SqliteError,
    },

    /// A blocking measurement task was lost.
    #[error("a measurement task failed")]
    Task(#[source] tokio::task::JoinError),

    /// The built-in sections could not be assembled.
    #[error("cannot assemble the built-in sections")]
    Assemble(#[source] BuildError),

    /// A build did not answer every section: its time would not be the
    /// database's.
    #[error("the snapshot is incomplete: section {section} is {status}")]
    Incomplete {
        /// The section's key.
        section: String,
        /// Its status.
        status: &'static str,
    },

    /// The report could not be serialized.
    #[error("cannot serialize the report")]
    Json(#[source] serde_json::Error),

    /// Writing the report failed.
    #[error("cannot write to stdout")]
    Stdout(#[source] std::io::Error),
}

/// Median, 95th percentile and maximum of one series (in JSON in this
/// order), in milliseconds rounded to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Summary {
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// `d` in milliseconds, rounded to the microsecond (3 decimals).
fn whole_micros_in_ms(d: Duration) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "microseconds of a measurement, far below 2^52"
    )]
    let micros = (d.as_nanos() as f64 / 1000.0).round();
    micros / 1000.0
}

impl Summary {
    /// Nearest-rank percentiles of `samples`; all zero when there is none.
    fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().copied().map(whole_micros_in_ms).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a rank between 1 and the sample count, which is small"
            )]
            let r = (p * ms.len() as f64).ceil() as usize;
            // `clamp(1, len)` would panic on an empty slice (min > max).
            let index = r.min(ms.len()).saturating_sub(1);
            ms.get(index).copied().unwrap_or(0.0)
        };
        Summary {
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// The `--json` report, keys in this order.
#[derive(Debug, Serialize)]
struct Report {
    warm: Summary,
    cold: Summary,
    floor: Summary,
    reference_floor: Summary,
}

fn assembler(store: &SqliteStore) -> Result<Assembler, BenchError> {
    let proc: Arc<dyn ProcSource> = Arc::new(FakeProc::new());
    let resources = store.resources().with::<Arc<dyn ProcSource>>(proc);
    Assembler::builder()
        .default_deadline(Duration::from_secs(60))
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .map_err(BenchError::Assemble)
}

/// Every section must have produced its value.
fn check(snapshot: &Snapshot) -> Result<(), BenchError> {
    match snapshot
        .reports()
        .iter()
        .find(|r| !r.status.produced_value())
    {
        Some(report) => Err(BenchError::Incomplete {
            section: report.key.clone(),
            status: report.status.as_str(),
        }),
        None => Ok(()),
    }
}

async fn floor(
    db: &Path,
    queries: fn(&Path) -> Result<Duration, SqliteError>,
) -> Result<Duration, BenchError> {
    let path = db.to_owned();
    tokio::task::spawn_blocking(move || queries(&path))
        .await
        .map_err(BenchError::Task)?
        .map_err(|source| BenchError::Floor {
            path: db.to_owned(),
            source,
        })
}

fn store_floor(path: &Path) -> Result<Duration, SqliteError> {
    vitals::sqlite::bench::floor_queries(path)
}

fn reference_floor(path: &Path) -> Result<Duration, SqliteError> {
    vitals::sqlite::bench::reference_floor(path)
}

/// Runs `vitals bench`.
pub(crate) async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let n = usize::try_from(args.iterations).unwrap_or(usize::MAX);
    // Fails early, with the store's own error, on a file it cannot read.
    floor(&args.db, store_floor).await?;

    let mut floors = Vec::with_capacity(n);
    let mut reference_floors = Vec::with_capacity(n);
    let mut colds = Vec::with_capacity(n);
    for _ in 0..n {
        floors.push(floor(&args.db, store_floor).await?);
        reference_floors.push(floor(&args.db, reference_floor).await?);
        let started = Instant::now();
        let store = SqliteStore::open(&args.db);
        let snapshot = assembler(&store)?.build().await;
        colds.push(started.elapsed());
        check(&snapshot)?;
    }

    let store = SqliteStore::open(&args.db);
    let warm = assembler(&store)?;
    check(&*warm.build().await)?;
    let mut warms = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let snapshot = warm.build().await;
        warms.push(started.elapsed());
        check(&snapshot)?;
    }

    let report = Report {
        warm: Summary::of(&warms),
        cold: Summary::of(&colds),
        floor: Summary::of(&floors),
        reference_floor: Summary::of(&reference_floors),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::to_string(&report).map_err(BenchError::Json)?;
        writeln!(out, "{report}").map_err(BenchError::Stdout)?;
    } else {
        let mut text = format!(
            "{} ({} iterations each)\n{:<16} {:>10} {:>10} {:>10}\n",
            args.db.display(),
            n,
            "",
            "p50 ms",
            "p95 ms",
            "max ms"
        );
        for (name, s) in [
            ("warm", report.warm),
            ("cold", report.cold),
            ("floor", report.floor),
            ("reference floor", report.reference_floor),
        ] {
            text.push_str(&format!(
                "{name:<16} {:>10.3} {:>10.3} {:>10.3}\n",
                s.p50_ms, s.p95_ms, s.max_ms
            ));
        }
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        text.push_str(&format!(
            "floor / warm = {:.1}x, cold / floor = {:.2}x, cold / reference floor = {:.2}x (medians)\n",
            ratio(report.floor.p50_ms, report.warm.p50_ms),
            ratio(report.cold.p50_ms, report.floor.p50_ms),
            ratio(report.cold.p50_ms, report.reference_floor.p50_ms)
        ));
        out.write_all(text.as_bytes()).map_err(BenchError::Stdout)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Summary::of(&ms(&(1..=100).collect::<Vec<_>>()));
        assert_eq!((s.p50_ms, s.p95_ms, s.max_ms), (50.0, 95.0, 100.0));
        let one = Summary::of(&ms(&[7]));
        assert_eq!((one.p50_ms, one.p95_ms, one.max_ms), (7.0, 7.0, 7.0));
        let s = Summary::of(&ms(&[5, 1, 3]));
        assert_eq!((s.p50_ms, s.p95_ms, s.max_ms), (3.0, 5.0, 5.0));
        let none = Summary::of(&[]);
        assert_eq!((none.p50_ms, none.p95_ms, none.max_ms), (0.0, 0.0, 0.0));
    }

    #[test]
    fn the_json_report_has_the_documented_keys() {
        let s = Summary::of(&ms(&[1, 2]));
        let report = serde_json::to_string(&Report {
            warm: s,
            cold: s,
            floor: s,
            reference_floor: s,
        })
        .unwrap();
        let doc = vitals::core::testing::OrderedJson::parse(&report).unwrap();
        assert_eq!(doc.keys(), ["warm", "cold", "floor", "reference_floor"]);
        assert_eq!(doc["warm"].keys(), ["p50_ms", "p95_ms", "max_ms"]);
    }

    #[test]
    fn figures_are_rounded_to_the_microsecond() {
        let s = Summary::of(&[
            Duration::from_nanos(12_345_678),
            Duration::from_nanos(1_499),
        ]);
        assert_eq!((s.p50_ms, s.max_ms), (0.001, 12.346));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"p50_ms":0.001,"p95_ms":12.346,"max_ms":12.346}"#);
        let third = Summary::of(&[Duration::from_nanos(1_000_500)]);
        assert_eq!(third.p50_ms, 1.001);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_database_is_an_error_not_a_fast_figure() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            db: dir.path().join("none.db"),
            iterations: 1,
            json: true,
        };
        let error = run(args).await.unwrap_err();
        assert!(matches!(error, BenchError::Floor { .. }), "{error:?}");
    }
}
