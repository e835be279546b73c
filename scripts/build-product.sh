#!/bin/bash
# Builds the product: the static aarch64 `ramdisk` exactly as it goes into the initramfs.
#
#   scripts/build-product.sh [PROFILE] [CARGO ARGS...]   PROFILE: release (default) or release-syms
#   -> target/product/aarch64-unknown-linux-musl/PROFILE/ramdisk
#
# Why not plain `cargo build --release`: that works too (and test.sh checks it), but std's panic
# machinery then links the backtrace symbolizer (gimli, addr2line, rustc-demangle, libunwind) and
# unwind tables: ~300 KiB of a ~700 KiB binary that a panic=abort initramfs never uses. Rebuilding
# std with `panic=immediate-abort` drops all of it; std's `optimize_for_size` feature picks its
# smaller algorithms, `-Zlocation-detail=none` drops panic locations (nobody prints them) and
# `-Zfmt-debug=none` drops `Debug` impls (the product never prints `{:?}`; tests use the normal
# build). Nothing unwinds under immediate-abort, so `-Cforce-unwind-tables=no` drops .eh_frame
# (~65 KiB), and lld's identical-code folding (`--icf=all`) merges the copies generics leave. Those are unstable flags; the only toolchain on our machines is stable, so
# RUSTC_BOOTSTRAP=1 enables them for this one build (rust-src needed).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
shift || true
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src >&2
rustup target list --installed | grep -qx aarch64-unknown-linux-musl \
    || rustup target add aarch64-unknown-linux-musl >&2
target_dir=${CARGO_TARGET_DIR:-$PWD/target}/product
RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none \
-Cforce-unwind-tables=no -Clink-arg=--icf=all" \
    cargo build -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size \
    --profile "$profile" --target aarch64-unknown-linux-musl -p ramdisk-bin \
    --target-dir "$target_dir" "$@"
