//! `mount`, `umount`, `mknod`, `mv` for real: as root in a private mount namespace
//! (`unshare -m`), on tmpfs and on a loop-mounted ext4 image made with `mkfs.ext4 -d`.
//!
//! Each test runs one shell script (`in_mount_ns`) whose stdout is a transcript: `t ARGS`
//! prints `rc|stderr` for one ramdisk call, `mi DIR` the mountinfo options of a mount,
//! `snap DIR` every entry's type, mode, owner, size, device numbers, ns mtime/atime, symlink
//! target, content hash and xattrs, then the hard-link groups. The test compares the whole
//! transcript, so every exit code, stderr line and resulting tree is asserted.
//! With `RAMDISK_BIN`/`RAMDISK_RUNNER` set the same scripts run the aarch64 binary.

use tests::{can_unshare_mounts, have, in_mount_ns, skip_unless, stderr, stdout, TempDir};

const PRELUDE: &str = r#"
t() { rc=0; $RD "$@" >"$W/out" 2>"$W/err" || rc=$?; printf '%s|%s\n' "$rc" "$(cat "$W/err")"; }
mi() { awk -v d="$1" '$5 == d { o=$6; for (i=7; $i != "-"; i++) if ($i ~ /^(shared|master):/) { sub(/:.*/, "", $i); o=o" "$i }; print o" - "$(i+1) }' /proc/self/mountinfo | tail -n 1 | grep . || echo none; }
snap() { ( cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
    stat -c '%n|%F|%a|%u|%g|%t:%T|%.9Y|%.9X' "$p"
    if [ -L "$p" ]; then echo "  -> $(readlink "$p")"; elif [ -f "$p" ]; then echo "  sha $(sha256sum < "$p" | cut -c1-16)"; fi
    getfattr -h -d -m - --absolute-names "$p" 2>/dev/null | grep -v '^#' | grep . | LC_ALL=C sort | sed 's/^/  x /' || true
  done
  find . -mindepth 1 ! -type d -links +1 -printf '%i %p\n' | LC_ALL=C sort -k2 | awk '{ g[$1] = g[$1] " " $2 } END { for (i in g) print "  link" g[i] }' | LC_ALL=C sort ) }
"#;

/// Runs `body` in a private mount namespace with `$W` a fresh work dir; `None` when skipped.
fn ns(tag: &str, body: &str) -> Option<String> {
    if skip_unless(
        can_unshare_mounts(),
        "needs root and `unshare -m` (private mount namespace)",
    ) {
        return None;
    }
    let w = TempDir::new(tag);
    let script = format!("W='{}'\n{PRELUDE}\n{body}", w.path().display());
    let o = in_mount_ns(&script);
    assert!(
        o.status.success(),
        "script failed: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    Some(stdout(&o).replace(&w.path().display().to_string(), "$W"))
}

fn lines(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn mount_tmpfs_lists_and_umounts() {
    let Some(out) = ns(
        "mnt-tmpfs",
        r#"
mkdir "$W/a" "$W/b"
t mount -t tmpfs -o size=1m,mode=0700,nosuid,NODEV x "$W/a"
mi "$W/a"
stat -c '%a' "$W/a"
$RD mount | grep " $W/a " || echo "not listed"
$RD mount -t tmpfs | grep -c " $W/a " || true
$RD mount -t proc | grep -c " $W/a " || true
t umount "$W/a"
t umount "$W/a" "$W/nonexistent"
t mount -t tmpfs x "$W/a"
t umount -l "$W/a"
t mount -t tmpfs x "$W/a"
t umount -f "$W/a"
t umount
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        "0|\n\
         rw,nosuid,nodev,relatime - tmpfs\n\
         700\n\
         x on $W/a type tmpfs (rw,nosuid,nodev,relatime,size=1024k,mode=700)\n\
         1\n\
         0\n\
         0|\n\
         1|umount: can't unmount $W/a: Invalid argument\n\
         umount: can't unmount $W/nonexistent: No such file or directory\n\
         0|\n\
         0|\n\
         0|\n\
         0|\n\
         1|umount: no mount point given\n\
         Usage: umount [-l] [-f] DIR...\n"
    );
}

#[test]
fn mount_bind_move_remount_ro() {
    let Some(out) = ns(
        "mnt-bind",
        r#"
mkdir "$W/a" "$W/b" "$W/c" "$W/d"
t mount -t tmpfs src "$W/a"
echo hi > "$W/a/f"
t mount --bind "$W/a" "$W/b"
cat "$W/b/f"
t mount -o remount,bind,ro "$W/b"
mi "$W/b"
mi "$W/a"
echo x > "$W/b/g" 2>/dev/null && echo "write ok" || echo "write refused"
touch "$W/a/g" && echo "source still writable"
t mount -o rw,remount,bind "$W/b"
mi "$W/b"
t mount --move "$W/b" "$W/c"
mi "$W/b"
mi "$W/c"
t mount --bind -o ro,nosuid "$W/a" "$W/d"
mi "$W/d"
t mount -o remount,ro "$W/a"
mi "$W/a"
rm "$W/a/f" 2>/dev/null || echo "rm refused: read-only"
t mount -o rw,remount "$W/a"
mi "$W/a"
t mount -o remount,ro "$W/nowhere"
t mount --move "$W/nowhere" "$W/c"
mkdir "$W/e"
t mount "$W/a" "$W/e"
mi "$W/e"
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        "0|\n\
         0|\n\
         hi\n\
         0|\n\
         ro,relatime - tmpfs\n\
         rw,relatime - tmpfs\n\
         write refused\n\
         source still writable\n\
         0|\n\
         rw,relatime - tmpfs\n\
         0|\n\
         none\n\
         rw,relatime - tmpfs\n\
         0|\n\
         ro,nosuid,relatime - tmpfs\n\
         0|\n\
         ro,relatime - tmpfs\n\
         rm refused: read-only\n\
         0|\n\
         rw,relatime - tmpfs\n\
         1|mount: $W/nowhere: No such file or directory\n\
         1|mount: mounting $W/nowhere on $W/c failed: No such file or directory\n\
         0|\n\
         rw,relatime - tmpfs\n"
    );
}

#[test]
fn mount_propagation_is_its_own_call() {
    let Some(out) = ns(
        "mnt-prop",
        r#"
mkdir "$W/a" "$W/b" "$W/c"
t mount -t tmpfs -o shared x "$W/a"
mi "$W/a"
t mount --make-private "$W/a"
mi "$W/a"
t mount --make-rshared "$W/a"
mi "$W/a"
t mount --bind "$W/a" "$W/b"
t mount --make-slave "$W/b"
mi "$W/b"
t mount -o remount,bind,ro,private "$W/b"
mi "$W/b"
t mount -t tmpfs y "$W/c"
t mount -o make-unbindable "$W/c"
t mount --bind "$W/c" "$W/a"
t mount --make-shared "$W/nowhere"
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        "0|\n\
         rw,relatime shared - tmpfs\n\
         0|\n\
         rw,relatime - tmpfs\n\
         0|\n\
         rw,relatime shared - tmpfs\n\
         0|\n\
         0|\n\
         rw,relatime master - tmpfs\n\
         0|\n\
         ro,relatime - tmpfs\n\
         0|\n\
         0|\n\
         1|mount: mounting $W/c on $W/a failed: Invalid argument\n\
         1|mount: $W/nowhere: No such file or directory\n"
    );
}

#[test]
fn mount_reports_bad_requests() {
    let Some(out) = ns(
        "mnt-err",
        r#"
mkdir "$W/a"
: > "$W/img"
t mount -t nosuchfs x "$W/a"
t mount -t tmpfs x "$W/nowhere"
t mount "$W/a"
t mount -o loop "$W/img" "$W/a"
t mount "$W/img" "$W/a"
t mount -a
t mount -q x y
t mount a b c
t mount -t tmpfs -o size=bogus x "$W/a"
t mount -f -t nosuchfs x "$W/a"
"#,
    ) else {
        return;
    };
    let usage = "Usage: mount [-r] [-w] [-f] [-t FSTYPE] [-o OPT[,...]] DEVICE DIR\n\
\x20      mount --bind|--rbind|--move SRC DIR\n\
\x20      mount -o remount[,OPT...] DIR\n\
\x20      mount --make-[r]shared|slave|private|unbindable DIR\n\
\x20      mount [-t FSTYPE]   (list mounts)\n\n\
Mount a filesystem. Unknown -o options are passed to the filesystem.\n\n\
\t-r\tRead-only mount\n\
\t-w\tRead-write mount, no read-only retry\n\
\t-f\tDry run\n\
\t-t FS\tFilesystem type(s), comma-separated; default: try all\n\
\t-o OPT\tro rw remount bind rbind move nosuid suid nodev dev noexec exec sync async dirsync\n\
\t\t[no]atime [no]diratime [no]relatime [no]strictatime [no]lazytime [no]mand nosymfollow\n\
\t\tsilent loud defaults [make-][r]shared|slave|private|unbindable\n";
    let want = format!(
        "1|mount: mounting x on $W/a failed: No such device\n\
         1|mount: mounting x on $W/nowhere failed: No such file or directory\n\
         1|mount: can't mount '$W/a': fstab is not supported, give DEVICE and DIR\n\
         1|mount: $W/img: loop devices are not supported, set one up with losetup\n\
         1|mount: $W/img: is a regular file: loop devices are not supported, set one up with losetup\n\
         1|mount: -a: fstab is not supported\n\
         1|mount: invalid option -- 'q'\n{usage}\
         1|{usage}\
         1|mount: mounting x on $W/a failed: Invalid argument\n\
         0|\n"
    );
    assert_eq!(lines(&out), lines(&want));
}

#[test]
fn mount_ext4_loop_autodetects_type_and_retries_read_only() {
    if skip_unless(
        have("mkfs.ext4") && have("losetup"),
        "needs mkfs.ext4 and losetup",
    ) {
        return;
    }
    let Some(out) = ns(
        "mnt-ext4",
        r#"
mkdir "$W/src" "$W/m"
echo content > "$W/src/file"
truncate -s 8M "$W/img"
mkfs.ext4 -q -d "$W/src" "$W/img"
if ! L=$(losetup -f --show "$W/img" 2>/dev/null); then echo "skipped: no loop device"; exit 0; fi
trap 'umount "$W/m" 2>/dev/null || true; losetup -d "$L" 2>/dev/null || true' EXIT
t mount "$L" "$W/m"
mi "$W/m"
cat "$W/m/file"
t umount "$W/m"
t mount -t vfat,ext4 -o noatime "$L" "$W/m"
mi "$W/m"
t umount "$W/m"
losetup -d "$L"
L=$(losetup -r -f --show "$W/img")
t mount -t ext4 "$L" "$W/m" | sed "s#$L#LOOP#g"
mi "$W/m"
t umount "$W/m"
t mount -w -t ext4 "$L" "$W/m" | sed "s#$L#LOOP#g"
"#,
    ) else {
        return;
    };
    if out.contains("skipped: no loop device") {
        skip_unless(false, "loop devices do not work here");
        return;
    }
    assert_eq!(
        lines(&out),
        "0|\n\
         rw,relatime - ext4\n\
         content\n\
         0|\n\
         0|\n\
         rw,noatime - ext4\n\
         0|\n\
         0|mount: LOOP is write-protected, mounting read-only\n\
         ro,relatime - ext4\n\
         0|\n\
         1|mount: mounting LOOP on $W/m failed: Permission denied\n"
    );
}

#[test]
fn mknod_makes_each_type() {
    let Some(out) = ns(
        "mknod",
        r#"
mkdir "$W/x"; cd "$W/x"
umask 022
t mknod blk b 7 200
t mknod chr c 1 3
t mknod unb u 4095 1048575
t mknod fifo p
umask 077
t mknod -m 0666 exact c 1 5
t mknod -m u=rw,g=r sym p
t mknod -m 4755 suid p
stat -c '%n %F %a %t:%T' blk chr unb fifo exact sym suid
t mknod chr c 1 3
t mknod big c 4096 0
t mknod big c 1 1048576
t mknod hex c 0x1 1
t mknod -m 9 bad p
t mknod f2 p 1 2
t mknod f3 c 1
t mknod f4 x 1 2
t mknod nodir/x p
ls -A | tr '\n' ' '; echo
"#,
    ) else {
        return;
    };
    let usage = "Usage: mknod [-m MODE] NAME TYPE [MAJOR MINOR]\n\nCreate a special file\n\n\
TYPE:\tb\tBlock device\n\tc or u\tCharacter device\n\tp\tNamed pipe (MAJOR MINOR must be omitted)\n";
    let want = format!(
        "0|\n0|\n0|\n0|\n0|\n0|\n0|\n\
         blk block special file 644 7:c8\n\
         chr character special file 644 1:3\n\
         unb character special file 644 fff:fffff\n\
         fifo fifo 644 0:0\n\
         exact character special file 666 1:5\n\
         sym fifo 646 0:0\n\
         suid fifo 4755 0:0\n\
         1|mknod: chr: File exists\n\
         1|mknod: number 4096 is not in 0..4095 range\n\
         1|mknod: number 1048576 is not in 0..1048575 range\n\
         1|mknod: invalid number '0x1'\n\
         1|mknod: invalid mode '9'\n\
         1|{usage}1|{usage}1|{usage}\
         1|mknod: nodir/x: No such file or directory\n\
         blk chr exact fifo suid sym unb \n"
    );
    assert_eq!(lines(&out), lines(&want));
}

#[test]
fn mv_within_one_filesystem() {
    let Some(out) = ns(
        "mv-same",
        r#"
mkdir "$W/x"; cd "$W/x"
mkdir d e
echo 1 > f; echo 2 > g; echo 3 > h
t mv f f2
t mv f2 g h d
t mv nonexist x
t mv d/f2 nodir/x
t mv -n d/g e/g2
echo old > e/keep; echo new > d/h
t mv -n d/h e/keep
cat e/keep
t mv -f d/h e/keep
cat e/keep
t mv -T e d
mkdir empty
t mv -T d empty
t mv e/keep e/keep
t mv -t e empty/f2
t mv -v e/keep kept
t mv d/sub d
t mv
t mv -T a b c
t mv -x a b
find . | LC_ALL=C sort | tr '\n' ' '; echo
"#,
    ) else {
        return;
    };
    let usage =
        "Usage: mv [-finT] SOURCE DEST\nor: mv [-fin] SOURCE... { -t DIRECTORY | DIRECTORY }\n\n\
Rename SOURCE to DEST, or move SOURCEs to DIRECTORY\n\n\
\t-f\tDon't prompt before overwriting\n\t-i\tInteractive, prompt before overwrite\n\
\t-n\tDon't overwrite an existing file\n\t-T\tRefuse to move if DEST is a directory\n\
\t-t DIR\tMove all SOURCEs into DIR\n\t-v\tVerbose\n";
    let want = format!(
        "0|\n\
         0|\n\
         1|mv: can't rename 'nonexist': No such file or directory\n\
         1|mv: can't rename 'd/f2': No such file or directory\n\
         0|\n\
         0|\n\
         old\n\
         0|\n\
         new\n\
         1|mv: can't rename 'e': Directory not empty\n\
         0|\n\
         0|\n\
         0|\n\
         0|\n\
         1|mv: can't rename 'd/sub': No such file or directory\n\
         1|{usage}1|{usage}\
         1|mv: Unrecognized argument: -x\n\
         . ./e ./e/f2 ./e/g2 ./empty ./kept\n"
    );
    assert_eq!(lines(&out), lines(&want));
}

/// Builds the tree every cross-filesystem test moves: all entry types, owners, modes, xattrs
/// (also on a symlink), ns timestamps, hard links inside the tree.
const MAKE_TREE: &str = r#"
mk_tree() {
  r="$1"; mkdir -p "$r/sub/deep"
  printf 'hello\n' > "$r/file"
  head -c 300000 /dev/urandom > "$r/sub/big"
  ln "$r/file" "$r/sub/hardlink"
  ln "$r/file" "$r/sub/deep/hardlink2"
  printf 'x' > "$r/sub/pair1"; ln "$r/sub/pair1" "$r/pair2"
  ln -s ../file "$r/sub/link"
  ln -s /nonexistent/dangling "$r/dangling"
  mkfifo "$r/fifo"
  mknod "$r/sub/null" c 1 3
  mknod "$r/blk" b 7 9
  chown 1234:5678 "$r/file"; chown -h 42:43 "$r/sub/link"; chown 7:8 "$r/sub"
  chmod 4750 "$r/sub/big"; chmod 1777 "$r/sub/deep"; chmod 0 "$r/fifo"
  setfattr -n user.color -v blue "$r/file"
  setfattr -n user.empty "$r/sub"
  setfattr -n trusted.t -v 0x00ff00 "$r/sub/big"
  setfattr -h -n trusted.onlink -v yes "$r/sub/link"
  for p in file sub/big sub/deep sub fifo sub/null blk dangling sub/link pair2 .; do
    touch -h -d '2001-02-03 04:05:06.123456789' "$r/$p"
  done
  touch -h -a -d '2002-03-04 05:06:07.987654321' "$r/file" "$r/sub/link"
}
"#;

fn cross_fs(tag: &str, make_dst: &str) {
    let body = format!(
        r#"{MAKE_TREE}
mkdir "$W/s" "$W/d"
$RD mount -t tmpfs -o noatime src "$W/s"
{make_dst}
mk_tree "$W/s/tree"
snap "$W/s/tree" > "$W/before"
t mv "$W/s/tree" "$W/d/moved"
snap "$W/d/moved" > "$W/after"
if diff "$W/before" "$W/after"; then echo "same tree"; fi
ls -A "$W/s" | tr '\n' ' '; echo
ls -A "$W/d" | tr '\n' ' '; echo
grep -c '^  link ' "$W/after"
grep -c '^  x ' "$W/after"
"#
    );
    let Some(out) = ns(tag, &body) else {
        return;
    };
    let listing = if make_dst.contains("ext4") {
        "lost+found moved"
    } else {
        "moved"
    };
    assert_eq!(
        lines(&out),
        lines(&format!("0|\nsame tree\n\n{listing}\n2\n6\n"))
    );
}

#[test]
fn mv_across_filesystems_to_tmpfs_keeps_everything() {
    cross_fs("mv-tmpfs", r#"$RD mount -t tmpfs -o noatime dst "$W/d""#);
}

#[test]
fn mv_across_filesystems_to_ext4_keeps_everything() {
    if skip_unless(
        have("mkfs.ext4") && have("losetup") && have("setfattr"),
        "needs mkfs.ext4, losetup, setfattr",
    ) {
        return;
    }
    cross_fs(
        "mv-ext4",
        r#"truncate -s 32M "$W/img"; mkfs.ext4 -q "$W/img"
L=$(losetup -f --show "$W/img"); trap 'umount "$W/d" 2>/dev/null || true; losetup -d "$L" 2>/dev/null || true' EXIT
$RD mount -t ext4 -o noatime "$L" "$W/d""#,
    );
}

#[test]
fn mv_mnt_star_into_sysroot_moves_the_others() {
    // The initramfs idiom `mv /mnt/* /mnt/sysroot/`, with sysroot a mount point (the other
    // entries cross filesystems) and with sysroot a plain directory (same filesystem).
    let Some(out) = ns(
        "mv-sysroot",
        r#"
mkdir "$W/mnt"
$RD mount -t tmpfs m "$W/mnt"
mkdir "$W/mnt/sysroot" "$W/mnt/a" "$W/mnt/zdir"; echo b > "$W/mnt/b"; echo z > "$W/mnt/zdir/f"
$RD mount -t tmpfs root "$W/mnt/sysroot"
t mv "$W"/mnt/* "$W/mnt/sysroot/"
(cd "$W/mnt" && find . | LC_ALL=C sort | tr '\n' ' '); echo
mkdir "$W/plain" "$W/plain/sysroot" "$W/plain/a"; echo b > "$W/plain/b"
t mv "$W"/plain/* "$W/plain/sysroot/"
(cd "$W/plain" && find . | LC_ALL=C sort | tr '\n' ' '); echo
t mv "$W/plain/sysroot" "$W/plain/sysroot/a/deeper"
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        lines(
            "1|mv: can't move '$W/mnt/sysroot' to a subdirectory of itself\n\
         . ./sysroot ./sysroot/a ./sysroot/b ./sysroot/zdir ./sysroot/zdir/f \n\
         1|mv: can't move '$W/plain/sysroot' to a subdirectory of itself\n\
         . ./sysroot ./sysroot/a ./sysroot/b \n\
         1|mv: can't move '$W/plain/sysroot' to a subdirectory of itself\n"
        )
    );
}

#[test]
fn mv_keeps_source_when_copy_fails() {
    let Some(out) = ns(
        "mv-full",
        r#"
mkdir "$W/s" "$W/d"
$RD mount -t tmpfs -o noatime src "$W/s"
$RD mount -t tmpfs -o size=64k,noatime dst "$W/d"
mkdir "$W/s/tree"; echo small > "$W/s/tree/a"; head -c 200000 /dev/urandom > "$W/s/tree/b"
echo keep > "$W/d/existing"
snap "$W/s" > "$W/before"
t mv "$W/s/tree" "$W/d/"
t mv "$W/s/tree/b" "$W/d/existing"
snap "$W/s" > "$W/after"
if diff "$W/before" "$W/after"; then echo "source intact"; fi
ls -A "$W/d" | tr '\n' ' '; echo
cat "$W/d/existing"
mkdir "$W/s/dir" "$W/d/dir"; echo 1 > "$W/s/file"; echo 2 > "$W/d/dir/x"
t mv "$W/s/dir" "$W/d/existing"
t mv -T "$W/s/file" "$W/d/dir"
t mv "$W/s/dir" "$W/d/"
t mv "$W/s/file" "$W/d/dir"
(cd "$W" && find s d | LC_ALL=C sort | tr '\n' ' '); echo
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        lines(
            "1|mv: can't move '$W/s/tree': write: No space left on device\n\
             1|mv: can't move '$W/s/tree/b': write: No space left on device\n\
             source intact\n\
             existing\n\
             keep\n\
             1|mv: can't overwrite non-directory with directory\n\
             1|mv: can't overwrite directory with non-directory\n\
             1|mv: can't move '$W/s/dir': renameat: Directory not empty\n\
             0|\n\
             d d/dir d/dir/file d/dir/x d/existing s s/dir s/tree s/tree/a s/tree/b\n"
        )
    );
}

#[test]
fn mount_list_matches_busybox_and_remount_passes_data() {
    if skip_unless(have("busybox"), "needs busybox to compare the listing") {
        return;
    }
    let Some(out) = ns(
        "mnt-list",
        r#"
mkdir "$W/a" "$W/with space"
$RD mount -t tmpfs -o size=1m "tmp fs" "$W/with space"
$RD mount -t tmpfs -o size=1m x "$W/a"
$RD mount > "$W/ours"; busybox mount > "$W/theirs"
if cmp -s "$W/ours" "$W/theirs"; then echo "same listing"; fi
grep -c "^tmp fs on $W/with space type tmpfs" "$W/ours"
t mount -o remount,size=2m "$W/a"
grep " $W/a " /proc/mounts | cut -d' ' -f4
t mount -t tmpfs -o remount,ro,size=3m x "$W/a"
grep " $W/a " /proc/mounts | cut -d' ' -f4
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        lines("same listing\n1\n0|\nrw,relatime,size=2048k\n0|\nro,relatime,size=3072k\n")
    );
}

#[test]
fn mv_overwrite_policy_last_flag_wins() {
    let Some(out) = ns(
        "mv-ask",
        r#"
mkdir "$W/x"; cd "$W/x"
echo a > a; echo b > b
echo n | t mv -i a b
cat b
echo y | t mv -i a b
cat b; ls
echo c > c
echo n | t mv -i -f c b
cat b
echo d > d
t mv -f -n d b
cat b
echo n | t mv -n -i d b
cat b; ls
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        lines(
            "0|mv: overwrite 'b'? \nb\n0|mv: overwrite 'b'? \na\nb\n0|\nc\n0|\nc\n0|mv: overwrite 'b'? \nc\nb\nd\n"
        )
    );
}

#[test]
fn mv_across_filesystems_moves_many_and_replaces_files() {
    let Some(out) = ns(
        "mv-many",
        r#"
mkdir "$W/s" "$W/d"
$RD mount -t tmpfs src "$W/s"
$RD mount -t tmpfs dst "$W/d"
echo new > "$W/s/f1"; chmod 0640 "$W/s/f1"; echo two > "$W/s/f2"; mkdir "$W/s/dir"; echo in > "$W/s/dir/x"
mkdir "$W/d/dir"
echo old > "$W/d/f1"; ln "$W/d/f1" "$W/d/f1.other"
t mv "$W/s/f1" "$W/s/f2" "$W/s/dir" "$W/d/"
t mv "$W/d/dir" "$W/s/renamed"
(cd "$W" && find s d | LC_ALL=C sort | tr '\n' ' '); echo
cat "$W/d/f1" "$W/d/f1.other"; stat -c '%a %h' "$W/d/f1"
"#,
    ) else {
        return;
    };
    assert_eq!(
        lines(&out),
        lines("0|\n0|\nd d/f1 d/f1.other d/f2 s s/renamed s/renamed/x\nnew\nold\n640 1\n")
    );
}
