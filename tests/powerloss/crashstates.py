#!/usr/bin/env python3
"""Crash states from a QEMU `blklogwrites` log, each checked with e2fsck and debugfs.

Usage:
  crashstates.py --base BASE.img --log LOG.bin --commit HEX=DIR [--commit HEX=DIR ...]
                 --work DIR [--subsets N] [--seed S] [--jobs J] [--sample K] [--sample-dir DIR]

BASE.img is the disk before the recorded boot, LOG.bin the blklogwrites log of that boot
(docs: reliability.md §6). Each `--commit HEX=DIR` names a commit the disk may legitimately show
(the old one and the new one) with its tree checked out on the host by `ostree checkout`.

Log format (little-endian, dm-log-writes compatible): sector 0 holds the superblock
{u64 magic 0x6a736677736872, u64 version 1, u64 nr_entries, u32 sectorsize}; every entry is one
sector {u64 sector, u64 nr_sectors, u64 flags, u64 data_len} followed by nr_sectors of data.
flags: bit 0 FLUSH, bit 1 FUA, bit 2 DISCARD, bit 3 MARK.

Crash model: the log is cut into epochs at FLUSH entries. Everything before epoch k is durable;
of epoch k's writes a volatile write cache may have persisted
  (a) any in-order prefix of its entries (every one is generated), and
  (b) any subset of its 4 KiB blocks (--subsets seeded random subsets per epoch).
A FUA write is treated like any other write of its epoch (QEMU's virtio-blk emits none here).
Discards are ignored (keeping the old data is always a possible outcome).

Checks per state (all must hold, else the state is "bad"):
  1. `e2fsck -fy` exits < 4 and repairs nothing but the journal replay (what a mount does)
     and the superblock's free block/inode totals (ext4 recomputes those at mount), then
     `e2fsck -fn` exits 0: the filesystem is consistent.
  2. `ostree/current` is a symlink `deploy/<HEX>.<n>` with HEX one of the --commit checksums, and
     the directory it names holds exactly that commit's tree: the same paths, types, permission
     bits, owners, symlink targets and SHA-256 of every regular file (read with debugfs rdump).
  3. `ostree/previous`, when present, satisfies 2 as well (it is the rollback target).
  4. Each `--when-current HEX PATH REGEX` whose HEX is the commit `current` names: the content
     of PATH (debugfs cat; for a symlink, its target) matches REGEX.
Output: one line per bad state, then `powerloss: N crash states, B bad (...)`. Exit 1 if B > 0.
With --sample K, K states (preferring ones with `*.tmp*` leftovers) are kept as images in
--sample-dir and listed in --sample-dir/states.txt (`FILE COMMIT-OF-CURRENT LEFTOVERS`).
"""

import argparse
import hashlib
import mmap
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

MAGIC = 0x6A736677736872
FLUSH, FUA, DISCARD, MARK = 1, 2, 4, 8
BLOCK = 4096


def parse_log(path):
    """Returns (sectorsize, [(disk_offset, log_offset, length, flags)])."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    magic, version, nr, ss = struct.unpack_from("<QQQI", data, 0)
    if magic != MAGIC or version != 1 or ss not in (512, 4096):
        sys.exit(f"crashstates: {path}: not a blklogwrites log (magic {magic:#x})")
    entries = []
    off = ss
    for _ in range(nr):
        if off + ss > len(data):
            sys.exit(f"crashstates: {path}: truncated at entry {len(entries)}")
        sector, nsec, flags, _dlen = struct.unpack_from("<QQQQ", data, off)
        off += ss
        entries.append((sector * ss, off, nsec * ss, flags))
        off += nsec * ss
    return ss, entries


def epochs_of(entries):
    """Writes grouped by flush epoch: [[(disk_off, log_off, len), ...], ...]."""
    out, cur = [], []
    for disk, logoff, length, flags in entries:
        if flags & DISCARD or flags & MARK:
            continue
        if length:
            cur.append((disk, logoff, length))
        if flags & FLUSH:
            out.append(cur)
            cur = []
    out.append(cur)
    return out


def blocks_of(writes):
    """Splits writes into BLOCK-sized pieces (a cache may persist any of them)."""
    out = []
    for disk, logoff, length in writes:
        for o in range(0, length, BLOCK):
            out.append((disk + o, logoff + o, min(BLOCK, length - o)))
    return out


def make_states(epochs, subsets, seed):
    """[(id, epoch, kind, pieces)]: pieces are the writes of that epoch that reached the disk."""
    rnd = random.Random(seed)
    states, seen = [], set()

    def add(k, kind, pieces):
        # The same disk content can arise from different epochs: dedupe on the full write set.
        key = (sum(len(e) for e in epochs[:k]), tuple(sorted(p[:2] for p in pieces)))
        if k > 0 and not pieces:
            key = (sum(len(e) for e in epochs[:k]), ())
        if key in seen:
            return
        seen.add(key)
        states.append((len(states), k, kind, pieces))

    for k, ep in enumerate(epochs):
        for n in range(len(ep) + 1):
            add(k, f"prefix {n}/{len(ep)}", ep[:n])
        blocks = blocks_of(ep)
        if len(blocks) >= 2:
            for i in range(subsets):
                p = rnd.uniform(0.1, 0.9)
                pick = [b for b in blocks if rnd.random() < p]
                add(k, f"subset {i} ({len(pick)}/{len(blocks)} blocks)", pick)
    return states


def manifest(root):
    """{relpath: (type, perm, uid, gid, payload)} for the tree under root (root excluded)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", perm, st.st_uid, st.st_gid, "")
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, st.st_uid, st.st_gid, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = ("file", perm, st.st_uid, st.st_gid, h.hexdigest())
            else:
                out[rel] = ("other", perm, st.st_uid, st.st_gid, "")
    return out


# What `e2fsck -fy` may legitimately report on a crash state: the journal replay (what a mount
# does) and the superblock's free block/inode totals, which ext4 does not keep exact on disk
# (it recomputes them from the group descriptors at mount time).
ALLOWED_FIX = re.compile(r"^(Free (blocks|inodes) count wrong \(\d+, counted=\d+\)\.$|Fix\? yes$|$)")
ROUTINE = re.compile(r"^(Pass \d|e2fsck \d|\S+: (recovering journal|clearing orphaned inode|\d+/\d+ files)|"
                     r"\S+: \*+ FILE SYSTEM WAS MODIFIED \*+|Clearing orphaned inode|"
                     r"Setting free (blocks|inodes) count)")


def unexpected_fixes(out):
    """The lines of `e2fsck -fy` output that report a repair beyond ALLOWED_FIX."""
    return [l for l in out.splitlines() if not ROUTINE.match(l) and not ALLOWED_FIX.match(l.strip())]


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def debugfs(img, request):
    """debugfs's stdout (its banner and errors go to stderr)."""
    p = subprocess.run(["debugfs", "-R", request, img], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace").replace(
        "debugfs 1.47.0 (5-Feb-2023)\n", "") if "stat" in request else p.stdout.decode("utf-8", "replace")


def read_link(img, path):
    """The symlink target of path in the image, None when absent, False when not a symlink."""
    st = debugfs(img, f"stat {path}")
    if "Type: symlink" not in st:
        return None if ("File not found" in st or "not found by ext2_lookup" in st) else False
    m = re.search(r'Fast link dest: "(.*)"', st)
    if m:
        return m.group(1)
    return debugfs(img, f"cat {path}").replace("\0", "").strip("\n")


DEP = re.compile(r"^deploy/([0-9a-f]{64})\.([0-9]+)$")


def check_tree(img, link, target, expected, tmp):
    """None when `link` -> target names a complete expected tree, else why not."""
    m = DEP.match(target)
    if not m:
        return f"{link} -> '{target}' is not deploy/<commit>.<n>"
    commit = m.group(1)
    if commit not in expected:
        return f"{link} -> '{target}' names commit {commit[:12]}, neither old nor new"
    name = target[len("deploy/"):]
    want = expected[commit]
    got = listed(img, f"/ostree/deploy/{name}", want)
    if got is None:
        return f"{link} -> '{target}': no such directory"
    # Contents and symlink targets through rdump (it drops the sticky bit, so the
    # permissions, owners and types come from `ls -p` above).
    out = tempfile.mkdtemp(dir=tmp)
    try:
        debugfs(img, f"rdump /ostree/deploy/{name} {out}")
        dumped = manifest(os.path.join(out, name))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for rel, (kind, perm, uid, gid, _) in list(got.items()):
        if kind in ("file", "symlink"):
            payload = dumped.get(rel, ("", 0, 0, 0, "<not dumped>"))[4]
            got[rel] = (kind, perm, uid, gid, payload)
    want = expected[commit]
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(p for p in set(want) & set(got) if want[p] != got[p])
    if missing or extra or differ:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} extra (e.g. {extra[0]})")
        if differ:
            p = differ[0]
            parts.append(f"{len(differ)} differ (e.g. {p}: want {want[p][:2]} {want[p][4][:16]} "
                         f"got {got[p][:2]} {got[p][4][:16]})")
        return f"{link} -> {name[:12]}…: tree does not match its commit: " + "; ".join(parts)
    return None


def listed(img, root, want):
    """{relpath: (type, perm, uid, gid, "")} from `debugfs ls -p` of root and of every
    directory of the expected tree `want` (one debugfs run); None when root is missing."""
    dirs = [""] + sorted(p for p, v in want.items() if v[0] == "dir")
    with tempfile.NamedTemporaryFile("w", suffix=".cmds", dir=G.get("work")) as f:
        for d in dirs:
            f.write(f"ls -p {root}/{d}\n" if d else f"ls -p {root}\n")
        f.flush()
        p = subprocess.run(["debugfs", "-f", f.name, img], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    got, cur, seen_root = {}, None, False
    kinds = {0o040000: "dir", 0o100000: "file", 0o120000: "symlink"}
    for line in p.stdout.decode("utf-8", "surrogateescape").splitlines():
        if line.startswith("debugfs: ls -p "):
            path = line[len("debugfs: ls -p "):]
            cur = "" if path == root else path[len(root) + 1:]
            continue
        parts = line.split("/")
        if cur is None or len(parts) < 7 or parts[0] != "":
            continue
        mode, uid, gid, n = int(parts[2], 8), int(parts[3]), int(parts[4]), parts[5]
        if n in (".", ".."):
            seen_root |= cur == ""
            continue
        kind = kinds.get(mode & 0o170000, "other")
        got[os.path.join(cur, n) if cur else n] = (
            kind, 0 if kind == "symlink" else mode & 0o7777, uid, gid, "")
    return got if seen_root else None


# Worker globals (set once per process).
G = {}


def init_worker(base, log, expected, work, rules=()):
    G["rules"] = [(h, p, re.compile(r, re.S)) for h, p, r in rules]
    with open(base, "rb") as f:
        G["base"] = f.read()
    f = open(log, "rb")
    G["log"] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    G["expected"] = expected
    G["work"] = work


def check_state(job):
    sid, durable, pieces, keep = job
    img = os.path.join(G["work"], f"state-{sid:04d}.img")
    buf = bytearray(G["base"])
    log = G["log"]
    for disk, logoff, length in list(durable) + list(pieces):
        buf[disk:disk + length] = log[logoff:logoff + length]
    with open(img, "wb") as f:
        f.write(buf)
    del buf
    res = {"id": sid, "bad": None, "current": None, "leftovers": False, "fy": None}
    try:
        rc, out = run(["e2fsck", "-fy", img])
        res["fy"] = rc
        if rc >= 4:
            res["bad"] = f"e2fsck -fy exit {rc}: " + " | ".join(out.strip().splitlines()[-4:])
            return res
        fixes = unexpected_fixes(out)
        if fixes:
            res["bad"] = "e2fsck -fy had to repair more than the journal: " + " | ".join(fixes[:3])
            return res
        rc, out = run(["e2fsck", "-fn", img])
        if rc != 0:
            res["bad"] = f"e2fsck -fn exit {rc} after -fy: " + " | ".join(out.strip().splitlines()[-4:])
            return res
        cur = read_link(img, "/ostree/current")
        if not cur:
            res["bad"] = "ostree/current is " + ("missing" if cur is None else "not a symlink")
            return res
        why = check_tree(img, "current", cur, G["expected"], G["work"])
        if why:
            res["bad"] = why
            return res
        res["current"] = DEP.match(cur).group(1)
        for hexid, path, rx in G["rules"]:
            if hexid == res["current"]:
                text = debugfs(img, f"cat {path}").replace("\0", "")
                if not rx.fullmatch(text):
                    res["bad"] = f"current -> {hexid[:12]}… but {path} holds {text!r}, not /{rx.pattern}/"
                    return res
        prev = read_link(img, "/ostree/previous")
        if prev is False:
            res["bad"] = "ostree/previous is not a symlink"
            return res
        if prev:
            why = check_tree(img, "previous", prev, G["expected"], G["work"])
            if why:
                res["bad"] = why
                return res
        listing = debugfs(img, "ls /ostree/deploy") + debugfs(img, "ls /ostree") + \
            debugfs(img, "ls /ostree/state")
        res["leftovers"] = ".tmp" in listing
        return res
    finally:
        # e2fsck -fy repaired the copy; a sampled state is rebuilt unrepaired for booting.
        os.unlink(img)


def selftest(a, expected, commit, writes):
    """None when the checker flags the final state minus PATH's data blocks (what a missing
    syncfs before the flip leaves: metadata committed, file data never written)."""
    init_worker(a.base, a.log, expected, a.work, a.when_current)
    buf = bytearray(G["base"])
    for disk, logoff, length in writes:
        buf[disk:disk + length] = G["log"][logoff:logoff + length]
    img = os.path.join(a.work, "selftest.img")
    with open(img, "wb") as f:
        f.write(buf)
    run(["e2fsck", "-fy", img])
    name = debugfs(img, "ls /ostree/deploy").split()
    dep = [n for n in name if n.startswith(commit + ".") and ".tmp" not in n]
    path = f"/ostree/deploy/{dep[0]}/{a.selftest.lstrip('/')}" if dep else None
    blocks = {int(b) for b in debugfs(img, f"blocks {path}").split()} if path else set()
    os.unlink(img)
    if not blocks:
        return f"no data blocks found for {path}"
    kept = [w for w in blocks_of(writes) if w[0] // BLOCK not in blocks]
    if len(kept) == len(blocks_of(writes)):
        return f"the log holds no write of {path}'s blocks"
    res = check_state((999999, [], kept, False))
    if not res["bad"]:
        return f"a state without the data of {path} passed the checks"
    print(f"selftest: ok: the final state without the {len(blocks)} data blocks of "
          f"{a.selftest} is caught: {res['bad']}")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--commit", action="append", required=True, help="HEX=DIR")
    ap.add_argument("--work", required=True)
    ap.add_argument("--subsets", type=int, default=8)
    ap.add_argument("--seed", default="powerloss")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--sample-dir")
    ap.add_argument("--expect-final", help="HEX: the commit current must name after the whole log")
    ap.add_argument("--when-current", nargs=3, action="append", default=[],
                    metavar=("HEX", "PATH", "REGEX"),
                    help="when current names commit HEX, `debugfs cat PATH` must match REGEX "
                         "(e.g. the trial file of a new deployment, state/failed after a rollback)")
    ap.add_argument("--selftest", metavar="PATH",
                    help="also check a mutant of the final state without the data blocks of PATH "
                         "(inside the new deployment): the checker must call it bad")
    a = ap.parse_args()

    expected = {}
    for c in a.commit:
        hexid, _, d = c.partition("=")
        expected[hexid] = manifest(d)
    _, entries = parse_log(a.log)
    epochs = epochs_of(entries)
    states = make_states(epochs, a.subsets, a.seed)
    nwrites = sum(len(e) for e in epochs)
    nflush = sum(1 for e in entries if e[3] & FLUSH)
    nfua = sum(1 for e in entries if e[3] & FUA)
    os.makedirs(a.work, exist_ok=True)

    def durable(k):
        return [w for e in epochs[:k] for w in e]

    jobs = [(sid, durable(k), pieces, False) for sid, k, _, pieces in states]
    # The final state: every write of the log (the disk as qemu left it).
    final_id = len(states)
    jobs.append((final_id, durable(len(epochs)), [], False))
    with ProcessPoolExecutor(a.jobs, initializer=init_worker,
                             initargs=(a.base, a.log, expected, a.work, a.when_current)) as ex:
        results = list(ex.map(check_state, jobs, chunksize=4))

    final = results.pop()
    bad = [r for r in results if r["bad"]]
    for r in bad:
        sid, k, kind, pieces = states[r["id"]]
        print(f"BAD state {sid}: epoch {k}/{len(epochs) - 1}, {kind}: {r['bad']}")
    if final["bad"]:
        print(f"BAD final state (whole log): {final['bad']}")
    elif a.expect_final and final["current"] != a.expect_final:
        final["bad"] = f"current names {final['current'][:12]}…, not the new commit"
        print(f"BAD final state (whole log): {final['bad']}")

    counts = {}
    for r in results:
        if r["current"] and not r["bad"]:
            counts[r["current"]] = counts.get(r["current"], 0) + 1
    fixed = sum(1 for r in results if r["fy"] not in (None, 0))
    on = ", ".join(f"{counts.get(h, 0)} on {h[:12]}…" for h in expected)
    print(f"log: {len(entries)} entries, {nwrites} writes ({sum(w[2] for e in epochs for w in e)} B), "
          f"{nflush} flushes, {nfua} FUA, {len(epochs)} epochs; e2fsck -fy replayed the journal of {fixed} states")

    if a.sample and a.sample_dir:
        os.makedirs(a.sample_dir, exist_ok=True)
        good = [r for r in results if not r["bad"]]
        left = [r for r in good if r["leftovers"]]
        rest = [r for r in good if not r["leftovers"]]
        rnd = random.Random(a.seed)
        pick = rnd.sample(left, min(len(left), (a.sample + 1) // 2))
        pick += rnd.sample(rest, min(len(rest), a.sample - len(pick)))
        with open(os.path.join(a.sample_dir, "states.txt"), "w") as lst:
            for r in sorted(pick, key=lambda r: r["id"]):
                sid, k, kind, pieces = states[r["id"]]
                buf = bytearray(open(a.base, "rb").read())
                with open(a.log, "rb") as lf:
                    for disk, logoff, length in durable(k) + list(pieces):
                        lf.seek(logoff)
                        buf[disk:disk + length] = lf.read(length)
                path = os.path.join(a.sample_dir, f"state-{sid:04d}.img")
                with open(path, "wb") as f:
                    f.write(buf)
                lst.write(f"{path} {r['current']} {int(r['leftovers'])} epoch-{k}:{kind.replace(' ', '_')}\n")

    if a.selftest and final["current"]:
        why = selftest(a, expected, final["current"], durable(len(epochs)))
        if why:
            print(f"selftest: FAIL: {why}")
            return 1
    nbad = len(bad) + (1 if final["bad"] else 0)
    print(f"powerloss: {len(results)} crash states, {nbad} bad ({on}; "
          f"{sum(1 for r in results if r['leftovers'])} with leftovers)")
    return 1 if nbad else 0


if __name__ == "__main__":
    sys.exit(main())
