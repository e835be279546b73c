//! `modprobe [-a] [-r] [-n] [-q] [-v] [-d DIR] [-S VERSION] NAME [PARAM=VALUE...]`: load (or
//! with `-r` remove) a kernel module with its dependencies.
//!
//! Modules live in `DIR/lib/modules/VERSION` (DIR defaults to `/`, VERSION to `uname -r`), as in
//! kmod and busybox. NAME is a module name (`-` = `_`), else an alias pattern from
//! `modules.alias`, else a module of `modules.builtin` (nothing to do). The load order comes from
//! `modules.dep` plus `modules.softdep` `pre:`/`post:` (`ramdisk_core::modules` documents it and
//! how it differs from kmod). PARAMs go to the requested module only. `-a` takes several NAMEs
//! and no PARAMs. Already loaded modules (`EEXIST`) count as success.
//!
//! Output: with `-n` (dry run) or `-v`, one line per step, as kmod's `--show-depends`:
//! `insmod /lib/modules/VERSION/kernel/fs/ext4/ext4.ko [PARAMS]`, `builtin NAME`, `rmmod NAME`.
//! Messages: `modprobe: module NAME not found in modules.dep` (not with `-q`),
//! `modprobe: can't load module NAME (PATH): why`, `modprobe: can't unload module 'NAME': why`,
//! `modprobe: bad 'PATH': why at byte N`. Exit 1 if any NAME failed.
//!
//! Deliberate differences: `-n` prints the steps without `-v` (kmod prints nothing); `-S` is
//! kmod's (busybox has none); no modprobe.d configuration (`options`, `blacklist`, `install`).
//! `-r` removes the requested module (it must be loaded), then best-effort its dependencies and
//! soft dependencies, last loaded first; those still in use stay.

use argh::FromArgs;
use ramdisk_core::modules::{self, ModuleIndex, Resolved};
use ramdisk_core::name::Name;
use ramdisk_core::Error;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use std::ffi::CString;

use super::insmod;
use crate::args;
use crate::report;

/// Load or remove kernel modules with their dependencies.
#[derive(FromArgs)]
struct Modprobe {
    /// load every NAME given (then no PARAMs)
    #[argh(switch, short = 'a')]
    all: bool,
    /// remove the modules, then the dependencies nobody uses
    #[argh(switch, short = 'r')]
    remove: bool,
    /// dry run: print the steps instead of doing them
    #[argh(switch, short = 'n')]
    dry_run: bool,
    /// no message for a module that is not found
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// print each step as it runs
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// root directory: modules are in DIR/lib/modules/VERSION
    #[argh(option, short = 'd')]
    dirname: Option<String>,
    /// kernel version to use instead of uname -r
    #[argh(option, short = 'S')]
    set_version: Option<String>,
    /// NAME [PARAM=VALUE...], or NAME... with -a
    #[argh(positional, greedy)]
    rest: Vec<String>,
}

/// What to do, besides the names.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// DIR of `DIR/lib/modules/VERSION`; `None` is `/`.
    pub base: Option<&'a str>,
    /// VERSION; `None` is `uname -r`.
    pub version: Option<&'a str>,
    pub remove: bool,
    pub dry_run: bool,
    pub quiet: bool,
    pub verbose: bool,
}

const USAGE: &str =
    "Usage: modprobe [-a] [-r] [-n] [-q] [-v] [-d DIR] [-S VERSION] NAME [PARAM=VALUE...]\n\n\
Load (-r: remove) a kernel module with its dependencies\n\n\
\t-a\tLoad every NAME (no PARAMs)\n\
\t-r\tRemove the modules, then the dependencies nobody uses\n\
\t-n\tDry run: print the steps\n\
\t-q\tNo message for a module that is not found\n\
\t-v\tPrint each step\n\
\t-d DIR\tModules are in DIR/lib/modules/VERSION\n\
\t-S VER\tKernel version (default: uname -r)\n";

pub fn main(argv: &[&str]) -> u8 {
    if matches!(argv.get(1).copied(), Some("--help" | "-h")) {
        report::out(USAGE);
        return 0;
    }
    let a: Modprobe = match args::parse(argv, b"dS") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let names: Vec<&str> = a.rest.iter().map(String::as_str).collect();
    let (names, params) = match (a.all, names.split_first()) {
        (_, None) => {
            report::err(&[USAGE.lines().next().unwrap_or_default()]);
            return 1;
        }
        (true, Some(_)) => (names.as_slice(), String::new()),
        (false, Some((first, params))) => (std::slice::from_ref(first), params.join(" ")),
    };
    let opts = Options {
        base: a.dirname.as_deref(),
        version: a.set_version.as_deref(),
        remove: a.remove,
        dry_run: a.dry_run,
        quiet: a.quiet,
        verbose: a.verbose,
    };
    if run("modprobe", &opts, names, &params) {
        0
    } else {
        1
    }
}

/// Loads (or removes) `names` as `modprobe` does; `params` go to each requested module.
/// Messages are prefixed with `applet`. Returns false if any name failed (each is reported).
/// `init` uses this for `ramdisk.modules=`.
pub fn run(applet: &str, opts: &Options<'_>, names: &[&str], params: &str) -> bool {
    let release;
    let version = match opts.version {
        Some(v) => v,
        None => {
            release = rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned();
            release.as_str()
        }
    };
    let mut shown = String::from(opts.base.unwrap_or("").trim_end_matches('/'));
    shown.push_str("/lib/modules/");
    shown.push_str(version);
    let dir = match open_moddir(opts.base, version) {
        Ok(d) => d,
        Err(e) => {
            report::fail_errno(applet, "can't open", &shown, e);
            return false;
        }
    };
    let mut files: [Vec<u8>; 5] = Default::default();
    for (buf, (name, required)) in files.iter_mut().zip(INDEX_FILES) {
        match read_file(dir.as_fd(), name) {
            Ok(bytes) => *buf = bytes,
            Err(Errno::NOENT) if !required => {}
            Err(e) => {
                report::fail_errno(applet, "can't open", &join(&shown, name), e);
                return false;
            }
        }
    }
    let [dep, softdep, alias, builtin, modinfo] = &files;
    let mut index = match ModuleIndex::parse(dep, softdep, alias) {
        Ok(i) => i,
        Err(e) => {
            report::fail(applet, &bad(&shown, e.file), &Error::Parse(e.error));
            return false;
        }
    };
    if let Err(e) = index.add_builtin(builtin) {
        report::fail(applet, &bad(&shown, "modules.builtin"), &Error::Parse(e));
        return false;
    }
    if let Err(e) = index.add_builtin_modinfo(modinfo) {
        report::fail(
            applet,
            &bad(&shown, "modules.builtin.modinfo"),
            &Error::Parse(e),
        );
        return false;
    }
    let ctx = Ctx {
        applet,
        opts,
        dir: dir.as_fd(),
        shown: &shown,
        index: &index,
    };
    let mut ok = true;
    for name in names {
        ok &= if opts.remove {
            ctx.remove(name)
        } else {
            ctx.load(name, params)
        };
    }
    ok
}

/// The index files: (name, must exist).
const INDEX_FILES: [(&str, bool); 5] = [
    ("modules.dep", true),
    ("modules.softdep", false),
    ("modules.alias", false),
    ("modules.builtin", false),
    ("modules.builtin.modinfo", false),
];

struct Ctx<'c, 'a> {
    applet: &'c str,
    opts: &'c Options<'c>,
    dir: BorrowedFd<'c>,
    /// `DIR/lib/modules/VERSION` for messages.
    shown: &'c str,
    index: &'c ModuleIndex<'a>,
}

impl Ctx<'_, '_> {
    fn show(&self) -> bool {
        self.opts.dry_run || self.opts.verbose
    }

    fn resolve(&self, name: &str) -> Option<Vec<&str>> {
        match self.index.resolve(name) {
            Ok(Resolved::Modules(targets)) => Some(targets),
            Ok(Resolved::Builtin(b)) => {
                if self.show() {
                    report::out(&["builtin ", b, "\n"].concat());
                }
                Some(Vec::new())
            }
            Err(_) => {
                if !self.opts.quiet {
                    report::err(&[self.applet, ": module ", name, " not found in modules.dep"]);
                }
                None
            }
        }
    }

    fn load(&self, name: &str, params: &str) -> bool {
        let Some(targets) = self.resolve(name) else {
            return false;
        };
        let order = self.index.load_order(name).unwrap_or_default();
        for path in order {
            let p = if targets.contains(&path) { params } else { "" };
            if self.show() {
                let mut line = ["insmod ", &join(self.shown, path)].concat();
                if !p.is_empty() {
                    line.push(' ');
                    line.push_str(p);
                }
                line.push('\n');
                report::out(&line);
            }
            if self.opts.dry_run {
                continue;
            }
            if let Err((_, e)) = insmod::insert_at(self.dir, path, p) {
                let what = [
                    "can't load module ",
                    name,
                    " (",
                    &join(self.shown, path),
                    ")",
                ]
                .concat();
                let mut why = String::new();
                match e {
                    Error::Sys { errno, .. } => report::errno_str(errno, &mut why),
                    other => report::push_error(&mut why, &other),
                }
                report::err(&[self.applet, ": ", &what, ": ", &why]);
                return false;
            }
        }
        true
    }

    fn remove(&self, name: &str) -> bool {
        let Some(targets) = self.resolve(name) else {
            return false;
        };
        if targets.is_empty() {
            report::err(&[self.applet, ": module ", name, " is built in"]);
            return false;
        }
        let order = self.index.load_order(name).unwrap_or_default();
        let mut ok = true;
        for path in order.iter().rev() {
            let Some(module) = modules::module_name(path) else {
                continue;
            };
            let kname = modules::kernel_name(module);
            if self.show() {
                report::out(&["rmmod ", &kname, "\n"].concat());
            }
            if self.opts.dry_run {
                continue;
            }
            let Ok(c) = CString::new(kname.as_str()) else {
                continue;
            };
            // Dependencies still used by others refuse (EWOULDBLOCK/EBUSY): that is fine.
            if let Err(Error::Sys { errno, .. }) = modules::remove(&c) {
                if targets.contains(path) {
                    report::fail_errno(self.applet, "can't unload module", &kname, errno);
                    ok = false;
                }
            }
        }
        ok
    }
}

/// Opens `BASE/lib/modules/VERSION` one fixed step at a time (VERSION must be one path component).
fn open_moddir(base: Option<&str>, version: &str) -> Result<OwnedFd, Errno> {
    if Name::new(version.as_bytes()).is_err() {
        return Err(Errno::INVAL);
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::openat(CWD, base.unwrap_or("/"), flags, Mode::empty())?;
    let lib = rustix::fs::openat(&root, "lib/modules", flags, Mode::empty())?;
    rustix::fs::openat(&lib, version, flags, Mode::empty())
}

fn read_file(dir: BorrowedFd<'_>, name: &str) -> Result<Vec<u8>, Errno> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match rustix::io::read(&fd, &mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// `dir/name` for messages (a relative `name`; an absolute one is shown as is).
fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_string();
    }
    [dir, "/", name].concat()
}

fn bad(shown: &str, file: &str) -> String {
    ["bad '", &join(shown, file), "'"].concat()
}
