//! **vitals-client**: a typed consumer of vitals contract v1.
//!
//! A vitals collector publishes raw signal on purpose: CPU ticks, not CPU
//! percent; counts, not rates. This crate is the other side, what a watchdog
//! sidecar or a dashboard needs:
//!
//! * [`Body`] and [`Snapshot`]: the envelope and its sections as Rust types,
//!   tolerant the way the contract asks (unknown keys ignored, missing
//!   optional keys `None`, the kill switch's body a value, a fallen-back
//!   section a value);
//! * [`Fetch`]: one small trait for "the next snapshot", with
//!   [`HttpFetcher`] (bearer token, timeout, gzip) as its HTTP implementation;
//! * [`Delta::between`]: rates between two snapshots (CPU fraction per agent
//!   and process tree, jobs finished, spend per hour), matched by process
//!   identity so that a reused pid never yields a rate;
//! * [`Thresholds`] and [`Verdict`]: busy, idle, stuck, gone or new, by one
//!   set of thresholds;
//! * [`rules`]: the Prometheus recording and alerting rules generated from
//!   the same [`Thresholds`], so that Prometheus and a watcher call the same
//!   agent stuck.
//!
//! It depends on no collector crate: it reads the contract, nothing else.
//!
//! ```
//! use vitals_client::{Body, Delta, Thresholds, Verdict};
//!
//! let at = |time: &str, ticks: u32| format!(
//!     r#"{{"schema_version":1,"generated_at":"{time}","clk_tck":100,
//!         "agents":[{{"agent":"implementer","job_id":7,"run_id":70,"pid":4242,
//!                     "runtime_s":1200,"cpu_ticks":{ticks},"start_ticks":555,
//!                     "tree_cpu_ticks":{ticks},"proc_status":"ok"}}]}}"#);
//! let earlier = Body::from_json(&at("2026-11-28T02:40:00Z", 1000))?;
//! let later = Body::from_json(&at("2026-11-28T02:40:10Z", 1500))?;
//! let (Some(earlier), Some(later)) = (earlier.snapshot(), later.snapshot()) else {
//!     unreachable!("the kill switch is on in both");
//! };
//!
//! let delta = Delta::between(earlier, later);
//! let agent = &delta.agents[0];
//! assert_eq!(agent.cpu, Some(0.5)); // 500 ticks at 100/s over 10 s: half a core
//! assert_eq!(Thresholds::default().verdict(agent, None), Verdict::Busy);
//!
//! // The kill switch's body is a value, not an error.
//! assert_eq!(Body::from_json(r#"{"schema_version":1,"enabled":false}"#)?, Body::Disabled);
//! # Ok::<(), vitals_client::ParseError>(())
//! ```

mod codes;
mod delta;
pub mod duration;
mod error;
mod fetch;
mod model;
mod ordered;
pub mod rules;
mod verdict;

pub use async_trait::async_trait;
pub use codes::{ProcStatus, SectionStatus};
pub use delta::{AgentDelta, CostDelta, Delta, Match, QueueDelta};
pub use error::{DurationError, FetchError, ParseError, RulesError, ThresholdError};
pub use fetch::{Fetch, HttpFetcher, HttpFetcherBuilder};
pub use model::{
    Agent, Aggregate, Body, Collector, Cost, ErrorMeta, FieldMeta, Queue, Retries, RunningCost,
    SCHEMA_VERSION, SectionMeta, Snapshot, Stage,
};
pub use ordered::OrderedMap;
pub use verdict::{Thresholds, Verdict};
