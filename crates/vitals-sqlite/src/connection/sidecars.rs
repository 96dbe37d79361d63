//! The files SQLite may open next to a database (`-journal`, `-wal`,
//! `-shm`): each that exists must be a regular file, and, running as root,
//! belong to the database's owner.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::SqliteError;

#[cfg(unix)]
use super::unix as platform;
#[cfg(not(unix))]
use super::unsupported as platform;

/// Running as root, refuses files next to the database that belong to
/// another owner than the database: SQLite would `fchown` each it opens to
/// the database's owner (see [`SqliteError::OwnerMismatch`]). Not running
/// as root, SQLite changes no owner and nothing is checked.
///
/// # Errors
///
/// [`SqliteError::OwnerMismatch`] for the first such file.
pub(super) fn check_owners(
    path: &Path,
    database: &fs::Metadata,
    found: &[Option<fs::Metadata>; 3],
) -> Result<(), SqliteError> {
    if !platform::is_root() {
        return Ok(());
    }
    let database_owner = platform::owner(database);
    for (meta, suffix) in found.iter().zip(SIDECARS) {
        if let Some(meta) = meta
            && platform::owner(meta) != database_owner
        {
            return Err(SqliteError::OwnerMismatch {
                path: sidecar(path, suffix),
                owner: platform::owner(meta),
                database_owner,
            });
        }
    }
    Ok(())
}

/// The files SQLite may open next to a database, in the order of [`sidecars`].
const SIDECARS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The `-journal`, `-wal` and `-shm` next to `path`: the metadata of each
/// that exists (not following a link: SQLite opens them with `O_NOFOLLOW`).
///
/// # Errors
///
/// [`SqliteError::NotARegularFile`] for the first that exists and is not a
/// regular file: SQLite would block for ever opening a FIFO (it checks a
/// `-journal` for a hot journal at the start of every read transaction),
/// and fail without naming the file on anything else.
/// [`SqliteError::Io`] when one cannot be examined.
pub(super) fn sidecars(path: &Path) -> Result<[Option<fs::Metadata>; 3], SqliteError> {
    let mut out = [None, None, None];
    for (slot, suffix) in out.iter_mut().zip(SIDECARS) {
        let side = sidecar(path, suffix);
        match fs::symlink_metadata(&side) {
            Ok(meta) if meta.is_file() => *slot = Some(meta),
            Ok(meta) => {
                return Err(SqliteError::NotARegularFile {
                    what: platform::describe(meta.file_type()),
                    path: side,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(SqliteError::Io { path: side, source }),
        }
    }
    Ok(out)
}

/// `path` with `suffix` appended to its file name (`db` -> `db-wal`).
pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_appends_to_the_file_name() {
        assert_eq!(
            sidecar(Path::new("/x/db.sqlite"), "-wal"),
            Path::new("/x/db.sqlite-wal")
        );
    }
}
