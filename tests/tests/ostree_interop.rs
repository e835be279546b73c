//! Interop: trees committed with the real `ostree` in every repo mode, with a history of three
//! commits; `ramdisk ostree checkout` must equal `ostree checkout` entry by entry (type, mode,
//! uid, gid, xattrs, symlink target, content, directory mtime) for plain, `-U`, `--subpath` and
//! `--union` checkouts and every rev syntax; `log`, `rev-parse`, `show`, `ls`, `cat` output must
//! equal ostree's byte for byte (`refs` as a set of lines: ostree prints GLib hash-table order).
//!
//! `OSTREE_UNDER_TEST=ostree` runs the real ostree in place of ramdisk (harness self-check).
//! Each test collects every mismatch before failing, so one run lists all differences.
//! Needs root (chown, setuid files) and the `ostree` CLI; otherwise each test prints `skipped:`.
//!
//! Run: `cargo build -p ramdisk-bin && cargo test -p tests --test ostree_interop`

use std::os::unix::fs::{chown, lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use tests::repo::{self, Repo};
use tests::tree::{self, Ignore, Snapshot};
use tests::{have, skip_unless, TempDir};

const MODES: [&str; 4] = ["archive", "bare", "bare-user", "bare-user-only"];

struct Fixture {
    repos: Vec<Repo>,
    /// Per repo: commits v1, v2, v3 (main = v3).
    commits: Vec<[String; 3]>,
    /// The v3 source tree (what a root checkout of archive/bare must reproduce).
    src3: PathBuf,
}

fn write(p: &Path, data: &[u8], mode: u32) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Deterministic pseudo-random bytes (incompressible, so deflate emits many blocks).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Version 1 of the source tree: every feature the checkout has to reproduce.
fn build_v1(s: &Path) {
    mkdir(s, 0o755);
    mkdir(&s.join("dir"), 0o755);
    write(&s.join("dir/nested/deep/file.txt"), b"deep\n", 0o644);
    write(&s.join("dir/nested/other"), b"other\n", 0o600);
    write(&s.join("empty"), b"", 0o644);
    write(&s.join("large.bin"), &noise(3 << 20, 1), 0o644);
    write(&s.join("text.txt"), b"hello\n", 0o644);
    repo::set_xattr(&s.join("text.txt"), "user.foo", b"bar");
    repo::set_xattr(&s.join("text.txt"), "user.bin", &[0, 0xff, 1, 0]);
    symlink("dir/nested/deep/file.txt", s.join("rel-link")).unwrap();
    symlink("/etc/passwd", s.join("abs-link")).unwrap();
    symlink("does/not/exist", s.join("dangling")).unwrap();
    symlink("dir", s.join("dirlink")).unwrap();
    symlink("../text.txt", s.join("dir/up-link")).unwrap();
    // chown before chmod: chown clears setuid/setgid.
    write(&s.join("suid"), b"#!/bin/sh\n", 0o644);
    chown(s.join("suid"), Some(0), Some(0)).unwrap();
    std::fs::set_permissions(s.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    write(&s.join("sgid"), b"sgid\n", 0o644);
    chown(s.join("sgid"), Some(0), Some(100)).unwrap();
    std::fs::set_permissions(s.join("sgid"), std::fs::Permissions::from_mode(0o2755)).unwrap();
    mkdir(&s.join("sticky"), 0o1777);
    write(&s.join("sticky/f"), b"in sticky\n", 0o666);
    write(&s.join("owned"), b"owned\n", 0o640);
    chown(s.join("owned"), Some(1000), Some(1000)).unwrap();
    mkdir(&s.join("userdir"), 0o750);
    write(&s.join("userdir/inner"), b"inner\n", 0o644);
    chown(s.join("userdir/inner"), Some(1234), Some(5678)).unwrap();
    chown(s.join("userdir"), Some(1234), Some(5678)).unwrap();
    repo::set_xattr(&s.join("userdir"), "user.dir", b"1");
    symlink("text.txt", s.join("linkowned")).unwrap();
    lchown(s.join("linkowned"), Some(42), Some(43)).unwrap();
    write(
        &s.join("ünïcödé/日本語.txt"),
        "unicode ✓\n".as_bytes(),
        0o644,
    );
    write(&s.join("emoji-🎉"), b"party\n", 0o644);
    write(&s.join("with space"), b"x", 0o644);
    write(&s.join(".hidden"), b"h", 0o644);
    write(&s.join("dup1"), b"same\n", 0o644);
    write(&s.join("dup2"), b"same\n", 0o644);
    write(&s.join("readonly"), b"ro\n", 0o444);
    write(&s.join("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    mkdir(&s.join("emptydir"), 0o700);
}

/// v2: content, mode and type changes, removals and additions.
fn build_v2(s: &Path) {
    write(&s.join("text.txt"), b"hello again\n", 0o644);
    repo::set_xattr(&s.join("text.txt"), "user.foo", b"baz");
    std::fs::remove_file(s.join("dir/nested/other")).unwrap();
    write(&s.join("new/added"), b"added\n", 0o644);
    std::fs::set_permissions(s.join("exec.sh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_file(s.join("dangling")).unwrap();
    write(&s.join("dangling"), b"now a file\n", 0o644);
}

/// v3: a different large file and another dir.
fn build_v3(s: &Path) {
    write(&s.join("large.bin"), &noise(2 << 20, 2), 0o644);
    write(&s.join("dir/v3/x"), b"x3\n", 0o644);
}

/// A step that edits the source tree before the next commit.
type Build = dyn Fn(&Path);

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = repo::fixture_dir("ostree-interop");
        let src = root.join("src");
        build_v1(&src);
        let repos: Vec<Repo> = MODES
            .iter()
            .map(|m| Repo::init(&root.join(format!("repo-{m}")), m))
            .collect();
        let mut commits: Vec<Vec<String>> = vec![Vec::new(); repos.len()];
        let steps: [(&Build, &[&str]); 3] = [
            (
                &|_| {},
                &["--subject=first", "--timestamp=2024-01-02T03:04:05Z"],
            ),
            (
                &build_v2,
                &[
                    "--subject=second",
                    "--body=body line 1\nbody line 2",
                    "--timestamp=2024-02-03T04:05:06Z",
                ],
            ),
            (
                &build_v3,
                &[
                    "--subject=third",
                    "--add-metadata-string=version=3.0",
                    "--timestamp=2025-12-31T23:59:59Z",
                ],
            ),
        ];
        for (build, args) in steps {
            build(&src);
            for (r, c) in repos.iter().zip(commits.iter_mut()) {
                let b = "--branch=main".to_string();
                let t = format!("--tree=dir={}", src.display());
                let mut a = vec!["commit", &b, &t];
                a.extend_from_slice(args);
                c.push(r.ostree_ok(&a));
            }
        }
        for (r, c) in repos.iter().zip(&commits) {
            r.set_ref("heads/test/main", &c[1]);
            r.set_ref("remotes/origin/main", &c[1]);
            r.set_ref("remotes/origin/feature/x", &c[0]);
        }
        Fixture {
            repos,
            commits: commits
                .into_iter()
                .map(|c| c.try_into().expect("3 commits"))
                .collect(),
            src3: src,
        }
    })
}

fn ready() -> bool {
    !skip_unless(have("ostree"), "the ostree CLI is not installed")
        && !skip_unless(
            rustix::process::geteuid().is_root(),
            "interop fixtures need root (chown, setuid files)",
        )
}

fn out_str(o: &Output) -> String {
    format!(
        "exit {}; stdout {:?}; stderr {:?}",
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr).trim()
    )
}

/// Collects mismatches so one run reports all of them.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn push(&mut self, s: String) {
        eprintln!("MISMATCH: {s}");
        self.0.push(s);
    }
    fn finish(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} mismatches:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

fn ignore() -> Ignore {
    Ignore {
        // A bare-user `-U` checkout by ostree hardlinks the object, which carries this xattr.
        xattrs: vec![b"user.ostreemeta".to_vec()],
        ..Ignore::default()
    }
}

/// What a `--union` comparison leaves out, both ostree 2022.7 artifacts:
/// - dir mtimes: existing dirs keep theirs, but adding or replacing an entry changes it unless
///   ostree's replacement was a rename over the same hardlinked inode (a no-op), so the result
///   depends on whether ostree hardlinked (bare, bare-user -U, archive -U cache);
/// - symlink owners: ostree's union path re-creates an existing symlink without `fchownat`
///   (`linkowned`, 42:43 in the commit, comes out 0:0), while a plain checkout chowns it.
fn ignore_union() -> Ignore {
    Ignore {
        dir_mtime: true,
        symlink_owner: true,
        ..ignore()
    }
}

/// Runs `steps` (each a list of checkout args; the last arg is the destination placeholder
/// `DEST`) with the real ostree into one dir and with the tool under test into another, then
/// compares the trees.
fn compare_checkout(
    r: &Repo,
    tmp: &Path,
    n: usize,
    label: &str,
    steps: &[Vec<&str>],
    ignore: &Ignore,
    fails: &mut Failures,
) {
    let slug: String = format!("{n}-{label}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let want = tmp.join(format!("want-{slug}"));
    let got = tmp.join(format!("got-{slug}"));
    for step in steps {
        let with = |d: &Path| -> Vec<String> {
            step.iter()
                .map(|a| {
                    if *a == "DEST" {
                        d.display().to_string()
                    } else {
                        a.to_string()
                    }
                })
                .collect()
        };
        let wa = with(&want);
        let wo = r.ostree(&wa.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            wo.status.success(),
            "[{}] reference ostree {wa:?} failed: {}",
            r.mode,
            out_str(&wo)
        );
        let ga = with(&got);
        let go = tests::run(&mut repo::under_test(
            &r.path,
            &ga.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        if !go.status.success() {
            fails.push(format!(
                "[{}] {label}: {ga:?} failed: {}",
                r.mode,
                out_str(&go)
            ));
            return;
        }
    }
    if !got.exists() {
        fails.push(format!("[{}] {label}: destination not created", r.mode));
        return;
    }
    let d = tree::snapshot(&want).diff(&tree::snapshot(&got), ignore);
    if !d.is_empty() {
        fails.push(format!(
            "[{}] {label}: trees differ ({} entries; want = ostree, got = under test):\n{}",
            r.mode,
            d.len(),
            d.join("\n")
        ));
    }
}

fn checkout_suite(mode: &str) {
    if !ready() {
        return;
    }
    let f = fixture();
    let i = MODES.iter().position(|m| *m == mode).unwrap();
    let (r, c) = (&f.repos[i], &f.commits[i]);
    let tmp = TempDir::new(&format!("interop-co-{mode}"));
    let mut fails = Failures::default();
    let co = |args: &[&'static str]| -> Vec<Vec<&'static str>> {
        let mut v = vec!["checkout"];
        v.extend_from_slice(args);
        v.push("DEST");
        vec![v]
    };
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut cases: Vec<(String, Vec<Vec<&str>>)> = vec![
        ("plain main".into(), co(&["main"])),
        ("-U main".into(), co(&["-U", "main"])),
        ("--user-mode main".into(), co(&["--user-mode", "main"])),
        (
            "--subpath=/dir/nested".into(),
            co(&["--subpath=/dir/nested", "main"]),
        ),
        (
            "--subpath=/userdir".into(),
            co(&["--subpath=/userdir", "main"]),
        ),
        (
            "--subpath=/sticky -U".into(),
            co(&["-U", "--subpath=/sticky", "main"]),
        ),
        (
            "--subpath=/text.txt (a file)".into(),
            co(&["--subpath=/text.txt", "main"]),
        ),
        (
            "--union v1 then main".into(),
            vec![
                vec!["checkout", leak(c[0].clone()), "DEST"],
                vec!["checkout", "--union", "main", "DEST"],
            ],
        ),
        (
            "-U --union v1 then main".into(),
            vec![
                vec!["checkout", "-U", leak(c[0].clone()), "DEST"],
                vec!["checkout", "-U", "--union", "main", "DEST"],
            ],
        ),
        (
            "--union-add v1 then main".into(),
            vec![
                vec!["checkout", leak(c[0].clone()), "DEST"],
                vec!["checkout", "--union-add", "main", "DEST"],
            ],
        ),
        ("-C (force copy) main".into(), co(&["-C", "main"])),
    ];
    if mode == "bare" {
        cases.push(("-H (require hardlinks) main".into(), co(&["-H", "main"])));
    }
    if mode == "bare-user" || mode == "bare-user-only" {
        cases.push(("-U -H main".into(), co(&["-U", "-H", "main"])));
    }
    let revs: Vec<(&str, String)> = vec![
        ("full checksum of v1", c[0].clone()),
        ("unique prefix of v2", c[1][..10].to_string()),
        ("main^ (v2)", "main^".into()),
        ("main^^ (v1)", "main^^".into()),
        ("remote:ref", "origin:main".into()),
        ("remote/ref", "origin/main".into()),
        ("nested local ref", "test/main".into()),
        ("ref found under refs/remotes/*/", "feature/x".into()),
        ("remote:nested ref", "origin:feature/x".into()),
    ];
    // /dir differs between v1, v2 and v3, so a subpath checkout tells the revs apart while
    // skipping the large files (plain checkouts of main cover those).
    for (label, rev) in revs {
        cases.push((
            format!("rev {label} = {rev} --subpath=/dir"),
            co(&["--subpath=/dir", leak(rev)]),
        ));
    }
    for (n, (label, steps)) in cases.iter().enumerate() {
        let ign = if steps.len() > 1 {
            ignore_union()
        } else {
            ignore()
        };
        compare_checkout(r, tmp.path(), n, label, steps, &ign, &mut fails);
    }
    fails.finish(&format!("checkout interop, {mode} repo"));
}

#[test]
fn checkout_archive() {
    checkout_suite("archive");
}

#[test]
fn checkout_bare() {
    checkout_suite("bare");
}

#[test]
fn checkout_bare_user() {
    checkout_suite("bare-user");
}

#[test]
fn checkout_bare_user_only() {
    checkout_suite("bare-user-only");
}

/// Compares stdout and exit status of `args` between ostree and the tool under test.
fn compare_cli(r: &Repo, args: &[&str], sorted: bool, fails: &mut Failures) {
    let want = r.ostree(args);
    let got = tests::run(&mut repo::under_test(&r.path, args));
    let norm = |o: &Output| {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        if sorted {
            let mut l: Vec<&str> = s.lines().collect();
            l.sort();
            l.join("\n")
        } else {
            s
        }
    };
    let ok_same = want.status.success() == got.status.success();
    if !ok_same || norm(&want) != norm(&got) {
        fails.push(format!(
            "[{}] ostree {args:?}:\n  want {}\n  got  {}",
            r.mode,
            out_str(&want),
            out_str(&got)
        ));
    }
    // A failing command must say why on stderr, in one line.
    if !got.status.success() && tests::stderr(&got).trim().is_empty() {
        fails.push(format!("[{}] {args:?} failed without a message", r.mode));
    }
}

fn cli_suite(mode: &str) {
    if !ready() {
        return;
    }
    let f = fixture();
    let i = MODES.iter().position(|m| *m == mode).unwrap();
    let (r, c) = (&f.repos[i], &f.commits[i]);
    let mut fails = Failures::default();
    let p10 = &c[0][..10];
    let revs = [
        "main",
        c[0].as_str(),
        p10,
        "main^",
        "main^^",
        "origin:main",
        "origin/main",
        "test/main",
        "feature/x",
        "origin:feature/x",
        "test/main^",
    ];
    for rev in revs {
        compare_cli(r, &["rev-parse", rev], false, &mut fails);
        compare_cli(r, &["log", rev], false, &mut fails);
        compare_cli(r, &["show", rev], false, &mut fails);
    }
    // Unknown and malformed revs fail in both.
    for rev in ["nosuchref", "origin:nosuch", "main^^^", "0000", "Main", ""] {
        compare_cli(r, &["rev-parse", rev], false, &mut fails);
    }
    compare_cli(r, &["refs"], true, &mut fails);
    for path in [
        None,
        Some("/"),
        Some("/dir"),
        Some("/dir/nested/deep"),
        Some("/text.txt"),
        Some("/rel-link"),
        Some("/ünïcödé"),
        Some("/userdir"),
        Some("/sticky"),
    ] {
        let mut a = vec!["ls", "main"];
        a.extend(path);
        compare_cli(r, &a, false, &mut fails);
    }
    compare_cli(r, &["ls", "main", "/nosuch"], false, &mut fails);
    compare_cli(r, &["ls", "-R", "main"], false, &mut fails);
    compare_cli(r, &["ls", "-R", "main", "/dir"], false, &mut fails);
    // A checkout of a missing subpath fails in both.
    let tmp = TempDir::new("interop-cli-subpath");
    for tool in ["ostree", "under test"] {
        let dest = tmp.path().join(tool).display().to_string();
        let args = ["checkout", "--subpath=/nosuch", "main", &dest];
        let o = if tool == "ostree" {
            r.ostree(&args)
        } else {
            tests::run(&mut repo::under_test(&r.path, &args))
        };
        if o.status.success() {
            fails.push(format!(
                "[{mode}] {tool}: checkout of a missing subpath succeeded"
            ));
        }
    }
    for path in [
        "/text.txt",
        "/large.bin",
        "/empty",
        "/ünïcödé/日本語.txt",
        "/dir/nested/deep/file.txt",
    ] {
        compare_cli(r, &["cat", "main", path], false, &mut fails);
        compare_cli(r, &["cat", p10, path], false, &mut fails);
    }
    compare_cli(r, &["cat", "main", "/nosuch"], false, &mut fails);
    // A checkout of an unknown rev fails and creates nothing.
    let tmp = TempDir::new("interop-cli-err");
    let dest = tmp.path().join("d");
    let o = tests::run(&mut repo::under_test(
        &r.path,
        &["checkout", "nosuchref", &dest.display().to_string()],
    ));
    if o.status.success() {
        fails.push(format!("[{mode}] checkout nosuchref succeeded"));
    }
    // fsck passes on a clean repo.
    let o = tests::run(&mut repo::under_test(&r.path, &["fsck"]));
    if !o.status.success() {
        fails.push(format!(
            "[{mode}] fsck on a clean repo failed: {}",
            out_str(&o)
        ));
    }
    fails.finish(&format!("CLI interop, {mode} repo"));
}

#[test]
fn cli_archive() {
    cli_suite("archive");
}

#[test]
fn cli_bare() {
    cli_suite("bare");
}

#[test]
fn cli_bare_user() {
    cli_suite("bare-user");
}

#[test]
fn cli_bare_user_only() {
    cli_suite("bare-user-only");
}

/// Harness self-check (real ostree only): a root checkout of the archive and bare repos
/// reproduces the source tree exactly, so the fixture really carries setuid bits, owners and
/// xattrs, and the snapshot sees them; bare-user-only canonicalizes as documented.
#[test]
fn harness_fixture_round_trips_through_ostree() {
    if !ready() {
        return;
    }
    let f = fixture();
    let src = tree::snapshot(&f.src3);
    let e = &src.0;
    assert_eq!(e[Path::new("./suid")].perm, 0o4755, "fixture has setuid");
    assert_eq!(
        e[Path::new("./sticky")].perm,
        0o1777,
        "fixture has sticky dir"
    );
    assert_eq!(e[Path::new("./userdir")].uid, 1234);
    assert_eq!(e[Path::new("./linkowned")].uid, 42);
    assert_eq!(e[Path::new("./text.txt")].xattrs.len(), 2);
    assert!(e[Path::new("./userdir")]
        .xattrs
        .contains_key(&b"user.dir"[..]));
    // The independent serializer reproduces every metadata object (2-byte offsets included).
    let r = &f.repos[0];
    let mut wide = 0;
    for (c, ext) in r.objects() {
        let b = r.read_object(&c, &ext);
        let again = match ext.as_str() {
            "commit" => repo::Commit::parse(&b).unwrap().emit(),
            "dirtree" => repo::DirTree::parse(&b).unwrap().emit(),
            "dirmeta" => repo::DirMeta::parse(&b).unwrap().emit(),
            _ => continue,
        };
        assert_eq!(again, b, "{c}.{ext} re-serialized");
        assert_eq!(repo::sha256_hex(&b), c);
        wide += usize::from(b.len() > 255);
    }
    assert!(wide > 0, "some object needs 2-byte framing offsets");
    let tmp = TempDir::new("interop-harness");
    for (r, c) in f.repos.iter().zip(&f.commits) {
        let dest = tmp.path().join(&r.mode);
        r.ostree_ok(&["checkout", "main", &dest.display().to_string()]);
        let got = tree::snapshot(&dest);
        if r.mode == "bare-user-only" {
            // uid/gid 0, no xattrs, no setuid/setgid/sticky, dirs & 0775.
            let g = &got.0;
            assert_eq!(g[Path::new("./suid")].perm, 0o755);
            assert_eq!(g[Path::new("./userdir")].uid, 0);
            assert!(g[Path::new("./text.txt")].xattrs.is_empty());
            assert_eq!(got.0.len(), src.0.len());
        } else {
            let ign = Ignore {
                dir_mtime: true,
                ..Ignore::default()
            };
            let d = src.diff(&got, &ign);
            assert!(
                d.is_empty(),
                "[{}] checkout != source:\n{}",
                r.mode,
                d.join("\n")
            );
            // Directories get mtime 0.
            assert_eq!(got.0[Path::new("./dir")].dir_mtime, Some(0));
        }
        // Same commit checksum for archive, bare and bare-user (same content and metadata).
        if r.mode != "bare-user-only" {
            assert_eq!(c, &f.commits[0], "[{}] commits equal archive's", r.mode);
        }
    }
}

/// Harness self-check: a snapshot diff notices each kind of difference.
#[test]
fn harness_snapshot_diff_sees_differences() {
    let tmp = TempDir::new("interop-diff");
    let a = tmp.path().join("a");
    write(&a.join("f"), b"one", 0o644);
    symlink("f", a.join("l")).unwrap();
    let b = tmp.path().join("b");
    write(&b.join("f"), b"one", 0o644);
    symlink("f", b.join("l")).unwrap();
    let base = tree::snapshot(&a);
    let ign = Ignore::default();
    let same = |what: &str, b: &Path, expect_same: bool| {
        let d = base.diff(
            &tree::snapshot(b),
            &Ignore {
                dir_mtime: true,
                ..ign.clone()
            },
        );
        assert_eq!(d.is_empty(), expect_same, "{what}: {d:?}");
    };
    same("identical", &b, true);
    std::fs::set_permissions(b.join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    same("mode", &b, false);
    std::fs::set_permissions(b.join("f"), std::fs::Permissions::from_mode(0o644)).unwrap();
    if rustix::process::geteuid().is_root() {
        lchown(b.join("l"), Some(7), None).unwrap();
        same("symlink owner", &b, false);
        lchown(b.join("l"), Some(0), None).unwrap();
    }
    std::fs::write(b.join("f"), b"two").unwrap();
    same("content", &b, false);
    std::fs::write(b.join("f"), b"one").unwrap();
    repo::set_xattr(&b.join("f"), "user.x", b"1");
    same("xattr", &b, false);
    rustix::fs::removexattr(b.join("f").to_str().unwrap(), "user.x").unwrap();
    same("xattr removed", &b, true);
    std::fs::remove_file(b.join("l")).unwrap();
    symlink("g", b.join("l")).unwrap();
    same("symlink target", &b, false);
    std::fs::remove_file(b.join("l")).unwrap();
    same("missing entry", &b, false);
    let _: &Snapshot = &base;
}

/// `log` of a commit whose parent object is missing prints ostree's "not fetched" marker;
/// `rev-parse REV^` still works (the parent checksum is in the child).
#[test]
fn cli_log_with_missing_parent() {
    if !ready() {
        return;
    }
    let f = fixture();
    let tmp = TempDir::new("interop-missing-parent");
    let r = f.repos[0].copy_to(&tmp.path().join("repo"));
    let c = &f.commits[0];
    std::fs::remove_file(r.object_path(&c[0], "commit")).unwrap();
    let mut fails = Failures::default();
    compare_cli(&r, &["log", "main"], false, &mut fails);
    compare_cli(&r, &["rev-parse", "main^^"], false, &mut fails);
    compare_cli(&r, &["rev-parse", "main^^^"], false, &mut fails);
    fails.finish("log with a missing parent");
}

/// A checkout into an existing directory without `--union` fails in both; nothing is added.
#[test]
fn checkout_into_existing_dir_fails() {
    if !ready() {
        return;
    }
    let f = fixture();
    let tmp = TempDir::new("interop-exists");
    let r = &f.repos[0];
    let dest = tmp.path().join("d");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("mine"), b"keep").unwrap();
    let before = tree::snapshot(&dest);
    let d = dest.display().to_string();
    let want = r.ostree(&["checkout", "main", &d]);
    assert!(
        !want.status.success(),
        "oracle: ostree refuses an existing dest"
    );
    let got = tests::run(&mut repo::under_test(&r.path, &["checkout", "main", &d]));
    assert!(
        !got.status.success(),
        "checkout into an existing dir succeeded"
    );
    assert_eq!(
        tests::stderr(&got).trim().lines().count(),
        1,
        "one-line error: {}",
        tests::stderr(&got)
    );
    tree::snapshot(&dest).assert_same(&before, &Ignore::default(), "existing dest untouched");
}
