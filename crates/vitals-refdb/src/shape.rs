//! How big a generated database is: [`Scale`] presets and the [`Shape`] counts.

use std::fmt;
use std::str::FromStr;

use crate::RefDbError;

/// A named database size, for command lines and benchmarks.
///
/// Parses from `S`, `M`, `L` (any case, or `small`, `medium`, `large`) and
/// displays as `S`, `M`, `L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scale {
    /// 1,000 tasks, 10,000 jobs, 10,000 runs, 8 running agents.
    S,
    /// 10,000 tasks, 100,000 jobs, 100,000 runs, 16 running agents.
    M,
    /// 100,000 tasks, 1,000,000 jobs, 1,000,000 runs, 32 running agents.
    L,
}

impl Scale {
    /// Every scale, smallest first.
    pub const ALL: [Scale; 3] = [Scale::S, Scale::M, Scale::L];
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::S => "S",
            Scale::M => "M",
            Scale::L => "L",
        })
    }
}

impl FromStr for Scale {
    type Err = RefDbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "s" | "small" => Ok(Scale::S),
            "m" | "medium" => Ok(Scale::M),
            "l" | "large" => Ok(Scale::L),
            _ => Err(RefDbError::UnknownScale {
                input: s.to_owned(),
            }),
        }
    }
}

/// The row counts of a generated database.
///
/// The *active work* (active tasks, running and queued jobs, and their runs)
/// is set by `active_tasks`, `running` and `queued` alone; the rest is
/// *history* (terminal tasks, terminal jobs, finished runs of terminal jobs).
/// [`Shape::with_history`] scales the history and keeps the active work, so a
/// benchmark can show that a scrape's cost follows the active work.
///
/// What the generator derives from these counts, exactly:
/// - running job `i` (0-based) has `attempts = 1` when `i % 4 == 3`, else 0,
///   and one finished (failed) run per attempt plus its unfinished run;
/// - queued job `i` has `attempts = 1 + (i / 2) % 2` when `i` is even, else 0
///   (so [`Shape::queued_with_retries`] of them have retried), and one
///   finished (failed) run per attempt;
/// - the remaining `runs - active_runs()` finished runs go to the terminal
///   jobs: one each to jobs that started, more to jobs that retried, none to
///   jobs cancelled before they started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// All tasks, active and terminal.
    pub tasks: u64,
    /// Tasks in an active stage (queued, analysis, implementation, review,
    /// testing); the rest are done or cancelled.
    pub active_tasks: u64,
    /// All jobs, of every status.
    pub jobs: u64,
    /// All `agent_runs` rows, finished and unfinished.
    pub runs: u64,
    /// Jobs with status `running`, each with a pid and an unfinished latest
    /// run.
    pub running: u64,
    /// Jobs with status `queued`.
    pub queued: u64,
}

impl Shape {
    /// The preset counts of `scale`: about 2% of tasks active, as many runs as
    /// jobs, a few queued jobs (half of them retrying).
    #[must_use]
    pub const fn of(scale: Scale) -> Shape {
        match scale {
            Scale::S => Shape {
                tasks: 1_000,
                active_tasks: 20,
                jobs: 10_000,
                runs: 10_000,
                running: 8,
                queued: 12,
            },
            Scale::M => Shape {
                tasks: 10_000,
                active_tasks: 200,
                jobs: 100_000,
                runs: 100_000,
                running: 16,
                queued: 24,
            },
            Scale::L => Shape {
                tasks: 100_000,
                active_tasks: 2_000,
                jobs: 1_000_000,
                runs: 1_000_000,
                running: 32,
                queued: 48,
            },
        }
    }

    /// The same active work with `factor` times the history: terminal tasks,
    /// terminal jobs and their finished runs multiplied by `factor`
    /// (saturating), active tasks, running and queued jobs and their runs
    /// unchanged. `Shape::of(Scale::M).with_history(10)` is "M active work
    /// with 10x history".
    #[must_use]
    pub fn with_history(self, factor: u64) -> Shape {
        let active_runs = self.active_runs();
        let active_jobs = self.running.saturating_add(self.queued);
        let scale = |total: u64, active: u64| {
            active.saturating_add(total.saturating_sub(active).saturating_mul(factor))
        };
        Shape {
            tasks: scale(self.tasks, self.active_tasks),
            jobs: scale(self.jobs, active_jobs),
            runs: scale(self.runs, active_runs),
            ..self
        }
    }

    /// How many queued jobs have `attempts > 0` (half, rounded up).
    #[must_use]
    pub const fn queued_with_retries(&self) -> u64 {
        self.queued.div_ceil(2)
    }

    /// How many running jobs have `attempts > 0` (one in four).
    #[must_use]
    pub const fn running_with_retries(&self) -> u64 {
        self.running / 4
    }

    /// The runs that belong to active (running and queued) jobs: one
    /// unfinished run per running job plus one finished run per earlier
    /// attempt.
    #[must_use]
    pub const fn active_runs(&self) -> u64 {
        let retried = self.queued_with_retries();
        // Retried queued jobs alternate between 1 and 2 attempts.
        let queued_runs = retried.saturating_add(retried / 2);
        self.running
            .saturating_add(self.running_with_retries())
            .saturating_add(queued_runs)
    }

    /// Checks that the counts are consistent.
    ///
    /// # Errors
    ///
    /// [`RefDbError::InvalidShape`] naming the first broken constraint.
    pub fn validate(&self) -> Result<(), RefDbError> {
        let invalid = |reason| Err(RefDbError::InvalidShape { reason });
        if self.active_tasks > self.tasks {
            return invalid("active_tasks exceeds tasks");
        }
        let active_jobs = match self.running.checked_add(self.queued) {
            Some(active) if active <= self.jobs => active,
            _ => return invalid("running + queued exceeds jobs"),
        };
        if self.runs < self.active_runs() {
            return invalid("runs is less than the runs of running and queued jobs");
        }
        if self.jobs == active_jobs && self.runs > self.active_runs() {
            return invalid("runs left over for history, but no terminal jobs");
        }
        // Row ids and per-job counters are kept in memory as i64 / u32.
        let limit = u64::from(u32::MAX);
        if self.tasks > limit || self.jobs > limit || self.runs > limit {
            return invalid("more than u32::MAX rows in a table");
        }
        Ok(())
    }
}

impl Default for Shape {
    /// [`Shape::of`]`(`[`Scale::S`]`)`.
    fn default() -> Self {
        Shape::of(Scale::S)
    }
}

impl From<Scale> for Shape {
    fn from(scale: Scale) -> Self {
        Shape::of(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_parses_and_displays() {
        for scale in Scale::ALL {
            assert_eq!(scale.to_string().parse::<Scale>().ok(), Some(scale));
            assert_eq!(
                scale.to_string().to_lowercase().parse::<Scale>().ok(),
                Some(scale)
            );
        }
        assert_eq!("large".parse::<Scale>().ok(), Some(Scale::L));
        assert!(matches!(
            "XL".parse::<Scale>(),
            Err(RefDbError::UnknownScale { input }) if input == "XL"
        ));
    }

    #[test]
    fn presets_are_valid() {
        for scale in Scale::ALL {
            let shape = Shape::of(scale);
            assert!(shape.validate().is_ok(), "{scale}");
            assert!(shape.with_history(10).validate().is_ok(), "{scale}");
            assert_eq!(shape.active_tasks * 50, shape.tasks, "2% active");
        }
    }

    #[test]
    fn with_history_keeps_active_work() {
        let m = Shape::of(Scale::M);
        let big = m.with_history(10);
        assert_eq!(big.active_tasks, m.active_tasks);
        assert_eq!(big.running, m.running);
        assert_eq!(big.queued, m.queued);
        assert_eq!(big.active_runs(), m.active_runs());
        assert_eq!(
            big.tasks - big.active_tasks,
            10 * (m.tasks - m.active_tasks)
        );
        assert_eq!(big.jobs - 40, 10 * (m.jobs - 40));
        assert_eq!(
            big.runs - big.active_runs(),
            10 * (m.runs - m.active_runs())
        );
        assert_eq!(m.with_history(1), m);
    }

    #[test]
    fn active_runs_counts_retries() {
        // S: 8 running (2 retried) = 10 runs; 12 queued, 6 retried with
        // attempts 1, 2, 1, 2, 1, 2 = 9 runs.
        assert_eq!(Shape::of(Scale::S).active_runs(), 19);
        assert_eq!(Shape::of(Scale::S).queued_with_retries(), 6);
    }

    #[test]
    fn invalid_shapes_are_refused() {
        let s = Shape::of(Scale::S);
        let bad = [
            Shape {
                active_tasks: 2_000,
                ..s
            },
            Shape {
                running: 9_000,
                queued: 9_000,
                ..s
            },
            Shape { runs: 5, ..s },
            Shape {
                jobs: 20,
                runs: 100,
                ..s
            },
            Shape {
                running: u64::MAX,
                ..s
            },
        ];
        for shape in bad {
            assert!(
                matches!(shape.validate(), Err(RefDbError::InvalidShape { .. })),
                "{shape:?}"
            );
        }
    }
}
