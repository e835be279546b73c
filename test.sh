#!/bin/bash
# Runs every test of the project. On a fresh Debian 12 machine, as root, it first installs what the
# tests need. Exit status is non-zero on any failure.
#
#   ./test.sh            everything
#   QUICK=1 ./test.sh    skip the qemu-system boot scenarios
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

step "cargo test (host)"
# REQUIRE_ALL: a test whose prerequisite is missing fails instead of printing "skipped".
export REQUIRE_ALL=1
cargo build -p ramdisk-bin
# The full build (ostree pull over HTTP) for tests/tests/pull.rs, in its own target dir.
cargo build -p ramdisk-bin --features pull --target-dir target/pull
cargo clippy -p ramdisk-bin --features pull --target-dir target/pull -- -D warnings
cargo test --workspace

step "aarch64: plain cargo release build is a static stripped ELF"
cargo build --release --target aarch64-unknown-linux-musl -p ramdisk-bin
AARCH64_BIN=$ROOT/target/aarch64-unknown-linux-musl/release/ramdisk cargo test -p tests --test aarch64

step "aarch64: the product build (scripts/build-product.sh) and the applet tests under qemu-aarch64-static"
./scripts/build-product.sh release
./scripts/build-product.sh release-syms
export AARCH64_BIN=$ROOT/target/product/aarch64-unknown-linux-musl/release/ramdisk
RAMDISK_BIN=$AARCH64_BIN RAMDISK_RUNNER=qemu-aarch64-static \
    cargo test -p tests --test aarch64 --test sys_applets --test switch_root --test modprobe

step "size report and budget"
cargo run -q -p size-report --release -- --no-build

if [[ -z "${QUICK:-}" ]]; then
    step "qemu-system-aarch64 boot scenarios"
    ./tests/qemu/run-all.sh
fi

step "all tests passed"
