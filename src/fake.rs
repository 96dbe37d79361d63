//! In-memory sources for every built-in section, filled with plausible data.
//!
//! [`populated`] is what an example, a doc or a host's own test reaches for
//! when it needs a complete snapshot without a database or live processes:
//! every field of contract v1 (and of the additive process fields) has a
//! non-null value. [`at`] is the instant its timestamps are relative to; use
//! it with a [`FixedClock`](crate::FixedClock) for deterministic ages.
//!
//! ```
//! use vitals::{Assembler, FixedClock};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let assembler = Assembler::builder()
//!     .clock(FixedClock::at(vitals::fake::at()))
//!     .descriptors(vitals::BUILTIN.iter(), &vitals::fake::populated())
//!     .build()
//!     .unwrap();
//! let snapshot = assembler.build().await;
//! assert_eq!(snapshot.body()["agents"][0]["runtime_s"], 90);
//! assert_eq!(snapshot.body()["stages"][0]["age_in_stage_s"], 300);
//! # }
//! ```

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::Resources;
use crate::agents::{AgentSource, RunningAgent, fake::FakeAgentSource};
use crate::cost::{CostSource, CostTotals, RunningCost, fake::FakeCostSource};
use crate::proc::{OwnProcess, ProcSource, ProcessInfo, fake::FakeProc};
use crate::queue::{
    QueueSource, RetryStats, WorkerProbe, fake::FakeQueueSource, fake::FakeWorkerProbe,
};
use crate::stages::{StageRow, StageSource, fake::FakeStageSource};

/// The instant the fake data is relative to: 2026-11-28T02:40:13Z.
#[must_use]
pub fn at() -> DateTime<Utc> {
    // 2026-11-28T02:40:13Z as a Unix timestamp; always representable.
    Utc.timestamp_opt(1_795_833_613, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Resources with a fake source for every built-in section (and a fake
/// `/proc` with the agents' processes and the serving process, for
/// [`process`](crate::process)), all fields populated.
#[must_use]
pub fn populated() -> Resources {
    let now = at();
    let stages = FakeStageSource::new(vec![
        StageRow {
            task_id: Some(41),
            work_item: Some("ORCH-41".into()),
            stage: Some("implementation".into()),
            repo: Some("orchestrator".into()),
            stage_entered_at: Some(now - Duration::seconds(300)),
        },
        StageRow {
            task_id: Some(42),
            work_item: Some("ORCH-42".into()),
            stage: Some("review".into()),
            repo: Some("watchdog".into()),
            stage_entered_at: Some(now - Duration::seconds(4_000)),
        },
    ]);
    let queue = FakeQueueSource::new()
        .with_counts([
            ("queued", 3),
            ("running", 2),
            ("done", 120),
            ("failed", 4),
            ("cancelled", 1),
        ])
        .with_retries(RetryStats {
            jobs_with_retries: 2,
            total_attempts: 5,
            max_attempts: 3,
        });
    let probe = FakeWorkerProbe::new()
        .with_breaker(json!({"state": "closed", "consecutive_failures": 0}))
        .with_max_concurrency(Some(4))
        .with_poll_interval(Some(2.5));
    let agents = FakeAgentSource::new(vec![
        RunningAgent {
            agent: Some("implementer".into()),
            run_id: Some(901),
            job_id: Some(311),
            repo: Some("orchestrator".into()),
            pid: Some(4242),
            started_at: Some(now - Duration::seconds(90)),
            model: Some("opus".into()),
            effort: Some("high".into()),
        },
        RunningAgent {
            agent: Some("reviewer".into()),
            run_id: Some(902),
            job_id: Some(312),
            repo: Some("watchdog".into()),
            pid: Some(4300),
            started_at: Some(now - Duration::seconds(600)),
            model: Some("sonnet".into()),
            effort: Some("medium".into()),
        },
    ]);
    let boot = now.timestamp() - 86_400;
    let proc = FakeProc::new()
        .with_boot_time(boot)
        .with_process(ProcessInfo {
            pid: 4242,
            ppid: 1,
            state: 'R',
            cpu_ticks: 1_234,
            start_ticks: (86_400 - 95) * 100,
            threads: 12,
            rss_bytes: 104_857_600,
        })
        .with_process(ProcessInfo {
            pid: 4243,
            ppid: 4242,
            state: 'S',
            cpu_ticks: 500,
            start_ticks: (86_400 - 60) * 100,
            threads: 1,
            rss_bytes: 8_388_608,
        })
        .with_process(ProcessInfo {
            pid: 4300,
            ppid: 1,
            state: 'S',
            cpu_ticks: 88,
            start_ticks: (86_400 - 601) * 100,
            threads: 8,
            rss_bytes: 52_428_800,
        })
        // The serving process itself (the `process` section), up for an hour.
        .with_own_process(OwnProcess::new(
            ProcessInfo {
                pid: 1000,
                ppid: 1,
                state: 'S',
                cpu_ticks: 4_567,
                start_ticks: (86_400 - 3_600) * 100,
                threads: 6,
                rss_bytes: 67_108_864,
            },
            536_870_912,
        ))
        .with_own_fds(25, Some(1024));
    let cost = FakeCostSource::new()
        .with_running(vec![
            RunningCost {
                run_id: Some(901),
                job_id: Some(311),
                agent: Some("implementer".into()),
                cost_usd: Some(0.42),
                input_tokens: Some(12_000),
                output_tokens: Some(3_400),
                cache_read_tokens: Some(50_000),
                cache_creation_tokens: Some(2_000),
            },
            RunningCost {
                run_id: Some(902),
                job_id: Some(312),
                agent: Some("reviewer".into()),
                ..RunningCost::default()
            },
        ])
        .with_totals(CostTotals {
            runs: 130,
            cost_usd: 57.25,
            input_tokens: 1_500_000,
            output_tokens: 420_000,
            cache_read_tokens: 9_000_000,
            cache_creation_tokens: 300_000,
        });
    Resources::new()
        .with::<Arc<dyn StageSource>>(Arc::new(stages))
        .with::<Arc<dyn QueueSource>>(Arc::new(queue))
        .with::<Arc<dyn WorkerProbe>>(Arc::new(probe))
        .with::<Arc<dyn AgentSource>>(Arc::new(agents))
        .with::<Arc<dyn ProcSource>>(Arc::new(proc))
        .with::<Arc<dyn CostSource>>(Arc::new(cost))
}
