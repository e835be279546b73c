//! `ostree init` (ostree-format.md §1): the directory layout and `[core]` config, plus the
//! whole-file replace used for `config` and refs.
//!
//! Layout created, as `repo.c:2793` does: `tmp tmp/cache extensions state refs refs/heads
//! refs/mirrors refs/remotes objects`, every directory mode 0755 (before umask), then `config` =
//! `[core]\nrepo_version=1\nmode=M\n`. Like `ostree init`, an existing `config` is left alone and
//! the call succeeds (the repository is already initialized).

use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::fs::write_all;

/// A repository mode `init` can write, from the `--mode` word (ostree-format.md §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitMode {
    /// `archive-z2` (also spelled `archive`; the config records `archive-z2`).
    Archive,
    /// `bare`.
    Bare,
    /// `bare-user`.
    BareUser,
    /// `bare-user-only`.
    BareUserOnly,
}

/// `--mode` words, with the mode each one means.
const MODES: &[(&str, InitMode)] = &[
    ("archive", InitMode::Archive),
    ("archive-z2", InitMode::Archive),
    ("bare", InitMode::Bare),
    ("bare-user", InitMode::BareUser),
    ("bare-user-only", InitMode::BareUserOnly),
];

impl InitMode {
    /// The mode for a `--mode` word; `None` for an unknown word (bare-split-xattrs is refused).
    pub fn from_word(word: &str) -> Option<Self> {
        MODES.iter().find(|(w, _)| *w == word).map(|(_, m)| *m)
    }

    /// The value written after `mode=` in `config`.
    pub fn config_name(self) -> &'static str {
        match self {
            InitMode::Archive => "archive-z2",
            InitMode::Bare => "bare",
            InitMode::BareUser => "bare-user",
            InitMode::BareUserOnly => "bare-user-only",
        }
    }
}

/// Directories `ostree init` creates, parents before children.
const DIRS: &[&str] = &[
    "tmp",
    "tmp/cache",
    "extensions",
    "state",
    "refs",
    "refs/heads",
    "refs/mirrors",
    "refs/remotes",
    "objects",
];

/// Creates the repository at `path` (relative to the cwd, or absolute, as given on argv).
///
/// Returns `false` when `path` already held a `config` (nothing was changed), `true` when it
/// was initialized now.
///
/// # Errors
/// The failing syscall (`mkdir`, `openat`, …).
pub fn init(path: &str, mode: InitMode) -> Result<bool> {
    match fs::mkdirat(fs::CWD, path, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::sys("mkdir", e)),
    }
    let repo = open_dir(fs::CWD, path)?;
    match fs::statat(&repo, "config", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Ok(false),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(Error::sys("stat", e)),
    }
    for d in DIRS {
        mkdir_exist_ok(repo.as_fd(), d)?;
    }
    let mut config = Vec::with_capacity(64);
    config.extend_from_slice(b"[core]\nrepo_version=1\nmode=");
    config.extend_from_slice(mode.config_name().as_bytes());
    config.push(b'\n');
    // Every directory made above (in several parents) must be durable before `config` says
    // "this is a repository": one syncfs covers them all.
    fs::syncfs(&repo).map_err(|e| Error::sys("syncfs", e))?;
    replace_file(repo.as_fd(), repo.as_fd(), "config", &config)?;
    Ok(true)
}

/// `openat(dir, path, O_DIRECTORY|O_RDONLY|O_CLOEXEC)`.
///
/// # Errors
/// `openat` and its errno.
pub fn open_dir(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd> {
    fs::openat(
        dir,
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("openat", e))
}

/// `mkdirat(dir, name, 0755)`, treating `EEXIST` as success.
///
/// # Errors
/// `mkdir` and its errno.
pub fn mkdir_exist_ok(dir: BorrowedFd<'_>, name: &str) -> Result<()> {
    match fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::sys("mkdir", e)),
    }
}

/// Reads the whole regular file `name` in `dir`, refusing more than `limit` bytes.
///
/// # Errors
/// The failing syscall, or `Limit` when the file is larger than `limit`.
pub fn read_file(dir: BorrowedFd<'_>, name: &str, limit: usize) -> Result<Vec<u8>> {
    let fd = fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("openat", e))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len().saturating_add(n) > limit {
                    return Err(Error::Limit("file size"));
                }
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(Error::sys("read", e)),
        }
    }
}

/// Replaces `dir/name` with `data` atomically: a new file in `tmp` is written, `fsync`ed and
/// `renameat` over `name`, then `dir` is `fsync`ed so the new name is durable.
///
/// After a crash, `name` holds either its old or its new bytes; at worst a `.tmp-` file is
/// left in `tmp`.
///
/// # Errors
/// The failing syscall.
pub fn replace_file(
    tmp: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    data: &[u8],
) -> Result<()> {
    let mut tmp_name = [0u8; 32];
    let (fd, len) = create_unique(tmp, super::store::TMP_PREFIX, &mut tmp_name)?;
    let tmp_name = tmp_name.get(..len).unwrap_or_default();
    let result = (|| {
        write_all(fd.as_fd(), data)?;
        fs::fsync(&fd).map_err(|e| Error::sys("fsync", e))?;
        fs::renameat(tmp, tmp_name, dir, name).map_err(|e| Error::sys("rename", e))
    })();
    if result.is_err() {
        let _ = fs::unlinkat(tmp, tmp_name, AtFlags::empty());
        return result;
    }
    fs::fsync(dir).map_err(|e| Error::sys("fsync", e))
}

/// Creates a new file `PREFIX<pid>-<n>` in `dir` (O_EXCL, mode 0644) and returns it with the
/// length of its name in `name_buf` (which must hold `prefix` plus 21 bytes).
pub(crate) fn create_unique(
    dir: BorrowedFd<'_>,
    prefix: &[u8],
    name_buf: &mut [u8],
) -> Result<(OwnedFd, usize)> {
    use core::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut len = 0;
        for &b in prefix {
            *name_buf.get_mut(len).ok_or(Error::Limit("name length"))? = b;
            len += 1;
        }
        len = push_dec(name_buf, len, pid)?;
        *name_buf.get_mut(len).ok_or(Error::Limit("name length"))? = b'-';
        len = push_dec(name_buf, len + 1, n)?;
        let name = name_buf.get(..len).ok_or(Error::Limit("name length"))?;
        match fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => return Ok((fd, len)),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("openat", e)),
        }
    }
    Err(Error::Limit("temporary file names"))
}

/// Writes `n` in decimal at `buf[at..]`, returning the new end.
fn push_dec(buf: &mut [u8], at: usize, mut n: u32) -> Result<usize> {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let src = digits.get(i..).unwrap_or_default();
    let dst = buf
        .get_mut(at..at + src.len())
        .ok_or(Error::Limit("name length"))?;
    dst.copy_from_slice(src);
    Ok(at + src.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_an_alias_recorded_as_archive_z2() {
        assert_eq!(InitMode::from_word("archive"), Some(InitMode::Archive));
        assert_eq!(
            InitMode::from_word("archive").map(InitMode::config_name),
            Some("archive-z2")
        );
        assert_eq!(
            InitMode::from_word("bare-user-only").map(InitMode::config_name),
            Some("bare-user-only")
        );
        assert_eq!(InitMode::from_word("bare-split-xattrs"), None);
        assert_eq!(InitMode::from_word(""), None);
    }

    #[test]
    fn push_dec_writes_digits() {
        let mut b = [0u8; 12];
        let end = push_dec(&mut b, 1, 4_294_967_295).unwrap();
        assert_eq!(&b[1..end], b"4294967295");
        assert!(push_dec(&mut [0u8; 3], 0, 12345).is_err());
    }
}
