//! `mount [-r] [-w] [-f] [-t FSTYPE[,...]] [-o OPT[,...]] DEVICE DIR`,
//! `mount --bind|--rbind|--move SRC DIR`, `mount -o remount,OPTS DIR`,
//! `mount --make-[r]{private,shared,slave,unbindable} DIR`, `mount [-t FSTYPE]` (list).
//!
//! Matches busybox `mount` (anchors-multicall.md §1.3): every `--WORD` is read as `-o WORD`;
//! `-r`/`-w` add `ro`/`rw` after the `-o` options; the option table, `MS_SILENT` and the data
//! string (NULL when empty) come from `ramdisk_core::mount`; without `-t` (or with `-t auto`) a
//! directory source is bind-mounted and any other source is tried with each type of
//! `/etc/filesystems` then `/proc/filesystems` that is not `nodev`; `EACCES`/`EROFS` retry
//! read-only with `mount: DEV is write-protected, mounting read-only` unless `-w`; no operand
//! lists `/proc/mounts` as `DEV on DIR type FS (OPTS)`. Failure message:
//! `mount: mounting DEV on DIR failed: REASON`.
//!
//! Deliberate differences:
//! - exit status 1 on failure (busybox exits 255 for a failed single mount);
//! - a propagation option (`shared`, `make-rslave`, …) is always its own mount(2) call after
//!   the main one, so `-o remount,bind,shared` works (busybox: `EINVAL`, linuxkit#424);
//! - `--bind -o ro` (any per-mount flag with `bind`/`rbind`) also remounts the bind mount
//!   with those flags, as util-linux does (busybox's single call leaves it writable);
//! - `-o remount DIR` calls mount(2) on DIR directly instead of looking DIR up in
//!   `/proc/mounts` first; its failure reads `mount: DIR: REASON`;
//! - a bare `--` ends the options (busybox folds it into `-o`).
//!
//! Not supported (each gives a one-line error): `-a` and `mount DIR` alone (no fstab is read in
//! an initramfs); `-O`, `-T` (fstab filters); `loop` / a regular file as DEVICE (set the loop
//! device up with `losetup` first: loop setup needs ioctls this binary does not carry);
//! `LABEL=`/`UUID=` sources (use `/dev/disk/...` or `init`'s `root=`); NFS/CIFS helpers.
//! Accepted and ignored like in busybox: `-n` (no mtab), `-v`, `-s` (sloppy), `-i`.

use ramdisk_core::error::Errno;
use ramdisk_core::mount::{self as m, ms, Action, Options};
use ramdisk_core::Error;

use crate::args;
use crate::report;

const USAGE: &str = "Usage: mount [-r] [-w] [-f] [-t FSTYPE] [-o OPT[,...]] DEVICE DIR\n\
\x20      mount --bind|--rbind|--move SRC DIR\n\
\x20      mount -o remount[,OPT...] DIR\n\
\x20      mount --make-[r]shared|slave|private|unbindable DIR\n\
\x20      mount [-t FSTYPE]   (list mounts)\n\n\
Mount a filesystem. Unknown -o options are passed to the filesystem.\n\n\
\t-r\tRead-only mount\n\
\t-w\tRead-write mount, no read-only retry\n\
\t-f\tDry run\n\
\t-t FS\tFilesystem type(s), comma-separated; default: try all\n\
\t-o OPT\tro rw remount bind rbind move nosuid suid nodev dev noexec exec sync async dirsync\n\
\t\t[no]atime [no]diratime [no]relatime [no]strictatime [no]lazytime [no]mand nosymfollow\n\
\t\tsilent loud defaults [make-][r]shared|slave|private|unbindable\n";

struct Cmd<'a> {
    opts: Options,
    fstype: Option<&'a str>,
    rw_forced: bool,
    fake: bool,
    operands: Vec<&'a str>,
}

pub fn main(argv: &[&str]) -> u8 {
    // busybox folds every `--WORD` into `-o WORD` before reading options.
    let mut folded: Vec<String> = Vec::with_capacity(argv.len() + 2);
    let mut rest = false;
    for &a in argv.get(1..).unwrap_or(&[]) {
        match a.strip_prefix("--") {
            Some(w) if !rest && !w.is_empty() && w != "help" => {
                folded.push("-o".to_string());
                folded.push(w.to_string());
            }
            Some("") => {
                rest = true;
                folded.push(a.to_string());
            }
            _ => folded.push(a.to_string()),
        }
    }
    let refs: Vec<&str> = folded.iter().map(String::as_str).collect();
    let words = args::normalize(&refs, b"otOT");
    let cmd = match parse(&words) {
        Ok(c) => c,
        Err(code) => return code,
    };
    run(cmd)
}

fn usage_error(msg: &[&str]) -> u8 {
    if !msg.is_empty() {
        let mut v = vec!["mount: "];
        v.extend_from_slice(msg);
        report::err(&v);
    }
    report::err(&[USAGE.trim_end()]);
    1
}

fn parse(words: &[String]) -> Result<Cmd<'_>, u8> {
    let mut c = Cmd {
        opts: Options::new(),
        fstype: None,
        rw_forced: false,
        fake: false,
        operands: Vec::new(),
    };
    let (mut ro, mut rw) = (false, false);
    let mut it = words.iter();
    let mut rest = false;
    while let Some(w) = it.next() {
        let w = w.as_str();
        if rest || !w.starts_with('-') || w == "-" {
            c.operands.push(w);
            continue;
        }
        match w {
            "--" => rest = true,
            "--help" | "-h" => {
                report::out(USAGE);
                return Err(0);
            }
            "-o" | "-t" => {
                let Some(v) = it.next() else {
                    return Err(usage_error(&[
                        "option requires an argument -- '",
                        &w[1..],
                        "'",
                    ]));
                };
                if w == "-o" {
                    c.opts.push(v);
                } else {
                    c.fstype = Some(v.as_str());
                }
            }
            "-r" => ro = true,
            "-w" => rw = true,
            "-f" => c.fake = true,
            "-n" | "-v" | "-s" | "-i" => {}
            "-a" | "-O" | "-T" => {
                report::err(&["mount: ", w, ": fstab is not supported"]);
                return Err(1);
            }
            _ => {
                return Err(usage_error(&[
                    "invalid option -- '",
                    w.trim_start_matches('-'),
                    "'",
                ]))
            }
        }
    }
    if ro {
        c.opts.push("ro");
    }
    if rw {
        c.opts.push("rw");
        c.rw_forced = true;
    }
    Ok(c)
}

fn run(c: Cmd<'_>) -> u8 {
    match c.operands.as_slice() {
        [] => list(c.fstype),
        [dir] => one_operand(&c, dir),
        [src, dir] => two_operands(&c, src, dir),
        _ => usage_error(&[]),
    }
}

fn list(fstype: Option<&str>) -> u8 {
    match std::fs::read_to_string("/proc/mounts") {
        Ok(t) => {
            report::out(&m::format_mounts(&t, fstype));
            0
        }
        Err(e) => {
            let errno = Errno::from_raw_os_error(e.raw_os_error().unwrap_or(0));
            report::fail_errno("mount", "can't read", "/proc/mounts", errno);
            1
        }
    }
}

fn errno_of(e: &Error) -> Errno {
    match e {
        Error::Sys { errno, .. } => *errno,
        _ => Errno::INVAL,
    }
}

/// `mount: DIR: REASON`, busybox's shape for a one-operand call.
fn fail_dir(dir: &str, e: &Error) -> u8 {
    let mut why = String::new();
    report::errno_str(errno_of(e), &mut why);
    report::err(&["mount: ", dir, ": ", &why]);
    1
}

/// `mount: mounting SRC on DIR failed: REASON`.
fn fail_mount(src: &str, dir: &str, e: &Error) -> u8 {
    let mut why = String::new();
    report::errno_str(errno_of(e), &mut why);
    report::err(&["mount: mounting ", src, " on ", dir, " failed: ", &why]);
    1
}

fn one_operand(c: &Cmd<'_>, dir: &str) -> u8 {
    if c.opts.action() == Action::Remount {
        if c.fake {
            return 0;
        }
        if let Err(e) = remount(&c.opts, dir) {
            return fail_dir(dir, &e);
        }
        return propagate(c, dir);
    }
    if c.opts.propagation != 0 && c.opts.action() == Action::Mount {
        return propagate(c, dir);
    }
    report::err(&[
        "mount: can't mount '",
        dir,
        "': fstab is not supported, give DEVICE and DIR",
    ]);
    1
}

fn remount(o: &Options, dir: &str) -> Result<(), Error> {
    if o.flags & ms::BIND != 0 {
        m::remount_bind(dir, o.mount_flags())
    } else {
        m::remount(dir, o.mount_flags(), o.data())
    }
}

/// The propagation change, as its own mount(2) call.
fn propagate(c: &Cmd<'_>, dir: &str) -> u8 {
    if c.opts.propagation == 0 || c.fake {
        return 0;
    }
    match m::set_propagation(dir, c.opts.propagation) {
        Ok(()) => 0,
        Err(e) => fail_dir(dir, &e),
    }
}

fn two_operands(c: &Cmd<'_>, src: &str, dir: &str) -> u8 {
    let o = &c.opts;
    if o.loop_requested {
        report::err(&[
            "mount: ",
            src,
            ": loop devices are not supported, set one up with losetup",
        ]);
        return 1;
    }
    if c.fake {
        return 0;
    }
    let done = match o.action() {
        Action::Remount => remount(o, dir),
        Action::Move => m::move_mount(src, dir),
        Action::Bind { recursive } => bind(src, dir, recursive, o.mount_flags()),
        Action::Mount => new_mount(c, src, dir),
    };
    match done {
        Ok(()) => propagate(c, dir),
        Err(Error::State(why)) => {
            report::err(&["mount: ", src, ": ", why]);
            1
        }
        Err(e) => fail_mount(src, dir, &e),
    }
}

fn bind(src: &str, dir: &str, recursive: bool, flags: u32) -> Result<(), Error> {
    if recursive {
        m::rbind(src, dir)?;
    } else {
        m::bind(src, dir)?;
    }
    // The kernel ignores per-mount flags on the bind call itself.
    if flags & ms::PER_MOUNT != 0 {
        m::remount_bind(dir, flags)?;
    }
    Ok(())
}

fn new_mount(c: &Cmd<'_>, src: &str, dir: &str) -> Result<(), Error> {
    let o = &c.opts;
    let auto = matches!(c.fstype, None | Some("auto"));
    if auto {
        match std::fs::metadata(src) {
            Ok(md) if md.is_dir() => return bind(src, dir, false, o.mount_flags()),
            Ok(md) if md.is_file() => {
                return Err(Error::State(
                    "is a regular file: loop devices are not supported, set one up with losetup",
                ))
            }
            _ => {}
        }
    }
    let types: String = match c.fstype {
        Some(t) if !auto => t.replace(',', "\n"),
        _ => {
            let mut all = std::fs::read_to_string("/etc/filesystems").unwrap_or_default();
            all.push('\n');
            all.push_str(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default());
            m::block_filesystems(&all).collect::<Vec<_>>().join("\n")
        }
    };
    let mut last = Error::sys("mount", Errno::NODEV);
    for t in types.lines().filter(|t| !t.is_empty()) {
        match mount_retry_ro(c, src, dir, t) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One mount(2); on `EACCES`/`EROFS` once more read-only, unless `-w` or already `ro`.
fn mount_retry_ro(c: &Cmd<'_>, src: &str, dir: &str, fstype: &str) -> Result<(), Error> {
    let flags = c.opts.mount_flags();
    match m::mount_fs(src, dir, fstype, flags, c.opts.data()) {
        Err(Error::Sys {
            errno: Errno::ACCESS | Errno::ROFS,
            ..
        }) if flags & ms::RDONLY == 0 && !c.rw_forced => {
            report::err(&["mount: ", src, " is write-protected, mounting read-only"]);
            m::mount_fs(src, dir, fstype, flags | ms::RDONLY, c.opts.data())
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> (u32, u32, Option<String>, Vec<String>) {
        let w: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        let c = parse(&w).map_err(|_| ()).expect("parses");
        (
            c.opts.flags,
            c.opts.propagation,
            c.opts.data().map(String::from),
            c.operands.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn w_overrides_o_ro_like_busybox() {
        let (f, ..) = p(&["-o", "ro", "-w", "a", "b"]);
        assert_eq!(f & ms::RDONLY, 0);
        let (f, ..) = p(&["-r", "-o", "rw", "a", "b"]);
        assert_ne!(f & ms::RDONLY, 0);
    }

    #[test]
    fn operands_and_repeated_o() {
        let (f, prop, data, ops) = p(&[
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "-o",
            "nosuid,shared",
            "x",
            "/d",
        ]);
        assert_eq!(f, ms::SILENT | ms::NOSUID);
        assert_eq!(prop, ms::SHARED);
        assert_eq!(data.as_deref(), Some("size=1m"));
        assert_eq!(ops, ["x", "/d"]);
    }
}
