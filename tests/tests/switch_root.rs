//! `switch_root` for real, as PID 1 of a fresh PID + mount namespace.
//!
//! How the namespace is built (every test, as root):
//! 1. `unshare -m -p -f --propagation private sh -euc SCRIPT`: `-p -f` makes the forked `sh` PID 1
//!    of a new PID namespace, `-m` with private propagation keeps every mount away from the host.
//!    `SCRIPT` ends with `exec`s only, so the `ramdisk` process it reaches is still PID 1.
//! 2. SCRIPT mounts a tmpfs (the "initramfs") or binds a host dir onto itself (the "sandbox"), and
//!    copies in `ramdisk` with the shared libraries `ldd` lists (the host build is a dynamic glibc
//!    binary; with `RAMDISK_RUNNER` the static runner, e.g. `qemu-aarch64-static`, is copied too)
//!    plus the static `/bin/busybox` (Debian `busybox-static`) as shell and new init.
//! 3. The switch test makes the tmpfs `/` with `pivot_root . oldroot`, then stage 2 (busybox sh,
//!    still PID 1) mounts proc, a tmpfs `/dev`, sysfs and a tmpfs `/run`, detaches the old root
//!    and `exec`s `ramdisk switch_root -c /dev/console-log /newroot /sbin/init ARGS`.
//!    NEW_ROOT is a second tmpfs mounted *before* the `unshare`, so the outer script still sees
//!    the initramfs tmpfs afterwards and can list what the wipe left (only `keep`, a third tmpfs
//!    the wipe must not enter). The new init reports on fd 3, which the outer script opened on its
//!    stdout and which every `exec` on the way keeps.
//! 4. The precondition tests `chroot` into a sandbox: a host directory bind-mounted onto itself,
//!    so `/` is ext4 there and, whatever happens, nothing outside the sandbox can be deleted.
//!
//! With `RAMDISK_BIN`/`RAMDISK_RUNNER` (aarch64 under qemu-aarch64-static) the same tests run.

use tests::{
    can_unshare_mounts, have, ramdisk, ramdisk_bin, run, skip_unless, stderr, stdout, TempDir,
};

/// Shell functions shared by the scripts: `populate DIR` copies ramdisk (+ libs, + runner) and
/// busybox into DIR; `$RDC` is the command line that runs the copy from inside DIR.
const PRELUDE: &str = r#"
copy_with_libs() { # FILE DIR NAME: FILE -> DIR/NAME, plus its ldd closure at the same paths
    cp "$1" "$2/$3"
    for f in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
        mkdir -p "$2$(dirname "$f")"; cp -L "$f" "$2$f"
    done
}
populate() {
    mkdir -p "$1/bin"
    cp /bin/busybox "$1/bin/busybox"
    copy_with_libs "$RD_BIN" "$1" ramdisk
    if [ -n "$RD_RUNNER" ]; then copy_with_libs "$(command -v "$RD_RUNNER")" "$1" runner; fi
}
RDC=/ramdisk
if [ -n "$RD_RUNNER" ]; then RDC="/runner /ramdisk"; fi
"#;

fn can_run() -> bool {
    let pid_ns = std::process::Command::new("unshare")
        .args(["-m", "-p", "-f", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let tools = have("ldd") && have("chroot") && have("pivot_root") && have("timeout");
    let busybox = std::path::Path::new("/bin/busybox").exists();
    !skip_unless(
        can_unshare_mounts() && pid_ns && tools && busybox,
        "needs root, `unshare -m -p`, ldd, chroot, pivot_root, timeout and /bin/busybox (busybox-static)",
    )
}

/// Runs `body` (after the prelude, with `$D` a fresh dir) as PID 1 of a new PID + mount namespace.
/// `init`, when given, is written to `$D/init` first.
fn pid1(
    tag: &str,
    body: &str,
    init: Option<&str>,
    timeout_s: u32,
) -> (std::process::Output, TempDir) {
    let d = TempDir::new(tag);
    if let Some(init) = init {
        std::fs::write(d.path().join("init"), init).unwrap();
    }
    let script = format!("D='{}'\n{PRELUDE}\n{body}", d.path().display());
    let mut c = std::process::Command::new("timeout");
    // --foreground: kill only unshare (and reap it), not timeout's own process group.
    c.args(["--foreground", "-s", "KILL", &timeout_s.to_string()]);
    // --kill-child: when `timeout` kills unshare, the namespace's PID 1 (and so all of it) dies too.
    c.args([
        "unshare",
        "-m",
        "-p",
        "-f",
        "--kill-child",
        "--propagation",
        "private",
        "sh",
        "-euc",
        &script,
    ]);
    c.env("RD_BIN", ramdisk_bin());
    c.env(
        "RD_RUNNER",
        std::env::var("RAMDISK_RUNNER").unwrap_or_default(),
    );
    (run(&mut c), d)
}

/// A precondition run inside the sandbox (`$S`, bind-mounted onto itself, `/` of the chroot):
/// `setup` prepares it from outside, then `ramdisk switch_root ARGS` runs as PID 1 in the chroot.
fn refused(tag: &str, setup: &str, args: &str) -> (i32, String, TempDir) {
    let body = format!(
        r#"S="$D/sandbox"; mkdir -p "$S"; mount --bind "$S" "$S"
populate "$S"
{setup}
exec chroot "$S" /bin/busybox sh -c "exec $RDC switch_root {args}"
"#
    );
    let (o, d) = pid1(tag, &body, None, 60);
    (o.status.code().unwrap_or(-1), stderr(&o), d)
}

#[test]
fn switch_root_refuses_unless_pid_1() {
    let o = run(&mut ramdisk(["switch_root", "/", "/sbin/init"]));
    assert_eq!(stderr(&o), "switch_root: must be run as PID 1\n");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn switch_root_needs_two_operands() {
    let o = run(&mut ramdisk(["switch_root", "/only-root"]));
    assert_eq!(
        stderr(&o),
        "Usage: switch_root [-c CONSOLE] NEW_ROOT NEW_INIT [ARGS...]\n"
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run(&mut ramdisk(["switch_root", "--help"]));
    assert!(stdout(&o).starts_with("Usage: switch_root [-c CONSOLE] NEW_ROOT NEW_INIT [ARGS...]\n"));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn switch_root_refuses_missing_new_root() {
    if !can_run() {
        return;
    }
    let (rc, err, _d) = refused("sr-missing", "", "/missing /sbin/init");
    assert_eq!(
        err,
        "switch_root: can't open '/missing': No such file or directory\n"
    );
    assert_eq!(rc, 1);
}

#[test]
fn switch_root_refuses_new_root_that_is_not_a_mount_point() {
    if !can_run() {
        return;
    }
    let setup = r#"mkdir -p "$S/plain/sbin"; cp /bin/busybox "$S/plain/sbin/init""#;
    let (rc, err, d) = refused("sr-notmnt", setup, "/plain /sbin/init");
    assert_eq!(err, "switch_root: '/plain' is not a mount point\n");
    assert_eq!(rc, 1);
    assert!(d.path().join("sandbox/plain/sbin/init").exists());
}

#[test]
fn switch_root_refuses_missing_init() {
    if !can_run() {
        return;
    }
    let setup = r#"mkdir -p "$S/nr"; mount -t tmpfs nr "$S/nr"; mkdir "$S/nr/sbin""#;
    let (rc, err, _d) = refused("sr-noinit", setup, "/nr /sbin/init");
    assert_eq!(
        err,
        "switch_root: can't find '/sbin/init' in '/nr': No such file or directory\n"
    );
    assert_eq!(rc, 1);
}

#[test]
fn switch_root_refuses_init_that_is_not_executable() {
    if !can_run() {
        return;
    }
    let setup = r#"mkdir -p "$S/nr"; mount -t tmpfs nr "$S/nr"; mkdir "$S/nr/sbin" "$S/nr/etc"
echo '#!/bin/sh' > "$S/nr/sbin/init"; chmod 644 "$S/nr/sbin/init""#;
    let (rc, err, _d) = refused("sr-noexec", setup, "/nr /sbin/init");
    assert_eq!(
        err,
        "switch_root: '/sbin/init' in '/nr' is not an executable file\n"
    );
    assert_eq!(rc, 1);
    let (rc, err, _d) = refused("sr-dirinit", setup, "/nr /etc");
    assert_eq!(
        err,
        "switch_root: '/etc' in '/nr' is not an executable file\n"
    );
    assert_eq!(rc, 1);
}

#[test]
fn switch_root_refuses_root_that_is_not_ramfs_or_tmpfs() {
    if !can_run() {
        return;
    }
    // The sandbox `/` is the host's ext4: nothing may be deleted, not even in the sandbox.
    let setup = r#"mkdir -p "$S/nr"; mount -t tmpfs nr "$S/nr"; mkdir "$S/nr/sbin"
cp /bin/busybox "$S/nr/sbin/init"; echo precious > "$S/precious""#;
    let (rc, err, d) = refused("sr-notmpfs", setup, "/nr /sbin/init");
    assert_eq!(err, "switch_root: root filesystem is not ramfs/tmpfs\n");
    assert_eq!(rc, 1);
    assert_eq!(
        std::fs::read_to_string(d.path().join("sandbox/precious")).unwrap(),
        "precious\n"
    );
    assert!(d.path().join("sandbox/ramdisk").exists());
}

/// The initramfs and new root that the two full runs share; `$D/init` is the new init.
const SWITCH: &str = r#"
I="$D/initramfs"; mkdir -p "$I"
mount -t tmpfs -o size=256m initramfs "$I"
populate "$I"
mkdir -p "$I/dev" "$I/proc" "$I/sys" "$I/run" "$I/newroot" "$I/keep" "$I/oldroot" "$I/deep/a/b/c"
echo x > "$I/deep/a/b/c/file"; ln -s /bin/busybox "$I/deep/link"; mkfifo "$I/deep/fifo"
mount -t tmpfs keep "$I/keep"; echo survives > "$I/keep/file"
mount -t tmpfs newroot "$I/newroot"
N="$I/newroot"; mkdir -p "$N/bin" "$N/sbin" "$N/dev" "$N/proc" "$N/sys"
cp /bin/busybox "$N/bin/busybox"
# An absolute symlink, as /sbin/init -> /lib/systemd/systemd: it must resolve inside NEW_ROOT.
cp "$D/init" "$N/bin/real-init"; chmod 755 "$N/bin/real-init"; ln -s /bin/real-init "$N/sbin/init"
cat > "$I/stage2" <<EOF
set -eu
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t tmpfs dev /dev
echo marker > /dev/marker; : > /dev/console-log
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t tmpfs run /run
/bin/busybox umount -l /oldroot
/bin/busybox rmdir /oldroot
exec $RDC switch_root $SR_OPTS /newroot /sbin/init one -two
EOF
exec 3>&1
rc=0
( cd "$I" && exec unshare -m -p -f --propagation private sh -c 'pivot_root . oldroot && exec /bin/busybox sh /stage2' ) || rc=$?
echo "exit: $rc"
echo "left:" $(ls -A "$I")
echo "keep: $(cat "$I/keep/file")"
"#;

#[test]
fn switch_root_moves_mounts_wipes_initramfs_and_execs_init_as_pid_1() {
    if !can_run() {
        return;
    }
    let init = r#"#!/bin/busybox sh
echo "on the console"
exec 1>&3 2>&3
echo "console: $(/bin/busybox cat /dev/console-log)"
echo "pid: $$ args: $*"
echo "cwd: $(pwd)"
echo "root:" $(/bin/busybox ls -A /)
echo "dev: $(/bin/busybox cat /dev/marker)"
/bin/busybox awk '$2 == "/" || $2 == "/dev" || $2 == "/proc" || $2 == "/sys" || $2 == "/run" { print "mount:", $2, $1, $3 }' /proc/mounts | /bin/busybox sort
echo "pid1 exe: $(/bin/busybox readlink /proc/1/exe)"
"#;
    let body = ["SR_OPTS='-c /dev/console-log'\n", SWITCH].concat();
    let (o, _d) = pid1("sr-switch", &body, Some(init), 120);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "status {}\nstdout:\n{out}\nstderr:\n{}",
        o.status,
        stderr(&o)
    );
    let expected = "\
console: on the console
pid: 1 args: one -two
cwd: /
root: bin dev proc sbin sys
dev: marker
mount: / newroot tmpfs
mount: /dev dev tmpfs
mount: /proc proc proc
mount: /sys sys sysfs
pid1 exe: /bin/busybox
exit: 0
left: keep
keep: survives
";
    assert_eq!(out, expected, "stderr:\n{}", stderr(&o));
}

#[test]
fn switch_root_keeps_pid_1_alive_when_exec_fails() {
    if !can_run() {
        return;
    }
    // NEW_INIT passes the checks (regular, executable) but its interpreter does not exist.
    let body = [
        "SR_OPTS=''\n",
        &SWITCH.replace("exec 3>&1", "exec 3>&1; echo started"),
    ]
    .concat();
    let start = std::time::Instant::now();
    let (o, _d) = pid1("sr-execfail", &body, Some("#!/no/such/interpreter\n"), 8);
    // Only `timeout -s KILL` ends it (137 = 128 + SIGKILL): PID 1 never exited by itself.
    assert_eq!(
        o.status.code(),
        Some(137),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(start.elapsed() >= std::time::Duration::from_secs(7));
    assert_eq!(stdout(&o), "started\n");
    assert_eq!(
        stderr(&o),
        "switch_root: can't execute '/sbin/init': No such file or directory\n"
    );
}
