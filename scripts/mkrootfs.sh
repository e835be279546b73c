#!/bin/bash
# Build a tiny busybox root filesystem tree for the qemu tests.
#
# Usage: scripts/mkrootfs.sh DIR NAME [--confirm|--no-confirm|--factory] [--ramdisk BIN]
#
# DIR gets bin/busybox (Debian busybox-static arm64) + applet symlinks, the directories a root
# needs (proc sys dev tmp run sysroot var etc), /etc/os-release naming NAME, and /sbin/init, a
# shell script that prints console markers and powers off:
#   [ 1.23] QEMU-KMSG: NAME init started            through /dev/kmsg: kernel timestamp
#   QEMU-SYSTEM: NAME init pid 1 uptime SECONDS     as soon as it runs (guest uptime)
#   QEMU-ROOT: <mountinfo line of />
#   --confirm (default): runs `ramdisk deploy status` and `ramdisk deploy mark-good`, prints
#       QEMU-CONFIRMED: NAME   (or QEMU-ERROR: ... when mark-good fails)
#   --no-confirm: runs `ramdisk deploy status` only, prints QEMU-UNCONFIRMED: NAME
#   --factory: no deploy commands (the partition-root system), prints QEMU-FACTORY: NAME
# `qemutest.nodeploy` on the kernel command line skips the deploy commands (drop-in scenario).
# With --ramdisk BIN the (aarch64) ramdisk binary is installed as /usr/bin/ramdisk.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: mkrootfs.sh DIR NAME [--confirm|--no-confirm|--factory] [--ramdisk BIN]" >&2; exit 2; }
DIR=$1 NAME=$2
shift 2
MODE=confirm RAMDISK=
while [ $# -gt 0 ]; do
    case $1 in
    --confirm) MODE=confirm; shift ;;
    --no-confirm) MODE=no-confirm; shift ;;
    --factory) MODE=factory; shift ;;
    --ramdisk) RAMDISK=$2; shift 2 ;;
    *) echo "mkrootfs.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

eval "$("$ROOT/scripts/fetch-debian-arm64.sh" --print)"

rm -rf "$DIR"
mkdir -p "$DIR"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,sysroot,var,root}
chmod 1777 "$DIR/tmp"
chmod 555 "$DIR/proc" "$DIR/sys"
install -m 755 "$BUSYBOX" "$DIR/bin/busybox"
for a in sh ash cat echo ls mkdir rm mv cp ln mount umount grep awk sed sleep sync uname \
    poweroff reboot readlink head tail tr wc date find stat dmesg; do
    ln -s busybox "$DIR/bin/$a"
done
if [ -n "$RAMDISK" ]; then
    install -m 755 "$RAMDISK" "$DIR/usr/bin/ramdisk"
fi
printf 'NAME="qemu test system"\nVERSION_ID=%s\n' "$NAME" >"$DIR/etc/os-release"

case $MODE in
confirm) DEPLOY='ramdisk deploy status; echo "QEMU-STATUS-RC: $?"
    if ramdisk deploy mark-good; then echo "QEMU-CONFIRMED: '"$NAME"'"; else echo "QEMU-ERROR: mark-good failed in '"$NAME"'"; fi' ;;
no-confirm) DEPLOY='ramdisk deploy status; echo "QEMU-STATUS-RC: $?"
    echo "QEMU-UNCONFIRMED: '"$NAME"' (this system never confirms itself)"' ;;
factory) DEPLOY='echo "QEMU-FACTORY: '"$NAME"'"' ;;
esac

cat >"$DIR/sbin/init" <<EOF
#!/bin/sh
# qemu test system '$NAME' ($MODE): print markers, then power off.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
[ -e /proc/self ] || mount -t proc proc /proc
[ -e /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/kmsg ] || mount -t devtmpfs devtmpfs /dev
# Same clock as the kernel's "Run /init as init process" line: boot-to-new-init time.
echo "<2>QEMU-KMSG: $NAME init started" >/dev/kmsg
read up idle </proc/uptime
echo "QEMU-SYSTEM: $NAME init pid \$\$ uptime \$up"
echo "QEMU-ROOT: \$(awk '\$5 == "/"' /proc/self/mountinfo | tail -n 1)"
case " \$(cat /proc/cmdline) " in
*" qemutest.nodeploy "*) echo "QEMU-NODEPLOY: $NAME" ;;
*)
    $DEPLOY
    ;;
esac
sync
echo "QEMU-POWEROFF: $NAME"
exec poweroff -f
EOF
chmod 755 "$DIR/sbin/init"
