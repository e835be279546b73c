//! `insmod FILE [PARAM=VALUE...]`: load one kernel module file, no dependency handling.
//!
//! Matches busybox `insmod`: the parameters are joined with spaces and passed to the kernel;
//! messages `insmod: can't open 'FILE': why` and `insmod: can't insert 'FILE': why`, exit 1.
//! Loading goes through `finit_module(2)`; a `.ko.xz`/`.ko.zst`/`.ko.gz` file is handed to the
//! kernel with `MODULE_INIT_COMPRESSED_FILE` (needs Linux ≥ 6.0 with `CONFIG_MODULE_DECOMPRESS`).
//! Deliberate difference: a module that is already loaded (`EEXIST`) is success, as for modprobe.

use argh::FromArgs;
use ramdisk_core::modules;
use ramdisk_core::Error;
use rustix::fs::CWD;
use std::ffi::CString;

use crate::args;
use crate::report;

/// Load a kernel module.
#[derive(FromArgs)]
struct Insmod {
    /// FILE [PARAM=VALUE...]
    #[argh(positional, greedy)]
    rest: Vec<String>,
}

const USAGE: &str = "Usage: insmod FILE [PARAM=VALUE...]\n\nLoad a kernel module\n";

pub fn main(argv: &[&str]) -> u8 {
    if matches!(argv.get(1).copied(), Some("--help" | "-h")) {
        report::out(USAGE);
        return 0;
    }
    let a: Insmod = match args::parse(argv, b"") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let Some((file, params)) = a.rest.split_first() else {
        report::err(&[USAGE.lines().next().unwrap_or_default()]);
        return 1;
    };
    let params: Vec<&str> = params.iter().map(String::as_str).collect();
    match insert_file(file, &params.join(" ")) {
        Ok(_) => 0,
        Err((what, e)) => {
            report_sys("insmod", what, file, &e);
            1
        }
    }
}

/// Opens `file` (relative to `dir`, or absolute) and loads it with `params`.
/// `Err((what, error))`: `what` is `can't open` or `can't insert`.
pub fn insert_at(
    dir: rustix::fd::BorrowedFd<'_>,
    file: &str,
    params: &str,
) -> Result<modules::Inserted, (&'static str, Error)> {
    let fd = modules::open_module(dir, file).map_err(|e| ("can't open", e))?;
    // A NUL inside argv is impossible; an empty string then is the safe fallback.
    let params = CString::new(params).unwrap_or_default();
    modules::insert(
        rustix::fd::AsFd::as_fd(&fd),
        &params,
        modules::is_compressed(file),
    )
    .map_err(|e| ("can't insert", e))
}

fn insert_file(file: &str, params: &str) -> Result<modules::Inserted, (&'static str, Error)> {
    insert_at(CWD, file, params)
}

/// `APPLET: what 'operand': strerror` for a syscall error, else the core error text.
pub fn report_sys(applet: &str, what: &str, operand: &str, e: &Error) {
    match e {
        Error::Sys { errno, .. } => report::fail_errno(applet, what, operand, *errno),
        other => {
            let mut w = String::from(what);
            w.push_str(" '");
            w.push_str(operand);
            w.push('\'');
            report::fail(applet, &w, other);
        }
    }
}
