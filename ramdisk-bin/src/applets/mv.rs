//! `mv [-fin] [-T] [-v] SOURCE DEST`, `mv [-fin] [-v] SOURCE... { -t DIR | DIR }`.
//!
//! Matches busybox `mv` (anchors-multicall.md §1.5): with one SOURCE and a DEST that is not a
//! directory (or with `-T`) SOURCE becomes DEST, otherwise each SOURCE moves into the
//! directory; rename(2) first; an existing DEST is skipped with `-n`, prompted for with `-i`
//! (or when it is not writable and stdin is a terminal, unless `-f`; the last of `-f -i -n`
//! wins); each failure prints one line, the other operands still move, exit 1. Messages:
//! `mv: can't rename 'SRC': REASON`, `mv: can't stat 'DEST': REASON`,
//! `mv: can't overwrite directory with non-directory` (and the reverse).
//!
//! Across filesystems (`EXDEV`) the move is `ramdisk_core::fs::copy::move_across`: a copy
//! under a temporary name in DEST's directory keeping type, mode, owner, xattrs, atime/mtime in
//! nanoseconds, symlinks and hard links inside the tree; then a rename over DEST, a `syncfs`,
//! and only then the removal of SOURCE. A failed copy (a full target) removes the partial copy
//! and leaves SOURCE as it was: `mv: can't move 'SRC': write: No space left on device`.
//!
//! Deliberate differences from busybox: busybox keeps only mode, owner and whole-second mtime
//! and leaves a partial copy behind; busybox replaces DEST before copying (we replace it only
//! once the copy is complete); moving a directory into itself prints
//! `mv: can't move 'SRC' to a subdirectory of itself` (busybox: `can't rename 'SRC': Invalid
//! argument`); a source tree containing a mount point is refused rather than copied.

use std::io::{BufRead, IsTerminal};

use argh::FromArgs;
use ramdisk_core::error::Errno;
use ramdisk_core::fs::{self, copy};
use ramdisk_core::name::Name;
use ramdisk_core::Error;
use rustix::fd::AsFd;

use crate::args;
use crate::report;

const USAGE: &str = "Usage: mv [-finT] SOURCE DEST\n\
or: mv [-fin] SOURCE... { -t DIRECTORY | DIRECTORY }\n\n\
Rename SOURCE to DEST, or move SOURCEs to DIRECTORY\n\n\
\t-f\tDon't prompt before overwriting\n\
\t-i\tInteractive, prompt before overwrite\n\
\t-n\tDon't overwrite an existing file\n\
\t-T\tRefuse to move if DEST is a directory\n\
\t-t DIR\tMove all SOURCEs into DIR\n\
\t-v\tVerbose";

/// Rename SOURCE to DEST, or move SOURCEs to DIRECTORY.
#[derive(FromArgs)]
struct Mv {
    /// don't prompt before overwriting
    #[argh(switch, short = 'f')]
    force: bool,
    /// prompt before overwriting
    #[argh(switch, short = 'i')]
    interactive: bool,
    /// don't overwrite an existing file
    #[argh(switch, short = 'n')]
    no_clobber: bool,
    /// treat DEST as a file even if it is a directory
    #[argh(switch, short = 'T')]
    no_target_directory: bool,
    /// move all SOURCEs into DIR
    #[argh(option, short = 't')]
    target_directory: Option<String>,
    /// print each move
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// SOURCE... DEST
    #[argh(positional)]
    paths: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overwrite {
    Default,
    Force,
    Ask,
    Never,
}

pub fn main(argv: &[&str]) -> u8 {
    let words = args::normalize(argv.get(1..).unwrap_or(&[]), b"t");
    // Only the last of -f, -i, -n counts (argh does not keep their order).
    let mut policy = Overwrite::Default;
    for w in words.iter().take_while(|w| *w != "--") {
        match w.as_str() {
            "-f" | "--force" => policy = Overwrite::Force,
            "-i" | "--interactive" => policy = Overwrite::Ask,
            "-n" | "--no-clobber" => policy = Overwrite::Never,
            _ => {}
        }
    }
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let a: Mv = match args::parse_words(argv.first().copied().unwrap_or("mv"), &refs) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (sources, last): (&[String], &str) = match (&a.target_directory, a.paths.split_last()) {
        (Some(t), _) if !a.paths.is_empty() && !a.no_target_directory => (&a.paths[..], t.as_str()),
        (None, Some((l, s))) if !s.is_empty() => (s, l.as_str()),
        _ => {
            report::err(&[USAGE]);
            return 1;
        }
    };
    if a.no_target_directory && sources.len() != 1 {
        report::err(&[USAGE]);
        return 1;
    }
    // The scan above saw every flag argh accepted; this only keeps the two in step.
    if policy == Overwrite::Default && (a.force || a.interactive || a.no_clobber) {
        policy = if a.no_clobber {
            Overwrite::Never
        } else if a.interactive {
            Overwrite::Ask
        } else {
            Overwrite::Force
        };
    }
    let ctx = Ctx {
        policy,
        verbose: a.verbose,
    };
    if a.target_directory.is_none() && sources.len() == 1 {
        let into_dir = !a.no_target_directory && std::fs::metadata(last).is_ok_and(|m| m.is_dir());
        if let (false, Some(src)) = (into_dir, sources.first()) {
            return ctx.move_one(src, last);
        }
    }
    let mut status = 0;
    for s in sources {
        let base = s.trim_end_matches('/').rsplit('/').next().unwrap_or(s);
        let dest = [last.trim_end_matches('/'), "/", base].concat();
        status |= ctx.move_one(s, &dest);
    }
    status
}

struct Ctx {
    policy: Overwrite,
    verbose: bool,
}

impl Ctx {
    fn move_one(&self, src: &str, dest: &str) -> u8 {
        match std::fs::metadata(dest) {
            Ok(_) => {
                if !self.may_overwrite(dest) {
                    return 0;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let errno = Errno::from_raw_os_error(e.raw_os_error().unwrap_or(0));
                report::fail_errno("mv", "can't stat", dest, errno);
                return 1;
            }
        }
        match rustix::fs::rename(src, dest) {
            Ok(()) => {}
            Err(Errno::XDEV) => {
                if let Err(e) = across(src, dest) {
                    return report_across(src, &e);
                }
            }
            Err(Errno::INVAL) if into_itself(src, dest) => return report_into_itself(src),
            Err(e) => {
                report::fail_errno("mv", "can't rename", src, e);
                return 1;
            }
        }
        if self.verbose {
            report::out(&["'", src, "' -> '", dest, "'\n"].concat());
        }
        0
    }

    /// busybox: `-n` skips, `-i` asks, otherwise ask only for a non-writable DEST on a tty.
    fn may_overwrite(&self, dest: &str) -> bool {
        let ask = match self.policy {
            Overwrite::Never => return false,
            Overwrite::Force => false,
            Overwrite::Ask => true,
            Overwrite::Default => {
                rustix::fs::access(dest, rustix::fs::Access::WRITE_OK).is_err()
                    && std::io::stdin().is_terminal()
            }
        };
        if !ask {
            return true;
        }
        report::err_raw(&["mv: overwrite '", dest, "'? "]);
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return false;
        }
        line.trim_start().starts_with(['y', 'Y'])
    }
}

/// The cross-filesystem move of `src` to `dest`.
fn across(src: &str, dest: &str) -> Result<(), Error> {
    let (sp, sn) = fs::split_path(src)?;
    let (dp, dn) = fs::split_path(dest)?;
    let sdir = fs::open_dir(sp)?;
    let ddir = fs::open_dir(dp)?;
    let mut tmp = String::from(".ramdisk-mv.");
    report::push_u64(&mut tmp, u64::from(std::process::id()));
    let tmp = Name::new(tmp.as_bytes())?;
    copy::move_across(sdir.as_fd(), sn, ddir.as_fd(), dn, tmp)
}

/// After `EINVAL` from rename: is `dest`'s directory inside the directory `src`?
fn into_itself(src: &str, dest: &str) -> bool {
    let Ok(st) = rustix::fs::lstat(src) else {
        return false;
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return false;
    }
    let Ok((parent, _)) = fs::split_path(dest) else {
        return false;
    };
    let Ok(dir) = fs::open_dir(parent) else {
        return false;
    };
    fs::is_inside(dir.as_fd(), st.st_dev, st.st_ino).unwrap_or(false)
}

fn report_into_itself(src: &str) -> u8 {
    report::err(&["mv: can't move '", src, "' to a subdirectory of itself"]);
    1
}

fn report_across(src: &str, e: &Error) -> u8 {
    match e {
        Error::State(copy::INTO_ITSELF) => report_into_itself(src),
        Error::State(why @ (copy::DIR_BY_NONDIR | copy::NONDIR_BY_DIR)) => {
            report::err(&["mv: ", why]);
            1
        }
        Error::Parse(_) => {
            report::fail_errno("mv", "can't rename", src, Errno::INVAL);
            1
        }
        _ => {
            report::fail("mv", &["can't move '", src, "'"].concat(), e);
            1
        }
    }
}
