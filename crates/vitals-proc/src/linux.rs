//! Reads from a Linux `/proc` (or a tree laid out like one) through `procfs`.

use std::io::Read;
use std::path::{Path, PathBuf};

use procfs::process::{Process, all_processes_with_root};

use crate::stat::{MAX_STAT_BYTES, RawStat, parse_stat};
use crate::{
    OwnProcess, PID_MAX_LIMIT, ProcError, ProcessInfo, ProcessTable, parse_max_open_files,
};

/// `ESRCH`, "no such process", the same number on every Linux architecture.
const ESRCH: i32 = 3;

/// `<root>/stat` holds one line per CPU and a long `intr` line before
/// `btime`; this bound is far above any real machine and keeps a garbage
/// file from being read without end.
const MAX_KERNEL_STAT_BYTES: u64 = 16 * 1024 * 1024;

/// `<pid>/limits` is about 1.5 KiB; a larger file is garbage.
const MAX_LIMITS_BYTES: u64 = 64 * 1024;

/// The raw bytes of a `stat` file, read through a `procfs` process handle.
struct StatBytes(Vec<u8>);

impl procfs::FromRead for StatBytes {
    fn from_read<R: Read>(reader: R) -> procfs::ProcResult<Self> {
        let mut bytes = Vec::with_capacity(512);
        // One byte over the limit, so that `parse_stat` sees the file is too long.
        reader.take(MAX_STAT_BYTES + 1).read_to_end(&mut bytes)?;
        Ok(Self(bytes))
    }
}

pub(crate) fn clk_tck() -> Option<u64> {
    Some(procfs::ticks_per_second()).filter(|&ticks| ticks > 0)
}

pub(crate) fn pid_max(root: &Path) -> i64 {
    let path = root.join("sys/kernel/pid_max");
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|file| file.take(64).read_to_string(&mut text));
    match read {
        Ok(_) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|&max| max > 0)
            .unwrap_or(PID_MAX_LIMIT),
        Err(_) => PID_MAX_LIMIT,
    }
}

pub(crate) fn boot_time(root: &Path) -> Result<i64, ProcError> {
    let path = root.join("stat");
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|file| file.take(MAX_KERNEL_STAT_BYTES).read_to_end(&mut bytes))
        .map_err(|source| ProcError::io(&path, source))?;
    let value = bytes
        .split(|&b| b == b'\n')
        .find_map(|line| {
            line.strip_prefix(b"btime")
                .filter(|rest| rest.first().is_some_and(u8::is_ascii_whitespace))
        })
        .ok_or_else(|| ProcError::unparsable(&path, "no btime line"))?;
    let text = std::str::from_utf8(value)
        .map_err(|_| ProcError::unparsable(&path, "btime is not text"))?
        .trim();
    text.parse::<i64>()
        .map_err(|e| ProcError::unparsable(&path, format!("btime {text:?}: {e}")))
}

pub(crate) fn process(root: &Path, pid: i64) -> Result<ProcessInfo, ProcError> {
    let pid32 = crate::validate_pid(pid, pid_max(root))?;
    let dir = root.join(pid32.to_string());
    let stat_path = dir.join("stat");
    let handle =
        Process::new_with_root(dir.clone()).map_err(|e| map_error(e, root, &dir, Some(pid)))?;
    let StatBytes(bytes) = handle
        .read("stat")
        .map_err(|e| map_error(e, root, &stat_path, Some(pid)))?;
    let stat = parse_stat(&bytes).map_err(|reason| {
        if dir.exists() {
            ProcError::unparsable(&stat_path, reason)
        } else {
            // The process exited while its file was read.
            ProcError::NoSuchProcess { pid }
        }
    })?;
    if stat.pid != pid32 {
        return Err(ProcError::unparsable(
            &stat_path,
            format!("pid field {} does not match the directory", stat.pid),
        ));
    }
    info_from(&stat).map_err(|reason| ProcError::unparsable(&stat_path, reason))
}

fn info_from(stat: &RawStat) -> Result<ProcessInfo, String> {
    Ok(ProcessInfo {
        pid: stat.pid,
        ppid: stat.ppid,
        state: stat.state,
        cpu_ticks: stat.cpu_ticks()?,
        start_ticks: stat.starttime,
        threads: stat.num_threads,
        rss_bytes: stat.rss_bytes(procfs::page_size())?,
    })
}

pub(crate) fn process_table(root: &Path) -> Result<ProcessTable, ProcError> {
    let listing = all_processes_with_root(root).map_err(|e| map_error(e, root, root, None))?;
    let mut entries = Vec::new();
    let mut unreadable = 0_usize;
    for item in listing {
        match item.and_then(|handle| table_entry(root, &handle)) {
            Ok(Some(entry)) => entries.push(entry),
            // Exited between listing and reading: it is simply gone.
            Ok(None) | Err(procfs::ProcError::NotFound(_)) => {}
            Err(procfs::ProcError::Io(source, _)) if source.raw_os_error() == Some(ESRCH) => {}
            // A listing error ends the iteration; it is counted like any
            // unreadable entry, so `unreadable()` tells the table is partial.
            Err(_) => unreadable = unreadable.saturating_add(1),
        }
    }
    Ok(ProcessTable::from_entries(entries).with_unreadable(unreadable))
}

/// `Ok(None)` when the process vanished while being read; `Err` with
/// `Other` when its stat is garbage.
fn table_entry(root: &Path, handle: &Process) -> procfs::ProcResult<Option<(i32, i32, u64)>> {
    let StatBytes(bytes) = handle.read("stat")?;
    let parsed = parse_stat(&bytes).and_then(|stat| {
        if stat.pid == handle.pid() {
            Ok((stat.pid, stat.ppid, stat.cpu_ticks()?))
        } else {
            Err("pid field does not match the directory".to_owned())
        }
    });
    match parsed {
        Ok(entry) => Ok(Some(entry)),
        // Not `Process::is_alive`: it parses stat with procfs's own parser.
        Err(_) if !root.join(handle.pid().to_string()).exists() => Ok(None),
        Err(reason) => Err(procfs::ProcError::Other(reason)),
    }
}

/// The directory of the process that reads: `<root>/self`, or
/// `<root>/<own pid>` when the tree has no `self`.
fn own_dir(root: &Path) -> PathBuf {
    let own = root.join("self");
    if own.exists() {
        own
    } else {
        root.join(std::process::id().to_string())
    }
}

/// At most `limit` bytes of the file at `path`.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ProcError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit).read_to_end(&mut bytes))
        .map_err(|source| ProcError::io(path, source))?;
    Ok(bytes)
}

pub(crate) fn own_process(root: &Path) -> Result<OwnProcess, ProcError> {
    let path = own_dir(root).join("stat");
    // One byte over the limit, so that `parse_stat` sees the file is too long.
    let bytes = read_bounded(&path, MAX_STAT_BYTES + 1)?;
    let stat = parse_stat(&bytes).map_err(|reason| ProcError::unparsable(&path, reason))?;
    let info = info_from(&stat).map_err(|reason| ProcError::unparsable(&path, reason))?;
    Ok(OwnProcess::new(info, stat.vsize))
}

pub(crate) fn own_open_fds(root: &Path) -> Result<u64, ProcError> {
    let dir = own_dir(root).join("fd");
    let entries = std::fs::read_dir(&dir).map_err(|source| ProcError::io(&dir, source))?;
    let mut count = 0_u64;
    for entry in entries {
        entry.map_err(|source| ProcError::io(&dir, source))?;
        count = count.saturating_add(1);
    }
    Ok(count)
}

pub(crate) fn own_max_fds(root: &Path) -> Result<Option<u64>, ProcError> {
    let path = own_dir(root).join("limits");
    let bytes = read_bounded(&path, MAX_LIMITS_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ProcError::unparsable(&path, "not text"))?;
    parse_max_open_files(text).map_err(|reason| ProcError::unparsable(&path, reason))
}

/// Maps a `procfs` error met while reading `path` (for process `pid`, if
/// any) under `root`.
fn map_error(error: procfs::ProcError, root: &Path, path: &Path, pid: Option<i64>) -> ProcError {
    use procfs::ProcError as E;
    use std::io::{Error, ErrorKind};
    match (error, pid) {
        (E::NotFound(_), Some(pid)) => match std::fs::metadata(root) {
            Ok(_) => ProcError::NoSuchProcess { pid },
            Err(source) => ProcError::io(root, source),
        },
        (E::NotFound(at), None) => ProcError::io(
            at.unwrap_or_else(|| path.to_owned()),
            Error::from(ErrorKind::NotFound),
        ),
        (E::PermissionDenied(_), Some(pid)) => ProcError::PermissionDenied { pid },
        (E::PermissionDenied(at), None) => ProcError::io(
            at.unwrap_or_else(|| path.to_owned()),
            Error::from(ErrorKind::PermissionDenied),
        ),
        (E::Io(source, _), Some(pid)) if source.raw_os_error() == Some(ESRCH) => {
            ProcError::NoSuchProcess { pid }
        }
        (E::Io(source, at), _) => ProcError::io(at.unwrap_or_else(|| path.to_owned()), source),
        (E::Incomplete(_), _) => ProcError::unparsable(path, "incomplete data"),
        (other, _) => ProcError::io(path, Error::other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn check(error: procfs::ProcError, pid: Option<i64>, kind: &str) {
        let root = std::env::temp_dir();
        let path = root.join("1/stat");
        assert_eq!(map_error(error, &root, &path, pid).kind(), kind);
    }

    #[test]
    fn maps_procfs_errors() {
        use procfs::ProcError as E;
        check(E::NotFound(None), Some(1), "no_such_process");
        check(E::NotFound(None), None, "io");
        check(E::PermissionDenied(None), Some(1), "permission_denied");
        check(E::PermissionDenied(None), None, "io");
        check(
            E::Io(Error::from_raw_os_error(ESRCH), None),
            Some(1),
            "no_such_process",
        );
        check(E::Io(Error::from(ErrorKind::Other), None), Some(1), "io");
        check(E::Incomplete(None), Some(1), "unparsable");
        check(E::Other("odd".to_owned()), Some(1), "io");
    }

    #[test]
    fn missing_root_is_an_io_error_on_the_root() {
        let root = Path::new("/nonexistent/vitals-proc-root");
        let error = map_error(procfs::ProcError::NotFound(None), root, root, Some(1));
        assert!(
            matches!(&error, ProcError::Io { path, .. } if path == root),
            "{error:?}"
        );
    }
}
