#!/bin/bash
# Fetch and cache Debian bookworm's arm64 kernel and busybox-static for the qemu tests.
#
# Usage: scripts/fetch-debian-arm64.sh [--print]
#   or:  eval "$(scripts/fetch-debian-arm64.sh --print)"   # sets KVER KROOT VMLINUZ MODDIR BUSYBOX
#
# Resulting paths (relative to the repository root; QEMU_CACHE_DIR overrides target/qemu):
#   target/qemu/kernel-root/                       dpkg-deb -x of linux-image-<KVER> (+ depmod)
#   target/qemu/kernel-root/boot/vmlinuz-<KVER>    uncompressed arm64 Image, give to qemu -kernel
#   target/qemu/kernel-root/lib/modules/<KVER>/    modules (plain .ko) with modules.dep from depmod
#   target/qemu/busybox-root/bin/busybox           busybox-static arm64 (static glibc build)
#   target/qemu/KVER                               one line: the kernel version, e.g. 6.1.0-56-arm64
#   target/qemu/debs/                              the downloaded .debs
#   target/qemu/apt/                               private apt lists/cache (the host apt cache is untouched)
# Modules for a virtio-blk + ext4 root (load order, from modprobe --show-depends + softdeps):
#   virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk crc32c_generic jbd2 mbcache crc16 ext4
#
# Idempotent: once target/qemu/KVER exists and the trees are present it does no network access
# (FETCH_REFRESH=1 forces a new apt update and picks up a newer kernel). Needs: apt-get, dpkg-deb, depmod (kmod).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
Q=${QEMU_CACHE_DIR:-$ROOT/target/qemu}
PRINT=0
[ "${1:-}" = --print ] && PRINT=1

log() { echo "fetch-debian-arm64: $*" >&2; }
die() { log "error: $*"; exit 1; }

emit() {
    local kver
    kver=$(cat "$Q/KVER")
    if [ "$PRINT" = 1 ]; then
        printf 'KVER=%q\nKROOT=%q\nVMLINUZ=%q\nMODDIR=%q\nBUSYBOX=%q\n' "$kver" "$Q/kernel-root" \
            "$Q/kernel-root/boot/vmlinuz-$kver" "$Q/kernel-root/lib/modules/$kver" "$Q/busybox-root/bin/busybox"
    else
        log "KVER=$kver"
        log "VMLINUZ=$Q/kernel-root/boot/vmlinuz-$kver"
        log "KROOT=$Q/kernel-root"
        log "BUSYBOX=$Q/busybox-root/bin/busybox"
    fi
}

cached() {
    [ -s "$Q/KVER" ] || return 1
    local kver
    kver=$(cat "$Q/KVER")
    [ -f "$Q/kernel-root/boot/vmlinuz-$kver" ] &&
        [ -s "$Q/kernel-root/lib/modules/$kver/modules.dep" ] &&
        [ -x "$Q/busybox-root/bin/busybox" ]
}

if [ "${FETCH_REFRESH:-0}" != 1 ] && cached; then
    emit
    exit 0
fi

for t in apt-get apt-cache dpkg-deb depmod; do
    command -v "$t" >/dev/null || die "'$t' not found (apt-get install apt dpkg kmod)"
done

A=$Q/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$Q/debs"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
cat >"$A/sources.list" <<EOF
deb [arch=arm64 signed-by=$KEYRING] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=$KEYRING] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=$KEYRING] http://deb.debian.org/debian-security bookworm-security main
EOF
: >"$A/status"
APT_OPTS=(
    -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
    -o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
    -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o "Dir::State::status=$A/status"
    -o "APT::Sandbox::User=root"
)

log "apt-get update (arm64 lists under $A)"
apt-get "${APT_OPTS[@]}" -qq update >&2 || die "apt-get update failed"

KPKG=$(apt-cache "${APT_OPTS[@]}" depends linux-image-arm64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -n1)
[ -n "$KPKG" ] || die "cannot resolve linux-image-arm64 to a versioned package"
KVER=${KPKG#linux-image-}
log "kernel package $KPKG"

(cd "$Q/debs" && apt-get "${APT_OPTS[@]}" -qq download "$KPKG" busybox-static >&2) ||
    die "apt-get download $KPKG busybox-static failed"

KDEB=$(ls -t "$Q/debs/${KPKG}"_*_arm64.deb | head -n1)
BDEB=$(ls -t "$Q/debs/"busybox-static_*_arm64.deb | head -n1)

log "extracting $(basename "$KDEB")"
rm -rf "$Q/kernel-root.tmp" "$Q/busybox-root.tmp"
dpkg-deb -x "$KDEB" "$Q/kernel-root.tmp"
depmod -b "$Q/kernel-root.tmp" "$KVER"
log "extracting $(basename "$BDEB")"
dpkg-deb -x "$BDEB" "$Q/busybox-root.tmp"
rm -rf "$Q/kernel-root" "$Q/busybox-root"
mv "$Q/kernel-root.tmp" "$Q/kernel-root"
mv "$Q/busybox-root.tmp" "$Q/busybox-root"
echo "$KVER" >"$Q/KVER.tmp" && mv "$Q/KVER.tmp" "$Q/KVER"
# Old kernel .debs from earlier refreshes are not needed any more.
find "$Q/debs" -name 'linux-image-*_arm64.deb' ! -name "$(basename "$KDEB")" -delete
cached || die "extracted trees are incomplete"
emit
