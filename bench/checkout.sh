#!/bin/bash
# bench/checkout.sh: `ostree checkout` vs `ramdisk ostree checkout` (release build) from an
# archive-z2 repository into tmpfs (/dev/shm).
#
# Trees: (a) a generated tree of ~20 000 files of mixed sizes, (b) a Debian arm64 minbase
# rootfs (debootstrap first stage, device nodes removed). Each is committed with the real
# ostree. Runs alternate between the two tools; the table gives the median wall time, the
# median CPU time (user + sys: steadier than wall time on a shared machine) and the median
# peak RSS (/usr/bin/time -f %M) of RUNS runs each.
#
# Usage: bench/checkout.sh [RUNS]   (default 5). Needs root, ostree, debootstrap, GNU time.
# Env: WORK (scratch dir, default /var/tmp/ramdisk-bench), RAMDISK (binary to test; default:
# built here with `cargo build --release -p ramdisk-bin`), SKIP_DEBIAN=1 to skip tree (b).
set -euo pipefail

RUNS=${1:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/var/tmp/ramdisk-bench}
SHM=/dev/shm/ramdisk-bench.$$
mkdir -p "$WORK" "$SHM"
trap 'rm -rf "$SHM"' EXIT

need() { command -v "$1" >/dev/null || { echo "bench: installing $2" >&2; apt-get install -y "$2" >/dev/null; }; }
need ostree ostree
[ -x /usr/bin/time ] || need time time

if [ -z "${RAMDISK:-}" ]; then
    (cd "$HERE" && cargo build --release -p ramdisk-bin >&2)
    RAMDISK="${CARGO_TARGET_DIR:-$HERE/target}/release/ramdisk"
fi

# (a) generated tree: 20 000 files, sizes from 0 B to 1 MiB (mostly small, as in a rootfs),
# 200 directories, some symlinks; deterministic content, partly compressible.
gen_tree() {
    local dir=$1
    [ -e "$dir.done" ] && return
    rm -rf "$dir"
    python3 - "$dir" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
sizes = [0, 100, 700, 2000, 6000, 20000, 60000, 300000, 1048576]
weights = [2, 20, 25, 20, 15, 10, 5, 2, 1]
for d in range(200):
    os.makedirs(os.path.join(root, "d%03d" % d, "sub"), exist_ok=True)
for i in range(20000):
    d = os.path.join(root, "d%03d" % (i % 200), "sub" if i % 3 == 0 else "")
    size = rnd.choices(sizes, weights)[0]
    words = b"".join(rnd.choice([b"lorem ", b"ipsum ", b"dolor ", b"sit ", b"amet\n"]) for _ in range(64))
    data = (words * (size // len(words) + 1))[:size]
    if size and i % 4 == 0:
        data = rnd.randbytes(size)  # incompressible
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(data)
    if i % 100 == 0:
        os.symlink("f%05d" % i, os.path.join(d, "l%05d" % i))
PY
    touch "$dir.done"
}

# (b) Debian arm64 minbase, first stage only; device nodes removed (ostree refuses them).
gen_debian() {
    local dir=$1
    [ -e "$dir.done" ] && return
    need debootstrap debootstrap
    rm -rf "$dir"
    debootstrap --variant=minbase --arch=arm64 --foreign bookworm "$dir" >&2
    find "$dir" \( -type b -o -type c -o -type p -o -type s \) -delete
    touch "$dir.done"
}

commit() {
    local tree=$1 repo=$2
    [ -e "$repo.done" ] && return
    rm -rf "$repo"
    ostree init --repo="$repo" --mode=archive-z2
    ostree commit --repo="$repo" -b bench --tree=dir="$tree" -s bench >/dev/null
    touch "$repo.done"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run NAME REPO: alternate RUNS times between ostree and ramdisk; print one table row each.
run() {
    local name=$1 repo=$2 i
    local files
    files=$(find "$WORK/$name.tree" -type f | wc -l)
    : > "$WORK/$name.ostree" ; : > "$WORK/$name.ramdisk"
    for i in $(seq "$RUNS"); do
        for tool in ostree ramdisk; do
            rm -rf "$SHM/co"
            sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
            find "$repo/objects" -type f -exec cat {} + > /dev/null  # warm cache: both read from memory
            if [ $tool = ostree ]; then
                /usr/bin/time -f '%e %M %U %S' -o "$SHM/t" ostree --repo="$repo" checkout bench "$SHM/co"
            else
                /usr/bin/time -f '%e %M %U %S' -o "$SHM/t" "$RAMDISK" ostree --repo="$repo" checkout bench "$SHM/co"
            fi
            tail -1 "$SHM/t" >> "$WORK/$name.$tool"
        done
    done
    for tool in ostree ramdisk; do
        printf '| %-10s | %6s | %-8s | %9s s | %9s s | %10s KiB |\n' "$name" "$files" "$tool" \
            "$(cut -d' ' -f1 "$WORK/$name.$tool" | median)" \
            "$(awk '{printf "%.2f\n", $3 + $4}' "$WORK/$name.$tool" | median)" \
            "$(cut -d' ' -f2 "$WORK/$name.$tool" | median)"
    done
}

gen_tree "$WORK/generated.tree"
commit "$WORK/generated.tree" "$WORK/generated.repo"
if [ -z "${SKIP_DEBIAN:-}" ]; then
    gen_debian "$WORK/debian.tree"
    commit "$WORK/debian.tree" "$WORK/debian.repo"
fi

echo "ramdisk: $RAMDISK ($(nproc) cores), $RUNS runs each, checkout into tmpfs"
echo '| tree       |  files | tool     | median wall | median CPU (user+sys) | median peak RSS |'
echo '|------------|--------|----------|-------------|-------------|-----------------|'
run generated "$WORK/generated.repo"
[ -z "${SKIP_DEBIAN:-}" ] && run debian "$WORK/debian.repo"
exit 0
