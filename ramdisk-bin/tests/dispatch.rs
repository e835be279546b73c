//! Multicall dispatch of the built binary: argv[0] through a symlink and a hard link,
//! `ramdisk APPLET`, `--list`, `--install` (both modes) and the unknown-applet message.
//!
//! The applet used to prove dispatch reached real code is `mknod NAME p`, which needs no
//! privileges and leaves a FIFO we can check.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ramdisk");

fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ramdisk-dispatch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn assert_fifo(p: &Path) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(m.file_type().is_fifo(), "{} is not a fifo", p.display());
}

#[test]
fn ramdisk_applet_runs_the_applet() {
    let d = temp("direct");
    let o = run(Command::new(BIN).args(["mknod", d.join("f").to_str().unwrap(), "p"]));
    assert!(o.status.success(), "{o:?}");
    assert_fifo(&d.join("f"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn argv0_through_symlink_and_hard_link_selects_the_applet() {
    let d = temp("argv0");
    std::os::unix::fs::symlink(BIN, d.join("mknod")).unwrap();
    let o = run(Command::new(d.join("mknod")).args([d.join("a").to_str().unwrap(), "p"]));
    assert!(o.status.success(), "{o:?}");
    assert_fifo(&d.join("a"));

    let hl = d.join("hl");
    std::fs::create_dir(&hl).unwrap();
    // A hard link needs the same filesystem: copy the binary next to it first.
    std::fs::copy(BIN, d.join("ramdisk")).unwrap();
    std::fs::hard_link(d.join("ramdisk"), hl.join("mknod")).unwrap();
    let o = run(Command::new(hl.join("mknod")).args([d.join("b").to_str().unwrap(), "p"]));
    assert!(o.status.success(), "{o:?}");
    assert_fifo(&d.join("b"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn list_prints_one_applet_per_line_sorted() {
    let o = run(Command::new(BIN).arg("--list"));
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let names: Vec<&str> = text.lines().collect();
    assert!(names.contains(&"mknod"), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.iter().all(|n| !n.is_empty() && !n.contains(' ')));
}

#[test]
fn help_lists_applets_and_exits_zero() {
    let o = run(Command::new(BIN).arg("--help"));
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("Applets:") && text.contains("    mknod\n"),
        "{text}"
    );
}

#[test]
fn unknown_applet_prints_message_and_exits_127() {
    let o = run(Command::new(BIN).arg("frobnicate"));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ramdisk: applet not found: frobnicate\n"
    );

    let d = temp("unknown");
    std::os::unix::fs::symlink(BIN, d.join("frob")).unwrap();
    let o = run(&mut Command::new(d.join("frob")));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ramdisk: applet not found: frob\n"
    );
    std::fs::remove_dir_all(d).unwrap();
}

fn applets() -> Vec<String> {
    let o = run(Command::new(BIN).arg("--list"));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn install_makes_hard_links_that_run_applets() {
    let d = temp("install-hard");
    // Hard links must live on the binary's filesystem: install from a copy in the temp dir.
    let bin = d.join("ramdisk");
    std::fs::copy(BIN, &bin).unwrap();
    let dir = d.join("bin");
    std::fs::create_dir(&dir).unwrap();
    let o = run(Command::new(&bin).args(["--install", dir.to_str().unwrap()]));
    assert!(o.status.success(), "{o:?}");
    let ino = std::fs::metadata(&bin).unwrap().ino();
    for a in applets() {
        let m = std::fs::symlink_metadata(dir.join(&a)).unwrap();
        assert!(m.file_type().is_file(), "{a}");
        assert_eq!(m.ino(), ino, "{a} is not a hard link to the binary");
    }
    let o = run(Command::new(dir.join("mknod")).args([d.join("p").to_str().unwrap(), "p"]));
    assert!(o.status.success(), "{o:?}");
    assert_fifo(&d.join("p"));
    // Running it again is fine: the links are already this binary.
    let o = run(Command::new(&bin).args(["--install", dir.to_str().unwrap()]));
    assert!(o.status.success(), "{o:?}");
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn install_s_makes_symlinks_and_never_overwrites_other_files() {
    let d = temp("install-sym");
    let dir = d.join("bin");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("mount"), b"not ramdisk").unwrap();
    let o = run(Command::new(BIN).args(["--install", "-s", dir.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mount' exists and is not ramdisk; left alone"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("mount")).unwrap(), b"not ramdisk");
    let target = std::fs::read_link(dir.join("mknod")).unwrap();
    assert_eq!(
        std::fs::canonicalize(target).unwrap(),
        std::fs::canonicalize(BIN).unwrap()
    );
    let o = run(Command::new(dir.join("mknod")).args([d.join("q").to_str().unwrap(), "p"]));
    assert!(o.status.success(), "{o:?}");
    assert_fifo(&d.join("q"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn install_without_dir_is_a_usage_error() {
    let o = run(Command::new(BIN).arg("--install"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ramdisk: usage: ramdisk --install [-s] DIR\n"
    );
}
