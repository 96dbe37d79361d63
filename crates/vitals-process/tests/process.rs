//! The `process` section over `FakeProc`, a fake `/proc` tree with known
//! numbers, and the real process; each failure degrades its own fields.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::sync::Arc;

use serde_json::{Value, json};
use vitals_core::export::{MetricFamily, MetricKind};
use vitals_core::testing::OrderedJson;
use vitals_core::{Assembler, SectionStatus, Snapshot};
use vitals_proc::fake::{FakeProc, simple_process};
use vitals_proc::{OwnProcess, ProcError, ProcSource, ProcessInfo};
use vitals_process::{ProcessSection, fields};

const BOOT: i64 = 1_700_000_000;

fn known() -> FakeProc {
    FakeProc::new()
        .with_clk_tck(Some(100))
        .with_boot_time(BOOT)
        .with_own_process(OwnProcess::new(
            ProcessInfo {
                threads: 9,
                start_ticks: 12_345,
                rss_bytes: 50 << 20,
                ..simple_process(4242, 1, 98_765)
            },
            2 << 30,
        ))
        .with_own_fds(33, Some(4096))
}

async fn snapshot_of(source: FakeProc) -> (Assembler, Arc<Snapshot>) {
    let assembler = Assembler::builder()
        .section(ProcessSection::new(Arc::new(source)))
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    (assembler, snapshot)
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> Option<&'a MetricFamily> {
    families.iter().find(|f| f.name == name)
}

#[tokio::test]
async fn known_numbers_in_json_and_metrics() {
    let (assembler, snapshot) = snapshot_of(known()).await;
    assert_eq!(
        snapshot.report("process").unwrap().status,
        SectionStatus::Ok
    );
    assert_eq!(
        snapshot.body()["process"],
        json!({
            "pid": 4242,
            "cpu_seconds": 987.65,
            "resident_memory_bytes": 50 << 20,
            "virtual_memory_bytes": 2_u64 << 30,
            "start_time_seconds": 1_700_000_123.45,
            "threads": 9,
            "open_fds": 33,
            "max_fds": 4096,
        })
    );
    let text = snapshot.to_json();
    let section = &text[text.find("\"process\":").unwrap() + 10..];
    let section = &section[..=section.find('}').unwrap()];
    assert_eq!(OrderedJson::parse(section).unwrap().keys(), fields::ALL);

    let families = assembler.metric_families(&snapshot);
    let expected = [
        ("process_cpu", MetricKind::Counter, Some("seconds"), 987.65),
        (
            "process_resident_memory",
            MetricKind::Gauge,
            Some("bytes"),
            f64::from(50 << 20),
        ),
        (
            "process_virtual_memory",
            MetricKind::Gauge,
            Some("bytes"),
            f64::from(2_u32 << 30),
        ),
        (
            "process_start_time",
            MetricKind::Gauge,
            Some("seconds"),
            1_700_000_123.45,
        ),
        ("process_open_fds", MetricKind::Gauge, None, 33.0),
        ("process_max_fds", MetricKind::Gauge, None, 4096.0),
        ("process_threads", MetricKind::Gauge, None, 9.0),
    ];
    for (name, kind, unit, value) in expected {
        let f = family(&families, name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(f.kind, kind, "{name}");
        assert_eq!(f.unit.as_deref(), unit, "{name}");
        assert_eq!(f.samples.len(), 1, "{name}");
        assert!(f.samples[0].labels.is_empty(), "{name}");
        assert_eq!(f.samples[0].value, value, "{name}");
    }
}

#[tokio::test]
async fn each_failure_degrades_its_own_fields() {
    // The fds cannot be read: only open_fds and max_fds are null.
    let (assembler, snapshot) = snapshot_of(known().with_own_fds_error(ProcError::io(
        "/proc/self/fd",
        std::io::Error::other("gone"),
    )))
    .await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.status, SectionStatus::Degraded);
    let degraded: Vec<&str> = report.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(degraded, [fields::OPEN_FDS, fields::MAX_FDS]);
    assert_eq!(report.fields[0].error.kind, "io");
    assert!(
        report.fields[0].error.message.contains("gone"),
        "{report:?}"
    );
    let process = &snapshot.body()["process"];
    assert_eq!(process["open_fds"], Value::Null);
    assert_eq!(process["threads"], 9);
    let families = assembler.metric_families(&snapshot);
    assert!(
        family(&families, "process_open_fds").is_none(),
        "null is no sample"
    );
    assert!(family(&families, "process_threads").is_some());

    // No clock ticks: the two fields in seconds are null.
    let (_, snapshot) = snapshot_of(known().with_clk_tck(None)).await;
    let report = snapshot.report("process").unwrap();
    let degraded: Vec<&str> = report.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(degraded, [fields::CPU_SECONDS, fields::START_TIME_SECONDS]);
    assert_eq!(report.fields[0].error.kind, "unknown_clk_tck");
    assert_eq!(
        snapshot.body()["process"]["resident_memory_bytes"],
        50 << 20
    );

    // No boot time: only the start time.
    let (_, snapshot) = snapshot_of(
        known().with_boot_time_error(ProcError::unparsable("/proc/stat", "no btime line")),
    )
    .await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.fields.len(), 1);
    assert_eq!(report.fields[0].field, fields::START_TIME_SECONDS);
    assert_eq!(snapshot.body()["process"]["cpu_seconds"], 987.65);

    // The own process cannot be read: six fields null, the fds still there.
    let (_, snapshot) =
        snapshot_of(known().with_own_process_error(ProcError::PermissionDenied { pid: 4242 }))
            .await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.status, SectionStatus::Degraded);
    assert_eq!(report.fields.len(), 6);
    assert_eq!(report.fields[0].error.kind, "permission_denied");
    let process = &snapshot.body()["process"];
    assert_eq!(process["pid"], Value::Null);
    assert_eq!(process["open_fds"], 33);
}

#[tokio::test]
async fn unlimited_fds_are_an_honest_null() {
    let (assembler, snapshot) = snapshot_of(known().with_own_fds(5, None)).await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.status, SectionStatus::Ok);
    assert_eq!(snapshot.body()["process"]["max_fds"], Value::Null);
    assert!(family(&assembler.metric_families(&snapshot), "process_max_fds").is_none());
}

/// A source whose reads panic.
#[derive(Debug)]
struct Panicking;

impl ProcSource for Panicking {
    fn clk_tck(&self) -> Option<u64> {
        Some(100)
    }
    fn boot_time(&self) -> Result<i64, ProcError> {
        Ok(0)
    }
    fn process(&self, _pid: i64) -> Result<ProcessInfo, ProcError> {
        Err(ProcError::Unsupported)
    }
    fn process_table(&self) -> Result<vitals_proc::ProcessTable, ProcError> {
        Err(ProcError::Unsupported)
    }
    fn own_process(&self) -> Result<OwnProcess, ProcError> {
        panic!("the source exploded")
    }
}

#[tokio::test]
async fn a_panicking_source_degrades_every_field() {
    let assembler = Assembler::builder()
        .section(ProcessSection::new(Arc::new(Panicking)))
        .build()
        .unwrap();
    let snapshot = assembler.build().await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.status, SectionStatus::Degraded);
    assert_eq!(report.fields.len(), fields::ALL.len());
    assert!(
        report.fields[0]
            .error
            .message
            .contains("the source exploded")
    );
    let process = snapshot.body()["process"].as_object().unwrap();
    assert!(process.values().all(Value::is_null), "{process:?}");
}

#[tokio::test]
async fn an_unsupported_source_degrades_and_the_snapshot_stands() {
    let (_, snapshot) = snapshot_of(FakeProc::new()).await;
    let report = snapshot.report("process").unwrap();
    assert_eq!(report.status, SectionStatus::Degraded);
    assert!(report.fields.iter().all(|f| f.error.kind == "unsupported"));
    assert_eq!(snapshot.body()["schema_version"], 1);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;

    use super::*;
    use vitals_proc::LinuxProc;

    #[tokio::test]
    async fn a_fake_tree_with_known_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("self");
        fs::create_dir_all(own.join("fd")).unwrap();
        for fd in 0..4 {
            fs::write(own.join("fd").join(fd.to_string()), "").unwrap();
        }
        fs::write(
            own.join("stat"),
            "4242 (vitals) S 1 4242 4242 0 -1 4194560 5421 0 12 0 300 45 0 0 20 0 7 0 5000 \
             123456789 250 18446744073709551615 1 1 0 0 0 0 0 4096 134295555 0 0 0 17 1 0 0 0 \
             0 0 1 1 1 1 1 1 1 0\n",
        )
        .unwrap();
        fs::write(own.join("limits"), "Max open files  1024  4096  files\n").unwrap();
        fs::write(dir.path().join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        let source = LinuxProc::with_root(dir.path());
        let clk_tck = source.clk_tck().unwrap();
        let assembler = Assembler::builder()
            .section(ProcessSection::new(Arc::new(source)))
            .build()
            .unwrap();
        let snapshot = assembler.build().await;
        assert_eq!(
            snapshot.report("process").unwrap().status,
            SectionStatus::Ok
        );
        let process = &snapshot.body()["process"];
        assert_eq!(process["pid"], 4242);
        assert_eq!(process["cpu_seconds"], 345.0 / clk_tck as f64);
        assert_eq!(
            process["start_time_seconds"],
            1_700_000_000.0 + 5000.0 / clk_tck as f64
        );
        assert_eq!(process["virtual_memory_bytes"], 123_456_789);
        assert_eq!(process["threads"], 7);
        assert_eq!(process["open_fds"], 4);
        assert_eq!(process["max_fds"], 1024);
    }

    #[tokio::test]
    async fn the_real_process() {
        let assembler = Assembler::builder()
            .section(ProcessSection::linux())
            .build()
            .unwrap();
        let snapshot = assembler.build().await;
        assert_eq!(
            snapshot.report("process").unwrap().status,
            SectionStatus::Ok
        );
        let process = &snapshot.body()["process"];
        assert_eq!(process["pid"], std::process::id());
        // A young test process may not have used one clock tick yet.
        assert!(process["cpu_seconds"].as_f64().unwrap() >= 0.0);
        assert!(process["resident_memory_bytes"].as_u64().unwrap() > 0);
        assert!(process["threads"].as_u64().unwrap() >= 1);
        assert!(process["open_fds"].as_u64().unwrap() >= 3);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = process["start_time_seconds"].as_f64().unwrap();
        // Started before now, and not before the year 2020.
        assert!(
            started <= now + 1.0 && started > 1_577_836_800.0,
            "{started}"
        );
        let names: Vec<String> = assembler
            .metric_families(&snapshot)
            .into_iter()
            .map(|f| f.name)
            .collect();
        for name in [
            "process_cpu",
            "process_resident_memory",
            "process_virtual_memory",
            "process_start_time",
            "process_open_fds",
            "process_threads",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
