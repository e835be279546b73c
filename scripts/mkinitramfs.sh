#!/bin/bash
# Small cpio (newc, gzip -9) step for test initramfs images that size-report does not build.
#
# Usage: scripts/mkinitramfs.sh OUT.cpio.gz [--base IMG.cpio.gz] [--stage DIR]... [--modules "m1 m2"]
#
#   --base IMG     start from the contents of an existing image (e.g. size-report's)
#   --stage DIR    copy DIR's contents over it (later ones win, replacing links); may repeat
#   --modules L    copy the modules in L plus their dependencies (modprobe --show-depends, softdeps
#                  included) from the fetched Debian kernel into lib/modules/KVER/, with a matching
#                  modules.dep and etc/modules.order (the .ko paths in load order, for busybox insmod)
# /dev/console is always added. Must run as root (mknod, cpio -R 0:0 of root-owned files).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: mkinitramfs.sh OUT.cpio.gz [--base IMG] [--stage DIR]... [--modules LIST]" >&2; exit 2; }
OUT=$1
shift
BASE= STAGES=() MODS=
while [ $# -gt 0 ]; do
    case $1 in
    --base) BASE=$2; shift 2 ;;
    --stage) STAGES+=("$2"); shift 2 ;;
    --modules) MODS=$2; shift 2 ;;
    *) echo "mkinitramfs.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

S=$(mktemp -d "${TMPDIR:-/tmp}/mkinitramfs.XXXXXX")
trap 'rm -rf "$S"' EXIT
if [ -n "$BASE" ]; then
    [ -f "$BASE" ] || { echo "mkinitramfs.sh: base image '$BASE' not found" >&2; exit 1; }
    (cd "$S" && gzip -dc "$BASE" | cpio --quiet -id --no-absolute-filenames)
fi
for d in "${STAGES[@]}"; do
    cp -a --remove-destination "$d/." "$S/"
done
if [ -n "$MODS" ]; then
    eval "$("$ROOT/scripts/fetch-debian-arm64.sh" --print)"
    M=$S/lib/modules/$KVER
    mkdir -p "$M" "$S/etc"
    : >"$M/modules.dep"
    : >"$S/etc/modules.order"
    for m in $MODS; do
        modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
    done | awk '!seen[$0]++' | while read -r ko; do
        rel=${ko#"$MODDIR"/}
        mkdir -p "$M/$(dirname "$rel")"
        cp "$ko" "$M/$rel"
        grep "^$rel:" "$MODDIR/modules.dep" >>"$M/modules.dep"
        echo "/lib/modules/$KVER/$rel" >>"$S/etc/modules.order"
    done
fi
mkdir -p "$S/dev"
[ -e "$S/dev/console" ] || mknod -m 600 "$S/dev/console" c 5 1
mkdir -p "$(dirname "$OUT")"
(cd "$S" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -9n) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
