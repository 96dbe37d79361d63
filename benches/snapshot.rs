//! What one snapshot of the four built-in sections costs over the SQLite
//! store, on the reference databases S, M, L and "M with ten times the
//! history", against the floor: the same straightforward queries timed alone
//! on a fresh connection ([`vitals::sqlite::bench::floor_queries`]).
//!
//! For each database:
//! - `floor`: the store's per-scrape queries alone, one after the other on
//!   one connection;
//! - `reference_floor`: the plain SQL that the reference schema describes
//!   (what a straightforward port of the original collector pays);
//! - `warm/incremental`, `warm/full`: one build with the store open and
//!   caught up (incremental aggregates on, or off);
//! - `cold/incremental`, `cold/full`: a fresh store and assembler, one build;
//! - `storm/200` (L only): 200 concurrent builds on a warm store (coalesced
//!   into one; the bench prints how many distinct snapshots they got).
//!
//! Run with `cargo bench --bench snapshot` (release); filter with
//! `cargo bench --bench snapshot -- 'snapshot/L'`. The databases are generated
//! once (L takes seconds) into `target/bench-dbs/`, keyed by shape and seed,
//! with the reference indexes and a rollback journal (so that no writer is
//! needed to read them through a long-lived connection). Figures and their
//! reading: `docs/performance.md`.
#![expect(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark stops on a setup failure and reports on stdout"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use vitals::proc::ProcSource;
use vitals::proc::fake::FakeProc;
use vitals::sqlite::SqliteStore;
use vitals::sqlite::bench::{floor_queries, reference_floor};
use vitals::{Assembler, Snapshot};
use vitals_refdb::{GenOptions, Scale, Shape, generate};

const SEED: u64 = 6;

/// The directory of the generated databases.
fn cache_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("bench-dbs")
}

/// The database of `shape`, generated on first use.
fn database(shape: Shape) -> PathBuf {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).expect("create target/bench-dbs");
    let name = format!(
        "t{}-a{}-j{}-r{}-run{}-q{}-seed{SEED}.db",
        shape.tasks, shape.active_tasks, shape.jobs, shape.runs, shape.running, shape.queued
    );
    let path = dir.join(name);
    if !path.exists() {
        let partial = path.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let opts = GenOptions {
            shape,
            seed: SEED,
            indexes: true,
            now: Utc
                .with_ymd_and_hms(2026, 11, 28, 2, 40, 13)
                .single()
                .expect("a valid instant"),
            wal: false,
            pid_max: vitals_refdb::DEFAULT_PID_MAX,
            pids: Vec::new(),
        };
        let summary = generate(&partial, &opts).expect("generate the database");
        std::fs::rename(&partial, &path).expect("move the database in place");
        println!("generated {} in {:?}", path.display(), summary.elapsed);
    }
    path
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The built-in sections over `store`, with a fake `/proc`.
fn assembler(store: &SqliteStore) -> Assembler {
    let proc: Arc<dyn ProcSource> = Arc::new(FakeProc::new());
    let resources = store.resources().with::<Arc<dyn ProcSource>>(proc);
    Assembler::builder()
        .default_deadline(Duration::from_secs(30))
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .expect("the built-in sections assemble")
}

fn store(path: &Path, incremental: bool) -> SqliteStore {
    SqliteStore::builder(path).incremental(incremental).build()
}

/// Fails the bench if a build did not answer every section.
fn check(snapshot: &Snapshot) {
    let body = snapshot.body();
    assert!(
        !body["queue"]["counts"].is_null() && !body["cost"]["aggregate"].is_null(),
        "a degraded snapshot: {body}"
    );
}

fn bench_database(c: &mut Criterion, name: &str, shape: Shape) {
    let path = database(shape);
    let rt = runtime();
    let big = shape.jobs >= 500_000;
    let mut group = c.benchmark_group(format!("snapshot/{name}"));
    group.sample_size(if big { 10 } else { 20 });
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(if big { 4 } else { 3 }));

    group.bench_function("floor", |b| {
        b.iter(|| floor_queries(&path).expect("the floor queries run"));
    });
    group.bench_function("reference_floor", |b| {
        b.iter(|| reference_floor(&path).expect("the reference queries run"));
    });
    for incremental in [true, false] {
        let mode = if incremental { "incremental" } else { "full" };
        let warm = store(&path, incremental);
        let warm_asm = assembler(&warm);
        check(&rt.block_on(warm_asm.build()));
        group.bench_function(format!("warm/{mode}"), |b| {
            b.iter(|| rt.block_on(warm_asm.build()));
        });
        group.bench_function(format!("cold/{mode}"), |b| {
            b.iter(|| {
                let store = store(&path, incremental);
                let asm = assembler(&store);
                rt.block_on(asm.build())
            });
        });
    }
    if name == "L" {
        let warm = store(&path, true);
        let asm = Arc::new(assembler(&warm));
        rt.block_on(asm.build());
        let storm = || {
            rt.block_on(async {
                let tasks: Vec<_> = (0..200)
                    .map(|_| {
                        let asm = Arc::clone(&asm);
                        tokio::spawn(async move { asm.build().await })
                    })
                    .collect();
                let mut snapshots: Vec<Arc<Snapshot>> = Vec::with_capacity(200);
                for task in tasks {
                    snapshots.push(task.await.expect("a build task"));
                }
                snapshots
            })
        };
        let snapshots = storm();
        let mut distinct: Vec<&Arc<Snapshot>> = Vec::new();
        for s in &snapshots {
            if !distinct.iter().any(|d| Arc::ptr_eq(d, s)) {
                distinct.push(s);
            }
        }
        println!(
            "storm: 200 concurrent builds on warm L answered with {} distinct snapshot(s)",
            distinct.len()
        );
        group.bench_function("storm/200", |b| b.iter(storm));
    }
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    bench_database(c, "S", Shape::of(Scale::S));
    bench_database(c, "M", Shape::of(Scale::M));
    bench_database(c, "M-10x-history", Shape::of(Scale::M).with_history(10));
    bench_database(c, "L", Shape::of(Scale::L));
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
