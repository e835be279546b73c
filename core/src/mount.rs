//! Mount options and the mount syscalls: the busybox option table as a pure parser, then one
//! thin named wrapper per use of mount(2)/umount2(2) (STYLE.md §3).
//!
//! # Option strings
//! [`Options::push`] reads a comma list such as `remount,ro,nosuid,size=4m` the way busybox's
//! `parse_mount_options` does (anchors-multicall.md §1.3): names are matched case-insensitively
//! against [`TABLE`]; a known name sets or clears `MS_*` bits; every other option is appended,
//! in order and unchanged, to the filesystem data string, which stays empty (passed as NULL:
//! cgroup and friends reject `""`) when nothing is left. Parsing starts from `MS_SILENT`, as
//! busybox does. Pairs (`ro`/`rw`, `exec`/`noexec`, …) are last-wins, and every other option is
//! independent of order, so `remount,rw` and `rw,remount` are the same (toybox#49).
//!
//! Propagation changes (`shared`, `rprivate`, also busybox's `make-shared` … spellings) are
//! kept apart in [`Options::propagation`]: the kernel takes them only in a mount(2) call of their
//! own, so the caller makes that call after the main one (busybox folds them into one call and
//! gets `EINVAL`, linuxkit#424).
//!
//! Differences from busybox's table: `silent` is accepted (sets `MS_SILENT`); `loop` is
//! recognised only to report that loop devices are not set up here ([`Options::loop_requested`]);
//! the fstab-only words `defaults`, `noauto`, `nofail`, `_netdev` are accepted and ignored, while
//! `sw`, `swap`, `user`, `users` and `comment=` go to the data string.
//!
//! # Syscall wrappers
//! Each wrapper is one mount(2) or umount2(2) call with a fixed shape; the `init` applet calls
//! them by name. They take `&str` paths (from argv or DESIGN.md's fixed set) and map errno to
//! `Error::Sys { op: "mount" | "umount2" }`; the caller adds the path it holds.

use alloc::string::String;
use alloc::vec::Vec;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::error::{Error, Result};

/// `MS_*` values from `<linux/mount.h>`: raw so that action bits (`MS_REMOUNT`, `MS_MOVE`),
/// which rustix keeps private, can live in one word next to the per-mount bits.
pub mod ms {
    pub const RDONLY: u32 = 1;
    pub const NOSUID: u32 = 2;
    pub const NODEV: u32 = 4;
    pub const NOEXEC: u32 = 8;
    pub const SYNCHRONOUS: u32 = 16;
    pub const REMOUNT: u32 = 32;
    pub const MANDLOCK: u32 = 64;
    pub const DIRSYNC: u32 = 128;
    pub const NOSYMFOLLOW: u32 = 256;
    pub const NOATIME: u32 = 1024;
    pub const NODIRATIME: u32 = 2048;
    pub const BIND: u32 = 4096;
    pub const MOVE: u32 = 8192;
    pub const REC: u32 = 16384;
    pub const SILENT: u32 = 32768;
    pub const UNBINDABLE: u32 = 1 << 17;
    pub const PRIVATE: u32 = 1 << 18;
    pub const SLAVE: u32 = 1 << 19;
    pub const SHARED: u32 = 1 << 20;
    pub const RELATIME: u32 = 1 << 21;
    pub const STRICTATIME: u32 = 1 << 24;
    pub const LAZYTIME: u32 = 1 << 25;
    /// The four propagation types; exactly one may be given per mount(2) call.
    pub const PROPAGATION: u32 = SHARED | PRIVATE | SLAVE | UNBINDABLE;
    /// The per-mount-point bits a bind mount only takes through a later `MS_REMOUNT|MS_BIND`.
    pub const PER_MOUNT: u32 = RDONLY
        | NOSUID
        | NODEV
        | NOEXEC
        | NOATIME
        | NODIRATIME
        | RELATIME
        | STRICTATIME
        | NOSYMFOLLOW;
}

/// What one option name does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Sets these `MS_*` bits.
    Set(u32),
    /// Clears these `MS_*` bits (busybox's `~FLAG`).
    Clear(u32),
    /// A propagation change (`MS_SHARED` … plus `MS_REC` for the `r` forms), made as its own call.
    Propagation(u32),
    /// Accepted and ignored.
    Ignore,
    /// `loop`: asks for a loop device, which this mount does not set up.
    Loop,
}

/// The option names mount knows (busybox `mount_option_str`), with what each does.
pub const TABLE: &[(&str, Effect)] = &[
    ("_netdev", Effect::Ignore),
    ("async", Effect::Clear(ms::SYNCHRONOUS)),
    ("atime", Effect::Clear(ms::NOATIME)),
    ("bind", Effect::Set(ms::BIND)),
    ("defaults", Effect::Ignore),
    ("dev", Effect::Clear(ms::NODEV)),
    ("diratime", Effect::Clear(ms::NODIRATIME)),
    ("dirsync", Effect::Set(ms::DIRSYNC)),
    ("exec", Effect::Clear(ms::NOEXEC)),
    ("lazytime", Effect::Set(ms::LAZYTIME)),
    ("loop", Effect::Loop),
    ("loud", Effect::Clear(ms::SILENT)),
    ("make-private", Effect::Propagation(ms::PRIVATE)),
    ("make-rprivate", Effect::Propagation(ms::PRIVATE | ms::REC)),
    ("make-rshared", Effect::Propagation(ms::SHARED | ms::REC)),
    ("make-rslave", Effect::Propagation(ms::SLAVE | ms::REC)),
    (
        "make-runbindable",
        Effect::Propagation(ms::UNBINDABLE | ms::REC),
    ),
    ("make-shared", Effect::Propagation(ms::SHARED)),
    ("make-slave", Effect::Propagation(ms::SLAVE)),
    ("make-unbindable", Effect::Propagation(ms::UNBINDABLE)),
    ("mand", Effect::Set(ms::MANDLOCK)),
    ("move", Effect::Set(ms::MOVE)),
    ("noatime", Effect::Set(ms::NOATIME)),
    ("noauto", Effect::Ignore),
    ("nodev", Effect::Set(ms::NODEV)),
    ("nodiratime", Effect::Set(ms::NODIRATIME)),
    ("noexec", Effect::Set(ms::NOEXEC)),
    ("nofail", Effect::Ignore),
    ("nolazytime", Effect::Clear(ms::LAZYTIME)),
    ("nomand", Effect::Clear(ms::MANDLOCK)),
    ("norelatime", Effect::Clear(ms::RELATIME)),
    ("nostrictatime", Effect::Clear(ms::STRICTATIME)),
    ("nosuid", Effect::Set(ms::NOSUID)),
    ("nosymfollow", Effect::Set(ms::NOSYMFOLLOW)),
    ("private", Effect::Propagation(ms::PRIVATE)),
    ("rbind", Effect::Set(ms::BIND | ms::REC)),
    ("relatime", Effect::Set(ms::RELATIME)),
    ("remount", Effect::Set(ms::REMOUNT)),
    ("ro", Effect::Set(ms::RDONLY)),
    ("rprivate", Effect::Propagation(ms::PRIVATE | ms::REC)),
    ("rshared", Effect::Propagation(ms::SHARED | ms::REC)),
    ("rslave", Effect::Propagation(ms::SLAVE | ms::REC)),
    ("runbindable", Effect::Propagation(ms::UNBINDABLE | ms::REC)),
    ("rw", Effect::Clear(ms::RDONLY)),
    ("shared", Effect::Propagation(ms::SHARED)),
    ("silent", Effect::Set(ms::SILENT)),
    ("slave", Effect::Propagation(ms::SLAVE)),
    ("strictatime", Effect::Set(ms::STRICTATIME)),
    ("suid", Effect::Clear(ms::NOSUID)),
    ("sync", Effect::Set(ms::SYNCHRONOUS)),
    ("unbindable", Effect::Propagation(ms::UNBINDABLE)),
];

/// The effect of option `name` (case-insensitive), or `None` for filesystem data.
pub fn lookup(name: &str) -> Option<Effect> {
    TABLE
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, e)| e)
}

/// Parsed `-o` options: flags for the main call, a propagation change, filesystem data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `MS_*` bits for the main mount(2) call (action bits included: `MS_REMOUNT`, `MS_BIND`,
    /// `MS_REC` for `rbind`, `MS_MOVE`).
    pub flags: u32,
    /// One propagation type (last one given wins), with `MS_REC` for the `r` forms; 0 for none.
    pub propagation: u32,
    /// Unknown options joined by commas, for the filesystem; empty means NULL.
    pub data: String,
    /// `loop` was given.
    pub loop_requested: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// No options yet: `MS_SILENT`, as busybox starts.
    pub const fn new() -> Self {
        Options {
            flags: ms::SILENT,
            propagation: 0,
            data: String::new(),
            loop_requested: false,
        }
    }

    /// Parses a whole option string.
    pub fn parse(list: &str) -> Self {
        let mut o = Self::new();
        o.push(list);
        o
    }

    /// Adds the options of one comma list (`-o` may be given many times; later ones win).
    /// Empty items (`ro,,rw`) are skipped.
    pub fn push(&mut self, list: &str) {
        for opt in list.split(',').filter(|o| !o.is_empty()) {
            match lookup(opt) {
                Some(Effect::Set(bits)) => self.flags |= bits,
                Some(Effect::Clear(bits)) => self.flags &= !bits,
                Some(Effect::Propagation(p)) => self.propagation = p,
                Some(Effect::Ignore) => {}
                Some(Effect::Loop) => self.loop_requested = true,
                None => {
                    if !self.data.is_empty() {
                        self.data.push(',');
                    }
                    self.data.push_str(opt);
                }
            }
        }
    }

    /// The data argument: `None` when no option was left for the filesystem.
    pub fn data(&self) -> Option<&str> {
        if self.data.is_empty() {
            None
        } else {
            Some(&self.data)
        }
    }

    /// The main call this option set asks for.
    pub fn action(&self) -> Action {
        if self.flags & ms::REMOUNT != 0 {
            Action::Remount
        } else if self.flags & ms::MOVE != 0 {
            Action::Move
        } else if self.flags & ms::BIND != 0 {
            Action::Bind {
                recursive: self.flags & ms::REC != 0,
            }
        } else {
            Action::Mount
        }
    }

    /// The flags for a new mount or a remount: without the action bits.
    pub fn mount_flags(&self) -> u32 {
        self.flags & !(ms::REMOUNT | ms::MOVE | ms::BIND | ms::REC)
    }
}

/// Which mount(2) shape the options ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A new mount of a filesystem.
    Mount,
    /// `MS_REMOUNT` (with `bind`: only the per-mount flags change).
    Remount,
    /// `MS_BIND`, with `MS_REC` for `rbind`.
    Bind { recursive: bool },
    /// `MS_MOVE`.
    Move,
}

/// One line of `/proc/mounts` (fields still escaped as the kernel writes them: `\040` for space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountEntry<'a> {
    pub source: &'a str,
    pub target: &'a str,
    pub fstype: &'a str,
    pub options: &'a str,
}

impl<'a> MountEntry<'a> {
    /// Splits a `/proc/mounts` line; `None` for a line with fewer than four fields.
    pub fn parse(line: &'a str) -> Option<Self> {
        let mut f = line.split_ascii_whitespace();
        Some(MountEntry {
            source: f.next()?,
            target: f.next()?,
            fstype: f.next()?,
            options: f.next()?,
        })
    }
}

/// Appends `field` with the kernel's octal escapes (`\040` …, see `mangle()` in fs/proc_namespace.c)
/// decoded, as getmntent(3) does for busybox.
pub fn push_unescaped(out: &mut String, field: &str) {
    let b = field.as_bytes();
    let mut i = 0;
    let mut raw: Vec<u8> = Vec::with_capacity(b.len());
    while let Some(&c) = b.get(i) {
        let esc = b.get(i + 1..i + 4).and_then(|d| {
            if c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x)) {
                let v = d.iter().fold(0u32, |a, x| a * 8 + u32::from(x - b'0'));
                u8::try_from(v).ok()
            } else {
                None
            }
        });
        match esc {
            Some(v) => {
                raw.push(v);
                i += 4;
            }
            None => {
                raw.push(c);
                i += 1;
            }
        }
    }
    out.push_str(&String::from_utf8_lossy(&raw));
}

/// Renders a `/proc/mounts` text the way busybox `mount` lists it: `DEV on DIR type FS (OPTS)`,
/// one line per mount, only type `fstype` when given.
pub fn format_mounts(table: &str, fstype: Option<&str>) -> String {
    let mut out = String::with_capacity(table.len() + table.len() / 4);
    for e in table.lines().filter_map(MountEntry::parse) {
        if fstype.is_some_and(|t| t != e.fstype) {
            continue;
        }
        push_unescaped(&mut out, e.source);
        out.push_str(" on ");
        push_unescaped(&mut out, e.target);
        out.push_str(" type ");
        push_unescaped(&mut out, e.fstype);
        out.push_str(" (");
        push_unescaped(&mut out, e.options);
        out.push_str(")\n");
    }
    out
}

/// The filesystem types worth trying for a block device, from `/etc/filesystems` or
/// `/proc/filesystems` text: lines marked `nodev` (and `*`, which ends an `/etc/filesystems`
/// list) are skipped, as busybox does.
pub fn block_filesystems(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t == "*" {
            return None;
        }
        if l.starts_with("nodev") {
            return None;
        }
        Some(t)
    })
}

fn sys(errno: rustix::io::Errno) -> Error {
    Error::sys("mount", errno)
}

/// `CString` of `s`, or `EINVAL` for an interior NUL (the kernel would cut the string there).
fn cstr(s: &str) -> Result<alloc::ffi::CString> {
    alloc::ffi::CString::new(s).map_err(|_| sys(rustix::io::Errno::INVAL))
}

fn raw_mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: u32,
    data: Option<&str>,
) -> Result<()> {
    let data = match data {
        Some(d) => Some(cstr(d)?),
        None => None,
    };
    rustix::mount::mount(
        source,
        target,
        fstype,
        MountFlags::from_bits_retain(flags),
        data.as_deref(),
    )
    .map_err(sys)
}

/// `mount(source, target, fstype, flags, data)`: a new mount of a filesystem.
///
/// `flags` are `ms::*` bits (`MS_SILENT` is worth adding, as busybox does); `data` `None` is NULL.
/// See [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html).
///
/// # Errors
/// `Sys { op: "mount" }` with the kernel's errno (`ENODEV` unknown type, `ENOTBLK`, `EROFS`, …).
pub fn mount_fs(
    source: &str,
    target: &str,
    fstype: &str,
    flags: u32,
    data: Option<&str>,
) -> Result<()> {
    raw_mount(
        source,
        target,
        fstype,
        flags & !(ms::REMOUNT | ms::MOVE | ms::BIND),
        data,
    )
}

/// `mount(source, target, NULL, MS_BIND, NULL)`: `source` is also visible at `target`
/// (only that mount, not the mounts below it; see [`rbind`]).
///
/// # Errors
/// `Sys { op: "mount" }`.
pub fn bind(source: &str, target: &str) -> Result<()> {
    rustix::mount::mount_bind(source, target).map_err(sys)
}

/// `mount(source, target, NULL, MS_BIND|MS_REC, NULL)`: like [`bind`] with every mount below
/// `source` too.
///
/// # Errors
/// `Sys { op: "mount" }`.
pub fn rbind(source: &str, target: &str) -> Result<()> {
    rustix::mount::mount_bind_recursive(source, target).map_err(sys)
}

/// `mount(source, target, NULL, MS_MOVE, NULL)`: the mount at `source` moves to `target`
/// (atomic; what `switch_root` does with the new root onto `/`).
///
/// # Errors
/// `Sys { op: "mount" }` (`EINVAL` when `source` is not a mount point).
pub fn move_mount(source: &str, target: &str) -> Result<()> {
    rustix::mount::mount_move(source, target).map_err(sys)
}

/// `mount("", target, "", MS_REMOUNT|flags, data)`: changes the flags (and the filesystem
/// options in `data`) of the mounted filesystem at `target`; `ms::RDONLY` in `flags` makes the
/// whole filesystem read-only, its absence read-write.
///
/// # Errors
/// `Sys { op: "mount" }` (`EINVAL` when `target` is not a mount point, `EBUSY` for `ro` with
/// files open for writing).
pub fn remount(target: &str, flags: u32, data: Option<&str>) -> Result<()> {
    raw_mount(
        "",
        target,
        "",
        (flags & !(ms::MOVE | ms::BIND | ms::REC)) | ms::REMOUNT,
        data,
    )
}

/// `mount("", target, "", MS_REMOUNT|MS_BIND|flags, NULL)`: changes only the per-mount-point
/// flags (`ms::PER_MOUNT`: `ro`, `nosuid`, `nodev`, `noexec`, atime) of the mount at `target`,
/// leaving the filesystem and its other mounts alone; how a bind mount becomes read-only.
///
/// # Errors
/// `Sys { op: "mount" }`.
pub fn remount_bind(target: &str, flags: u32) -> Result<()> {
    raw_mount(
        "",
        target,
        "",
        (flags & ms::PER_MOUNT) | ms::REMOUNT | ms::BIND,
        None,
    )
}

/// `mount("", target, "", propagation, NULL)`: changes the propagation type of the mount at
/// `target`; `propagation` is one of `ms::SHARED`, `PRIVATE`, `SLAVE`, `UNBINDABLE`, optionally
/// with `ms::REC` for every mount below it too.
///
/// # Errors
/// `Sys { op: "mount" }` (`EINVAL` when `target` is not a mount point or two types are given).
pub fn set_propagation(target: &str, propagation: u32) -> Result<()> {
    let p = propagation & (ms::PROPAGATION | ms::REC);
    rustix::mount::mount_change(target, MountPropagationFlags::from_bits_retain(p)).map_err(sys)
}

/// [`set_propagation`] with `MS_PRIVATE`: no mount events in or out of `target`.
pub fn make_private(target: &str) -> Result<()> {
    set_propagation(target, ms::PRIVATE)
}

/// [`set_propagation`] with `MS_PRIVATE|MS_REC`: `target` and every mount below it private
/// (what `init` does to `/` before moving mounts around, so nothing leaks to other namespaces).
pub fn make_rprivate(target: &str) -> Result<()> {
    set_propagation(target, ms::PRIVATE | ms::REC)
}

/// [`set_propagation`] with `MS_SHARED`.
pub fn make_shared(target: &str) -> Result<()> {
    set_propagation(target, ms::SHARED)
}

/// [`set_propagation`] with `MS_SLAVE`.
pub fn make_slave(target: &str) -> Result<()> {
    set_propagation(target, ms::SLAVE)
}

/// `umount2(target, 0)`.
/// See [umount2(2)](https://man7.org/linux/man-pages/man2/umount2.2.html).
///
/// # Errors
/// `Sys { op: "umount2" }` (`EBUSY` while in use, `EINVAL` when not a mount point).
pub fn umount(target: &str) -> Result<()> {
    umount_with(target, false, false)
}

/// `umount2(target, MNT_DETACH)`: detaches now, frees when no longer in use.
///
/// # Errors
/// `Sys { op: "umount2" }`.
pub fn umount_lazy(target: &str) -> Result<()> {
    umount_with(target, true, false)
}

/// `umount2(target, [MNT_DETACH] [| MNT_FORCE])` for `umount -l` / `-f`.
///
/// # Errors
/// `Sys { op: "umount2" }`.
pub fn umount_with(target: &str, lazy: bool, force: bool) -> Result<()> {
    let mut f = UnmountFlags::empty();
    if lazy {
        f |= UnmountFlags::DETACH;
    }
    if force {
        f |= UnmountFlags::FORCE;
    }
    rustix::mount::unmount(target, f).map_err(|e| Error::sys("umount2", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn starts_silent_with_no_data() {
        let o = Options::parse("");
        assert_eq!(o.flags, ms::SILENT);
        assert_eq!(o.data(), None);
        assert_eq!(o.action(), Action::Mount);
    }

    #[test]
    fn remount_rw_is_order_independent() {
        let a = Options::parse("remount,rw");
        let b = Options::parse("rw,remount");
        assert_eq!(a, b);
        assert_eq!(a.action(), Action::Remount);
        assert_eq!(a.flags & ms::RDONLY, 0);
        let c = Options::parse("ro,remount");
        assert_eq!(c, Options::parse("remount,ro"));
        assert_ne!(c.flags & ms::RDONLY, 0);
    }

    #[test]
    fn pairs_are_last_wins() {
        assert_eq!(Options::parse("ro,rw").flags & ms::RDONLY, 0);
        assert_ne!(Options::parse("rw,ro").flags & ms::RDONLY, 0);
        assert_eq!(Options::parse("noexec,exec").flags & ms::NOEXEC, 0);
        assert_eq!(Options::parse("loud").flags & ms::SILENT, 0);
        assert_eq!(Options::parse("sync,async").flags & ms::SYNCHRONOUS, 0);
    }

    #[test]
    fn maps_every_vfs_flag() {
        let o = Options::parse(
            "ro,nosuid,nodev,noexec,sync,dirsync,noatime,nodiratime,relatime,strictatime,lazytime,mand,nosymfollow",
        );
        let want = ms::SILENT
            | ms::RDONLY
            | ms::NOSUID
            | ms::NODEV
            | ms::NOEXEC
            | ms::SYNCHRONOUS
            | ms::DIRSYNC
            | ms::NOATIME
            | ms::NODIRATIME
            | ms::RELATIME
            | ms::STRICTATIME
            | ms::LAZYTIME
            | ms::MANDLOCK
            | ms::NOSYMFOLLOW;
        assert_eq!(o.flags, want);
        assert_eq!(o.data(), None);
        let off = Options::parse(
            "ro,nosuid,nodev,noexec,noatime,nodiratime,relatime,strictatime,lazytime,mand,\
             rw,suid,dev,exec,atime,diratime,norelatime,nostrictatime,nolazytime,nomand",
        );
        assert_eq!(off.flags, ms::SILENT);
    }

    #[test]
    fn unknown_options_become_data_in_order() {
        let o = Options::parse("size=4m,ro,mode=0755,FOO,uid=0");
        assert_eq!(o.data(), Some("size=4m,mode=0755,FOO,uid=0"));
        assert_eq!(o.flags, ms::SILENT | ms::RDONLY);
    }

    #[test]
    fn matching_is_case_insensitive_and_exact() {
        assert_eq!(
            Options::parse("RO,NoSuid").flags,
            ms::SILENT | ms::RDONLY | ms::NOSUID
        );
        assert_eq!(Options::parse("rox").data(), Some("rox"));
        assert_eq!(Options::parse("r").data(), Some("r"));
    }

    #[test]
    fn empty_items_and_defaults_add_nothing() {
        let o = Options::parse(",defaults,,noauto,nofail,_netdev,");
        assert_eq!(o, Options::new());
    }

    #[test]
    fn actions_from_options() {
        assert_eq!(
            Options::parse("bind").action(),
            Action::Bind { recursive: false }
        );
        assert_eq!(
            Options::parse("rbind").action(),
            Action::Bind { recursive: true }
        );
        assert_eq!(Options::parse("move").action(), Action::Move);
        let rb = Options::parse("remount,bind,ro");
        assert_eq!(rb.action(), Action::Remount);
        assert_ne!(rb.flags & ms::BIND, 0);
        assert_eq!(rb.mount_flags(), ms::SILENT | ms::RDONLY);
    }

    #[test]
    fn propagation_is_kept_apart_from_flags() {
        let o = Options::parse("remount,bind,shared");
        assert_eq!(o.propagation, ms::SHARED);
        assert_eq!(o.flags & ms::PROPAGATION, 0);
        assert_eq!(
            Options::parse("make-rslave").propagation,
            ms::SLAVE | ms::REC
        );
        assert_eq!(
            Options::parse("rprivate").propagation,
            ms::PRIVATE | ms::REC
        );
        assert_eq!(
            Options::parse("runbindable").propagation,
            ms::UNBINDABLE | ms::REC
        );
        assert_eq!(Options::parse("shared,private").propagation, ms::PRIVATE);
        assert_eq!(Options::parse("make-private").data(), None);
    }

    #[test]
    fn repeated_pushes_accumulate() {
        let mut o = Options::new();
        o.push("ro,size=1m");
        o.push("rw,mode=700");
        assert_eq!(o.flags, ms::SILENT);
        assert_eq!(o.data(), Some("size=1m,mode=700"));
    }

    #[test]
    fn loop_is_flagged_not_data() {
        let o = Options::parse("loop,ro");
        assert!(o.loop_requested);
        assert_eq!(o.data(), None);
    }

    #[test]
    fn formats_proc_mounts_like_busybox() {
        let t = "proc /proc proc rw,nosuid 0 0\n/dev/sda1 /mnt/a\\040b ext4 ro,relatime 0 0\nshort line\n";
        assert_eq!(
            format_mounts(t, None),
            "proc on /proc type proc (rw,nosuid)\n/dev/sda1 on /mnt/a b type ext4 (ro,relatime)\n"
        );
        assert_eq!(
            format_mounts(t, Some("ext4")),
            "/dev/sda1 on /mnt/a b type ext4 (ro,relatime)\n"
        );
    }

    #[test]
    fn unescape_leaves_bad_escapes_alone() {
        let mut s = String::new();
        push_unescaped(&mut s, "a\\134b\\9\\0");
        assert_eq!(s, "a\\b\\9\\0");
    }

    #[test]
    fn block_filesystems_skip_nodev() {
        let t = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text4\n\tvfat\n";
        assert_eq!(
            block_filesystems(t).collect::<Vec<_>>(),
            ["ext3", "ext4", "vfat"]
        );
        assert_eq!(block_filesystems("ext4\n*\n").collect::<Vec<_>>(), ["ext4"]);
    }
}
