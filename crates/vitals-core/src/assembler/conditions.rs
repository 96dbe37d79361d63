//! What builds find wrong, logged when it appears and when it clears
//! rather than on every scrape.
//!
//! A dead agent pid, a missing table or a section stuck in a hung call is
//! found again by every build. Logged each time, eight dead pids scraped
//! every second make a log that grows by megabytes a minute and says
//! nothing new. So the assembler keeps a [`Conditions`] tracker: a
//! *condition* is one (section, field or the section as a whole, kind), as
//! the meta section reports it. A condition is logged at WARN when it
//! appears, at INFO when it clears, and in between at most once per
//! reminder interval (a WARN with the number of occurrences since the last
//! line). Every occurrence is still in the `collector` section of its
//! snapshot, and logged at DEBUG.
//!
//! The tracker is cheap and bounded: one hash lookup per failure a build
//! reports, a condition that is gone is forgotten, and at most
//! [`MAX_CONDITIONS`] are tracked one by one; the others are counted
//! together, as one condition of their own ([`Line::Overflow`]).
//!
//! A field's condition clears only when its section ran to the end (status
//! `ok` or `degraded`): a section that failed as a whole (`error`, `panic`,
//! `timeout`, `busy`) says nothing of its fields, so their conditions are
//! kept as they are. A condition followed by another kind for the same
//! section or field (a section that timed out, then is busy) is not
//! reported cleared: the new one's line names the kind it replaces.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::assembler::snapshot::{SectionReport, SectionStatus};

/// How often a condition that lasts is logged again, unless the builder
/// sets another interval ([`AssemblerBuilder::log_reminder`](crate::AssemblerBuilder::log_reminder)).
pub const DEFAULT_LOG_REMINDER: Duration = Duration::from_secs(600);

/// The most conditions tracked one by one.
pub(crate) const MAX_CONDITIONS: usize = 256;

/// The most characters of a message a condition keeps.
const MAX_MESSAGE: usize = 512;

/// One condition: a section, one of its fields (`None`: the section as a
/// whole), and the kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) section: String,
    pub(crate) field: Option<String>,
    pub(crate) kind: String,
}

impl Key {
    fn same_place(&self, other: &Key) -> bool {
        self.section == other.section && self.field == other.field
    }
}

/// What the tracker keeps of a condition.
#[derive(Debug)]
struct Entry {
    since: Instant,
    /// When it was last logged.
    logged: Instant,
    /// Occurrences since it was last logged.
    unlogged: u64,
    /// Occurrences in all.
    occurrences: u64,
}

/// The conditions no longer tracked one by one, counted together.
#[derive(Debug)]
struct Overflow {
    since: Instant,
    logged: Instant,
    unlogged: u64,
}

/// A line to log after a build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    /// A new condition (WARN), and the kind it replaces at the same place.
    Appeared {
        key: Key,
        /// The section's status, for a condition of the section as a whole.
        status: Option<SectionStatus>,
        message: String,
        replaces: Option<String>,
    },
    /// A condition still there a reminder interval after its last line (WARN).
    Persists {
        key: Key,
        message: String,
        /// Occurrences since the last line, this one included.
        occurrences: u64,
        lasted: Duration,
    },
    /// A condition gone (INFO).
    Cleared {
        key: Key,
        occurrences: u64,
        lasted: Duration,
    },
    /// Conditions beyond [`MAX_CONDITIONS`] appeared or persist (WARN):
    /// how many occurrences since the last line, and one of them.
    Overflow {
        occurrences: u64,
        first: Key,
        message: String,
        lasted: Duration,
    },
    /// No condition beyond [`MAX_CONDITIONS`] any more (INFO).
    OverflowCleared { lasted: Duration },
}

/// The conditions of one assembler.
#[derive(Debug)]
pub(crate) struct Conditions {
    reminder: Duration,
    entries: HashMap<Key, Entry>,
    overflow: Option<Overflow>,
}

fn truncated(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

impl Conditions {
    /// A tracker that logs a lasting condition again every `reminder`.
    pub(crate) fn new(reminder: Duration) -> Self {
        Self {
            reminder,
            entries: HashMap::new(),
            overflow: None,
        }
    }

    /// Takes in the reports of one build made at `now`; returns what to log.
    pub(crate) fn observe(&mut self, now: Instant, reports: &[SectionReport]) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut seen: HashSet<Key> = HashSet::new();
        let mut untracked: Option<(u64, Key, String)> = None;
        for report in reports {
            if !report.status.produced_value()
                && let Some(error) = &report.error
            {
                let key = Key {
                    section: report.key.clone(),
                    field: None,
                    kind: error.kind.clone(),
                };
                self.note(now, key, Some(report.status), &error.message, &mut seen)
                    .map_or_else(
                        |key| count(&mut untracked, key, &error.message),
                        |line| lines.extend(line),
                    );
            }
            for failure in &report.fields {
                let key = Key {
                    section: report.key.clone(),
                    field: Some(failure.field.clone()),
                    kind: failure.error.kind.clone(),
                };
                self.note(now, key, None, &failure.error.message, &mut seen)
                    .map_or_else(
                        |key| count(&mut untracked, key, &failure.error.message),
                        |line| lines.extend(line),
                    );
            }
        }
        self.clear(now, reports, &seen, &mut lines);
        self.overflow(now, untracked, &mut lines);
        lines
    }

    /// One occurrence of `key`: the line to log, if any; `Err(key)` when it
    /// is new and no more conditions may be tracked.
    fn note(
        &mut self,
        now: Instant,
        key: Key,
        status: Option<SectionStatus>,
        message: &str,
        seen: &mut HashSet<Key>,
    ) -> Result<Option<Line>, Key> {
        if !seen.insert(key.clone()) {
            // The same condition twice in one build counts once.
            return Ok(None);
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.occurrences = entry.occurrences.saturating_add(1);
            entry.unlogged = entry.unlogged.saturating_add(1);
            if now.saturating_duration_since(entry.logged) < self.reminder {
                return Ok(None);
            }
            let line = Line::Persists {
                key,
                message: truncated(message),
                occurrences: entry.unlogged,
                lasted: now.saturating_duration_since(entry.since),
            };
            entry.logged = now;
            entry.unlogged = 0;
            return Ok(Some(line));
        }
        if self.entries.len() >= MAX_CONDITIONS {
            seen.remove(&key);
            return Err(key);
        }
        self.entries.insert(
            key.clone(),
            Entry {
                since: now,
                logged: now,
                unlogged: 0,
                occurrences: 1,
            },
        );
        Ok(Some(Line::Appeared {
            key,
            status,
            message: truncated(message),
            replaces: None,
        }))
    }

    /// Forgets the conditions this build did not see, where it would have
    /// seen them: a section-level one always, a field's one when its
    /// section ran to the end.
    fn clear(
        &mut self,
        now: Instant,
        reports: &[SectionReport],
        seen: &HashSet<Key>,
        lines: &mut Vec<Line>,
    ) {
        let complete: HashSet<&str> = reports
            .iter()
            .filter(|r| r.status.produced_value())
            .map(|r| r.key.as_str())
            .collect();
        let known: HashSet<&str> = reports.iter().map(|r| r.key.as_str()).collect();
        let mut gone: Vec<Key> = self
            .entries
            .keys()
            .filter(|key| {
                !seen.contains(*key)
                    && (key.field.is_none()
                        || complete.contains(key.section.as_str())
                        || !known.contains(key.section.as_str()))
            })
            .cloned()
            .collect();
        // In a stable order: the map's is not.
        gone.sort();
        for key in gone {
            let Some(entry) = self.entries.remove(&key) else {
                continue;
            };
            let replaced = lines.iter_mut().find_map(|line| match line {
                Line::Appeared {
                    key: new, replaces, ..
                } if new.same_place(&key) => Some(replaces),
                _ => None,
            });
            match replaced {
                Some(replaces) => *replaces = Some(key.kind),
                None => lines.push(Line::Cleared {
                    key,
                    occurrences: entry.occurrences,
                    lasted: now.saturating_duration_since(entry.since),
                }),
            }
        }
    }

    fn overflow(
        &mut self,
        now: Instant,
        untracked: Option<(u64, Key, String)>,
        lines: &mut Vec<Line>,
    ) {
        match (untracked, self.overflow.as_mut()) {
            (None, None) => {}
            (None, Some(overflow)) => {
                lines.push(Line::OverflowCleared {
                    lasted: now.saturating_duration_since(overflow.since),
                });
                self.overflow = None;
            }
            (Some((occurrences, first, message)), None) => {
                lines.push(Line::Overflow {
                    occurrences,
                    first,
                    message: truncated(&message),
                    lasted: Duration::ZERO,
                });
                self.overflow = Some(Overflow {
                    since: now,
                    logged: now,
                    unlogged: 0,
                });
            }
            (Some((occurrences, first, message)), Some(overflow)) => {
                overflow.unlogged = overflow.unlogged.saturating_add(occurrences);
                if now.saturating_duration_since(overflow.logged) >= self.reminder {
                    lines.push(Line::Overflow {
                        occurrences: overflow.unlogged,
                        first,
                        message: truncated(&message),
                        lasted: now.saturating_duration_since(overflow.since),
                    });
                    overflow.logged = now;
                    overflow.unlogged = 0;
                }
            }
        }
    }
}

/// Counts one more untracked condition, keeping the first one met.
fn count(untracked: &mut Option<(u64, Key, String)>, key: Key, message: &str) {
    match untracked {
        Some((n, _, _)) => *n = n.saturating_add(1),
        None => *untracked = Some((1, key, message.to_owned())),
    }
}

impl Line {
    /// Logs the line through `tracing`.
    pub(crate) fn emit(&self) {
        match self {
            Line::Appeared {
                key,
                status,
                message,
                replaces,
            } => {
                let (section, field, kind) = (
                    key.section.as_str(),
                    key.field.as_deref(),
                    key.kind.as_str(),
                );
                let (reason, replaces) = (message.as_str(), replaces.as_deref());
                match status {
                    None => tracing::warn!(
                        section,
                        field,
                        kind,
                        reason,
                        replaces,
                        "vitals field degraded (logged again when it clears)"
                    ),
                    Some(SectionStatus::Panic) => tracing::warn!(
                        section,
                        kind,
                        reason,
                        replaces,
                        "vitals section panicked; fallback used (logged again when it clears)"
                    ),
                    Some(SectionStatus::Timeout) => tracing::warn!(
                        section,
                        kind,
                        reason,
                        replaces,
                        "vitals section missed its deadline; fallback used (logged again when it clears)"
                    ),
                    Some(SectionStatus::Busy) => tracing::warn!(
                        section,
                        kind,
                        reason,
                        replaces,
                        "vitals section still in flight from an earlier snapshot; reported busy (logged again when it clears)"
                    ),
                    Some(_) => tracing::warn!(
                        section,
                        kind,
                        reason,
                        replaces,
                        "vitals section failed; fallback used (logged again when it clears)"
                    ),
                }
            }
            Line::Persists {
                key,
                message,
                occurrences,
                lasted,
            } => tracing::warn!(
                section = key.section.as_str(),
                field = key.field.as_deref(),
                kind = key.kind.as_str(),
                reason = message.as_str(),
                occurrences,
                lasted_s = lasted.as_secs(),
                "vitals condition persists"
            ),
            Line::Cleared {
                key,
                occurrences,
                lasted,
            } => tracing::info!(
                section = key.section.as_str(),
                field = key.field.as_deref(),
                kind = key.kind.as_str(),
                occurrences,
                lasted_s = lasted.as_secs(),
                "vitals condition cleared"
            ),
            Line::Overflow {
                occurrences,
                first,
                message,
                lasted,
            } => tracing::warn!(
                tracked = MAX_CONDITIONS,
                occurrences,
                section = first.section.as_str(),
                field = first.field.as_deref(),
                kind = first.kind.as_str(),
                reason = message.as_str(),
                lasted_s = lasted.as_secs(),
                "vitals: more distinct conditions than are tracked; the others are counted, not logged one by one"
            ),
            Line::OverflowCleared { lasted } => tracing::info!(
                lasted_s = lasted.as_secs(),
                "vitals: every condition is tracked again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorInfo, FieldFailure};

    fn report(section: &str, status: SectionStatus, fields: &[(&str, &str)]) -> SectionReport {
        SectionReport {
            key: section.to_owned(),
            status,
            elapsed: Duration::ZERO,
            error: (!status.produced_value()).then(|| {
                ErrorInfo::new(status.as_str(), format!("{section} is {}", status.as_str()))
            }),
            fields: fields
                .iter()
                .map(|(field, kind)| FieldFailure::new(*field, ErrorInfo::new(*kind, "why")))
                .collect(),
        }
    }

    fn degraded(fields: &[(&str, &str)]) -> Vec<SectionReport> {
        let status = if fields.is_empty() {
            SectionStatus::Ok
        } else {
            SectionStatus::Degraded
        };
        vec![report("agents", status, fields)]
    }

    /// What each line is about, in short: `+` appeared, `=` persists (with
    /// the occurrences), `-` cleared.
    fn short(lines: &[Line]) -> Vec<String> {
        let place = |key: &Key| match &key.field {
            Some(field) => format!("{}.{field}:{}", key.section, key.kind),
            None => format!("{}:{}", key.section, key.kind),
        };
        lines
            .iter()
            .map(|line| match line {
                Line::Appeared { key, replaces, .. } => match replaces {
                    Some(old) => format!("+{} (was {old})", place(key)),
                    None => format!("+{}", place(key)),
                },
                Line::Persists {
                    key, occurrences, ..
                } => format!("={} x{occurrences}", place(key)),
                Line::Cleared { key, .. } => format!("-{}", place(key)),
                Line::Overflow { occurrences, .. } => format!("+overflow x{occurrences}"),
                Line::OverflowCleared { .. } => "-overflow".to_owned(),
            })
            .collect()
    }

    const DEAD: [(&str, &str); 2] = [
        ("agents[0].proc", "no_such_process"),
        ("agents[1].proc", "no_such_process"),
    ];

    #[test]
    fn logged_when_it_appears_reminded_per_interval_and_when_it_clears() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut conditions = Conditions::new(minute * 10);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(
            short(&conditions.observe(at(0), &degraded(&DEAD))),
            [
                "+agents.agents[0].proc:no_such_process",
                "+agents.agents[1].proc:no_such_process"
            ]
        );
        for s in 1..100 {
            assert!(conditions.observe(at(s), &degraded(&DEAD)).is_empty());
        }
        // Ten minutes after the first line: a reminder with the count since.
        let lines = conditions.observe(at(600), &degraded(&DEAD));
        assert_eq!(
            short(&lines),
            [
                "=agents.agents[0].proc:no_such_process x100",
                "=agents.agents[1].proc:no_such_process x100"
            ]
        );
        assert!(matches!(&lines[0], Line::Persists { lasted, .. } if *lasted == minute * 10));
        assert!(conditions.observe(at(601), &degraded(&DEAD)).is_empty());
        // One pid comes back: one line.
        let lines = conditions.observe(at(602), &degraded(&DEAD[1..]));
        assert_eq!(short(&lines), ["-agents.agents[0].proc:no_such_process"]);
        assert!(
            matches!(&lines[0], Line::Cleared { occurrences: 102, lasted, .. } if *lasted == Duration::from_secs(602))
        );
        // Forgotten: if it comes back, it is new again.
        assert_eq!(
            short(&conditions.observe(at(603), &degraded(&DEAD))),
            ["+agents.agents[0].proc:no_such_process"]
        );
        assert_eq!(
            short(&conditions.observe(at(604), &degraded(&[]))),
            [
                "-agents.agents[0].proc:no_such_process",
                "-agents.agents[1].proc:no_such_process"
            ]
        );
        assert!(conditions.entries.is_empty(), "nothing kept once cleared");
    }

    #[test]
    fn a_section_that_failed_says_nothing_of_its_fields() {
        let now = Instant::now();
        let mut conditions = Conditions::new(DEFAULT_LOG_REMINDER);
        conditions.observe(now, &degraded(&DEAD));
        // Timed out, then busy: the fields are neither seen nor cleared, and
        // busy replaces timeout rather than clearing it.
        let timeout = vec![report("agents", SectionStatus::Timeout, &[])];
        assert_eq!(
            short(&conditions.observe(now, &timeout)),
            ["+agents:timeout"]
        );
        let busy = vec![report("agents", SectionStatus::Busy, &[])];
        assert_eq!(
            short(&conditions.observe(now, &busy)),
            ["+agents:busy (was timeout)"]
        );
        assert!(conditions.observe(now, &busy).is_empty());
        // Back to a full run: busy clears, the fields it still has stay quiet.
        assert_eq!(
            short(&conditions.observe(now, &degraded(&DEAD))),
            ["-agents:busy"]
        );
        // A field's kind changing is one line, not two.
        let changed = [("agents[0].proc", "timeout"), DEAD[1]];
        assert_eq!(
            short(&conditions.observe(now, &degraded(&changed))),
            ["+agents.agents[0].proc:timeout (was no_such_process)"]
        );
        // The same condition twice in one build counts once.
        let twice = [DEAD[1], DEAD[1], ("agents[0].proc", "timeout")];
        assert!(conditions.observe(now, &degraded(&twice)).is_empty());
    }

    #[test]
    fn beyond_the_cap_conditions_are_counted_together() {
        let now = Instant::now();
        let mut conditions = Conditions::new(Duration::ZERO);
        let names: Vec<String> = (0..MAX_CONDITIONS + 3)
            .map(|i| format!("agents[{i}].proc"))
            .collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "io")).collect();
        let lines = conditions.observe(now, &degraded(&many));
        assert_eq!(lines.len(), MAX_CONDITIONS + 1);
        assert_eq!(short(&lines[MAX_CONDITIONS..]), ["+overflow x3"]);
        assert_eq!(conditions.entries.len(), MAX_CONDITIONS);
        // A reminder on every build (interval zero), the overflow too.
        let lines = conditions.observe(now, &degraded(&many));
        assert_eq!(short(&lines[MAX_CONDITIONS..]), ["+overflow x3"]);
        let lines = conditions.observe(now, &degraded(&many[..MAX_CONDITIONS]));
        assert_eq!(short(&lines[MAX_CONDITIONS..]), ["-overflow"]);
        let long = "x".repeat(MAX_MESSAGE * 2);
        assert_eq!(truncated(&long).chars().count(), MAX_MESSAGE + 1);
    }
}
