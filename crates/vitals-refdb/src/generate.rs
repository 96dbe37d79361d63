//! The deterministic database generator.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, Statement, params};

use crate::files::{create_new_file, remove_database_files};
use crate::schema::{TABLES_SQL, create_indexes};
use crate::time::sql_ts;
use crate::vocab::{
    ACTIVE_STAGES, AGENTS, EFFORTS, ERRORS, MODELS, REPOS, Usage, chance, pick, pick_index,
};
use crate::{GenOptions, RefDbError, Shape, Summary};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// History (terminal tasks and jobs) is created over this many seconds...
const HISTORY_SPAN: i64 = 90 * DAY;
/// ...ending this long before `now`, so that every history run has finished.
const HISTORY_ENDS_BEFORE_NOW: i64 = 2 * DAY;
/// Active tasks are created between these two offsets before `now`.
const ACTIVE_TASKS_FROM: i64 = 2 * DAY;
const ACTIVE_TASKS_TO: i64 = 6 * HOUR;
/// `max_attempts` of every generated job (raised for a job whose shape forces
/// more attempts).
const MAX_ATTEMPTS: i64 = 3;
/// Salt for the active-work random stream, so that it is independent of the
/// history stream.
const ACTIVE_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

/// Writes a new reference database at `path` with the rows `opts` describes.
///
/// The rows are a deterministic function of `opts.shape`, `opts.seed`,
/// `opts.now` (to the second) and the pids (`opts.pid_max`, `opts.pids`:
/// each running job's pid, in id order, is the next of `opts.pids`, then
/// the next below `opts.pid_max` counting down and skipping those; see
/// [`GenOptions::pid_max`]). Ids are append-style: in every table the
/// integer primary key ascends with `created_at` (`started_at` for
/// `agent_runs`). History lies between 92 and 2 days before `now`; active
/// tasks were created between 2 days and 6 hours before it; running and queued
/// jobs within the last hour or so. The active work is drawn from its own
/// random stream, so it is the same whatever the history size (only its ids
/// shift). See [`Shape`] for exactly what the counts produce.
///
/// Everything is written in one transaction with journaling and syncing off;
/// the indexes are created afterwards, then the journal mode is set to WAL if
/// `opts.wal`. On failure the partly written file is removed.
///
/// # Errors
///
/// - [`RefDbError::InvalidShape`] when the shape is inconsistent (nothing is
///   created);
/// - [`RefDbError::InvalidPids`] when a pid in `opts.pids` is not below
///   `opts.pid_max`, there are more of them than running jobs, or too few
///   pids are left below `opts.pid_max` (nothing is created);
/// - [`RefDbError::AlreadyExists`] when `path` exists (it is left untouched);
/// - [`RefDbError::Io`] when the file cannot be created;
/// - [`RefDbError::Sqlite`] when writing fails.
pub fn generate(path: &Path, opts: &GenOptions) -> Result<Summary, RefDbError> {
    let started = Instant::now();
    opts.shape.validate()?;
    let pids = opts.running_pids()?;
    create_new_file(path)?;
    match write(path, opts, pids) {
        Ok(mut summary) => {
            summary.elapsed = started.elapsed();
            Ok(summary)
        }
        Err(err) => {
            remove_database_files(path);
            Err(err)
        }
    }
}

/// The terminal outcome of a history job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed,
    Cancelled,
}

impl Outcome {
    fn status(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One `agent_runs` row before ids are assigned (rows are sorted by start).
#[derive(Debug, Clone, Copy)]
struct RunRec {
    start: i64,
    job_id: i64,
    /// Seconds the run took; 0 for an unfinished run.
    duration: u32,
    agent: u8,
    /// Belongs to an active job: its usage comes from the active stream.
    active: bool,
}

/// A running or queued job before ids are assigned.
#[derive(Debug)]
struct ActiveJob {
    created: i64,
    running: bool,
    attempts: i64,
    started: Option<i64>,
    last_error: Option<&'static str>,
    agent: usize,
    model: &'static str,
    effort: &'static str,
    /// (start, duration) of each run, oldest first; duration 0 = unfinished.
    runs: Vec<(i64, u32)>,
}

/// An active task before it is written.
#[derive(Debug, Clone, Copy)]
struct ActiveTask {
    created: i64,
    entered: i64,
    repo: usize,
    stage: &'static str,
}

/// Per-task facts gathered before tasks are written.
#[derive(Debug, Clone, Copy)]
struct TaskFacts {
    created: i64,
    repo: usize,
    /// Time of the last job event (finish or cancel), if any job.
    last_activity: Option<i64>,
    /// Outcome of the task's last job, if any job.
    last_outcome: Option<Outcome>,
}

fn write(path: &Path, opts: &GenOptions, pids: Vec<i64>) -> Result<Summary, RefDbError> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    let tx = conn.transaction()?;
    tx.execute_batch(TABLES_SQL)?;
    let summary = Writer::new(opts, pids).run(&tx)?;
    tx.commit()?;
    if opts.indexes {
        create_indexes(&conn)?;
    }
    if opts.wal {
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    }
    conn.close().map_err(|(_, err)| err)?;
    Ok(summary)
}

/// The generation state: the two random streams, the pids of the running
/// jobs and the running totals.
#[derive(Debug)]
struct Writer<'a> {
    shape: &'a Shape,
    now: i64,
    history: SmallRng,
    active: SmallRng,
    /// The pid of each running job, in id order.
    pids: Vec<i64>,
    summary: Summary,
}

impl<'a> Writer<'a> {
    fn new(opts: &'a GenOptions, pids: Vec<i64>) -> Self {
        Writer {
            pids,
            shape: &opts.shape,
            now: opts.now.timestamp(),
            history: SmallRng::seed_from_u64(opts.seed),
            active: SmallRng::seed_from_u64(opts.seed ^ ACTIVE_STREAM),
            summary: Summary {
                tasks: 0,
                active_tasks: 0,
                jobs: 0,
                queued: 0,
                queued_with_retries: 0,
                running: 0,
                done: 0,
                failed: 0,
                cancelled: 0,
                runs: 0,
                unfinished_runs: 0,
                elapsed: Duration::ZERO,
            },
        }
    }

    fn run(mut self, conn: &Connection) -> Result<Summary, RefDbError> {
        let shape = *self.shape;
        let history_tasks = shape.tasks - shape.active_tasks;
        let history_jobs = shape.jobs - shape.running - shape.queued;
        let history_runs = shape.runs - shape.active_runs();

        let mut tasks = self.plan_history_tasks(history_tasks);
        let outcomes = self.plan_history_jobs(history_jobs, history_runs);
        let active_tasks = self.plan_active_tasks();
        let active_jobs = self.plan_active_jobs();

        // Reserve up front, but not absurdly much for an absurd shape.
        let mut runs = Vec::with_capacity(usize::try_from(shape.runs.min(1 << 24)).unwrap_or(0));
        self.write_history_jobs(conn, &outcomes, &mut tasks, &mut runs)?;
        drop(outcomes);
        self.write_active_jobs(conn, active_jobs, history_tasks, &active_tasks, &mut runs)?;
        self.write_tasks(conn, &tasks, &active_tasks)?;
        drop(tasks);
        self.write_runs(conn, runs)?;
        Ok(self.summary)
    }

    /// Creation time and repo of each history task.
    fn plan_history_tasks(&mut self, count: u64) -> Vec<TaskFacts> {
        let start = self.now - HISTORY_ENDS_BEFORE_NOW - HISTORY_SPAN;
        (0..count)
            .map(|i| TaskFacts {
                created: spread(&mut self.history, i, count, start, HISTORY_SPAN),
                repo: pick_index::<6>(&mut self.history),
                last_activity: None,
                last_outcome: None,
            })
            .collect()
    }

    /// The outcome and run count of each history job, summing to `runs` runs.
    fn plan_history_jobs(&mut self, count: u64, runs: u64) -> Vec<(Outcome, u32)> {
        let rng = &mut self.history;
        let mut plan: Vec<(Outcome, u32)> = (0..count)
            .map(|_| match rng.random_range(0..100) {
                0..6 => (Outcome::Failed, 1),
                6..12 => (Outcome::Cancelled, 0),
                _ => (Outcome::Done, 1),
            })
            .collect();
        let mut started = plan.iter().filter(|(_, n)| *n > 0).count() as u64;
        if started == 0 && runs > 0 {
            // Only possible for tiny shapes: someone has to carry the runs.
            if let Some(first) = plan.first_mut() {
                *first = (Outcome::Done, 1);
                started = 1;
            }
        }
        if runs < started {
            // Fewer runs than started jobs: that many never started. Selection
            // sampling picks exactly `started - runs` of them, uniformly.
            let mut to_cancel = started - runs;
            let mut left = started;
            for job in plan.iter_mut().filter(|(_, n)| *n > 0) {
                if rng.random_range(0..left) < to_cancel {
                    *job = (Outcome::Cancelled, 0);
                    to_cancel -= 1;
                }
                left -= 1;
            }
        } else {
            // More runs than started jobs: the rest are retries.
            let starters: Vec<usize> = plan
                .iter()
                .enumerate()
                .filter_map(|(i, (_, n))| (*n > 0).then_some(i))
                .collect();
            for _ in 0..runs - started {
                let i = rng.random_range(0..starters.len().max(1));
                if let Some(job) = starters.get(i).and_then(|&j| plan.get_mut(j)) {
                    job.1 = job.1.saturating_add(1);
                }
            }
        }
        plan
    }

    fn write_history_jobs(
        &mut self,
        conn: &Connection,
        plan: &[(Outcome, u32)],
        tasks: &mut [TaskFacts],
        runs: &mut Vec<RunRec>,
    ) -> Result<(), RefDbError> {
        let mut insert = insert_job(conn)?;
        let count = plan.len() as u64;
        let start = self.now - HISTORY_ENDS_BEFORE_NOW - HISTORY_SPAN;
        let rng = &mut self.history;
        for (j, &(outcome, run_count)) in plan.iter().enumerate() {
            let job_id = j as i64 + 1;
            let mut created = spread(rng, j as u64, count, start, HISTORY_SPAN);
            // Jobs follow tasks in time: job j belongs to task j * T / J.
            let task = (!tasks.is_empty())
                .then(|| (j as u128 * tasks.len() as u128 / u128::from(count.max(1))) as usize);
            let task_facts = task.and_then(|t| tasks.get_mut(t));
            let repo = match &task_facts {
                Some(facts) => {
                    created = created.max(facts.created);
                    facts.repo
                }
                None => pick_index::<6>(rng),
            };
            let agent = pick_index::<2>(rng);
            let model = pick(rng, MODELS.get(agent).unwrap_or(&MODELS[0]));
            let effort = pick(rng, &EFFORTS);

            let (started, finished, last_error) = if run_count == 0 {
                (None, created + rng.random_range(MINUTE..2 * HOUR), None)
            } else {
                let mut t = created + rng.random_range(5..10 * MINUTE);
                let mut last = (t, t);
                for _ in 0..run_count {
                    let duration = rng.random_range(2 * MINUTE..45 * MINUTE);
                    runs.push(RunRec {
                        start: t,
                        job_id,
                        duration: duration as u32,
                        agent: agent as u8,
                        active: false,
                    });
                    last = (t, t + duration);
                    t += duration + rng.random_range(30..5 * MINUTE);
                }
                let error = (outcome == Outcome::Failed).then(|| pick(rng, &ERRORS));
                (Some(last.0), last.1, error)
            };
            let attempts = i64::from(run_count.saturating_sub(1));
            if let Some(facts) = task_facts {
                facts.last_activity = Some(finished);
                facts.last_outcome = Some(outcome);
            }
            insert.execute(params![
                job_id,
                task.map(|t| t as i64 + 1),
                REPOS.get(repo).copied(),
                AGENTS.get(agent).copied(),
                outcome.status(),
                attempts,
                MAX_ATTEMPTS.max(attempts + 1),
                None::<i64>,
                model,
                effort,
                sql_ts(created),
                started.map(sql_ts),
                sql_ts(finished),
                last_error,
            ])?;
            match outcome {
                Outcome::Done => self.summary.done += 1,
                Outcome::Failed => self.summary.failed += 1,
                Outcome::Cancelled => self.summary.cancelled += 1,
            }
            self.summary.jobs += 1;
        }
        Ok(())
    }

    /// Running and queued jobs, from the active stream only, sorted by
    /// creation time.
    fn plan_active_jobs(&mut self) -> Vec<ActiveJob> {
        let now = self.now;
        let rng = &mut self.active;
        let mut jobs = Vec::new();
        for i in 0..self.shape.running {
            let attempts = i64::from(i % 4 == 3);
            let current = now - rng.random_range(30..30 * MINUTE);
            let mut runs = vec![(current, 0)];
            let mut first = current;
            let mut last_error = None;
            if attempts > 0 {
                let end = current - rng.random_range(10..2 * MINUTE);
                let duration = rng.random_range(MINUTE..15 * MINUTE);
                first = end - duration;
                runs.insert(0, (first, duration as u32));
                last_error = Some(pick(rng, &ERRORS));
            }
            let agent = pick_index::<2>(rng);
            jobs.push(ActiveJob {
                created: first - rng.random_range(5..2 * MINUTE),
                running: true,
                attempts,
                started: Some(current),
                last_error,
                agent,
                model: pick(rng, MODELS.get(agent).unwrap_or(&MODELS[0])),
                effort: pick(rng, &EFFORTS),
                runs,
            });
        }
        for i in 0..self.shape.queued {
            let attempts = if i % 2 == 0 {
                1 + (i / 2 % 2) as i64
            } else {
                0
            };
            let mut runs = Vec::new();
            let mut first = now - rng.random_range(10..10 * MINUTE);
            let mut last_error = None;
            if attempts > 0 {
                let mut end = now - rng.random_range(10..5 * MINUTE);
                for _ in 0..attempts {
                    let duration = rng.random_range(MINUTE..15 * MINUTE);
                    first = end - duration;
                    runs.insert(0, (first, duration as u32));
                    end = first - rng.random_range(10..2 * MINUTE);
                }
                last_error = Some(pick(rng, &ERRORS));
            }
            let agent = pick_index::<2>(rng);
            jobs.push(ActiveJob {
                created: first - rng.random_range(5..2 * MINUTE),
                running: false,
                attempts,
                started: None,
                last_error,
                agent,
                model: pick(rng, MODELS.get(agent).unwrap_or(&MODELS[0])),
                effort: pick(rng, &EFFORTS),
                runs,
            });
        }
        // Stable: equal creation times keep running-before-queued order.
        jobs.sort_by_key(|job| job.created);
        jobs
    }

    /// Writes the active jobs after the history ones; active job `m` belongs
    /// to active task `m % active_tasks`.
    fn write_active_jobs(
        &mut self,
        conn: &Connection,
        jobs: Vec<ActiveJob>,
        history_tasks: u64,
        tasks: &[ActiveTask],
        runs: &mut Vec<RunRec>,
    ) -> Result<(), RefDbError> {
        let mut insert = insert_job(conn)?;
        let first_id = self.summary.jobs as i64 + 1;
        let mut pids = std::mem::take(&mut self.pids).into_iter();
        for (m, job) in jobs.into_iter().enumerate() {
            let job_id = first_id + m as i64;
            let pid = if job.running { pids.next() } else { None };
            let task = m.checked_rem(tasks.len());
            let task_id = task.map(|k| (history_tasks + k as u64) as i64 + 1);
            let repo = match task.and_then(|k| tasks.get(k)) {
                Some(task) => REPOS.get(task.repo).copied(),
                None => Some(pick(&mut self.active, &REPOS)),
            };
            for &(start, duration) in &job.runs {
                runs.push(RunRec {
                    start,
                    job_id,
                    duration,
                    agent: job.agent as u8,
                    active: true,
                });
            }
            insert.execute(params![
                job_id,
                task_id,
                repo,
                AGENTS.get(job.agent).copied(),
                if job.running { "running" } else { "queued" },
                job.attempts,
                MAX_ATTEMPTS,
                pid,
                job.model,
                job.effort,
                sql_ts(job.created),
                job.started.map(sql_ts),
                None::<String>,
                job.last_error,
            ])?;
            if job.running {
                self.summary.running += 1;
            } else {
                self.summary.queued += 1;
                if job.attempts > 0 {
                    self.summary.queued_with_retries += 1;
                }
            }
            self.summary.jobs += 1;
        }
        Ok(())
    }

    /// Active tasks, from the active stream only.
    fn plan_active_tasks(&mut self) -> Vec<ActiveTask> {
        let rng = &mut self.active;
        let count = self.shape.active_tasks;
        let active_jobs = self.shape.running.saturating_add(self.shape.queued);
        let from = self.now - ACTIVE_TASKS_FROM;
        let latest = self.now - 5 * MINUTE;
        (0..count)
            .map(|k| {
                let created = spread(rng, k, count, from, ACTIVE_TASKS_FROM - ACTIVE_TASKS_TO);
                // A task with a running or queued job is past `queued`.
                let stage = if k < active_jobs {
                    ACTIVE_STAGES.get(1 + pick_index::<4>(rng))
                } else {
                    ACTIVE_STAGES.get(pick_index::<5>(rng))
                };
                ActiveTask {
                    created,
                    entered: created + rng.random_range(0..=(latest - created).max(0)),
                    repo: pick_index::<6>(rng),
                    stage: stage.copied().unwrap_or("queued"),
                }
            })
            .collect()
    }

    /// Writes history tasks (terminal, after their last job) then active ones.
    fn write_tasks(
        &mut self,
        conn: &Connection,
        history: &[TaskFacts],
        active: &[ActiveTask],
    ) -> Result<(), RefDbError> {
        let mut insert = conn.prepare_cached(
            "INSERT INTO tasks (id, work_item_id, repo, stage, stage_entered_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )?;
        let mut write = |id: i64, repo: usize, stage: &str, entered: i64, created: i64| {
            insert.execute(params![
                id,
                format!("WI-{id:06}"),
                REPOS.get(repo).copied(),
                stage,
                sql_ts(entered),
                sql_ts(created),
            ])
        };
        let rng = &mut self.history;
        for (i, task) in history.iter().enumerate() {
            let (stage, entered) = match (task.last_outcome, task.last_activity) {
                (Some(outcome), Some(at)) => {
                    let stage = if outcome == Outcome::Done {
                        "done"
                    } else {
                        "cancelled"
                    };
                    (stage, at.max(task.created) + rng.random_range(MINUTE..HOUR))
                }
                _ => {
                    let stage = if chance(rng, 85) { "done" } else { "cancelled" };
                    (
                        stage,
                        task.created + rng.random_range(30 * MINUTE..36 * HOUR),
                    )
                }
            };
            write(i as i64 + 1, task.repo, stage, entered, task.created)?;
        }
        for (k, task) in active.iter().enumerate() {
            let id = history.len() as i64 + 1 + k as i64;
            write(id, task.repo, task.stage, task.entered, task.created)?;
        }
        self.summary.tasks = (history.len() + active.len()) as u64;
        self.summary.active_tasks = active.len() as u64;
        Ok(())
    }

    /// Sorts the runs by start time, numbers them in that order and writes them.
    fn write_runs(&mut self, conn: &Connection, mut runs: Vec<RunRec>) -> Result<(), RefDbError> {
        // (start, job) is unique: a job's attempts start at distinct times.
        runs.sort_unstable_by_key(|run| (run.start, run.job_id));
        let mut insert = conn.prepare_cached(
            "INSERT INTO agent_runs (id, job_id, agent, started_at, finished_at, cost_usd,
                 input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (i, run) in runs.iter().enumerate() {
            let agent = AGENTS.get(usize::from(run.agent)).copied();
            let id = i as i64 + 1;
            if run.duration == 0 {
                insert.execute(params![
                    id,
                    run.job_id,
                    agent,
                    sql_ts(run.start),
                    None::<String>,
                    None::<f64>,
                    None::<i64>,
                    None::<i64>,
                    None::<i64>,
                    None::<i64>,
                ])?;
                self.summary.unfinished_runs += 1;
            } else {
                let rng = if run.active {
                    &mut self.active
                } else {
                    &mut self.history
                };
                let usage = Usage::draw(rng);
                insert.execute(params![
                    id,
                    run.job_id,
                    agent,
                    sql_ts(run.start),
                    sql_ts(run.start + i64::from(run.duration)),
                    usage.cost_usd,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cache_creation_tokens,
                ])?;
            }
            self.summary.runs += 1;
        }
        Ok(())
    }
}

fn insert_job(conn: &Connection) -> rusqlite::Result<Statement<'_>> {
    conn.prepare(
        "INSERT INTO jobs (id, task_id, repo, agent, status, attempts, max_attempts, pid, model,
             effort, created_at, started_at, finished_at, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
}

/// The `i`-th of `n` instants spread evenly over `span` seconds from `start`,
/// with jitter that keeps the sequence non-decreasing.
fn spread(rng: &mut SmallRng, i: u64, n: u64, start: i64, span: i64) -> i64 {
    let n = i128::from(n.max(1));
    let span = i128::from(span.max(0));
    let base = start + (i128::from(i) * span / n) as i64;
    let step = (span / n) as i64;
    if step > 0 {
        base + rng.random_range(0..step)
    } else {
        base
    }
}
