//! A small simulated orchestrator for live demos.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::RefDbError;
use crate::files::{create_new_file, remove_database_files};
use crate::schema::create_schema;
use crate::time::sql_ts;
use crate::vocab::{
    ACTIVE_STAGES, AGENTS, EFFORTS, ERRORS, MODELS, PID_MAX_LIMIT, REPOS, Usage, chance, one_in,
    pick, pick_index,
};

/// At most this many tasks are active at once (tasks holding a pinned job
/// are not counted).
const MAX_ACTIVE_TASKS: i64 = 8;
/// At most this many simulated jobs run at once (pinned jobs come on top).
const MAX_RUNNING: usize = 3;
/// Terminal tasks kept; older ones are deleted with their jobs and runs.
const KEEP_TERMINAL_TASKS: i64 = 24;
/// How long a writer waits for a reader's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Simulated pids cycle through this many values above [`PID_MAX_LIMIT`].
const FAKE_PIDS: i64 = 1_000_000;

/// What one [`Simulator::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepReport {
    /// New tasks (stage `queued`).
    pub tasks_created: u64,
    /// Tasks moved to the next active stage.
    pub stage_moves: u64,
    /// Jobs inserted with status `queued`.
    pub jobs_queued: u64,
    /// Queued jobs that started (status `running`, a new unfinished run).
    pub jobs_started: u64,
    /// Running jobs that finished successfully (status `done`).
    pub jobs_done: u64,
    /// Running jobs that failed and were requeued with `attempts + 1`.
    pub jobs_retried: u64,
    /// Running jobs that failed for good (status `failed`).
    pub jobs_failed: u64,
    /// Queued or running jobs cancelled with their task.
    pub jobs_cancelled: u64,
    /// Tasks that reached `done`.
    pub tasks_done: u64,
    /// Tasks that were cancelled.
    pub tasks_cancelled: u64,
    /// Old terminal tasks deleted, with their jobs and runs, to keep the
    /// database small.
    pub tasks_pruned: u64,
}

/// A simulated orchestrator writing plausible life into its own database.
///
/// Each [`step`](Simulator::step) is one tick: tasks arrive and move through
/// the stages, jobs are queued, started (with an unfinished `agent_runs`
/// row), retried after failures and finished (the run then gets its cost and
/// tokens: costs accrue on finish), tasks end `done` or `cancelled`. The
/// database stays small (tens of rows): old terminal tasks are pruned with
/// their jobs and runs, so the aggregate cost can drop when they go, like a
/// counter reset.
///
/// Jobs started with [`start_agent_job`](Simulator::start_agent_job) carry a
/// caller's pid (a real process, for a live `agents` section) and are never
/// finished or cancelled by `step`, only by
/// [`finish_job`](Simulator::finish_job).
///
/// The connection is read-write, in WAL mode with a busy timeout, so a
/// read-only collector can read while it writes; each tick is one short
/// transaction. With the same seed and the same sequence of `now`, the
/// simulation is the same.
#[derive(Debug)]
pub struct Simulator {
    conn: Connection,
    rng: SmallRng,
    /// Pinned job id -> its task id.
    pinned: BTreeMap<i64, i64>,
    next_pid: i64,
    /// Ids are assigned here rather than by SQLite so that pruning can never
    /// make one be reused: ids stay append-style.
    next_task_id: i64,
    next_job_id: i64,
    next_run_id: i64,
}

impl Simulator {
    /// Creates a new database at `path` with the reference schema (indexes
    /// included) in WAL mode, and a simulator over it, seeded with `seed`.
    ///
    /// The database starts empty; call [`step`](Simulator::step) to bring it
    /// to life.
    ///
    /// # Errors
    ///
    /// [`RefDbError::AlreadyExists`] when `path` exists (it is left untouched),
    /// [`RefDbError::Io`] when it cannot be created, [`RefDbError::Sqlite`]
    /// when opening or creating the schema fails (the new file is removed).
    pub fn create(path: &Path, seed: u64) -> Result<Self, RefDbError> {
        create_new_file(path)?;
        let open = || -> Result<Connection, RefDbError> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let _mode: String =
                conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
            create_schema(&conn, true)?;
            Ok(conn)
        };
        match open() {
            Ok(conn) => Ok(Simulator {
                conn,
                rng: SmallRng::seed_from_u64(seed),
                pinned: BTreeMap::new(),
                next_pid: 0,
                next_task_id: 1,
                next_job_id: 1,
                next_run_id: 1,
            }),
            Err(err) => {
                remove_database_files(path);
                Err(err)
            }
        }
    }

    /// One tick of life at `now`, in one transaction: running jobs that
    /// started before `now` may finish (done, or failed and requeued with
    /// `attempts + 1` while attempts remain, else failed); queued jobs start
    /// while fewer than three simulated jobs run; active tasks queue a job for
    /// their stage, move to the next stage once it is done, or are cancelled;
    /// new tasks arrive; old terminal tasks are pruned.
    ///
    /// # Errors
    ///
    /// [`RefDbError::Sqlite`] when a statement fails (the tick is rolled back).
    pub fn step(&mut self, now: DateTime<Utc>) -> Result<StepReport, RefDbError> {
        let at = sql_ts(now.timestamp());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tick = Tick {
            tx: &tx,
            rng: &mut self.rng,
            pinned: &self.pinned,
            next_pid: &mut self.next_pid,
            next_task_id: &mut self.next_task_id,
            next_job_id: &mut self.next_job_id,
            next_run_id: &mut self.next_run_id,
            at: &at,
            report: StepReport::default(),
        };
        tick.end_running_jobs()?;
        tick.start_queued_jobs()?;
        tick.advance_tasks()?;
        tick.arrive()?;
        tick.prune()?;
        let report = tick.report;
        tx.commit()?;
        Ok(report)
    }

    /// [`start_agent_job_at`](Simulator::start_agent_job_at) at the wall
    /// clock's [`Utc::now`], which is what a live demo pinning a real process
    /// wants.
    ///
    /// # Errors
    ///
    /// [`RefDbError::Sqlite`] when a statement fails.
    pub fn start_agent_job(
        &mut self,
        agent: &str,
        pid: Option<i64>,
        model: Option<&str>,
        effort: Option<&str>,
    ) -> Result<i64, RefDbError> {
        self.start_agent_job_at(Utc::now(), agent, pid, model, effort)
    }

    /// Inserts a running job for `agent` with `pid` (for example a real child
    /// process of the demo), started at `now`, with an unfinished run, on a
    /// new task in stage `implementation`, and returns the job id.
    ///
    /// The job is pinned: [`step`](Simulator::step) never finishes or
    /// cancels it, nor touches its task; only
    /// [`finish_job`](Simulator::finish_job) ends it.
    ///
    /// # Errors
    ///
    /// [`RefDbError::Sqlite`] when a statement fails.
    pub fn start_agent_job_at(
        &mut self,
        now: DateTime<Utc>,
        agent: &str,
        pid: Option<i64>,
        model: Option<&str>,
        effort: Option<&str>,
    ) -> Result<i64, RefDbError> {
        let at = sql_ts(now.timestamp());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let task_id = self.next_task_id;
        let job_id = self.next_job_id;
        let run_id = self.next_run_id;
        tx.execute(
            "INSERT INTO tasks (id, work_item_id, repo, stage, stage_entered_at, created_at, updated_at)
             VALUES (?1, ?2, 'demo/live', 'implementation', ?3, ?3, ?3)",
            params![task_id, format!("LIVE-{task_id:05}"), at],
        )?;
        tx.execute(
            "INSERT INTO jobs (id, task_id, repo, agent, status, attempts, max_attempts, pid,
                 model, effort, created_at, started_at)
             VALUES (?1, ?2, 'demo/live', ?3, 'running', 0, 3, ?4, ?5, ?6, ?7, ?7)",
            params![job_id, task_id, agent, pid, model, effort, at],
        )?;
        tx.execute(
            "INSERT INTO agent_runs (id, job_id, agent, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![run_id, job_id, agent, at],
        )?;
        tx.commit()?;
        self.next_task_id += 1;
        self.next_job_id += 1;
        self.next_run_id += 1;
        self.pinned.insert(job_id, task_id);
        Ok(job_id)
    }

    /// [`finish_job_at`](Simulator::finish_job_at) at the wall clock's
    /// [`Utc::now`].
    ///
    /// # Errors
    ///
    /// As [`finish_job_at`](Simulator::finish_job_at).
    pub fn finish_job(&mut self, job_id: i64) -> Result<(), RefDbError> {
        self.finish_job_at(Utc::now(), job_id)
    }

    /// Finishes a running job at `now`: status `done`, `finished_at` set, pid
    /// cleared, and its latest run finished with a cost and token counts.
    /// Works for pinned and simulated jobs alike; a pinned job is unpinned,
    /// and its task then goes on living under [`step`](Simulator::step).
    ///
    /// # Errors
    ///
    /// [`RefDbError::UnknownJob`] when there is no such job,
    /// [`RefDbError::JobNotRunning`] when it is not running,
    /// [`RefDbError::Sqlite`] when a statement fails.
    pub fn finish_job_at(&mut self, now: DateTime<Utc>, job_id: i64) -> Result<(), RefDbError> {
        let at = sql_ts(now.timestamp());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| {
                row.get(0)
            })
            .optional()?;
        match status {
            None => return Err(RefDbError::UnknownJob { job_id }),
            Some(status) if status != "running" => {
                return Err(RefDbError::JobNotRunning { job_id, status });
            }
            Some(_) => {}
        }
        finish_latest_run(&tx, job_id, &at, &Usage::draw(&mut self.rng))?;
        tx.execute(
            "UPDATE jobs SET status = 'done', finished_at = ?2, pid = NULL WHERE id = ?1",
            params![job_id, at],
        )?;
        tx.commit()?;
        self.pinned.remove(&job_id);
        Ok(())
    }

    /// The ids of the jobs started with
    /// [`start_agent_job`](Simulator::start_agent_job) and not yet finished,
    /// ascending.
    pub fn pinned_jobs(&self) -> impl Iterator<Item = i64> + '_ {
        self.pinned.keys().copied()
    }
}

/// Gives the latest run of `job_id` its finish time and usage, if unfinished.
fn finish_latest_run(
    conn: &Connection,
    job_id: i64,
    at: &str,
    usage: &Usage,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE agent_runs SET finished_at = ?2, cost_usd = ?3, input_tokens = ?4,
             output_tokens = ?5, cache_read_tokens = ?6, cache_creation_tokens = ?7
         WHERE id = (SELECT MAX(id) FROM agent_runs WHERE job_id = ?1) AND finished_at IS NULL",
        params![
            job_id,
            at,
            usage.cost_usd,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_creation_tokens,
        ],
    )
}

/// One tick's state: the transaction and the simulator's fields it advances.
struct Tick<'a, 'c> {
    tx: &'a Transaction<'c>,
    rng: &'a mut SmallRng,
    pinned: &'a BTreeMap<i64, i64>,
    next_pid: &'a mut i64,
    next_task_id: &'a mut i64,
    next_job_id: &'a mut i64,
    next_run_id: &'a mut i64,
    at: &'a str,
    report: StepReport,
}

impl Tick<'_, '_> {
    fn is_pinned_task(&self, task_id: i64) -> bool {
        self.pinned.values().any(|&t| t == task_id)
    }

    /// Running, unpinned jobs started before now: some finish.
    fn end_running_jobs(&mut self) -> Result<(), RefDbError> {
        let running: Vec<(i64, i64, i64)> = self
            .tx
            .prepare_cached(
                "SELECT id, attempts, max_attempts FROM jobs
                 WHERE status = 'running' AND started_at < ?1 ORDER BY id",
            )?
            .query_map([self.at], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (job_id, attempts, max_attempts) in running {
            if self.pinned.contains_key(&job_id) || !chance(self.rng, 30) {
                continue;
            }
            finish_latest_run(self.tx, job_id, self.at, &Usage::draw(self.rng))?;
            if chance(self.rng, 80) {
                self.tx.execute(
                    "UPDATE jobs SET status = 'done', finished_at = ?2, pid = NULL WHERE id = ?1",
                    params![job_id, self.at],
                )?;
                self.report.jobs_done += 1;
            } else if attempts + 1 < max_attempts {
                self.tx.execute(
                    "UPDATE jobs SET status = 'queued', attempts = attempts + 1, pid = NULL,
                         started_at = NULL, last_error = ?2
                     WHERE id = ?1",
                    params![job_id, pick(self.rng, &ERRORS)],
                )?;
                self.report.jobs_retried += 1;
            } else {
                self.tx.execute(
                    "UPDATE jobs SET status = 'failed', finished_at = ?2, pid = NULL,
                         last_error = ?3
                     WHERE id = ?1",
                    params![job_id, self.at, pick(self.rng, &ERRORS)],
                )?;
                self.report.jobs_failed += 1;
            }
        }
        Ok(())
    }

    /// Queued jobs start, oldest first, while there is room.
    fn start_queued_jobs(&mut self) -> Result<(), RefDbError> {
        let running: Vec<i64> = self
            .tx
            .prepare_cached("SELECT id FROM jobs WHERE status = 'running'")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let simulated = running
            .iter()
            .filter(|id| !self.pinned.contains_key(id))
            .count();
        let room = MAX_RUNNING.saturating_sub(simulated);
        let queued: Vec<(i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT id, agent FROM jobs WHERE status = 'queued' ORDER BY id LIMIT ?1",
            )?
            .query_map([room as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (job_id, agent) in queued {
            let pid = PID_MAX_LIMIT + 1 + *self.next_pid;
            *self.next_pid = (*self.next_pid + 1) % FAKE_PIDS;
            self.tx.execute(
                "UPDATE jobs SET status = 'running', started_at = ?2, pid = ?3 WHERE id = ?1",
                params![job_id, self.at, pid],
            )?;
            self.tx.execute(
                "INSERT INTO agent_runs (id, job_id, agent, started_at) VALUES (?1, ?2, ?3, ?4)",
                params![*self.next_run_id, job_id, agent, self.at],
            )?;
            *self.next_run_id += 1;
            self.report.jobs_started += 1;
        }
        Ok(())
    }

    /// Each unpinned active task: rarely cancelled; otherwise `queued` moves
    /// to `analysis`, and a task in a working stage queues a job for it,
    /// waits for that job, moves on once it is done, or gives up when it
    /// failed.
    fn advance_tasks(&mut self) -> Result<(), RefDbError> {
        let tasks: Vec<(i64, String, String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT id, stage, stage_entered_at, repo FROM tasks
                 WHERE stage NOT IN ('done', 'cancelled') ORDER BY id",
            )?
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        for (task_id, stage, entered, repo) in tasks {
            if self.is_pinned_task(task_id) {
                continue;
            }
            if one_in(self.rng, 300) {
                self.cancel_task(task_id)?;
                continue;
            }
            if stage == "queued" {
                if chance(self.rng, 50) {
                    self.move_task(task_id, "analysis")?;
                    self.report.stage_moves += 1;
                }
                continue;
            }
            // The latest job queued since the task entered this stage.
            let latest: Option<String> = self
                .tx
                .prepare_cached(
                    "SELECT status FROM jobs WHERE task_id = ?1 AND created_at >= ?2
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![task_id, entered], |row| row.get(0))
                .optional()?;
            match latest.as_deref() {
                None => {
                    if chance(self.rng, 60) {
                        self.queue_job(task_id, repo.as_deref())?;
                    }
                }
                Some("queued" | "running") => {}
                Some("done") => {
                    if chance(self.rng, 70) {
                        let next = ACTIVE_STAGES
                            .iter()
                            .skip_while(|s| **s != stage)
                            .nth(1)
                            .copied();
                        match next {
                            Some(next) => {
                                self.move_task(task_id, next)?;
                                self.report.stage_moves += 1;
                            }
                            None => {
                                self.move_task(task_id, "done")?;
                                self.report.tasks_done += 1;
                            }
                        }
                    }
                }
                Some(_) => self.cancel_task(task_id)?,
            }
        }
        Ok(())
    }

    fn move_task(&mut self, task_id: i64, stage: &str) -> Result<(), RefDbError> {
        self.tx.execute(
            "UPDATE tasks SET stage = ?2, stage_entered_at = ?3, updated_at = ?3 WHERE id = ?1",
            params![task_id, stage, self.at],
        )?;
        Ok(())
    }

    fn queue_job(&mut self, task_id: i64, repo: Option<&str>) -> Result<(), RefDbError> {
        let agent = pick_index::<2>(self.rng);
        let model = pick(self.rng, MODELS.get(agent).unwrap_or(&MODELS[0]));
        self.tx.execute(
            "INSERT INTO jobs (id, task_id, repo, agent, status, attempts, max_attempts, model,
                 effort, created_at)
             VALUES (?1, ?2, ?3, ?4, 'queued', 0, 3, ?5, ?6, ?7)",
            params![
                *self.next_job_id,
                task_id,
                repo,
                AGENTS.get(agent).copied(),
                model,
                pick(self.rng, &EFFORTS),
                self.at,
            ],
        )?;
        *self.next_job_id += 1;
        self.report.jobs_queued += 1;
        Ok(())
    }

    /// Cancels a task and its queued and running jobs (a running job's run
    /// finishes with the cost it accrued).
    fn cancel_task(&mut self, task_id: i64) -> Result<(), RefDbError> {
        let open: Vec<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM jobs WHERE task_id = ?1 AND status IN ('queued', 'running')
                 ORDER BY id",
            )?
            .query_map([task_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for job_id in open {
            finish_latest_run(self.tx, job_id, self.at, &Usage::draw(self.rng))?;
            self.tx.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?2, pid = NULL WHERE id = ?1",
                params![job_id, self.at],
            )?;
            self.report.jobs_cancelled += 1;
        }
        self.move_task(task_id, "cancelled")?;
        self.report.tasks_cancelled += 1;
        Ok(())
    }

    /// A new task arrives now and then while there is room.
    fn arrive(&mut self) -> Result<(), RefDbError> {
        let active: i64 = self.tx.query_row(
            "SELECT COUNT(*) FROM tasks WHERE stage NOT IN ('done', 'cancelled')",
            [],
            |row| row.get(0),
        )?;
        let pinned_tasks = self.pinned.len() as i64;
        if active - pinned_tasks >= MAX_ACTIVE_TASKS || !chance(self.rng, 40) {
            return Ok(());
        }
        let id = *self.next_task_id;
        self.tx.execute(
            "INSERT INTO tasks (id, work_item_id, repo, stage, stage_entered_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?4, ?4)",
            params![id, format!("WI-{id:05}"), pick(self.rng, &REPOS), self.at],
        )?;
        *self.next_task_id += 1;
        self.report.tasks_created += 1;
        Ok(())
    }

    /// Deletes terminal tasks beyond the newest [`KEEP_TERMINAL_TASKS`], with
    /// their jobs and runs.
    fn prune(&mut self) -> Result<(), RefDbError> {
        let old: Vec<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM tasks WHERE stage IN ('done', 'cancelled')
                 ORDER BY id DESC LIMIT -1 OFFSET ?1",
            )?
            .query_map([KEEP_TERMINAL_TASKS], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for task_id in old {
            self.tx.execute(
                "DELETE FROM agent_runs WHERE job_id IN (SELECT id FROM jobs WHERE task_id = ?1)",
                [task_id],
            )?;
            self.tx
                .execute("DELETE FROM jobs WHERE task_id = ?1", [task_id])?;
            self.tx
                .execute("DELETE FROM tasks WHERE id = ?1", [task_id])?;
            self.report.tasks_pruned += 1;
        }
        Ok(())
    }
}
