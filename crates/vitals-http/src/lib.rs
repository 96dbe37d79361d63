//! An axum `Router` that serves **vitals** snapshots at `GET /metrics`, as
//! JSON, OpenMetrics or the Prometheus text format.
//!
//! A service that runs a vitals [`Assembler`] wants its snapshot reachable by
//! the observers outside the process (a watchdog sidecar, Prometheus)
//! without writing any HTTP code of its own, and without the endpoint ever
//! becoming a liability: a slow or failing section must not turn a scrape
//! into an error, a scrape storm must not turn into a build storm, and an
//! endpoint on a shared port may need a token. This crate is that endpoint:
//! [`router`] returns a `Router` with the one route `/metrics`, which the
//! host merges into its own; [`app`] adds a landing page and the probes
//! `/-/healthy` and `/-/ready`, for a process that serves nothing else.
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
//! * `200 OK` with the same snapshot as metrics, by content negotiation on the
//!   same route (`Vary: accept, accept-encoding`):
//!   - OpenMetrics 1.0 ([`OPENMETRICS_CONTENT_TYPE`], [`encode_openmetrics`])
//!     for `format=openmetrics` in the query, or when `Accept` prefers
//!     `application/openmetrics-text`: what Prometheus asks for by default;
//!   - the Prometheus text format 0.0.4 ([`TEXT_CONTENT_TYPE`], [`encode_text`])
//!     for `format=prometheus`, or when `Accept` prefers `text/plain`
//!     (no version, or `version=0.0.4`);
//!   - JSON for `format=json`, or when `Accept` prefers `application/json`,
//!     names nothing we offer, is malformed or absent.
//!
//!   q-values count; the query (percent-decoded) wins over `Accept`. See
//!   `docs/openmetrics.md` for the metric families.
//! * gzip when `Accept-Encoding` allows it (bodies above 32 bytes), identity
//!   otherwise.
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
//! The layers (timeout, concurrency limit, authentication, compression) wrap
//! this route only. A host whose `Router` has a state calls `.with_state(..)`
//! before merging this stateless router. A [`SharedBearerToken`]
//! ([`MetricsConfig::shared_bearer_token`]) lets a host rotate the token
//! without a restart.
//!
//! # The other routes of [`app`]
//!
//! * `GET`/`HEAD /`: a small HTML page naming the service
//!   ([`MetricsConfig::service_name`]) and the version, with links to the
//!   metrics in each format, the probes and the documentation
//!   ([`MetricsConfig::docs_url`]). Behind the bearer token when one is set.
//! * `GET`/`HEAD /-/healthy` ([`HEALTHY_PATH`]): `200 healthy` while the
//!   process serves. Builds nothing.
//! * `GET`/`HEAD /-/ready` ([`READY_PATH`]): `200 ready` once a snapshot was
//!   built and the last one had no section in `error`, `panic` or `timeout`
//!   (or while the kill switch is off); `503 not ready: <reason>` otherwise.
//!   Builds nothing: the readiness follows the scrapes.
//!
//! The probes need no token and answer only a status word. [`probes`] gives
//! them alone, for a host that has its own `/`.
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
//! let app = vitals_http::app(assembler);
//! vitals_http::serve(listener, app, vitals_http::ServeConfig::new(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

mod config;
mod families;
mod negotiate;
mod openmetrics;
mod pages;
mod server;
mod service;
mod shared_token;
mod text;

use axum::Router;
use vitals_core::Assembler;

pub use config::{BearerToken, ConfigError, MetricsConfig};
pub use openmetrics::{OPENMETRICS_CONTENT_TYPE, encode_openmetrics};
pub use pages::{HEALTHY_PATH, READY_PATH};
pub use server::{ServeConfig, ServeCounts, ServeStats, Server, serve};
pub use service::JSON_CONTENT_TYPE;
pub use shared_token::SharedBearerToken;
pub use text::{TEXT_CONTENT_TYPE, encode_text};

/// The `/metrics` route with the default [`MetricsConfig`]: no authentication,
/// a 10 s timeout, 64 requests at once.
pub fn router(assembler: Assembler) -> Router {
    service::build(assembler, &MetricsConfig::default())
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
#[expect(
    clippy::needless_pass_by_value,
    reason = "the config is built by value with its builder methods; taking it so reads naturally"
)]
pub fn router_with(assembler: Assembler, config: MetricsConfig) -> Result<Router, ConfigError> {
    config.validate()?;
    Ok(service::build(assembler, &config))
}

/// The `/metrics` route with the default [`MetricsConfig`], plus the landing
/// page `/` and the probes `/-/healthy` and `/-/ready`: everything a process
/// that serves only vitals needs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// let assembler = vitals_core::Assembler::builder().build().unwrap();
/// let app = vitals_http::app(assembler);
/// let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
/// let status = |uri: &str| {
///     let app = app.clone();
///     let request = get(uri);
///     async move { app.oneshot(request).await.unwrap().status() }
/// };
/// assert_eq!(status("/-/healthy").await, StatusCode::OK);
/// // Not ready until a first snapshot was built (by a scrape).
/// assert_eq!(status("/-/ready").await, StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(status("/metrics").await, StatusCode::OK);
/// assert_eq!(status("/-/ready").await, StatusCode::OK);
/// assert_eq!(status("/").await, StatusCode::OK);
/// # }
/// ```
pub fn app(assembler: Assembler) -> Router {
    service::build_app(assembler, &MetricsConfig::default())
}

/// [`app`] as `config` says: the `/metrics` route with its path, token,
/// timeout and concurrency limit; the landing page (behind the same token)
/// with its service name and documentation link; the probes (no token).
///
/// ```
/// use vitals_http::{BearerToken, MetricsConfig};
///
/// let assembler = vitals_core::Assembler::builder().build().unwrap();
/// let config = MetricsConfig::new()
///     .service_name("orchestrator")
///     .bearer_token(BearerToken::new("s3cr3t").unwrap());
/// let app = vitals_http::app_with(assembler, config).unwrap();
/// # let _ = app;
/// ```
///
/// # Errors
///
/// What [`MetricsConfig::validate`] refuses, and
/// [`ConfigError::PathConflict`] when the metrics path is `/`, `/-/healthy`
/// or `/-/ready`.
pub fn app_with(assembler: Assembler, config: MetricsConfig) -> Result<Router, ConfigError> {
    config.validate()?;
    if ["/", HEALTHY_PATH, READY_PATH].contains(&config.path.as_str()) {
        return Err(ConfigError::PathConflict { path: config.path });
    }
    Ok(service::build_app(assembler, &config))
}

/// Only the probes `/-/healthy` and `/-/ready` (see [`app`]), for a host that
/// mounts `/metrics` with [`router_with`] and has its own `/`. They need no
/// token.
///
/// ```
/// let assembler = vitals_core::Assembler::builder().build().unwrap();
/// let app = axum::Router::new()
///     .merge(vitals_http::router(assembler.clone()))
///     .merge(vitals_http::probes(assembler));
/// # let _ = app;
/// ```
pub fn probes(assembler: Assembler) -> Router {
    pages::probes(assembler)
}
