//! The file checks on a platform that is not Unix: the store cannot tell a
//! replaced or rewritten file from the same file (no device and inode in
//! the standard library there), and its reason for a descriptor kept open,
//! POSIX locks, does not hold. So every read answers
//! [`SqliteError::Unsupported`] before it opens anything.
//!
//! Compiled on Unix too under `cfg(test)`, so that this fallback is tested
//! where the test suite runs.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::SqliteError;

/// Why the store needs Unix, in [`SqliteError::Unsupported`].
pub(super) const REASON: &str = "it tells a replaced or rewritten database file by its device, \
     inode and change time, and reads the file's header through a descriptor it never closes \
     (closing one would drop the process's POSIX locks on it)";

/// Whether the store can read a database here: no.
pub(super) fn supported() -> Result<(), SqliteError> {
    Err(SqliteError::Unsupported { reason: REASON })
}

/// A file identity: none can be had here (the type has no value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identity {}

/// A file version's fingerprint: none can be had here (the type has no
/// value, so the code that would use one is never reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fingerprint {}

impl Fingerprint {
    /// The file's identity.
    pub(super) fn identity(&self) -> Identity {
        match *self {}
    }

    /// The file's size in bytes.
    pub(super) fn size(&self) -> u64 {
        match *self {}
    }
}

/// No fingerprint: [`SqliteError::Unsupported`].
pub(super) fn fingerprint(_path: &Path, _meta: &Metadata) -> Result<Fingerprint, SqliteError> {
    Err(SqliteError::Unsupported { reason: REASON })
}

/// No process-wide descriptor: an `Unsupported` I/O error.
pub(super) fn descriptor(_path: &Path) -> io::Result<(Arc<File>, Identity)> {
    Err(io::ErrorKind::Unsupported.into())
}

/// What `file_type` is, for a message (never reached off Unix: every read
/// is refused before).
pub(super) fn describe(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Whether the process runs as root: never asked off Unix.
pub(super) fn is_root() -> bool {
    false
}

/// A file's owner: none off Unix (never asked: every read is refused before).
pub(super) fn owner(_meta: &Metadata) -> (u32, u32) {
    (0, 0)
}

/// No positioned read: an `Unsupported` I/O error.
pub(super) fn read_at(_file: &File, _buf: &mut [u8], _offset: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use vitals_core::SourceError;

    use super::*;

    #[test]
    fn every_check_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orchestrator.db");
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        let error = supported().unwrap_err();
        assert_eq!(error.kind(), "unsupported");
        assert!(
            error
                .to_string()
                .starts_with("the read-only SQLite store needs a Unix platform: it tells"),
            "{error}"
        );
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(fingerprint(&path, &meta).unwrap_err().kind(), "unsupported");
        // Never asked off Unix; answers that refuse nothing more.
        assert!(!is_root());
        assert_eq!(owner(&meta), (0, 0));
        assert_eq!(describe(meta.file_type()), "a regular file");
        assert_eq!(
            describe(std::fs::metadata(dir.path()).unwrap().file_type()),
            "a directory"
        );
        assert_eq!(
            descriptor(&path).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        let file = File::open(&path).unwrap();
        assert_eq!(
            read_at(&file, &mut [0; 4], 0).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        // Nothing can be asked of values that cannot exist.
        let _: fn(&Fingerprint) -> Identity = Fingerprint::identity;
        let _: fn(&Fingerprint) -> u64 = Fingerprint::size;
    }

    /// Off Unix, the store, the benchmark floor and the doctor answer
    /// `unsupported`, a missing file included.
    #[cfg(not(unix))]
    #[tokio::test]
    async fn off_unix_everything_answers_unsupported() {
        use vitals_queue::QueueSource;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orchestrator.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL);")
            .unwrap();
        for path in [path.clone(), dir.path().join("missing.db")] {
            let store = crate::SqliteStore::open(&path);
            let cx = vitals_core::Collect::standalone(None, std::time::Duration::from_secs(5));
            let error = store.status_counts(&cx).await.unwrap_err();
            assert_eq!(error.kind(), "unsupported");
            let floor = crate::bench::floor_queries(&path).unwrap_err();
            assert_eq!(floor.kind(), "unsupported");
            let doctor = crate::doctor::diagnose(&path).unwrap_err();
            assert_eq!(doctor.kind(), "unsupported");
        }
    }
}
