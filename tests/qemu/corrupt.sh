#!/bin/bash
# Scenario "corrupt": a new commit whose repo holds a substituted object is refused at boot.
# Boot 1 deploys v1. Then commit v2 is added to the image's repo with one of its new content
# objects overwritten by another valid object (the real `ostree checkout` accepts that silently,
# docs/testing-on-qemu.md §3.4). Boot 2 must report the checksum mismatch, not deploy v2, and
# keep booting v1; on disk `ostree/current` must still name v1. ~10 s under TCG.
#
# Needs the initramfs + aarch64 binary of a build: `./qemu-run.sh --build-only` (run-all.sh does it).
set -euo pipefail
SCENARIO=corrupt
. "$(dirname "$0")/lib.sh"
need qemu-system-aarch64 mkfs.ext4 debugfs e2fsck ostree

INITRD=$QDIR/initramfs.cpio.gz
RD=$QDIR/ramdisk
[ -f "$INITRD" ] && [ -x "$RD" ] || fail "no build under $QDIR: run ./qemu-run.sh --build-only first"

W=$QDIR/run/corrupt
rm -rf "$W"
mkdir -p "$W"
"$QROOT/scripts/mkrootfs.sh" "$W/disk-src" factory --factory
"$QROOT/scripts/mkrootfs.sh" "$W/tree-v1" v1 --confirm --ramdisk "$RD"
"$QROOT/scripts/mkrootfs.sh" "$W/tree-v2" v2 --confirm --ramdisk "$RD"
R=$W/disk-src/ostree/repo
mkdir -p "$W/disk-src/ostree"
ostree --repo="$R" init --mode=archive-z2
ostree --repo="$R" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v1 --tree=dir="$W/tree-v1" >/dev/null
mkfs.ext4 -q -F -L corrupt -d "$W/disk-src" "$W/disk.img" 64M >/dev/null
touch "$W/stamp"

boot() { # boot N: one boot, console in $LOG
    LOG=$QLOGS/corrupt-boot$1.log
    local rc=0
    "$QROOT/scripts/boot.sh" --disk "$W/disk.img" --initramfs "$INITRD" --log "$LOG" --show none \
        --append "ramdisk.panic=reboot" || rc=$?
    [ "$rc" = 0 ] || fail "boot $1: qemu exited with $rc (log: $LOG)"
    local bad
    bad=$(console_bad "$LOG")
    [ -z "$bad" ] || fail "boot $1: $bad (log: $LOG)"
}

boot 1
has "$LOG" '^QEMU-SYSTEM: v1 init pid 1 ' || fail "boot 1: v1 did not boot (log: $LOG)"
has "$LOG" '^QEMU-CONFIRMED: v1' || fail "boot 1: v1 not confirmed (log: $LOG)"
DEP1=$({ grep -aE 'ramdisk: booting deployment ' "$LOG" || true; } | tail -n 1 | sed 's/.*booting deployment \([^ ]*\).*/\1/')
[ -n "$DEP1" ] || fail "boot 1: no 'ramdisk: booting deployment' line (log: $LOG)"

sleep 1 # mtime granularity for disk-push
ostree --repo="$R" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v2 --tree=dir="$W/tree-v2" >/dev/null
V2=$(ostree --repo="$R" rev-parse master)
# Substitute one new content object (v2's /sbin/init or os-release) with an older valid one.
victim=$(find "$R/objects" -name '*.filez' -newer "$W/stamp" | LC_ALL=C sort | head -n 1)
donor=$(find "$R/objects" -name '*.filez' ! -newer "$W/stamp" | LC_ALL=C sort | head -n 1)
[ -n "$victim" ] && [ -n "$donor" ] || fail "no new content object in commit v2"
cp "$donor" "$victim"
touch "$victim"
obj=$(basename "$(dirname "$victim")")$(basename "$victim" .filez)
"$QROOT/scripts/disk-push.sh" "$W/disk.img" "$R" /ostree/repo "$W/stamp" refs/heads/master

boot 2
has "$LOG" "ramdisk: .*checksum mismatch \\(expected $obj" ||
    fail "boot 2: no checksum mismatch reported for object $obj (log: $LOG)"
! has "$LOG" "ramdisk: deployed $V2" || fail "boot 2: the corrupted commit was deployed (log: $LOG)"
has "$LOG" "ramdisk: booting deployment $DEP1" || fail "boot 2: v1 ($DEP1) not booted (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: v1 init pid 1 ' || fail "boot 2: v1 did not run (log: $LOG)"
e2fsck -E journal_only -y "$W/disk.img" >/dev/null 2>&1 || true
e2fsck -fn "$W/disk.img" >/dev/null 2>&1 || fail "e2fsck -fn reports errors after boot 2"
# `current` -> deploy/<64 hex>.<n> is longer than a fast symlink: debugfs cat prints its block.
debugfs -R 'stat /ostree/current' "$W/disk.img" 2>/dev/null | grep -q 'Type: symlink' || fail "ostree/current is not a symlink"
cur=$(debugfs -R 'cat /ostree/current' "$W/disk.img" 2>/dev/null | tr -d '\0')
[ "$cur" = "deploy/$DEP1" ] || fail "ostree/current is '$cur', expected 'deploy/$DEP1'"
if debugfs -R 'ls /ostree/deploy' "$W/disk.img" 2>/dev/null | grep -qE "(^|[[:space:]])$V2\.[0-9]+([[:space:]]|$)"; then
    fail "a complete deployment of the corrupted commit exists in ostree/deploy"
fi
echo "qemu: corrupt: ok (substituted object $obj refused, v1 kept; wall $(cat "$QLOGS/corrupt-boot1.log.time") + $(cat "$LOG.time") s)"
