//! An axum [`Router`] that serves **vitals** snapshots at `GET /metrics`, as JSON or OpenMetrics.
//!
//! A service that runs a vitals [`Assembler`] wants its snapshot reachable by
//! the observers outside the process (a watchdog sidecar, Prometheus)
//! without writing any HTTP code of its own, and without the endpoint ever
//! becoming a liability: a slow or failing section must not turn a scrape
//! into an error, a scrape storm must not turn into a build storm, and an
//! endpoint on a shared port may need a token. This crate is that endpoint:
//! [`router`] returns a `Router` with the one route `/metrics`, which the
//! host merges into its own.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use vitals_core::Assembler;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let assembler = Assembler::builder() /* .section(...) */ .build()?;
//! let app = Router::new()
//!     .route("/healthz", get(|| async { "ok" }))
//!     .merge(vitals_http::router(assembler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # What the route answers
//!
//! * `GET` and `HEAD` on the path (default `/metrics`); every other method:
//!   `405 Method Not Allowed` with `Allow: GET, HEAD`. Nothing else is routed
//!   (no fallback): the host's own routes and fallback are untouched.
//! * `200 OK` with the JSON snapshot ([`Snapshot::to_json`](vitals_core::Snapshot::to_json)),
//!   `Content-Type: application/json`, also when sections degrade and when the
//!   kill switch is off (`{"schema_version":1,"enabled":false}`). `HEAD`: the same
//!   headers, no body.
//! * `200 OK` with the same snapshot in the OpenMetrics text format
//!   (`application/openmetrics-text; version=1.0.0; charset=utf-8`) when the
//!   query has `format=openmetrics`, or when `Accept` prefers
//!   `application/openmetrics-text` or `text/plain; version=0.0.4` (what
//!   Prometheus sends) over `application/json`, with q-values. `format=json`
//!   forces JSON. See [`encode_openmetrics`] and `docs/openmetrics.md` for the mapping.
//! * With a [`BearerToken`] configured: `401 Unauthorized` with
//!   `WWW-Authenticate: Bearer realm="vitals"` on a missing or wrong
//!   `Authorization: Bearer …` header; no snapshot is built for such a request,
//!   and it is refused before it takes one of the concurrency slots.
//! * `503 Service Unavailable` (empty body) when a request does not finish
//!   within the timeout (default 10 s), time spent waiting for one of the
//!   concurrency slots (default 64) included.
//!
//! Concurrent requests share one build in flight, and an assembler built
//! with a [`min_interval`](vitals_core::AssemblerBuilder::min_interval) answers
//! requests inside it with the previous snapshot: both are the assembler's
//! doing, so every route and client serving the same assembler shares them.
//!
//! The layers (timeout, concurrency limit, authentication) wrap this route
//! only. A host whose `Router` has a state calls `.with_state(..)` before
//! merging this stateless router. A [`SharedBearerToken`] lets a host rotate
//! the token without a restart.
//!
//! # Serving it
//!
//! `axum::serve` is fine on a trusted network, but it has no header-read
//! timeout, no idle timeout and no cap on open connections: a few hundred
//! slow clients keep their sockets forever, and past the file-descriptor
//! limit the endpoint stops answering. [`serve`] (or [`Server`], which also
//! hands out its [`ServeStats`]) is an HTTP/1.1 server for any `Router` with
//! all three, configured by [`ServeConfig`]:
//!
//! * a request head must arrive in full within the header-read timeout
//!   (default 10 s), counted from the accept and again after each answer;
//! * a connection with no byte read or written for the idle timeout (default
//!   30 s) while no handler runs is closed (a client that stopped reading);
//! * at most `max_connections` (default 256) are open: beyond it the
//!   connection idle the longest is closed to make room, and when all are
//!   busy answering, the new one is closed at once;
//! * a failing `accept` (`EMFILE`) is logged at most every 5 s, never stops
//!   the loop, and when descriptors ran out closes the oldest idle
//!   connection so that the endpoint keeps answering;
//! * after the shutdown future resolves, requests in flight get the grace
//!   period (default 10 s) to finish, then what is left is closed: `serve`
//!   returns within the grace period.
//!
//! ```no_run
//! # async fn run(assembler: vitals_core::Assembler) -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
//! let app = vitals_http::router(assembler);
//! vitals_http::serve(listener, app, vitals_http::ServeConfig::new(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

mod config;
mod negotiate;
mod openmetrics;
mod server;
mod service;
mod shared_token;

use axum::Router;
use vitals_core::Assembler;

pub use config::{BearerToken, ConfigError, MetricsConfig};
pub use openmetrics::{OPENMETRICS_CONTENT_TYPE, encode_openmetrics};
pub use server::{ServeConfig, ServeCounts, ServeStats, Server, serve};
pub use service::JSON_CONTENT_TYPE;
pub use shared_token::SharedBearerToken;

/// The `/metrics` route with the default [`MetricsConfig`]: no authentication,
/// a 10 s timeout, 64 requests at once.
pub fn router(assembler: Assembler) -> Router {
    service::build(assembler, MetricsConfig::default())
}

/// The route as `config` says: path, bearer token, timeout, concurrency limit.
///
/// ```
/// use std::time::Duration;
/// use vitals_http::{BearerToken, MetricsConfig};
///
/// let assembler = vitals_core::Assembler::builder().build().unwrap();
/// let config = MetricsConfig::new()
///     .bearer_token(BearerToken::new("s3cr3t").unwrap())
///     .timeout(Duration::from_secs(5));
/// let app = axum::Router::new().merge(vitals_http::router_with(assembler, config).unwrap());
/// # let _ = app;
/// ```
///
/// # Errors
///
/// What [`MetricsConfig::validate`] refuses: [`ConfigError::InvalidPath`],
/// [`ConfigError::ZeroTimeout`], [`ConfigError::ZeroConcurrencyLimit`].
pub fn router_with(assembler: Assembler, config: MetricsConfig) -> Result<Router, ConfigError> {
    config.validate()?;
    Ok(service::build(assembler, config))
}
