//! `init`: `/init` of the initramfs (DESIGN.md, "init: kernel command line" and the update
//! protocol under "Deployment layout").
//!
//! Steps, one console line each, prefixed `ramdisk: `:
//! 1. mount `proc`, `sysfs`, `devtmpfs` (kernels without `DEVTMPFS_MOUNT` leave `/dev` empty);
//! 2. read `/etc/ramdisk.conf` (defaults), then `/proc/cmdline` (`ramdisk_core::cmdline`);
//! 3. load `ramdisk.modules=` with their dependencies from `/lib/modules/$(uname -r)`;
//! 4. find the root device (`root=` name, `PARTUUID=` from sysfs uevents, `LABEL=`/`UUID=` from
//!    ext2/3/4 superblocks), creating `/dev/NAME` from `/sys/class/block/NAME/dev` when devtmpfs
//!    lacks it; `rootwait` waits forever, else up to `rootdelay=` seconds (default 5);
//! 5. mount it on `/sysroot` (`rootfstype=`, default ext4; `rootflags=`);
//! 6. run the deployment state machine (`ramdisk_core::deploy::boot`): leftovers removed,
//!    update from `ostree.ref=`, trial counter, rollback. Trusted ed25519 keys come from
//!    `/usr/share/ostree` and `/etc/ostree` of the initramfs (`trusted.ed25519`,
//!    `trusted.ed25519.d/`, `revoked.ed25519[.d]`) plus the file `ramdisk.keys=`; with keys,
//!    only a commit whose signature verifies is deployed (with its setuid bits and file
//!    capabilities), else `ramdisk: refusing 3fa2…c1: unsigned` and the current deployment
//!    boots. A commit older than the current deployment's is refused unless
//!    `ramdisk.allow-downgrade`. A key file that cannot be read skips the update only;
//! 7. bind the chosen deployment on `/newroot`, bind `ostree/var` on its `/var`, move the
//!    partition to its `/sysroot` when that directory exists, and `switch_root` into it (the
//!    partition root itself on a board without `ostree/current`).
//!
//! Markers for the boot tests: `ramdisk: booting deployment NAME`, `ramdisk: rolled back to
//! NAME (from NAME)`, `ramdisk: switching root to DIR`. When switching into the chosen tree
//! fails, `previous` and then the partition root are tried. With nothing bootable it prints
//! `ramdisk: fatal: REASON` and waits forever, or reboots with `ramdisk.panic=reboot`: `init`
//! never exits and never panics the kernel. Run as anything but PID 1 it refuses to start.

use ramdisk_core::cmdline::{self, Config, Panic, RootSpec};
use ramdisk_core::deploy::repo::RepoSource;
use ramdisk_core::deploy::rootdev::{self, Ext4Super, EXT4_SUPER_LEN, EXT4_SUPER_OFFSET};
use ramdisk_core::deploy::sysroot::Sysroot;
use ramdisk_core::deploy::{self, Boot, BootOptions, Deployment, Event};
use ramdisk_core::mount::{self as m, ms, Options};
use ramdisk_core::name::Name;
use ramdisk_core::sign::{KeyFileError, Keys};
use ramdisk_core::switch_root::{switch_root, SwitchError};
use ramdisk_core::Error;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use super::deploy::{name, render, ProgressLine};
use crate::report;

/// Where the root partition is mounted inside the initramfs.
const SYSROOT: &str = "/sysroot";
/// Where a deployment is bound before `switch_root`.
const NEWROOT: &str = "/newroot";
/// How long to look for the root device without `rootwait`/`rootdelay=`.
const DEFAULT_ROOT_WAIT_S: u32 = 5;

pub fn main(argv: &[&str]) -> u8 {
    if !rustix::process::getpid().is_init() {
        report::err(&["init: must be run as PID 1 (it is /init of the initramfs)"]);
        return 1;
    }
    let mut cfg = Config::default();
    let why = run(argv, &mut cfg);
    fatal(&why, cfg.panic)
}

/// One console line: `ramdisk: ` + pieces.
fn say(pieces: &[&str]) {
    let mut line = String::from("ramdisk: ");
    for p in pieces {
        line.push_str(p);
    }
    report::err(&[&line]);
}

fn why(e: &Error) -> String {
    let mut s = String::new();
    report::push_error(&mut s, e);
    s
}

/// Boots; returns only with the reason nothing could be booted.
fn run(argv: &[&str], cfg: &mut Config) -> String {
    mount_api();
    read_config(cfg);
    load_modules(cfg);
    let dev = match wait_for_root(cfg) {
        Ok(d) => d,
        Err(e) => return e,
    };
    if let Err(e) = mount_root(cfg, &dev) {
        return e;
    }
    let (chosen, previous) = decide(cfg);
    let mut targets: Vec<Option<Deployment>> = Vec::new();
    match chosen {
        Boot::Deployment(d) => targets.push(Some(d)),
        Boot::PartitionRoot => targets.push(None),
        Boot::Nothing => say(&["current deployment is missing and there is no previous one"]),
    }
    if let Some(p) = previous.filter(|p| !targets.contains(&Some(*p))) {
        targets.push(Some(p));
    }
    if !targets.contains(&None) {
        targets.push(None);
    }
    let init_args: Vec<&str> = argv.get(1..).unwrap_or(&[]).to_vec();
    for (i, t) in targets.iter().enumerate() {
        if i > 0 {
            say(&["trying the next candidate"]);
        }
        let e = match t {
            Some(d) => boot_deployment(cfg, d, &init_args),
            None => boot_partition_root(cfg, &init_args),
        };
        say(&[&e]);
    }
    "no bootable tree on the root partition".to_string()
}

/// Never returns: waits forever (the message stays on screen) or reboots.
fn fatal(reason: &str, panic: Panic) -> ! {
    say(&["fatal: ", reason]);
    if panic == Panic::Reboot {
        say(&["rebooting in 5 seconds"]);
        std::thread::sleep(Duration::from_secs(5));
        rustix::fs::sync();
        let _ = rustix::system::reboot(rustix::system::RebootCommand::Restart);
    } else {
        say(&["waiting forever (ramdisk.panic=reboot reboots instead)"]);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn mkdir(path: &str) {
    let _ = rustix::fs::mkdir(path, Mode::from_raw_mode(0o755));
}

fn mount_api() {
    for (fstype, target, flags, data) in [
        ("proc", "/proc", ms::NOSUID | ms::NODEV | ms::NOEXEC, None),
        ("sysfs", "/sys", ms::NOSUID | ms::NODEV | ms::NOEXEC, None),
        ("devtmpfs", "/dev", ms::NOSUID, Some("mode=0755")),
    ] {
        mkdir(target);
        match m::mount_fs(fstype, target, fstype, flags, data) {
            Ok(())
            | Err(Error::Sys {
                errno: Errno::BUSY, ..
            }) => {}
            Err(e) => say(&["can't mount ", fstype, " on ", target, ": ", &why(&e)]),
        }
    }
}

fn read_config(cfg: &mut Config) {
    for (path, source) in [
        ("/etc/ramdisk.conf", cmdline::Source::File),
        ("/proc/cmdline", cmdline::Source::Cmdline),
    ] {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && source == cmdline::Source::File =>
            {
                continue
            }
            Err(_) => {
                say(&["can't read ", path, "; using the defaults"]);
                continue;
            }
        };
        if let Err(e) = cfg.apply(&text, source) {
            let mut at = String::new();
            report::push_u64(&mut at, u64::from(e.offset));
            say(&[
                path,
                ": ",
                e.kind.as_str(),
                " at byte ",
                &at,
                "; that key keeps its default",
            ]);
        }
    }
}

fn load_modules(cfg: &Config) {
    let names: Vec<&str> = cfg.modules().collect();
    if names.is_empty() {
        return;
    }
    let uts = rustix::system::uname();
    let release = uts.release().to_string_lossy().into_owned();
    let mut dir = String::from("/lib/modules/");
    dir.push_str(&release);
    let dirfd = match ramdisk_core::fs::open_dir(&dir) {
        Ok(f) => f,
        Err(e) => return say(&["can't load modules: ", &dir, ": ", &why(&e)]),
    };
    let read = |n: &str| std::fs::read(std::path::Path::new(&dir).join(n)).unwrap_or_default();
    let (dep, softdep, alias) = (
        read("modules.dep"),
        read("modules.softdep"),
        read("modules.alias"),
    );
    let index = match ramdisk_core::modules::ModuleIndex::parse(&dep, &softdep, &alias) {
        Ok(i) => i,
        Err(e) => return say(&["can't load modules: ", e.file, ": ", e.error.kind.as_str()]),
    };
    for n in &names {
        let order = match index.load_order_all(&[n]) {
            Ok(o) => o,
            Err(e) => {
                say(&["can't load module ", n, ": ", &why(&e)]);
                continue;
            }
        };
        for path in order {
            let loaded = ramdisk_core::modules::open_module(dirfd.as_fd(), path).and_then(|fd| {
                ramdisk_core::modules::insert(
                    fd.as_fd(),
                    c"",
                    ramdisk_core::modules::is_compressed(path),
                )
            });
            match loaded {
                Ok(ramdisk_core::modules::Inserted::Loaded) => say(&["loaded module ", path]),
                Ok(ramdisk_core::modules::Inserted::AlreadyLoaded) => {}
                Err(e) => say(&["can't load module ", path, ": ", &why(&e)]),
            }
        }
    }
}

fn spec_text(spec: &RootSpec) -> String {
    let (tag, v) = match spec {
        RootSpec::Dev(v) => ("/dev/", v),
        RootSpec::PartUuid(v) => ("PARTUUID=", v),
        RootSpec::Label(v) => ("LABEL=", v),
        RootSpec::Uuid(v) => ("UUID=", v),
    };
    [tag, v.as_str()].concat()
}

/// `openat(block, name, O_DIRECTORY)`: a device's sysfs directory. `/sys/class/block/NAME` is
/// a symlink into `/sys/devices`, followed on purpose: sysfs is the kernel's, not input.
fn sys_dir(block: BorrowedFd<'_>, name: Name<'_>) -> Result<rustix::fd::OwnedFd, Error> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::openat(block, name.as_bytes(), flags, Mode::empty())
        .map_err(|e| Error::sys("openat", e))
}

/// Reads a small sysfs file `name` inside directory `dir`.
fn read_at(dir: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Makes sure `/dev/NAME` exists, creating it from `/sys/class/block/NAME/dev`.
fn ensure_node(block: BorrowedFd<'_>, dev: BorrowedFd<'_>, name: Name<'_>) -> Result<(), Error> {
    match rustix::fs::statat(dev, name.as_bytes(), rustix::fs::AtFlags::empty()) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::BlockDevice => return Ok(()),
        Ok(_) => return Err(Error::State("exists but is not a block device")),
        Err(_) => {}
    }
    let sys = sys_dir(block, name)?;
    let text = read_at(sys.as_fd(), "dev").ok_or(Error::State("no dev file in sysfs"))?;
    let (major, minor) = rootdev::parse_dev(&text).ok_or(Error::State("bad dev file in sysfs"))?;
    rustix::fs::mknodat(
        dev,
        name.as_bytes(),
        FileType::BlockDevice,
        Mode::from_raw_mode(0o600),
        rustix::fs::makedev(major, minor),
    )
    .map_err(|e| Error::sys("mknod", e))
}

/// The block device names under `/sys/class/block`.
fn block_names(block: BorrowedFd<'_>) -> Vec<Vec<u8>> {
    let Ok(dir) = rustix::fs::Dir::read_from(block) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n.first() != Some(&b'.'))
        .collect()
}

/// One look for the root device; its name when present (the node then exists).
fn find_root(spec: &RootSpec, block: BorrowedFd<'_>, dev: BorrowedFd<'_>) -> Option<String> {
    let found = match spec {
        RootSpec::Dev(n) => {
            let name = Name::new(n.as_bytes()).ok()?;
            let present = sys_dir(block, name)
                .ok()
                .and_then(|d| read_at(d.as_fd(), "dev"));
            present.map(|_| n.as_bytes().to_vec())
        }
        RootSpec::PartUuid(_) => block_names(block).into_iter().find(|n| {
            let Ok(name) = Name::new(n) else { return false };
            let ue = sys_dir(block, name)
                .ok()
                .and_then(|d| read_at(d.as_fd(), "uevent"));
            ue.is_some_and(|ue| rootdev::partuuid_matches(&ue, spec))
        }),
        RootSpec::Label(_) | RootSpec::Uuid(_) => block_names(block).into_iter().find(|n| {
            let Ok(name) = Name::new(n) else { return false };
            if ensure_node(block, dev, name).is_err() {
                return false;
            }
            let Ok(fd) = rustix::fs::openat(
                dev,
                name.as_bytes(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                return false;
            };
            let mut sb = [0u8; EXT4_SUPER_LEN];
            matches!(rustix::io::pread(&fd, &mut sb, EXT4_SUPER_OFFSET), Ok(n) if n == sb.len())
                && Ext4Super::parse(&sb).is_some_and(|s| s.matches(spec))
        }),
    }?;
    let name = Name::new(&found).ok()?;
    if let Err(e) = ensure_node(block, dev, name) {
        say(&[
            "can't create /dev/",
            &String::from_utf8_lossy(&found),
            ": ",
            &why(&e),
        ]);
        return None;
    }
    String::from_utf8(found).ok()
}

fn wait_for_root(cfg: &Config) -> Result<String, String> {
    let spec = spec_text(&cfg.root);
    let block = ramdisk_core::fs::open_dir("/sys/class/block")
        .map_err(|e| ["/sys/class/block: ", &why(&e)].concat())?;
    let dev = ramdisk_core::fs::open_dir("/dev").map_err(|e| ["/dev: ", &why(&e)].concat())?;
    let limit = if cfg.rootdelay > 0 {
        cfg.rootdelay
    } else {
        DEFAULT_ROOT_WAIT_S
    };
    let start = Instant::now();
    let mut announced = false;
    loop {
        if let Some(n) = find_root(&cfg.root, block.as_fd(), dev.as_fd()) {
            if matches!(cfg.root, RootSpec::Dev(_)) {
                say(&["root device ", &spec, " found"]);
            } else {
                say(&["root device ", &spec, " is /dev/", &n]);
            }
            return Ok(n);
        }
        if !cfg.rootwait && start.elapsed() >= Duration::from_secs(u64::from(limit)) {
            return Err(["root device ", &spec, " not found"].concat());
        }
        if !announced {
            announced = true;
            say(&[
                "waiting for root device ",
                &spec,
                if cfg.rootwait { " (rootwait)" } else { "" },
            ]);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mount_root(cfg: &Config, dev: &str) -> Result<(), String> {
    mkdir(SYSROOT);
    let source = ["/dev/", dev].concat();
    let opts = Options::parse(&cfg.rootflags);
    let types: Vec<&str> = if cfg.rootfstype.is_empty() {
        vec!["ext4"]
    } else {
        cfg.rootfstype
            .split(',')
            .filter(|t| !t.is_empty())
            .collect()
    };
    let mut last = String::new();
    for t in &types {
        match m::mount_fs(
            &source,
            SYSROOT,
            t,
            opts.mount_flags() | ms::SILENT,
            opts.data(),
        ) {
            Ok(()) => {
                say(&["mounted ", &source, " on ", SYSROOT, " (", t, ")"]);
                return Ok(());
            }
            Err(e) => last = why(&e),
        }
    }
    Err(["can't mount ", &source, " on ", SYSROOT, ": ", &last].concat())
}

/// Runs the state machine; returns what to boot and the rollback target.
fn decide(cfg: &Config) -> (Boot, Option<Deployment>) {
    let part = match ramdisk_core::fs::open_dir(SYSROOT) {
        Ok(f) => f,
        Err(e) => {
            say(&["can't open ", SYSROOT, ": ", &why(&e)]);
            return (Boot::Nothing, None);
        }
    };
    let (keys, keys_ok) = load_keys(cfg);
    let source =
        RepoSource::new(super::deploy::open_repo(part.as_fd(), &cfg.ostree_repo)).with_keys(keys);
    let mut sys = match Sysroot::open(part.as_fd(), source) {
        Ok(s) => s,
        Err(Error::Sys {
            errno: Errno::NOENT,
            ..
        }) => {
            say(&["no ostree/ on the root partition"]);
            return (Boot::PartitionRoot, None);
        }
        Err(e) => {
            say(&["can't open ", SYSROOT, "/ostree: ", &why(&e)]);
            return (Boot::PartitionRoot, None);
        }
    };
    let opts = BootOptions {
        rev: &cfg.ostree_ref,
        update: cfg.update && keys_ok,
        rollback: cfg.rollback,
        trials: cfg.trials,
        tag: 0,
        allow_downgrade: cfg.allow_downgrade,
    };
    let mut progress = ProgressLine::new();
    let chosen = deploy::boot(&mut sys, &opts, &mut |e: Event<'_>| {
        let mut line = String::new();
        if render(&e, &mut progress, &mut line) {
            say(&[&line]);
        }
    });
    let previous = deploy::read_state(&mut sys).ok().and_then(|s| s.previous);
    (chosen, previous)
}

/// The trusted keys of the initramfs: `/usr/share/ostree`, `/etc/ostree`, then `ramdisk.keys=`.
/// False when a key file could not be loaded: no update then (an update must not run with
/// fewer keys than intended), the current deployment boots.
fn load_keys(cfg: &Config) -> (Keys, bool) {
    let loaded = ramdisk_core::fs::open_dir("/")
        .map_err(|error| KeyFileError {
            file: String::from("/"),
            line: 0,
            error,
        })
        .and_then(|root| {
            let mut keys = Keys::load_system(root.as_fd())?;
            if !cfg.keys.is_empty() {
                keys.add_file(root.as_fd(), &cfg.keys, false)?;
            }
            Ok(keys)
        });
    match loaded {
        Ok(keys) => {
            if !keys.is_empty() {
                let valid = keys.trusted.iter().filter(|k| !keys.is_revoked(k)).count();
                let mut n = String::new();
                report::push_u64(&mut n, valid as u64);
                say(&[
                    &n,
                    if valid == 1 {
                        " trusted key"
                    } else {
                        " trusted keys"
                    },
                    ": updates must be signed",
                ]);
            }
            (keys, true)
        }
        Err(e) => {
            let mut line = String::new();
            super::deploy::push_key_error(&mut line, &e);
            say(&["can't load keys: ", &line, "; not updating"]);
            (Keys::new(), false)
        }
    }
}

fn is_dir(path: &str) -> bool {
    rustix::fs::stat(path)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

fn boot_deployment(cfg: &Config, d: &Deployment, args: &[&str]) -> String {
    let n = name(d);
    say(&["booting deployment ", &n]);
    let dir = [SYSROOT, "/ostree/deploy/", &n].concat();
    mkdir(NEWROOT);
    if let Err(e) = m::bind(&dir, NEWROOT) {
        return ["can't bind ", &dir, " on ", NEWROOT, ": ", &why(&e)].concat();
    }
    let var = [SYSROOT, "/ostree/var"].concat();
    let new_var = [NEWROOT, "/var"].concat();
    let mut var_bound = false;
    if is_dir(&var) && is_dir(&new_var) {
        match m::bind(&var, &new_var) {
            Ok(()) => {
                var_bound = true;
                say(&["bound ostree/var on /var"]);
            }
            Err(e) => say(&["can't bind ", &var, " on /var: ", &why(&e)]),
        }
    }
    let new_sysroot = [NEWROOT, SYSROOT].concat();
    let mut moved = false;
    if is_dir(&new_sysroot) {
        match m::move_mount(SYSROOT, &new_sysroot) {
            Ok(()) => moved = true,
            Err(e) => say(&["can't move ", SYSROOT, " to ", &new_sysroot, ": ", &why(&e)]),
        }
    }
    let e = switch_and_exec(cfg, NEWROOT, &dir, args);
    // Back to the state before, so the next candidate starts clean.
    if moved {
        let _ = m::move_mount(&new_sysroot, SYSROOT);
    }
    if var_bound {
        let _ = m::umount_lazy(&new_var);
    }
    let _ = m::umount_lazy(NEWROOT);
    e
}

fn boot_partition_root(cfg: &Config, args: &[&str]) -> String {
    say(&["booting the partition root"]);
    switch_and_exec(cfg, SYSROOT, SYSROOT, args)
}

/// `switch_root` into `new_root` and exec `init=`; returns only with the reason it failed.
fn switch_and_exec(cfg: &Config, new_root: &str, shown: &str, args: &[&str]) -> String {
    say(&["switching root to ", shown]);
    rustix::fs::sync();
    match switch_root(new_root, &cfg.init, None) {
        Ok(_) => {
            let e = std::process::Command::new(cfg.init.as_str())
                .args(args)
                .exec();
            // The initramfs is gone: nothing else can be tried.
            fatal(
                &["can't execute ", &cfg.init, ": ", &exec_error(&e)].concat(),
                cfg.panic,
            )
        }
        Err(e) => [
            "switch_root to ",
            shown,
            " failed: ",
            &switch_error(&e, &cfg.init),
        ]
        .concat(),
    }
}

fn exec_error(e: &std::io::Error) -> String {
    let errno = Errno::from_raw_os_error(e.raw_os_error().unwrap_or(0));
    why(&Error::sys("execve", errno))
}

fn switch_error(e: &SwitchError, init: &str) -> String {
    let errno = |e: &Errno| why(&Error::sys("open", *e));
    match e {
        SwitchError::NotPid1 => "not PID 1".to_string(),
        SwitchError::NewRoot(e) => errno(e),
        SwitchError::NotMountPoint => "not a mount point".to_string(),
        SwitchError::NoInit(e) => [init, ": ", &errno(e)].concat(),
        SwitchError::InitNotExecutable => [init, " is not executable"].concat(),
        SwitchError::RootNotRamfs => "/ is not an initramfs".to_string(),
        SwitchError::Failed(e) => why(e),
    }
}
