//! The plausible values both the generator and the simulator draw from.

use rand::Rng;
use rand::rngs::SmallRng;

/// Linux's largest possible pid limit (`PID_MAX_LIMIT`, 2^22 on 64-bit).
///
/// The simulator gives the jobs it starts pids above it
/// (`PID_MAX_LIMIT + 1 + n`): they look like pids but can never name a live
/// process, so a collector reading `/proc/<pid>` finds nothing. Pin real
/// pids with [`Simulator::start_agent_job`](crate::Simulator::start_agent_job).
/// (The generator gives valid pids: see [`GenOptions::pid_max`](crate::GenOptions::pid_max).)
pub const PID_MAX_LIMIT: i64 = 4_194_304;

/// The stages of a task that is still being worked on, in order.
pub(crate) const ACTIVE_STAGES: [&str; 5] =
    ["queued", "analysis", "implementation", "review", "testing"];

pub(crate) const REPOS: [&str; 6] = [
    "acme/api",
    "acme/web",
    "acme/billing",
    "acme/infra",
    "acme/mobile",
    "acme/docs",
];

pub(crate) const AGENTS: [&str; 2] = ["claude", "codex"];

/// Models per agent, indexed like [`AGENTS`].
pub(crate) const MODELS: [[&str; 2]; 2] = [
    ["claude-sonnet-4-5", "claude-opus-4-1"],
    ["gpt-5-codex", "gpt-5-codex-mini"],
];

pub(crate) const EFFORTS: [&str; 3] = ["low", "medium", "high"];

pub(crate) const ERRORS: [&str; 4] = [
    "agent exited with status 1",
    "timed out after 2700s",
    "rate limited by provider",
    "tests failed",
];

/// A uniformly chosen index below `N`.
pub(crate) fn pick_index<const N: usize>(rng: &mut SmallRng) -> usize {
    rng.random_range(0..N.max(1))
}

/// True with probability 1/`n`.
pub(crate) fn one_in(rng: &mut SmallRng, n: u32) -> bool {
    rng.random_range(0..n.max(1)) == 0
}

/// A uniformly chosen element of `items` (`""` for an empty array).
pub(crate) fn pick<const N: usize>(rng: &mut SmallRng, items: &[&'static str; N]) -> &'static str {
    items.get(pick_index::<N>(rng)).copied().unwrap_or("")
}

/// True with probability `percent`/100.
pub(crate) fn chance(rng: &mut SmallRng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

/// What a finished run cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) cost_usd: f64,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cache_read_tokens: i64,
    pub(crate) cache_creation_tokens: i64,
}

impl Usage {
    /// Plausible token counts, priced at $3/$15 per million input/output
    /// tokens, $0.30 per million cache reads, $3.75 per million cache writes,
    /// rounded to a millionth of a dollar.
    pub(crate) fn draw(rng: &mut SmallRng) -> Usage {
        let input_tokens = rng.random_range(2_000..400_000_i64);
        let output_tokens = rng.random_range(500..60_000_i64);
        let cache_read_tokens = rng.random_range(0..2_000_000_i64);
        let cache_creation_tokens = rng.random_range(0..200_000_i64);
        let micro_usd = input_tokens as f64 * 3.0
            + output_tokens as f64 * 15.0
            + cache_read_tokens as f64 * 0.3
            + cache_creation_tokens as f64 * 3.75;
        Usage {
            cost_usd: micro_usd.round() / 1e6,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
        }
    }
}
