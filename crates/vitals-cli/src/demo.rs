//! `vitals demo`: a live, self-contained demonstration.
//!
//! A simulated orchestrator writes to a reference-schema database in a
//! temporary directory; three real child processes (this binary re-executed
//! as the hidden `__agent` command) are pinned as running agents; `/metrics`
//! is served exactly as `vitals serve` serves it. The simulator's own running
//! jobs carry pids above any `pid_max` (so they can never name a real
//! process): their process fields are `null` with `invalid_pid`, and the
//! banner says so, so that a newcomer does not take the `degraded` agents
//! section for a bug. SIGINT or SIGTERM stops
//! everything: the children are killed and reaped (by a guard, so on error
//! paths too), the simulator stops and the directory is removed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use vitals::proc::LinuxProc;
use vitals_refdb::Simulator;

use crate::CliError;
use crate::child::Mode;
use crate::serve::DEFAULT_LISTEN;
use crate::stack::{self, StackConfig};

/// How often the simulated orchestrator takes a step.
const TICK: Duration = Duration::from_millis(500);
/// Simulated history before the demo starts: this many steps...
const WARMUP_STEPS: i64 = 30;
/// ...this many seconds apart, ending now.
const WARMUP_STEP_S: i64 = 10;
/// The simulation's seed (the demo is the same every time, up to timing).
const SEED: u64 = 2026;
/// How long the short-lived agent lives.
const SHORT_LIFE: Duration = Duration::from_secs(5);

/// Run a live demo: a simulated orchestrator with three real agent
/// processes (one busy, one stuck, one that exits), served at /metrics until
/// Ctrl-C. Everything it creates is removed when it stops.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address to listen on, `IP:PORT` or `HOST:PORT` (port 0: any free
    /// port; the URL is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN, value_parser = stack::parse_listen)]
    listen: SocketAddr,
}

/// One demo agent: its name in the database, what its process does.
struct AgentSpec {
    name: &'static str,
    mode: Mode,
    exit_after: Option<Duration>,
    model: &'static str,
    effort: &'static str,
    what: &'static str,
}

const AGENTS: [AgentSpec; 3] = [
    AgentSpec {
        name: "busy-agent",
        mode: Mode::Busy,
        exit_after: None,
        model: "opus",
        effort: "high",
        what: "burns CPU: cpu_ticks rises",
    },
    AgentSpec {
        name: "stuck-agent",
        mode: Mode::Idle,
        exit_after: None,
        model: "sonnet",
        effort: "medium",
        what: "sleeps: a stuck candidate, cpu_ticks flat",
    },
    AgentSpec {
        name: "short-lived-agent",
        mode: Mode::Idle,
        exit_after: Some(SHORT_LIFE),
        model: "haiku",
        effort: "low",
        what: "exits after 5 s: its job stays running with a dead pid, cpu_ticks null",
    },
];

/// Runs `vitals demo`.
pub(crate) async fn run(args: &Args) -> Result<(), CliError> {
    // Before anything is created: a signal from now on stops the demo cleanly.
    let shutdown = stack::shutdown_signal()?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(
            addr = %args.listen,
            "the demo serves its simulated data without authentication on a non-loopback address"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("vitals-demo-")
        .tempdir()
        .map_err(|source| CliError::DemoSetup {
            what: "create a temporary directory",
            source,
        })?;
    let db = dir.path().join("orchestrator.db");
    let mut sim = Simulator::create(&db, SEED).map_err(CliError::Simulator)?;
    let now = Utc::now();
    for i in (1..=WARMUP_STEPS).rev() {
        sim.step(now - chrono::Duration::seconds(i * WARMUP_STEP_S))
            .map_err(CliError::Simulator)?;
    }

    let mut agents = Agents::default();
    let exe = std::env::current_exe().map_err(|source| CliError::DemoSetup {
        what: "find the vitals executable to start the demo agents",
        source,
    })?;
    for spec in &AGENTS {
        let pid = agents.spawn(&exe, spec)?;
        sim.start_agent_job(
            spec.name,
            Some(i64::from(pid)),
            Some(spec.model),
            Some(spec.effort),
        )
        .map_err(CliError::Simulator)?;
    }
    let pids = agents.pids();
    let world = World::start(sim, agents)?;

    let config = StackConfig {
        db: db.clone(),
        proc_root: PathBuf::from(LinuxProc::DEFAULT_ROOT),
        section_timeout: None,
        min_interval: None,
        enabled: true,
        process_metrics: true,
    };
    let app = stack::router(stack::assembler(&config)?, None, "vitals demo")?;
    let (listener, addr) = stack::bind(args.listen).await?;
    tracing::info!(%addr, db = %db.display(), "vitals demo: serving http://{addr}/metrics");
    print_banner(addr, &db, &pids).map_err(CliError::Stdout)?;

    let served = stack::serve(listener, app, shutdown).await;
    world.stop();
    if let Err(error) = dir.close() {
        tracing::warn!(%error, "cannot remove the demo's temporary directory");
    }
    tracing::info!("vitals demo: stopped, agents reaped, database removed");
    served
}

fn print_banner(
    addr: SocketAddr,
    db: &std::path::Path,
    pids: &[(&'static str, u32)],
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "vitals demo: serving http://{addr}/metrics")?;
    writeln!(out, "  curl -s http://{addr}/metrics | jq .")?;
    writeln!(out, "  curl -s 'http://{addr}/metrics?format=openmetrics'")?;
    writeln!(out, "  curl -s 'http://{addr}/metrics?format=prometheus'")?;
    writeln!(out, "agents:")?;
    for (spec, (name, pid)) in AGENTS.iter().zip(pids) {
        writeln!(out, "  {name} (pid {pid}) {}", spec.what)?;
    }
    // The simulator's own jobs: explain the `invalid_pid` notes before a
    // newcomer takes the `degraded` agents section for a bug.
    for line in [
        "  other running jobs are simulated: their pids lie above the kernel's pid_max, so no",
        "  process has them; their process fields are null, the meta section (and the log) lists",
        "  each as invalid_pid and the agents section reads \"degraded\": the collector is honest",
        "  about pids it cannot resolve, as it would be for a real orchestrator",
    ] {
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "database: {} (a simulated orchestrator writes to it every {} ms; removed on exit)",
        db.display(),
        TICK.as_millis()
    )?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()
}

/// The demo's child processes. Dropping it kills and reaps every one of
/// them, so no error path can leave one behind.
#[derive(Debug, Default)]
struct Agents(Vec<Agent>);

#[derive(Debug)]
struct Agent {
    name: &'static str,
    child: Child,
    reaped: bool,
}

impl Agents {
    /// Starts the agent process of `spec` and returns its pid.
    fn spawn(&mut self, exe: &std::path::Path, spec: &AgentSpec) -> Result<u32, CliError> {
        let mut command = Command::new(exe);
        command
            .arg("__agent")
            .arg("--mode")
            .arg(match spec.mode {
                Mode::Busy => "busy",
                Mode::Idle => "idle",
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(after) = spec.exit_after {
            command
                .arg("--exit-after-ms")
                .arg(after.as_millis().to_string());
        }
        let child = command.spawn().map_err(|source| CliError::Spawn {
            agent: spec.name,
            source,
        })?;
        let pid = child.id();
        tracing::debug!(agent = spec.name, pid, "demo agent started");
        self.0.push(Agent {
            name: spec.name,
            child,
            reaped: false,
        });
        Ok(pid)
    }

    fn pids(&self) -> Vec<(&'static str, u32)> {
        self.0.iter().map(|a| (a.name, a.child.id())).collect()
    }

    /// Reaps the agents that exited on their own, so that their pid is
    /// really gone (not a zombie) while the demo runs.
    fn reap_exited(&mut self) {
        for agent in self.0.iter_mut().filter(|a| !a.reaped) {
            match agent.child.try_wait() {
                Ok(Some(status)) => {
                    agent.reaped = true;
                    tracing::info!(
                        agent = agent.name,
                        pid = agent.child.id(),
                        %status,
                        "demo agent exited; its job stays running with a dead pid"
                    );
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(agent = agent.name, %error, "cannot check a demo agent");
                }
            }
        }
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for agent in &mut self.0 {
            // std keeps the child's state: `kill` on a reaped child sends
            // nothing (no risk of hitting a reused pid), `wait` returns the
            // status it already has.
            if let Err(error) = agent.child.kill() {
                tracing::warn!(agent = agent.name, %error, "cannot kill a demo agent");
            }
            if let Err(error) = agent.child.wait() {
                tracing::warn!(agent = agent.name, %error, "cannot reap a demo agent");
            }
        }
    }
}

/// The simulator thread: steps the simulated orchestrator every [`TICK`]
/// and reaps agents that exit. Dropping (or [`stop`](World::stop)ping) it
/// stops the thread, which then kills and reaps the agents it owns.
#[derive(Debug)]
struct World {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl World {
    fn start(sim: Simulator, agents: Agents) -> Result<World, CliError> {
        let (stop, stopped) = mpsc::channel();
        // On failure the closure, and with it the agents, is dropped: they are reaped.
        let thread = std::thread::Builder::new()
            .name("vitals-demo-simulator".into())
            .spawn(move || simulate(sim, agents, &stopped))
            .map_err(|source| CliError::DemoSetup {
                what: "start the simulator thread",
                source,
            })?;
        Ok(World {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the simulator and waits until the agents are reaped.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread at once.
        self.stop.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the simulator thread panicked (its agents were still reaped)");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn simulate(mut sim: Simulator, mut agents: Agents, stop: &mpsc::Receiver<()>) {
    // A message or a dropped sender stops the loop.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(TICK) {
        if let Err(error) = sim.step(Utc::now()) {
            // A step is one transaction; a failed one is rolled back and the
            // next one tries again.
            tracing::warn!(error = %error, "a simulator step failed");
        }
        agents.reap_exited();
    }
    // `agents` drops here: every child is killed and reaped.
}
