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
/// of matching paths (with the full Content-Length), `budget N` stops after N body bytes in all,
/// `stall SUBSTR` sends half the body of matching paths and then nothing for a minute.
const FAULT_PY: &str = r#"
import sys, os, threading, time, http.server, socketserver
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
        if mode == "stall" and arg in self.path: n = len(body) // 2
        self.wfile.write(body[:n])
        if mode == "stall" and n < len(body): self.wfile.flush(); time.sleep(60)
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
        &[
            "add",
            "--set=sign-verify=true",
            "--set=verification-ed25519-key=abc=",
            "--set=k=a\\b c",
            "--set=k= second",
            "s1",
            "http://s",
            "main",
        ],
        &["delete", "s1"],
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

// ---------------------------------------------------------------------------------------------
// Bounded memory and leftovers of interrupted pulls (full build)

/// A tree holding one `mib` MiB file of random bytes (incompressible) and a small file.
fn big_tree(dir: &Path, mib: u32) {
    std::fs::create_dir_all(dir).unwrap();
    sh(&format!(
        "head -c {} /dev/urandom > {}/big",
        u64::from(mib) << 20,
        p(dir)
    ));
    std::fs::write(dir.join("small"), b"small\n").unwrap();
}

#[test]
fn pull_of_a_50_mib_file_keeps_peak_rss_under_16_mib() {
    let Some(bin) = need_pull() else { return };
    let runner = std::env::var_os("RAMDISK_RUNNER").is_some_and(|r| !r.is_empty());
    if skip_unless(
        !runner,
        "under an emulator the RSS measured is the emulator's",
    ) || skip_unless(
        Path::new("/usr/bin/time").exists(),
        "/usr/bin/time (GNU time) missing",
    ) {
        return;
    }
    let t = TempDir::new("pull-rss");
    big_tree(&t.path().join("tree"), 50);
    commit(&t.path().join("src"), &t.path().join("tree"), "big", true);
    let server = http_server(&t.path().join("src"), &t.path().join("server.log"));
    let ours = t.path().join("ours");
    rd_repo(&bin, &ours, server.port);
    let r = format!("--repo={}", p(&ours));
    let o = ok(
        run(Command::new("/usr/bin/time")
            .args(["-f", "maxrss=%M"])
            .arg(&bin)
            .args(["ostree", &r, "pull", "origin:main"])),
        "pull under /usr/bin/time",
    );
    let err = stderr(&o);
    let kib: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .unwrap_or_else(|| panic!("no maxrss line: {err}"))
        .trim()
        .parse()
        .unwrap();
    eprintln!("peak RSS of a pull with a 50 MiB file: {kib} KiB");
    assert!(kib < 16 * 1024, "peak RSS {kib} KiB >= 16 MiB");
    fsck(&ours);
    sh(&format!(
        "ostree checkout --repo={} origin:main {} && cmp {}/big {}/big",
        p(&ours),
        p(&t.path().join("co")),
        p(&t.path().join("tree")),
        p(&t.path().join("co"))
    ));
}

/// Names in `repo/tmp` that this tool's temporary files have.
fn leftovers(repo: &Path) -> Vec<String> {
    std::fs::read_dir(repo.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp-ramdisk-"))
        .collect()
}

#[test]
fn next_pull_removes_temporary_files_left_by_a_killed_pull() {
    let Some(bin) = need_pull() else { return };
    let t = TempDir::new("pull-tmpclean");
    big_tree(&t.path().join("tree"), 4);
    commit(&t.path().join("src"), &t.path().join("tree"), "big", true);
    let src = t.path().join("src");
    let stall = fault_server(&src, "stall", ".filez");
    let ours = t.path().join("ours");
    rd_repo(&bin, &ours, stall.port);
    // ostree's own files in tmp/ are not ours to remove.
    std::fs::write(ours.join("tmp/ostree-owned"), b"x").unwrap();
    let r = format!("--repo={}", p(&ours));
    let mut child = rd(&bin, &["ostree", &r, "pull", "origin:main"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a content object is half written to its temporary file, then kill the pull.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let written = leftovers(&ours)
            .iter()
            .any(|n| std::fs::metadata(ours.join("tmp").join(n)).is_ok_and(|m| m.len() > 0));
        if written {
            break;
        }
        assert!(Instant::now() < until, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stall);
    assert!(!leftovers(&ours).is_empty());
    fsck(&ours);
    // The next pull (from a server that works) removes them and completes.
    let server = http_server(&src, &t.path().join("server.log"));
    ok(
        run(&mut rd(&bin, &["ostree", &r, "remote", "delete", "origin"])),
        "delete",
    );
    let url = format!("http://127.0.0.1:{}/", server.port);
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
    ok(
        rd_pull(&bin, &ours, &["origin:main"]),
        "pull after the kill",
    );
    assert_eq!(leftovers(&ours), Vec::<String>::new());
    assert!(ours.join("tmp/ostree-owned").exists());
    assert_eq!(objects(&ours), objects(&src));
    fsck(&ours);
}

// ---------------------------------------------------------------------------------------------
// Signature verification at pull (full build)

/// A signing key: its public half (base64) and how to sign with it.
struct Key {
    public: String,
    /// `ramdisk ostree keygen`'s secret key (base64), or an openssl PEM file.
    secret: Secret,
}

enum Secret {
    Ramdisk(String),
    Pem(PathBuf),
}

/// A new key pair: from `ramdisk ostree keygen` when the binary offers it, else from
/// `openssl genpkey -algorithm ed25519` (an independent implementation).
fn keygen(bin: &Path, dir: &Path, name: &str) -> Key {
    let o = run(&mut rd(bin, &["ostree", "keygen"]));
    if o.status.success() {
        let out = stdout(&o);
        let mut l = out.lines();
        let secret = Secret::Ramdisk(l.next().unwrap().to_string());
        let public = l.next().unwrap().to_string();
        return Key { public, secret };
    }
    let pem = dir.join(format!("{name}.pem"));
    sh(&format!(
        "openssl genpkey -algorithm ed25519 -out {}",
        p(&pem)
    ));
    let public = stdout(&sh(&format!(
        "openssl pkey -in {} -pubout -outform DER | tail -c 32 | base64 -w0",
        p(&pem)
    )))
    .trim()
    .to_string();
    Key {
        public,
        secret: Secret::Pem(pem),
    }
}

/// The detached metadata `a{sv}` {'ostree.sign.ed25519': <[sig]>} with one 64-byte signature,
/// serialized by hand (ostree-format.md §2; normal form, 1-byte offsets).
fn commitmeta_with(sig: &[u8]) -> Vec<u8> {
    assert_eq!(sig.len(), 64);
    let mut entry = b"ostree.sign.ed25519\0".to_vec(); // key, ends at 20
    entry.resize(24, 0); // the variant is 8-aligned
    entry.extend_from_slice(sig); // aay: one 64-byte element
    entry.push(64); // its end offset
    entry.extend_from_slice(b"\0aay"); // variant type
    entry.push(20); // dict entry: end of the key
    let mut dict = entry.clone();
    dict.push(entry.len() as u8); // array: end of the one element
    dict
}

/// Signs `commit` in `repo` with `key`: `ramdisk ostree sign`, or openssl plus a hand-made
/// `.commitmeta`.
fn sign(bin: &Path, repo: &Path, commit: &str, key: &Key) {
    match &key.secret {
        Secret::Ramdisk(secret) => {
            let r = format!("--repo={}", p(repo));
            ok(
                run(&mut rd(bin, &["ostree", &r, "sign", commit, secret])),
                "ostree sign",
            );
        }
        Secret::Pem(pem) => {
            let obj = repo.join(format!("objects/{}/{}", &commit[..2], &commit[2..]));
            let sig = repo.join("sig.bin");
            sh(&format!(
                "openssl pkeyutl -sign -inkey {} -rawin -in {}.commit -out {}",
                p(pem),
                p(&obj),
                p(&sig)
            ));
            let sig = std::fs::read(&sig).unwrap();
            std::fs::write(format!("{}.commitmeta", p(&obj)), commitmeta_with(&sig)).unwrap();
        }
    }
}

/// A fresh archive repo by ramdisk with remote `origin` → `port`, `sign-verify=true` and `set`.
fn rd_signed_repo(bin: &Path, repo: &Path, port: u16, set: &[String]) {
    let r = format!("--repo={}", p(repo));
    ok(
        run(&mut rd(bin, &["ostree", &r, "init", "--mode=archive"])),
        "init",
    );
    let url = format!("http://127.0.0.1:{port}/");
    let mut a = vec![
        "ostree",
        r.as_str(),
        "remote",
        "add",
        "--set=sign-verify=true",
    ];
    a.extend(set.iter().map(String::as_str));
    a.extend(["origin", url.as_str()]);
    ok(run(&mut rd(bin, &a)), "remote add --set");
}

/// Asserts that a refused pull left nothing: no object, no partial marker, no ref; fsck-clean.
fn assert_nothing_stored(repo: &Path) {
    assert_eq!(objects(repo), Vec::<String>::new());
    assert!(std::fs::read_dir(repo.join("state"))
        .unwrap()
        .next()
        .is_none());
    assert!(!repo.join("refs/remotes/origin/main").exists());
    fsck(repo);
}

#[test]
fn signed_commit_pulls_with_the_right_key_and_is_refused_otherwise() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-sign", 12, true);
    let key = keygen(&bin, f.tmp.path(), "k1");
    let other = keygen(&bin, f.tmp.path(), "k2").public;
    let public = key.public.clone();
    sign(&bin, &f.path("src"), &f.commit, &key);
    let short = &f.commit;

    // The right key, inline: pulled, with its commitmeta.
    let good = f.path("good");
    rd_signed_repo(
        &bin,
        &good,
        f.server.port,
        &[format!("--set=verification-ed25519-key={public}")],
    );
    let cfg = std::fs::read_to_string(good.join("config")).unwrap();
    assert!(
        cfg.ends_with(&format!(
            "url=http://127.0.0.1:{}/\nsign-verify=true\nverification-ed25519-key={public}\n",
            f.server.port
        )),
        "{cfg}"
    );
    ok(rd_pull(&bin, &good, &["origin:main"]), "signed pull");
    assert_eq!(objects(&good), objects(&f.path("src")));
    assert!(objects(&good).iter().any(|o| o.ends_with(".commitmeta")));
    fsck(&good);
    // A second pull checks the stored signature again and fetches nothing.
    let o = ok(rd_pull(&bin, &good, &["origin:main"]), "signed pull again");
    assert_eq!(fetched_count(&o), 0);

    // The right key from a file.
    let keyfile = f.path("trusted.ed25519");
    std::fs::write(&keyfile, format!("{public}\n")).unwrap();
    let viafile = f.path("viafile");
    rd_signed_repo(
        &bin,
        &viafile,
        f.server.port,
        &[format!("--set=verification-ed25519-file={}", p(&keyfile))],
    );
    ok(
        rd_pull(&bin, &viafile, &["origin:main"]),
        "pull with key file",
    );
    fsck(&viafile);

    // Another key: refused, nothing stored.
    let wrong = f.path("wrong");
    rd_signed_repo(
        &bin,
        &wrong,
        f.server.port,
        &[format!("--set=verification-ed25519-key={other}")],
    );
    let o = rd_pull(&bin, &wrong, &["origin:main"]);
    assert_eq!(
        stderr(&o),
        format!("ostree: pull: commit {short}: refused: no valid signature from a trusted key\n")
    );
    assert_eq!(o.status.code(), Some(1));
    assert_nothing_stored(&wrong);

    // A key file that is not one: named with its line.
    std::fs::write(f.path("bad.ed25519"), "not-base64\n").unwrap();
    let badkey = f.path("badkey");
    rd_signed_repo(
        &bin,
        &badkey,
        f.server.port,
        &[format!(
            "--set=verification-ed25519-file={}",
            p(&f.path("bad.ed25519"))
        )],
    );
    assert_pull_error(
        &rd_pull(&bin, &badkey, &["origin:main"]),
        "bad.ed25519' line 1: ",
    );
    assert_nothing_stored(&badkey);
}

#[test]
fn unsigned_commit_is_refused_when_sign_verify_is_set() {
    let Some(bin) = need_pull() else { return };
    let f = Fixture::new("pull-unsigned", 8, false);
    let public = keygen(&bin, f.tmp.path(), "k").public;
    let ours = f.path("ours");
    rd_signed_repo(
        &bin,
        &ours,
        f.server.port,
        &[format!("--set=verification-ed25519-key={public}")],
    );
    let o = rd_pull(&bin, &ours, &["origin:main"]);
    assert_eq!(
        stderr(&o),
        format!(
            "ostree: pull: commit {}: refused: commit is not signed\n",
            f.commit
        )
    );
    assert_eq!(o.status.code(), Some(1));
    assert_nothing_stored(&ours);
    // sign-verify=false pulls it.
    let off = f.path("off");
    rd_repo(&bin, &off, f.server.port);
    let cfg = off.join("config");
    let text = std::fs::read_to_string(&cfg).unwrap() + "sign-verify=false\n";
    std::fs::write(&cfg, text).unwrap();
    ok(rd_pull(&bin, &off, &["origin:main"]), "sign-verify=false");
    fsck(&off);
}

#[test]
fn system_keys_verify_and_revoked_key_is_refused() {
    let Some(bin) = need_pull() else { return };
    if skip_unless(
        tests::can_unshare_mounts(),
        "needs unshare -m to put test keys on /etc/ostree",
    ) {
        return;
    }
    let f = Fixture::new("pull-revoked", 8, true);
    let key = keygen(&bin, f.tmp.path(), "k");
    let public = key.public.clone();
    sign(&bin, &f.path("src"), &f.commit, &key);
    for name in ["sys", "revoked", "explicit", "nokeys"] {
        let extra: Vec<String> = if name == "explicit" {
            vec![format!("--set=verification-ed25519-key={public}")]
        } else {
            Vec::new()
        };
        rd_signed_repo(&bin, &f.path(name), f.server.port, &extra);
    }
    let runner = std::env::var("RAMDISK_RUNNER").unwrap_or_default();
    // /usr/share/ostree is hidden too so that only the keys written here count.
    let script = format!(
        r#"
        mount -t tmpfs none /etc/ostree; mount -t tmpfs none /usr/share/ostree
        pull() {{ {runner} {bin} ostree --repo={dir}/$1 pull origin:main; }}
        echo '{public}' > /etc/ostree/trusted.ed25519
        pull sys
        echo '{public}' > /etc/ostree/revoked.ed25519
        if pull revoked 2> {dir}/revoked.err; then exit 10; fi
        if pull explicit 2> {dir}/explicit.err; then exit 11; fi
        rm /etc/ostree/revoked.ed25519 /etc/ostree/trusted.ed25519
        if pull nokeys 2> {dir}/nokeys.err; then exit 12; fi
        "#,
        bin = p(&bin),
        dir = p(f.tmp.path()),
    );
    ok(
        run(Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-euc"])
            .arg(&script)),
        "pulls in a mount namespace",
    );
    fsck(&f.path("sys"));
    assert_eq!(objects(&f.path("sys")), objects(&f.path("src")));
    let refused = format!(
        "ostree: pull: commit {}: refused: signed only by a revoked key\n",
        f.commit
    );
    assert_eq!(
        std::fs::read_to_string(f.path("revoked.err")).unwrap(),
        refused
    );
    assert_eq!(
        std::fs::read_to_string(f.path("explicit.err")).unwrap(),
        refused
    );
    assert_eq!(
        std::fs::read_to_string(f.path("nokeys.err")).unwrap(),
        "ostree: pull: remote 'origin': sign-verify is set but no trusted ed25519 key is configured\n"
    );
    for name in ["revoked", "explicit", "nokeys"] {
        assert_nothing_stored(&f.path(name));
    }
}
