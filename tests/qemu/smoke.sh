#!/bin/bash
# Scenario "smoke": the kernel/disk/qemu pipeline alone, without ramdisk.
# A busybox-only initramfs loads the virtio-blk + ext4 modules with busybox insmod, mounts
# /dev/vda and switch_roots into the disk's busybox system. Isolates kernel or qemu trouble from
# ramdisk bugs. ~3 s under TCG.
set -euo pipefail
SCENARIO=smoke
. "$(dirname "$0")/lib.sh"
need qemu-system-aarch64 mkfs.ext4 cpio depmod modprobe

W=$QDIR/run/smoke
rm -rf "$W"
mkdir -p "$W/initrd/bin" "$W/initrd/proc" "$W/initrd/sys" "$W/initrd/mnt"
eval "$("$QROOT/scripts/fetch-debian-arm64.sh" --print)"

"$QROOT/scripts/mkrootfs.sh" "$W/disk-src" smoke-factory --factory
mkfs.ext4 -q -F -L smoke -d "$W/disk-src" "$W/disk.img" 32M >/dev/null

cp "$BUSYBOX" "$W/initrd/bin/busybox"
for a in sh mount insmod switch_root cat echo; do ln -s busybox "$W/initrd/bin/$a"; done
cat >"$W/initrd/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko; do insmod "$ko" || echo "QEMU-ERROR: insmod $ko"; done </etc/modules.order
mount -t ext4 /dev/vda /mnt || { echo "QEMU-ERROR: mount /dev/vda failed"; exec sh; }
echo "QEMU-SMOKE: /dev/vda mounted"
umount /proc /sys /dev 2>/dev/null
exec switch_root /mnt /sbin/init
INIT
chmod 755 "$W/initrd/init"
"$QROOT/scripts/mkinitramfs.sh" "$W/initrd.cpio.gz" --stage "$W/initrd" \
    --modules "virtio_pci virtio_blk crc32c_generic ext4"

LOG=$QLOGS/smoke.log
rc=0
"$QROOT/scripts/boot.sh" --disk "$W/disk.img" --initramfs "$W/initrd.cpio.gz" --log "$LOG" --show none || rc=$?
[ "$rc" = 0 ] || fail "qemu exited with $rc (log: $LOG)"
bad=$(console_bad "$LOG")
[ -z "$bad" ] || fail "$bad (log: $LOG)"
has "$LOG" '^QEMU-SMOKE: /dev/vda mounted' || fail "no mount marker (log: $LOG)"
has "$LOG" '^QEMU-SYSTEM: smoke-factory init pid 1 ' || fail "disk system did not run as pid 1 (log: $LOG)"
has "$LOG" '^QEMU-FACTORY: smoke-factory' || fail "no factory marker (log: $LOG)"
echo "qemu: smoke: ok (busybox initramfs -> disk system; /init->system init $(init_to_system "$LOG") s, wall $(cat "$LOG.time") s)"
