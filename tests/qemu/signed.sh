#!/bin/bash
# Scenario "signed": an initramfs with a trusted ed25519 key deploys only signed commits (issue 8).
# The initramfs of the build plus /etc/ostree/trusted.ed25519. Boot 1 deploys v1 (signed).
# Commit v2 (unsigned) is pushed into the image's repo: boot 2 must say
# `ramdisk: refusing XXXX…YY: unsigned` and keep booting v1. v2 is then signed with the
# trusted key: boot 3 deploys and boots it. ~15 s under TCG.
#
# Needs the initramfs + aarch64 binary of a build (`./qemu-run.sh --build-only`, run-all.sh does
# it) and a host build with `ostree keygen`/`sign`: $RAMDISK_PULL_BIN, else target/pull/debug/ramdisk
# (`cargo build -p ramdisk-bin --features pull --target-dir target/pull`).
set -euo pipefail
SCENARIO=signed
. "$(dirname "$0")/lib.sh"
need qemu-system-aarch64 mkfs.ext4 debugfs e2fsck ostree cpio

INITRD=$QDIR/initramfs.cpio.gz
RD=$QDIR/ramdisk
[ -f "$INITRD" ] && [ -x "$RD" ] || fail "no build under $QDIR: run ./qemu-run.sh --build-only first"
SIGNER=${RAMDISK_PULL_BIN:-$QROOT/target/pull/debug/ramdisk}
if ! [ -x "$SIGNER" ] || ! "$SIGNER" ostree keygen >/dev/null 2>&1; then
    echo "qemu: signed: skipped: no host ramdisk with 'ostree keygen' at $SIGNER (set RAMDISK_PULL_BIN)"
    exit 77
fi

W=$QDIR/run/signed
rm -rf "$W"
mkdir -p "$W/stage/etc/ostree"
"$SIGNER" ostree keygen >"$W/key"
sed -n 2p "$W/key" >"$W/stage/etc/ostree/trusted.ed25519"
SECRET=$(sed -n 1p "$W/key")
"$QROOT/scripts/mkinitramfs.sh" "$W/initramfs.cpio.gz" --base "$INITRD" --stage "$W/stage"

"$QROOT/scripts/mkrootfs.sh" "$W/disk-src" factory --factory
"$QROOT/scripts/mkrootfs.sh" "$W/tree-v1" v1 --confirm --ramdisk "$RD"
"$QROOT/scripts/mkrootfs.sh" "$W/tree-v2" v2 --confirm --ramdisk "$RD"
R=$W/disk-src/ostree/repo
mkdir -p "$W/disk-src/ostree"
ostree --repo="$R" init --mode=archive-z2
ostree --repo="$R" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v1 --tree=dir="$W/tree-v1" >/dev/null
"$SIGNER" ostree --repo="$R" sign master "$SECRET"
mkfs.ext4 -q -F -L signed -d "$W/disk-src" "$W/disk.img" 64M >/dev/null
touch "$W/stamp"

boot() { # boot N: one boot, console in $LOG
    LOG=$QLOGS/signed-boot$1.log
    local rc=0
    "$QROOT/scripts/boot.sh" --disk "$W/disk.img" --initramfs "$W/initramfs.cpio.gz" --log "$LOG" \
        --show none --append "ramdisk.panic=reboot ramdisk.trials=0" || rc=$?
    [ "$rc" = 0 ] || fail "boot $1: qemu exited with $rc (log: $LOG)"
    local bad
    bad=$(console_bad "$LOG")
    [ -z "$bad" ] || fail "boot $1: $bad (log: $LOG)"
}

boot 1
has "$LOG" 'ramdisk: 1 trusted key: updates must be signed' || fail "boot 1: keys not loaded (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: v1 init pid 1 ' || fail "boot 1: v1 did not boot (log: $LOG)"
DEP1=$({ grep -aE 'ramdisk: booting deployment ' "$LOG" || true; } | tail -n 1 | sed 's/.*booting deployment \([^ ]*\).*/\1/')
[ -n "$DEP1" ] || fail "boot 1: no 'ramdisk: booting deployment' line (log: $LOG)"

sleep 1 # mtime granularity for disk-push
ostree --repo="$R" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v2 --tree=dir="$W/tree-v2" >/dev/null
V2=$(ostree --repo="$R" rev-parse master)
"$QROOT/scripts/disk-push.sh" "$W/disk.img" "$R" /ostree/repo "$W/stamp" refs/heads/master

boot 2
has "$LOG" "ramdisk: refusing ${V2:0:4}…${V2:62}: unsigned" || fail "boot 2: unsigned v2 not refused (log: $LOG)"
! has "$LOG" "ramdisk: deployed $V2" || fail "boot 2: the unsigned commit was deployed (log: $LOG)"
has "$LOG" "ramdisk: booting deployment $DEP1" || fail "boot 2: v1 ($DEP1) not booted (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: v1 init pid 1 ' || fail "boot 2: v1 did not run (log: $LOG)"

touch "$W/stamp2"
sleep 1
"$SIGNER" ostree --repo="$R" sign master "$SECRET"
"$QROOT/scripts/disk-push.sh" "$W/disk.img" "$R" /ostree/repo "$W/stamp2"

boot 3
has "$LOG" "ramdisk: deployed $V2" || fail "boot 3: the signed v2 was not deployed (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: v2 init pid 1 ' || fail "boot 3: v2 did not run (log: $LOG)"
e2fsck -E journal_only -y "$W/disk.img" >/dev/null 2>&1 || true
e2fsck -fn "$W/disk.img" >/dev/null 2>&1 || fail "e2fsck -fn reports errors after boot 3"
echo "qemu: signed: ok (unsigned v2 refused with v1 kept, signed v2 deployed; wall $(cat "$QLOGS/signed-boot1.log.time") + $(cat "$QLOGS/signed-boot2.log.time") + $(cat "$LOG.time") s)"
