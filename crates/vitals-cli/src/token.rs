//! The bearer token file of `vitals serve`: checked like ssh checks a key
//! (a regular file, not readable by others), read without ever blocking.

use std::fs::{File, Metadata};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use nix::fcntl::OFlag;
use vitals::http::BearerToken;

use crate::CliError;

/// A token file longer than this is not a token file (the token itself is at
/// most [`BearerToken::MAX_LEN`] bytes, plus whitespace).
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Reads and checks the token in `path`.
///
/// Refuses anything but a regular file, checked before opening (a FIFO
/// would block the open until a writer came) and again on the opened file;
/// the file is opened with `O_NONBLOCK` so that one swapped in between
/// cannot block either. Warns when group or others have any access to it.
pub(crate) fn read(path: &Path) -> Result<BearerToken, CliError> {
    let io_error = |source| CliError::TokenFile {
        path: path.to_owned(),
        source,
    };
    check_regular(path, &std::fs::metadata(path).map_err(io_error)?)?;
    let file = File::options()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    check_regular(path, &metadata)?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:04o}"),
            "the token file is accessible to group or others; anyone who can read it can read the snapshot: chmod 600 {}",
            path.display()
        );
    }
    let mut text = String::new();
    file.take(MAX_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(io_error)?;
    BearerToken::new(text).map_err(|source| CliError::Token {
        path: path.to_owned(),
        source,
    })
}

fn check_regular(path: &Path, metadata: &Metadata) -> Result<(), CliError> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(CliError::TokenFileNotRegular {
        path: path.to_owned(),
        what,
    })
}
