#!/bin/bash
# Power-loss harness (issue 6; method: docs reliability.md §6).
#
# Usage: tests/powerloss/run.sh [--subsets N] [--sample K] [--keep]   (defaults: 8, 4)
#   Needs the initramfs + aarch64 binary of a build ($QEMU_DIR, default target/qemu:
#   initramfs.cpio.gz and ramdisk, made by `./qemu-run.sh --build-only`, which this script runs
#   when they are missing).
#
# 1. Disk (tests/powerloss/lib.sh): /ostree/repo with commits v1 and v2, v1 deployed and
#    `current`; so the boot deploys v2 (trial on).
# 2. Record, two scenarios, each one boot under qemu-system-aarch64 with the disk behind QEMU's
#    `blklogwrites` driver; the system that comes up idles 7 s (jbd2's commit timer fires before
#    writeback) and cuts the power (`poweroff -f -n`: no sync, no unmount):
#      update    init deploys v2 over v1 and switches into it;
#      rollback  the update's final disk with v2's trial set to 0 boots left: init flips
#                `current` back to v1 (state/failed, previous and trial rewritten).
# 3. Crash states (crashstates.py): for every flush epoch, every in-order prefix of its writes
#    and --subsets seeded random subsets of its 4 KiB blocks; each state checked with e2fsck -fy,
#    e2fsck -fn and debugfs: `ostree/current` (and `previous`) name a deployment whose whole tree
#    equals commit v1 or v2 (paths, types, modes, owners, symlink targets, SHA-256 of files).
#    The final state must name v2 (update) / v1 (rollback). State files per `current`: update:
#    on v2, state/trial names v2 and previous -> v1; rollback: on v2, trial "v2 0" and previous
#    -> v1, on v1, state/failed names v2. A self-test drops a new file's data
#    blocks from the update's final state and requires the checker to flag it.
# 4. Boots K sampled states per scenario (half with `*.tmp*` leftovers) with the same initramfs:
#    the board must come up on v1 or v2, and afterwards the image must be clean with no
#    leftovers and `current` naming a complete tree (the one that booted).
# Prints `powerloss: N crash states, 0 bad` and `powerloss: ok (...)`; exit 1 on any bad state
# or failed boot (77 = skipped: a tool is missing). About 2.5 minutes on 2 cores. Work files:
# $QEMU_DIR/run/powerloss (removed on success unless --keep); crash-state images on /dev/shm;
# console logs: $QEMU_DIR/logs/powerloss-*.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

SUBSETS=8 SAMPLE=4 KEEP=0
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

[ "$(id -u)" = 0 ] || { echo "powerloss: skipped: run as root (the image holds root-owned files)"; exit 77; }
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

# record NAME BASE: one boot of a copy of BASE behind blklogwrites, console and log in $W/NAME*.
record() {
    local name=$1 base=$2 rc=0 bad
    cp "$base" "$W/$name-disk.img"
    rm -f "$W/$name-log.bin"
    truncate -s 256M "$W/$name-log.bin"
    local drive=(-blockdev "driver=file,node-name=base,filename=$W/$name-disk.img,cache.no-flush=on"
        -blockdev "driver=file,node-name=logf,filename=$W/$name-log.bin,cache.no-flush=on"
        -blockdev driver=blklogwrites,node-name=lw,file=base,log=logf,log-sector-size=512
        -device virtio-blk-pci,drive=lw,romfile=)
    REC=$LOGS/powerloss-$name-record.log
    pl_qemu "$REC" drive "powerloss.record" || rc=$?
    [ "$rc" = 0 ] || fail "$name: record boot: qemu exited with $rc (log: $REC)"
    bad=$(pl_console_bad "$REC")
    [ -z "$bad" ] || fail "$name: record boot: $bad (log: $REC)"
    grep -aq '^QEMU-POWERCUT: ' "$REC" || fail "$name: record boot: no system ran to the power cut (log: $REC)"
    echo "$name: record boot $(cat "$REC.time") s"
}

# states NAME BASE EXPECT_FINAL [crashstates.py args]: generate and check the crash states.
TOTAL=0
states() {
    local name=$1 base=$2 final=$3 rc=0
    shift 3
    pl_log "$name: crash states (e2fsck -fy, e2fsck -fn, debugfs)"
    python3 "$HERE/crashstates.py" --base "$base" --log "$W/$name-log.bin" \
        --commit "$V1=$W/exp-v1" --commit "$V2=$W/exp-v2" --expect-final "$final" \
        --work "$STATES/work" --subsets "$SUBSETS" --jobs 2 \
        --sample "$SAMPLE" --sample-dir "$STATES/sample-$name" "$@" | tee "$W/$name-states.out" | sed "s/^/$name: /" || rc=$?
    [ "$rc" = 0 ] || fail "$name: bad crash states (see above; work files in $W)"
    local n
    n=$(sed -n 's/^powerloss: \([0-9]*\) crash states.*/\1/p' "$W/$name-states.out")
    TOTAL=$((TOTAL + n))
}

# boot_samples NAME: boots the sampled states; each must come up on v1 or v2 and clean up.
BOOTED=0
boot_samples() {
    local name=$1 img cur left what log rc why bad sys left_after now
    [ -f "$STATES/sample-$name/states.txt" ] || return 0
    pl_log "$name: boots of sampled crash states"
    while read -r img cur left what; do
        BOOTED=$((BOOTED + 1))
        log=$LOGS/powerloss-state$BOOTED.log
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
        case $sys:$now in
        v1:"deploy/$V1".* | v2:"deploy/$V2".* | :*) ;;
        *) why="${why:+$why; }$sys booted but current -> '$now'" ;;
        esac
        printf '%s: %-44s current %s…  leftovers %s  -> booted %-2s  %6s s  %s\n' "$name" \
            "$(basename "$img" .img) ($what)" "${cur:0:12}" "$left" "${sys:-?}" "$(cat "$log.time")" "${why:-ok}"
        [ -z "$why" ] || fail "$name: sampled crash state $img: $why (log: $log)"
        rm -f "$img"
    done <"$STATES/sample-$name/states.txt"
}

# ---- update: v2 is deployed over v1 ----------------------------------------------------------
pl_log "update: record (deploys v2, idles 7 s, power cut)"
record update "$W/base.img"
grep -aq "ramdisk: deployed $V2\." "$REC" || fail "update: record boot: v2 was not deployed (log: $REC)"
# Once current names v2: v2 is on trial (3 boots, 2 after this boot's count) and previous -> v1.
states update "$W/base.img" "$V2" --selftest usr/share/powerloss/f00 \
    --when-current "$V2" /ostree/state/trial "$V2\.0 [23]\n" \
    --when-current "$V2" /ostree/previous "deploy/$DEP1"
boot_samples update

# ---- rollback: v2 on trial with no boots left, init flips current back to v1 -----------------
pl_log "rollback: record (v2's trial exhausted: rolls back to v1, idles 7 s, power cut)"
cp "$W/update-disk.img" "$W/rollback-base.img"
e2fsck -E journal_only -y "$W/rollback-base.img" >/dev/null 2>&1 || true
e2fsck -fn "$W/rollback-base.img" >/dev/null 2>&1 || fail "rollback: the recorded update's final image is not clean"
DEP2=$(pl_current "$W/rollback-base.img")
DEP2=${DEP2#deploy/}
printf '%s 0\n' "$DEP2" >"$W/trial0"
debugfs -w -R 'rm /ostree/state/trial' "$W/rollback-base.img" >/dev/null 2>&1
debugfs -w -R "write $W/trial0 /ostree/state/trial" "$W/rollback-base.img" >/dev/null 2>&1
[ "$(debugfs -R 'cat /ostree/state/trial' "$W/rollback-base.img" 2>/dev/null)" = "$DEP2 0" ] ||
    fail "rollback: could not write state/trial into the image"
record rollback "$W/rollback-base.img"
grep -aq "ramdisk: rolled back to $DEP1 (from $DEP2)" "$REC" || fail "rollback: record boot: no rollback to v1 (log: $REC)"
# Before the flip v2 keeps its exhausted trial and previous -> v1; once current names v1 again,
# state/failed names v2 (so it is not redeployed).
states rollback "$W/rollback-base.img" "$V1" \
    --when-current "$V2" /ostree/state/trial "$DEP2 0\n" \
    --when-current "$V2" /ostree/previous "deploy/$DEP1" \
    --when-current "$V1" /ostree/state/failed "$DEP2\n"
boot_samples rollback

# The log's shape varies a little with the guest's timing; far fewer states means the recording
# no longer covers the update (e.g. the deployment got skipped).
[ "$TOTAL" -ge 100 ] || fail "only $TOTAL crash states in all (expected at least 100)"
echo "powerloss: $TOTAL crash states, 0 bad"
[ "$KEEP" = 1 ] || rm -rf "$W"
echo "powerloss: ok (update + rollback recorded; $TOTAL crash states, 0 bad; $BOOTED sampled states booted; $(($(date +%s) - T0)) s)"
