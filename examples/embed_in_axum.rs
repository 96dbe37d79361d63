//! A host axum application that serves its own routes and mounts the vitals
//! `/metrics` router next to them, served by `vitals::http::serve` (timeouts
//! and a connection cap) with a graceful shutdown on Ctrl-C.
//!
//! With a database path as the first argument the snapshot reads it through
//! the read-only `SqliteStore` (and the real `/proc`); without one it uses the
//! populated in-memory fakes, so it works out of the box:
//!
//! ```text
//! cargo run --example embed_in_axum [orchestrator.db]
//! curl -s http://127.0.0.1:PORT/healthz
//! curl -s http://127.0.0.1:PORT/metrics
//! ```
//!
//! The port is `PORT` from the environment, or any free port (printed).
#![expect(clippy::print_stdout, reason = "an example prints where it listens")]

use std::sync::Arc;

use axum::{Router, routing::get};
use vitals::Assembler;
use vitals::proc::{LinuxProc, ProcSource};
use vitals::sqlite::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The sources: the orchestrator's database and /proc, or the fakes.
    let resources = match std::env::args_os().nth(1) {
        Some(db) => SqliteStore::open(db)
            .resources()
            .with::<Arc<dyn ProcSource>>(Arc::new(LinuxProc::new())),
        None => vitals::fake::populated(),
    };
    // `clk_tck` in the envelope comes from the agents section's ProcSource.
    let assembler = Assembler::builder()
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()?;

    // The host's own routes, and vitals' `/metrics` merged in.
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(vitals::http::router(assembler));

    let port: u16 = std::env::var("PORT").map_or(Ok(0), |p| p.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "serving http://{}/metrics (Ctrl-C stops)",
        listener.local_addr()?
    );
    // `vitals::http::serve` rather than `axum::serve`: a header-read timeout,
    // an idle timeout and a cap on open connections, so that slow clients
    // cannot exhaust the process's descriptors, and a bounded shutdown.
    let config = vitals::http::ServeConfig::new();
    vitals::http::serve(listener, app, config, async {
        // If the handler cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await?;
    Ok(())
}
