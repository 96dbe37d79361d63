//! Creating a database file this crate owns, and removing it after a failure.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::RefDbError;

/// Creates an empty file at `path`, refusing to touch an existing one. SQLite
/// treats an empty file as a new database.
pub(crate) fn create_new_file(path: &Path) -> Result<(), RefDbError> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(source) if source.kind() == io::ErrorKind::AlreadyExists => {
            Err(RefDbError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(source) => Err(RefDbError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Best-effort removal of a database this crate created and failed to finish.
pub(crate) fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        // Cleanup after an earlier error: that error is the one to report.
        let _ignored = fs::remove_file(PathBuf::from(name));
    }
}
