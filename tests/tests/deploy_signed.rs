//! Signed deployments (issue 8): `ramdisk deploy update` and `init` deploy only commits whose
//! ed25519 signature verifies with a trusted key, refuse downgrades, and keep the current
//! deployment otherwise; `ostree checkout --require-signatures` refuses the same commits.
//!
//! Repositories come from the real `ostree`; keys from `ramdisk ostree keygen` and signatures
//! from `ramdisk ostree sign` of the full build (`--features pull`): `$RAMDISK_PULL_BIN`, else
//! `target/pull/debug/ramdisk`, else the binary under test when it has `sign`. The deploy and
//! init under test are the default binary (`tests::ramdisk`).
//!
//! Run: `cargo build -p ramdisk-bin && cargo build -p ramdisk-bin --features pull --target-dir
//! target/pull && RAMDISK_PULL_BIN=target/pull/debug/ramdisk cargo test -p tests --test
//! deploy_signed` (about 20 s; the init tests need root for `unshare` and loop devices).

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tests::{have, ramdisk, ramdisk_bin, run, skip_unless, stderr, stdout, TempDir};

/// Text only the sign applet contains.
const SIGN_MARKER: &[u8] = b"--keys-file to sign with";

fn has_sign(bin: &Path) -> bool {
    std::fs::read(bin)
        .map(|b| b.windows(SIGN_MARKER.len()).any(|w| w == SIGN_MARKER))
        .unwrap_or(false)
}

/// The full build, which has `ostree keygen` and `ostree sign`.
fn sign_bin() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("RAMDISK_PULL_BIN") {
        c.push(PathBuf::from(p));
    }
    c.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pull/debug/ramdisk"));
    c.push(ramdisk_bin());
    c.into_iter().find(|p| has_sign(p))
}

/// The signing binary, or a loud skip.
fn signer() -> Option<PathBuf> {
    if skip_unless(have("ostree"), "ostree CLI not installed") {
        return None;
    }
    let b = sign_bin();
    if skip_unless(
        b.is_some(),
        "no ramdisk with `ostree sign` (build with --features pull, set RAMDISK_PULL_BIN)",
    ) {
        return None;
    }
    b
}

fn rd_sign(bin: &Path, args: &[&str]) -> Output {
    let mut cmd = match std::env::var_os("RAMDISK_RUNNER") {
        Some(r) if !r.is_empty() => {
            let mut c = Command::new(r);
            c.arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    run(cmd.args(args))
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// A key pair: (secret, public), base64.
struct Key {
    secret: String,
    public: String,
}

fn keygen(bin: &Path) -> Key {
    let out = ok(&rd_sign(bin, &["ostree", "keygen"]));
    let mut l = out.lines();
    Key {
        secret: l.next().unwrap().to_string(),
        public: l.next().unwrap().to_string(),
    }
}

fn sign(bin: &Path, repo: &Path, commit: &str, key: &Key) {
    let r = format!("--repo={}", repo.display());
    ok(&rd_sign(bin, &["ostree", &r, "sign", commit, &key.secret]));
}

/// `objects/XX/REST.EXT` of `commit`.
fn object(repo: &Path, commit: &str, ext: &str) -> PathBuf {
    repo.join(format!("objects/{}/{}.{ext}", &commit[..2], &commit[2..]))
}

/// Writes `tree/` for `version`: an `/sbin/init` script printing `INIT version`, a setuid file.
fn make_tree(dir: &Path, version: &str) -> PathBuf {
    let tree = dir.join(format!("tree-{version}"));
    for d in [
        "sbin", "bin", "etc", "usr/bin", "proc", "sys", "dev", "sysroot", "var",
    ] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    if Path::new("/usr/bin/busybox").exists() {
        std::fs::copy("/usr/bin/busybox", tree.join("bin/busybox")).unwrap();
    }
    std::fs::write(
        tree.join("sbin/init"),
        format!("#!/bin/busybox sh\necho \"INIT {version} pid=$$\"\n/bin/busybox sync\n"),
    )
    .unwrap();
    std::fs::set_permissions(tree.join("sbin/init"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(tree.join("etc/os-release"), format!("VERSION={version}\n")).unwrap();
    std::fs::write(tree.join("usr/bin/su"), "not really su\n").unwrap();
    std::fs::set_permissions(tree.join("usr/bin/su"), PermissionsExt::from_mode(0o4755)).unwrap();
    std::fs::write(tree.join("usr/bin/ping"), "not really ping\n").unwrap();
    if have("setfattr") {
        // cap_net_raw=ep (VFS_CAP_REVISION_2, effective).
        let o = run(Command::new("setfattr")
            .args(["-n", "security.capability", "-v", CAP_NET_RAW])
            .arg(tree.join("usr/bin/ping")));
        assert!(o.status.success(), "setfattr: {}", stderr(&o));
    }
    tree
}

/// `security.capability` of `cap_net_raw=ep`, as `getfattr -e hex` prints it.
const CAP_NET_RAW: &str = "0x0100000200200000000000000000000000000000";

/// The `security.capability` of `path` in hex, or "" without one.
fn caps(path: &Path) -> String {
    let o = run(Command::new("getfattr")
        .args(["--absolute-names", "-e", "hex", "-n", "security.capability"])
        .arg(path));
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("security.capability="))
        .unwrap_or("")
        .to_string()
}

/// `ostree commit` of `tree` to `master` at `date` (`YYYY-MM-DD`); returns the checksum.
fn commit(repo: &Path, tree: &Path, subject: &str, date: &str) -> String {
    let o = run(Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(["commit", "--branch=master", "--subject", subject])
        .arg(format!("--timestamp={date}"))
        .arg(format!("--tree=dir={}", tree.display())));
    assert!(o.status.success(), "ostree commit: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn short(c: &str) -> String {
    format!("{}…{}", &c[..4], &c[62..])
}

/// A sysroot directory with an archive repository, a signer and keys:
/// `good` trusted, `stranger` not trusted, `revoked` trusted and revoked.
struct Fx {
    t: TempDir,
    root: PathBuf,
    bin: PathBuf,
    good: Key,
    stranger: Key,
    revoked: Key,
    keys: PathBuf,
}

impl Fx {
    fn new(tag: &str) -> Option<Fx> {
        let bin = signer()?;
        let t = TempDir::new(tag);
        let root = t.path().join("sysroot");
        std::fs::create_dir_all(root.join("ostree")).unwrap();
        let o = run(Command::new("ostree")
            .arg(format!("--repo={}", root.join("ostree/repo").display()))
            .args(["init", "--mode=archive-z2"]));
        assert!(o.status.success(), "ostree init: {}", stderr(&o));
        let (good, stranger, revoked) = (keygen(&bin), keygen(&bin), keygen(&bin));
        let keys = t.path().join("keys");
        std::fs::create_dir_all(keys.join("trusted.ed25519.d")).unwrap();
        std::fs::write(
            keys.join("trusted.ed25519"),
            format!("# build server\n{}\n", good.public),
        )
        .unwrap();
        std::fs::write(
            keys.join("trusted.ed25519.d/old"),
            format!("{}\n", revoked.public),
        )
        .unwrap();
        std::fs::write(
            keys.join("revoked.ed25519"),
            format!("{}\n", revoked.public),
        )
        .unwrap();
        Some(Fx {
            t,
            root,
            bin,
            good,
            stranger,
            revoked,
            keys,
        })
    }

    fn repo(&self) -> PathBuf {
        self.root.join("ostree/repo")
    }

    /// Commits `version` at `date`, signed by `key` if any.
    fn commit(&self, version: &str, date: &str, key: Option<&Key>) -> String {
        let tree = make_tree(self.t.path(), version);
        let c = commit(&self.repo(), &tree, version, date);
        if let Some(k) = key {
            sign(&self.bin, &self.repo(), &c, k);
        }
        c
    }

    fn deploy(&self, args: &[&str]) -> Output {
        let mut c = ramdisk(["deploy", "--sysroot"]);
        c.arg(&self.root).args(args);
        run(&mut c)
    }

    fn update(&self, extra: &[&str]) -> Output {
        let mut args = vec!["update", "--trials", "0", "--keys-dir"];
        let keys = self.keys.display().to_string();
        args.push(&keys);
        args.extend_from_slice(extra);
        self.deploy(&args)
    }

    fn current(&self) -> String {
        std::fs::read_link(self.root.join("ostree/current"))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    fn deployments(&self) -> BTreeSet<String> {
        match std::fs::read_dir(self.root.join("ostree/deploy")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Asserts `deploy update` refuses `c` with `why` and leaves `current` = `keep`.
    fn refused(&self, c: &str, why: &str, keep: &str, extra: &[&str]) {
        let before = self.deployments();
        let o = self.update(extra);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(
            stderr(&o),
            format!("deploy: refusing commit {c}: {why}\n"),
            "{}",
            stdout(&o)
        );
        assert_eq!(self.current(), format!("deploy/{keep}.0"));
        assert_eq!(self.deployments(), before, "nothing checked out");
    }
}

#[test]
fn deploy_update_refuses_unsigned_badly_signed_and_older_commits() {
    let Some(f) = Fx::new("signed-deploy") else {
        return;
    };
    let c1 = f.commit("v1", "2024-01-10", Some(&f.good));
    let out = ok(&f.update(&[]));
    assert!(
        out.contains(&format!("deploy: deployed {c1}.0; reboot to boot it\n")),
        "{out}"
    );
    // The commit's timestamp is recorded for the anti-rollback check.
    let ts =
        std::fs::read_to_string(f.root.join(format!("ostree/state/{c1}.0.timestamp"))).unwrap();
    let ts: u64 = ts.strip_suffix('\n').unwrap().parse().unwrap();
    assert!(
        (1_704_758_400..1_704_931_200).contains(&ts),
        "{ts}: 2024-01-10 ± 1 day"
    );

    let c2 = f.commit("v2", "2024-01-11", None);
    f.refused(&c2, "unsigned", &c1, &[]);
    // Neither --force nor --allow-downgrade skips the signature check.
    f.refused(&c2, "unsigned", &c1, &["--force", "--allow-downgrade"]);

    let c3 = f.commit("v3", "2024-01-12", Some(&f.stranger));
    f.refused(&c3, "no valid signature", &c1, &[]);

    let c4 = f.commit("v4", "2024-01-13", Some(&f.revoked));
    f.refused(&c4, "signed by a revoked key", &c1, &[]);

    // A valid signature of other bytes: c1's detached metadata on c5.
    let c5 = f.commit("v5", "2024-01-14", None);
    std::fs::copy(
        object(&f.repo(), &c1, "commitmeta"),
        object(&f.repo(), &c5, "commitmeta"),
    )
    .unwrap();
    f.refused(&c5, "no valid signature", &c1, &[]);

    // Signed by the right key but older than the current deployment.
    let c6 = f.commit("v6", "2023-12-01", Some(&f.good));
    f.refused(
        &c6,
        "older than the current deployment (use --allow-downgrade)",
        &c1,
        &[],
    );

    // A properly signed newer commit is deployed.
    let c7 = f.commit("v7", "2024-02-01", Some(&f.good));
    let out = ok(&f.update(&[]));
    assert!(out.contains(&format!("deploy: deployed {c7}.0")), "{out}");
    assert_eq!(f.current(), format!("deploy/{c7}.0"));
    assert_eq!(
        f.deployments(),
        [format!("{c1}.0"), format!("{c7}.0")].into()
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join(format!("ostree/deploy/{c7}.0/etc/os-release")))
            .unwrap(),
        "VERSION=v7\n"
    );

    // The older one with the explicit override; rollback is the other way back.
    std::fs::write(f.repo().join("refs/heads/master"), format!("{c6}\n")).unwrap();
    let out = ok(&f.update(&["--allow-downgrade"]));
    assert!(out.contains(&format!("deploy: deployed {c6}.0")), "{out}");
    ok(&f.deploy(&["rollback"]));
    assert_eq!(f.current(), format!("deploy/{c7}.0"));
}

#[test]
fn deploy_update_downgrade_check_survives_a_pruned_commit() {
    let Some(f) = Fx::new("signed-pruned") else {
        return;
    };
    let c1 = f.commit("v1", "2024-01-10", Some(&f.good));
    ok(&f.update(&[]));
    let c0 = f.commit("v0", "2023-01-01", Some(&f.good));
    // The deployed commit is gone from the repository; its timestamp is in ostree/state/.
    std::fs::remove_file(object(&f.repo(), &c1, "commit")).unwrap();
    f.refused(
        &c0,
        "older than the current deployment (use --allow-downgrade)",
        &c1,
        &[],
    );
}

#[test]
fn deploy_update_without_keys_takes_unsigned_commits() {
    let Some(f) = Fx::new("signed-nokeys") else {
        return;
    };
    let empty = f.t.path().join("no-keys");
    std::fs::create_dir_all(&empty).unwrap();
    let c1 = f.commit("v1", "2024-01-10", None);
    let o = f.deploy(&[
        "update",
        "--keys-dir",
        empty.to_str().unwrap(),
        "--trials",
        "0",
    ]);
    assert!(
        ok(&o).contains(&format!("deploy: deployed {c1}.0")),
        "{}",
        stdout(&o)
    );
    // Still no downgrade without keys.
    let c0 = f.commit("v0", "2023-01-01", None);
    let o = f.deploy(&["update", "--keys-dir", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "deploy: refusing commit {c0}: older than the current deployment (use --allow-downgrade)\n"
        )
    );
}

#[test]
fn deploy_update_with_bad_key_file_fails_and_keeps_current() {
    let Some(f) = Fx::new("signed-badkeys") else {
        return;
    };
    let c1 = f.commit("v1", "2024-01-10", Some(&f.good));
    ok(&f.update(&[]));
    f.commit("v2", "2024-01-11", Some(&f.good));
    let bad = f.t.path().join("bad.pub");
    std::fs::write(&bad, format!("{}\nnot-a-key\n", f.good.public)).unwrap();
    let o = f.update(&["--keys-file", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("deploy: can't load keys: {}:2: ", bad.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let missing = f.t.path().join("missing.pub");
    let o = f.update(&["--keys-file", missing.to_str().unwrap()]);
    assert_eq!(
        stderr(&o),
        format!(
            "deploy: can't load keys: {}: openat: No such file or directory\n",
            missing.display()
        )
    );
    let o = f.deploy(&["update", "--keys-dir", missing.to_str().unwrap()]);
    assert_eq!(
        stderr(&o),
        format!(
            "deploy: can't load keys: {}: stat: No such file or directory\n",
            missing.display()
        )
    );
    assert_eq!(f.current(), format!("deploy/{c1}.0"));
    assert_eq!(f.deployments(), [format!("{c1}.0")].into());
}

/// `init` as PID 1 of a pid + mount namespace, chrooted into a tmpfs that plays the initramfs
/// (the binary as `/init`, `/etc/ramdisk.conf`, `/etc/ostree/trusted.ed25519`), with a loop
/// device holding an ext4 image as root partition (as in tests/tests/deploy.rs).
struct Board {
    t: TempDir,
    img: PathBuf,
    /// Files of the initramfs besides `/init` and `/etc/ramdisk.conf`.
    extra: PathBuf,
    commits: Vec<String>,
}

impl Board {
    /// Commits: v1 (signed), v2 (unsigned), v3 (signed by a revoked key), v4 (signed, older
    /// than v1), v5 (signed, newest); master at v1.
    fn new() -> Option<Board> {
        if skip_unless(tests::can_unshare_mounts(), "needs root and unshare -m")
            || skip_unless(
                have("mkfs.ext4") && have("losetup"),
                "needs mkfs.ext4, losetup",
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
        let bin = signer()?;
        let t = TempDir::new("signed-board");
        let seed = t.path().join("seed");
        let repo = seed.join("ostree/repo");
        std::fs::create_dir_all(&repo).unwrap();
        let o = run(Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(["init", "--mode=archive-z2"]));
        assert!(o.status.success(), "{}", stderr(&o));
        let (good, revoked) = (keygen(&bin), keygen(&bin));
        let mut commits = Vec::new();
        for (v, date, key) in [
            ("v1", "2024-01-10", Some(&good)),
            ("v2", "2024-01-11", None),
            ("v3", "2024-01-12", Some(&revoked)),
            ("v4", "2023-12-01", Some(&good)),
            ("v5", "2024-02-01", Some(&good)),
        ] {
            let tree = make_tree(t.path(), v);
            let c = commit(&repo, &tree, v, date);
            if let Some(k) = key {
                sign(&bin, &repo, &c, k);
            }
            commits.push(c);
        }
        std::fs::write(repo.join("refs/heads/master"), format!("{}\n", commits[0])).unwrap();
        let extra = t.path().join("extra");
        std::fs::create_dir_all(extra.join("etc/ostree")).unwrap();
        std::fs::write(
            extra.join("etc/ostree/trusted.ed25519"),
            format!("{}\n{}\n", good.public, revoked.public),
        )
        .unwrap();
        std::fs::write(
            extra.join("etc/ostree/revoked.ed25519"),
            format!("{}\n", revoked.public),
        )
        .unwrap();
        let img = t.path().join("disk.img");
        let o = run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&seed)
            .arg(&img)
            .arg("64M"));
        assert!(o.status.success(), "{}", stderr(&o));
        Some(Board {
            t,
            img,
            extra,
            commits,
        })
    }

    /// One boot: the console output (init's stderr + the deployment's stdout).
    fn boot(&self, conf: &str) -> String {
        let script = r#"
            LOOP=$(losetup -f --show "$IMG")
            trap 'losetup -d $LOOP' EXIT
            conf=$(echo "$CONF" | sed "s/@LOOP@/${LOOP#/dev/}/")
            timeout -s KILL 120 unshare --kill-child -m -p -f --propagation private sh -euc '
                R="$1"; mkdir -p "$R"; mount -t tmpfs initramfs "$R"
                cp "$BIN" "$R/init"
                for l in $(ldd "$BIN" | grep -o "/[^ ]*"); do cp --parents "$l" "$R"; done
                cp -a "$EXTRA/." "$R/"
                mkdir -p "$R/etc"; echo "$2" > "$R/etc/ramdisk.conf"
                exec chroot "$R" /init
            ' sh "$ROOT" "$conf" 2>&1
        "#;
        let o = run(Command::new("sh")
            .args(["-euc", script])
            .env("IMG", &self.img)
            .env("CONF", conf)
            .env("EXTRA", &self.extra)
            .env("ROOT", self.t.path().join("initramfs"))
            .env("BIN", ramdisk_bin()));
        let out = format!("{}{}", stdout(&o), stderr(&o));
        eprintln!("--- boot ---\n{out}");
        out
    }

    /// Runs `cmd` (sh) with the partition mounted at `$M`.
    fn on_disk(&self, cmd: &str) -> String {
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
        stdout(&o)
    }

    fn set_ref(&self, i: usize) {
        self.on_disk(&format!(
            "echo {} > \"$M/ostree/repo/refs/heads/master\"",
            self.commits[i]
        ));
    }
}

#[test]
fn init_boots_current_when_the_new_commit_is_not_trusted() {
    let Some(b) = Board::new() else { return };
    let c = &b.commits;
    let conf = "root=@LOOP@ ramdisk.trials=0\n";
    let out = b.boot(conf);
    assert!(
        out.contains("ramdisk: 1 trusted key: updates must be signed\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("ramdisk: deployed {}.0\n", c[0])),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1\n"), "{out}");

    for (i, why) in [
        (1, "unsigned"),
        (2, "signed by a revoked key"),
        (
            3,
            "older than the current deployment (use ramdisk.allow-downgrade)",
        ),
    ] {
        b.set_ref(i);
        let out = b.boot(conf);
        assert!(
            out.contains(&format!("ramdisk: refusing {}: {why}\n", short(&c[i]))),
            "{out}"
        );
        assert!(
            out.contains(&format!("ramdisk: booting deployment {}.0\n", c[0])),
            "{out}"
        );
        assert!(out.contains("INIT v1 pid=1\n"), "{out}");
    }

    // A key file that cannot be read: no update, the current deployment boots.
    b.set_ref(4);
    let out = b.boot("root=@LOOP@ ramdisk.trials=0 ramdisk.keys=/etc/ramdisk/keys.pub\n");
    assert!(
        out.contains(
            "ramdisk: can't load keys: /etc/ramdisk/keys.pub: openat: No such file or directory; not updating\n"
        ),
        "{out}"
    );
    assert!(!out.contains("ramdisk: deploying"), "{out}");
    assert!(out.contains("INIT v1 pid=1\n"), "{out}");

    // The properly signed newer commit is deployed and booted.
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("ramdisk: deployed {}.0\n", c[4])),
        "{out}"
    );
    assert!(out.contains("INIT v5 pid=1\n"), "{out}");
    let modes = b.on_disk(&format!(
        "stat -c %a \"$M/ostree/deploy/{}.0/usr/bin/su\"",
        c[4]
    ));
    assert_eq!(modes.trim(), "4755", "setuid kept from a signed commit");

    // The older one with the explicit override.
    b.set_ref(3);
    let out = b.boot("root=@LOOP@ ramdisk.trials=0 ramdisk.allow-downgrade\n");
    assert!(
        out.contains(&format!("ramdisk: deployed {}.0\n", c[3])),
        "{out}"
    );
    assert!(out.contains("INIT v4 pid=1\n"), "{out}");
}

#[test]
fn init_takes_keys_from_ramdisk_keys_file() {
    let Some(b) = Board::new() else { return };
    let c = &b.commits;
    // Only the ramdisk.keys file holds the key (moved out of /etc/ostree).
    std::fs::create_dir_all(b.extra.join("etc/ramdisk")).unwrap();
    std::fs::rename(
        b.extra.join("etc/ostree/trusted.ed25519"),
        b.extra.join("etc/ramdisk/keys.pub"),
    )
    .unwrap();
    let conf = "root=@LOOP@ ramdisk.trials=0 ramdisk.keys=/etc/ramdisk/keys.pub\n";
    let out = b.boot(conf);
    assert!(out.contains("INIT v1 pid=1\n"), "{out}");
    b.set_ref(1);
    let out = b.boot(conf);
    assert!(
        out.contains(&format!("ramdisk: refusing {}: unsigned\n", short(&c[1]))),
        "{out}"
    );
    assert!(out.contains("INIT v1 pid=1\n"), "{out}");
}

#[test]
fn deploy_untrusted_commit_loses_setuid_bits() {
    if skip_unless(
        have("setfattr") && have("getfattr"),
        "needs setfattr, getfattr (attr)",
    ) {
        return;
    }
    let Some(f) = Fx::new("signed-setuid") else {
        return;
    };
    let empty = f.t.path().join("no-keys");
    std::fs::create_dir_all(&empty).unwrap();
    let c1 = f.commit("v1", "2024-01-10", None);
    let out = ok(&f.deploy(&["update", "--keys-dir", empty.to_str().unwrap()]));
    assert!(
        out.contains(&format!(
            "deploy: commit {} is not signed: setuid/setgid bits and file capabilities stripped (2 files)\n",
            short(&c1)
        )),
        "{out}"
    );
    let d1 = f.root.join(format!("ostree/deploy/{c1}.0"));
    let m = std::fs::metadata(d1.join("usr/bin/su")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o755,
        "setuid stripped without a signature"
    );
    assert_eq!(caps(&d1.join("usr/bin/ping")), "", "capabilities stripped");
    let c2 = f.commit("v2", "2024-01-11", Some(&f.good));
    let out = ok(&f.update(&[]));
    assert!(!out.contains("stripped"), "{out}");
    let d2 = f.root.join(format!("ostree/deploy/{c2}.0"));
    let m = std::fs::metadata(d2.join("usr/bin/su")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o4755,
        "setuid kept from a signed commit"
    );
    assert_eq!(
        caps(&d2.join("usr/bin/ping")),
        CAP_NET_RAW,
        "capabilities kept"
    );
}

/// Runs `ramdisk ostree ARGS` in a mount namespace where `/etc/ostree` is `keys` (the running
/// system's trusted keys), or as is when `keys` is `None`. Returns (exit code, stdout+stderr).
fn ostree_with_keys(keys: Option<&Path>, args: &str) -> (i32, String) {
    let bind = match keys {
        Some(k) => format!(
            "mkdir -p /etc/ostree; mount --bind '{}' /etc/ostree; ",
            k.display()
        ),
        None => String::new(),
    };
    let o = tests::in_mount_ns(&format!("{bind}exec $RD ostree {args} 2>&1"));
    (o.status.code().unwrap_or(-1), stdout(&o))
}

#[test]
fn checkout_and_fsck_require_signatures_with_keys_installed() {
    if skip_unless(tests::can_unshare_mounts(), "needs root and unshare -m") {
        return;
    }
    let Some(f) = Fx::new("signed-checkout") else {
        return;
    };
    let c1 = f.commit("v1", "2024-01-10", Some(&f.good));
    let c2 = f.commit("v2", "2024-01-11", None);
    let c3 = f.commit("v3", "2024-01-12", Some(&f.stranger));
    let c4 = f.commit("v4", "2024-01-13", Some(&f.revoked));
    let c5 = f.commit("v5", "2024-01-14", None);
    std::fs::copy(
        object(&f.repo(), &c1, "commitmeta"),
        object(&f.repo(), &c5, "commitmeta"),
    )
    .unwrap();
    let repo = format!("--repo={}", f.repo().display());
    let dest = |n: &str| f.t.path().join(format!("co-{n}"));
    let keys = Some(f.keys.as_path());
    for (c, n, why) in [
        (&c2, "v2", "commit is not signed"),
        (&c3, "v3", "no valid signature from a trusted key"),
        (&c4, "v4", "signed only by a revoked key"),
        (&c5, "v5", "no valid signature from a trusted key"),
    ] {
        // On by default with keys installed; the same with the option.
        for opt in ["", "--require-signatures "] {
            let (code, out) = ostree_with_keys(
                keys,
                &format!("{repo} checkout {opt}{c} {}", dest(n).display()),
            );
            assert_eq!(code, 1, "{out}");
            assert_eq!(out, format!("ostree: checkout: object {c}.commit: {why}\n"));
            assert!(!dest(n).exists(), "nothing written for {n}");
        }
    }
    let (code, out) = ostree_with_keys(
        keys,
        &format!("{repo} checkout {c1} {}", dest("v1").display()),
    );
    assert_eq!((code, out.as_str()), (0, ""));
    let m = std::fs::metadata(dest("v1").join("usr/bin/su")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o4755,
        "setuid kept from a signed commit"
    );

    // Without keys: ostree's behaviour, unless signatures are asked for.
    let (code, out) = ostree_with_keys(
        None,
        &format!(
            "{repo} checkout --require-signatures {c2} {}",
            dest("nk").display()
        ),
    );
    assert_eq!(
        (code, out.as_str()),
        (1, "ostree: checkout: no trusted ed25519 keys\n")
    );
    let (code, out) = ostree_with_keys(
        None,
        &format!("{repo} checkout {c2} {}", dest("nk").display()),
    );
    assert_eq!((code, out.as_str()), (0, ""));

    // fsck checks the commit every ref names: master is c5 (signature of other bytes).
    let (code, out) = ostree_with_keys(keys, &format!("{repo} fsck"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "ostree: fsck: object {c5}.commit: no valid signature from a trusted key\n"
        )),
        "{out}"
    );
    assert!(out.ends_with(" 1 errors\n"), "{out}");
    std::fs::write(f.repo().join("refs/heads/master"), format!("{c1}\n")).unwrap();
    let (code, out) = ostree_with_keys(keys, &format!("{repo} fsck --require-signatures"));
    assert_eq!(code, 0, "{out}");
    let (code, out) = ostree_with_keys(None, &format!("{repo} fsck --require-signatures"));
    assert_eq!(
        (code, out.as_str()),
        (1, "ostree: fsck: no trusted ed25519 keys\n")
    );
}
