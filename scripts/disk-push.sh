#!/bin/bash
# Copy new and changed files of a host directory into a directory of an ext4 image, without root
# or a loop mount (debugfs -w), the way an `ostree pull` on the running board would add objects
# and then move the ref: directories first, then files, files listed in LAST (e.g. the ref) last.
#
# Usage: scripts/disk-push.sh IMG HOSTDIR IMGDIR STAMP [LAST...]
#   Pushes every directory of HOSTDIR (created if missing) and every regular file newer than the
#   file STAMP (replaced if present). Paths in LAST are relative to HOSTDIR. `tmp/` and `.lock`
#   are skipped. The journal is replayed first; the image is checked with `e2fsck -fn` before
#   and after.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: disk-push.sh IMG HOSTDIR IMGDIR STAMP [LAST...]" >&2; exit 2; }
IMG=$1 HOST=$2 DEST=$3 STAMP=$4
shift 4
[ -f "$IMG" ] && [ -d "$HOST" ] && [ -f "$STAMP" ] || { echo "disk-push.sh: missing IMG, HOSTDIR or STAMP" >&2; exit 2; }

# The guest powers off without unmounting: replay its journal first (userspace), or the
# kernel would replay it over our changes at the next mount. Then the image must be clean.
e2fsck -E journal_only -y "$IMG" >/dev/null 2>&1 || true
e2fsck -fn "$IMG" >/dev/null 2>&1 || { echo "disk-push.sh: e2fsck -fn $IMG reports errors before the push" >&2; exit 1; }

CMDS=$(mktemp)
trap 'rm -f "$CMDS"' EXIT
(
    cd "$HOST"
    find . -mindepth 1 -type d ! -path './tmp' ! -path './tmp/*' | LC_ALL=C sort | while read -r d; do
        echo "mkdir \"$DEST/${d#./}\""
    done
    emit() { echo "rm \"$DEST/$1\""; echo "write \"$HOST/$1\" \"$DEST/$1\""; }
    find . -type f -newer "$STAMP" ! -path './tmp/*' ! -name .lock | LC_ALL=C sort | while read -r f; do
        f=${f#./}
        for l in "$@"; do [ "$f" = "$l" ] && continue 2; done
        emit "$f"
    done
    for l in "$@"; do emit "$l"; done
) >"$CMDS"
# debugfs reports "already exists"/"file not found" for the mkdir/rm of existing/new entries:
# expected, filtered; any other message is an error.
out=$(debugfs -w -f "$CMDS" "$IMG" 2>&1 >/dev/null | grep -vE '^debugfs [0-9.]+|already exists|not found by ext2_lookup|^$' || true)
if [ -n "$out" ]; then
    echo "disk-push.sh: debugfs: $out" >&2
    exit 1
fi
e2fsck -fn "$IMG" >/dev/null 2>&1 || { echo "disk-push.sh: e2fsck -fn $IMG reports errors after the push" >&2; exit 1; }
