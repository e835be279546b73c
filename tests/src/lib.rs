//! Shared helpers for the integration tests: find the built `ramdisk`, run it, make temp dirs.
//!
//! The binary is `$RAMDISK_BIN` when set (e.g. the aarch64 build), else `ramdisk` next to the
//! test executable's `deps/` directory (built by `cargo test --workspace` / `cargo build`).
//! `$RAMDISK_RUNNER` (e.g. `qemu-aarch64-static`) is put in front of it when set.

pub mod repo;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Path of the `ramdisk` binary under test.
pub fn ramdisk_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMDISK_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("ramdisk");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p ramdisk-bin` (or `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// A `Command` running `ramdisk` (through `$RAMDISK_RUNNER` when set) with `args`.
pub fn ramdisk<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = match std::env::var_os("RAMDISK_RUNNER") {
        Some(r) if !r.is_empty() => {
            let mut c = Command::new(r);
            c.arg(ramdisk_bin());
            c
        }
        _ => Command::new(ramdisk_bin()),
    };
    cmd.args(args);
    cmd
}

/// The shell words that run ramdisk, for scripts run with `sh -c` (runner included).
pub fn ramdisk_sh() -> String {
    let bin = ramdisk_bin().display().to_string();
    match std::env::var("RAMDISK_RUNNER") {
        Ok(r) if !r.is_empty() => format!("{r} {bin}"),
        _ => bin,
    }
}

/// Runs `cmd`, returning its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ramdisk-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEMP").is_none() {
            let _ = Command::new("rm").arg("-rf").arg(&self.0).status();
        }
    }
}

/// True when a host tool is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when running as root with `unshare -m` working (private mount namespaces).
pub fn can_unshare_mounts() -> bool {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Prints `skipped: why` and returns true when `cond` is false (tests return early on it).
/// A skip is loud: it is never a silent pass. `REQUIRE_ALL=1` (set by test.sh) turns it into a failure.
pub fn skip_unless(cond: bool, why: &str) -> bool {
    if cond {
        return false;
    }
    if std::env::var_os("REQUIRE_ALL").is_some() {
        panic!("required but unavailable: {why}");
    }
    eprintln!("skipped: {why}");
    true
}

/// Runs a shell script in a private mount namespace; returns its output.
/// `RD` in the script is the command that runs ramdisk.
pub fn in_mount_ns(script: &str) -> Output {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-euc", script]);
    c.env("RD", ramdisk_sh());
    run(&mut c)
}
