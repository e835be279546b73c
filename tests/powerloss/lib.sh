# Shared helpers for tests/powerloss/run.sh and tests/ioerrors/run.sh (sourced, bash).
#
# The disk both use: an ext4 image holding /ostree/repo (archive-z2, written by the real ostree)
# with commits v1 and v2 on ref master, v1 already deployed as ostree/deploy/<v1>.0 (checked
# out on the host by `ostree checkout`) and ostree/current -> deploy/<v1>.0. So the first boot
# of the image deploys v2: that is the update under test.
# Test systems (busybox, scripts/mkrootfs.sh) get their own /sbin/init:
#   QEMU-SYSTEM: NAME init pid 1 uptime S       as soon as it runs
#   with `powerloss.record` on the kernel command line: sleeps 7 s (jbd2 commits its 5 s timer
#   before any writeback: the window in which a missing syncfs shows) and cuts the power
#   (`poweroff -f -n`: no sync, no unmount); otherwise syncs and powers off.

PLROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PLQDIR=${QEMU_DIR:-$PLROOT/target/qemu}

pl_log() { echo "$(date +%T) $*"; }

# pl_init NAME DIR: the test system's /sbin/init.
pl_init() {
    cat >"$2/sbin/init" <<EOF
#!/bin/sh
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
[ -e /proc/self ] || mount -t proc proc /proc
read up idle </proc/uptime
echo "QEMU-SYSTEM: $1 init pid \$\$ uptime \$up"
case " \$(cat /proc/cmdline) " in
*" powerloss.record "*)
    echo "QEMU-IDLE: $1: 7 s idle, then power cut without sync"
    sleep 7
    echo "QEMU-POWERCUT: $1"
    exec poweroff -f -n
    ;;
esac
sync
echo "QEMU-POWEROFF: $1"
exec poweroff -f
EOF
    chmod 755 "$2/sbin/init"
}

# pl_tree DIR NAME: busybox test system; v2 also gets 24 files of seeded random data
# (1 KiB .. 96 KiB) and v1 a different set, so a mix of the two trees is visible per file.
pl_tree() {
    "$PLROOT/scripts/mkrootfs.sh" "$1" "$2" --no-confirm >/dev/null
    pl_init "$2" "$1"
    mkdir -p "$1/usr/share/powerloss"
    python3 - "$1/usr/share/powerloss" "$2" <<'EOF'
import os, random, sys
d, name = sys.argv[1], sys.argv[2]
rnd = random.Random("powerloss-" + name)
n = 24 if name == "v2" else 8
for i in range(n):
    size = rnd.choice([1024, 4096, 5000, 16384, 40000, 98304])
    with open(os.path.join(d, "f%02d" % i), "wb") as f:
        f.write(rnd.randbytes(size))
with open(os.path.join(d, "VERSION"), "w") as f:
    f.write(name + "\n")
EOF
}

# pl_disk W [SIZE]: builds $W/disk-src, $W/base.img (SIZE, default 64M; 4 KiB blocks as on a
# real board, mkfs would pick 1 KiB for a small image) and sets V1 V2 DEP1.
pl_disk() {
    local w=$1 size=${2:-64M}
    rm -rf "$w/disk-src" "$w/tree-v1" "$w/tree-v2"
    "$PLROOT/scripts/mkrootfs.sh" "$w/disk-src" factory --factory >/dev/null
    pl_tree "$w/tree-v1" v1
    pl_tree "$w/tree-v2" v2
    local r=$w/disk-src/ostree/repo
    mkdir -p "$w/disk-src/ostree/deploy"
    ostree --repo="$r" init --mode=archive-z2
    ostree --repo="$r" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v1 \
        --tree=dir="$w/tree-v1" >/dev/null
    V1=$(ostree --repo="$r" rev-parse master)
    ostree --repo="$r" checkout "$V1" "$w/disk-src/ostree/deploy/$V1.0"
    ln -s "deploy/$V1.0" "$w/disk-src/ostree/current"
    ostree --repo="$r" commit --branch=master --owner-uid=0 --owner-gid=0 --subject=v2 \
        --tree=dir="$w/tree-v2" >/dev/null
    V2=$(ostree --repo="$r" rev-parse master)
    DEP1=$V1.0
    mkfs.ext4 -q -F -b 4096 -m 0 -L powerloss -d "$w/disk-src" "$w/base.img" "$size" >/dev/null
}

# pl_current IMG: the target of ostree/current in the image ('' when absent).
pl_current() {
    local st
    st=$(debugfs -R 'stat /ostree/current' "$1" 2>/dev/null) || true
    grep -q 'Type: symlink' <<<"$st" || return 0
    if grep -q 'Fast link dest:' <<<"$st"; then
        sed -n 's/.*Fast link dest: "\(.*\)"$/\1/p' <<<"$st"
    else
        debugfs -R 'cat /ostree/current' "$1" 2>/dev/null | tr -d '\0'
    fi
}

# pl_build: sets INITRD and RD (the aarch64 binary): the last build of ./qemu-run.sh under
# $QEMU_DIR (target/qemu), built with `./qemu-run.sh --build-only` when there is none.
pl_build() {
    INITRD=${INITRD:-$PLQDIR/initramfs.cpio.gz}
    RD=${RD:-$PLQDIR/ramdisk}
    if [ ! -f "$INITRD" ] || [ ! -x "$RD" ]; then
        pl_log "no initramfs under $PLQDIR: building it with ./qemu-run.sh --build-only"
        "$PLROOT/qemu-run.sh" --build-only >"$PLQDIR/logs/powerloss-build.out" 2>&1 ||
            { tail -n 20 "$PLQDIR/logs/powerloss-build.out"; return 1; }
    fi
}

# pl_qemu LOG DRIVE_ARGS APPEND: boots the kernel + $INITRD with the given -blockdev/-device
# arguments (an array name), console into LOG; the exit status is qemu's (124 on timeout).
pl_qemu() {
    local log=$1 append=$3
    local -n _pl_drive=$2
    eval "$("$PLROOT/scripts/fetch-debian-arm64.sh" --print)"
    local start rc
    start=$(date +%s.%N)
    set +e
    timeout --foreground -k 5 "${BOOT_TIMEOUT:-120}" qemu-system-aarch64 -machine virt -cpu cortex-a72 \
        -smp 1 -m 512M -nographic -no-reboot -nic none \
        -kernel "$VMLINUZ" -initrd "$INITRD" \
        -append "console=ttyAMA0 panic=-1 ramdisk.panic=reboot $append" \
        "${_pl_drive[@]}" </dev/null 2>&1 | tr -d '\r' >"$log"
    rc=${PIPESTATUS[0]}
    set -e
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }' >"$log.time"
    return "$rc"
}

# pl_boot_plain LOG IMG APPEND: boot IMG as a plain raw virtio disk.
pl_boot_plain() {
    local args=(-drive "file=$2,format=raw,if=none,id=hd0" -device virtio-blk-pci,drive=hd0,romfile=)
    pl_qemu "$1" args "$3"
}

# pl_console_bad LOG: a kernel panic, a fatal init error or a qemu error on the console.
pl_console_bad() {
    { grep -aE 'Kernel panic|not syncing|ramdisk: fatal|qemu-system-aarch64:' "$1" || true; } | head -n 3
}
