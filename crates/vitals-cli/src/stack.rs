//! What `snapshot`, `serve` and `demo` share: the SQLite store, the `/proc`
//! source, the assembler over every built-in section, the app (`/`,
//! `/metrics` and the probes), the `--listen` address and the HTTP server
//! (`vitals_http::Server`, run by `lifecycle`).

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use vitals::http::{MetricsConfig, ServeConfig, Server, SharedBearerToken};
use vitals::proc::{LinuxProc, ProcSource};
use vitals::sqlite::SqliteStore;
use vitals::{Assembler, KillSwitch, Section};

use crate::CliError;
use crate::lifecycle::{self, Signals};

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
    assembler_with(config, Vec::new())
}

/// [`assembler`] with `extra` sections after the built-in ones.
pub(crate) fn assembler_with(
    config: &StackConfig,
    extra: Vec<Box<dyn Section>>,
) -> Result<Assembler, CliError> {
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
    for section in extra {
        builder = builder.section(section);
    }
    builder.build().map_err(CliError::Assemble)
}

/// The app over `assembler`: `/metrics` (JSON, OpenMetrics, Prometheus text),
/// the landing page `/` (both behind the bearer token when given, shared:
/// `vitals serve` replaces it on SIGHUP) and the probes `/-/healthy` and
/// `/-/ready` (no token).
pub(crate) fn router(
    assembler: Assembler,
    token: Option<SharedBearerToken>,
    service_name: &str,
) -> Result<Router, CliError> {
    let config = MetricsConfig::new()
        .shared_bearer_token(token)
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

/// Installs the handlers of the signals a serving command handles (SIGINT,
/// SIGTERM, SIGHUP); see [`lifecycle`].
pub(crate) fn shutdown_signal() -> Result<Signals, CliError> {
    Signals::install()
}

/// A future that resolves on the first SIGINT or SIGTERM, for a command that
/// serves nothing (`vitals watch`): SIGHUP keeps its default action (a
/// closed terminal ends the watch).
///
/// The handlers are installed when this function returns, so a signal that
/// arrives before the future is first polled is not lost (and does not kill
/// the process with the default action).
pub(crate) fn stop_signal() -> Result<impl Future<Output = &'static str>, CliError> {
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

/// Serves `app` on `listener` with the default [`ServeConfig`] until SIGINT
/// or SIGTERM, then stops within the default grace period (`vitals demo`;
/// `vitals serve` configures its own server).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    signals: Signals,
) -> Result<(), CliError> {
    let config = ServeConfig::new();
    let server = Server::new(listener, app, config).map_err(CliError::Endpoint)?;
    lifecycle::serve_until_signalled(
        server,
        None,
        ServeConfig::DEFAULT_SHUTDOWN_GRACE,
        signals,
        || tracing::info!("SIGHUP: nothing to reload"),
    )
    .await;
    Ok(())
}
