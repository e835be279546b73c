//! `switch_root`: leave the initramfs for the real root filesystem (everything but the exec).
//!
//! Behaviour follows busybox `util-linux/switch_root.c` (anchors-multicall.md §1.6, §7) with the
//! differences that document asks for:
//! - each failed precondition is its own [`SwitchError`] (busybox prints the usage text for two of them);
//! - NEW_INIT is checked *inside* NEW_ROOT (busybox checks `/init` of the initramfs), resolved
//!   as if NEW_ROOT were `/`, so absolute symlinks such as `/sbin/init -> /lib/systemd/systemd`
//!   resolve the way the exec after the `chroot` will;
//! - `/dev`, `/proc`, `/sys`, `/run` are moved into NEW_ROOT when they are mount points and
//!   NEW_ROOT has a directory of that name, and lazily unmounted otherwise (util-linux does the same);
//! - the initramfs is emptied *after* `MS_MOVE` + `chroot`, through a directory fd kept on the old
//!   `/`, so every step that can fail runs while the initramfs is still whole; directories are
//!   removed too (busybox only unlinks files).
//!
//! Sequence (kernel's Documentation/filesystems/ramfs-rootfs-initramfs.rst, "switch_root"):
//! checks → `fchdir(NEW_ROOT)` → move mounts → `mount(".", "/", MS_MOVE)` → `chroot(".")` →
//! `chdir("/")` → console on fds 0-2 (`-c`) → delete the old root's contents without crossing
//! `st_dev`. The caller then `execve`s NEW_INIT and, if that fails, must not exit (PID 1).

use crate::error::Error;
use alloc::borrow::ToOwned;
use alloc::ffi::CString;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{self, UnmountFlags};
use rustix::process;

/// `RAMFS_MAGIC` from `<linux/magic.h>`.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
/// `TMPFS_MAGIC` from `<linux/magic.h>`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// The API filesystems carried over into NEW_ROOT: (path in the initramfs, name in NEW_ROOT).
const API_MOUNTS: [(&str, &str); 4] = [
    ("/dev", "dev"),
    ("/proc", "proc"),
    ("/sys", "sys"),
    ("/run", "run"),
];

/// Why `switch_root` refused or stopped. Up to and including `Failed`, nothing was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchError {
    /// The caller is not PID 1 (the kernel's init).
    NotPid1,
    /// NEW_ROOT cannot be opened as a directory.
    NewRoot(Errno),
    /// NEW_ROOT is on the same filesystem as `/` (not a mount point).
    NotMountPoint,
    /// NEW_INIT cannot be found inside NEW_ROOT.
    NoInit(Errno),
    /// NEW_INIT inside NEW_ROOT is not a regular file with an execute bit.
    InitNotExecutable,
    /// `/` is neither ramfs nor tmpfs: this is not an initramfs, and emptying it would wipe a disk.
    RootNotRamfs,
    /// A step after the checks failed (opening `/`, moving a mount, `chroot`). Mounts already
    /// moved into NEW_ROOT stay there; the initramfs contents are untouched.
    Failed(Error),
}

/// What happened besides the switch itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switched {
    /// `-c CONSOLE` could not be opened (busybox warns and goes on; so does the caller).
    pub console_error: Option<Errno>,
}

/// Makes NEW_ROOT the root of this mount namespace and deletes the initramfs contents; the
/// caller then execs `new_init` (a path inside NEW_ROOT). `console`: device to reopen as
/// stdin/stdout/stderr once inside NEW_ROOT (`-c`).
///
/// # Errors
/// One [`SwitchError`] per failed precondition, checked in this order: PID 1, NEW_ROOT opens,
/// NEW_ROOT is a mount point, NEW_INIT exists and is executable, `/` is ramfs/tmpfs.
pub fn switch_root(
    new_root: &str,
    new_init: &str,
    console: Option<&str>,
) -> Result<Switched, SwitchError> {
    if !process::getpid().is_init() {
        return Err(SwitchError::NotPid1);
    }
    let failed = |op| move |e| SwitchError::Failed(Error::sys(op, e));
    let root = open_dir(CWD, "/").map_err(failed("open"))?;
    let root_dev = fs::fstat(&root).map_err(failed("fstat"))?.st_dev;
    let new = open_dir(CWD, new_root).map_err(SwitchError::NewRoot)?;
    if fs::fstat(&new).map_err(SwitchError::NewRoot)?.st_dev == root_dev {
        return Err(SwitchError::NotMountPoint);
    }
    check_init(new.as_fd(), new_init)?;
    // Filesystem magics are 32-bit; `f_type` is a signed long (sign-extended on 32-bit ABIs).
    let magic = fs::fstatfs(&root).map_err(failed("statfs"))?.f_type as u64 & 0xffff_ffff;
    if magic != RAMFS_MAGIC && magic != TMPFS_MAGIC {
        return Err(SwitchError::RootNotRamfs);
    }

    // "." keeps naming the moved dentry after MS_MOVE, so cd first (busybox's closing note).
    process::fchdir(&new).map_err(failed("chdir"))?;
    move_api_mounts(root.as_fd(), root_dev, new.as_fd()).map_err(failed("mount"))?;
    mount::mount_move(".", "/").map_err(failed("mount"))?;
    process::chroot(".").map_err(failed("chroot"))?;
    process::chdir("/").map_err(failed("chdir"))?;

    let console_error = console.and_then(|c| reopen_stdio(c).err());
    delete_contents(root, root_dev);
    Ok(Switched { console_error })
}

/// `openat(dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)`.
fn open_dir(dir: BorrowedFd<'_>, path: &str) -> rustix::io::Result<OwnedFd> {
    fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// NEW_INIT must resolve inside NEW_ROOT to a regular file with an execute bit.
fn check_init(new_root: BorrowedFd<'_>, init: &str) -> Result<(), SwitchError> {
    let st = stat_in_root(new_root, init).map_err(SwitchError::NoInit)?;
    let exec_bits = Mode::XUSR | Mode::XGRP | Mode::XOTH;
    let mode = Mode::from_raw_mode(st.st_mode);
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || (mode & exec_bits).is_empty()
    {
        return Err(SwitchError::InitNotExecutable);
    }
    Ok(())
}

/// Most symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: u32 = 40;

/// `stat(path)` as if `root` were `/`: `..` stops at `root` and an absolute symlink target
/// starts again from `root` (what `openat2(RESOLVE_IN_ROOT)` does, done by hand because that
/// call needs Linux 5.6 and board kernels such as NXP's 5.4 lack it). One directory fd per level.
fn stat_in_root(root: BorrowedFd<'_>, path: &str) -> rustix::io::Result<fs::Stat> {
    // Components still to walk, last first.
    let mut todo: Vec<Vec<u8>> = components(path.as_bytes())
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    let mut last = fs::fstat(root)?;
    while let Some(name) = todo.pop() {
        let cur = dirs.last().map_or(root, |d| d.as_fd());
        if name == b".." {
            dirs.pop();
            last = fs::fstat(dirs.last().map_or(root, |d| d.as_fd()))?;
            continue;
        }
        let st = fs::statat(cur, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::LOOP);
                }
                let target = fs::readlinkat(cur, name.as_slice(), Vec::new())?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    dirs.clear();
                    last = fs::fstat(root)?;
                }
                todo.extend(components(target).rev().map(<[u8]>::to_vec));
            }
            FileType::Directory if !todo.is_empty() => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                dirs.push(fs::openat(cur, name.as_slice(), flags, Mode::empty())?);
                last = st;
            }
            _ if !todo.is_empty() => return Err(Errno::NOTDIR),
            _ => last = st,
        }
    }
    Ok(last)
}

/// The non-empty components of a path other than `.`.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// Moves each API mount that NEW_ROOT has a directory for (cwd is NEW_ROOT); lazily unmounts
/// the others so they do not stay busy under the hidden initramfs.
fn move_api_mounts(
    root: BorrowedFd<'_>,
    root_dev: u64,
    new_root: BorrowedFd<'_>,
) -> rustix::io::Result<()> {
    for (abs, name) in API_MOUNTS {
        let mounted =
            fs::statat(root, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| st.st_dev != root_dev);
        if !mounted {
            continue;
        }
        let target_is_dir = fs::statat(new_root, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        if target_is_dir {
            // Target relative to cwd (NEW_ROOT): no path is built.
            mount::mount_move(abs, name)?;
        } else {
            mount::unmount(abs, UnmountFlags::DETACH)?;
        }
    }
    Ok(())
}

/// Opens `console` read-write and puts it on fds 0, 1 and 2.
fn reopen_stdio(console: &str) -> rustix::io::Result<()> {
    let fd = fs::openat(CWD, console, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    rustix::stdio::dup2_stdin(&fd)?;
    rustix::stdio::dup2_stdout(&fd)?;
    rustix::stdio::dup2_stderr(&fd)
}

/// Deletes everything under `root` that lives on device `dev`, depth first, never entering
/// another filesystem or following a symlink. Best effort: an entry that cannot be removed
/// (a mount point, an error) is left alone and the walk goes on. Iterative, so the tree's depth
/// costs one fd and one heap slot per level, never stack.
pub fn delete_contents(root: OwnedFd, dev: u64) {
    let Ok(top) = Dir::new(root) else { return };
    let mut stack: Vec<(Dir, Option<CString>)> = Vec::new();
    stack.push((top, None));
    while let Some((dir, _)) = stack.last_mut() {
        let name: CString = match dir.read() {
            Some(Ok(entry)) => entry.file_name().to_owned(),
            // End of the directory (or a read error, which would repeat): remove it from its parent.
            Some(Err(_)) | None => {
                if let Some((_, Some(name))) = stack.pop() {
                    if let Some(Ok(parent)) = stack.last().map(|(d, _)| d.fd()) {
                        let _ = fs::unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR);
                    }
                }
                continue;
            }
        };
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        let Ok(fd) = dir.fd() else { continue };
        let sub = match fs::statat(fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_dev != dev => None,
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let sub = fs::openat(fd, name.as_c_str(), flags, Mode::empty());
                sub.ok().and_then(|s| Dir::new(s).ok())
            }
            Ok(_) => {
                let _ = fs::unlinkat(fd, name.as_c_str(), AtFlags::empty());
                None
            }
            Err(_) => None,
        };
        if let Some(sub) = sub {
            stack.push((sub, Some(name)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    fn tmp(tag: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(std::format!("rd-switch-root-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn refuses_unless_pid_1() {
        // The test harness is never PID 1.
        assert_eq!(
            switch_root("/", "/sbin/init", None),
            Err(SwitchError::NotPid1)
        );
    }

    #[test]
    fn delete_contents_empties_a_tree_without_following_symlinks() {
        let base = tmp("del");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"k").unwrap();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("a/b/c/d")).unwrap();
        std::fs::write(root.join("a/b/c/d/f"), b"x").unwrap();
        std::fs::write(root.join("top"), b"x").unwrap();
        symlink(&outside, root.join("a/link-to-outside")).unwrap();
        let fd = open_dir(CWD, root.to_str().unwrap()).unwrap();
        let dev = fs::fstat(&fd).unwrap().st_dev;
        delete_contents(fd, dev);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        assert!(outside.join("keep").exists());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn delete_contents_skips_entries_on_another_device() {
        let base = tmp("dev");
        std::fs::create_dir_all(base.join("sub")).unwrap();
        std::fs::write(base.join("sub/f"), b"x").unwrap();
        let fd = open_dir(CWD, base.to_str().unwrap()).unwrap();
        // Pretend the tree is on another device: nothing may be touched.
        let dev = fs::fstat(&fd).unwrap().st_dev.wrapping_add(1);
        delete_contents(fd, dev);
        assert!(base.join("sub/f").exists());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn init_check_resolves_inside_new_root() {
        let base = tmp("init");
        std::fs::create_dir_all(base.join("sbin")).unwrap();
        std::fs::create_dir_all(base.join("lib")).unwrap();
        std::fs::write(base.join("lib/real-init"), b"#!/bin/sh\n").unwrap();
        std::fs::write(base.join("sbin/plain"), b"").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            base.join("lib/real-init"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        // Absolute symlink: must resolve inside NEW_ROOT, not in the host's /lib.
        symlink("/lib/real-init", base.join("sbin/init")).unwrap();
        let fd = open_dir(CWD, base.to_str().unwrap()).unwrap();
        assert_eq!(check_init(fd.as_fd(), "/sbin/init"), Ok(()));
        assert_eq!(
            check_init(fd.as_fd(), "/sbin/plain"),
            Err(SwitchError::InitNotExecutable)
        );
        assert_eq!(
            check_init(fd.as_fd(), "/sbin"),
            Err(SwitchError::InitNotExecutable)
        );
        assert_eq!(
            check_init(fd.as_fd(), "/sbin/none"),
            Err(SwitchError::NoInit(Errno::NOENT))
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
