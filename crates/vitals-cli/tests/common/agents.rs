//! Real agent processes for end-to-end tests: a child that burns a core and
//! one that sleeps, as the running jobs of a generated database.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::{gen_db, vitals};

/// A child process killed and reaped when dropped.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A demo agent process (`vitals __agent --mode MODE`), output discarded.
pub(crate) fn agent(mode: &str) -> Process {
    let child = vitals()
        .args(["__agent", "--mode", mode])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
}

/// A generated database whose two running jobs are real processes:
/// `busy-agent` (a child burning a core) and `sleepy-agent` (a sleeping one),
/// both started just now.
pub(crate) struct RealAgents {
    /// The child that burns a core.
    pub(crate) busy: Process,
    /// The child that sleeps.
    pub(crate) sleeper: Process,
    /// The database, in the directory the fixture was given.
    pub(crate) db: PathBuf,
}

/// Starts the two children and writes `NAME` in `dir` with them as its
/// running jobs (the test plays the orchestrator).
pub(crate) fn real_agents(dir: &Path, name: &str) -> RealAgents {
    let busy = agent("busy");
    let sleeper = agent("idle");
    // The premise is a child that really burns a core. On a machine loaded
    // by unrelated work (parallel builds) it would get less; where allowed
    // (root, as in CI), raise its priority so it does. Best effort.
    let _ = std::process::Command::new("renice")
        .args(["-n", "-10", "-p", &busy.0.id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let db = gen_db(
        dir,
        name,
        &[
            "--tasks",
            "10",
            "--active-tasks",
            "2",
            "--jobs",
            "10",
            "--runs",
            "10",
            "--running",
            "2",
            "--queued",
            "1",
        ],
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM jobs WHERE status = 'running' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 2);
    for (id, (name, process)) in ids
        .iter()
        .zip([("busy-agent", &busy), ("sleepy-agent", &sleeper)])
    {
        conn.execute(
            "UPDATE jobs SET agent = ?1, pid = ?2, started_at = datetime('now') WHERE id = ?3",
            rusqlite::params![name, process.0.id(), id],
        )
        .unwrap();
    }
    RealAgents { busy, sleeper, db }
}
