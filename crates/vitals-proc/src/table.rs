//! Process facts and the process table used to sum process trees.

use std::collections::{HashMap, HashSet};

/// The facts of one process, as read from `/proc/<pid>/stat`.
///
/// All values are raw: ticks are clock ticks (divide by
/// [`clk_tck`](crate::ProcSource::clk_tck) for seconds), never deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process id.
    pub pid: i32,
    /// The parent's process id (0 for the kernel's own roots).
    pub ppid: i32,
    /// The one-letter state: `R` running, `S` sleeping, `D` disk sleep,
    /// `Z` zombie, `T` stopped, `t` traced, `I` idle, `X` dead, ...
    ///
    /// It is the state of the main thread: a process whose main thread
    /// waits while other threads work reads `S`. Use CPU ticks, not the
    /// state, to tell busy from idle.
    pub state: char,
    /// User plus system CPU time of the process itself (`utime + stime`),
    /// in clock ticks. Children's time is not included.
    pub cpu_ticks: u64,
    /// When the process started, in clock ticks since boot (`starttime`).
    /// Together with the pid it identifies a process across pid reuse.
    pub start_ticks: u64,
    /// The number of threads (`num_threads`).
    pub threads: i64,
    /// Resident set size in bytes (`rss` pages times the page size).
    pub rss_bytes: u64,
}

/// CPU use of a process and all its live descendants, from
/// [`ProcessTable::tree`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TreeUsage {
    /// `utime + stime` of the process plus those of all its descendants in
    /// the table, in clock ticks (saturating at `u64::MAX`).
    pub cpu_ticks: u64,
    /// How many processes were counted, including the root itself; zombies
    /// count.
    pub procs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    ppid: i32,
    cpu_ticks: u64,
}

/// One pass over the whole process table: for each pid its parent and its
/// own CPU ticks.
///
/// Build it once per snapshot with
/// [`ProcSource::process_table`](crate::ProcSource::process_table), then ask
/// [`tree`](Self::tree) for each agent: the cost of the `/proc` walk is paid
/// once, not once per agent.
///
/// ```
/// use vitals_proc::{ProcessTable, TreeUsage};
///
/// // (pid, ppid, cpu_ticks)
/// let table = ProcessTable::from_entries([(10, 1, 5), (11, 10, 7), (12, 11, 1), (20, 1, 100)]);
/// assert_eq!(table.tree(10), Some(TreeUsage { cpu_ticks: 13, procs: 3 }));
/// assert_eq!(table.tree(99), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    entries: HashMap<i32, Entry>,
    children: HashMap<i32, Vec<i32>>,
    unreadable: usize,
}

impl ProcessTable {
    /// Builds a table from `(pid, ppid, cpu_ticks)` entries.
    ///
    /// When a pid appears more than once, the last entry wins. A process
    /// that names itself as its parent is kept but is nobody's child.
    #[must_use]
    pub fn from_entries<I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (i32, i32, u64)>,
    {
        let entries: HashMap<i32, Entry> = entries
            .into_iter()
            .map(|(pid, ppid, cpu_ticks)| (pid, Entry { ppid, cpu_ticks }))
            .collect();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for (&pid, entry) in &entries {
            if entry.ppid != pid {
                children.entry(entry.ppid).or_default().push(pid);
            }
        }
        Self {
            entries,
            children,
            unreadable: 0,
        }
    }

    /// Records how many processes were listed but could not be read (for
    /// another reason than having exited meanwhile); see
    /// [`unreadable`](Self::unreadable).
    #[must_use]
    pub fn with_unreadable(mut self, unreadable: usize) -> Self {
        self.unreadable = unreadable;
        self
    }

    /// How many listed processes could not be read and are missing from the
    /// table. Non-zero means tree sums may be incomplete. Processes that
    /// exited between listing and reading are not counted: they are simply
    /// gone.
    #[must_use]
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }

    /// The number of processes in the table.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds no process at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `pid` is in the table.
    #[must_use]
    pub fn contains(&self, pid: i32) -> bool {
        self.entries.contains_key(&pid)
    }

    /// The parent of `pid`, if `pid` is in the table.
    #[must_use]
    pub fn parent(&self, pid: i32) -> Option<i32> {
        self.entries.get(&pid).map(|entry| entry.ppid)
    }

    /// The own CPU ticks of `pid` (not its descendants'), if `pid` is in the
    /// table.
    #[must_use]
    pub fn cpu_ticks(&self, pid: i32) -> Option<u64> {
        self.entries.get(&pid).map(|entry| entry.cpu_ticks)
    }

    /// CPU ticks and process count of `pid` and all its descendants, or
    /// `None` when `pid` is not in the table.
    ///
    /// The walk is iterative and visits each pid at most once, so a corrupt
    /// table with a parent cycle still terminates (each process of the cycle
    /// is counted once).
    #[must_use]
    pub fn tree(&self, pid: i32) -> Option<TreeUsage> {
        if !self.entries.contains_key(&pid) {
            return None;
        }
        let mut usage = TreeUsage::default();
        let mut visited = HashSet::new();
        let mut stack = vec![pid];
        while let Some(current) = stack.pop() {
            if !visited.insert(current) {
                continue;
            }
            let Some(entry) = self.entries.get(&current) else {
                continue;
            };
            usage.cpu_ticks = usage.cpu_ticks.saturating_add(entry.cpu_ticks);
            usage.procs = usage.procs.saturating_add(1);
            if let Some(children) = self.children.get(&current) {
                stack.extend(children.iter().filter(|child| !visited.contains(child)));
            }
        }
        Some(usage)
    }
}

impl FromIterator<(i32, i32, u64)> for ProcessTable {
    fn from_iter<I: IntoIterator<Item = (i32, i32, u64)>>(iter: I) -> Self {
        Self::from_entries(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[(i32, i32, u64)], pid: i32, expected: Option<(u64, u32)>) {
        let table = ProcessTable::from_entries(entries.iter().copied());
        let got = table.tree(pid).map(|usage| (usage.cpu_ticks, usage.procs));
        assert_eq!(got, expected, "tree({pid}) of {entries:?}");
    }

    #[test]
    fn trees() {
        let family = [(1, 0, 1), (10, 1, 5), (11, 10, 7), (12, 10, 2), (13, 11, 1)];
        check(&family, 10, Some((15, 4)));
        check(&family, 11, Some((8, 2)));
        check(&family, 13, Some((1, 1)));
        check(&family, 1, Some((16, 5)));
        check(&family, 0, None);
        check(&family, 99, None);
        check(&[], 1, None);
        // Orphans whose parent is missing still form their own trees.
        check(&[(5, 4, 3), (6, 5, 4)], 5, Some((7, 2)));
    }

    #[test]
    fn cycles_terminate_and_count_each_pid_once() {
        check(&[(1, 2, 1), (2, 1, 10)], 1, Some((11, 2)));
        check(&[(1, 3, 1), (2, 1, 10), (3, 2, 100)], 2, Some((111, 3)));
        check(&[(7, 7, 3)], 7, Some((3, 1)));
        check(&[(7, 7, 3), (8, 7, 4)], 7, Some((7, 2)));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        check(&[(1, 0, u64::MAX), (2, 1, 5)], 1, Some((u64::MAX, 2)));
    }

    #[test]
    fn last_duplicate_wins() {
        let table = ProcessTable::from_entries([(2, 1, 5), (3, 2, 1), (3, 1, 9)]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.parent(3), Some(1));
        assert_eq!(table.cpu_ticks(3), Some(9));
        assert_eq!(
            table.tree(2),
            Some(TreeUsage {
                cpu_ticks: 5,
                procs: 1
            })
        );
    }

    #[test]
    fn accessors() {
        let table: ProcessTable = [(2, 1, 5)].into_iter().collect();
        assert!(!table.is_empty());
        assert!(table.contains(2));
        assert!(!table.contains(1));
        assert_eq!(table.unreadable(), 0);
        assert_eq!(table.with_unreadable(3).unreadable(), 3);
        assert!(ProcessTable::default().is_empty());
    }
}
