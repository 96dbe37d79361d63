//! `vitals serve`: the `/metrics` endpoint over an orchestrator database.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vitals::http::{ServeConfig, ServeStats, Server, SharedBearerToken};

use crate::server_section::ServerSection;
use crate::stack::{self, StackConfig};
use crate::{CliError, disable_file, lifecycle, token};

/// Signals, and what the served snapshot adds, as `--help` shows them.
const SIGNALS: &str = "\
SIGINT, SIGTERM: stop accepting, let requests and section runs in flight finish \
within --shutdown-grace-ms, then exit 0 (the log names any section run abandoned, \
such as a read hung on a FIFO); a second signal stops waiting at once. SIGHUP: \
re-read --token-file (the token rotates without a restart).

The snapshot has a `server` section: log lines dropped because stderr could not \
take them (a broken or full pipe, a full disk; logging never blocks or fails a \
request) and the connection counters; and a `process` section: this process's \
own CPU time, memory, file descriptors and threads (the `process_*` metrics).";

/// The default listening address: loopback only, the port Prometheus
/// exporters conventionally pick for vitals.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Serve GET /metrics (JSON, OpenMetrics or the Prometheus text format),
/// a landing page at / and the probes /-/healthy and /-/ready over HTTP
/// until SIGINT or SIGTERM; see [`SIGNALS`].
#[derive(Debug, clap::Args)]
#[command(after_help = SIGNALS)]
pub(crate) struct Args {
    /// The orchestrator's SQLite database, opened read-only. It may not exist
    /// yet: its sections report `no_database` until it appears.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,

    /// The address to listen on, `IP:PORT` or `HOST:PORT` (`localhost:9464`;
    /// port 0: any free port; the bound address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN, value_parser = stack::parse_listen)]
    listen: SocketAddr,

    /// A file holding the bearer token clients must send
    /// (`Authorization: Bearer TOKEN`); surrounding whitespace is trimmed.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// Serve the previous snapshot to requests within this many milliseconds
    /// of the last build, instead of building a new one.
    #[arg(long, value_name = "N")]
    min_interval_ms: Option<u64>,

    /// The deadline of each section, in milliseconds (default 2000). A section
    /// that misses it reports `timeout` and its fallback value.
    #[arg(long, value_name = "N")]
    section_timeout_ms: Option<u64>,

    /// A directory laid out like /proc to read process facts from.
    #[arg(long, value_name = "DIR", default_value = vitals::proc::LinuxProc::DEFAULT_ROOT)]
    proc_root: PathBuf,

    /// Start with the kill switch off: every request gets
    /// `{"schema_version":1,"enabled":false}` and no section runs.
    #[arg(long)]
    disabled: bool,

    /// Allow a non-loopback --listen address without --token-file.
    #[arg(long)]
    allow_unauthenticated: bool,

    /// A run-time kill switch: while this file exists every request gets
    /// `{"schema_version":1,"enabled":false}` and no section runs; remove it
    /// to turn snapshots back on. Checked on every request (one stat).
    #[arg(long, value_name = "PATH", conflicts_with = "disabled")]
    disable_file: Option<PathBuf>,

    /// How long a client has to send a complete request head (from the
    /// accept, and after each answer on a kept-alive connection), in
    /// milliseconds; then the connection is closed.
    #[arg(long, value_name = "N", default_value_t = millis(ServeConfig::DEFAULT_HEADER_READ_TIMEOUT))]
    header_read_timeout_ms: u64,

    /// Close a connection that reads and writes nothing for this many
    /// milliseconds while no request is being handled (a client that stopped
    /// reading its answer).
    #[arg(long, value_name = "N", default_value_t = millis(ServeConfig::DEFAULT_IDLE_TIMEOUT))]
    idle_timeout_ms: u64,

    /// The most connections open at once. Past it the connection idle the
    /// longest is closed to make room; if every one is busy answering, the
    /// new one is closed.
    #[arg(long, value_name = "N", default_value_t = ServeConfig::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,

    /// After SIGINT or SIGTERM, how many milliseconds requests and section
    /// runs in flight get to finish; the process exits within this plus
    /// about half a second.
    #[arg(long, value_name = "N", default_value_t = millis(ServeConfig::DEFAULT_SHUTDOWN_GRACE))]
    shutdown_grace_ms: u64,
}

/// `duration` in whole milliseconds (saturating), for the flags' defaults.
const fn millis(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(duration.subsec_millis() as u64)
}

/// Descriptors kept for everything but connections (the database, /proc
/// reads, the listener, stdio), when comparing the cap with the fd limit.
const FD_RESERVE: u64 = 64;

/// Runs `vitals serve`.
pub(crate) async fn run(args: &Args) -> Result<(), CliError> {
    // Before anything else: a signal from now on is handled, not fatal.
    let signals = stack::shutdown_signal()?;
    let token = match &args.token_file {
        Some(path) => Some(SharedBearerToken::new(token::read(path)?)),
        None => None,
    };
    if token.is_none() && !args.listen.ip().is_loopback() && !args.allow_unauthenticated {
        return Err(CliError::Unauthenticated { addr: args.listen });
    }
    let grace = Duration::from_millis(args.shutdown_grace_ms);
    let serve_config = ServeConfig::new()
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms))
        .idle_timeout(Duration::from_millis(args.idle_timeout_ms))
        .max_connections(args.max_connections)
        .shutdown_grace(grace);
    serve_config.validate().map_err(CliError::Endpoint)?;
    let config = StackConfig {
        db: args.db.clone(),
        proc_root: args.proc_root.clone(),
        section_timeout: args.section_timeout_ms.map(Duration::from_millis),
        min_interval: args.min_interval_ms.map(Duration::from_millis),
        enabled: !args.disabled,
        process_metrics: true,
    };
    let stats = ServeStats::new();
    let assembler =
        stack::assembler_with(&config, vec![Box::new(ServerSection::new(stats.clone()))])?;
    let authenticated = token.is_some();
    let mut app = stack::router(assembler.clone(), token.clone(), "vitals serve")?;
    if let Some(path) = &args.disable_file {
        // Sets the kill switch from the file now, before the first snapshot.
        app = disable_file::layer(app, path.clone(), assembler.kill_switch());
    }
    // A first snapshot at start, so that /-/ready can answer before the first scrape.
    let warm_up = assembler.clone();
    tokio::spawn(async move { warm_up.build().await });
    let (listener, addr) = stack::bind(args.listen).await?;
    let server = Server::new(listener, app, serve_config)
        .map_err(CliError::Endpoint)?
        .with_stats(stats);
    tracing::info!(
        %addr,
        db = %args.db.display(),
        authenticated,
        enabled = assembler.kill_switch().is_enabled(),
        "vitals serve: listening on http://{addr}/metrics"
    );
    if !authenticated && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving without authentication on a non-loopback address");
    }
    warn_if_over_fd_limit(args.max_connections);
    // The address line is for whoever started us; serving matters more
    // than printing it (stdout may be a pipe whose reader is gone).
    let mut out = std::io::stdout().lock();
    if let Err(error) =
        writeln!(out, "listening on http://{addr}/metrics").and_then(|()| out.flush())
    {
        tracing::warn!(%error, "cannot write the address to stdout; serving anyway");
    }
    drop(out);
    let reload = || reload_token(args.token_file.as_deref(), token.as_ref());
    lifecycle::serve_until_signalled(server, Some(&assembler), grace, signals, reload).await;
    tracing::info!("vitals serve: stopped");
    Ok(())
}

/// SIGHUP: re-reads the token file into the served token; on failure the
/// previous token stays in force.
fn reload_token(path: Option<&std::path::Path>, token: Option<&SharedBearerToken>) {
    let (Some(path), Some(token)) = (path, token) else {
        tracing::info!("SIGHUP: no token file to re-read");
        return;
    };
    match token::read(path) {
        Ok(new) => {
            token.replace(new);
            tracing::info!(path = %path.display(), "SIGHUP: token file re-read; the new token is in force");
        }
        Err(error) => tracing::warn!(
            path = %path.display(),
            error = %vitals::core::error_chain(&error),
            "SIGHUP: cannot re-read the token file; the previous token stays in force"
        ),
    }
}

/// Warns when the connection cap leaves too few descriptors under the
/// process's limit: accepts would then fail first (they are logged, and the
/// oldest idle connection is closed to make room).
fn warn_if_over_fd_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit};
    let Ok((soft, _hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let wanted = u64::try_from(max_connections).unwrap_or(u64::MAX);
    if wanted.saturating_add(FD_RESERVE) > soft {
        tracing::warn!(
            max_connections,
            fd_limit = soft,
            "the connection cap is above what the file-descriptor limit allows; raise the limit (ulimit -n) or lower --max-connections"
        );
    }
}
