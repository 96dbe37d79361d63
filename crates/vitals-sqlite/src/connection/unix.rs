//! What the file checks need of a Unix platform: a file version's
//! fingerprint (device, inode, size, modification and change times) and
//! positioned reads (`pread`) through the process-wide descriptors of
//! [`descriptors`](super::descriptors).

use std::fs::{File, FileType, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::SqliteError;

pub(super) use super::descriptors::{Identity, descriptor};

/// Whether the store can read a database here: yes.
#[expect(
    clippy::unnecessary_wraps,
    reason = "the same signature as the fallback of other platforms"
)]
pub(super) fn supported() -> Result<(), SqliteError> {
    Ok(())
}

/// What identifies a version of the file: any write changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    /// The file's identity (device and inode): a replaced file has another.
    pub(super) fn identity(&self) -> Identity {
        (self.dev, self.ino)
    }

    /// The file's size in bytes.
    pub(super) fn size(&self) -> u64 {
        self.len
    }
}

/// The fingerprint of the file `meta` describes (`path` names it in errors).
#[expect(
    clippy::unnecessary_wraps,
    reason = "the same signature as the fallback of other platforms"
)]
pub(super) fn fingerprint(_path: &Path, meta: &Metadata) -> Result<Fingerprint, SqliteError> {
    Ok(Fingerprint {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// Fills `buf` from `offset` of `file` without moving a shared file
/// position (the descriptor is shared by every reader of the process).
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// What `file_type` is, for a message: "a FIFO", "a directory", ...
pub(super) fn describe(file_type: FileType) -> &'static str {
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Whether the process runs with the effective user id 0. SQLite's unix VFS
/// then `fchown`s every `-wal`, `-shm` and rollback `-journal` it opens to
/// the database file's owner (`robustFchown`, called only when `geteuid()`
/// is 0), read-only connections included.
pub(super) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The owner of the file `meta` describes: user and group ids.
pub(super) fn owner(meta: &Metadata) -> (u32, u32) {
    (meta.uid(), meta.gid())
}
