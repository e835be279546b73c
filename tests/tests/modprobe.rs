//! `modprobe` and `insmod` without loading anything into this machine's kernel.
//!
//! Resolution runs on the real Debian bookworm arm64 kernel tree that
//! `scripts/fetch-debian-arm64.sh` extracts to `target/qemu/kernel-root` (`QEMU_DIR` overrides
//! `target/qemu`) with `modules.dep` from `depmod -b`; `modprobe -n` (dry run) prints the
//! `insmod` lines, compared with fixed expectations and with kmod's own
//! `modprobe --show-depends` on the same tree. Without the tree the tests print `skipped:`
//! (test.sh fetches it first). Error paths use small trees written by the test.
//! `insmod` is only run on files the kernel refuses (missing, or not a module at all).

use std::path::{Path, PathBuf};
use tests::{have, ramdisk, run, skip_unless, stderr, stdout, TempDir};

/// `(KROOT, KVER)` of the fetched Debian arm64 kernel, or `None` (printed as skipped).
fn debian_kernel() -> Option<(PathBuf, String)> {
    let q = match std::env::var_os("QEMU_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu"),
    };
    let kver = std::fs::read_to_string(q.join("KVER"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let kroot = q.join("kernel-root");
    let ok = !kver.is_empty()
        && kroot
            .join("lib/modules")
            .join(&kver)
            .join("modules.dep")
            .exists();
    if skip_unless(
        ok,
        "no Debian arm64 kernel tree: run scripts/fetch-debian-arm64.sh",
    ) {
        return None;
    }
    Some((kroot, kver))
}

/// `ramdisk modprobe -n -d KROOT -S KVER ARGS...`: (exit code, stdout with KROOT shown as `$K`, stderr).
fn dry(kroot: &Path, kver: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = ramdisk(["modprobe", "-n", "-d"]);
    cmd.arg(kroot).args(["-S", kver]).args(args);
    let o = run(&mut cmd);
    let k = kroot.display().to_string();
    (
        o.status.code().unwrap_or(-1),
        stdout(&o).replace(&k, "$K"),
        stderr(&o).replace(&k, "$K"),
    )
}

fn insmod_lines(kver: &str, rel: &[&str]) -> String {
    rel.iter()
        .map(|r| format!("insmod $K/lib/modules/{kver}/{r}\n"))
        .collect()
}

#[test]
fn ext4_pulls_crc32c_generic_through_softdep_alias() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    // What the real files say (testing-on-qemu.md §2.1): the softdep goes through an alias.
    let dir = kroot.join("lib/modules").join(&kver);
    let softdep = std::fs::read_to_string(dir.join("modules.softdep")).unwrap();
    assert!(
        softdep
            .lines()
            .any(|l| l == "softdep ext4 pre: crypto-crc32c"),
        "{softdep}"
    );
    let alias = std::fs::read_to_string(dir.join("modules.alias")).unwrap();
    assert!(alias
        .lines()
        .any(|l| l == "alias crypto-crc32c crc32c_generic"));
    let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    assert!(
        dep.lines().any(|l| l == "kernel/crypto/crc32c_generic.ko:"),
        "not a hard dependency of anything"
    );

    let (rc, out, err) = dry(&kroot, &kver, &["ext4"]);
    let want = insmod_lines(
        &kver,
        &[
            "kernel/crypto/crc32c_generic.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/fs/mbcache.ko",
            "kernel/lib/crc16.ko",
            "kernel/fs/ext4/ext4.ko",
        ],
    );
    assert_eq!((rc, out.as_str(), err.as_str()), (0, want.as_str(), ""));
}

#[test]
fn virtio_blk_and_virtio_pci_dependencies() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    let (rc, out, err) = dry(&kroot, &kver, &["virtio_blk"]);
    assert_eq!(
        (rc, out, err),
        (
            0,
            insmod_lines(&kver, &["kernel/drivers/block/virtio_blk.ko"]),
            String::new()
        )
    );
    let (rc, out, _) = dry(&kroot, &kver, &["-a", "virtio-pci", "virtio_blk", "ext4"]);
    let want = insmod_lines(
        &kver,
        &[
            "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
            "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
            "kernel/drivers/virtio/virtio_pci.ko",
            "kernel/drivers/block/virtio_blk.ko",
            "kernel/crypto/crc32c_generic.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/fs/mbcache.ko",
            "kernel/lib/crc16.ko",
            "kernel/fs/ext4/ext4.ko",
        ],
    );
    assert_eq!((rc, out), (0, want));
}

#[test]
fn params_go_to_the_requested_module_only() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    let (rc, out, _) = dry(&kroot, &kver, &["virtio_pci", "force_legacy=1", "x=y"]);
    let mut want = insmod_lines(
        &kver,
        &[
            "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
            "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        ],
    );
    want.push_str(&format!(
        "insmod $K/lib/modules/{kver}/kernel/drivers/virtio/virtio_pci.ko force_legacy=1 x=y\n"
    ));
    assert_eq!((rc, out), (0, want));
}

#[test]
fn alias_globs_and_builtin_modules() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    // `alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* uas` and the same for usb_storage.
    let (rc, out, _) = dry(
        &kroot,
        &kver,
        &["usb:v13FDp3940d0150dc00dsc00dp00icFFisc00ip00in00"],
    );
    assert_eq!(rc, 0);
    assert!(out.ends_with(&insmod_lines(
        &kver,
        &[
            "kernel/drivers/usb/storage/usb-storage.ko",
            "kernel/drivers/usb/storage/uas.ko"
        ]
    )));
    let (rc, out, _) = dry(
        &kroot,
        &kver,
        &["usb:v13FDp3940d0350dc00dsc00dp00icFFisc00ip00in00"],
    );
    assert_eq!(
        rc, 1,
        "d03 is outside [0-2] and interface class FF matches no other alias: {out}"
    );
    // Built into this kernel: nothing to load, still success.
    let (rc, out, err) = dry(&kroot, &kver, &["-a", "nls-base", "aes"]);
    assert_eq!(
        (rc, out.as_str(), err.as_str()),
        (0, "builtin nls_base\nbuiltin aes_generic\n", "")
    );
}

#[test]
fn resolution_matches_kmod_show_depends() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    if skip_unless(have("modprobe"), "kmod's modprobe not installed") {
        return;
    }
    // Modules with at most one softdep line each (with more, kmod honours only the first: kmod#33).
    for name in [
        "ext4",
        "jbd2",
        "virtio_blk",
        "virtio_pci",
        "virtio_net",
        "cifs",
        "nvme",
        "xfs",
        "usb-storage",
        "dm_crypt",
        "usb:v13FDp3940d0150dc00dsc00dp00icFFisc00ip00in00",
    ] {
        let (rc, ours, _) = dry(&kroot, &kver, &[name]);
        assert_eq!(rc, 0, "{name}");
        let k = run(std::process::Command::new("modprobe")
            .args(["-C", "/dev/null", "-d"])
            .arg(&kroot)
            .args(["-S", &kver, "--show-depends", name]));
        let mut seen = Vec::new();
        for line in stdout(&k).lines().filter(|l| l.starts_with("insmod ")) {
            let line = line.trim_end().replace(&kroot.display().to_string(), "$K");
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
        let kmod: String = seen.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(ours, kmod, "{name}");
    }
}

#[test]
fn remove_dry_run_lists_last_loaded_first() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    let (rc, out, err) = dry(&kroot, &kver, &["-r", "ext4"]);
    assert_eq!(
        (rc, out.as_str(), err.as_str()),
        (
            0,
            "rmmod ext4\nrmmod crc16\nrmmod mbcache\nrmmod jbd2\nrmmod crc32c_generic\n",
            ""
        )
    );
}

#[test]
fn unknown_module_fails_unless_quiet_still_exit_1() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    let (rc, out, err) = dry(&kroot, &kver, &["no_such_module"]);
    assert_eq!(
        (rc, out.as_str(), err.as_str()),
        (
            1,
            "",
            "modprobe: module no_such_module not found in modules.dep\n"
        )
    );
    let (rc, _, err) = dry(&kroot, &kver, &["-q", "no_such_module"]);
    assert_eq!((rc, err.as_str()), (1, ""));
    // -a goes on after a failure.
    let (rc, out, err) = dry(&kroot, &kver, &["-a", "no_such_module", "virtio_blk"]);
    assert_eq!(rc, 1);
    assert_eq!(
        out,
        insmod_lines(&kver, &["kernel/drivers/block/virtio_blk.ko"])
    );
    assert_eq!(
        err,
        "modprobe: module no_such_module not found in modules.dep\n"
    );
}

/// A module tree of its own: `DIR/lib/modules/9.9/` with the given index files.
fn tree(files: &[(&str, &str)]) -> TempDir {
    let t = TempDir::new("modprobe");
    let dir = t.path().join("lib/modules/9.9");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    t
}

#[test]
fn small_tree_with_softdep_post_and_missing_optional_files() {
    let t = tree(&[
        (
            "modules.dep",
            "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\nkernel/c.ko:\n",
        ),
        ("modules.softdep", "softdep a post: c\n"),
    ]);
    let (rc, out, err) = dry(t.path(), "9.9", &["a"]);
    assert_eq!(err, "");
    assert_eq!(
        (rc, out),
        (
            0,
            insmod_lines("9.9", &["kernel/b.ko", "kernel/a.ko", "kernel/c.ko"])
        )
    );
}

#[test]
fn malformed_or_missing_index_is_one_clear_error() {
    let t = tree(&[("modules.dep", "kernel/a.ko:\nno colon here\n")]);
    let (rc, out, err) = dry(t.path(), "9.9", &["a"]);
    assert_eq!((rc, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "modprobe: bad '$K/lib/modules/9.9/modules.dep': not in normal form at byte 13\n"
    );

    let t = tree(&[
        ("modules.dep", "kernel/a.ko:\n"),
        ("modules.alias", "alias onlyone\n"),
    ]);
    let (rc, _, err) = dry(t.path(), "9.9", &["a"]);
    assert_eq!(
        (rc, err.as_str()),
        (
            1,
            "modprobe: bad '$K/lib/modules/9.9/modules.alias': unknown key at byte 0\n"
        )
    );

    let t = tree(&[]);
    let (rc, _, err) = dry(t.path(), "9.9", &["a"]);
    assert_eq!(
        (rc, err.as_str()),
        (
            1,
            "modprobe: can't open '$K/lib/modules/9.9/modules.dep': No such file or directory\n"
        )
    );
    let (rc, _, err) = dry(t.path(), "nope", &["a"]);
    assert_eq!(
        (rc, err.as_str()),
        (
            1,
            "modprobe: can't open '$K/lib/modules/nope': No such file or directory\n"
        )
    );
    let (rc, _, err) = dry(t.path(), "../9.9", &["a"]);
    assert_eq!(
        (rc, err.as_str()),
        (
            1,
            "modprobe: can't open '$K/lib/modules/../9.9': Invalid argument\n"
        )
    );
}

#[test]
fn modprobe_usage_and_help() {
    let o = run(&mut ramdisk(["modprobe"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Usage: modprobe "), "{}", stderr(&o));
    let o = run(&mut ramdisk(["modprobe", "--help"]));
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("Usage: modprobe "));
}

#[test]
fn insmod_reports_missing_file_and_refused_module() {
    let o = run(&mut ramdisk(["insmod", "/nonexistent/x.ko"]));
    assert_eq!(
        stderr(&o),
        "insmod: can't open '/nonexistent/x.ko': No such file or directory\n"
    );
    assert_eq!(o.status.code(), Some(1));
    // Not an ELF module: every kernel refuses it (ENOEXEC, or ENOSYS without module support,
    // EPERM in a container); nothing can be loaded.
    let t = TempDir::new("insmod");
    let f = t.path().join("garbage.ko");
    std::fs::write(&f, b"this is not a kernel module\n").unwrap();
    let o = run(ramdisk(["insmod"]).arg(&f).arg("a=1"));
    let want = format!("insmod: can't insert '{}': ", f.display());
    assert!(stderr(&o).starts_with(&want), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
    let o = run(&mut ramdisk(["insmod"]));
    assert_eq!(
        (o.status.code(), stderr(&o).as_str()),
        (Some(1), "Usage: insmod FILE [PARAM=VALUE...]\n")
    );
}

/// The aarch64 release binary (as in `aarch64.rs`); `$AARCH64_BIN` overrides the path.
fn aarch64_bin() -> PathBuf {
    match std::env::var_os("AARCH64_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/product/aarch64-unknown-linux-musl/release/ramdisk"),
    }
}

/// The guest's /init: each step prints `MP: ` lines (output, then `rc=N`) on the console.
const GUEST_INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
R=/bin/ramdisk
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
K=$($B uname -r)
t() { out=$("$@" 2>&1); rc=$?; [ -z "$out" ] || echo "$out" | $B sed "s|^|MP: |; s|/lib/modules/$K/|/M/|"; echo "MP: rc=$rc"; }
mods() { echo "MP: loaded:" $($B awk '{ print $1 }' /proc/modules | $B sort); }
t $R modprobe -a -v virtio_pci virtio_blk ext4
mods
t $R modprobe ext4
$B mkdir -p /mnt
t $B mount -t ext4 /dev/vda /mnt
echo "MP: hello: $($B cat /mnt/hello.txt)"
t $B umount /mnt
t $R modprobe -r -v ext4
mods
t $R insmod /lib/modules/$K/kernel/lib/crc16.ko
t $R insmod /lib/modules/$K/kernel/lib/crc16.ko
t $R insmod /bin/busybox
t $R modprobe -r crc16
t $R modprobe -r crc16
t $R modprobe ext4
t $B mount -t ext4 /dev/vda /mnt
exec $R switch_root /mnt /sbin/init one two
"#;

/// The disk's /sbin/init, run by `switch_root` as PID 1 from the ext4 root.
const DISK_INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
echo "MP: new init: pid $$ args $*"
echo "MP: root:" $($B ls -A /)
$B awk '$2 == "/" || $2 == "/dev" || $2 == "/proc" || $2 == "/sys" { print "MP: mount:", $2, $3 }' /proc/mounts | $B sort
echo "MP: done"
$B poweroff -f
"#;

/// Loads and removes modules for real, in a qemu-system-aarch64 guest booting the Debian kernel
/// with an initramfs of `ramdisk` + busybox + the ext4/virtio modules (from
/// `scripts/mkinitramfs.sh`, with the full `modules.softdep`/`modules.alias` added so the
/// `crc32c_generic` softdep resolves on the guest), then mounts an ext4 disk
/// (`metadata_csum`, so it needs `crc32c`) and `switch_root`s into it from the real initramfs
/// (rootfs), where the disk's init checks it is PID 1 on the moved mounts. About 35 s under TCG.
#[test]
#[ignore = "boots qemu-system-aarch64; run: cargo test -p tests --test modprobe -- --ignored"]
fn modprobe_and_insmod_load_and_remove_modules_in_a_qemu_guest() {
    let Some((kroot, kver)) = debian_kernel() else {
        return;
    };
    let bin = aarch64_bin();
    let ok = bin.exists() && have("qemu-system-aarch64") && have("mkfs.ext4") && have("cpio");
    if skip_unless(
        ok,
        "needs the aarch64 ramdisk build, qemu-system-aarch64, mkfs.ext4 and cpio",
    ) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let busybox = kroot.join("../busybox-root/bin/busybox");
    let t = TempDir::new("modprobe-qemu");
    let stage = t.path().join("stage");
    let moddir = stage.join("lib/modules").join(&kver);
    std::fs::create_dir_all(stage.join("bin")).unwrap();
    std::fs::create_dir_all(&moddir).unwrap();
    for d in ["proc", "sys", "dev", "mnt"] {
        std::fs::create_dir_all(stage.join(d)).unwrap();
    }
    std::fs::copy(&bin, stage.join("bin/ramdisk")).unwrap();
    std::fs::copy(&busybox, stage.join("bin/busybox")).unwrap();
    std::fs::write(stage.join("init"), GUEST_INIT).unwrap();
    let src = kroot.join("lib/modules").join(&kver);
    for f in ["modules.softdep", "modules.alias"] {
        std::fs::copy(src.join(f), moddir.join(f)).unwrap();
    }
    let sh = |cmd: &str| {
        let o = run(std::process::Command::new("bash").args(["-euc", cmd]));
        assert!(o.status.success(), "{cmd}: {}{}", stdout(&o), stderr(&o));
    };
    sh(&format!(
        "chmod 755 '{0}/init' '{0}/bin/ramdisk' '{0}/bin/busybox'",
        stage.display()
    ));
    let d = t.path().display();
    let disk = t.path().join("disk");
    for sub in ["bin", "sbin", "dev", "proc", "sys"] {
        std::fs::create_dir_all(disk.join(sub)).unwrap();
    }
    std::fs::write(disk.join("hello.txt"), "hello\n").unwrap();
    std::fs::copy(&busybox, disk.join("bin/busybox")).unwrap();
    std::fs::write(disk.join("sbin/init"), DISK_INIT).unwrap();
    sh(&format!("chmod 755 {d}/disk/sbin/init {d}/disk/bin/busybox && mkfs.ext4 -q -F -d {d}/disk {d}/disk.img 16M"));
    sh(&format!(
        "{r}/scripts/mkinitramfs.sh {d}/initrd.cpio.gz --stage {d}/stage --modules 'virtio_pci virtio_blk ext4'",
        r = repo.display()
    ));
    let o = run(
        std::process::Command::new(repo.join("scripts/boot.sh")).args([
            "--disk",
            &format!("{d}/disk.img"),
            "--initramfs",
            &format!("{d}/initrd.cpio.gz"),
            "--append",
            "quiet",
            "--log",
            &format!("{d}/console.log"),
            "--timeout",
            "240",
            "--show",
            "none",
        ]),
    );
    let console = std::fs::read_to_string(t.path().join("console.log")).unwrap_or_default();
    let transcript: String = console
        .lines()
        .filter_map(|l| l.find("MP: ").map(|i| format!("{}\n", l[i..].trim_end())))
        .collect();
    let want = "\
MP: insmod /M/kernel/drivers/virtio/virtio_pci_modern_dev.ko
MP: insmod /M/kernel/drivers/virtio/virtio_pci_legacy_dev.ko
MP: insmod /M/kernel/drivers/virtio/virtio_pci.ko
MP: insmod /M/kernel/drivers/block/virtio_blk.ko
MP: insmod /M/kernel/crypto/crc32c_generic.ko
MP: insmod /M/kernel/fs/jbd2/jbd2.ko
MP: insmod /M/kernel/fs/mbcache.ko
MP: insmod /M/kernel/lib/crc16.ko
MP: insmod /M/kernel/fs/ext4/ext4.ko
MP: rc=0
MP: loaded: crc16 crc32c_generic ext4 jbd2 mbcache virtio_blk virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev
MP: rc=0
MP: rc=0
MP: hello: hello
MP: rc=0
MP: rmmod ext4
MP: rmmod crc16
MP: rmmod mbcache
MP: rmmod jbd2
MP: rmmod crc32c_generic
MP: rc=0
MP: loaded: virtio_blk virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev
MP: rc=0
MP: rc=0
MP: insmod: can't insert '/bin/busybox': Exec format error
MP: rc=1
MP: rc=0
MP: modprobe: can't unload module 'crc16': No such file or directory
MP: rc=1
MP: rc=0
MP: rc=0
MP: new init: pid 1 args one two
MP: root: bin dev hello.txt lost+found proc sbin sys
MP: mount: / ext4
MP: mount: /dev devtmpfs
MP: mount: /proc proc
MP: mount: /sys sysfs
MP: done
";
    assert_eq!(
        transcript, want,
        "boot.sh {}; console:\n{console}",
        o.status
    );
}
