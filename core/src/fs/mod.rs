//! Safe filesystem operations through directory fds and validated [`Name`]s (STYLE.md §3).
//!
//! What lives here, for `mv`, `mknod`, `init` and `deploy`:
//! - opening: [`open_dir`] (an argv path), [`open_dir_at`] (one name, never through a symlink);
//! - renaming: [`rename`], [`rename_noreplace`] (place an entry only if the name is free),
//!   [`exchange`] (swap two entries atomically), [`replace_symlink`] (the commit point of a
//!   deployment: a symlink flipped by one `renameat`);
//! - durability: [`syncfs`];
//! - trees: [`copy::copy_tree`] and [`copy::move_across`] (mv's cross-filesystem path),
//!   [`remove::remove_tree`];
//! - pure helpers: [`split_path`] (argv path → parent + [`Name`]), [`mode::parse_mode`].
//!
//! Every function maps errno once to `Error::Sys { op }` with `op` the syscall's name; the
//! caller adds the path it holds. None of these functions syncs unless its doc says so: the
//! caller names the state to make durable and calls [`syncfs`] (reliability.md §2).

pub mod copy;
pub mod mode;
pub mod remove;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, ParseError, Result};
use crate::name::Name;

/// Deepest directory nesting the tree walks follow (each level holds two fds); deeper trees
/// fail with `Error::Limit`, so the recursion depth is never chosen by the input.
pub const MAX_DEPTH: usize = 256;

/// `open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC)` for a directory named on the command line
/// (symlinks in it are followed, as a shell user expects).
///
/// # Errors
/// `Sys { op: "open" }`.
pub fn open_dir(path: &str) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", e))
}

/// `openat(dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC)`: the subdirectory `name`,
/// never through a symlink (`ELOOP`/`ENOTDIR` then).
///
/// # Errors
/// `Sys { op: "openat" }`.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: Name<'_>) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name.as_bytes(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("openat", e))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, a symlink not followed.
///
/// # Errors
/// `Sys { op: "fstatat" }` (`ENOENT` when absent).
pub fn lstat_at(dir: BorrowedFd<'_>, name: Name<'_>) -> Result<Stat> {
    rustix::fs::statat(dir, name.as_bytes(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::sys("fstatat", e))
}

/// `renameat(old_dir, old, new_dir, new)`: atomically replaces `new` if it exists (a directory
/// only by an empty directory).
///
/// # Errors
/// `Sys { op: "renameat" }` (`EXDEV` across filesystems).
pub fn rename(
    old_dir: BorrowedFd<'_>,
    old: Name<'_>,
    new_dir: BorrowedFd<'_>,
    new: Name<'_>,
) -> Result<()> {
    rustix::fs::renameat(old_dir, old.as_bytes(), new_dir, new.as_bytes())
        .map_err(|e| Error::sys("renameat", e))
}

/// `renameat2(old_dir, old, new_dir, new, RENAME_NOREPLACE)`: moves `old` to `new` only if
/// `new` does not exist; how a finished checkout is placed without ever replacing another.
///
/// # Errors
/// `Sys { op: "renameat2" }` (`EEXIST` when `new` is taken; `EINVAL` on a filesystem without
/// support).
pub fn rename_noreplace(
    old_dir: BorrowedFd<'_>,
    old: Name<'_>,
    new_dir: BorrowedFd<'_>,
    new: Name<'_>,
) -> Result<()> {
    rustix::fs::renameat_with(
        old_dir,
        old.as_bytes(),
        new_dir,
        new.as_bytes(),
        RenameFlags::NOREPLACE,
    )
    .map_err(|e| Error::sys("renameat2", e))
}

/// `renameat2(a_dir, a, b_dir, b, RENAME_EXCHANGE)`: swaps the two entries in one step (both
/// must exist; they may be of different types). After a crash either both or neither moved.
///
/// # Errors
/// `Sys { op: "renameat2" }`.
pub fn exchange(
    a_dir: BorrowedFd<'_>,
    a: Name<'_>,
    b_dir: BorrowedFd<'_>,
    b: Name<'_>,
) -> Result<()> {
    rustix::fs::renameat_with(
        a_dir,
        a.as_bytes(),
        b_dir,
        b.as_bytes(),
        RenameFlags::EXCHANGE,
    )
    .map_err(|e| Error::sys("renameat2", e))
}

/// `write(fd, …)` until all of `data` is written, retrying `EINTR`: the one write loop of core
/// (checkout, mv's copy, deploy state files and pulled objects all use it).
///
/// # Errors
/// `Sys { op: "write" }`; a write that makes no progress is `EIO`.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(Error::sys("write", Errno::IO)),
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(Errno::INTR) => {}
            Err(e) => return Err(Error::sys("write", e)),
        }
    }
    Ok(())
}

/// Points symlink `name` in `dir` at `target` atomically: removes a stale `tmp`, then
/// `symlinkat(target, dir, tmp)` and `renameat(dir, tmp, dir, name)`.
///
/// Crash behaviour: `name` is always either the old link (or absent, if there was none) or the
/// new one, never missing in between; a leftover `tmp` is harmless and removed by the next call.
/// Not durable until [`syncfs`] (or an fsync of `dir`) returns.
///
/// # Errors
/// `Sys { op: "unlinkat" | "symlinkat" | "renameat" }`; on a failed rename `tmp` is removed.
pub fn replace_symlink(
    dir: BorrowedFd<'_>,
    name: Name<'_>,
    target: &[u8],
    tmp: Name<'_>,
) -> Result<()> {
    match rustix::fs::unlinkat(dir, tmp.as_bytes(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(Error::sys("unlinkat", e)),
    }
    rustix::fs::symlinkat(target, dir, tmp.as_bytes()).map_err(|e| Error::sys("symlinkat", e))?;
    rename(dir, tmp, dir, name).inspect_err(|_| {
        let _ = rustix::fs::unlinkat(dir, tmp.as_bytes(), AtFlags::empty());
    })
}

/// `syncfs(fd)`: everything written to the filesystem holding `fd` is on disk when it returns.
///
/// # Errors
/// `Sys { op: "syncfs" }` (`EIO` when a write-back failed).
pub fn syncfs(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::fs::syncfs(fd).map_err(|e| Error::sys("syncfs", e))
}

/// The kind of special file [`make_node`] creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A block device (`S_IFBLK`).
    Block,
    /// A character device (`S_IFCHR`).
    Char,
    /// A named pipe (`S_IFIFO`; major and minor are ignored).
    Fifo,
}

/// `mknodat(dir, name, kind | mode, makedev(major, minor))`: the process umask applies to
/// `mode`, as for every creation. Device numbers come from `/sys/class/*/dev`, never a
/// hard-coded table (DESIGN.md, "init").
/// See [mknod(2)](https://man7.org/linux/man-pages/man2/mknod.2.html).
///
/// # Errors
/// `Sys { op: "mknodat" }` (`EEXIST` when `name` exists, `EPERM` without CAP_MKNOD).
pub fn make_node(
    dir: BorrowedFd<'_>,
    name: Name<'_>,
    kind: NodeKind,
    mode: u32,
    major: u32,
    minor: u32,
) -> Result<()> {
    let (ft, dev) = match kind {
        NodeKind::Block => (
            rustix::fs::FileType::BlockDevice,
            rustix::fs::makedev(major, minor),
        ),
        NodeKind::Char => (
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::makedev(major, minor),
        ),
        NodeKind::Fifo => (rustix::fs::FileType::Fifo, 0),
    };
    rustix::fs::mknodat(
        dir,
        name.as_bytes(),
        ft,
        Mode::from_raw_mode(mode & 0o7777),
        dev,
    )
    .map_err(|e| Error::sys("mknodat", e))
}

/// True when the directory `dir` is the inode `(dev, ino)` or lies below it, found by walking
/// `..` up to the root (mounts are crossed, as path lookup does). `mv` uses it to refuse moving
/// a directory into itself.
///
/// # Errors
/// `Sys { op: "fstat" | "openat" }`; `Error::Limit` past 4096 levels.
pub fn is_inside(dir: BorrowedFd<'_>, dev: u64, ino: u64) -> Result<bool> {
    let mut cur: Option<OwnedFd> = None;
    for _ in 0..4096 {
        let fd = cur.as_ref().map_or(dir, |f| f.as_fd());
        let st = rustix::fs::fstat(fd).map_err(|e| Error::sys("fstat", e))?;
        if (st.st_dev, st.st_ino) == (dev, ino) {
            return Ok(true);
        }
        let up = rustix::fs::openat(
            fd,
            "..",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("openat", e))?;
        let ust = rustix::fs::fstat(&up).map_err(|e| Error::sys("fstat", e))?;
        if (ust.st_dev, ust.st_ino) == (st.st_dev, st.st_ino) {
            return Ok(false);
        }
        cur = Some(up);
    }
    Err(Error::Limit("directory depth"))
}

/// Splits a command-line path into its parent directory and last component, trailing slashes
/// ignored: `a/b/` → (`a`, `b`), `/x` → (`/`, `x`), `x` → (`.`, `x`).
///
/// # Errors
/// `Malformed::BadName` when the last component is empty, `.` or `..` (`/`, `a/..`).
pub fn split_path(path: &str) -> core::result::Result<(&str, Name<'_>), ParseError> {
    let trimmed = path.trim_end_matches('/');
    let (parent, last) = match trimmed.rfind('/') {
        Some(i) => {
            let p = trimmed.get(..i).unwrap_or("");
            let p = p.trim_end_matches('/');
            (
                if p.is_empty() { "/" } else { p },
                trimmed.get(i + 1..).unwrap_or(""),
            )
        }
        None => (".", trimmed),
    };
    Ok((parent, Name::new(last.as_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(p: &str) -> Option<(&str, &[u8])> {
        split_path(p).ok().map(|(d, n)| (d, n.as_bytes()))
    }

    #[test]
    fn splits_paths_into_parent_and_name() {
        assert_eq!(sp("a"), Some((".", &b"a"[..])));
        assert_eq!(sp("a/b"), Some(("a", &b"b"[..])));
        assert_eq!(sp("a/b/"), Some(("a", &b"b"[..])));
        assert_eq!(sp("/x"), Some(("/", &b"x"[..])));
        assert_eq!(sp("//x//"), Some(("/", &b"x"[..])));
        assert_eq!(sp("/mnt//sysroot"), Some(("/mnt", &b"sysroot"[..])));
    }

    #[test]
    fn refuses_paths_without_a_name() {
        for p in ["", "/", ".", "..", "a/.", "a/..", "///"] {
            assert_eq!(sp(p), None, "{p}");
        }
    }
}
