#!/bin/bash
# Runs every test of the project. On a fresh Debian 12 machine, as root, it first installs what the
# tests need. Exit status is non-zero on any failure.
#
#   ./test.sh            everything
#   QUICK=1 ./test.sh    skip the slow suites (qemu-system boots, power loss, I/O errors, fuzzing)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "install prerequisites"
need_pkgs=()
for p in ostree qemu-user-static qemu-system-arm e2fsprogs kmod attr cpio busybox-static time \
    zstd xz-utils python3 python3-gi python3-cryptography openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${need_pkgs[@]}"
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-musl \
    || rustup target add aarch64-unknown-linux-musl
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
# Real Debian arm64 kernel (modules.dep for modprobe tests, the qemu boots) and busybox-static.
./scripts/fetch-debian-arm64.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "build: host, full build (pull), aarch64 product (scripts/build-product.sh), plain aarch64 release"
cargo build -p ramdisk-bin
# The full build (ostree pull over HTTP) for tests/tests/pull.rs and sign.rs, in its own target dir.
cargo build -p ramdisk-bin --features pull --target-dir target/pull
./scripts/build-product.sh release
./scripts/build-product.sh release-syms
cargo build --release --target aarch64-unknown-linux-musl -p ramdisk-bin
export AARCH64_BIN=$ROOT/target/product/aarch64-unknown-linux-musl/release/ramdisk

step "cargo clippy (full build)"
cargo clippy -p ramdisk-bin --features pull --target-dir target/pull -- -D warnings

step "cargo test (host)"
# REQUIRE_ALL: a test whose prerequisite is missing fails instead of printing "skipped".
export REQUIRE_ALL=1
cargo test --workspace --no-fail-fast

step "aarch64: the plain 'cargo build --release' binary is a static stripped ELF too"
AARCH64_BIN=$ROOT/target/aarch64-unknown-linux-musl/release/ramdisk cargo test -p tests --test aarch64

step "aarch64: applet tests on the product binary under qemu-aarch64-static"
RAMDISK_BIN=$AARCH64_BIN RAMDISK_RUNNER=qemu-aarch64-static cargo test -p tests --no-fail-fast \
    --test aarch64 --test sys_applets --test switch_root --test modprobe \
    --test ostree_interop --test ostree_hostile

step "size report and budget"
cargo run -q -p size-report --release -- --no-build

if [[ -z "${QUICK:-}" ]]; then
    step "qemu-system-aarch64: boot scenarios (update, rollback, drop-in script, corrupt object)"
    ./tests/qemu/run-all.sh
    step "qemu-system-aarch64: modules and switch_root in a real guest"
    cargo test -p tests --test modprobe -- --ignored
    step "qemu-system-aarch64: power loss (blklogwrites crash states)"
    ./tests/powerloss/run.sh
    step "qemu-system-aarch64: injected I/O errors (EIO, ENOSPC)"
    ./tests/ioerrors/run.sh
    step "fuzz: each parser target for 30 s (cargo-fuzz on stable via RUSTC_BOOTSTRAP)"
    ./scripts/fuzz.sh 30
fi

step "all tests passed"
