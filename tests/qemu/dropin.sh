#!/bin/bash
# Scenario "dropin": existing initramfs scripts keep working with ramdisk's applets.
# /init is scripts/dropin-init.sh (busybox sh): mount proc/sys, modprobe, mknod the disk from
# /sys/class/block/vda/dev, mount, `ostree rev-parse/log/checkout`, mv, mount --bind/--move,
# switch_root — all of those are ramdisk applets (the image is the size-report initramfs plus
# busybox for sh and the helpers). The system checked out (v1) must run as pid 1. ~4 s under TCG.
#
# Needs the initramfs + aarch64 binary of a build: `./qemu-run.sh --build-only` (run-all.sh does it).
set -euo pipefail
SCENARIO=dropin
. "$(dirname "$0")/lib.sh"
need qemu-system-aarch64 mkfs.ext4 cpio ostree qemu-aarch64-static

BASE=$QDIR/initramfs.cpio.gz
RD=$QDIR/ramdisk
[ -f "$BASE" ] && [ -x "$RD" ] || fail "no build under $QDIR: run ./qemu-run.sh --build-only first"

W=$QDIR/run/dropin
rm -rf "$W"
mkdir -p "$W/stage/bin"
eval "$("$QROOT/scripts/fetch-debian-arm64.sh" --print)"

# Busybox for sh and the helpers only: never shadow one of ramdisk's applets.
applets=" $(qemu-aarch64-static "$RD" --list | tr '\n' ' ') "
for a in mount mknod mv ostree switch_root modprobe; do
    case $applets in *" $a "*) ;; *) fail "ramdisk has no '$a' applet" ;; esac
done
cp "$BUSYBOX" "$W/stage/bin/busybox"
for a in sh cat echo mkdir rm sleep ls poweroff; do
    case $applets in *" $a "*) continue ;; esac
    ln -s busybox "$W/stage/bin/$a"
done
install -m 755 "$QROOT/scripts/dropin-init.sh" "$W/stage/init"
"$QROOT/scripts/mkinitramfs.sh" "$W/initrd.cpio.gz" --base "$BASE" --stage "$W/stage"
# The image really runs ramdisk's applets: bin/mount etc. are links to bin/ramdisk.
listing=$(gzip -dc "$W/initrd.cpio.gz" | cpio --quiet -itv)
for a in mount mknod mv ostree switch_root modprobe; do
    grep -qE " (s?bin/)?$a -> (\.\./bin/|bin/)?ramdisk$" <<<"$listing" || fail "bin/$a is not a link to ramdisk"
done

# Disk: an archive-z2 repo with commit v1 of the busybox test system, no deployment.
"$QROOT/scripts/mkrootfs.sh" "$W/tree" v1 --confirm --ramdisk "$RD"
mkdir -p "$W/disk-src/ostree"
ostree --repo="$W/disk-src/ostree/repo" init --mode=archive-z2
ostree --repo="$W/disk-src/ostree/repo" commit --branch=master --owner-uid=0 --owner-gid=0 \
    --subject="dropin test v1" --tree=dir="$W/tree" >/dev/null
REV=$(ostree --repo="$W/disk-src/ostree/repo" rev-parse master)
mkfs.ext4 -q -F -L dropin -d "$W/disk-src" "$W/disk.img" 64M >/dev/null

LOG=$QLOGS/dropin.log
rc=0
"$QROOT/scripts/boot.sh" --disk "$W/disk.img" --initramfs "$W/initrd.cpio.gz" --log "$LOG" --show none \
    --append "qemutest.nodeploy" || rc=$?
[ "$rc" = 0 ] || fail "qemu exited with $rc (log: $LOG)"
bad=$(console_bad "$LOG")
[ -z "$bad" ] || fail "$bad (log: $LOG)"
has "$LOG" '^QEMU-DROPIN: /init script running as pid 1$' || fail "the /init script did not run (log: $LOG)"
has "$LOG" '^QEMU-DROPIN: mknod /dev/vda b [0-9]+ [0-9]+$' || fail "no mknod marker (log: $LOG)"
has "$LOG" "^QEMU-DROPIN: master is $REV\$" || fail "ostree rev-parse did not give $REV (log: $LOG)"
has "$LOG" "^commit $REV" || fail "ostree log did not show commit $REV (log: $LOG)"
has "$LOG" 'dropin test v1' || fail "ostree log did not show the subject (log: $LOG)"
has "$LOG" "^QEMU-DROPIN: checked out $REV\$" || fail "no checkout marker (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: v1 init pid 1 ' || fail "the checked-out system did not run as pid 1 (log: $LOG)"
has "$LOG" '^QEMU-NODEPLOY: v1' || fail "the checked-out system did not finish (log: $LOG)"
# The checkout on disk equals the tree that was committed (contents, modes, links), via debugfs.
mkdir -p "$W/dump"
debugfs -R "rdump /ostree/deploy/dropin.$REV $W/dump" "$W/disk.img" >/dev/null 2>&1 ||
    fail "debugfs rdump of the deployment failed"
diff -r --no-dereference "$W/tree" "$W/dump/dropin.$REV" >/dev/null || fail "deployment differs from the committed tree"
# Modes from debugfs itself (rdump drops the sticky bit of /tmp): type + permission bits.
(cd "$W/tree" && find . -mindepth 1 | LC_ALL=C sort) >"$W/paths"
sed "s|^\.|stat /ostree/deploy/dropin.$REV|" "$W/paths" >"$W/stat.cmds"
debugfs -f "$W/stat.cmds" "$W/disk.img" 2>/dev/null |
    sed -n 's/^Inode: [0-9]*  *Type: \([a-z]*\)  *Mode:  *0*\([0-7]*\) .*/\1 \2/p' >"$W/modes.disk"
while read -r p; do
    t=$(stat -c %F "$W/tree/$p")
    case $t in directory) t=directory ;; "symbolic link") t=symlink ;; *) t=regular ;; esac
    echo "$t $(stat -c %a "$W/tree/$p")"
done <"$W/paths" >"$W/modes.tree"
diff "$W/modes.tree" "$W/modes.disk" >"$W/modes.diff" ||
    fail "deployment modes differ from the committed tree (see $W/modes.diff)"
echo "qemu: dropin: ok (script /init -> ramdisk ostree checkout + switch_root -> v1; /init->system init $(init_to_system "$LOG") s, wall $(cat "$LOG.time") s)"
