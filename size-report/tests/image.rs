//! size-report end to end: the image it writes, read back by GNU `cpio`; reproducibility; the
//! budget check; `--modules` with a fake kernel tree and with the real Debian arm64 one.
//!
//! The aarch64 release binary is built once per run (`cargo build --release --target
//! aarch64-unknown-linux-musl -p ramdisk-bin`, a no-op when up to date) and every test passes it
//! with `--binary --no-build`. The crate/symbol tables are checked on this test executable (a
//! Rust program with symbols) and a stripped copy, so no unstripped aarch64 build is needed.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tests::{have, run, skip_unless, stderr, stdout, TempDir};

const SIZE_REPORT: &str = env!("CARGO_BIN_EXE_size-report");

/// Cargo's target directory (this executable is `TARGET/debug/deps/image-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The aarch64 release binary, built once.
fn aarch64_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = target_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "aarch64-unknown-linux-musl",
                "-p",
                "ramdisk-bin",
            ])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(repo_root())
            .status()
            .expect("run cargo");
        assert!(status.success(), "aarch64 release build failed");
        target.join("aarch64-unknown-linux-musl/release/ramdisk")
    })
}

/// The applets the aarch64 binary reports (`--list` under qemu-aarch64-static).
fn applets() -> Vec<String> {
    let o = run(Command::new("qemu-aarch64-static")
        .arg(aarch64_binary())
        .arg("--list"));
    assert!(o.status.success(), "--list: {}", stderr(&o));
    stdout(&o).lines().map(String::from).collect()
}

/// A budget file large enough for anything.
fn loose_budget(dir: &Path) -> PathBuf {
    let p = dir.join("budget.toml");
    std::fs::write(&p, "binary = 100_000_000\ninitramfs = 100_000_000\n").unwrap();
    p
}

/// Runs size-report on the aarch64 binary writing `out`, plus `extra` arguments.
fn size_report(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(SIZE_REPORT);
    c.arg("--no-build")
        .arg("--binary")
        .arg(aarch64_binary())
        .arg("--output")
        .arg(out)
        .arg("--budget")
        .arg(loose_budget(dir))
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH");
    run(&mut c)
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "size-report failed\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn gunzip(p: &Path) -> Vec<u8> {
    let o = run(Command::new("gzip").arg("-dc").arg(p));
    assert!(
        o.status.success(),
        "gzip -dc {}: {}",
        p.display(),
        stderr(&o)
    );
    o.stdout
}

/// `cpio ARGS` with `input` on stdin, in `cwd`.
fn cpio(args: &[&str], input: &[u8], cwd: &Path) -> String {
    use std::io::Write;
    let mut child = Command::new("cpio")
        .args(args)
        .env("TZ", "UTC")
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cpio");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "cpio {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The words of the `cpio -itv` line for `name` (the word before `->` for a symlink, else the last).
fn verbose_line(verbose: &str, name: &str) -> Vec<String> {
    verbose
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|w| {
            let at = w.iter().position(|x| x == "->").unwrap_or(w.len());
            at > 0 && w[at - 1] == name
        })
        .unwrap_or_else(|| panic!("no {name} in\n{verbose}"))
}

fn need_tools() -> bool {
    skip_unless(
        have("cpio") && have("qemu-aarch64-static"),
        "GNU cpio and qemu-aarch64-static needed",
    )
}

fn expected_entries(applets: &[String]) -> Vec<String> {
    let mut e: Vec<String> = [
        "bin",
        "bin/ramdisk",
        "dev",
        "dev/console",
        "etc",
        "init",
        "proc",
        "sbin",
        "sys",
        "sysroot",
        "tmp",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for a in applets {
        e.push(format!("bin/{a}"));
        e.push(format!("sbin/{a}"));
    }
    e.sort();
    e
}

#[test]
fn image_lists_exactly_the_expected_entries() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-list");
    let out = t.path().join("img.cpio.gz");
    let o = size_report(t.path(), &out, &[]);
    ok(&o);
    let cpio_bytes = gunzip(&out);
    assert_eq!(cpio_bytes.len() % 512, 0, "archive padded to 512");
    let mut listed: Vec<String> = cpio(&["-it", "--quiet"], &cpio_bytes, t.path())
        .lines()
        .map(String::from)
        .collect();
    listed.sort();
    let applets = applets();
    assert!(
        applets.iter().any(|a| a == "init") && applets.iter().any(|a| a == "switch_root"),
        "{applets:?}"
    );
    assert_eq!(listed, expected_entries(&applets));

    // `cpio -itv` lines look like `ls -l`: type+mode, links, owner, group, size or maj,min, date, name.
    let verbose = cpio(&["-itv", "--quiet"], &cpio_bytes, t.path());
    let line = |name: &str| verbose_line(&verbose, name);
    let console = line("dev/console");
    assert_eq!(console[0], "crw-------", "{console:?}");
    assert_eq!((console[2].as_str(), console[3].as_str()), ("root", "root"));
    assert_eq!(
        (console[4].as_str(), console[5].as_str()),
        ("5,", "1"),
        "{console:?}"
    );
    let bin = line("bin/ramdisk");
    assert_eq!(bin[0], "-rwxr-xr-x");
    assert_eq!(
        bin[4],
        std::fs::metadata(aarch64_binary())
            .unwrap()
            .len()
            .to_string()
    );
    for (name, target) in [
        ("init", "bin/ramdisk"),
        ("bin/mount", "ramdisk"),
        ("sbin/switch_root", "../bin/ramdisk"),
    ] {
        let l = line(name);
        assert_eq!(l[0], "lrwxrwxrwx", "{l:?}");
        assert_eq!(l[9..], ["->".to_string(), target.to_string()], "{l:?}");
    }
    assert_eq!(line("tmp")[0], "drwxrwxrwt");
    assert_eq!(line("sysroot")[0], "drwxr-xr-x");
    // Mtime 0 without SOURCE_DATE_EPOCH: 1970.
    assert_eq!(bin[7], "1970", "{bin:?}");

    let s = stdout(&o);
    assert!(s.contains("\napplets:  "), "{s}");
    let gz = std::fs::metadata(&out).unwrap().len();
    assert!(
        s.contains(&format!("\ninitramfs {gz} B gz (budget 100000000 B) ok\n")),
        "{s}"
    );
    let size = std::fs::metadata(aarch64_binary()).unwrap().len();
    assert!(
        s.contains(&format!("\nbinary {size} B (budget 100000000 B) ok\n")),
        "{s}"
    );
}

/// `rust-objcopy` from the toolchain (always there with rustup), else binutils' `objcopy`.
fn objcopy() -> PathBuf {
    let o = run(Command::new("rustc").args(["--print", "sysroot"]));
    let sysroot = stdout(&o).trim().to_string();
    let host = run(Command::new("rustc").args(["--print", "host-tuple"]));
    let p = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(stdout(&host).trim())
        .join("bin/rust-objcopy");
    if p.exists() {
        p
    } else {
        PathBuf::from("objcopy")
    }
}

#[test]
fn report_shows_sections_crates_and_symbols_from_the_unstripped_build() {
    if need_tools() {
        return;
    }
    // A stripped "release" binary and its unstripped "release-syms" twin: this test program.
    let t = TempDir::new("sr-syms");
    let (rel, syms) = (t.path().join("release"), t.path().join("release-syms"));
    std::fs::create_dir(&rel).unwrap();
    std::fs::create_dir(&syms).unwrap();
    std::fs::copy(std::env::current_exe().unwrap(), syms.join("app")).unwrap();
    let st = Command::new(objcopy())
        .arg("--strip-all")
        .arg(syms.join("app"))
        .arg(rel.join("app"))
        .status()
        .unwrap();
    assert!(st.success(), "objcopy --strip-all");
    let report = |bin: &Path| {
        let mut c = Command::new(SIZE_REPORT);
        c.args(["--no-build", "--applets-from-source", "--binary"])
            .arg(bin);
        c.arg("--output")
            .arg(t.path().join("img.gz"))
            .arg("--budget")
            .arg(loose_budget(t.path()));
        let o = run(&mut c);
        ok(&o);
        stdout(&o)
    };
    let s = report(&rel.join("app"));
    for want in [
        "\nsections\n",
        "\n  .text ",
        "\nlargest crates (of ",
        "\nlargest symbols\n",
    ] {
        assert!(s.contains(want), "no {want:?} in report:\n{s}");
    }
    assert!(
        s.contains(&format!("\nsymbols:  {} (", syms.join("app").display())),
        "{s}"
    );
    let crates: Vec<&str> = s
        .split("\nlargest crates")
        .nth(1)
        .unwrap()
        .lines()
        .skip(2)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(crates.len(), 15, "15 largest crates:\n{s}");
    for c in ["std", "core", "alloc"] {
        assert!(crates.contains(&c), "{c} in {crates:?}");
    }
    let symbols = s
        .split("\nlargest symbols\n")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert_eq!(symbols, 20, "20 largest symbols:\n{s}");

    // A symbols build that is not the same code is refused, not reported on.
    std::fs::copy(aarch64_binary(), syms.join("app")).unwrap();
    let s = report(&rel.join("app"));
    assert!(s.contains("is not the same build as the binary"), "{s}");
    assert!(!s.contains("largest symbols"), "{s}");
}

#[test]
fn image_extracts_with_cpio_idm() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-extract");
    let out = t.path().join("img.cpio.gz");
    ok(&size_report(t.path(), &out, &[]));
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    cpio(
        &["-idm", "--quiet", "--no-absolute-filenames"],
        &gunzip(&out),
        &root,
    );
    let bin = std::fs::read(root.join("bin/ramdisk")).unwrap();
    assert_eq!(bin, std::fs::read(aarch64_binary()).unwrap());
    assert_eq!(
        std::fs::metadata(root.join("bin/ramdisk"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    assert_eq!(
        std::fs::read_link(root.join("init")).unwrap(),
        Path::new("bin/ramdisk")
    );
    assert_eq!(
        std::fs::read_link(root.join("sbin/mount")).unwrap(),
        Path::new("../bin/ramdisk")
    );
    // The links resolve inside the tree.
    let real = std::fs::canonicalize(root.join("bin/ramdisk")).unwrap();
    for link in ["init", "sbin/mount", "bin/mount"] {
        assert_eq!(
            std::fs::canonicalize(root.join(link)).unwrap(),
            real,
            "{link}"
        );
    }
    for d in ["proc", "sys", "dev", "sysroot", "tmp", "etc"] {
        assert!(root.join(d).is_dir(), "{d}");
    }
    let console = std::fs::symlink_metadata(root.join("dev/console")).unwrap();
    assert!(
        console.file_type().is_char_device(),
        "cpio -idm as root makes the node"
    );
    assert_eq!((console.rdev() >> 8, console.rdev() & 0xff), (5, 1));
    assert_eq!(console.mode() & 0o7777, 0o600);
}

#[test]
fn same_inputs_give_byte_identical_images() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-repro");
    let (a, b) = (t.path().join("a.cpio.gz"), t.path().join("b.cpio.gz"));
    ok(&size_report(t.path(), &a, &[]));
    ok(&size_report(t.path(), &b, &[]));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    // SOURCE_DATE_EPOCH sets every mtime, and is just as reproducible.
    let dated = |name: &str| {
        let p = t.path().join(name);
        let mut c = Command::new(SIZE_REPORT);
        c.args(["--no-build", "--binary"])
            .arg(aarch64_binary())
            .arg("--output")
            .arg(&p);
        c.arg("--budget")
            .arg(loose_budget(t.path()))
            .env("SOURCE_DATE_EPOCH", "1700000000");
        ok(&run(&mut c));
        std::fs::read(&p).unwrap()
    };
    let (c, d) = (dated("c.cpio.gz"), dated("d.cpio.gz"));
    assert_eq!(c, d);
    assert_ne!(c, std::fs::read(&a).unwrap());
    let verbose = cpio(
        &["-itv", "--quiet"],
        &gunzip(&t.path().join("c.cpio.gz")),
        t.path(),
    );
    assert!(verbose.lines().all(|l| l.contains(" 2023 ")), "{verbose}");
}

#[test]
fn budget_too_low_fails_naming_the_figure() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-budget");
    for (figure, file) in [
        ("binary", "binary = 1000\ninitramfs = 100_000_000\n"),
        ("initramfs", "binary = 100_000_000\ninitramfs = 1000\n"),
    ] {
        let budget = t.path().join(format!("{figure}.toml"));
        std::fs::write(&budget, file).unwrap();
        let mut c = Command::new(SIZE_REPORT);
        c.args(["--no-build", "--binary"]).arg(aarch64_binary());
        c.arg("--output")
            .arg(t.path().join("img.cpio.gz"))
            .arg("--budget")
            .arg(&budget);
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        assert_eq!(
            stderr(&o),
            format!("size-report: budget exceeded: {figure}\n")
        );
        let line = stdout(&o)
            .lines()
            .find(|l| l.starts_with(&format!("{figure} ")))
            .map(String::from)
            .unwrap();
        assert!(line.contains("(budget 1000 B) EXCEEDED by "), "{line}");
    }
}

#[test]
fn malformed_budget_file_is_rejected_before_anything_is_written() {
    let t = TempDir::new("sr-badbudget");
    let budget = t.path().join("b.toml");
    std::fs::write(&budget, "binary = 1\nbinray = 2\n").unwrap();
    let out = t.path().join("img.cpio.gz");
    let o = run(Command::new(SIZE_REPORT)
        .arg("--no-build")
        .arg("--output")
        .arg(&out)
        .arg("--budget")
        .arg(&budget));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("size-report: {}: line 2: unknown figure 'binray' (known: binary, initramfs, initramfs_modules)\n", budget.display())
    );
    assert!(!out.exists());
    let o = run(Command::new(SIZE_REPORT)
        .arg("--no-build")
        .arg("--budget")
        .arg(t.path().join("missing.toml")));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("size-report: can't read budget file '"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn conf_extra_files_and_dirs_go_in_with_their_modes() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-extra");
    let conf = t.path().join("ramdisk.conf");
    std::fs::write(&conf, "ostree.ref=stable\n").unwrap();
    let key = t.path().join("key");
    std::fs::write(&key, "secret").unwrap();
    let out = t.path().join("img.cpio.gz");
    let conf_s = conf.display().to_string();
    let file_s = format!("{}:/etc/keys/k.pub:600", key.display());
    ok(&size_report(
        t.path(),
        &out,
        &[
            "--conf", &conf_s, "--file", &file_s, "--dir", "/run:700", "--dir", "mnt",
        ],
    ));
    let verbose = cpio(&["-itv", "--quiet"], &gunzip(&out), t.path());
    let mode = |name: &str| verbose_line(&verbose, name)[0].clone();
    assert_eq!(mode("etc/ramdisk.conf"), "-rw-r--r--");
    assert_eq!(mode("etc/keys"), "drwxr-xr-x");
    assert_eq!(mode("etc/keys/k.pub"), "-rw-------");
    assert_eq!(mode("run"), "drwx------");
    assert_eq!(mode("mnt"), "drwxr-xr-x");

    // An extra file may not replace a layout entry, and a bad spec names the option.
    let clash = format!("{}:/bin/ramdisk", key.display());
    let o = size_report(t.path(), &t.path().join("x.gz"), &["--file", &clash]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "size-report: '/bin/ramdisk' is already in the image\n"
    );
    let o = size_report(t.path(), &t.path().join("x.gz"), &["--file", "nocolon"]);
    assert_eq!(
        stderr(&o),
        "size-report: --file 'nocolon': expected SRC:DEST[:MODE]\n"
    );
    assert!(!t.path().join("x.gz").exists());
}

#[test]
fn xz_and_zstd_images_unpack() {
    if need_tools() || skip_unless(have("xz") && have("zstd"), "xz and zstd tools needed") {
        return;
    }
    let t = TempDir::new("sr-xz");
    for (flag, tool) in [("--xz", "xz"), ("--zstd", "zstd")] {
        let out = t.path().join(format!("img.{tool}"));
        let o = size_report(t.path(), &out, &[flag]);
        ok(&o);
        let raw = run(Command::new(tool).arg("-dc").arg(&out));
        assert!(raw.status.success(), "{tool} -dc");
        let listed = cpio(&["-it", "--quiet"], &raw.stdout, t.path());
        assert!(listed.lines().any(|l| l == "dev/console"), "{listed}");
    }
}

#[test]
fn applet_list_falls_back_to_the_source_table() {
    if need_tools() {
        return;
    }
    let t = TempDir::new("sr-src");
    let out = t.path().join("img.cpio.gz");
    let o = size_report(t.path(), &out, &["--applets-from-source"]);
    ok(&o);
    assert!(
        stdout(&o).contains("ramdisk-bin/src/applets/mod.rs)"),
        "{}",
        stdout(&o)
    );
    let mut listed: Vec<String> = cpio(&["-it", "--quiet"], &gunzip(&out), t.path())
        .lines()
        .map(String::from)
        .collect();
    listed.sort();
    assert_eq!(listed, expected_entries(&applets()));
}

/// Writes a fake `lib/modules/VERSION` tree: ext4 depends on jbd2, mbcache and crc16 and has a
/// softdep on `crypto-crc32c`, an alias of crc32c_generic (stored as `.ko.xz`); virtio_blk is
/// unrelated. Returns the kernel root and the plain bytes of crc32c_generic.
fn fake_kernel(dir: &Path) -> (PathBuf, Vec<u8>) {
    let kroot = dir.join("kroot");
    let m = kroot.join("lib/modules/9.9.9-test");
    for (rel, body) in [
        ("kernel/fs/ext4/ext4.ko", "ext4"),
        ("kernel/fs/jbd2/jbd2.ko", "jbd2"),
        ("kernel/fs/mbcache.ko", "mbcache"),
        ("kernel/lib/crc16.ko", "crc16"),
        ("kernel/drivers/block/virtio_blk.ko", "virtio_blk"),
    ] {
        std::fs::create_dir_all(m.join(rel).parent().unwrap()).unwrap();
        std::fs::write(m.join(rel), format!("\x7fELF fake module {body}\n")).unwrap();
    }
    let crc = b"\x7fELF fake module crc32c_generic\n".repeat(20);
    std::fs::create_dir_all(m.join("kernel/crypto")).unwrap();
    std::fs::write(m.join("kernel/crypto/crc32c_generic.ko"), &crc).unwrap();
    let st = Command::new("xz")
        .args(["--check=crc32"])
        .arg(m.join("kernel/crypto/crc32c_generic.ko"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        m.join("modules.dep"),
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
         kernel/fs/jbd2/jbd2.ko:\n\
         kernel/fs/mbcache.ko:\n\
         kernel/lib/crc16.ko:\n\
         kernel/crypto/crc32c_generic.ko.xz:\n\
         kernel/drivers/block/virtio_blk.ko:\n",
    )
    .unwrap();
    std::fs::write(
        m.join("modules.softdep"),
        "# Soft dependencies extracted from modules themselves.\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\nsoftdep virtio_blk pre: nothing\n",
    )
    .unwrap();
    std::fs::write(
        m.join("modules.alias"),
        "# Aliases extracted from modules themselves.\nalias crypto-crc32c crc32c_generic\nalias virtio:d00000002v* virtio_blk\n",
    )
    .unwrap();
    (kroot, crc)
}

#[test]
fn modules_from_a_fake_kernel_tree_come_with_deps_and_softdeps() {
    if need_tools() || skip_unless(have("xz"), "xz needed to make a .ko.xz") {
        return;
    }
    let t = TempDir::new("sr-mods");
    let (kroot, crc) = fake_kernel(t.path());
    let out = t.path().join("img.cpio.gz");
    let kroot_s = kroot.display().to_string();
    let o = size_report(
        t.path(),
        &out,
        &["--modules", &kroot_s, "ext4", "--no-build"],
    );
    ok(&o);
    let s = stdout(&o);
    assert!(
        s.contains("  modules: crc32c_generic jbd2 mbcache crc16 ext4\n"),
        "{s}"
    );
    assert!(
        s.lines()
            .any(|l| l.starts_with("initramfs_modules ") && l.ends_with("(no budget)")),
        "{s}"
    );

    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let cpio_bytes = gunzip(&out);
    let listed = cpio(&["-it", "--quiet"], &cpio_bytes, t.path());
    let mut mods: Vec<&str> = listed
        .lines()
        .filter(|l| *l == "lib" || l.starts_with("lib/"))
        .collect();
    mods.sort();
    assert_eq!(
        mods,
        [
            "lib",
            "lib/modules",
            "lib/modules/9.9.9-test",
            "lib/modules/9.9.9-test/kernel",
            "lib/modules/9.9.9-test/kernel/crypto",
            "lib/modules/9.9.9-test/kernel/crypto/crc32c_generic.ko",
            "lib/modules/9.9.9-test/kernel/fs",
            "lib/modules/9.9.9-test/kernel/fs/ext4",
            "lib/modules/9.9.9-test/kernel/fs/ext4/ext4.ko",
            "lib/modules/9.9.9-test/kernel/fs/jbd2",
            "lib/modules/9.9.9-test/kernel/fs/jbd2/jbd2.ko",
            "lib/modules/9.9.9-test/kernel/fs/mbcache.ko",
            "lib/modules/9.9.9-test/kernel/lib",
            "lib/modules/9.9.9-test/kernel/lib/crc16.ko",
            "lib/modules/9.9.9-test/modules.alias",
            "lib/modules/9.9.9-test/modules.dep",
            "lib/modules/9.9.9-test/modules.softdep",
        ]
    );
    cpio(
        &["-idm", "--quiet", "--no-absolute-filenames"],
        &cpio_bytes,
        &root,
    );
    let m = root.join("lib/modules/9.9.9-test");
    assert_eq!(
        std::fs::read(m.join("kernel/crypto/crc32c_generic.ko")).unwrap(),
        crc,
        "stored decompressed"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("modules.dep")).unwrap(),
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
         kernel/fs/jbd2/jbd2.ko:\n\
         kernel/fs/mbcache.ko:\n\
         kernel/lib/crc16.ko:\n\
         kernel/crypto/crc32c_generic.ko:\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("modules.softdep")).unwrap(),
        "softdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("modules.alias")).unwrap(),
        "alias crypto-crc32c crc32c_generic\n"
    );
    // Unknown names and a tree without modules.dep fail with the path.
    let o = size_report(t.path(), &out, &["--modules", &kroot_s, "nosuchmod"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("module 'nosuchmod' not found in '"),
        "{}",
        stderr(&o)
    );
    let o = size_report(
        t.path(),
        &out,
        &["--modules", &t.path().display().to_string(), "ext4"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("size-report: --modules: can't read '"),
        "{}",
        stderr(&o)
    );
}

/// The kernel tree `scripts/fetch-debian-arm64.sh` leaves (QEMU_DIR overrides target/qemu).
fn debian_kernel() -> Option<(PathBuf, String)> {
    let q = std::env::var_os("QEMU_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/qemu"));
    let kver = std::fs::read_to_string(q.join("KVER"))
        .ok()?
        .trim()
        .to_string();
    let kroot = q.join("kernel-root");
    kroot
        .join("lib/modules")
        .join(&kver)
        .join("modules.dep")
        .is_file()
        .then_some((kroot, kver))
}

#[test]
fn modules_from_the_real_debian_arm64_kernel() {
    let kernel = debian_kernel();
    if need_tools()
        || skip_unless(
            kernel.is_some(),
            "no Debian arm64 kernel tree: run scripts/fetch-debian-arm64.sh",
        )
    {
        return;
    }
    let (kroot, kver) = kernel.unwrap();
    let t = TempDir::new("sr-debian");
    let out = t.path().join("img.cpio.gz");
    let kroot_s = kroot.display().to_string();
    let o = size_report(
        t.path(),
        &out,
        &["--modules", &kroot_s, "virtio_pci", "virtio_blk", "ext4"],
    );
    ok(&o);
    let s = stdout(&o);
    // testing-on-qemu.md §2.1: the verified load order for a virtio-blk + ext4 root.
    assert!(
        s.contains(
            "  modules: virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk crc32c_generic jbd2 mbcache crc16 ext4\n"
        ),
        "{s}"
    );
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    cpio(
        &["-idm", "--quiet", "--no-absolute-filenames"],
        &gunzip(&out),
        &root,
    );
    let m = root.join("lib/modules").join(&kver);
    let src = kroot.join("lib/modules").join(&kver);
    assert_eq!(
        std::fs::read(m.join("kernel/fs/ext4/ext4.ko")).unwrap(),
        std::fs::read(src.join("kernel/fs/ext4/ext4.ko")).unwrap()
    );
    // depmod, run on the extracted tree, writes the same index files we did (as line sets):
    // the dependency lines, the softdeps and every alias of the included modules.
    let ours = |f: &str| sorted_lines(&m.join(f));
    let (dep, softdep, alias) = (
        ours("modules.dep"),
        ours("modules.softdep"),
        ours("modules.alias"),
    );
    if !skip_unless(
        have("depmod"),
        "depmod (kmod) needed to cross-check the index files",
    ) {
        let o = run(Command::new("depmod").arg("-b").arg(&root).arg(&kver));
        assert!(o.status.success(), "depmod: {}", stderr(&o));
        assert_eq!(sorted_lines(&m.join("modules.dep")), dep);
        assert_eq!(sorted_lines(&m.join("modules.softdep")), softdep);
        assert_eq!(sorted_lines(&m.join("modules.alias")), alias);
        // And kmod's own resolution from there picks the same modules (softdep included).
        let o = run(Command::new("modprobe").arg("-d").arg(&root).args([
            "-S",
            &kver,
            "--show-depends",
            "ext4",
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
        let mut got: Vec<String> = stdout(&o)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "crc16.ko",
                "crc32c_generic.ko",
                "ext4.ko",
                "jbd2.ko",
                "mbcache.ko"
            ]
        );
    }
}

/// The non-comment lines of a file, sorted.
fn sorted_lines(p: &Path) -> Vec<String> {
    let mut l: Vec<String> = std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect();
    l.sort();
    l
}
