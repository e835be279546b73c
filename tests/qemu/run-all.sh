#!/bin/bash
# Every qemu scenario (full-system boots of the Debian arm64 kernel under TCG), for test.sh.
#
# Usage: tests/qemu/run-all.sh [--no-build]
#   Builds the aarch64 binary + initramfs once (./qemu-run.sh --build-only; skipped with
#   --no-build), then runs each scenario and prints one summary line per scenario:
#     smoke           kernel + modules + disk + qemu with a busybox-only initramfs (no ramdisk)
#     update-rollback ./qemu-run.sh: deploy, reboot without redeploy, new unconfirmed commit, rollback
#     dropin          a classic busybox-sh /init script using ramdisk's applets
#     corrupt         a commit with a substituted object is refused at boot, v1 kept
#     signed          with a trusted key in the initramfs an unsigned commit is refused, v1 kept;
#                     once signed it is deployed (needs a host --features pull build for signing:
#                     $RAMDISK_PULL_BIN or target/pull/debug/ramdisk, else skipped)
# Exit status: 0 when every scenario passed or was skipped, 1 otherwise.
# Console logs: target/qemu/logs/. A few minutes on 2 cores.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOGS=${QEMU_DIR:-$ROOT/target/qemu}/logs
mkdir -p "$LOGS"

BUILD=1
[ "${1:-}" = --no-build ] && BUILD=0

results=() failed=0
record() { # record NAME RC OUTPUT_FILE
    local line
    line=$(grep -E "^qemu: $1: " "$3" | tail -n 1)
    case $2 in
    0) results+=("${line:-qemu: $1: ok}") ;;
    77) results+=("${line:-qemu: $1: skipped}") ;;
    *) results+=("${line:-qemu: $1: FAIL (exit $2, see $3)}"); failed=1 ;;
    esac
}

start=$(date +%s)
if [ "$BUILD" = 1 ]; then
    echo "== build (./qemu-run.sh --build-only)"
    if ! "$ROOT/qemu-run.sh" --build-only >"$LOGS/build.out" 2>&1; then
        tail -n 30 "$LOGS/build.out"
        results+=("qemu: build: FAIL (see $LOGS/build.out)")
        failed=1
        BUILD=failed
    fi
    # The image part of the size report (the whole report: $LOGS/build.out).
    if [ "$BUILD" != failed ]; then
        if grep -q '^initramfs' "$LOGS/build.out"; then
            sed -n '/^initramfs/,$p' "$LOGS/build.out"
        else
            cat "$LOGS/build.out"
        fi
    fi
fi

for s in smoke update-rollback dropin corrupt signed; do
    echo "== $s"
    out=$LOGS/$s.out
    if [ "$BUILD" = failed ] && [ "$s" != smoke ]; then
        results+=("qemu: $s: FAIL (not run: the build failed)")
        continue
    fi
    case $s in
    update-rollback)
        "$ROOT/qemu-run.sh" --no-build >"$out" 2>&1
        rc=$?
        sed -n '/^== summary/,$p' "$out"
        if [ "$rc" = 0 ]; then
            echo "qemu: update-rollback: ok ($(grep -c '^boot[0-9]* ' "$out") boots)" >>"$out"
        else
            echo "qemu: update-rollback: FAIL (see $out and $LOGS/qemu-run-*.log)" >>"$out"
        fi
        ;;
    *)
        "$HERE/$s.sh" >"$out" 2>&1
        rc=$?
        [ "$rc" = 0 ] || [ "$rc" = 77 ] || tail -n 15 "$out"
        ;;
    esac
    record "$s" "$rc" "$out"
done

echo
echo "== qemu scenarios ($(($(date +%s) - start)) s)"
printf '%s\n' "${results[@]}"
exit "$failed"
