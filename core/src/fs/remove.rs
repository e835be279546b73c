//! Removing a whole tree through directory fds: `rm -rf` that never follows a symlink and
//! never crosses into another mount.
//!
//! Used by `mv` (the source, once its copy is complete), by `init`/`deploy` (`*.tmp-*`
//! leftovers of an interrupted checkout) and to drop a partial copy.

use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, Dir};
use rustix::io::Errno;

use super::{lstat_at, open_dir_at, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::name::Name;

/// Text of the error for a tree that holds a mount point.
pub const MOUNT_POINT: &str = "refusing to cross a mount point";

/// Removes `name` in `dir` and, if it is a directory, everything below it.
///
/// Symlinks are removed, never followed. A directory on another device than `name` itself (a
/// mount point, `name` itself included) stops the walk with [`MOUNT_POINT`] before anything inside it is touched.
///
/// Crash behaviour: entries vanish one by one, children before their directory; an interrupted
/// removal leaves a smaller tree that a second call finishes. Nothing is synced.
///
/// # Errors
/// `Sys { op: "fstatat" | "openat" | "unlinkat" | "getdents" }`, `State(MOUNT_POINT)`,
/// `Limit("directory depth")`. `ENOENT` for `name` itself is an error too.
pub fn remove_tree(dir: BorrowedFd<'_>, name: Name<'_>) -> Result<()> {
    match rustix::fs::unlinkat(dir, name.as_bytes(), AtFlags::empty()) {
        Ok(()) => return Ok(()),
        // Linux says EISDIR for unlink() of a directory (POSIX allows EPERM).
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(Error::sys("unlinkat", e)),
    }
    let st = lstat_at(dir, name)?;
    let parent = rustix::fs::fstat(dir).map_err(|e| Error::sys("fstat", e))?;
    if st.st_dev != parent.st_dev {
        return Err(Error::State(MOUNT_POINT));
    }
    let sub = open_dir_at(dir, name)?;
    remove_contents(sub.as_fd(), st.st_dev, 0)?;
    drop(sub);
    rustix::fs::unlinkat(dir, name.as_bytes(), AtFlags::REMOVEDIR)
        .map_err(|e| Error::sys("unlinkat", e))
}

/// Empties the directory `dir` (which is on device `dev`) without removing it.
fn remove_contents(dir: BorrowedFd<'_>, dev: u64, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(Error::Limit("directory depth"));
    }
    // Read every name first: deleting while getdents walks the same directory may skip entries
    // on some filesystems.
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut rd = Dir::read_from(dir).map_err(|e| Error::sys("openat", e))?;
    while let Some(ent) = rd.read() {
        let ent = ent.map_err(|e| Error::sys("getdents", e))?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    drop(rd);
    for raw in &names {
        let name = Name::new(raw)?;
        match rustix::fs::unlinkat(dir, name.as_bytes(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => continue,
            Err(Errno::ISDIR) | Err(Errno::PERM) => {}
            Err(e) => return Err(Error::sys("unlinkat", e)),
        }
        let st = lstat_at(dir, name)?;
        if st.st_dev != dev {
            return Err(Error::State(MOUNT_POINT));
        }
        let sub = open_dir_at(dir, name)?;
        remove_contents(sub.as_fd(), dev, depth + 1)?;
        drop(sub);
        rustix::fs::unlinkat(dir, name.as_bytes(), AtFlags::REMOVEDIR)
            .map_err(|e| Error::sys("unlinkat", e))?;
    }
    Ok(())
}
