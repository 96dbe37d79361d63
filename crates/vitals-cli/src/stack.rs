//! What `snapshot`, `serve` and `demo` share: the SQLite store, the `/proc`
//! source, the assembler over every built-in section, the router (`/`,
//! `/metrics` and the probes), the `--listen` address and the HTTP server
//! loop with graceful shutdown.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use vitals::http::{BearerToken, MetricsConfig};
use vitals::proc::{LinuxProc, ProcSource};
use vitals::sqlite::SqliteStore;
use vitals::{Assembler, KillSwitch};

use crate::CliError;

/// How long in-flight requests may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// What an assembler over a database needs.
#[derive(Debug, Clone)]
pub(crate) struct StackConfig {
    /// The orchestrator database (it may not exist yet).
    pub(crate) db: PathBuf,
    /// The directory read as `/proc`.
    pub(crate) proc_root: PathBuf,
    /// The deadline of each section (`None`: the assembler's default).
    pub(crate) section_timeout: Option<Duration>,
    /// Minimum interval between builds (`None`: always build).
    pub(crate) min_interval: Option<Duration>,
    /// The kill switch's initial position.
    pub(crate) enabled: bool,
    /// Add the `process` section (the serving process's own `process_*`
    /// metrics): for `serve` and `demo`, not for a one-shot `snapshot`.
    pub(crate) process_metrics: bool,
}

/// The assembler over every built-in section ([`vitals::BUILTIN`]): the
/// read-only store as the stage, queue, agent and cost source, and
/// `LinuxProc` at `proc_root` for process facts (the agents section also
/// puts its `clk_tck` in the envelope).
///
/// There is no worker probe: the CLI runs beside the orchestrator, not in it,
/// so the queue's `breaker`, `max_concurrency` and `poll_interval` are null.
/// With `process_metrics`, the `process` section reads the CLI's own process
/// through the same `LinuxProc`.
pub(crate) fn assembler(config: &StackConfig) -> Result<Assembler, CliError> {
    let store = SqliteStore::open(&config.db);
    let proc: Arc<dyn ProcSource> = Arc::new(LinuxProc::with_root(&config.proc_root));
    let resources = store.resources().with::<Arc<dyn ProcSource>>(proc);
    let mut builder = Assembler::builder()
        .kill_switch(KillSwitch::new(config.enabled))
        .descriptors(vitals::BUILTIN.iter(), &resources);
    if config.process_metrics {
        builder = builder.descriptors([&vitals::process::DESCRIPTOR], &resources);
    }
    if let Some(deadline) = config.section_timeout {
        builder = builder.default_deadline(deadline);
    }
    if let Some(interval) = config.min_interval {
        builder = builder.min_interval(interval);
    }
    builder.build().map_err(CliError::Assemble)
}

/// The app over `assembler`: `/metrics` (JSON, OpenMetrics, Prometheus text),
/// the landing page `/` (both behind the bearer token when given) and the
/// probes `/-/healthy` and `/-/ready`.
pub(crate) fn router(
    assembler: Assembler,
    token: Option<BearerToken>,
    service_name: &str,
) -> Result<Router, CliError> {
    let config = MetricsConfig::new()
        .bearer_token(token)
        .service_name(service_name);
    vitals::http::app_with(assembler, config).map_err(CliError::Endpoint)
}

/// Parses a `--listen` value: `IP:PORT`, or `HOST:PORT` resolved now
/// (`localhost:9464`). Of several addresses the first IPv4 one is taken, so
/// that `localhost` binds `127.0.0.1`, which counts as loopback.
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve `{text}` (expected HOST:PORT): {error}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

/// A future that resolves on the first SIGINT or SIGTERM.
///
/// The handlers are installed when this function returns, so a signal that
/// arrives before the future is first polled is not lost (and does not kill
/// the process with the default action).
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = &'static str>, CliError> {
    let mut interrupt = signal(SignalKind::interrupt()).map_err(CliError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Signals)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Binds `addr` (port 0: any free port) and returns the listener and the
/// address actually bound.
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), CliError> {
    let bind_error = |source| CliError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish (at most [`GRACE`]) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = &'static str> + Send + 'static,
) -> Result<(), CliError> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let which = shutdown.await;
        tracing::info!(signal = which, "shutting down");
        let _ = stopping_tx.send(());
    });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        biased;
        result = &mut server => return result.map_err(CliError::Serve),
        _ = stopping_rx => {}
    }
    match tokio::time::timeout(GRACE, server).await {
        Ok(result) => result.map_err(CliError::Serve),
        Err(_) => {
            tracing::warn!(
                grace_s = GRACE.as_secs(),
                "requests still in flight after the grace period; closing them"
            );
            Ok(())
        }
    }
}
