//! `mknod [-m MODE] NAME TYPE [MAJOR MINOR]`: make a block (`b`), character (`c` or `u`) or
//! FIFO (`p`) special file.
//!
//! Matches busybox `mknod` (anchors-multicall.md §1.4): the default mode is 0666 minus the
//! umask; `-m` takes an octal or symbolic mode (relative to 0666) and applies it exactly
//! (umask 0); MAJOR (0..4095) and MINOR (0..1048575) are decimal; `p` takes no numbers, the
//! device types need both, anything else prints the usage. Messages:
//! `mknod: NAME: REASON`, `mknod: invalid number 'X'`, `mknod: number X is not in 0..4095 range`.
//!
//! Deliberate difference: a bad `-m` prints `mknod: invalid mode 'X'` (busybox 1.35 reports an
//! unrelated errno for the node). Exit status 1 on every failure, usage included.

use argh::FromArgs;
use ramdisk_core::fs::{self, mode::parse_mode, NodeKind};

use crate::args;
use crate::report;

const USAGE: &str = "Usage: mknod [-m MODE] NAME TYPE [MAJOR MINOR]\n\n\
Create a special file\n\n\
TYPE:\tb\tBlock device\n\
\tc or u\tCharacter device\n\
\tp\tNamed pipe (MAJOR MINOR must be omitted)";

/// Create a special file.
#[derive(FromArgs)]
struct Mknod {
    /// mode (octal or symbolic), applied without the umask
    #[argh(option, short = 'm')]
    mode: Option<String>,
    /// NAME TYPE [MAJOR MINOR]
    #[argh(positional)]
    rest: Vec<String>,
}

pub fn main(argv: &[&str]) -> u8 {
    let a: Mknod = match args::parse(argv, b"m") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (name, kind, nums) = match a.rest.as_slice() {
        [n, t] if t == "p" => (n, NodeKind::Fifo, None),
        [n, t, maj, min] if t == "b" => (n, NodeKind::Block, Some((maj, min))),
        [n, t, maj, min] if t == "c" || t == "u" => (n, NodeKind::Char, Some((maj, min))),
        _ => {
            report::err(&[USAGE]);
            return 1;
        }
    };
    let (major, minor) = match nums {
        Some((maj, min)) => match (number(maj, 4095), number(min, 1_048_575)) {
            (Ok(x), Ok(y)) => (x, y),
            _ => return 1,
        },
        None => (0, 0),
    };
    let mode = match &a.mode {
        Some(m) => match parse_mode(m, 0o666) {
            Some(v) => {
                // -m is exact: busybox sets umask(0) too.
                rustix::process::umask(rustix::fs::Mode::empty());
                v
            }
            None => {
                report::err(&["mknod: invalid mode '", m, "'"]);
                return 1;
            }
        },
        None => 0o666,
    };
    let made = fs::split_path(name)
        .map_err(ramdisk_core::Error::from)
        .and_then(|(parent, leaf)| {
            let dir = fs::open_dir(parent)?;
            fs::make_node(
                rustix::fd::AsFd::as_fd(&dir),
                leaf,
                kind,
                mode,
                major,
                minor,
            )
        });
    match made {
        Ok(()) => 0,
        Err(e) => {
            let mut why = String::new();
            match e {
                ramdisk_core::Error::Sys { errno, .. } => report::errno_str(errno, &mut why),
                _ => report::errno_str(ramdisk_core::error::Errno::INVAL, &mut why),
            }
            report::err(&["mknod: ", name, ": ", &why]);
            1
        }
    }
}

/// A decimal number in `0..=max`, or the busybox message and `Err`.
fn number(s: &str, max: u32) -> Result<u32, ()> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        report::err(&["mknod: invalid number '", s, "'"]);
        return Err(());
    }
    match s.parse::<u64>() {
        Ok(v) if v <= u64::from(max) => u32::try_from(v).map_err(|_| ()),
        _ => {
            let mut m = String::new();
            report::push_u64(&mut m, u64::from(max));
            report::err(&["mknod: number ", s, " is not in 0..", &m, " range"]);
            Err(())
        }
    }
}
