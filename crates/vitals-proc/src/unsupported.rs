//! Every read on a platform without a Linux `/proc`.
//!
//! Compiled on Linux too under `cfg(test)`, so that this fallback is tested
//! where the test suite runs.

use std::path::Path;

use crate::{OwnProcess, ProcError, ProcessInfo, ProcessTable};

pub(crate) fn clk_tck() -> Option<u64> {
    None
}

pub(crate) fn pid_max(_root: &Path) -> i64 {
    crate::PID_MAX_LIMIT
}

pub(crate) fn boot_time(_root: &Path) -> Result<i64, ProcError> {
    Err(ProcError::Unsupported)
}

pub(crate) fn process(_root: &Path, _pid: i64) -> Result<ProcessInfo, ProcError> {
    Err(ProcError::Unsupported)
}

pub(crate) fn process_table(_root: &Path) -> Result<ProcessTable, ProcError> {
    Err(ProcError::Unsupported)
}

pub(crate) fn own_process(_root: &Path) -> Result<OwnProcess, ProcError> {
    Err(ProcError::Unsupported)
}

pub(crate) fn own_open_fds(_root: &Path) -> Result<u64, ProcError> {
    Err(ProcError::Unsupported)
}

pub(crate) fn own_max_fds(_root: &Path) -> Result<Option<u64>, ProcError> {
    Err(ProcError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_is_unsupported() {
        let root = Path::new("/proc");
        assert_eq!(clk_tck(), None);
        assert_eq!(pid_max(root), crate::PID_MAX_LIMIT);
        assert_eq!(boot_time(root).unwrap_err().kind(), "unsupported");
        for pid in [-1, 0, 1, i64::MAX] {
            assert_eq!(process(root, pid).unwrap_err().kind(), "unsupported");
        }
        assert_eq!(process_table(root).unwrap_err().kind(), "unsupported");
        assert_eq!(own_process(root).unwrap_err().kind(), "unsupported");
        assert_eq!(own_open_fds(root).unwrap_err().kind(), "unsupported");
        assert_eq!(own_max_fds(root).unwrap_err().kind(), "unsupported");
    }
}
