//! The release binary for `aarch64-unknown-linux-musl`: a static, stripped aarch64 ELF that runs
//! under `qemu-aarch64-static` and answers `--list` there.
//!
//! test.sh builds it first (`scripts/build-product.sh`, and plain `cargo build --release --target
//! aarch64-unknown-linux-musl -p ramdisk-bin` as a second binary to check);
//! `$AARCH64_BIN` overrides the path.

use std::path::PathBuf;
use tests::{have, run, skip_unless};

fn aarch64_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AARCH64_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/product/aarch64-unknown-linux-musl/release/ramdisk")
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn aarch64_binary_is_static_stripped_aarch64_elf() {
    let p = aarch64_bin();
    if skip_unless(p.exists(), "aarch64 release binary not built") {
        return;
    }
    let b = std::fs::read(&p).unwrap();
    assert_eq!(&b[..4], b"\x7fELF");
    assert_eq!(b[4], 2, "ELFCLASS64");
    assert_eq!(b[5], 1, "little-endian");
    assert_eq!(u16_at(&b, 18), 183, "e_machine EM_AARCH64");
    // Program headers: no PT_INTERP (3) and no PT_DYNAMIC (2) means statically linked.
    let (phoff, phentsize, phnum) = (
        u64_at(&b, 32) as usize,
        u16_at(&b, 54) as usize,
        u16_at(&b, 56),
    );
    for i in 0..usize::from(phnum) {
        let t = u32_at(&b, phoff + i * phentsize);
        assert!(
            t != 2 && t != 3,
            "program header {i} has type {t}: dynamically linked"
        );
    }
    // Section headers: no SHT_SYMTAB (2) means stripped.
    let (shoff, shentsize, shnum) = (
        u64_at(&b, 40) as usize,
        u16_at(&b, 58) as usize,
        u16_at(&b, 60),
    );
    for i in 0..usize::from(shnum) {
        let t = u32_at(&b, shoff + i * shentsize + 4);
        assert_ne!(t, 2, "section {i} is a symbol table: not stripped");
    }
}

#[test]
fn aarch64_binary_lists_applets_under_qemu_user() {
    let p = aarch64_bin();
    if skip_unless(p.exists(), "aarch64 release binary not built")
        || skip_unless(
            have("qemu-aarch64-static"),
            "qemu-aarch64-static not installed",
        )
    {
        return;
    }
    let o = run(std::process::Command::new("qemu-aarch64-static")
        .arg(&p)
        .arg("--list"));
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.lines().any(|l| l == "mknod"), "{text}");
    // Through argv[0] as well: qemu-user's -0 sets argv[0].
    let o = run(std::process::Command::new("qemu-aarch64-static")
        .args(["-0", "frob"])
        .arg(&p));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ramdisk: applet not found: frob\n"
    );
}
