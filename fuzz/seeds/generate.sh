#!/bin/bash
# Builds small OSTree repositories with the real `ostree` in every mode and copies their objects
# into per-target seed directories (reliability.md §5 "Seed corpora"), next to the hand-written
# command-line and mount-option strings of the docs.
#
#   fuzz/seeds/generate.sh            writes fuzz/seeds/<target>/ (replacing it)
#
# Seeds per target:
#   gvariant/       selector byte + value (see fuzz_targets/gvariant.rs): commits, dirtrees,
#                   dirmetas, .filez headers, xattrs (no summary: it holds the time it was made)
#   objects/        raw metadata objects, .filez headers, user.ostreemeta values
#   filez/          whole .filez objects of the archive repo
#   cmdline/        kernel command lines and ramdisk.conf texts
#   mount_options/  -o strings, /proc/mounts and /proc/filesystems texts
#   commitmeta/     signed detached metadata (ostree sign, two fixed ed25519 keys), key lines
# Needs: ostree, python3, openssl (commitmeta seeds), setfattr (attr). Runs as any user (bare mode only as root).
# Deterministic: the same ostree version makes the same seeds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
for t in ostree python3; do
    command -v "$t" >/dev/null || { echo "generate.sh: '$t' not found" >&2; exit 1; }
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for t in gvariant objects filez cmdline mount_options commitmeta; do
    rm -rf "${HERE:?}/$t"
    mkdir -p "$HERE/$t"
done

# The tree: files of several sizes (empty, tiny, compressible 200 KiB, random 70 KiB), modes
# (setuid, 0600, executable), a symlink, nested and empty directories, xattrs where supported.
T=$WORK/tree
mkdir -p "$T/etc/sub/deeper" "$T/usr/bin" "$T/empty"
: >"$T/etc/empty"
echo hello >"$T/etc/hostname"
(yes 'ramdisk fuzz seed line' || true) | head -c 200000 >"$T/usr/bin/compressible"
python3 -c 'import random, sys; random.seed(7); sys.stdout.buffer.write(random.randbytes(70000))' \
    >"$T/usr/bin/random"
printf '#!/bin/sh\necho hi\n' >"$T/usr/bin/run"
chmod 0755 "$T/usr/bin/run"
chmod 04755 "$T/usr/bin/random"
echo secret >"$T/etc/sub/secret"
chmod 0600 "$T/etc/sub/secret"
echo deep >"$T/etc/sub/deeper/file with space"
ln -s ../usr/bin/run "$T/etc/link"
ln -s "$(printf 'x%.0s' $(seq 1 300))" "$T/etc/longlink"
if command -v setfattr >/dev/null; then
    setfattr -n user.fuzz -v seed "$T/etc/hostname" 2>/dev/null || true
    setfattr -n user.empty -v '""' "$T/etc/sub/secret" 2>/dev/null || true
fi
T2=$WORK/tree2
cp -a "$T" "$T2"
echo changed >"$T2/etc/hostname"
rm "$T2/etc/link"

modes=(archive-z2 bare-user bare-user-only)
[ "$(id -u)" = 0 ] && modes+=(bare)
for mode in "${modes[@]}"; do
    R=$WORK/repo-$mode
    ostree init --repo="$R" --mode="$mode"
    extra=()
    [ "$mode" = bare-user-only ] && extra=(--canonical-permissions)
    ostree commit --repo="$R" -b main -s "first subject" -m "a body
with two lines" --add-metadata-string=version=1.0 --timestamp=2024-01-01T00:00:00Z \
        --owner-uid=0 --owner-gid=0 "${extra[@]}" "$T" >/dev/null
    ostree commit --repo="$R" -b main -s second --add-metadata-string=version=1.1 \
        --timestamp=2024-02-01T00:00:00Z \
        --add-metadata-string=ostree.ref-binding=main "${extra[@]}" "$T2" >/dev/null
done

# Detached metadata `{ostree.sign.ed25519: <aay>, version: <s>}` with real ed25519 signatures
# (openssl, fixed keys: deterministic) of the archive repo's commit: Debian's ostree is built
# without ed25519, so the a{sv} is serialized here (normal form, as GLib writes it).
if command -v openssl >/dev/null; then
    commit=$(find "$WORK/repo-archive-z2/objects" -name '*.commit' | sort | head -1)
    for s in 01 02; do
        python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))" \
            "302e020100300506032b657004220420$(python3 -c "print('$s' * 32)")" >"$WORK/k$s.der"
        openssl pkeyutl -sign -rawin -inkey "$WORK/k$s.der" -keyform DER -in "$commit" \
            -out "$WORK/sig$s" 2>/dev/null || openssl pkeyutl -sign -inkey "$WORK/k$s.der" \
            -keyform DER -in "$commit" -out "$WORK/sig$s"
        openssl pkey -inform DER -in "$WORK/k$s.der" -pubout -outform DER | tail -c 32 | base64 \
            >>"$HERE/commitmeta/keys"
    done
    printf '# comment\n\n  not base64!\r\n' >>"$HERE/commitmeta/keys"
    python3 - "$WORK" "$HERE/commitmeta" <<'PY'
import os, sys
work, out = sys.argv[1], sys.argv[2]

def width(body, n):
    for w in (1, 2, 4, 8):
        total = body + n * w
        if n == 0 or total <= (1 << (8 * w)) - 1 or w == 8:
            return w if n else 0

def array(elems, align):
    # Array of variable-size elements: each aligned, then the table of their ends.
    b = bytearray()
    ends = []
    for e in elems:
        b += bytes((-len(b)) % align)
        b += e
        ends.append(len(b))
    if not elems:
        return bytes(b)
    w = width(len(b), len(ends))
    return bytes(b) + b"".join(e.to_bytes(w, "little") for e in ends)

def entry(key, ty, value):
    # {sv}: key string, padding to 8, variant (value, NUL, type), key end offset.
    b = key.encode() + b"\0"
    end = len(b)
    b += bytes((-len(b)) % 8)
    b += value + b"\0" + ty
    return b + end.to_bytes(width(len(b), 1), "little")

sigs = [open(os.path.join(work, f"sig{s}"), "rb").read() for s in ("01", "02")]
assert all(len(s) == 64 for s in sigs)
variants = {
    "one": [entry("ostree.sign.ed25519", b"aay", array(sigs[:1], 1))],
    "two": [entry("ostree.sign.ed25519", b"aay", array(sigs, 1))],
    "mixed": [entry("version", b"s", b"1.0\0"), entry("ostree.sign.ed25519", b"aay", array(sigs, 1))],
    "empty": [],
}
for name, entries in variants.items():
    open(os.path.join(out, "commitmeta-" + name), "wb").write(array(entries, 8))
PY
fi

# Copy and wrap (python: xattrs and byte surgery in one place).
python3 - "$WORK" "$HERE" <<'PY'
import hashlib, os, struct, sys
work, out = sys.argv[1], sys.argv[2]
SEL = {"commit": 0, "dirtree": 1, "dirmeta": 2, "filez-header": 3, "content-header": 4,
       "commitmeta": 5, "xattrs": 6, "summary": 7}

def put(target, data, tag=""):
    name = hashlib.sha1(data).hexdigest()[:16] + tag
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

def gv(kind, value):
    put("gvariant", bytes([SEL[kind]]) + value, "-" + kind)

def xattrs_of(header):
    # The a(ayay) is the last member of the .filez header (tuuuusa(ayay)); its start is the
    # framing offset of the target string (the only non-fixed member but the last).
    w = 1 if len(header) <= 0xff else 2 if len(header) <= 0xffff else 4
    end = int.from_bytes(header[-w:], "little")
    return header[end:len(header) - w]

for repo in sorted(os.listdir(work)):
    if not repo.startswith("repo-"):
        continue
    root = os.path.join(work, repo)
    objs = os.path.join(root, "objects")
    for d in sorted(os.listdir(objs)):
        for f in sorted(os.listdir(os.path.join(objs, d))):
            p = os.path.join(objs, d, f)
            ext = f.rsplit(".", 1)[-1]
            if ext in ("commit", "dirtree", "dirmeta", "commitmeta"):
                data = open(p, "rb").read()
                put("objects", data, "-" + ext)
                gv(ext, data)

            elif ext == "filez":
                data = open(p, "rb").read()
                put("filez", data)
                hlen = struct.unpack(">I", data[:4])[0]
                header = data[8:8 + hlen]
                put("objects", header, "-filez-header")
                gv("filez-header", header)
                gv("xattrs", xattrs_of(header))
            elif ext == "file" and not os.path.islink(p):
                try:
                    meta = os.getxattr(p, "user.ostreemeta", follow_symlinks=False)
                except OSError:
                    continue
                put("objects", meta, "-ostreemeta")
PY

# Hand-made .filez edge cases (reliability.md §3): trailing garbage, truncated deflate, size
# mismatch, symlink with payload.
python3 - "$HERE" <<'PY'
import os, sys, zlib
out = os.path.join(sys.argv[1], "filez")
files = sorted(os.listdir(out))
for f in files[:4]:
    data = open(os.path.join(out, f), "rb").read()
    for tag, mutated in (("trailing", data + b"\0garbage"), ("truncated", data[:-3]),
                         ("nopayload", data[:8 + int.from_bytes(data[:4], "big")])):
        open(os.path.join(out, f"{f[:12]}-{tag}"), "wb").write(mutated)
PY

# Command lines and config files from DESIGN.md "init: kernel command line".
c=$HERE/cmdline
i=0
while IFS= read -r line; do
    printf '%s' "$line" >"$c/line-$i"
    i=$((i + 1))
done <<'EOF2'
console=ttyAMA0 root=/dev/mmcblk0p3 rootwait ro quiet
root=PARTUUID=1234abcd-03 rootfstype=ext4 rootflags=noatime,data=ordered rootdelay=5
root=LABEL=rootfs init=/sbin/init ramdisk.modules=ext4,virtio_blk,,mmc_block
mount=vda ostree.ref=board/stable ostree.repo=/ostree/repo ramdisk.update=0
ramdisk.rollback ramdisk.trials=0 ramdisk.panic=reboot
ramdisk.trials=1001 rootdelay=99999999999 root=/dev/a/b init= ramdisk.panic=x
root=UUID=0b6a3b1c-5e5b-4a7e-9c1f-3d2e1f0a9b8c "ostree.ref=a b" init="/bin/my init"
"rootflags=a b" key="unterminated -- root=after
ramdisk.rollback=yes ramdisk.update=off -- init=/not/parsed
EOF2
printf '# defaults\nroot=vda\t# trailing comment\nramdisk.trials=5\n\n"init=/sbin/x y"\n' >"$c/conf-0"
printf 'rootwait\r\nrootdelay=3\r\n#root=never\n' >"$c/conf-1"

# Mount options (busybox names) and /proc texts.
m=$HERE/mount_options
i=0
while IFS= read -r line; do
    printf '%s' "$line" >"$m/opts-$i"
    i=$((i + 1))
done <<'EOF2'
ro,nosuid,nodev,noexec,relatime
rw,remount,bind
rbind,make-rslave
defaults,noauto,nofail,_netdev,loop
size=64m,mode=0755,uid=0,noatime,,lazytime
data=ordered,errors=remount-ro,commit=5,RO,NoSuid
private,shared,slave,unbindable,rprivate,rshared,rslave,runbindable
sync,async,dirsync,mand,nomand,strictatime,nostrictatime,atime,diratime,nodiratime
move,silent,loud,suid,dev,exec,nosymfollow,norelatime,nolazytime
EOF2
# Fixed texts (not this machine's /proc, so the seeds do not depend on where they were made).
cat >"$m/proc-mounts" <<'EOF2'
rootfs / rootfs rw 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=10240k,nr_inodes=60000,mode=755 0 0
/dev/mmcblk0p3 /sysroot ext4 rw,relatime,data=ordered 0 0
/dev/mmcblk0p3 /sysroot/ostree/deploy/a/etc ext4 ro,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=51200k,mode=755 0 0
overlay /mnt/with\040space overlay rw,lowerdir=/a,upperdir=/b,workdir=/c 0 0
EOF2
printf 'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text3\n\text4\n\tvfat\n' >"$m/proc-filesystems"
printf 'ext4\n# comment\nvfat\n*\n' >"$m/etc-filesystems"
printf '/dev/vda\\0401 /sys\\040root ext4 rw,relatime 0 0\nshort line\n\\777 \\12 a b\n' >"$m/escapes"

for t in gvariant objects filez cmdline mount_options commitmeta; do
    printf '%-14s %4d seeds\n' "$t" "$(find "$HERE/$t" -type f | wc -l)"
done
