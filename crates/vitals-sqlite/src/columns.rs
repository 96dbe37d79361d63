//! Which column feeds which field: a bad value in the column degrades the
//! field, under the name the section crate gives it.

pub(crate) const STAGE_FIELDS: &[(&str, &str)] = {
    use vitals_stages::fields::{AGE_IN_STAGE_S, REPO, STAGE, TASK_ID, WORK_ITEM};
    &[
        ("tasks.id", TASK_ID),
        ("tasks.work_item_id", WORK_ITEM),
        ("tasks.stage", STAGE),
        ("tasks.repo", REPO),
        ("tasks.stage_entered_at", AGE_IN_STAGE_S),
    ]
};

pub(crate) const AGENT_FIELDS: &[(&str, &str)] = {
    use vitals_agents::fields::{AGENT, EFFORT, JOB_ID, MODEL, PID, REPO, RUN_ID, RUNTIME_S};
    &[
        ("jobs.id", JOB_ID),
        ("jobs.agent", AGENT),
        ("jobs.repo", REPO),
        ("jobs.pid", PID),
        ("jobs.model", MODEL),
        ("jobs.effort", EFFORT),
        ("jobs.started_at", RUNTIME_S),
        ("agent_runs.id", RUN_ID),
    ]
};

/// Fields of the entries of `cost.running` (recorded as `running.<field>`).
pub(crate) const COST_RUNNING_FIELDS: &[(&str, &str)] = {
    use vitals_cost::fields::{
        AGENT, CACHE_CREATION_TOKENS, CACHE_READ_TOKENS, COST_USD, INPUT_TOKENS, JOB_ID,
        OUTPUT_TOKENS, RUN_ID,
    };
    &[
        ("jobs.id", JOB_ID),
        ("jobs.agent", AGENT),
        ("agent_runs.id", RUN_ID),
        ("agent_runs.cost_usd", COST_USD),
        ("agent_runs.input_tokens", INPUT_TOKENS),
        ("agent_runs.output_tokens", OUTPUT_TOKENS),
        ("agent_runs.cache_read_tokens", CACHE_READ_TOKENS),
        ("agent_runs.cache_creation_tokens", CACHE_CREATION_TOKENS),
    ]
};
