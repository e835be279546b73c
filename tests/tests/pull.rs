//! `ramdisk ostree init / remote / pull` against the real `ostree` (issue 7).
//!
//! init and remote run with any build. The pull tests need the full build
//! (`cargo build -p ramdisk-bin --features pull --target-dir target/pull`): the binary is
//! `$RAMDISK_PULL_BIN`, else `target/pull/debug/ramdisk`, else `$RAMDISK_BIN` / the default binary
//! when it has pull support; otherwise they print `skipped:`.
//!
//! Servers are `python3 -m http.server` on 127.0.0.1 (a free port) serving a repository the real
//! `ostree` wrote, or a small fault-injecting server written below; all are killed on drop.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tests::{have, ramdisk, ramdisk_bin, run, skip_unless, stderr, stdout, TempDir};

/// Marker text only the pull code contains.
const PULL_MARKER: &[u8] = b"only http:// URLs are supported";

fn has_pull(bin: &Path) -> bool {
    std::fs::read(bin)
        .map(|b| b.windows(PULL_MARKER.len()).any(|w| w == PULL_MARKER))
        .unwrap_or(false)
}

/// The binary with pull support, if one was built.
fn pull_bin() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("RAMDISK_PULL_BIN") {
        c.push(PathBuf::from(p));
    }
    c.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pull/debug/ramdisk"));
    c.extend(default_bin());
    c.into_iter().find(|p| has_pull(p))
}

/// `$RAMDISK_BIN`, else the `ramdisk` next to the test's `deps/` dir, if it exists.
fn default_bin() -> Option<PathBuf> {
    if std::env::var_os("RAMDISK_BIN").is_some() {
        return Some(ramdisk_bin());
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("ramdisk");
    bin.exists().then_some(bin)
}

/// `pull_bin` or a loud skip.
fn need_pull() -> Option<PathBuf> {
    let b = pull_bin();
    if skip_unless(
        b.is_some(),
        "no ramdisk built with --features pull (cargo build -p ramdisk-bin --features pull --target-dir target/pull)",
    ) || skip_unless(have("ostree") && have("python3"), "ostree or python3 missing")
    {
        return None;
    }
    b
}

/// A command running `bin` (through `$RAMDISK_RUNNER` when set).
fn rd(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = match std::env::var_os("RAMDISK_RUNNER") {
        Some(r) if !r.is_empty() => {
            let mut c = Command::new(r);
            c.arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    cmd.args(args);
    cmd
}

fn ok(o: Output, what: &str) -> Output {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        stderr(&o),
        stdout(&o)
    );
    o
}

fn sh(script: &str) -> Output {
    ok(run(Command::new("sh").args(["-euc", script])), script)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A server process killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `python3 -m http.server` serving `dir`; its log (one line per request) goes to `log`.
fn http_server(dir: &Path, log: &Path) -> Server {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let s = Server { child, port };
    wait_listening(port);
    s
}

/// A server for `dir` that misbehaves: `drop` answers nothing, `cut SUBSTR` sends half the body
/// of matching paths (with the full Content-Length), `budget N` stops after N body bytes in all.
const FAULT_PY: &str = r#"
import sys, os, threading, http.server, socketserver
root, mode, arg = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock(); sent = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if mode == "drop":
            self.close_connection = True; return
        p = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(p):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = open(p, "rb").read(); n = len(body)
        if mode == "cut" and arg in self.path: n = len(body) // 2
        if mode == "budget":
            with lock:
                left = int(arg) - sent[0]
                if left <= 0: self.close_connection = True; return
                n = min(n, left); sent[0] += n
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body[:n])
        if n < len(body): self.wfile.flush(); self.close_connection = True
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
s = S(("127.0.0.1", 0), H); print(s.server_address[1], flush=True); s.serve_forever()
"#;

fn fault_server(dir: &Path, mode: &str, arg: &str) -> Server {
    let mut child = Command::new("python3")
        .args(["-c", FAULT_PY])
        .arg(dir)
        .args([mode, arg])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("fault server port");
    let s = Server { child, port };
    wait_listening(port);
    s
}

/// Writes a tree with regular files of several sizes, an empty file, a setuid file, symlinks,
/// nested directories and duplicate content; `gen` changes one file's content.
fn make_tree(dir: &Path, files: usize, gen: u32) {
    std::fs::create_dir_all(dir.join("usr/lib/deep/er/still")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    let mut seed = 0x1234_5678u32;
    for i in 0..files {
        let len = match i % 5 {
            0 => 0,
            1 => 10,
            2 => 1000,
            3 => 70_000,
            _ => 3,
        };
        let mut data = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            data.push(if i % 3 == 0 {
                b'a' + (i % 7) as u8
            } else {
                (seed >> 16) as u8
            });
        }
        let sub = ["usr", "usr/lib", "usr/lib/deep/er/still", "etc"][i % 4];
        std::fs::write(dir.join(sub).join(format!("f{i}")), data).unwrap();
    }
    std::fs::write(dir.join("etc/version"), format!("generation {gen}\n")).unwrap();
    std::fs::write(dir.join("usr/setuid"), b"#!/bin/sh\n").unwrap();
    sh(&format!("chmod 4755 {}/usr/setuid", p(dir)));
    let _ = std::fs::remove_file(dir.join("usr/link"));
    let _ = std::fs::remove_file(dir.join("etc/dangling"));
    std::os::unix::fs::symlink("lib/f1", dir.join("usr/link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.join("etc/dangling")).unwrap();
}

/// A real archive repo at `repo` with one commit of `tree` on `main`; returns the commit.
fn commit(repo: &Path, tree: &Path, subject: &str, summary: bool) -> String {
    if !repo.join("config").exists() {
        sh(&format!("ostree init --repo={} --mode=archive", p(repo)));
    }
    let o = sh(&format!(
        "ostree commit --repo={} -b main --tree=dir={} -s '{subject}' --timestamp=2020-01-01T00:00:00Z",
        p(repo),
        p(tree)
    ));
    if summary {
        sh(&format!("ostree summary -u --repo={}", p(repo)));
    }
    stdout(&o).trim().to_string()
}

/// Every object file name under `repo/objects`, sorted.
fn objects(repo: &Path) -> Vec<String> {
    let o = sh(&format!("cd {}/objects && find . -type f | sort", p(repo)));
    stdout(&o).lines().map(String::from).collect()
}

/// `find -printf` listing (type, mode, size, link target) of a checkout.
fn listing(dir: &Path) -> String {
    stdout(&sh(&format!(
        "cd {} && find . -printf '%p %y %m %s %l\\n' | sort",
        p(dir)
    )))
}

/// A fresh archive repo by ramdisk, with remote `origin` → `port`.
fn rd_repo(bin: &Path, repo: &Path, port: u16) {
    let r = format!("--repo={}", p(repo));
    ok(
        run(&mut rd(bin, &["ostree", &r, "init", "--mode=archive"])),
        "init",
    );
    let url = format!("http://127.0.0.1:{port}/");
    ok(
        run(&mut rd(
            bin,
            &[
                "ostree",
                &r,
                "remote",
                "add",
                "--no-gpg-verify",
                "origin",
                &url,
            ],
        )),
        "remote add",
    );
}

fn rd_pull(bin: &Path, repo: &Path, args: &[&str]) -> Output {
    let r = format!("--repo={}", p(repo));
    let mut a = vec!["ostree", r.as_str(), "pull"];
    a.extend_from_slice(args);
    run(&mut rd(bin, &a))
}

fn fsck(repo: &Path) -> Output {
    ok(
        run(Command::new("ostree")
            .arg("fsck")
            .arg(format!("--repo={}", p(repo)))),
        "ostree fsck",
    )
}

/// The fetched-object count from the summary line `fetched N objects (...)`.
fn fetched_count(o: &Output) -> usize {
    let out = stdout(o);
    let line = out
        .lines()
        .find(|l| l.starts_with("fetched "))
        .unwrap_or_else(|| panic!("no summary line: {out}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Asserts one line on stderr starting with `ostree: pull: ` and containing `part`.
fn assert_pull_error(o: &Output, part: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(
        e.starts_with("ostree: pull: ") && e.contains(part),
        "message {e:?} lacks {part:?}"
    );
}

/// Source tree + real ostree archive repo with one commit and a summary, served by http.server.
struct Fixture {
    tmp: TempDir,
    commit: String,
    server: Server,
}

impl Fixture {
    fn new(tag: &str, files: usize, summary: bool) -> Fixture {
        let tmp = TempDir::new(tag);
        make_tree(&tmp.path().join("tree"), files, 1);
        let commit = commit(
            &tmp.path().join("src"),
            &tmp.path().join("tree"),
            "one",
            summary,
        );
        let server = http_server(&tmp.path().join("src"), &tmp.path().join("server.log"));
        Fixture {
            tmp,
            commit,
            server,
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

// ---------------------------------------------------------------------------------------------
// init and remote (any build)

#[test]
fn init_creates_what_ostree_init_creates_for_every_mode() {
    if skip_unless(have("ostree"), "ostree missing") {
        return;
    }
    let t = TempDir::new("pull-init");
    for mode in [
        "archive-z2",
        "archive",
        "bare",
        "bare-user",
        "bare-user-only",
    ] {
        let ours = t.path().join(format!("ours-{mode}"));
        let theirs = t.path().join(format!("theirs-{mode}"));
        let o = run(&mut ramdisk([
            "ostree",
            &format!("--repo={}", p(&ours)),
            "init",
            &format!("--mode={mode}"),
        ]));
        ok(o, "ramdisk ostree init");
        sh(&format!("ostree init --repo={} --mode={mode}", p(&theirs)));
        assert_eq!(
            std::fs::read(ours.join("config")).unwrap(),
            std::fs::read(theirs.join("config")).unwrap(),
            "config for {mode}"
        );
        let list = |d: &Path| {
            stdout(&sh(&format!(
                "cd {} && find . -printf '%p %y %m\\n' | sort",
                p(d)
            )))
        };
        assert_eq!(list(&ours), list(&theirs), "layout for {mode}");
        // Real ostree accepts it.
        sh(&format!("ostree refs --repo={}", p(&ours)));
    }
    // Existing repository: left alone, exit 0 (as ostree).
    let ours = t.path().join("ours-bare");
    let o = run(&mut ramdisk([
        "ostree",
        &format!("--repo={}", p(&ours)),
        "init",
        "--mode=archive",
    ]));
    ok(o, "second init");
    assert_eq!(
        std::fs::read_to_string(ours.join("config")).unwrap(),
        "[core]\nrepo_version=1\nmode=bare\n"
    );
    let o = run(&mut ramdisk([
        "ostree",
        &format!("--repo={}", p(&ours)),
        "init",
        "--mode=bare-split-xattrs",
    ]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ostree: init: invalid mode 'bare-split-xattrs'\n"
    );
}

#[test]
fn remote_add_list_delete_write_what_ostree_writes() {
    if skip_unless(have("ostree"), "ostree missing") {
        return;
    }
    let t = TempDir::new("pull-remote");
    let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
    let r = format!("--repo={}", p(&ours));
    ok(
        run(&mut ramdisk(["ostree", &r, "init", "--mode=archive"])),
        "init",
    );
    sh(&format!("ostree init --repo={} --mode=archive", p(&theirs)));
    let steps: &[&[&str]] = &[
        &[
            "add",
            "--no-gpg-verify",
            "origin",
            "http://127.0.0.1:1/",
            "a",
            "b/c",
        ],
        &["add", "o2", "http://h/x\\y"],
        &["add", "--if-not-exists", "o2", "http://other"],
        &["delete", "origin"],
        &["add", "--no-gpg-verify", "z.last-1", "http://z"],
    ];
    for s in steps {
        let mut a = vec!["ostree", r.as_str(), "remote"];
        a.extend_from_slice(s);
        ok(run(&mut ramdisk(&a)), "ramdisk remote");
        let mut c = Command::new("ostree");
        c.arg("remote")
            .args(*s)
            .arg(format!("--repo={}", p(&theirs)));
        ok(run(&mut c), "ostree remote");
        assert_eq!(
            std::fs::read_to_string(ours.join("config")).unwrap(),
            std::fs::read_to_string(theirs.join("config")).unwrap(),
            "after {s:?}"
        );
    }
    let real = stdout(&sh(&format!("ostree remote list -u --repo={}", p(&ours))));
    let mine = stdout(&ok(
        run(&mut ramdisk(["ostree", &r, "remote", "list", "-u"])),
        "list -u",
    ));
    assert_eq!(mine, real);
    assert_eq!(real, "o2        http://h/x\\y\nz.last-1  http://z\n");
    let url = stdout(&ok(
        run(&mut ramdisk(["ostree", &r, "remote", "show-url", "o2"])),
        "show-url",
    ));
    let real_url = sh(&format!("ostree remote show-url --repo={} o2", p(&ours)));
    assert_eq!(url, stdout(&real_url));
    let names = stdout(&ok(
        run(&mut ramdisk(["ostree", &r, "remote", "list"])),
        "list",
    ));
    assert_eq!(names, "o2\nz.last-1\n");
    // Errors: one line, exit 1, config unchanged.
    let before = std::fs::read(ours.join("config")).unwrap();
    for (args, msg) in [
        (
            &["add", "o2", "http://q"][..],
            "ostree: remote 'o2': remote already exists\n",
        ),
        (
            &["delete", "nope"][..],
            "ostree: remote 'nope': remote not found\n",
        ),
        (
            &["add", "b/c", "http://q"][..],
            "ostree: remote 'b/c': invalid remote name\n",
        ),
    ] {
        let mut a = vec!["ostree", r.as_str(), "remote"];
        a.extend_from_slice(args);
        let o = run(&mut ramdisk(&a));
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), msg);
    }
    assert_eq!(std::fs::read(ours.join("config")).unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// pull (full build)

#[test]
fn pull_matches_source_and_real_ostree_pull() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-basic", 60, true);
    let (ours, theirs) = (f.path("ours"), f.path("theirs"));
    rd_repo(&bin, &ours, f.server.port);
    let o = ok(rd_pull(&bin, &ours, &["origin:main"]), "ramdisk pull");
    assert_eq!(
        fetched_count(&o),
        objects(&f.path("src")).len(),
        "{}",
        stdout(&o)
    );
    fsck(&ours);
    sh(&format!(
        "ostree init --repo={t} --mode=archive && ostree remote add --repo={t} --no-gpg-verify origin http://127.0.0.1:{} && ostree pull --repo={t} origin:main",
        f.server.port,
        t = p(&theirs)
    ));
    assert_eq!(objects(&ours), objects(&theirs));
    assert_eq!(objects(&ours), objects(&f.path("src")));
    let r = |repo: &Path| {
        stdout(&sh(&format!(
            "ostree refs --repo={} && ostree rev-parse --repo={} origin:main",
            p(repo),
            p(repo)
        )))
    };
    assert_eq!(r(&ours), r(&theirs));
    assert_eq!(r(&ours), format!("origin:main\n{}\n", f.commit));
    assert!(
        std::fs::read_dir(ours.join("state"))
            .unwrap()
            .next()
            .is_none(),
        "no partial marker left"
    );
    // Checkouts by the real ostree are identical.
    sh(&format!(
        "ostree checkout --repo={} main {}",
        p(&f.path("src")),
        p(&f.path("co-src"))
    ));
    sh(&format!(
        "ostree checkout --repo={} origin:main {}",
        p(&ours),
        p(&f.path("co-ours"))
    ));
    sh(&format!(
        "diff -r --no-dereference {} {}",
        p(&f.path("co-src")),
        p(&f.path("co-ours"))
    ));
    assert_eq!(listing(&f.path("co-src")), listing(&f.path("co-ours")));
    // A second pull of the same commit fetches nothing.
    let o = ok(rd_pull(&bin, &ours, &["origin:main"]), "ramdisk pull again");
    assert_eq!(fetched_count(&o), 0);
}

#[test]
fn pull_without_summary_uses_refs_heads_and_second_pull_fetches_only_new_objects() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-incr", 40, false);
    let ours = f.path("ours");
    rd_repo(&bin, &ours, f.server.port);
    ok(rd_pull(&bin, &ours, &["origin:main"]), "first pull");
    let before = objects(&f.path("src"));
    // Second commit: one file changed, one added.
    make_tree(&f.path("tree"), 40, 2);
    std::fs::write(f.path("tree/usr/new-file"), b"new\n").unwrap();
    let second = commit(&f.path("src"), &f.path("tree"), "two", false);
    let after = objects(&f.path("src"));
    let new = after.iter().filter(|o| !before.contains(o)).count();
    let log_before = std::fs::read_to_string(f.path("server.log"))
        .unwrap()
        .lines()
        .count();
    let o = ok(rd_pull(&bin, &ours, &["origin:main"]), "second pull");
    assert_eq!(
        fetched_count(&o),
        new,
        "only the {new} new objects: {}",
        stdout(&o)
    );
    // Server log: the ref, the summary probe, the commitmeta probe, then exactly the new objects.
    let log = std::fs::read_to_string(f.path("server.log")).unwrap();
    let gets: Vec<&str> = log
        .lines()
        .skip(log_before)
        .filter(|l| l.contains("\"GET /objects/") && l.contains("\" 200 "))
        .collect();
    assert_eq!(gets.len(), new, "{gets:#?}");
    fsck(&ours);
    let rev = stdout(&sh(&format!(
        "ostree rev-parse --repo={} origin:main",
        p(&ours)
    )));
    assert_eq!(rev.trim(), second);
    // The first commit stays complete; --depth=1 into a fresh repo brings both.
    let deep = f.path("deep");
    rd_repo(&bin, &deep, f.server.port);
    ok(
        rd_pull(&bin, &deep, &["--depth=1", "origin:main"]),
        "depth pull",
    );
    assert_eq!(objects(&deep), after);
    fsck(&deep);
}

#[test]
fn commit_metadata_only_marks_partial_then_full_pull_completes() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-meta", 20, true);
    let ours = f.path("ours");
    rd_repo(&bin, &ours, f.server.port);
    let o = ok(
        rd_pull(&bin, &ours, &["--commit-metadata-only", "origin:main"]),
        "metadata pull",
    );
    assert_eq!(fetched_count(&o), 1);
    assert!(ours
        .join(format!("state/{}.commitpartial", f.commit))
        .exists());
    fsck(&ours);
    ok(rd_pull(&bin, &ours, &["origin:main"]), "full pull");
    assert!(!ours
        .join(format!("state/{}.commitpartial", f.commit))
        .exists());
    assert_eq!(objects(&ours), objects(&f.path("src")));
    fsck(&ours);
}

#[test]
fn interrupted_pull_resumes_to_a_complete_fsck_clean_repo() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-resume", 80, true);
    let total: u64 = stdout(&sh(&format!(
        "du -sb --apparent-size {}/objects | cut -f1",
        p(&f.path("src"))
    )))
    .trim()
    .parse()
    .unwrap();
    let cutter = fault_server(&f.path("src"), "budget", &(total / 2).to_string());
    let ours = f.path("ours");
    rd_repo(&bin, &ours, cutter.port);
    let o = rd_pull(&bin, &ours, &["origin:main"]);
    assert_pull_error(&o, "server closed the connection");
    assert!(
        ours.join(format!("state/{}.commitpartial", f.commit))
            .exists(),
        "commit marked partial"
    );
    assert!(
        !ours.join("refs/remotes/origin/main").exists(),
        "no ref before the commit is complete"
    );
    let got = objects(&ours).len();
    assert!(
        got > 0 && got < objects(&f.path("src")).len(),
        "{got} objects before the cut"
    );
    fsck(&ours);
    drop(cutter);
    // Resume from the real server: only the missing objects are fetched.
    let url = format!("http://127.0.0.1:{}/", f.server.port);
    let r = format!("--repo={}", p(&ours));
    ok(
        run(&mut rd(&bin, &["ostree", &r, "remote", "delete", "origin"])),
        "delete",
    );
    ok(
        run(&mut rd(
            &bin,
            &[
                "ostree",
                &r,
                "remote",
                "add",
                "--no-gpg-verify",
                "origin",
                &url,
            ],
        )),
        "add",
    );
    let o = ok(rd_pull(&bin, &ours, &["origin:main"]), "resumed pull");
    assert_eq!(fetched_count(&o), objects(&f.path("src")).len() - got);
    assert_eq!(objects(&ours), objects(&f.path("src")));
    assert!(!ours
        .join(format!("state/{}.commitpartial", f.commit))
        .exists());
    fsck(&ours);
    sh(&format!(
        "ostree checkout --repo={} origin:main {}",
        p(&ours),
        p(&f.path("co"))
    ));
    sh(&format!(
        "diff -r --no-dereference {} {}",
        p(&f.path("tree")),
        p(&f.path("co"))
    ));
}

#[test]
fn pull_errors_are_one_line_and_leave_a_valid_repo() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-errors", 10, false);

    // Unreachable server: nothing listens on the port.
    let dead = f.path("dead");
    rd_repo(&bin, &dead, free_port());
    let o = rd_pull(&bin, &dead, &["origin:main"]);
    assert_pull_error(&o, "connection refused");
    fsck(&dead);

    // 404 for the ref (no summary on this server), then with a summary.
    let nf = f.path("notfound");
    rd_repo(&bin, &nf, f.server.port);
    assert_pull_error(
        &rd_pull(&bin, &nf, &["origin:nope"]),
        "ref 'nope' not found on the remote",
    );
    sh(&format!("ostree summary -u --repo={}", p(&f.path("src"))));
    assert_pull_error(
        &rd_pull(&bin, &nf, &["origin:nope"]),
        "ref 'nope' not found in the remote's summary",
    );
    std::fs::remove_file(f.path("src/summary")).unwrap();
    fsck(&nf);

    // A corrupted object on the server: rejected, named, not stored.
    sh(&format!(
        "cp -a {} {}",
        p(&f.path("src")),
        p(&f.path("bad"))
    ));
    let victim = stdout(&sh(&format!(
        "cd {}/objects && find . -name '*.filez' -size +2k | sort | head -n1",
        p(&f.path("bad"))
    )))
    .trim()
    .trim_start_matches("./")
    .to_string();
    assert!(!victim.is_empty());
    let vpath = f.path("bad/objects").join(&victim);
    let mut bytes = std::fs::read(&vpath).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x55;
    std::fs::write(&vpath, bytes).unwrap();
    let bad_server = http_server(&f.path("bad"), &f.path("bad.log"));
    let corrupt = f.path("corrupt");
    rd_repo(&bin, &corrupt, bad_server.port);
    let o = rd_pull(&bin, &corrupt, &["origin:main"]);
    let name = victim.replace('/', "");
    assert_pull_error(&o, &format!("object {name}: rejected: "));
    assert!(
        !corrupt.join("objects").join(&victim).exists(),
        "corrupt object stored"
    );
    assert!(!corrupt.join("refs/remotes/origin/main").exists());
    fsck(&corrupt);

    // A truncated response (full Content-Length, half the body, then close).
    let cut = fault_server(&f.path("src"), "cut", ".filez");
    let trunc = f.path("trunc");
    rd_repo(&bin, &trunc, cut.port);
    assert_pull_error(
        &rd_pull(&bin, &trunc, &["origin:main"]),
        "truncated response",
    );
    fsck(&trunc);

    // A server that drops every connection without answering.
    let drop_srv = fault_server(&f.path("src"), "drop", "-");
    let dropped = f.path("dropped");
    rd_repo(&bin, &dropped, drop_srv.port);
    assert_pull_error(
        &rd_pull(&bin, &dropped, &["origin:main"]),
        "server closed the connection without a response",
    );
    fsck(&dropped);

    // Unknown remote, non-archive repository.
    assert_pull_error(
        &rd_pull(&bin, &dropped, &["nosuch:main"]),
        "remote 'nosuch' not found",
    );
    let bare = f.path("bare");
    sh(&format!("ostree init --repo={} --mode=bare", p(&bare)));
    assert_pull_error(
        &rd_pull(&bin, &bare, &["origin:main"]),
        "only archive-z2 repositories",
    );
}

// ---------------------------------------------------------------------------------------------
// The default build has no network code.

/// Symbols whose presence means network code was linked in.
const NET_SYMBOLS: &[&str] = &["connect", "socket", "getaddrinfo", "ureq", "TcpStream"];

/// Names of the defined and undefined symbols of `bin` (`nm` plus `nm -D`), or `None` when
/// it has no symbol table (stripped).
fn symbols(bin: &Path) -> Option<String> {
    let mut all = String::new();
    for flag in [None, Some("-D")] {
        let mut c = Command::new("nm");
        c.args(flag).arg(bin);
        let o = run(&mut c);
        if o.status.success() {
            all.push_str(&stdout(&o));
        }
    }
    (!all.is_empty()).then_some(all)
}

fn net_symbols(syms: &str) -> Vec<String> {
    syms.lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| {
            let bare = s.split('@').next().unwrap_or(s);
            NET_SYMBOLS.iter().any(|n| {
                bare == *n || bare == format!("__{n}") || (n.len() > 6 && bare.contains(n))
            })
        })
        .map(String::from)
        .collect()
}

#[test]
fn default_build_has_no_network_code() {
    if skip_unless(have("nm"), "nm (binutils) missing") {
        return;
    }
    let default = ramdisk_bin();
    let bytes = std::fs::read(&default).unwrap();
    assert!(
        !has_pull(&default),
        "{} is a pull build; the default build must not be",
        default.display()
    );
    for needle in [&b"HTTP/1.1"[..], b"http://", b"ureq"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "default build contains {:?}",
            String::from_utf8_lossy(needle)
        );
    }
    match symbols(&default) {
        Some(syms) => assert_eq!(
            net_symbols(&syms),
            Vec::<String>::new(),
            "network symbols in the default build"
        ),
        None => eprintln!(
            "note: {} is stripped; checked its strings only",
            default.display()
        ),
    }
    // The check itself works: the full build has them.
    if let Some(full) = pull_bin() {
        let bytes = std::fs::read(&full).unwrap();
        assert!(bytes.windows(8).any(|w| w == b"HTTP/1.1"));
        if let Some(syms) = symbols(&full) {
            assert!(
                !net_symbols(&syms).is_empty(),
                "the check finds nothing even in the pull build"
            );
        }
    }
}
