#!/bin/bash
# Injected I/O errors during a deployment (issue 6, item 2).
#
# Usage: tests/ioerrors/run.sh [--keep]
#   Needs the initramfs + aarch64 binary of a build ($QEMU_DIR, default target/qemu; built with
#   `./qemu-run.sh --build-only` when missing). Disk: tests/powerloss/lib.sh (v1 deployed and
#   `current`, v2 on the ref), so every boot below tries to deploy v2.
#
# eio     1. probe: a copy of the disk boots once without errors; the blocks ext4 gives v2's
#            /bin/busybox are read from that copy with debugfs (allocation is deterministic
#            for the same image and workload).
#         2. the original disk boots behind QEMU's `blkdebug` driver, which fails the first
#            write touching the middle of those blocks with EIO (inject-error event=pwritev,
#            iotype=write, once=on). That write is the writeback of the checkout, before the
#            flip: init must report the failure (`ramdisk: can't ... Input/output error`), keep
#            `current` on v1 and boot v1.
#         3. on the host: e2fsck -fn clean, `current` -> v1 unchanged, no v2 deployment, no
#            leftovers; then one more boot without errors deploys v2.
# enospc  a disk whose free space (~1 MiB) is too small for v2's tree: init must report `No
#         space left on device`, keep `current` on v1, boot v1, and leave no leftovers.
# Prints one line per scenario and `ioerrors: ok (...)`; exit 1 on any failure.
# Console logs: $QEMU_DIR/logs/ioerrors-*.log. About 40 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../powerloss/lib.sh"

KEEP=0
[ "${1:-}" = --keep ] && KEEP=1

fail() { echo "ioerrors: FAIL: $*"; exit 1; }
for t in qemu-system-aarch64 mkfs.ext4 e2fsck debugfs dumpe2fs ostree python3; do
    command -v "$t" >/dev/null || { echo "ioerrors: skipped: '$t' not installed"; exit 77; }
done
qemu-system-aarch64 -M virt -drive format=help 2>/dev/null | grep -qw blkdebug ||
    { echo "ioerrors: skipped: this qemu has no blkdebug driver"; exit 77; }

[ "$(id -u)" = 0 ] || { echo "ioerrors: skipped: run as root (the image holds root-owned files)"; exit 77; }
T0=$(date +%s)
W=$PLQDIR/run/ioerrors
LOGS=$PLQDIR/logs
mkdir -p "$LOGS"
rm -rf "$W"
mkdir -p "$W"
pl_build

# after_boot NAME LOG IMG: the checks common to both scenarios (v1 booted, current unchanged).
after_boot() {
    local name=$1 log=$2 img=$3 bad cur
    bad=$(pl_console_bad "$log")
    [ -z "$bad" ] || fail "$name: $bad (log: $log)"
    grep -aq '^QEMU-SYSTEM: v1 init pid 1 ' "$log" || fail "$name: v1 did not boot (log: $log)"
    ! grep -aq "ramdisk: deployed $V2" "$log" || fail "$name: v2 was deployed despite the error (log: $log)"
    grep -aq "ramdisk: booting deployment $DEP1" "$log" || fail "$name: no 'booting deployment $DEP1' (log: $log)"
    e2fsck -E journal_only -y "$img" >/dev/null 2>&1 || true
    e2fsck -fn "$img" >"$W/$name-e2fsck.out" 2>&1 || fail "$name: e2fsck -fn reports errors (see $W/$name-e2fsck.out)"
    cur=$(pl_current "$img")
    [ "$cur" = "deploy/$DEP1" ] || fail "$name: ostree/current is '$cur', not 'deploy/$DEP1'"
    local listing
    listing=$(debugfs -R 'ls /ostree/deploy' "$img" 2>/dev/null; debugfs -R 'ls /ostree' "$img" 2>/dev/null)
    ! grep -q "$V2" <<<"$listing" || fail "$name: ostree/deploy still holds a v2 tree: $(grep -o "$V2[^ ]*" <<<"$listing" | head -n 1)"
    ! grep -q '\.tmp' <<<"$listing" || fail "$name: leftovers in ostree/: $(grep -o '[^ ]*\.tmp[^ ]*' <<<"$listing" | head -n 3 | tr '\n' ' ')"
}

# ---- eio ------------------------------------------------------------------------------------
pl_log "eio: disk (v1 current, v2 on the ref)"
pl_disk "$W"
cp "$W/base.img" "$W/probe.img"
PROBE=$LOGS/ioerrors-probe.log
rc=0
pl_boot_plain "$PROBE" "$W/probe.img" "" || rc=$?
[ "$rc" = 0 ] || fail "eio: probe boot: qemu exited with $rc (log: $PROBE)"
grep -aq "ramdisk: deployed $V2\.0" "$PROBE" || fail "eio: probe boot did not deploy v2 (log: $PROBE)"
e2fsck -E journal_only -y "$W/probe.img" >/dev/null 2>&1 || true
blocks=$(debugfs -R "blocks /ostree/deploy/$V2.0/bin/busybox" "$W/probe.img" 2>/dev/null)
set -- $blocks
[ $# -gt 16 ] || fail "eio: no data blocks for v2's /bin/busybox in the probe image"
shift $(($# / 2))
BS=$(dumpe2fs -h "$W/probe.img" 2>/dev/null | awk -F: '/^Block size:/ { gsub(/ /, "", $2); print $2 }')
SECTOR=$(($1 * BS / 512))
echo "eio: v2's /bin/busybox has $(wc -w <<<"$blocks") blocks; failing the first write of sector $SECTOR"

EIO=$LOGS/ioerrors-eio.log
# virtio-blk reports the error to the guest (werror=report) instead of pausing the VM.
drive=(-blockdev "{\"driver\":\"blkdebug\",\"node-name\":\"dbg\",
    \"image\":{\"driver\":\"file\",\"filename\":\"$W/base.img\"},
    \"inject-error\":[{\"event\":\"pwritev\",\"iotype\":\"write\",\"errno\":5,\"sector\":$SECTOR,\"once\":true}]}"
    -device virtio-blk-pci,drive=dbg,romfile=,werror=report)
rc=0
pl_qemu "$EIO" drive "" || rc=$?
[ "$rc" = 0 ] || fail "eio: qemu exited with $rc (log: $EIO)"
grep -aqE 'I/O error|Buffer I/O error|error 10 writing' "$EIO" || fail "eio: the injected error never hit (no kernel I/O error on the console; log: $EIO)"
why=$({ grep -aE "^ramdisk: can't .*(Input/output error|I/O error)" "$EIO" || true; } | head -n 1)
[ -n "$why" ] || fail "eio: init did not report the I/O error (log: $EIO)"
after_boot eio "$EIO" "$W/base.img"
echo "eio: $why"
EIO_TIME=$(cat "$EIO.time")

pl_log "eio: boot again without errors: v2 must deploy now"
AGAIN=$LOGS/ioerrors-eio-again.log
rc=0
pl_boot_plain "$AGAIN" "$W/base.img" "" || rc=$?
[ "$rc" = 0 ] || fail "eio: second boot: qemu exited with $rc (log: $AGAIN)"
grep -aq "ramdisk: deployed $V2\." "$AGAIN" || fail "eio: second boot did not deploy v2 (log: $AGAIN)"
grep -aq '^QEMU-SYSTEM: v2 init pid 1 ' "$AGAIN" || fail "eio: second boot did not boot v2 (log: $AGAIN)"
echo "ioerrors: eio: ok (write error at sector $SECTOR reported, current kept on v1, v1 booted; next boot deploys v2)"

# ---- enospc ---------------------------------------------------------------------------------
pl_log "enospc: disk with about 1 MiB free"
free_blocks() { dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Free blocks:/ { gsub(/ /, "", $2); print $2 }'; }
F=$W/enospc
mkdir -p "$F"
pl_disk "$F"
free=$(free_blocks "$F/base.img")
# Leave ~1 MiB usable: ext4 keeps 2% of the blocks (at most 4096) back for metadata
# (reserved_clusters) and fails new directories and files with ENOSPC inside that margin.
# v2's tree needs ~3 MiB (busybox alone is 1.8 MB), so the checkout fails part way.
resv=$(($(dumpe2fs -h "$F/base.img" 2>/dev/null | awk -F: '/^Block count:/ { print $2 + 0 }') / 50))
[ "$resv" -le 4096 ] || resv=4096
filler=$(((free - resv - 256 - 16) * 4096)) # pl_disk makes 4 KiB blocks
[ "$filler" -gt 0 ] || fail "enospc: the disk has only $free free blocks"
head -c "$filler" /dev/zero | tr '\0' 'x' >"$F/disk-src/filler"
mkfs.ext4 -q -F -b 4096 -m 0 -L powerloss -d "$F/disk-src" "$F/base.img" 64M >/dev/null
free=$(free_blocks "$F/base.img")
echo "enospc: $free free blocks (4 KiB) left"
[ "$free" -lt $((resv + 512)) ] || fail "enospc: $free blocks free, expected < $((resv + 512))"
NOSPC=$LOGS/ioerrors-enospc.log
rc=0
pl_boot_plain "$NOSPC" "$F/base.img" "" || rc=$?
[ "$rc" = 0 ] || fail "enospc: qemu exited with $rc (log: $NOSPC)"
why=$({ grep -aE "^ramdisk: can't .*No space left on device" "$NOSPC" || true; } | head -n 1)
[ -n "$why" ] || fail "enospc: init did not report 'No space left on device' (log: $NOSPC)"
after_boot enospc "$NOSPC" "$F/base.img"
echo "enospc: $why"
echo "ioerrors: enospc: ok (out of space reported, current kept on v1, v1 booted, leftovers removed)"

[ "$KEEP" = 1 ] || rm -rf "$W"
echo "ioerrors: ok (2 scenarios: eio, enospc; $(($(date +%s) - T0)) s)"
