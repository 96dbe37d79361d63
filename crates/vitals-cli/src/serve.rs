//! `vitals serve`: the `/metrics` endpoint over an orchestrator database.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vitals::http::BearerToken;

use crate::CliError;
use crate::stack::{self, StackConfig};

/// The default listening address: loopback only, the port Prometheus
/// exporters conventionally pick for vitals.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Serve GET /metrics (JSON, OpenMetrics or the Prometheus text format),
/// a landing page at / and the probes /-/healthy and /-/ready over HTTP
/// until SIGINT or SIGTERM.
#[derive(Debug, clap::Args)]
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
}

/// Runs `vitals serve`.
pub(crate) async fn run(args: &Args) -> Result<(), CliError> {
    let token = match &args.token_file {
        Some(path) => Some(read_token(path)?),
        None => None,
    };
    if token.is_none() && !args.listen.ip().is_loopback() && !args.allow_unauthenticated {
        return Err(CliError::Unauthenticated { addr: args.listen });
    }
    let config = StackConfig {
        db: args.db.clone(),
        proc_root: args.proc_root.clone(),
        section_timeout: args.section_timeout_ms.map(Duration::from_millis),
        min_interval: args.min_interval_ms.map(Duration::from_millis),
        enabled: !args.disabled,
        process_metrics: true,
    };
    let authenticated = token.is_some();
    let assembler = stack::assembler(&config)?;
    // A first snapshot at start, so that /-/ready can answer before the first scrape.
    let warm_up = assembler.clone();
    tokio::spawn(async move { warm_up.build().await });
    let app = stack::router(assembler, token, "vitals serve")?;
    let shutdown = stack::shutdown_signal()?;
    let (listener, addr) = stack::bind(args.listen).await?;
    tracing::info!(
        %addr,
        db = %args.db.display(),
        authenticated,
        enabled = !args.disabled,
        "vitals serve: listening on http://{addr}/metrics"
    );
    if !authenticated && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving without authentication on a non-loopback address");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}/metrics").map_err(CliError::Stdout)?;
    drop(out);
    stack::serve(listener, app, shutdown).await?;
    tracing::info!("vitals serve: stopped");
    Ok(())
}

/// Reads and checks the token in `path`.
fn read_token(path: &Path) -> Result<BearerToken, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    BearerToken::new(text).map_err(|source| CliError::Token {
        path: path.to_owned(),
        source,
    })
}
