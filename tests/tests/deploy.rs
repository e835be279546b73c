//! `ramdisk deploy` against a sysroot directory holding a repository made by the real `ostree`:
//! update, status, mark-good, rollback, partial and corrupt commits refused, no-op second update.

use std::collections::BTreeSet;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use tests::{have, ramdisk, run, skip_unless, stderr, stdout, TempDir};

struct Sysroot {
    _t: TempDir,
    root: PathBuf,
}

impl Sysroot {
    fn new(tag: &str) -> Option<Sysroot> {
        if skip_unless(have("ostree"), "ostree CLI not installed") {
            return None;
        }
        let t = TempDir::new(tag);
        let root = t.path().join("sysroot");
        std::fs::create_dir_all(root.join("ostree")).unwrap();
        let o = run(Command::new("ostree")
            .arg(format!("--repo={}", root.join("ostree/repo").display()))
            .args(["init", "--mode=archive-z2"]));
        assert!(o.status.success(), "ostree init: {}", stderr(&o));
        Some(Sysroot { root, _t: t })
    }

    fn repo(&self) -> PathBuf {
        self.root.join("ostree/repo")
    }

    /// Commits a small rootfs whose files say `version` to `master`; returns the checksum.
    fn commit(&self, version: &str) -> String {
        let tree = self.root.parent().unwrap().join(format!("tree-{version}"));
        for d in ["sbin", "etc", "usr/bin", "sysroot", "var"] {
            std::fs::create_dir_all(tree.join(d)).unwrap();
        }
        std::fs::write(
            tree.join("sbin/init"),
            format!("#!/bin/sh\necho {version}\n"),
        )
        .unwrap();
        std::fs::write(tree.join("etc/os-release"), format!("VERSION={version}\n")).unwrap();
        std::fs::write(
            tree.join(format!("usr/bin/only-in-{version}")),
            version.repeat(1000),
        )
        .unwrap();
        let _ = std::fs::remove_file(tree.join("usr/bin/sh"));
        symlink("/bin/busybox", tree.join("usr/bin/sh")).unwrap();
        let o = run(Command::new("ostree")
            .arg(format!("--repo={}", self.repo().display()))
            .args(["commit", "--branch=master", "--subject", version])
            .arg(format!("--tree=dir={}", tree.display())));
        assert!(o.status.success(), "ostree commit: {}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    fn deploy(&self, args: &[&str]) -> std::process::Output {
        let mut c = ramdisk(["deploy"]);
        c.args(args).arg("--sysroot").arg(&self.root);
        run(&mut c)
    }

    fn link(&self, name: &str) -> Option<String> {
        std::fs::read_link(self.root.join("ostree").join(name))
            .ok()
            .map(|p| p.display().to_string())
    }

    fn deployments(&self) -> BTreeSet<String> {
        match std::fs::read_dir(self.root.join("ostree/deploy")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    fn objects(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for d in std::fs::read_dir(self.repo().join("objects")).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                out.insert(f.unwrap().path());
            }
        }
        out
    }
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn tree_says(dir: &Path, version: &str) {
    assert_eq!(
        std::fs::read_to_string(dir.join("etc/os-release")).unwrap(),
        format!("VERSION={version}\n")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("usr/bin/only-in-{version}"))).unwrap(),
        version.repeat(1000)
    );
    assert_eq!(
        std::fs::read_link(dir.join("usr/bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let m = std::fs::metadata(dir.join("sbin/init")).unwrap();
    assert!(m.is_file() && m.uid() == 0);
    assert!(dir.join("sysroot").is_dir());
}

#[test]
fn deploy_update_status_mark_good_rollback() {
    let Some(s) = Sysroot::new("deploy-cycle") else {
        return;
    };
    let c1 = s.commit("v1");

    // Factory state: nothing deployed yet.
    let st = ok(&s.deploy(&["status"]));
    assert!(
        st.contains("current:  none (the partition root boots)\n"),
        "{st}"
    );
    assert!(
        st.contains(&format!(
            "update:   {c1} on ref 'master' is not deployed yet\n"
        )),
        "{st}"
    );

    let out = ok(&s.deploy(&["update", "--trials", "2"]));
    assert!(
        out.contains(&format!("deploy: deployed {c1}.0; reboot to boot it\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("deploy: deploying {}…{} (", &c1[..4], &c1[62..])),
        "{out}"
    );
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c1}.0"));
    assert_eq!(s.link("previous"), None);
    tree_says(&s.root.join(format!("ostree/deploy/{c1}.0")), "v1");
    assert_eq!(
        std::fs::read_to_string(s.root.join("ostree/state/trial")).unwrap(),
        format!("{c1}.0 2\n")
    );
    let st = ok(&s.deploy(&["status"]));
    assert!(st.contains(&format!("current:  {c1}.0\n")), "{st}");
    assert!(
        st.contains(&format!("trial:    {c1}.0, 2 boots left\n")),
        "{st}"
    );
    assert!(
        st.contains("update:   none (ref 'master' is deployed)\n"),
        "{st}"
    );

    // DESIGN.md's spelling.
    let out = ok(&s.deploy(&["--mark-good"]));
    assert_eq!(out, format!("deploy: deployment {c1}.0 marked good\n"));
    assert!(!s.root.join("ostree/state/trial").exists());
    assert_eq!(
        ok(&s.deploy(&["mark-good"])),
        "deploy: no deployment on trial\n"
    );

    // No new commit: nothing changes.
    let before = std::fs::symlink_metadata(s.root.join("ostree/current"))
        .unwrap()
        .ino();
    let out = ok(&s.deploy(&["update"]));
    assert_eq!(out, format!("deploy: up to date: {c1}.0\n"));
    assert_eq!(
        std::fs::symlink_metadata(s.root.join("ostree/current"))
            .unwrap()
            .ino(),
        before
    );
    assert_eq!(s.deployments(), [format!("{c1}.0")].into());

    let c2 = s.commit("v2");
    let out = ok(&s.deploy(&["update"]));
    assert!(
        out.contains(&format!("deploy: deployed {c2}.0; reboot to boot it\n")),
        "{out}"
    );
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c2}.0"));
    assert_eq!(s.link("previous").unwrap(), format!("deploy/{c1}.0"));
    tree_says(&s.root.join(format!("ostree/deploy/{c2}.0")), "v2");
    assert_eq!(
        s.deployments(),
        [format!("{c1}.0"), format!("{c2}.0")].into()
    );

    let out = ok(&s.deploy(&["rollback"]));
    assert_eq!(
        out,
        format!("deploy: rolled back to {c1}.0 (from {c2}.0); reboot to boot it\n")
    );
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c1}.0"));
    assert_eq!(s.link("previous"), None);
    let st = ok(&s.deploy(&["status"]));
    assert!(st.contains(&format!("failed:   {c2}.0\n")), "{st}");
    assert!(
        st.contains("update:   none (ref 'master' names the commit rolled back from)\n"),
        "{st}"
    );

    // The commit rolled back from is not deployed again without --force.
    let o = s.deploy(&["update"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("deploy: not redeploying commit {c2}: it was rolled back (use --force)\n")
    );
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c1}.0"));
    let out = ok(&s.deploy(&["update", "--force", "--trials", "0"]));
    assert!(out.contains(&format!("deploy: deployed {c2}.")), "{out}");
    assert!(!s.root.join("ostree/state/trial").exists());

    // Nothing left to roll back to after a rollback.
    ok(&s.deploy(&["rollback"]));
    let o = s.deploy(&["rollback"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "deploy: no previous deployment to roll back to\n"
    );
}

#[test]
fn deploy_refuses_partial_commit() {
    let Some(s) = Sysroot::new("deploy-partial") else {
        return;
    };
    let c1 = s.commit("v1");
    ok(&s.deploy(&["update"]));
    let c2 = s.commit("v2");
    std::fs::create_dir_all(s.repo().join("state")).unwrap();
    std::fs::write(s.repo().join(format!("state/{c2}.commitpartial")), "").unwrap();
    let o = s.deploy(&["update"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "deploy: refusing partial commit of 'master': commit is partial\n"
    );
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c1}.0"));
    assert_eq!(s.deployments(), [format!("{c1}.0")].into());
}

#[test]
fn deploy_with_corrupt_object_keeps_current_and_leaves_nothing() {
    let Some(s) = Sysroot::new("deploy-corrupt") else {
        return;
    };
    let c1 = s.commit("v1");
    ok(&s.deploy(&["update"]));
    let before = s.objects();
    s.commit("v2");
    for p in s.objects().difference(&before) {
        if p.extension().is_some_and(|e| e == "filez") {
            let mut b = std::fs::read(p).unwrap();
            let n = b.len();
            b[n - 3] ^= 0x55;
            std::fs::write(p, b).unwrap();
        }
    }
    let o = s.deploy(&["update"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("deploy: can't check out 'ostree/deploy/"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(s.link("current").unwrap(), format!("deploy/{c1}.0"));
    assert_eq!(s.deployments(), [format!("{c1}.0")].into());
    assert!(
        !s.root.join("ostree/state/trial").exists() || {
            let t = std::fs::read_to_string(s.root.join("ostree/state/trial")).unwrap();
            t.starts_with(&c1)
        }
    );
}

#[test]
fn deploy_without_ostree_dir_fails_clearly() {
    let t = TempDir::new("deploy-empty");
    let o = run(ramdisk(["deploy", "--sysroot"]).arg(t.path()).arg("status"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "deploy: can't open '{}/ostree': openat: No such file or directory\n",
            t.path().display()
        )
    );
    let o = run(&mut ramdisk(["deploy", "frobnicate"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("deploy: "), "{}", stderr(&o));
}

/// Boots `ramdisk init` as PID 1 of a pid + mount namespace, chrooted into a tmpfs that plays the
/// initramfs (the binary as `/init`, `/etc/ramdisk.conf`), with a loop device holding an ext4
/// image as root partition. The deployment's `/sbin/init` is a busybox script that prints a marker.
struct Board {
    t: TempDir,
    img: PathBuf,
    /// The ext4 label, unique among the boards of parallel tests (`root=LABEL=` must find ours).
    label: String,
}

impl Board {
    fn new() -> Option<Board> {
        if skip_unless(tests::can_unshare_mounts(), "needs root and unshare -m")
            || skip_unless(
                have("ostree") && have("mkfs.ext4") && have("losetup"),
                "needs ostree, mkfs.ext4, losetup",
            )
            || skip_unless(
                Path::new("/usr/bin/busybox").exists(),
                "needs busybox-static",
            )
            || skip_unless(
                std::env::var_os("RAMDISK_RUNNER").is_none(),
                "init test runs the host binary only",
            )
        {
            return None;
        }
        let t = TempDir::new("init-board");
        let seed = t.path().join("seed");
        let repo = seed.join("ostree/repo");
        std::fs::create_dir_all(&repo).unwrap();
        let o = run(Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(["init", "--mode=archive-z2"]));
        assert!(o.status.success(), "{}", stderr(&o));
        let mut commits = Vec::new();
        for v in ["v1", "v2"] {
            let tree = t.path().join(format!("tree-{v}"));
            for d in ["sbin", "bin", "etc", "proc", "sys", "dev", "sysroot", "var"] {
                std::fs::create_dir_all(tree.join(d)).unwrap();
            }
            std::fs::copy("/usr/bin/busybox", tree.join("bin/busybox")).unwrap();
            // v1 confirms itself the way a system without the ramdisk binary does.
            let confirm = if v == "v1" {
                "/bin/busybox rm -f /sysroot/ostree/state/trial\n"
            } else {
                ""
            };
            std::fs::write(
                tree.join("sbin/init"),
                format!(
                    "#!/bin/busybox sh\necho \"INIT {v} pid=$$ args=$*\"\n\
                     echo \"TRIAL $(/bin/busybox cat /sysroot/ostree/state/trial 2>/dev/null || echo none)\"\n\
                     echo \"VAR $(/bin/busybox cat /var/data 2>/dev/null)\"\n{confirm}/bin/busybox sync\n"
                ),
            )
            .unwrap();
            let mut p = std::fs::metadata(tree.join("sbin/init"))
                .unwrap()
                .permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
            std::fs::set_permissions(tree.join("sbin/init"), p).unwrap();
            let o = run(Command::new("ostree")
                .arg(format!("--repo={}", repo.display()))
                .args(["commit", "--branch=master", "--subject", v])
                .arg(format!("--tree=dir={}", tree.display())));
            assert!(o.status.success(), "{}", stderr(&o));
            commits.push(stdout(&o).trim().to_string());
        }
        // The board starts with master at v1; v2 is already pulled but not the ref yet.
        std::fs::write(repo.join("refs/heads/master"), format!("{}\n", commits[0])).unwrap();
        std::fs::create_dir_all(seed.join("ostree/var")).unwrap();
        std::fs::write(seed.join("ostree/var/data"), "persistent").unwrap();
        let img = t.path().join("disk.img");
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let label = format!("rd{}x{n}", std::process::id() % 1_000_000);
        let o = run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", &label, "-d"])
            .arg(&seed)
            .arg(&img)
            .arg("64M"));
        assert!(o.status.success(), "{}", stderr(&o));
        let b = Board { t, img, label };
        std::fs::write(b.t.path().join("commits"), commits.join("\n")).unwrap();
        Some(b)
    }

    fn commits(&self) -> Vec<String> {
        std::fs::read_to_string(self.t.path().join("commits"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// One boot: returns the console output (init's stderr + the deployment's stdout).
    fn boot(&self, conf: &str) -> String {
        let script = r#"
            LOOP=$(losetup -f --show "$IMG")
            trap 'losetup -d $LOOP' EXIT
            conf=$(echo "$CONF" | sed "s/@LOOP@/${LOOP#/dev/}/")
            timeout -s KILL 120 unshare --kill-child -m -p -f --propagation private sh -euc '
                R="$1"; mkdir -p "$R"; mount -t tmpfs initramfs "$R"
                cp "$BIN" "$R/init"
                for l in $(ldd "$BIN" | grep -o "/[^ ]*"); do cp --parents "$l" "$R"; done
                mkdir -p "$R/etc"; echo "$2" > "$R/etc/ramdisk.conf"
                exec chroot "$R" /init from-cmdline
            ' sh "$ROOT" "$conf" 2>&1
        "#;
        let o = run(Command::new("sh")
            .args(["-euc", script])
            .env("IMG", &self.img)
            .env("CONF", conf)
            .env("ROOT", self.t.path().join("initramfs"))
            .env("BIN", tests::ramdisk_bin()));
        let out = format!("{}{}", stdout(&o), stderr(&o));
        eprintln!("--- boot ---\n{out}");
        out
    }

    fn set_ref(&self, commit: &str) {
        self.on_disk(&format!(
            "echo {commit} > \"$M/ostree/repo/refs/heads/master\""
        ));
    }

    /// Runs `cmd` (sh) with the partition mounted at `$M`.
    fn on_disk(&self, cmd: &str) {
        let script = r#"
            LOOP=$(losetup -f --show "$IMG")
            trap 'losetup -d $LOOP' EXIT
            unshare -m --propagation private sh -euc '
                M="$1"; mkdir -p "$M"; mount "$2" "$M"; eval "$3"; umount "$M"
            ' sh "$MNT" "$LOOP" "$CMD"
        "#;
        let o = run(Command::new("sh")
            .args(["-euc", script])
            .env("IMG", &self.img)
            .env("MNT", self.t.path().join("mnt"))
            .env("CMD", cmd));
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn init_deploys_boots_counts_trials_and_rolls_back() {
    let Some(b) = Board::new() else { return };
    let c = b.commits();
    let (d1, d2) = (format!("{}.0", c[0]), format!("{}.0", c[1]));
    let conf = "root=@LOOP@ ramdisk.trials=2 # the cmdline of this host has no root=\n";

    // Factory board: the first deployment is made and booted.
    let out = b.boot(conf);
    assert!(out.contains("ramdisk: root device /dev/loop"), "{out}");
    assert!(out.contains(" found\nramdisk: mounted /dev/loop"), "{out}");
    assert!(
        out.contains(&format!(
            "ramdisk: deploying {}…{} (",
            &c[0][..4],
            &c[0][62..]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("ramdisk: booting deployment {d1}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "ramdisk: switching root to /sysroot/ostree/deploy/{d1}\n"
        )),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1 args=from-cmdline\n"), "{out}");
    assert!(out.contains(&format!("TRIAL {d1} 1\n")), "{out}");
    assert!(out.contains("VAR persistent\n"), "{out}");

    // Confirmed by v1 itself: the next boot changes nothing.
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("ramdisk: deployment {d1} is up to date\n")),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1"), "{out}");
    assert!(out.contains("TRIAL none\n"), "{out}");

    // A new commit on the ref: deployed, on trial for two boots, then rolled back.
    b.set_ref(&c[1]);
    let out = b.boot(conf);
    assert!(out.contains(&format!("ramdisk: deployed {d2}\n")), "{out}");
    assert!(
        out.contains(&format!("ramdisk: booting deployment {d2}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("INIT v2 pid=1 args=from-cmdline\nTRIAL {d2} 1\n")),
        "{out}"
    );
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("INIT v2 pid=1 args=from-cmdline\nTRIAL {d2} 0\n")),
        "{out}"
    );
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("ramdisk: rolled back to {d1} (from {d2})\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("ramdisk: booting deployment {d1}\n")),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1"), "{out}");
    let out = b.boot(conf);
    assert!(
        out.contains(&format!(
            "ramdisk: not redeploying {}…{}: it was rolled back\n",
            &c[1][..4],
            &c[1][62..]
        )),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1"), "{out}");

    // The same partition found by its ext4 label, with updates off.
    let out = b.boot(&format!("root=LABEL={} ramdisk.update=0\n", b.label));
    let found = format!("ramdisk: root device LABEL={} is /dev/loop", b.label);
    assert!(out.contains(&found), "{out}");
    assert!(!out.contains("not redeploying"), "{out}");
    assert!(
        out.contains(&format!("ramdisk: booting deployment {d1}\n")),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1"), "{out}");
}

#[test]
fn init_without_root_device_reports_and_waits() {
    let Some(b) = Board::new() else { return };
    // timeout kills the waiting PID 1 (and with it the namespace).
    let script = r#"
        timeout -s KILL 6 unshare --kill-child -m -p -f --propagation private sh -euc '
            R="$1"; mkdir -p "$R"; mount -t tmpfs initramfs "$R"
            cp "$BIN" "$R/init"
            for l in $(ldd "$BIN" | grep -o "/[^ ]*"); do cp --parents "$l" "$R"; done
            mkdir -p "$R/etc"; echo "root=PARTUUID=00000000-01 rootdelay=1" > "$R/etc/ramdisk.conf"
            exec chroot "$R" /init
        ' sh "$ROOT" 2>&1 || true
    "#;
    let o = run(Command::new("sh")
        .args(["-euc", script])
        .env("ROOT", b.t.path().join("initramfs"))
        .env("BIN", tests::ramdisk_bin()));
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        out.contains("ramdisk: waiting for root device PARTUUID=00000000-01\n"),
        "{out}"
    );
    assert!(
        out.contains("ramdisk: fatal: root device PARTUUID=00000000-01 not found\n"),
        "{out}"
    );
    assert!(
        out.contains("ramdisk: waiting forever (ramdisk.panic=reboot reboots instead)\n"),
        "{out}"
    );
}

#[test]
fn init_falls_back_to_previous_then_reports_nothing_bootable() {
    let Some(b) = Board::new() else { return };
    let c = b.commits();
    let (d1, d2) = (format!("{}.0", c[0]), format!("{}.0", c[1]));
    let conf = "root=@LOOP@ ramdisk.trials=0 ramdisk.panic=reboot\n";
    assert!(b.boot(conf).contains("INIT v1 pid=1"));
    b.set_ref(&c[1]);
    assert!(b.boot(conf).contains("INIT v2 pid=1"));

    // The current deployment lost its init: the previous one boots instead.
    b.on_disk(&format!("rm \"$M/ostree/deploy/{d2}/sbin/init\""));
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("ramdisk: booting deployment {d2}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "ramdisk: switch_root to /sysroot/ostree/deploy/{d2} failed: /sbin/init: open: No such file or directory\n\
             ramdisk: trying the next candidate\nramdisk: booting deployment {d1}\n"
        )),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1"), "{out}");

    // Nothing bootable at all: the reason, then a reboot (which ends the pid namespace).
    b.on_disk(&format!("rm \"$M/ostree/deploy/{d1}/sbin/init\""));
    let out = b.boot(conf);
    assert!(
        out.contains("ramdisk: booting the partition root\n"),
        "{out}"
    );
    assert!(
        out.contains("ramdisk: fatal: no bootable tree on the root partition\nramdisk: rebooting in 5 seconds\n"),
        "{out}"
    );
}
