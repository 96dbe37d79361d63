//! What `snapshot`, `serve` and `demo` share: the SQLite store, the `/proc`
//! source, the assembler over every built-in section, the `/metrics` router
//! and the HTTP server (`vitals_http::Server`, run by `lifecycle`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
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
}

/// The assembler over every built-in section ([`vitals::BUILTIN`]): the
/// read-only store as the stage, queue, agent and cost source, and
/// `LinuxProc` at `proc_root` for process facts (the agents section also
/// puts its `clk_tck` in the envelope).
///
/// There is no worker probe: the CLI runs beside the orchestrator, not in it,
/// so the queue's `breaker`, `max_concurrency` and `poll_interval` are null.
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

/// The `/metrics` router over `assembler`, with a bearer token when given
/// (shared: `vitals serve` replaces it on SIGHUP).
pub(crate) fn router(
    assembler: Assembler,
    token: Option<SharedBearerToken>,
) -> Result<Router, CliError> {
    vitals::http::router_with(assembler, MetricsConfig::new().shared_bearer_token(token))
        .map_err(CliError::Endpoint)
}

/// Installs the handlers of the signals a serving command handles (SIGINT,
/// SIGTERM, SIGHUP); see [`lifecycle`].
pub(crate) fn shutdown_signal() -> Result<Signals, CliError> {
    Signals::install()
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
