//! Hostile repositories: every case must make `ramdisk ostree checkout` fail with a non-zero
//! exit and a one-line error naming the object or path, write nothing outside the destination
//! (a sentinel dir next to it and the repo itself are snapshotted before and after) and leave
//! no complete bad file in the destination. `fsck` must fail on corrupted objects.
//!
//! Each case starts from a clean repo written by the real ostree and rewrites objects with the
//! independent serializer in `tests::repo`; "re-hashed" cases rewrite upward to the commit and
//! move the ref, so every checksum is consistent and only the content is hostile.
//! Every case also runs *oracle* checks with the real ostree (its fsck or checkout rejects, or
//! accepts, the same bytes as documented), which proves the fixture is what it claims.
//! `OSTREE_UNDER_TEST=ostree` runs only the oracle checks (the real ostree does not verify
//! checksums on checkout, so it is not expected to pass the ramdisk assertions);
//! `OSTREE_UNDER_TEST=ostree-strict` runs every assertion against it (a check of the checks:
//! the cases ostree handles correctly pass, the ones it does not verify fail).
//!
//! Run: `cargo build -p ramdisk-bin && cargo test -p tests --test ostree_hostile`

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tests::repo::{self, emit_filez_raw, parse_filez, DirMeta, FileHeader, Repo};
use tests::tree::{self, hex, Kind};
use tests::{have, skip_unless, stderr, stdout, TempDir};

/// What the real ostree does with the mutated repo.
enum Oracle {
    /// `ostree fsck` fails and its output contains the text.
    FsckFails(String),
    /// `ostree checkout main` fails; its stderr contains the text (if given).
    CheckoutFails(Option<String>),
    /// `ostree checkout main` succeeds (ostree does not check this; ramdisk must).
    CheckoutSucceeds,
}

/// What the case expects from ramdisk.
struct Expect {
    /// The error line must contain at least one of these (checksums may also appear as the
    /// `objects/XX/REST` path: slashes are ignored when matching).
    names: Vec<String>,
    /// Paths (relative to the destination) that must not exist afterwards.
    absent: Vec<&'static str>,
    oracle: Vec<Oracle>,
    /// `ramdisk ostree fsck` must fail and name one of `names`.
    fsck: bool,
    /// The rev to check out (default `main`).
    rev: Option<String>,
    /// Extra checkout options (before the rev).
    opts: Vec<String>,
}

impl Expect {
    fn new(names: Vec<String>) -> Expect {
        Expect {
            names,
            absent: vec![],
            oracle: vec![],
            fsck: false,
            rev: None,
            opts: vec![],
        }
    }
    fn absent(mut self, p: &[&'static str]) -> Expect {
        self.absent.extend_from_slice(p);
        self
    }
    fn oracle(mut self, o: Oracle) -> Expect {
        self.oracle.push(o);
        self
    }
    fn fsck(mut self) -> Expect {
        self.fsck = true;
        self
    }
}

struct Ctx {
    /// A directory next to the destination that nothing may touch.
    sentinel: PathBuf,
}

struct Base {
    repo: Repo,
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn base(mode: &'static str) -> &'static Base {
    static ARCHIVE: OnceLock<Base> = OnceLock::new();
    static BARE: OnceLock<Base> = OnceLock::new();
    static BARE_USER: OnceLock<Base> = OnceLock::new();
    let cell = match mode {
        "archive" => &ARCHIVE,
        "bare" => &BARE,
        "bare-user" => &BARE_USER,
        _ => panic!("mode {mode}"),
    };
    cell.get_or_init(|| {
        let root = repo::fixture_dir(&format!("ostree-hostile-{mode}"));
        let src = root.join("src");
        write(&src.join("a.txt"), b"hello\n");
        write(&src.join("big.bin"), &noise(64 << 10));
        write(&src.join("sub/inner.txt"), b"inner\n");
        write(&src.join("sub/deeper/x"), b"x\n");
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
        let r = Repo::init(&root.join("repo"), mode);
        r.commit("main", &src, "base", &["--timestamp=2024-01-02T03:04:05Z"]);
        Base { repo: r }
    })
}

fn ready() -> bool {
    !skip_unless(have("ostree"), "the ostree CLI is not installed")
}

fn run_case(mode: &'static str, mutate: impl FnOnce(&Repo, &Ctx) -> Expect) {
    if !ready() {
        return;
    }
    let b = base(mode);
    let tmp = TempDir::new("hostile");
    let r = b.repo.copy_to(&tmp.path().join("repo"));
    let work = tmp.path().join("work");
    let sentinel = work.join("sentinel");
    write(&sentinel.join("keep"), b"keep\n");
    let dest = work.join("dest");
    let ctx = Ctx {
        sentinel: sentinel.clone(),
    };
    let exp = mutate(&r, &ctx);
    let rev = exp.rev.clone().unwrap_or_else(|| "main".into());

    // Oracle checks with the real ostree, on a copy (fsck may mark commits partial, and a
    // checkout may follow a hostile name out of its destination: keep it inside the copy).
    let otmp = TempDir::new("hostile-oracle");
    let o = r.copy_to(&otmp.path().join("repo"));
    let osent = otmp.path().join("work/sentinel");
    write(&osent.join("keep"), b"keep\n");
    for (i, oracle) in exp.oracle.iter().enumerate() {
        match oracle {
            Oracle::FsckFails(text) => {
                let out = o.ostree(&["fsck"]);
                let all = format!("{}{}", stdout(&out), stderr(&out));
                assert!(
                    !out.status.success() && all.contains(text.as_str()),
                    "oracle: ostree fsck should fail mentioning {text}; got {}: {all}",
                    out.status
                );
            }
            Oracle::CheckoutFails(text) => {
                let d = otmp.path().join(format!("work/dest{i}"));
                let out = o.ostree(&oracle_args(&exp, &rev, &d));
                assert!(
                    !out.status.success(),
                    "oracle: ostree checkout should fail; stdout {}",
                    stdout(&out)
                );
                if let Some(t) = text {
                    assert!(
                        stderr(&out).contains(t.as_str()),
                        "oracle: ostree checkout error should contain {t:?}: {}",
                        stderr(&out)
                    );
                }
            }
            Oracle::CheckoutSucceeds => {
                let d = otmp.path().join(format!("work/dest{i}"));
                let out = o.ostree(&oracle_args(&exp, &rev, &d));
                assert!(
                    out.status.success(),
                    "oracle: ostree checkout should succeed: {}",
                    stderr(&out)
                );
            }
        }
    }

    if skip_unless(
        !repo::testing_real_ostree()
            || std::env::var("OSTREE_UNDER_TEST").is_ok_and(|v| v == "ostree-strict"),
        "OSTREE_UNDER_TEST=ostree: only the oracle checks ran",
    ) {
        return;
    }

    let repo_before = tree::snapshot(&r.path);
    let work_before = tree::snapshot_except(&work, &["dest"]);
    let dest_s = dest.display().to_string();
    let mut args: Vec<&str> = vec!["checkout"];
    args.extend(exp.opts.iter().map(String::as_str));
    args.extend([rev.as_str(), dest_s.as_str()]);
    let out = tests::run(&mut repo::under_test(&r.path, &args));
    let err = stderr(&out);
    eprintln!("under test: exit {:?}, stderr {err:?}", out.status.code());
    let mut problems = Vec::new();
    if out.status.success() {
        problems.push("checkout succeeded (exit 0)".to_string());
    }
    check_message("checkout", &err, &exp.names, &mut problems);
    let d = tree::snapshot_except(&work, &["dest"]).diff(&work_before, &Default::default());
    if !d.is_empty() {
        problems.push(format!("wrote outside the destination:\n{}", d.join("\n")));
    }
    let d = tree::snapshot(&r.path).diff(&repo_before, &Default::default());
    if !d.is_empty() {
        problems.push(format!("changed the repository:\n{}", d.join("\n")));
    }
    for p in &exp.absent {
        if dest.join(p).symlink_metadata().is_ok() {
            problems.push(format!("bad file {p} exists in the destination"));
        }
    }
    if dest.exists() {
        for (p, e) in &tree::snapshot(&dest).0 {
            if let Kind::Other(m) = e.kind {
                problems.push(format!("{} created with S_IFMT {m:o}", p.display()));
            }
            if e.size > 1 << 20 {
                problems.push(format!("{} is {} bytes", p.display(), e.size));
            }
        }
    }
    if exp.fsck {
        let out = tests::run(&mut repo::under_test(&r.path, &["fsck"]));
        if out.status.success() {
            problems.push(format!("fsck passed: {}", stdout(&out)));
        }
        let all = format!("{}{}", stdout(&out), stderr(&out));
        if !mentions(&all, &exp.names) {
            problems.push(format!(
                "fsck output names none of {:?}: {all:?}",
                exp.names
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "hostile checkout (exit {:?}, stderr {err:?}):\n- {}",
        out.status.code(),
        problems.join("\n- ")
    );
}

fn oracle_args<'a>(exp: &'a Expect, rev: &'a str, dest: &Path) -> Vec<&'a str> {
    let mut a: Vec<&str> = vec!["checkout"];
    a.extend(exp.opts.iter().map(String::as_str));
    a.push(rev);
    a.push(Box::leak(dest.display().to_string().into_boxed_str()));
    a
}

fn mentions(text: &str, names: &[String]) -> bool {
    let flat = text.replace('/', "");
    names
        .iter()
        .any(|n| text.contains(n.as_str()) || flat.contains(n.as_str()))
}

fn check_message(what: &str, err: &str, names: &[String], problems: &mut Vec<String>) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        problems.push(format!(
            "{what}: want a one-line error, got {} lines",
            lines.len()
        ));
    }
    if !mentions(err, names) {
        problems.push(format!("{what}: error names none of {names:?}"));
    }
    if err.contains("panicked") {
        problems.push(format!("{what}: panicked"));
    }
}

// ---------------------------------------------------------------------------------------------
// Mutation helpers

/// Checksum of the file at `path` in `main`.
fn file_csum(r: &Repo, path: &str) -> String {
    r.file_checksum(&r.rev_parse("main"), path)
}

fn root_tree_csum(r: &Repo) -> String {
    hex(&r.commit_obj(&r.rev_parse("main")).tree)
}

fn sub_tree_csum(r: &Repo, name: &str) -> String {
    let t = r.dirtree_at(&r.rev_parse("main"), &[]);
    hex(&t.dir(name).unwrap().1)
}

/// Rewrites the `.filez` of `csum` with its content changed by `f` (valid deflate stream).
fn rewrite_archive_content(r: &Repo, csum: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let (h, payload) = parse_filez(&r.read_object(csum, "file")).unwrap();
    let mut content = repo::inflate(&payload).unwrap();
    f(&mut content);
    r.write_object_at(csum, "file", &emit_filez_raw(&h, &repo::deflate(&content)));
}

fn flip_byte(r: &Repo, csum: &str, kind: &str, at: usize) {
    let mut b = r.read_object(csum, kind);
    let i = at.min(b.len() - 1);
    b[i] ^= 0x20;
    r.write_object_at(csum, kind, &b);
}

/// Renames a root file (`a.txt`) or dir (`sub`) to `name`, re-hashed upward.
fn rename_entry(r: &Repo, old: &str, name: &[u8]) -> String {
    r.rewrite_tree("main", "", |t| {
        for f in t.files.iter_mut().filter(|f| f.0 == old.as_bytes()) {
            f.0 = name.to_vec();
        }
        for d in t.dirs.iter_mut().filter(|d| d.0 == old.as_bytes()) {
            d.0 = name.to_vec();
        }
        t.sort();
    });
    root_tree_csum(r)
}

fn bad_name_case(old: &'static str, name: &[u8], ostree_says: Option<&str>) {
    let name = name.to_vec();
    let ostree_says = ostree_says.map(String::from);
    run_case("archive", move |r, _| {
        let tree = rename_entry(r, old, &name);
        let mut names = vec![tree.clone()];
        if !name.is_empty() {
            let s = String::from_utf8_lossy(&name);
            names.push(s.chars().take(40).collect());
        }
        let mut e = Expect::new(names).oracle(Oracle::CheckoutFails(ostree_says.clone()));
        if ostree_says.is_some() {
            // fsck validates dirtree names with the same function.
            e = e.oracle(Oracle::FsckFails(tree));
        }
        e
    });
}

// ---------------------------------------------------------------------------------------------
// Corrupted and missing objects

#[test]
fn content_byte_flipped_in_valid_deflate_stream() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/a.txt");
        rewrite_archive_content(r, &c, |d| d[0] ^= 0x20); // hello → Hello
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
            // ostree trusts objects on checkout and writes the corrupted file.
            .oracle(Oracle::CheckoutSucceeds)
            .fsck()
    });
}

#[test]
fn content_of_large_file_corrupted_at_the_end() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/big.bin");
        rewrite_archive_content(r, &c, |d| {
            let n = d.len();
            d[n - 1] ^= 1
        });
        Expect::new(vec![c.clone(), "big.bin".into()])
            .absent(&["big.bin"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_longer_than_header_size() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/a.txt");
        rewrite_archive_content(r, &c, |d| d.extend_from_slice(b"extra"));
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_truncated_deflate_stream() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/big.bin");
        let b = r.read_object(&c, "file");
        let keep = b.len() / 2;
        r.write_object_at(&c, "file", &b[..keep]);
        Expect::new(vec![c.clone(), "big.bin".into()])
            .absent(&["big.bin"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_truncated_inside_header() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/a.txt");
        let b = r.read_object(&c, "file");
        r.write_object_at(&c, "file", &b[..12]);
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_decompression_bomb() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/a.txt");
        let (h, _) = parse_filez(&r.read_object(&c, "file")).unwrap();
        assert_eq!(h.size, 6, "header keeps claiming 6 bytes");
        // ~64 MiB of zeros from ~100 KiB of deflate.
        let bomb = repo::deflate_bomb(260_000);
        r.write_object_at(&c, "file", &emit_filez_raw(&h, &bomb));
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
    });
}

#[test]
fn content_corrupted_in_bare_repo() {
    run_case("bare", |r, _| {
        let c = file_csum(r, "/a.txt");
        let p = r.object_path(&c, "file");
        std::fs::write(&p, b"Hello\n").unwrap();
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_metadata_corrupted_in_bare_user_repo() {
    run_case("bare-user", |r, _| {
        let c = file_csum(r, "/a.txt");
        let p = r.object_path(&c, "file");
        // user.ostreemeta claims uid 0, mode 04755 (setuid) now: checksum no longer matches.
        let meta = DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o104755,
            xattrs: vec![],
        };
        repo::set_xattr(&p, "user.ostreemeta", &meta.emit());
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn missing_content_object() {
    run_case("archive", |r, _| {
        let c = file_csum(r, "/big.bin");
        std::fs::remove_file(r.object_path(&c, "file")).unwrap();
        Expect::new(vec![c.clone(), "big.bin".into()])
            .oracle(Oracle::CheckoutFails(None))
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn missing_dirtree_object() {
    run_case("archive", |r, _| {
        let c = sub_tree_csum(r, "sub");
        std::fs::remove_file(r.object_path(&c, "dirtree")).unwrap();
        Expect::new(vec![c.clone()])
            .oracle(Oracle::CheckoutFails(Some(c.clone())))
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn partial_commit_is_refused() {
    run_case("archive", |r, _| {
        let c = r.rev_parse("main");
        let st = r.path.join("state");
        std::fs::create_dir_all(&st).unwrap();
        std::fs::write(st.join(format!("{c}.commitpartial")), b"").unwrap();
        // ostree checkout does not consult commitpartial; ramdisk refuses partial commits.
        Expect::new(vec![c, "partial".into()]).oracle(Oracle::CheckoutSucceeds)
    });
}

// ---------------------------------------------------------------------------------------------
// Tampered metadata

#[test]
fn dirtree_tampered_without_rehash() {
    run_case("archive", |r, _| {
        let c = root_tree_csum(r);
        let b = r.read_object(&c, "dirtree");
        let at = b.windows(5).position(|w| w == b"a.txt").unwrap();
        flip_byte(r, &c, "dirtree", at); // a.txt → A.txt
        Expect::new(vec![c.clone()])
            .absent(&["A.txt", "a.txt"])
            .oracle(Oracle::FsckFails(c))
            .oracle(Oracle::CheckoutSucceeds)
            .fsck()
    });
}

#[test]
fn dirmeta_tampered_without_rehash() {
    run_case("archive", |r, _| {
        let t = r.dirtree_at(&r.rev_parse("main"), &[]);
        let c = hex(&t.dir("sub").unwrap().2);
        let mut m = r.dirmeta(&c);
        m.mode = 0o40777; // world-writable, checksum now wrong
        r.write_object_at(&c, "dirmeta", &m.emit());
        Expect::new(vec![c.clone()])
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn commit_tampered_without_rehash() {
    run_case("archive", |r, _| {
        let c = r.rev_parse("main");
        let b = r.read_object(&c, "commit");
        let at = b.windows(4).position(|w| w == b"base").unwrap();
        flip_byte(r, &c, "commit", at);
        Expect::new(vec![c.clone()])
            .oracle(Oracle::FsckFails(c))
            .oracle(Oracle::CheckoutSucceeds)
            .fsck()
    });
}

#[test]
fn commit_rehashed_with_short_tree_checksum() {
    run_case("archive", |r, _| {
        let c = r.rewrite_commit("main", |c| {
            c.tree.pop();
        });
        Expect::new(vec![c.clone()])
            .oracle(Oracle::CheckoutFails(None))
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn commit_rehashed_pointing_at_missing_tree() {
    run_case("archive", |r, _| {
        let missing = vec![0xab; 32];
        r.rewrite_commit("main", |c| c.tree = missing.clone());
        let m = hex(&missing);
        Expect::new(vec![m.clone()])
            .oracle(Oracle::CheckoutFails(None))
            .oracle(Oracle::FsckFails(m))
            .fsck()
    });
}

#[test]
fn dirmeta_rehashed_with_file_mode() {
    run_case("archive", |r, _| {
        let t = r.dirtree_at(&r.rev_parse("main"), &[]);
        let mut m = r.dirmeta(&hex(&t.dir("sub").unwrap().2));
        m.mode = 0o100644; // a directory claiming to be a regular file
        let mc = r.write_metadata("dirmeta", &m.emit());
        r.rewrite_tree("main", "", |t| {
            for d in t.dirs.iter_mut().filter(|d| d.0 == b"sub") {
                d.2 = repo::unhex(&mc);
            }
        });
        Expect::new(vec![mc.clone(), "sub".into()])
            .oracle(Oracle::FsckFails(mc))
            .fsck()
    });
}

#[test]
fn commit_rehashed_with_root_dirmeta_of_a_file() {
    run_case("archive", |r, _| {
        let c = r.commit_obj(&r.rev_parse("main"));
        let mut m = r.dirmeta(&hex(&c.meta));
        m.mode = 0o100755;
        let mc = r.write_metadata("dirmeta", &m.emit());
        r.rewrite_commit("main", |c| c.meta = repo::unhex(&mc));
        Expect::new(vec![mc.clone()])
            .oracle(Oracle::FsckFails(mc))
            .fsck()
    });
}

#[test]
fn dirtree_rehashed_with_short_content_checksum() {
    run_case("archive", |r, _| {
        let tree = {
            r.rewrite_tree("main", "", |t| {
                for f in t.files.iter_mut().filter(|f| f.0 == b"a.txt") {
                    f.1.truncate(31);
                }
            });
            root_tree_csum(r)
        };
        Expect::new(vec![tree, "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::FsckFails("Invalid checksum of length 31".into()))
    });
}

// ---------------------------------------------------------------------------------------------
// Bad names (re-hashed dirtrees)

#[test]
fn name_dotdot_file() {
    bad_name_case("a.txt", b"..", Some("Invalid path uplink filename '..'"));
}

#[test]
fn name_dotdot_dir() {
    bad_name_case("sub", b"..", Some("Invalid path uplink filename '..'"));
}

#[test]
fn name_dot_file() {
    bad_name_case("a.txt", b".", Some("Invalid self-referential filename '.'"));
}

#[test]
fn name_dot_dir() {
    bad_name_case("sub", b".", Some("Invalid self-referential filename '.'"));
}

#[test]
fn name_with_slash_file_escaping_to_sentinel() {
    bad_name_case("a.txt", b"../sentinel/pwned", Some("Invalid / in filename"));
}

#[test]
fn name_with_slash_dir() {
    bad_name_case("sub", b"x/../../sentinel", Some("Invalid / in filename"));
}

#[test]
fn name_empty_file() {
    bad_name_case("a.txt", b"", None);
}

#[test]
fn name_empty_dir() {
    bad_name_case("sub", b"", None);
}

#[test]
fn name_longer_than_255_bytes() {
    bad_name_case("a.txt", &[b'n'; 256], None);
}

#[test]
fn name_invalid_utf8() {
    bad_name_case("a.txt", b"bad\xff\xfename", Some("Invalid UTF-8"));
}

#[test]
fn names_duplicated() {
    run_case("archive", |r, _| {
        r.rewrite_tree("main", "", |t| {
            let a = t.file("a.txt").unwrap().clone();
            let other = t.file("big.bin").unwrap().1.clone();
            t.files.push((a.0, other));
            t.sort();
        });
        let tree = root_tree_csum(r);
        Expect::new(vec![tree, "a.txt".into()])
            .oracle(Oracle::CheckoutFails(Some("File exists".into())))
    });
}

#[test]
fn names_unsorted() {
    run_case("archive", |r, _| {
        r.rewrite_tree("main", "", |t| t.files.reverse());
        let tree = root_tree_csum(r);
        // ostree does not check order; ramdisk rejects (reliability.md §3).
        let names = vec![tree, "a.txt".into(), "big.bin".into(), "link".into()];
        Expect::new(names).oracle(Oracle::CheckoutSucceeds)
    });
}

#[test]
fn name_used_as_file_and_dir() {
    run_case("archive", |r, _| {
        r.rewrite_tree("main", "", |t| {
            let a = t.file("a.txt").unwrap().1.clone();
            t.files.push((b"sub".to_vec(), a));
            t.sort();
        });
        let tree = root_tree_csum(r);
        Expect::new(vec![tree, "sub".into()]).oracle(Oracle::CheckoutFails(None))
    });
}

// ---------------------------------------------------------------------------------------------
// Hostile content objects (re-hashed: their checksums are right)

fn replace_root_file(r: &Repo, name: &str, csum: &str) -> String {
    r.rewrite_tree("main", "", |t| {
        for f in t.files.iter_mut().filter(|f| f.0 == name.as_bytes()) {
            f.1 = repo::unhex(csum);
        }
    });
    root_tree_csum(r)
}

#[test]
fn content_object_with_char_device_mode() {
    run_case("archive", |r, _| {
        let h = FileHeader::regular(b"", 0, 0, 0o020644);
        let c = r.write_archive_content(&h, b"");
        replace_root_file(r, "a.txt", &c);
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::CheckoutFails(None))
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

#[test]
fn content_object_with_nonzero_rdev() {
    run_case("archive", |r, _| {
        let mut h = FileHeader::regular(b"x\n", 0, 0, 0o100644);
        h.rdev = 0x0103;
        let c = r.write_archive_content(&h, b"x\n");
        replace_root_file(r, "a.txt", &c);
        Expect::new(vec![c.clone(), "a.txt".into()])
            .absent(&["a.txt"])
            .oracle(Oracle::CheckoutFails(None))
            .oracle(Oracle::FsckFails(c))
            .fsck()
    });
}

/// A symlink `x` pointing at the sentinel, then a directory `x` with files: a checkout that
/// follows the symlink would write into the sentinel.
fn symlink_then_dir(target: &str) {
    let target = target.to_string();
    run_case("archive", move |r, ctx| {
        let target = target.replace("SENTINEL", &ctx.sentinel.display().to_string());
        let mut h = FileHeader::regular(b"", 0, 0, 0o120777);
        h.target = target.into_bytes();
        let link = r.write_archive_content(&h, b"");
        r.rewrite_tree("main", "", |t| {
            let sub = t.dir("sub").unwrap().clone();
            t.files.push((b"x".to_vec(), repo::unhex(&link)));
            t.dirs.push((b"x".to_vec(), sub.1, sub.2));
            t.sort();
        });
        let tree = root_tree_csum(r);
        Expect::new(vec![tree, "x".into()]).oracle(Oracle::CheckoutFails(None))
    });
}

#[test]
fn symlink_then_dir_absolute_target() {
    symlink_then_dir("SENTINEL");
}

#[test]
fn symlink_then_dir_relative_target() {
    symlink_then_dir("../sentinel");
}

// ---------------------------------------------------------------------------------------------
// Hostile refs, revs and config

#[test]
fn ref_file_with_garbage() {
    run_case("archive", |r, _| {
        std::fs::write(r.path.join("refs/heads/main"), b"../../etc/passwd\n").unwrap();
        Expect::new(vec!["main".into()]).oracle(Oracle::CheckoutFails(None))
    });
}

#[test]
fn ref_file_with_uppercase_checksum() {
    run_case("archive", |r, _| {
        let c = r.rev_parse("main").to_uppercase();
        std::fs::write(r.path.join("refs/heads/main"), format!("{c}\n")).unwrap();
        Expect::new(vec!["main".into()]).oracle(Oracle::CheckoutFails(None))
    });
}

#[test]
fn rev_with_path_traversal() {
    run_case("archive", |r, _| {
        // A file a naive resolver would read as a ref: refs/heads/../../escape.
        std::fs::write(r.path.join("escape"), format!("{}\n", r.rev_parse("main"))).unwrap();
        let mut e = Expect::new(vec!["../../escape".into()]).oracle(Oracle::CheckoutFails(None));
        e.rev = Some("../../escape".into());
        e
    });
}

/// `--subpath` with `..` components must not reach outside the commit's tree.
#[test]
fn subpath_with_dotdot() {
    run_case("archive", |_, _| {
        let mut e =
            Expect::new(vec!["..".into(), "subpath".into()]).oracle(Oracle::CheckoutFails(None));
        e.opts = vec!["--subpath=/sub/../..".into()];
        e
    });
}

/// `--subpath` through a symlink is not followed (ostree: not a directory / no such file).
#[test]
fn subpath_through_symlink() {
    run_case("archive", |_, _| {
        let mut e =
            Expect::new(vec!["link".into(), "subpath".into()]).oracle(Oracle::CheckoutFails(None));
        e.opts = vec!["--subpath=/link/x".into()];
        e
    });
}

#[test]
fn config_with_unknown_mode() {
    run_case("archive", |r, _| {
        let p = r.path.join("config");
        let c = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, c.replace("mode=archive-z2", "mode=weird")).unwrap();
        Expect::new(vec!["weird".into(), "config".into()]).oracle(Oracle::CheckoutFails(None))
    });
}

#[test]
fn config_with_bare_split_xattrs_mode() {
    run_case("archive", |r, _| {
        let p = r.path.join("config");
        let c = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, c.replace("mode=archive-z2", "mode=bare-split-xattrs")).unwrap();
        Expect::new(vec!["bare-split-xattrs".into(), "config".into()])
            .oracle(Oracle::CheckoutFails(None))
    });
}

/// `cat` verifies what it prints: a corrupted object ends in an error naming it.
/// (The real ostree prints the corrupted content and exits 0.)
#[test]
fn cat_of_corrupted_content_fails() {
    if !ready() {
        return;
    }
    let tmp = TempDir::new("hostile-cat");
    let r = base("archive").repo.copy_to(&tmp.path().join("repo"));
    let c = file_csum(&r, "/a.txt");
    rewrite_archive_content(&r, &c, |d| d[0] ^= 0x20);
    let o = r.ostree(&["cat", "main", "/a.txt"]);
    assert_eq!(
        stdout(&o),
        "Hello\n",
        "oracle: ostree cat trusts the object"
    );
    if skip_unless(!repo::testing_real_ostree(), "OSTREE_UNDER_TEST=ostree") {
        return;
    }
    let o = tests::run(&mut repo::under_test(&r.path, &["cat", "main", "/a.txt"]));
    let mut problems = Vec::new();
    if o.status.success() {
        problems.push("cat succeeded".to_string());
    }
    // cat streams: the bytes may reach stdout before the checksum is known to be wrong, so
    // only the exit status and the error are required.
    check_message("cat", &stderr(&o), &[c], &mut problems);
    assert!(problems.is_empty(), "{problems:?}: {}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// fsck on clean repos, and the oracle itself

#[test]
fn fsck_passes_on_clean_repos() {
    if !ready() {
        return;
    }
    for mode in ["archive", "bare", "bare-user"] {
        let b = base(mode);
        let o = b.repo.ostree(&["fsck"]);
        assert!(
            o.status.success(),
            "oracle: ostree fsck {mode}: {}",
            stderr(&o)
        );
        let o = tests::run(&mut repo::under_test(&b.repo.path, &["fsck"]));
        assert!(
            o.status.success(),
            "fsck of a clean {mode} repo failed: {} {}",
            stdout(&o),
            stderr(&o)
        );
    }
}

/// The independent serializer reproduces every object of a real repo byte for byte, and its
/// checksums equal the object names.
#[test]
fn harness_serializer_round_trips_real_objects() {
    if !ready() {
        return;
    }
    let r = &base("archive").repo;
    let mut n = 0;
    for (c, ext) in r.objects() {
        let b = r.read_object(&c, if ext == "filez" { "file" } else { &ext });
        match ext.as_str() {
            "commit" => assert_eq!(repo::Commit::parse(&b).unwrap().emit(), b, "{c}"),
            "dirtree" => assert_eq!(repo::DirTree::parse(&b).unwrap().emit(), b, "{c}"),
            "dirmeta" => assert_eq!(DirMeta::parse(&b).unwrap().emit(), b, "{c}"),
            "filez" => {
                let (h, payload) = parse_filez(&b).unwrap();
                assert_eq!(emit_filez_raw(&h, &payload), b, "{c}");
                let content = if h.mode & 0o170000 == 0o120000 {
                    assert!(payload.is_empty(), "symlink {c} has a payload");
                    Vec::new()
                } else {
                    repo::inflate(&payload).unwrap()
                };
                assert_eq!(h.checksum(&content), c, "content checksum of {c}");
                continue;
            }
            _ => continue,
        }
        assert_eq!(repo::sha256_hex(&b), c, "{c}.{ext}");
        n += 1;
    }
    assert!(n >= 5, "saw {n} metadata objects");
    // The bomb really inflates far beyond its size.
    let bomb = repo::deflate_bomb(1000);
    assert_eq!(repo::inflate(&bomb).unwrap().len(), 1 + 258 * 1000);
    // A rewritten, re-hashed tree is accepted by the real ostree (fsck) and checks out.
    let tmp = TempDir::new("hostile-harness");
    let c = r.copy_to(&tmp.path().join("repo"));
    let h = FileHeader::regular(b"new\n", 0, 0, 0o100600);
    let f = c.write_archive_content(&h, b"new\n");
    c.rewrite_tree("main", "sub/deeper", |t| {
        t.files.push((b"added".to_vec(), repo::unhex(&f)));
        t.sort();
    });
    let o = c.ostree(&["fsck"]);
    assert!(
        o.status.success(),
        "fsck of a rewritten repo: {}",
        stderr(&o)
    );
    let d = tmp.path().join("co");
    c.ostree_ok(&["checkout", "main", &d.display().to_string()]);
    assert_eq!(std::fs::read(d.join("sub/deeper/added")).unwrap(), b"new\n");
    let e = tree::entry(&d.join("sub/deeper/added"));
    assert_eq!(e.perm, 0o600);
}
