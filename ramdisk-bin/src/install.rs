//! `ramdisk --install [-s] DIR`: one link per applet in DIR.
//!
//! Hard links by default (they survive copying the tree into a cpio without the binary's path),
//! symlinks with `-s`. A name that already exists is left alone when it is already this binary
//! (same inode, or a symlink to it) and reported otherwise: never overwritten silently.

use crate::{applets, report};
use rustix::fs::{self as rfs, AtFlags, CWD};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

pub fn main(args: &[&str]) -> u8 {
    let (symlink, dir) = match args {
        ["-s", dir] => (true, *dir),
        [dir] if !dir.starts_with('-') => (false, *dir),
        _ => {
            report::err(&["ramdisk: usage: ramdisk --install [-s] DIR"]);
            return 1;
        }
    };
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(_) => {
            report::err(&["ramdisk: --install: can't find my own binary in /proc/self/exe"]);
            return 1;
        }
    };
    let exe_meta = match std::fs::metadata(&exe) {
        Ok(m) => m,
        Err(e) => {
            report::err(&["ramdisk: --install: ", &e.to_string()]);
            return 1;
        }
    };
    let dirfd = match rfs::open(
        dir,
        rfs::OFlags::DIRECTORY | rfs::OFlags::CLOEXEC | rfs::OFlags::PATH,
        rfs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            report::fail_errno("ramdisk", "can't open", dir, e);
            return 1;
        }
    };
    let mut status = 0;
    for (name, _) in applets::APPLETS {
        let made = if symlink {
            rfs::symlinkat(exe.as_os_str().as_bytes(), &dirfd, *name)
        } else {
            rfs::linkat(
                CWD,
                exe.as_os_str().as_bytes(),
                &dirfd,
                *name,
                AtFlags::empty(),
            )
        };
        match made {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                let path = std::path::Path::new(dir).join(name);
                let same = std::fs::metadata(&path)
                    .map(|m| m.dev() == exe_meta.dev() && m.ino() == exe_meta.ino())
                    .unwrap_or(false);
                if !same {
                    report::err(&[
                        "ramdisk: --install: '",
                        &path.to_string_lossy(),
                        "' exists and is not ramdisk; left alone",
                    ]);
                    status = 1;
                }
            }
            Err(e) => {
                report::fail_errno("ramdisk", "can't link", name, e);
                status = 1;
            }
        }
    }
    status
}
