//! The `server` section of `vitals serve`: what the serving process itself
//! counts (log lines dropped, connections), so that a degraded server shows
//! in the snapshot it serves.

use serde::Serialize;
use serde_json::Value;
use vitals::core::export::{MetricFamily, MetricKind};
use vitals::http::ServeStats;
use vitals::{Collect, Fallback, Section, SectionError, SectionValue, async_trait};

use crate::logging;

/// The section's key.
pub(crate) const KEY: &str = "server";

/// Reports the server's counters; see `docs/reliability.md`.
#[derive(Debug)]
pub(crate) struct ServerSection {
    stats: ServeStats,
}

impl ServerSection {
    pub(crate) fn new(stats: ServeStats) -> Self {
        Self { stats }
    }
}

/// The section's value; serde writes the fields in this order.
#[derive(Debug, Serialize)]
struct Out {
    /// Log lines dropped since the start: stderr could not take them.
    log_writes_dropped: u64,
    connections: Connections,
}

#[derive(Debug, Serialize)]
struct Connections {
    open: u64,
    accepted: u64,
    refused: u64,
    evicted: u64,
    idle_closed: u64,
    header_timeouts: u64,
    accept_errors: u64,
}

#[async_trait]
impl Section for ServerSection {
    fn key(&self) -> &str {
        KEY
    }

    fn fallback(&self) -> Fallback {
        Fallback::Null
    }

    fn order(&self) -> i32 {
        // After the built-in sections.
        900
    }

    async fn collect(&self, _cx: &Collect) -> Result<SectionValue, SectionError> {
        let counts = self.stats.counts();
        SectionValue::from_serialize(&Out {
            log_writes_dropped: logging::dropped(),
            connections: Connections {
                open: counts.open,
                accepted: counts.accepted,
                refused: counts.refused,
                evicted: counts.evicted,
                idle_closed: counts.idle_closed,
                header_timeouts: counts.header_timeouts,
                accept_errors: counts.accept_errors,
            },
        })
    }

    fn metrics(&self, value: &Value, out: &mut Vec<MetricFamily>) {
        let no_labels = Vec::<(String, String)>::new;
        let mut dropped = MetricFamily::new(
            "vitals_log_writes_dropped_total",
            "Log lines the serving process dropped because stderr could not take them.",
            MetricKind::Counter,
        );
        if let Some(n) = value["log_writes_dropped"].as_f64() {
            dropped.push(no_labels(), n);
        }
        dropped.emit_into(out);

        let connections = &value["connections"];
        let mut open = MetricFamily::new(
            "vitals_http_connections_open",
            "HTTP connections open now.",
            MetricKind::Gauge,
        );
        if let Some(n) = connections["open"].as_f64() {
            open.push(no_labels(), n);
        }
        open.emit_into(out);

        let mut accepted = MetricFamily::new(
            "vitals_http_connections_accepted_total",
            "HTTP connections accepted.",
            MetricKind::Counter,
        );
        if let Some(n) = connections["accepted"].as_f64() {
            accepted.push(no_labels(), n);
        }
        accepted.emit_into(out);

        let mut closed = MetricFamily::new(
            "vitals_http_connections_closed_total",
            "HTTP connections the server closed, by reason.",
            MetricKind::Counter,
        );
        for reason in ["refused", "evicted", "idle_closed", "header_timeouts"] {
            if let Some(n) = connections[reason].as_f64() {
                let label = match reason {
                    "idle_closed" => "idle",
                    "header_timeouts" => "header_timeout",
                    other => other,
                };
                closed.push([("reason", label)], n);
            }
        }
        closed.emit_into(out);

        let mut accept_errors = MetricFamily::new(
            "vitals_http_accept_errors_total",
            "Failed accept calls (for example, no file descriptor left).",
            MetricKind::Counter,
        );
        if let Some(n) = connections["accept_errors"].as_f64() {
            accept_errors.push(no_labels(), n);
        }
        accept_errors.emit_into(out);
    }
}
