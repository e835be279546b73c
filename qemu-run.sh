#!/bin/bash
# qemu-run.sh — build ramdisk for aarch64, pack the initramfs, and boot it under qemu.
#
# Run as root on Debian 12 (it installs what it needs). Without arguments it:
#   1. builds the aarch64 binary and the initramfs (size-report; prints the size report),
#   2. fetches Debian's arm64 kernel + busybox-static (scripts/fetch-debian-arm64.sh),
#   3. builds an ext4 disk image (mkfs.ext4 -d, no root or loop device): a factory busybox system
#      at the partition root and /ostree/repo (archive-z2, written by the real ostree) holding
#      commit v1, a busybox system that confirms itself with `ramdisk deploy mark-good`,
#   4. boots it under qemu-system-aarch64 (TCG) and checks the serial console:
#        boot 0  ramdisk.update=0, no deployment yet: the factory system boots
#        boot 1  v1 is deployed and booted (it marks itself good)
#        boot 2  v1 boots again without a new deployment
#        then commit v2 (never confirms itself) is added to the image's repo from the host
#        boot 3  v2 is deployed and booted on trial
#        boot 4… v2 keeps failing to confirm; after the trial boots run out init rolls back to v1
#        last    v1 (confirmed) stays booted, v2 is not deployed again
#        disk    read on the host: e2fsck clean, ostree/current -> v1, v2's tree removed
#   and prints a summary with boot times. Exit status non-zero on any mismatch.
#
# Options:
#   --disk IMG        boot this disk image once (full console shown), no scenario checks
#   --append ARGS     extra kernel command line words (for --disk and for every scenario boot;
#                     ramdisk.trials=N there also sets the trial boots the scenario expects)
#   --initramfs PATH  use this initramfs instead of building one
#   --keep            keep the work files under target/qemu/run/qemu-run/ (always kept on failure)
#   --build-only      build binary + initramfs, print the size report, stop
#   --no-build        use the initramfs of the last build (target/qemu/initramfs.cpio.gz)
#   --no-install      do not apt-get/rustup anything (fail if a tool is missing)
#   --verbose         show the whole serial console of every boot
# Console logs: target/qemu/logs/qemu-run-boot*.log. Artifacts: target/qemu/ ($QEMU_DIR overrides it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
Q=${QEMU_DIR:-$ROOT/target/qemu}
W=$Q/run/qemu-run
LOGS=$Q/logs
TARGET=aarch64-unknown-linux-musl
CARGO_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# The modules Debian's arm64 kernel needs for a virtio-blk (PCI) disk with ext4. crc32c_generic
# is ext4's/jbd2's softdep (not in modules.dep), needed for metadata_csum (mkfs.ext4's default).
MODULES="virtio_pci virtio_blk crc32c_generic ext4"
TRIALS=2

# Console markers printed by the init applet (ramdisk-bin/src/applets/init.rs).
RE_DEPLOYING='ramdisk: deploying '
RE_BOOTING='ramdisk: booting deployment '
RE_ROLLBACK='ramdisk: rolled back to '
RE_SWITCH='ramdisk: switching root to '
RE_DEPLOYED='ramdisk: deployed '
RE_UP_TO_DATE='ramdisk: deployment [^ ]+ is up to date'
RE_TRIAL='ramdisk: deployment [^ ]+ on trial: '
RE_NOT_REDEPLOYING='ramdisk: not redeploying '
RE_PARTITION_ROOT='ramdisk: booting the partition root'

DISK= APPEND= INITRD= KEEP=0 BUILD=1 RUN=1 INSTALL=1 SHOW=markers
while [ $# -gt 0 ]; do
    case $1 in
    --disk) DISK=$2; shift 2 ;;
    --append) APPEND=$2; shift 2 ;;
    --initramfs) INITRD=$2; BUILD=0; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --build-only) RUN=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --verbose) SHOW=all; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "qemu-run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
# A ramdisk.trials= in --append (which comes last on the command line, so it wins) sets the
# number of trial boots the scenario expects.
for w in $APPEND; do
    case $w in ramdisk.trials=[1-9] | ramdisk.trials=[1-9][0-9]) TRIALS=${w#ramdisk.trials=} ;; esac
done
[ -z "$DISK" ] || [ -f "$DISK" ] || { echo "qemu-run.sh: disk image '$DISK' not found" >&2; exit 2; }
[ -z "$INITRD" ] || [ -f "$INITRD" ] || { echo "qemu-run.sh: initramfs '$INITRD' not found" >&2; exit 2; }

step() { printf '\n== %s\n' "$*"; }
die() { echo "qemu-run.sh: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Tools
install_tools() {
    local missing=() t pkg
    for t in qemu-system-aarch64:qemu-system-arm qemu-aarch64-static:qemu-user-static \
        ostree:ostree mkfs.ext4:e2fsprogs debugfs:e2fsprogs e2fsck:e2fsprogs depmod:kmod \
        modprobe:kmod cpio:cpio dpkg-deb:dpkg gzip:gzip timeout:coreutils; do
        pkg=${t#*:}
        command -v "${t%%:*}" >/dev/null || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$INSTALL" = 1 ] || die "missing tools from: ${missing[*]}"
        [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root to install them"
        step "installing ${missing[*]}"
        apt-get -o DPkg::Lock::Timeout=300 -qq update
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends qemu-system-arm qemu-user-static ostree e2fsprogs kmod cpio >/dev/null
    fi
    [ "$(id -u)" = 0 ] || die "run as root (mknod /dev/console and root-owned files for the images)"
    if [ "$BUILD" = 1 ]; then
        command -v cargo >/dev/null || die "cargo not found (install rustup: https://rustup.rs)"
        if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
            [ "$INSTALL" = 1 ] || die "rust target $TARGET missing"
            rustup target add "$TARGET"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# 2. Build: aarch64 binary + initramfs (size-report), copied to target/qemu/
RAMDISK_BIN=$Q/ramdisk
SIZE_FAIL=
build() {
    step "building ramdisk ($TARGET, release) and the initramfs (size-report)"
    mkdir -p "$Q" "$Q/build"
    # Defaults of the demo board: the disk is /dev/vda; the modules init loads, in order.
    printf '# qemu virt board: virtio-blk disk, ext4 root\nroot=vda\nramdisk.modules=%s\n' \
        "$(echo $MODULES | tr ' ' ,)" >"$Q/build/ramdisk.conf"
    rm -f "$Q/initramfs.cpio.gz"
    local help
    help=$(cargo run -q --release -p size-report --manifest-path "$ROOT/Cargo.toml" -- --help 2>/dev/null) || help=
    if grep -q -- '--modules' <<<"$help"; then
        # Builds the binary, prints the report (image with and without modules), writes the image.
        cargo run -q --release -p size-report --manifest-path "$ROOT/Cargo.toml" -- \
            --conf "$Q/build/ramdisk.conf" --output "$Q/initramfs.cpio.gz" --modules "$KROOT" $MODULES ||
            SIZE_FAIL="size-report exited non-zero (a size budget exceeded?)"
        [ -s "$Q/initramfs.cpio.gz" ] || die "size-report wrote no image"
        local bin=$CARGO_TARGET/$TARGET/release/ramdisk
        [ -x "$bin" ] || die "size-report did not build $bin"
        install -m 755 "$bin" "$RAMDISK_BIN"
    else
        echo "(size-report is not usable: building with cargo, packing with scripts/mkinitramfs.sh)"
        cargo build -q --release -p ramdisk-bin --target "$TARGET" --manifest-path "$ROOT/Cargo.toml"
        install -m 755 "$CARGO_TARGET/$TARGET/release/ramdisk" "$RAMDISK_BIN"
        fallback_build
    fi
    # The budget is size-report's own check (test.sh runs it); here it does not stop the boots.
    [ -z "$SIZE_FAIL" ] || echo "qemu-run.sh: warning: $SIZE_FAIL; booting the image anyway" >&2
}

# Same layout as size-report (DESIGN.md "Size"), packed by scripts/mkinitramfs.sh.
fallback_build() {
    local s=$Q/build/stage a
    rm -rf "$s"
    mkdir -p "$s"/{bin,sbin,dev,etc,proc,sys,sysroot,tmp}
    chmod 1777 "$s/tmp"
    install -m 755 "$RAMDISK_BIN" "$s/bin/ramdisk"
    for a in $(qemu-aarch64-static "$RAMDISK_BIN" --list); do
        ln -s ramdisk "$s/bin/$a"
        ln -s ../bin/ramdisk "$s/sbin/$a"
    done
    ln -s bin/ramdisk "$s/init"
    cp "$Q/build/ramdisk.conf" "$s/etc/ramdisk.conf"
    "$ROOT/scripts/mkinitramfs.sh" "$Q/build/initramfs-nomod.cpio.gz" --stage "$s"
    "$ROOT/scripts/mkinitramfs.sh" "$Q/initramfs.cpio.gz" --stage "$s" --modules "$MODULES"
    echo "size report (fallback)"
    printf '%-44s %10s B\n' "ramdisk ($TARGET, stripped)" "$(stat -c %s "$RAMDISK_BIN")"
    printf '%-44s %10s B\n' "initramfs.cpio.gz without modules" "$(stat -c %s "$Q/build/initramfs-nomod.cpio.gz")"
    printf '%-44s %10s B\n' "initramfs.cpio.gz with modules" "$(stat -c %s "$Q/initramfs.cpio.gz")"
}

# ---------------------------------------------------------------------------------------------
# 3. Boots
SUMMARY=() FAILED=0 CUR_LOG=

# boot NAME "what it shows" [kernel args]: boot the scenario disk, keep its log in $CUR_LOG.
boot() {
    local name=$1 what=$2 args=${3:-} rc=0
    CUR_LOG=$LOGS/qemu-run-$name.log
    CUR_NAME=$name CUR_WHAT=$what CUR_ERR=
    rm -f "$CUR_LOG" "$CUR_LOG.time"
    step "$name: $what"
    "$ROOT/scripts/boot.sh" --disk "$W/disk.img" --initramfs "$INITRD" --log "$CUR_LOG" --show "$SHOW" \
        --append "ramdisk.panic=reboot $args $APPEND" | sed -u 's/^/   | /' || rc=$?
    [ "$rc" = 0 ] || CUR_ERR="qemu exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)')"
    local bad
    bad=$({ grep -aE 'Kernel panic|not syncing|EXT4-fs error|QEMU-ERROR|qemu-system-aarch64:' "$CUR_LOG" || true; } | head -n 2 | tr '\n' ' ')
    [ -z "$bad" ] || CUR_ERR="${CUR_ERR:+$CUR_ERR; }console: $bad"
}
expect() { grep -aqE -- "$1" "$CUR_LOG" || CUR_ERR="${CUR_ERR:+$CUR_ERR; }missing: $2"; }
expect_not() { ! grep -aqE -- "$1" "$CUR_LOG" || CUR_ERR="${CUR_ERR:+$CUR_ERR; }unexpected: $2"; }
# `ramdisk deploy status` in the booted system: exit 0 and it names DEP as booted.
expect_status() {
    expect '^QEMU-STATUS-RC: 0$' "'ramdisk deploy status' exit status 0"
    expect "^booted: +$1\$" "'ramdisk deploy status' showing 'booted: $1'"
}
# The deployment name init reports in `ramdisk: booting deployment NAME`.
deployment() { { grep -aE -- "$RE_BOOTING" "$CUR_LOG" || true; } | tail -n 1 | sed "s/.*$RE_BOOTING\([^ ]*\).*/\1/"; }

# done_boot: judge, print one summary line, stop the scenario on failure.
done_boot() {
    local kinit sys wall t
    kinit=$({ grep -aE 'Run /init as init process' "$CUR_LOG" || true; } | head -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
    sys=$({ grep -aE 'QEMU-KMSG: .* init started' "$CUR_LOG" || true; } | tail -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
    wall=$(cat "$CUR_LOG.time" 2>/dev/null || echo '?')
    t='     -'
    [ -n "$kinit" ] && [ -n "$sys" ] && t=$(awk -v a="$kinit" -v b="$sys" 'BEGIN { printf "%6.2f", b - a }')
    local line
    # Split: /init -> root mounted (modules, device, mount) and root mounted -> new init.
    local mnt m='    -'
    mnt=$({ grep -aE 'EXT4-fs \(vda\): mounted' "$CUR_LOG" || true; } | head -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
    [ -n "$kinit" ] && [ -n "$mnt" ] && [ -n "$sys" ] &&
        m=$(awk -v a="$kinit" -v b="$mnt" -v c="$sys" 'BEGIN { printf "%4.2f+%4.2f", b - a, c - b }')
    [ -z "$kinit" ] || kinit=$(awk -v a="$kinit" 'BEGIN { printf "%.2f", a }')
    line=$(printf '%-7s %-52s %-4s' "$CUR_NAME" "$CUR_WHAT" "$([ -z "$CUR_ERR" ] && echo ok || echo FAIL)")
    [ ! -f "$CUR_LOG.time" ] ||
        line+=$(printf '  /init->new init %s s (mount+rest %s)  kernel->/init %s s  qemu wall %s s' \
            "$t" "$m" "${kinit:-?}" "$wall")
    SUMMARY+=("$line")
    if [ -n "$CUR_ERR" ]; then
        SUMMARY+=("        -> $CUR_ERR (log: $CUR_LOG)")
        echo "   => FAIL: $CUR_ERR"
        FAILED=1
        finish
    fi
    echo "   => ok"
}

finish() {
    step "summary (times from kernel timestamps; TCG, so only relative)"
    printf '%s\n' "${SUMMARY[@]}"
    [ -z "$SIZE_FAIL" ] || echo "qemu-run: warning: $SIZE_FAIL (see the size report above)"
    if [ "$FAILED" = 0 ]; then
        echo "qemu-run: all boots as expected (logs: $LOGS/qemu-run-*.log)"
        [ "$KEEP" = 1 ] || rm -rf "$W"
        exit 0
    fi
    echo "qemu-run: FAILED (work files kept under $W, logs under $LOGS)"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# 4. Disk image with the factory system and the repository
commit() { # commit NAME: commit tree $W/tree-NAME onto ref master of the host-side repo copy
    ostree --repo="$W/disk-src/ostree/repo" commit --branch=master --owner-uid=0 --owner-gid=0 \
        --subject="$1" --tree=dir="$W/tree-$1" >/dev/null
    ostree --repo="$W/disk-src/ostree/repo" rev-parse master
}

make_disk() {
    step "building the disk image (factory system + /ostree/repo with commit v1)"
    rm -rf "$W/disk-src" "$W/tree-v1" "$W/tree-v2"
    "$ROOT/scripts/mkrootfs.sh" "$W/disk-src" factory --factory
    "$ROOT/scripts/mkrootfs.sh" "$W/tree-v1" v1 --confirm --ramdisk "$RAMDISK_BIN"
    "$ROOT/scripts/mkrootfs.sh" "$W/tree-v2" v2 --no-confirm --ramdisk "$RAMDISK_BIN"
    mkdir -p "$W/disk-src/ostree"
    ostree --repo="$W/disk-src/ostree/repo" init --mode=archive-z2
    V1=$(commit v1)
    echo "commit v1 = $V1"
    mkfs.ext4 -q -F -L rootfs -d "$W/disk-src" "$W/disk.img" 64M >/dev/null
    touch "$W/pushed.stamp"
}

# Add commit v2 to the disk's repo without root: commit on the host copy, push the new objects
# and then the ref into the image with debugfs (what `ostree pull` does on the running board).
push_v2() {
    step "adding commit v2 (never confirms itself) to the image's /ostree/repo"
    sleep 1 # mtime granularity for disk-push's -newer
    V2=$(commit v2)
    echo "commit v2 = $V2"
    "$ROOT/scripts/disk-push.sh" "$W/disk.img" "$W/disk-src/ostree/repo" /ostree/repo "$W/pushed.stamp" \
        refs/heads/master
}

scenario() {
    rm -f "$LOGS"/qemu-run-boot*.log* "$LOGS"/qemu-run-disk.log
    make_disk
    local dep1 dep2 i

    boot boot0 "no deployment, ramdisk.update=0: factory system" "ramdisk.update=0"
    expect '^QEMU-SYSTEM: factory init pid 1 ' "factory /sbin/init as pid 1"
    expect '^QEMU-FACTORY: factory' "factory marker"
    expect "$RE_PARTITION_ROOT" "'$RE_PARTITION_ROOT'"
    expect_not "$RE_DEPLOYING" "a deployment"
    done_boot

    boot boot1 "deploys commit v1 and switches into it"
    expect "$RE_DEPLOYING" "'$RE_DEPLOYING...'"
    expect "$RE_DEPLOYED$V1" "'$RE_DEPLOYED$V1...'"
    expect "$RE_BOOTING" "'$RE_BOOTING...'"
    expect "$RE_SWITCH" "'$RE_SWITCH...'"
    expect '^QEMU-SYSTEM: v1 init pid 1 ' "v1's /sbin/init as pid 1"
    expect '^QEMU-CONFIRMED: v1' "v1 marked good"
    dep1=$(deployment)
    case $dep1 in "$V1".*) ;; *) CUR_ERR="${CUR_ERR:+$CUR_ERR; }deployment '$dep1' is not of commit v1" ;; esac
    expect_status "$dep1"
    done_boot

    boot boot2 "boots v1 again without redeploying"
    expect_not "$RE_DEPLOYING" "a new deployment"
    expect "$RE_UP_TO_DATE" "'$RE_UP_TO_DATE'"
    expect "$RE_BOOTING$dep1" "'$RE_BOOTING$dep1'"
    expect '^QEMU-SYSTEM: v1 init pid 1 ' "v1's /sbin/init as pid 1"
    expect '^QEMU-CONFIRMED: v1' "v1 marked good"
    expect_status "$dep1"
    done_boot

    push_v2
    boot boot3 "deploys v2 (trial), v2 does not confirm itself" "ramdisk.trials=$TRIALS"
    expect "$RE_DEPLOYING" "'$RE_DEPLOYING...'"
    expect "$RE_DEPLOYED$V2" "'$RE_DEPLOYED$V2...'"
    expect "$RE_TRIAL" "'$RE_TRIAL...'"
    expect '^QEMU-SYSTEM: v2 init pid 1 ' "v2's /sbin/init as pid 1"
    expect '^QEMU-UNCONFIRMED: v2' "v2 marker"
    dep2=$(deployment)
    case $dep2 in "$V2".*) ;; *) CUR_ERR="${CUR_ERR:+$CUR_ERR; }deployment '$dep2' is not of commit v2" ;; esac
    expect_status "$dep2"
    done_boot

    # ramdisk.trials=N: v2 boots N times in all (the deploying boot included), the next boot
    # finds no boots left and rolls back to v1.
    for i in $(seq 4 $((2 + TRIALS))); do
        boot "boot$i" "v2 still unconfirmed: boots on trial" "ramdisk.trials=$TRIALS"
        expect_not "$RE_DEPLOYING" "a new deployment"
        expect_not "$RE_ROLLBACK" "a rollback before the trial boots are used up"
        expect "$RE_TRIAL" "'$RE_TRIAL...'"
        expect "$RE_BOOTING$dep2" "'$RE_BOOTING$dep2'"
        expect '^QEMU-SYSTEM: v2 init pid 1 ' "v2's /sbin/init as pid 1"
        expect '^QEMU-UNCONFIRMED: v2' "v2 marker"
        expect_status "$dep2"
        done_boot
    done
    i=$((3 + TRIALS))
    boot "boot$i" "trial boots used up: rolls back to v1" "ramdisk.trials=$TRIALS"
    expect_not "$RE_DEPLOYING" "a new deployment"
    expect "$RE_ROLLBACK$dep1 \\(from $dep2\\)" "'$RE_ROLLBACK$dep1 (from $dep2)'"
    expect "$RE_BOOTING$dep1" "'$RE_BOOTING$dep1'"
    expect '^QEMU-SYSTEM: v1 init pid 1 ' "v1's /sbin/init as pid 1"
    expect '^QEMU-CONFIRMED: v1' "v1 marked good"
    expect_status "$dep1"
    expect "^failed: +$dep2\$" "'ramdisk deploy status' showing 'failed: $dep2'"
    done_boot

    boot "boot$((i + 1))" "after the rollback: v1 stays, v2 is not redeployed" "ramdisk.trials=$TRIALS"
    expect_not "$RE_DEPLOYING" "a new deployment"
    expect "$RE_NOT_REDEPLOYING" "'$RE_NOT_REDEPLOYING...'"
    expect "$RE_BOOTING$dep1" "'$RE_BOOTING$dep1'"
    expect '^QEMU-SYSTEM: v1 init pid 1 ' "v1's /sbin/init as pid 1"
    expect_status "$dep1"
    done_boot

    # The image itself, read on the host: clean filesystem, current -> v1, v2's tree collected.
    step "disk: final state of the image"
    CUR_NAME=disk CUR_WHAT="e2fsck clean, current -> v1, v2 removed" CUR_ERR= CUR_LOG=$LOGS/qemu-run-disk.log
    {
        e2fsck -E journal_only -y "$W/disk.img" || true
        e2fsck -fn "$W/disk.img" || echo "E2FSCK-FAILED"
        debugfs -R 'ls /ostree/deploy' "$W/disk.img"
    } >"$CUR_LOG" 2>&1
    ! grep -q E2FSCK-FAILED "$CUR_LOG" || CUR_ERR="e2fsck -fn reports errors"
    local cur
    cur=$(debugfs -R 'cat /ostree/current' "$W/disk.img" 2>/dev/null | tr -d '\0')
    [ "$cur" = "deploy/$dep1" ] || CUR_ERR="${CUR_ERR:+$CUR_ERR; }ostree/current is '$cur', not 'deploy/$dep1'"
    ! grep -q "$V2" "$CUR_LOG" || CUR_ERR="${CUR_ERR:+$CUR_ERR; }ostree/deploy still holds v2"
    echo "   current -> $cur"
    done_boot
}

# ---------------------------------------------------------------------------------------------
install_tools
eval "$("$ROOT/scripts/fetch-debian-arm64.sh" --print)"
mkdir -p "$LOGS"
if [ "$BUILD" = 1 ]; then
    build
elif [ -z "$INITRD" ]; then
    [ -f "$Q/initramfs.cpio.gz" ] && [ -x "$RAMDISK_BIN" ] || die "--no-build: no earlier build under $Q"
fi
[ "$RUN" = 1 ] || exit 0
[ -n "$INITRD" ] || INITRD=$Q/initramfs.cpio.gz

if [ -n "$DISK" ]; then
    step "booting $DISK with $INITRD"
    rc=0
    "$ROOT/scripts/boot.sh" --disk "$DISK" --initramfs "$INITRD" --log "$LOGS/qemu-run-custom.log" \
        --show all --append "$APPEND" || rc=$?
    bad=$({ grep -aE 'Kernel panic|not syncing' "$LOGS/qemu-run-custom.log" || true; } | head -n 1)
    [ -z "$bad" ] || die "guest: $bad (log: $LOGS/qemu-run-custom.log)"
    [ "$rc" = 0 ] || die "qemu exited with status $rc"
    exit 0
fi

[ -x "$RAMDISK_BIN" ] || die "$RAMDISK_BIN missing (the test systems run it): run once without --initramfs"
rm -rf "$W"
mkdir -p "$W"
scenario
finish
