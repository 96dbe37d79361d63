//! An axum router serving vitals snapshots at GET /metrics, as JSON or OpenMetrics
