//! `ramdisk`: one static binary that is the whole userland of the initramfs.
//!
//! Dispatch works as in busybox: the applet is the basename of argv[0] (`/bin/mount` → mount,
//! one leading `-` stripped as login shells do), or `ramdisk APPLET ARGS`. `ramdisk --list`
//! prints one applet per line, `ramdisk --install [-s] DIR` makes a hard link (or with `-s` a
//! symlink) per applet in DIR. An unknown name prints `ramdisk: applet not found: NAME` and
//! exits 127, like a shell's "command not found".

mod applets;
mod args;
mod install;
#[cfg(feature = "pull")]
mod pull;
mod report;

use std::process::ExitCode;

/// Our own name: argv[0] with this basename means "the applet is argv[1]".
const SELF_NAME: &str = "ramdisk";

fn main() -> ExitCode {
    let owned: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let argv: Vec<&str> = owned.iter().map(String::as_str).collect();
    ExitCode::from(run(&argv))
}

/// Runs the multicall dispatch on a full argv (argv[0] included) and returns the exit status.
fn run(argv: &[&str]) -> u8 {
    let Some(&argv0) = argv.first() else {
        return usage_error();
    };
    let name = applet_name(argv0);
    if name != SELF_NAME {
        return run_applet(name, argv);
    }
    match argv.get(1).copied() {
        None | Some("--help") | Some("-h") => {
            print_help();
            if argv.len() < 2 {
                1
            } else {
                0
            }
        }
        Some("--list") => {
            let mut out = String::new();
            for (name, _) in applets::APPLETS {
                out.push_str(name);
                out.push('\n');
            }
            report::out(&out);
            0
        }
        Some("--install") => install::main(&argv[2..]),
        Some(applet) => run_applet(applet_name(applet), &argv[1..]),
    }
}

/// `basename(argv0)` with one leading `-` removed (a login shell's argv[0]).
fn applet_name(argv0: &str) -> &str {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base.strip_prefix('-').unwrap_or(base)
}

fn run_applet(name: &str, argv: &[&str]) -> u8 {
    match applets::find(name) {
        Some(main) => main(argv),
        None => {
            report::err(&["ramdisk: applet not found: ", name]);
            127
        }
    }
}

fn usage_error() -> u8 {
    print_help();
    1
}

fn print_help() {
    let mut out = String::from(
        "ramdisk: multicall initramfs userland for OSTree boards\n\n\
         Usage: ramdisk APPLET [ARGS...]   or   APPLET [ARGS...] through a link\n\
         \x20      ramdisk --list             list applets\n\
         \x20      ramdisk --install [-s] DIR make a hard link (-s: symlink) per applet in DIR\n\n\
         Applets:\n",
    );
    for (name, _) in applets::APPLETS {
        out.push_str("    ");
        out.push_str(name);
        out.push('\n');
    }
    report::out(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_name_is_basename_without_login_dash() {
        assert_eq!(applet_name("/bin/mount"), "mount");
        assert_eq!(applet_name("mount"), "mount");
        assert_eq!(applet_name("-sh"), "sh");
        assert_eq!(applet_name("/usr/sbin/switch_root"), "switch_root");
    }

    #[test]
    fn unknown_applet_exits_127() {
        assert_eq!(run(&["ramdisk", "no-such-applet"]), 127);
        assert_eq!(run(&["/bin/no-such-applet"]), 127);
    }

    #[test]
    fn applet_table_is_sorted_and_unique() {
        for w in applets::APPLETS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
    }
}
