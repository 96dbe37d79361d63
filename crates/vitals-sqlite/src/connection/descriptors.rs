//! One descriptor per database file for the whole process, never closed.
//!
//! The store reads the 100-byte database header (the magic, the WAL flag)
//! before it opens a connection, so it needs a descriptor of its own on the
//! file. On POSIX, closing *any* descriptor of a file releases every `fcntl`
//! lock the process holds on that file, whichever descriptor took it
//! (<https://sqlite.org/howtocorrupt.html>, section 2.2): SQLite's locks of
//! every other connection of this process, among them the store's other
//! workers (the background recount, [`crate::bench::floor_queries`],
//! [`crate::doctor::diagnose`]) and, when the collector is embedded, the
//! host's own read-write connection, whose write lock would silently vanish.
//!
//! So the descriptors are kept here, one per file identity (device and
//! inode), opened on first use and not closed while the file exists. Every
//! worker reads the header through them (`pread`, no shared offset).
//!
//! The bound: one descriptor per database file the process has read that
//! still has a name on disk. A file replaced by a rename (a restore, a
//! `VACUUM INTO` renamed over it) has a new inode and adds one. A
//! descriptor is closed only once its file has no name left (link count 0:
//! deleted, or replaced and gone) and no worker uses it, when the next file
//! is opened: nobody can open such a file any more, so no lock on it can
//! protect anything (a process still writing an unlinked database is the
//! corruption of section 2.4 of the same page already). Until then the
//! deleted file's blocks stay allocated, as they would while any
//! connection keeps it open.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// A file's identity: device and inode.
pub(crate) type Identity = (u64, u64);

/// The registry: identities with their descriptor, and descriptors whose
/// identity could not be read (kept open all the same).
struct Registry {
    files: Vec<(Identity, Arc<File>)>,
    unknown: Vec<File>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    files: Vec::new(),
    unknown: Vec::new(),
});

/// The process's descriptor of the file at `path` and its identity; opened
/// (read-only) the first time this identity is met, never closed.
///
/// The identity is that of the descriptor itself, which may differ from a
/// `stat` of the path taken a moment earlier when the file was replaced in
/// between; a caller compares it with its own view to see the replacement.
pub(crate) fn descriptor(path: &Path) -> io::Result<(Arc<File>, Identity)> {
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    registry.prune();
    let meta = fs::metadata(path)?;
    let seen = (meta.dev(), meta.ino());
    if let Some(file) = registry.find(seen) {
        return Ok((file, seen));
    }
    // Non-blocking: a FIFO put at the path after the caller's `stat` would
    // block a plain `open` (here, under the registry's lock) until a writer
    // came. A regular file reads the same either way.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let identity = match file.metadata() {
        // Not the database (a FIFO, a directory): closing it drops no lock.
        Ok(meta) if !meta.is_file() => return Err(not_a_regular_file()),
        Ok(meta) => (meta.dev(), meta.ino()),
        Err(error) => {
            // Dropping it would close a descriptor of the database.
            registry.unknown.push(file);
            return Err(error);
        }
    };
    if let Some(known) = registry.find(identity) {
        // Replaced between the `stat` and the `open` by a file we already
        // hold: keep the new descriptor open too, answer with the old one.
        registry.unknown.push(file);
        return Ok((known, identity));
    }
    let file = Arc::new(file);
    registry.files.push((identity, Arc::clone(&file)));
    Ok((file, identity))
}

/// The error of [`descriptor`] when the path names something else than a
/// regular file (kind [`io::ErrorKind::InvalidInput`]).
fn not_a_regular_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

impl Registry {
    /// Closes the descriptors of files that have no name left and that no
    /// worker uses.
    fn prune(&mut self) {
        let unlinked = |file: &File| file.metadata().is_ok_and(|meta| meta.nlink() == 0);
        self.files
            .retain(|(_, file)| Arc::strong_count(file) > 1 || !unlinked(file));
        self.unknown.retain(|file| !unlinked(file));
    }

    fn find(&self, identity: Identity) -> Option<Arc<File>> {
        self.files
            .iter()
            .find(|(id, _)| *id == identity)
            .map(|(_, file)| Arc::clone(file))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    #[test]
    fn one_descriptor_per_file_kept_while_the_file_has_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        std::fs::write(&path, b"first").unwrap();
        let (a1, id1) = descriptor(&path).unwrap();
        let (a2, id2) = descriptor(&path).unwrap();
        assert!(Arc::ptr_eq(&a1, &a2), "shared, not opened twice");
        assert_eq!(id1, id2);
        // Replaced by a rename: a new identity, a descriptor of its own.
        let other = dir.path().join("b.db");
        std::fs::write(&other, b"second").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let (b, id3) = descriptor(&path).unwrap();
        assert_ne!(id1, id3);
        let mut buf = [0_u8; 5];
        a1.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(
            &buf, b"first",
            "the replaced file's descriptor is still open"
        );
        b.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"secon");
        // The replaced file has no name left: once nobody uses it, the next
        // lookup closes it. The file with a name stays open.
        let replaced = Arc::downgrade(&a1);
        let current = Arc::downgrade(&b);
        drop((a1, a2, b));
        descriptor(&path).unwrap();
        assert!(
            replaced.upgrade().is_none(),
            "closed once unlinked and unused"
        );
        assert!(
            current.upgrade().is_some(),
            "kept while the file has a name"
        );
    }
}
