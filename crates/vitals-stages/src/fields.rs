//! The names of the fields of each `stages` entry, in output order.
//!
//! The one place they are written: the section's output, its metrics and a
//! source's degraded-field records (`vitals-sqlite`) all use these.
//!
//! ```
//! use vitals_stages::fields;
//!
//! assert_eq!(fields::ALL[2], fields::AGE_IN_STAGE_S);
//! ```

/// The task's work item (`tasks.work_item_id`).
pub const WORK_ITEM: &str = "work_item";
/// Its current stage.
pub const STAGE: &str = "stage";
/// Whole seconds since it entered its stage.
pub const AGE_IN_STAGE_S: &str = "age_in_stage_s";
/// The repository.
pub const REPO: &str = "repo";
/// The task's id.
pub const TASK_ID: &str = "task_id";

/// Every field of an entry, in output order.
pub const ALL: [&str; 5] = [WORK_ITEM, STAGE, AGE_IN_STAGE_S, REPO, TASK_ID];
