//! `switch_root [-c CONSOLE] NEW_ROOT NEW_INIT [ARGS...]`: make NEW_ROOT the root, empty the
//! initramfs, exec NEW_INIT with ARGS as PID 1.
//!
//! Matches busybox `switch_root` (anchors-multicall.md §1.6): options stop at the first operand,
//! so ARGS may hold anything (`switch_root /root /sbin/init -s` passes `-s` on); at least two
//! operands; `-c DEV` reopens stdin/stdout/stderr on DEV inside NEW_ROOT (a failure only warns).
//! The work is `ramdisk_core::switch_root` (its module doc lists the differences from busybox:
//! distinct precondition errors, NEW_INIT checked inside NEW_ROOT, `/dev /proc /sys /run` moved).
//!
//! Messages, each exit 1 with nothing changed:
//! - `switch_root: must be run as PID 1`
//! - `switch_root: can't open 'NEW_ROOT': why`
//! - `switch_root: 'NEW_ROOT' is not a mount point`
//! - `switch_root: can't find 'NEW_INIT' in 'NEW_ROOT': why`
//! - `switch_root: 'NEW_INIT' in 'NEW_ROOT' is not an executable file`
//! - `switch_root: root filesystem is not ramfs/tmpfs`
//! - `switch_root: can't switch to 'NEW_ROOT': op: why` (a step after the checks failed)
//!
//! Once switched, a failing exec prints `switch_root: can't execute 'NEW_INIT': why` and the
//! process sleeps forever instead of exiting: PID 1 exiting panics the kernel (toybox `-h` does the same).

use argh::FromArgs;
use ramdisk_core::switch_root::{switch_root, SwitchError};
use std::os::unix::process::CommandExt;

use crate::args;
use crate::report;

/// Switch to another filesystem as the root of the mount tree and exec its init.
#[derive(FromArgs)]
struct SwitchRoot {
    /// reopen stdin, stdout and stderr on this device inside NEW_ROOT
    #[argh(option, short = 'c')]
    console: Option<String>,
    /// NEW_ROOT NEW_INIT [ARGS...]
    #[argh(positional, greedy)]
    rest: Vec<String>,
}

const USAGE: &str = "Usage: switch_root [-c CONSOLE] NEW_ROOT NEW_INIT [ARGS...]\n\n\
Make the mounted filesystem NEW_ROOT the root, empty the initramfs\n\
and run NEW_INIT (a path inside NEW_ROOT) as PID 1. Must run as PID 1\n\
from a ramfs/tmpfs root.\n\n\
\t-c DEV\tOpen DEV (inside NEW_ROOT) as stdin, stdout and stderr\n";

pub fn main(argv: &[&str]) -> u8 {
    if matches!(argv.get(1).copied(), Some("--help" | "-h")) {
        report::out(USAGE);
        return 0;
    }
    let rest = argv.get(1..).unwrap_or_default();
    // Options end at the first operand (busybox getopt "+"): normalize only the words before it,
    // then `--` so argh takes everything after as operands, options of NEW_INIT included.
    let head_len = option_words(rest);
    let (head, tail) = rest.split_at(head_len);
    let mut words = args::normalize(head, b"c");
    if words.last().map(String::as_str) != Some("--") {
        words.push("--".to_string());
    }
    words.extend(tail.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let name = argv.first().copied().unwrap_or("switch_root");
    let a: SwitchRoot = match args::parse_words(name, &refs) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let [new_root, new_init, init_args @ ..] = a.rest.as_slice() else {
        report::err(&[USAGE.lines().next().unwrap_or_default()]);
        return 1;
    };
    let init_args: Vec<&str> = init_args.iter().map(String::as_str).collect();
    switch_and_exec(
        "switch_root",
        new_root,
        new_init,
        a.console.as_deref(),
        &init_args,
    )
}

/// How many leading words of `args` are options (with their values), `--` included.
fn option_words(args: &[&str]) -> usize {
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        if a == "--" {
            return i + 1;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        // `-c DEV` takes the next word; `-cDEV`, `--console=DEV` and flags are one word.
        i += if a == "-c" || a == "--console" { 2 } else { 1 };
    }
    i.min(args.len())
}

/// Switches to `new_root` and execs `new_init` with `args`. Returns only when the switch was
/// refused (the message is printed, nothing changed): the status to exit with. `init` calls
/// this too, with its own `applet` name for messages.
pub fn switch_and_exec(
    applet: &str,
    new_root: &str,
    new_init: &str,
    console: Option<&str>,
    args: &[&str],
) -> u8 {
    match switch_root(new_root, new_init, console) {
        Ok(done) => {
            if let (Some(c), Some(e)) = (console, done.console_error) {
                report::fail_errno(applet, "can't open", c, e);
            }
            exec_init(applet, new_init, args)
        }
        Err(e) => {
            report_error(applet, &e, new_root, new_init);
            1
        }
    }
}

/// Prints the message for a refused switch.
pub fn report_error(applet: &str, e: &SwitchError, new_root: &str, new_init: &str) {
    match e {
        SwitchError::NotPid1 => report::err(&[applet, ": must be run as PID 1"]),
        SwitchError::NewRoot(errno) => report::fail_errno(applet, "can't open", new_root, *errno),
        SwitchError::NotMountPoint => {
            report::err(&[applet, ": '", new_root, "' is not a mount point"])
        }
        SwitchError::NoInit(errno) => {
            let mut why = String::new();
            report::errno_str(*errno, &mut why);
            report::err(&[
                applet,
                ": can't find '",
                new_init,
                "' in '",
                new_root,
                "': ",
                &why,
            ]);
        }
        SwitchError::InitNotExecutable => report::err(&[
            applet,
            ": '",
            new_init,
            "' in '",
            new_root,
            "' is not an executable file",
        ]),
        SwitchError::RootNotRamfs => report::err(&[applet, ": root filesystem is not ramfs/tmpfs"]),
        SwitchError::Failed(err) => {
            let mut what = String::from("can't switch to '");
            what.push_str(new_root);
            what.push('\'');
            report::fail(applet, &what, err);
        }
    }
}

/// `execv(new_init, [new_init, args...])` in the new root. Never returns: when exec fails it
/// prints why and sleeps forever, because PID 1 must not exit.
pub fn exec_init(applet: &str, new_init: &str, args: &[&str]) -> ! {
    let e = std::process::Command::new(new_init).args(args).exec();
    let errno = ramdisk_core::error::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(0));
    report::fail_errno(applet, "can't execute", new_init, errno);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::option_words;

    #[test]
    fn options_stop_at_the_first_operand() {
        assert_eq!(option_words(&["/root", "/init", "-c", "x"]), 0);
        assert_eq!(
            option_words(&["-c", "/dev/console", "/root", "/init", "-s"]),
            2
        );
        assert_eq!(option_words(&["-c/dev/console", "/root"]), 1);
        assert_eq!(option_words(&["--", "-weird-root", "/init"]), 1);
        assert_eq!(option_words(&["-c"]), 1);
    }
}
