//! The process that reads: its facts, virtual memory size and file descriptors.

use crate::ProcessInfo;

/// The facts of the process that reads them (the serving process), as
/// [`ProcSource::own_process`](crate::ProcSource::own_process) reports them:
/// its [`ProcessInfo`] and its virtual memory size. These are the raw inputs
/// of the `process_*` metrics every Prometheus client library exports.
///
/// ```
/// use vitals_proc::OwnProcess;
/// use vitals_proc::fake::simple_process;
///
/// let own = OwnProcess::new(simple_process(42, 1, 250), 1 << 30);
/// assert_eq!((own.info.pid, own.info.cpu_ticks, own.vsize_bytes), (42, 250, 1 << 30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnProcess {
    /// Pid, state, CPU ticks, start time, threads and resident set size.
    pub info: ProcessInfo,
    /// Virtual memory size in bytes (`vsize`).
    pub vsize_bytes: u64,
}

impl OwnProcess {
    /// The facts `info` with the virtual memory size `vsize_bytes`.
    #[must_use]
    pub fn new(info: ProcessInfo, vsize_bytes: u64) -> Self {
        Self { info, vsize_bytes }
    }
}

/// The soft limit of the `Max open files` line of a `/proc/<pid>/limits`
/// file: `Ok(None)` for `unlimited`, `Err` with a reason when the line is
/// missing or malformed.
///
/// ```
/// use vitals_proc::parse_max_open_files;
///
/// let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
///               Max open files            1024                 524288               files     \n";
/// assert_eq!(parse_max_open_files(limits), Ok(Some(1024)));
/// assert_eq!(
///     parse_max_open_files("Max open files  unlimited  unlimited  files\n"),
///     Ok(None)
/// );
/// assert!(parse_max_open_files("").is_err());
/// ```
///
/// # Errors
///
/// A human reason when there is no `Max open files` line or its soft limit
/// is neither a number nor `unlimited`.
pub fn parse_max_open_files(limits: &str) -> Result<Option<u64>, String> {
    let rest = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .ok_or("no \"Max open files\" line")?;
    let soft = rest
        .split_ascii_whitespace()
        .next()
        .ok_or("no soft limit on the \"Max open files\" line")?;
    if soft == "unlimited" {
        return Ok(None);
    }
    soft.parse::<u64>()
        .map(Some)
        .map_err(|e| format!("soft limit {soft:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<Option<u64>, &str>) {
        match (parse_max_open_files(input), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input:?}"),
            (Err(reason), Err(part)) => assert!(reason.contains(part), "{input:?}: {reason}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn max_open_files() {
        check("Max open files 1 2 files", Ok(Some(1)));
        check(
            "Max cpu time unlimited unlimited seconds\nMax open files 65536 65536 files\n",
            Ok(Some(65536)),
        );
        check("Max open files\tunlimited\tunlimited\tfiles", Ok(None));
        check(
            "Max open files 18446744073709551615 0 files",
            Ok(Some(u64::MAX)),
        );
        check("Max open files", Err("no soft limit"));
        check("Max open files -1 2 files", Err("soft limit"));
        check("Max open files lots 2 files", Err("soft limit"));
        check(
            "Max processes 10 10 processes",
            Err("no \"Max open files\""),
        );
        check("", Err("no \"Max open files\""));
    }
}
