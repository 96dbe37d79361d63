//! The one error type of this crate.

use std::path::PathBuf;
use std::sync::Arc;

/// Why a process signal could not be read.
///
/// Every variant maps to a short, stable code through [`ProcError::kind`],
/// meant for the meta section of a snapshot. The error is [`Clone`] (the I/O
/// cause is shared through an [`Arc`]) so that one failure, such as a failed
/// [`process_table`](crate::ProcSource::process_table), can be reported for
/// every agent that depended on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// The pid can never name a process: it is zero, negative, or not below
    /// the kernel's `pid_max`. Checked before anything is read.
    #[error("invalid pid {pid}")]
    InvalidPid {
        /// The rejected pid, as it was given.
        pid: i64,
    },
    /// No process has this pid (it never existed, or it exited and was
    /// reaped). A zombie still exists and does not give this error.
    #[error("no such process: pid {pid}")]
    NoSuchProcess {
        /// The pid that was looked up.
        pid: i64,
    },
    /// The process exists but its files may not be read by this user.
    #[error("permission denied reading process {pid}")]
    PermissionDenied {
        /// The pid that was looked up.
        pid: i64,
    },
    /// A file was read but its content is not what the kernel writes
    /// (truncated, garbage, or a number out of range).
    #[error("cannot parse {}: {reason}", path.display())]
    Unparsable {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Any other I/O failure, including a proc root that does not exist.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// This platform has no `/proc` that this crate can read.
    #[error("process signals are not supported on this platform")]
    Unsupported,
}

impl ProcError {
    /// A short `snake_case` code for the variant, stable across releases:
    /// `"invalid_pid"`, `"no_such_process"`, `"permission_denied"`,
    /// `"unparsable"`, `"io"` or `"unsupported"`.
    ///
    /// ```
    /// use vitals_proc::ProcError;
    /// assert_eq!(ProcError::NoSuchProcess { pid: 42 }.kind(), "no_such_process");
    /// ```
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidPid { .. } => "invalid_pid",
            Self::NoSuchProcess { .. } => "no_such_process",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::Unparsable { .. } => "unparsable",
            Self::Io { .. } => "io",
            Self::Unsupported => "unsupported",
        }
    }

    /// Builds [`ProcError::Io`] from a path and an I/O error.
    #[must_use]
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Builds [`ProcError::Unparsable`] from a path and a reason.
    #[must_use]
    pub fn unparsable(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Unparsable {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn check(err: &ProcError, kind: &str, message: &str) {
        assert_eq!(err.kind(), kind);
        assert_eq!(err.to_string(), message);
    }

    #[test]
    fn kinds_and_messages() {
        check(
            &ProcError::InvalidPid { pid: -1 },
            "invalid_pid",
            "invalid pid -1",
        );
        check(
            &ProcError::NoSuchProcess { pid: 7 },
            "no_such_process",
            "no such process: pid 7",
        );
        check(
            &ProcError::PermissionDenied { pid: 7 },
            "permission_denied",
            "permission denied reading process 7",
        );
        check(
            &ProcError::unparsable("/proc/7/stat", "too few fields"),
            "unparsable",
            "cannot parse /proc/7/stat: too few fields",
        );
        check(
            &ProcError::io("/nope", std::io::Error::from(std::io::ErrorKind::NotFound)),
            "io",
            "cannot read /nope",
        );
        check(
            &ProcError::Unsupported,
            "unsupported",
            "process signals are not supported on this platform",
        );
    }

    #[test]
    fn io_keeps_its_source_through_clone() {
        let err = ProcError::io("/x", std::io::Error::other("disk on fire"));
        let copy = err.clone();
        let source = copy.source().expect("io error has a source");
        assert_eq!(source.to_string(), "disk on fire");
    }
}
