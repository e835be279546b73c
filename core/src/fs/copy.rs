//! Copying a tree across filesystems with its metadata, and `mv`'s cross-filesystem move.
//!
//! [`copy_tree`] recreates every entry below the source: regular files (content by
//! read/write), directories, symlinks, character and block devices, FIFOs and sockets. Each
//! entry keeps its type, mode (setuid/setgid/sticky included), owner, extended attributes
//! (`user.*`, `security.*`, `trusted.*`, ACLs), and atime and mtime to the nanosecond (ctime
//! cannot be set). Files that are hard links of each other *inside* the copied tree stay hard
//! links of each other (an OSTree checkout is a hard-link farm: copying it link by link would
//! multiply its size). Busybox keeps only mode, owner and whole-second mtime (anchors §1.5).
//!
//! Order per entry: content, owner (chown clears setuid/setgid and `security.capability`, so
//! it comes first), mode, xattrs, times (last, since every other step changes them); a
//! directory gets its metadata after its children.
//!
//! Policy: the copy refuses a source tree holding a mount point (it would not be removable
//! afterwards). When the owner cannot be set (`EPERM`, not root) the setuid/setgid bits are
//! dropped and the copy goes on, as busybox and coreutils do. An xattr the target refuses
//! fails the copy: it is never dropped silently (uutils#14598). For symlinks and special
//! files, xattrs are reached through `/proc/self/fd/N/NAME` (there is no fd-based call for
//! them); without `/proc` mounted they are not copied.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::Timespec;
use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use super::{is_inside, lstat_at, open_dir_at, remove::remove_tree, rename, syncfs, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::name::Name;

/// Text of the error when the destination lies inside the directory being moved.
pub const INTO_ITSELF: &str = "destination is inside the source";
/// Text of the error for replacing a directory by a non-directory.
pub const DIR_BY_NONDIR: &str = "can't overwrite directory with non-directory";
/// Text of the error for replacing a non-directory by a directory.
pub const NONDIR_BY_DIR: &str = "can't overwrite non-directory with directory";

const BUF_LEN: usize = 128 * 1024;

/// Copies `src` in `src_dir` (any type; a directory with everything below it) to the new
/// entry `dst` in `dst_dir`, which must not exist.
///
/// Crash behaviour: a partial copy is left under `dst`; callers copy under a temporary name
/// ([`move_across`]) so that a partial tree is never mistaken for a finished one. On error the
/// partial copy is left in place too: the caller removes it ([`remove_tree`]).
///
/// # Errors
/// `Sys` with the failing syscall (`write` on `ENOSPC`, `fsetxattr`, …), `State` for a mount
/// point inside the source, `Limit("directory depth")` beyond [`MAX_DEPTH`], `Parse` for an
/// entry name the kernel should never return.
pub fn copy_tree(
    src_dir: BorrowedFd<'_>,
    src: Name<'_>,
    dst_dir: BorrowedFd<'_>,
    dst: Name<'_>,
) -> Result<()> {
    let st = lstat_at(src_dir, src)?;
    let mut c = Copier {
        dev: st.st_dev,
        links: BTreeMap::new(),
        path: Vec::new(),
        dst_root: dst_dir,
        buf: alloc::vec![0; BUF_LEN],
    };
    c.entry(src_dir, src, &st, dst_dir, dst, 0)
}

/// Moves `src` in `src_dir` to `dst` in `dst_dir` on another filesystem, as `mv` does after
/// `rename` said `EXDEV`: copy to the temporary name `tmp` in `dst_dir`, `renameat` it over
/// `dst`, `syncfs` the destination, then remove the source.
///
/// Crash behaviour: until the rename, `dst` is untouched and the source complete (a leftover
/// `tmp` is garbage); after it, both copies exist; the source is removed only once `syncfs`
/// has made the new copy durable, so no power cut loses the data.
///
/// # Errors
/// `State(INTO_ITSELF)` when `dst_dir` lies inside a directory `src`; `State(DIR_BY_NONDIR |
/// NONDIR_BY_DIR)` for a type clash with an existing `dst`; any [`copy_tree`] error, after
/// which the partial copy is removed and the source is intact; `Sys { op: "renameat" }`
/// (`ENOTEMPTY` over a non-empty directory) likewise; an error from removing the source, with
/// the complete copy in place.
pub fn move_across(
    src_dir: BorrowedFd<'_>,
    src: Name<'_>,
    dst_dir: BorrowedFd<'_>,
    dst: Name<'_>,
    tmp: Name<'_>,
) -> Result<()> {
    let st = lstat_at(src_dir, src)?;
    let src_is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if src_is_dir && is_inside(dst_dir, st.st_dev, st.st_ino)? {
        return Err(Error::State(INTO_ITSELF));
    }
    match rustix::fs::statat(dst_dir, dst.as_bytes(), AtFlags::empty()) {
        Ok(d) => {
            let dst_is_dir = FileType::from_raw_mode(d.st_mode) == FileType::Directory;
            if dst_is_dir && !src_is_dir {
                return Err(Error::State(DIR_BY_NONDIR));
            }
            if !dst_is_dir && src_is_dir {
                return Err(Error::State(NONDIR_BY_DIR));
            }
        }
        Err(Errno::NOENT) => {}
        Err(e) => return Err(Error::sys("fstatat", e)),
    }
    // A stale temporary from an interrupted move is garbage by construction.
    match remove_tree(dst_dir, tmp) {
        Ok(()) => {}
        Err(Error::Sys {
            errno: Errno::NOENT,
            ..
        }) => {}
        Err(e) => return Err(e),
    }
    let placed =
        copy_tree(src_dir, src, dst_dir, tmp).and_then(|()| rename(dst_dir, tmp, dst_dir, dst));
    if let Err(e) = placed {
        let _ = remove_tree(dst_dir, tmp);
        return Err(e);
    }
    // The copy must be on disk before the source goes: they are on different filesystems, and
    // the source's removal could otherwise reach its disk first.
    syncfs(dst_dir)?;
    remove_tree(src_dir, src)
}

struct Copier<'a> {
    /// Device of the source root: a directory elsewhere is a mount point.
    dev: u64,
    /// (dev, ino) of a multiply-linked source entry → where its first copy went:
    /// (parent path relative to `dst_root`, name).
    links: BTreeMap<(u64, u64), (Vec<u8>, Vec<u8>)>,
    /// Path of the destination directory being filled, relative to `dst_root`.
    path: Vec<u8>,
    dst_root: BorrowedFd<'a>,
    buf: Vec<u8>,
}

impl Copier<'_> {
    fn entry(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: Name<'_>,
        st: &Stat,
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
        depth: usize,
    ) -> Result<()> {
        let ft = FileType::from_raw_mode(st.st_mode);
        let linked = ft != FileType::Directory && st.st_nlink > 1;
        if linked {
            if let Some((parent, first)) = self.links.get(&(st.st_dev, st.st_ino)) {
                return self.link(parent, first, ddir, dname);
            }
        }
        match ft {
            FileType::RegularFile => self.file(sdir, sname, st, ddir, dname)?,
            FileType::Directory => self.dir(sdir, sname, st, ddir, dname, depth)?,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(sdir, sname.as_bytes(), Vec::new())
                    .map_err(|e| Error::sys("readlinkat", e))?;
                rustix::fs::symlinkat(target.as_c_str(), ddir, dname.as_bytes())
                    .map_err(|e| Error::sys("symlinkat", e))?;
                self.meta_at(sdir, sname, st, ddir, dname, false)?;
            }
            _ => {
                // Devices, FIFOs, sockets: a new node of the same kind (a socket copy is inert,
                // as with cp -a).
                rustix::fs::mknodat(
                    ddir,
                    dname.as_bytes(),
                    ft,
                    Mode::from_raw_mode(0o600),
                    st.st_rdev,
                )
                .map_err(|e| Error::sys("mknodat", e))?;
                self.meta_at(sdir, sname, st, ddir, dname, true)?;
            }
        }
        if linked {
            self.links.insert(
                (st.st_dev, st.st_ino),
                (self.path.clone(), dname.as_bytes().to_vec()),
            );
        }
        Ok(())
    }

    /// A further hard link to the copy already made at `parent`/`first`.
    fn link(
        &self,
        parent: &[u8],
        first: &[u8],
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
    ) -> Result<()> {
        let held: OwnedFd;
        let pdir = if parent.is_empty() {
            self.dst_root
        } else {
            // The path is made only of names this copy created; RESOLVE_BENEATH and
            // RESOLVE_NO_SYMLINKS keep it inside the copy even so.
            let r = rustix::fs::openat2(
                self.dst_root,
                parent,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            );
            held = match r {
                Ok(fd) => fd,
                // Kernels before 5.6 have no openat2.
                Err(Errno::NOSYS) => rustix::fs::openat(
                    self.dst_root,
                    parent,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Error::sys("openat", e))?,
                Err(e) => return Err(Error::sys("openat2", e)),
            };
            held.as_fd()
        };
        rustix::fs::linkat(pdir, first, ddir, dname.as_bytes(), AtFlags::empty())
            .map_err(|e| Error::sys("linkat", e))
    }

    fn file(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: Name<'_>,
        st: &Stat,
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
    ) -> Result<()> {
        let s = rustix::fs::openat(
            sdir,
            sname.as_bytes(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("openat", e))?;
        let d = rustix::fs::openat(
            ddir,
            dname.as_bytes(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::sys("openat", e))?;
        loop {
            let n = match rustix::io::read(&s, &mut self.buf[..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("read", e)),
            };
            super::write_all(d.as_fd(), self.buf.get(..n).unwrap_or(&[]))?;
        }
        self.meta_fd(s.as_fd(), st, d.as_fd())
    }

    fn dir(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: Name<'_>,
        st: &Stat,
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
        depth: usize,
    ) -> Result<()> {
        if st.st_dev != self.dev {
            return Err(Error::State(super::remove::MOUNT_POINT));
        }
        if depth >= MAX_DEPTH {
            return Err(Error::Limit("directory depth"));
        }
        rustix::fs::mkdirat(ddir, dname.as_bytes(), Mode::from_raw_mode(0o700))
            .map_err(|e| Error::sys("mkdirat", e))?;
        let s = open_dir_at(sdir, sname)?;
        let d = open_dir_at(ddir, dname)?;
        let saved = self.path.len();
        if !self.path.is_empty() {
            self.path.push(b'/');
        }
        self.path.extend_from_slice(dname.as_bytes());
        let mut rd = Dir::read_from(&s).map_err(|e| Error::sys("openat", e))?;
        while let Some(ent) = rd.read() {
            let ent = ent.map_err(|e| Error::sys("getdents", e))?;
            let raw = ent.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let name = Name::new(raw)?;
            let cst = lstat_at(s.as_fd(), name)?;
            self.entry(s.as_fd(), name, &cst, d.as_fd(), name, depth + 1)?;
        }
        self.path.truncate(saved);
        self.meta_fd(s.as_fd(), st, d.as_fd())
    }

    /// Owner, mode, xattrs, times of an open regular file or directory.
    fn meta_fd(&mut self, s: BorrowedFd<'_>, st: &Stat, d: BorrowedFd<'_>) -> Result<()> {
        let mut mode = st.st_mode & 0o7777;
        match rustix::fs::fchown(d, Some(uid(st)), Some(gid(st))) {
            Ok(()) => {}
            Err(Errno::PERM) => mode &= !0o6000,
            Err(e) => return Err(Error::sys("fchown", e)),
        }
        rustix::fs::fchmod(d, Mode::from_raw_mode(mode)).map_err(|e| Error::sys("fchmod", e))?;
        let names = match rustix::fs::flistxattr(s, &mut self.buf[..]) {
            Ok(n) => self.buf.get(..n).unwrap_or(&[]).to_vec(),
            Err(Errno::NOTSUP) => Vec::new(),
            Err(Errno::RANGE) => return Err(Error::Limit("xattr list")),
            Err(e) => return Err(Error::sys("flistxattr", e)),
        };
        let mut value = Vec::new();
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            value.resize(65536, 0);
            let n = rustix::fs::fgetxattr(s, name, &mut value[..])
                .map_err(|e| Error::sys("fgetxattr", e))?;
            let v = value.get(..n).unwrap_or(&[]);
            rustix::fs::fsetxattr(d, name, v, XattrFlags::empty())
                .map_err(|e| Error::sys("fsetxattr", e))?;
        }
        rustix::fs::futimens(d, &times(st)).map_err(|e| Error::sys("futimens", e))
    }

    /// Owner, mode (not for symlinks), xattrs, times of a symlink or special file, by name.
    fn meta_at(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: Name<'_>,
        st: &Stat,
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
        chmod: bool,
    ) -> Result<()> {
        let mut mode = st.st_mode & 0o7777;
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        match rustix::fs::chownat(
            ddir,
            dname.as_bytes(),
            Some(uid(st)),
            Some(gid(st)),
            nofollow,
        ) {
            Ok(()) => {}
            Err(Errno::PERM) => mode &= !0o6000,
            Err(e) => return Err(Error::sys("fchownat", e)),
        }
        if chmod {
            // Not a symlink (mknodat just made it), so fchmodat cannot be led elsewhere.
            rustix::fs::chmodat(
                ddir,
                dname.as_bytes(),
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )
            .map_err(|e| Error::sys("fchmodat", e))?;
        }
        self.xattrs_by_proc(sdir, sname, ddir, dname)?;
        rustix::fs::utimensat(ddir, dname.as_bytes(), &times(st), nofollow)
            .map_err(|e| Error::sys("utimensat", e))
    }

    /// Copies the xattrs of an entry that cannot be opened for them (symlink, FIFO, device),
    /// through `/proc/self/fd/DIRFD/NAME` with the `l*xattr` calls (which do not follow the
    /// final symlink). No `/proc`: nothing copied (module doc).
    fn xattrs_by_proc(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: Name<'_>,
        ddir: BorrowedFd<'_>,
        dname: Name<'_>,
    ) -> Result<()> {
        let sp = proc_path(sdir, sname);
        let names = match rustix::fs::llistxattr(&sp[..], &mut self.buf[..]) {
            Ok(n) => self.buf.get(..n).unwrap_or(&[]).to_vec(),
            Err(Errno::NOTSUP) | Err(Errno::NOENT) => return Ok(()),
            Err(Errno::RANGE) => return Err(Error::Limit("xattr list")),
            Err(e) => return Err(Error::sys("llistxattr", e)),
        };
        if names.is_empty() {
            return Ok(());
        }
        let dp = proc_path(ddir, dname);
        let mut value = Vec::new();
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            value.resize(65536, 0);
            let n = rustix::fs::lgetxattr(&sp[..], name, &mut value[..])
                .map_err(|e| Error::sys("lgetxattr", e))?;
            let v = value.get(..n).unwrap_or(&[]);
            rustix::fs::lsetxattr(&dp[..], name, v, XattrFlags::empty())
                .map_err(|e| Error::sys("lsetxattr", e))?;
        }
        Ok(())
    }
}

/// `/proc/self/fd/N/NAME`: the one path this module builds, because Linux has no fd-relative
/// xattr call for an entry that cannot be opened (a symlink; before 6.13's `setxattrat`).
fn proc_path(dir: BorrowedFd<'_>, name: Name<'_>) -> Vec<u8> {
    let mut p = b"/proc/self/fd/".to_vec();
    let mut n = u64::try_from(dir.as_raw_fd()).unwrap_or(0);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &d in digits.get(i..).unwrap_or(&[]) {
        p.push(d);
    }
    p.push(b'/');
    p.extend_from_slice(name.as_bytes());
    p
}

fn uid(st: &Stat) -> Uid {
    Uid::from_raw_unchecked(st.st_uid)
}

fn gid(st: &Stat) -> Gid {
    Gid::from_raw_unchecked(st.st_gid)
}

// The field types differ between 64-bit (c_long, c_ulong) and 32-bit (i64, u32) targets.
#[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: i64::from(st.st_atime),
            tv_nsec: i64::try_from(st.st_atime_nsec).unwrap_or(0),
        },
        last_modification: Timespec {
            tv_sec: i64::from(st.st_mtime),
            tv_nsec: i64::try_from(st.st_mtime_nsec).unwrap_or(0),
        },
    }
}
