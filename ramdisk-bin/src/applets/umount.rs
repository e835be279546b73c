//! `umount [-l] [-f] DIR...`: unmount each DIR with umount2(2).
//!
//! Matches busybox `umount` for these flags: each failure prints
//! `umount: can't unmount DIR: REASON` and the others are still tried; exit 1 if any failed.
//!
//! Not supported (rejected as unknown options): `-a` and `-t FSTYPE` (they walk the mount
//! table: an initramfs unmounts by name), `-r` (remount read-only when busy), `-d` (free the
//! loop device; `mount` here sets up no loop devices). A DEVICE operand is not translated to
//! its mount point: give the directory.

use argh::FromArgs;

use crate::args;
use crate::report;

/// Unmount filesystems.
#[derive(FromArgs)]
struct Umount {
    /// lazy umount (detach now, free when no longer busy)
    #[argh(switch, short = 'l')]
    lazy: bool,
    /// force umount (e.g. an unreachable NFS server)
    #[argh(switch, short = 'f')]
    force: bool,
    /// mount points to unmount
    #[argh(positional)]
    dirs: Vec<String>,
}

pub fn main(argv: &[&str]) -> u8 {
    let a: Umount = match args::parse(argv, b"") {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.dirs.is_empty() {
        report::err(&["umount: no mount point given\nUsage: umount [-l] [-f] DIR..."]);
        return 1;
    }
    let mut status = 0;
    for d in &a.dirs {
        if let Err(e) = ramdisk_core::mount::umount_with(d, a.lazy, a.force) {
            let mut why = String::new();
            match e {
                ramdisk_core::Error::Sys { errno, .. } => report::errno_str(errno, &mut why),
                other => report::push_error(&mut why, &other),
            }
            report::err(&["umount: can't unmount ", d, ": ", &why]);
            status = 1;
        }
    }
    status
}
