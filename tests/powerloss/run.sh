#!/bin/bash
# Power-loss harness (issue 6; method: docs reliability.md §6).
#
# Usage: tests/powerloss/run.sh [--subsets N] [--sample K] [--keep]
#   Needs the initramfs + aarch64 binary of a build ($QEMU_DIR, default target/qemu:
#   initramfs.cpio.gz and ramdisk, made by `./qemu-run.sh --build-only`, which this script runs
#   when they are missing).
#
# 1. Disk (tests/powerloss/lib.sh): /ostree/repo with commits v1 and v2, v1 deployed and
#    `current`; so the boot deploys v2 (trial on).
# 2. Record: one boot under qemu-system-aarch64 with the disk behind QEMU's `blklogwrites`
#    driver. init deploys v2 and switches into it; v2's /sbin/init idles 7 s (jbd2's commit timer
#    fires before writeback) and cuts the power (`poweroff -f -n`).
# 3. Crash states (crashstates.py): for every flush epoch, every in-order prefix of its writes
#    and --subsets seeded random subsets of its 4 KiB blocks; each state checked with e2fsck -fy,
#    e2fsck -fn and debugfs: `ostree/current` (and `previous`) name a deployment whose whole tree
#    equals commit v1 or v2 (paths, types, modes, owners, symlink targets, SHA-256 of files).
# 4. Boots K sampled states (half with `*.tmp*` leftovers) with the same initramfs: the board
#    must come up on v1 or v2, and afterwards the image must be clean with no leftovers and
#    `current` naming a complete tree.
# Prints `powerloss: N crash states, 0 bad (...)` and `powerloss: ok (...)`; exit 1 on any bad
# state or failed boot. About 2 minutes on 2 cores. Work files: $QEMU_DIR/run/powerloss
# (removed on success unless --keep), console logs: $QEMU_DIR/logs/powerloss-*.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

SUBSETS=8 SAMPLE=6 KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --subsets) SUBSETS=$2; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "powerloss: unknown option '$1'" >&2; exit 2 ;;
    esac
done

fail() { echo "powerloss: FAIL: $*"; exit 1; }
for t in qemu-system-aarch64 mkfs.ext4 e2fsck debugfs ostree python3; do
    command -v "$t" >/dev/null || { echo "powerloss: skipped: '$t' not installed"; exit 77; }
done
qemu-system-aarch64 -M virt -drive format=help 2>/dev/null | grep -qw blklogwrites ||
    { echo "powerloss: skipped: this qemu has no blklogwrites driver"; exit 77; }

T0=$(date +%s)
W=$PLQDIR/run/powerloss
LOGS=$PLQDIR/logs
mkdir -p "$LOGS"
rm -rf "$W"
mkdir -p "$W"
# Crash-state images live on tmpfs when there is room (64 MiB each, two at a time + samples).
SHM=/dev/shm
[ -d "$SHM" ] && [ -w "$SHM" ] || SHM=$W
STATES=$(mktemp -d "$SHM/powerloss.XXXXXX")
trap 'rm -rf "$STATES"' EXIT

pl_build
pl_log "disk: repo with v1 (deployed, current) and v2"
pl_disk "$W"
echo "v1 = $V1"
echo "v2 = $V2"
ostree --repo="$W/disk-src/ostree/repo" checkout "$V1" "$W/exp-v1"
ostree --repo="$W/disk-src/ostree/repo" checkout "$V2" "$W/exp-v2"

pl_log "record: boot with the disk behind blklogwrites (deploys v2, idles 7 s, power cut)"
cp "$W/base.img" "$W/disk.img"
truncate -s 256M "$W/log.bin"
drive=(-blockdev "driver=file,node-name=base,filename=$W/disk.img,cache.no-flush=on"
    -blockdev "driver=file,node-name=logf,filename=$W/log.bin,cache.no-flush=on"
    -blockdev driver=blklogwrites,node-name=lw,file=base,log=logf,log-sector-size=512
    -device virtio-blk-pci,drive=lw,romfile=)
REC=$LOGS/powerloss-record.log
rc=0
pl_qemu "$REC" drive "powerloss.record" || rc=$?
[ "$rc" = 0 ] || fail "record boot: qemu exited with $rc (log: $REC)"
bad=$(pl_console_bad "$REC")
[ -z "$bad" ] || fail "record boot: $bad (log: $REC)"
grep -aq "ramdisk: deployed $V2\." "$REC" || fail "record boot: v2 was not deployed (log: $REC)"
grep -aq '^QEMU-POWERCUT: v2' "$REC" || fail "record boot: v2 did not run to the power cut (log: $REC)"
echo "record boot: $(cat "$REC.time") s"

pl_log "crash states: generate and check (e2fsck -fy, e2fsck -fn, debugfs)"
rc=0
python3 "$HERE/crashstates.py" --base "$W/base.img" --log "$W/log.bin" \
    --commit "$V1=$W/exp-v1" --commit "$V2=$W/exp-v2" --expect-final "$V2" \
    --selftest usr/share/powerloss/f00 \
    --work "$STATES/work" --subsets "$SUBSETS" --jobs 2 \
    --sample "$SAMPLE" --sample-dir "$STATES/sample" | tee "$W/states.out" || rc=$?
SUMMARY=$(grep '^powerloss: ' "$W/states.out" | tail -n 1)
[ "$rc" = 0 ] || fail "bad crash states (see above; work files in $W)"

pl_log "boots of $SAMPLE sampled crash states"
n=0
while read -r img cur left what; do
    n=$((n + 1))
    log=$LOGS/powerloss-state$n.log
    rc=0
    pl_boot_plain "$log" "$img" "" || rc=$?
    why=
    [ "$rc" = 0 ] || why="qemu exited with $rc"
    bad=$(pl_console_bad "$log")
    [ -z "$bad" ] || why="${why:+$why; }$bad"
    sys=$({ grep -aoE '^QEMU-SYSTEM: v[12] ' "$log" || true; } | head -n 1 | awk '{ print $2 }')
    [ -n "$sys" ] || why="${why:+$why; }no test system (v1 or v2) came up"
    e2fsck -E journal_only -y "$img" >/dev/null 2>&1 || true
    e2fsck -fn "$img" >/dev/null 2>&1 || why="${why:+$why; }e2fsck -fn not clean after the boot"
    left_after=$({ debugfs -R 'ls /ostree/deploy' "$img" 2>/dev/null; debugfs -R 'ls /ostree' "$img" 2>/dev/null; } |
        grep -o '[^ ]*\.tmp[^ ]*' || true)
    [ -z "$left_after" ] || why="${why:+$why; }leftovers after the boot: $left_after"
    now=$(pl_current "$img")
    case $now in
    "deploy/$V1".* | "deploy/$V2".*) ;;
    *) why="${why:+$why; }current -> '$now' after the boot" ;;
    esac
    [ "$sys" != v2 ] || case $now in "deploy/$V2".*) ;; *) why="${why:+$why; }v2 booted but current -> '$now'" ;; esac
    printf '  state %-36s current %s…  leftovers %s  -> booted %-2s  %s s  %s\n' "$(basename "$img" .img) ($what)" \
        "${cur:0:12}" "$left" "${sys:-?}" "$(cat "$log.time")" "${why:-ok}"
    [ -z "$why" ] || fail "sampled crash state $img: $why (log: $log)"
    rm -f "$img"
done <"$STATES/sample/states.txt"
[ "$n" -gt 0 ] || [ "$SAMPLE" = 0 ] || fail "no sampled states to boot"

echo "$SUMMARY"
[ "$KEEP" = 1 ] || rm -rf "$W"
echo "powerloss: ok (${SUMMARY#powerloss: }; $n sampled states booted; $(($(date +%s) - T0)) s)"
