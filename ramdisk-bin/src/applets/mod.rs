//! The applet table: the only list of applets (sorted; `main.rs` dispatches through it).
//!
//! Each applet is one file with `pub fn main(argv: &[&str]) -> u8`: argv[0] is the applet name,
//! the return value is the exit status.

mod deploy;
mod init;
mod insmod;
mod mknod;
mod modprobe;
mod mount;
mod mv;
mod ostree;
mod switch_root;
mod umount;

/// An applet's entry point.
pub type Main = fn(&[&str]) -> u8;

/// Every applet, sorted by name.
pub const APPLETS: &[(&str, Main)] = &[
    ("deploy", deploy::main),
    ("init", init::main),
    ("insmod", insmod::main),
    ("mknod", mknod::main),
    ("modprobe", modprobe::main),
    ("mount", mount::main),
    ("mv", mv::main),
    ("ostree", ostree::main),
    ("switch_root", switch_root::main),
    ("umount", umount::main),
];

/// The entry point of applet `name`.
pub fn find(name: &str) -> Option<Main> {
    APPLETS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| APPLETS[i].1)
}
