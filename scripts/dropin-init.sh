#!/bin/sh
# A classic initramfs /init of the kind boards use today (busybox sh driving the tools by name).
# In the drop-in test (tests/qemu/dropin.sh) mount, mknod, mv, modprobe, ostree and switch_root
# are ramdisk's applets; busybox provides only sh and the small helpers (cat, echo, mkdir, ...).
# Markers: "QEMU-DROPIN: ..." for each step, "QEMU-ERROR: ..." on failure (then power off).
export PATH=/bin:/sbin
repo=/sysroot/ostree/repo
ref=master

fail() {
    echo "QEMU-ERROR: dropin: $*"
    exec busybox poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
echo "QEMU-DROPIN: /init script running as pid $$"

for m in virtio_pci virtio_blk crc32c_generic ext4; do
    modprobe "$m" || fail "modprobe $m"
done

# No devtmpfs here: make the node from the numbers the kernel publishes.
n=0
while [ ! -e /sys/class/block/vda/dev ]; do
    n=$((n + 1))
    [ $n -le 50 ] || fail "no /sys/class/block/vda after 5 s"
    sleep 0.1
done
IFS=: read -r major minor </sys/class/block/vda/dev
mknod -m 600 /dev/vda b "$major" "$minor" || fail "mknod /dev/vda b $major $minor"
echo "QEMU-DROPIN: mknod /dev/vda b $major $minor"

mkdir -p /sysroot
mount -t ext4 -o rw,noatime /dev/vda /sysroot || fail "mount /dev/vda"
echo "QEMU-DROPIN: mounted /dev/vda on /sysroot"

rev=$(ostree --repo=$repo rev-parse $ref) || fail "ostree rev-parse $ref"
echo "QEMU-DROPIN: $ref is $rev"
ostree log $ref --repo=$repo || fail "ostree log $ref"

dest=/sysroot/ostree/deploy/dropin.$rev
if [ ! -d "$dest" ]; then
    rm -rf "$dest.tmp"
    mkdir -p /sysroot/ostree/deploy
    ostree --repo=$repo checkout "$rev" "$dest.tmp" || fail "ostree checkout $rev"
    mv "$dest.tmp" "$dest" || fail "mv $dest.tmp $dest"
    echo "QEMU-DROPIN: checked out $rev"
fi

mkdir -p /newroot
mount --bind "$dest" /newroot || fail "mount --bind $dest /newroot"
mount --move /sysroot /newroot/sysroot || fail "mount --move /sysroot"
mount --move /proc /newroot/proc || fail "mount --move /proc"
mount --move /sys /newroot/sys || fail "mount --move /sys"
echo "QEMU-DROPIN: switching root to $dest"
exec switch_root /newroot /sbin/init
fail "switch_root returned"
