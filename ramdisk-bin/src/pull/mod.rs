//! `ostree pull` over plain HTTP into an `archive-z2` repository (full build, feature `pull`).
//!
//! Order of work, chosen so that every kill or power cut leaves a repository `ostree fsck`
//! accepts and a second pull resumes (core `ostree_write` documents each write):
//! 0. Remove temporary files an interrupted earlier run left in `tmp/` (`Store::clean_tmp`).
//! 1. Resolve each ref: from the remote's `summary` when it has one, else `refs/heads/REF`.
//! 2. Per commit: fetch the commit and check its SHA-256. With `sign-verify=true` on the remote,
//!    fetch its `.commitmeta` (a 404 means unsigned) and check the ed25519 signatures
//!    (`sign::verify_commit`) before anything of the commit is stored; a refused commit leaves
//!    nothing on disk and the ref untouched. Then mark it partial (`state/C.commitpartial`),
//!    store it, then its detached metadata (only once verified, when verification is on).
//! 3. Walk its tree breadth-first. Objects already present are skipped (present means complete:
//!    objects are renamed into place only after `fsync`); present dirtrees are read locally to
//!    find what under them is missing. Missing objects are fetched by [`THREADS`] threads, each
//!    with its own keep-alive connection, verified against their checksum, then stored. A
//!    content object is streamed: each piece received goes to its temporary file in `tmp/` and
//!    through `fetched::FilezCheck` (inflate capped at the header's size, hash), so memory stays
//!    bounded whatever the file size; only a verified file is `fsync`ed and renamed into place.
//! 4. `syncfs`, remove the partial marker; with `--depth`, go on with the parent.
//! 5. Write `refs/remotes/REMOTE/REF` last, after another `syncfs`.
//!
//! Signature keys, as ostree's remote options: `verification-ed25519-key=BASE64` and/or
//! `verification-ed25519-file=PATH` (trusted keys, one base64 key per line); with neither, the
//! system keys (`trusted.ed25519`, `revoked.ed25519` and their `.d/` under `/usr/share/ostree`
//! and `/etc/ostree`, `sign::Keys::load_system`). Revoked keys come from the system directories
//! and apply in both cases (a deliberate difference, as in our `ostree sign --verify`).
//!
//! Differences from `ostree pull`: only `http://` remotes; no GPG checks (`gpg-verify` is
//! ignored); only ed25519 signatures; `sign-verify` is a boolean (no list of types); no static
//! deltas, mirrors or collection refs; the destination must be an `archive-z2` repository.

mod http;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{FetchError, Http};
use ramdisk_core::ostree::checksum_hex;
use ramdisk_core::ostree::object::{Commit, DirTree};
use ramdisk_core::ostree::{parse_checksum, Checksum, MAX_METADATA_SIZE};
use ramdisk_core::ostree_write::store::object_names;
use ramdisk_core::ostree_write::{fetched, keyfile, layout, ObjKind, Store};
use ramdisk_core::sign::{self, Keys};
use ramdisk_core::Error;

/// Fetch threads, each with its own connection.
pub const THREADS: usize = 4;

/// Largest content object accepted (compressed bytes on the wire; it is streamed to disk, so
/// this only stops a server that never ends a body).
pub const MAX_CONTENT: u64 = 16 << 30;

/// Largest `summary` accepted.
const MAX_SUMMARY: u64 = 64 << 20;

/// What `ostree pull` was asked for besides the refs.
pub struct Options {
    /// Parents to follow: 0 = only the commit, -1 = all.
    pub depth: i64,
    /// Fetch commit objects only (they stay marked partial).
    pub metadata_only: bool,
}

/// `why` text for a core error.
fn why(e: &Error) -> String {
    let mut s = String::new();
    crate::report::push_error(&mut s, e);
    s
}

/// `object HEX.EXT` for messages.
fn label(kind: ObjKind, csum: &Checksum) -> String {
    let hex = checksum_hex(csum);
    let mut s = String::from("object ");
    s.push_str(std::str::from_utf8(&hex).unwrap_or("?"));
    s.push('.');
    s.push_str(kind.ext());
    s
}

/// `objects/XX/REST.EXT`, the object's path under the remote URL.
fn remote_path(kind: ObjKind, csum: &Checksum) -> String {
    let (xx, rest) = object_names(csum, kind);
    let mut p = String::from("objects/");
    p.push_str(std::str::from_utf8(&xx).unwrap_or(""));
    p.push('/');
    p.push_str(std::str::from_utf8(&rest).unwrap_or(""));
    p
}

/// GETs and verifies one metadata object (kept in memory: at most [`MAX_METADATA_SIZE`]).
fn fetch_verified(http: &Http, kind: ObjKind, csum: &Checksum) -> Result<Vec<u8>, String> {
    let bytes = match http.get(&remote_path(kind, csum), MAX_METADATA_SIZE as u64) {
        Ok(b) => b,
        Err(e) => return Err(fetch_fail(kind, csum, e)),
    };
    fetched::check_metadata(kind, csum, &bytes)
        .map_err(|e| [label(kind, csum), ": rejected: ".into(), why(&e)].concat())?;
    Ok(bytes)
}

/// The one-line reason for a failed GET of an object.
fn fetch_fail(kind: ObjKind, csum: &Checksum, e: FetchError) -> String {
    let w = match e {
        FetchError::NotFound => "not found on the server".into(),
        FetchError::Other(w) | FetchError::Rejected(w) => w,
    };
    [label(kind, csum), ": ".into(), w].concat()
}

/// GETs a content object into a temporary file in `tmp/` while checking it piece by piece,
/// then (verified) `fsync`s and renames it into `objects/`; returns its length on the wire.
fn fetch_content(http: &Http, store: &Store, csum: &Checksum) -> Result<u64, String> {
    let kind = ObjKind::Content;
    let ctx = |e: Error| [label(kind, csum), ": ".into(), why(&e)].concat();
    let mut tmp = store.begin(csum, kind).map_err(ctx)?;
    let mut check = fetched::FilezCheck::new(csum);
    let mut sink = |chunk: &[u8]| -> Result<(), String> {
        check
            .update(chunk)
            .map_err(|e| ["rejected: ", &why(&e)].concat())?;
        tmp.write(chunk).map_err(|e| why(&e))
    };
    let len = http
        .get_stream(&remote_path(kind, csum), MAX_CONTENT, &mut sink)
        .map_err(|e| fetch_fail(kind, csum, e))?;
    check
        .finish()
        .map_err(|e| [label(kind, csum), ": rejected: ".into(), why(&e)].concat())?;
    tmp.commit().map_err(ctx)?;
    Ok(len)
}

/// GETs, verifies and stores one object; returns its bytes for metadata (to walk dirtrees;
/// empty for content) and its length on the wire.
fn fetch_object(
    http: &Http,
    store: &Store,
    kind: ObjKind,
    csum: &Checksum,
) -> Result<(Vec<u8>, u64), String> {
    if kind == ObjKind::Content {
        return fetch_content(http, store, csum).map(|n| (Vec::new(), n));
    }
    let bytes = fetch_verified(http, kind, csum)?;
    store
        .store(csum, kind, &bytes)
        .map_err(|e| [label(kind, csum), ": ".into(), why(&e)].concat())?;
    let n = bytes.len() as u64;
    Ok((bytes, n))
}

/// GETs the detached metadata of commit `c`: `None` on a 404 (an unsigned commit).
fn fetch_commitmeta(http: &Http, c: &Checksum) -> Result<Option<Vec<u8>>, String> {
    let kind = ObjKind::CommitMeta;
    match http.get(&remote_path(kind, c), MAX_METADATA_SIZE as u64) {
        Ok(m) => {
            fetched::check_metadata(kind, c, &m)
                .map_err(|e| [label(kind, c), ": rejected: ".into(), why(&e)].concat())?;
            Ok(Some(m))
        }
        Err(FetchError::NotFound) => Ok(None),
        Err(e) => Err(fetch_fail(kind, c, e)),
    }
}

/// One object for a fetch thread.
struct Job {
    kind: ObjKind,
    csum: Checksum,
}

/// A fetch thread's answer: the object's bytes (metadata only) and length, or the one-line
/// reason it failed.
struct Done {
    kind: ObjKind,
    result: Result<(Vec<u8>, u64), String>,
}

/// Counters for the progress and summary lines.
struct Stats {
    metadata: u64,
    content: u64,
    bytes: u64,
    queued: u64,
    start: Instant,
    last: Instant,
    tty: bool,
}

impl Stats {
    fn line(&self, progress: bool) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let mut s = String::new();
        let fetched = self.metadata + self.content;
        if progress {
            s.push_str("\rReceiving objects: ");
            crate::report::push_u64(&mut s, fetched);
            s.push('/');
            crate::report::push_u64(&mut s, self.queued);
            s.push_str(", ");
            push_size(&mut s, self.bytes);
            s.push_str(", ");
            push_size(&mut s, (self.bytes as f64 / secs.max(0.001)) as u64);
            s.push_str("/s   ");
        } else {
            s.push_str("fetched ");
            crate::report::push_u64(&mut s, fetched);
            s.push_str(" objects (");
            crate::report::push_u64(&mut s, self.metadata);
            s.push_str(" metadata, ");
            crate::report::push_u64(&mut s, self.content);
            s.push_str(" content), ");
            crate::report::push_u64(&mut s, self.bytes);
            s.push_str(" bytes in ");
            let ms = (secs * 1000.0) as u64;
            crate::report::push_u64(&mut s, ms / 1000);
            s.push('.');
            let frac = ms % 1000;
            s.push(char::from(b'0' + (frac / 100) as u8));
            s.push(char::from(b'0' + (frac / 10 % 10) as u8));
            s.push_str(" s\n");
        }
        s
    }

    fn tick(&mut self) {
        if self.tty && self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            crate::report::out(&self.line(true));
            let _ = std::io::stdout().flush();
        }
    }
}

/// `123 B`, `4.5 KiB`, `12.0 MiB`.
fn push_size(s: &mut String, n: u64) {
    let (v, unit) = if n >= 1 << 20 {
        (n * 10 / (1 << 20), " MiB")
    } else if n >= 1 << 10 {
        (n * 10 / (1 << 10), " KiB")
    } else {
        crate::report::push_u64(s, n);
        s.push_str(" B");
        return;
    };
    crate::report::push_u64(s, v / 10);
    s.push('.');
    s.push(char::from(b'0' + (v % 10) as u8));
    s.push_str(unit);
}

/// The coordinator: hands missing objects to the fetch threads and walks dirtrees.
struct Walk<'a> {
    store: &'a Store,
    /// Trusted keys when the remote has `sign-verify=true`.
    keys: Option<&'a Keys>,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    seen: BTreeSet<(u8, Checksum)>,
    local: Vec<Checksum>,
    outstanding: usize,
    error: Option<String>,
    stats: Stats,
}

impl Walk<'_> {
    /// Queues `csum` unless seen; a present dirtree is walked locally instead.
    fn want(&mut self, kind: ObjKind, csum: &Checksum) -> Result<(), String> {
        if !self.seen.insert((kind as u8, *csum)) || self.error.is_some() {
            return Ok(());
        }
        match self.store.has(csum, kind) {
            Ok(true) => {
                if kind == ObjKind::DirTree {
                    self.local.push(*csum);
                }
                Ok(())
            }
            Ok(false) => {
                self.jobs
                    .send(Job { kind, csum: *csum })
                    .map_err(|_| String::from("fetch threads stopped"))?;
                self.outstanding += 1;
                self.stats.queued += 1;
                Ok(())
            }
            Err(e) => Err([label(kind, csum), ": ".into(), why(&e)].concat()),
        }
    }

    /// Queues everything a dirtree names.
    fn scan(&mut self, bytes: &[u8]) -> Result<(), String> {
        let tree = DirTree::parse(bytes).map_err(|e| why(&Error::Parse(e)))?;
        for f in &tree.files {
            self.want(ObjKind::Content, f.csum)?;
        }
        for d in &tree.dirs {
            self.want(ObjKind::DirMeta, d.meta)?;
            self.want(ObjKind::DirTree, d.tree)?;
        }
        Ok(())
    }

    /// Fetches every missing object under `tree`/`meta`; on a failure, waits for the requests
    /// in flight and returns the first reason.
    fn tree(&mut self, tree: &Checksum, meta: &Checksum) -> Result<(), String> {
        self.want(ObjKind::DirMeta, meta)?;
        self.want(ObjKind::DirTree, tree)?;
        loop {
            if self.error.is_none() {
                if let Some(c) = self.local.pop() {
                    let r = self
                        .store
                        .read(&c, ObjKind::DirTree, MAX_METADATA_SIZE)
                        .and_then(|b| {
                            fetched::check_metadata(ObjKind::DirTree, &c, &b).map(|()| b)
                        });
                    match r {
                        Ok(b) => {
                            if let Err(e) = self.scan(&b) {
                                self.error =
                                    Some([label(ObjKind::DirTree, &c), ": ".into(), e].concat());
                            }
                        }
                        Err(e) => {
                            let msg = [label(ObjKind::DirTree, &c), " (local): ".into(), why(&e)]
                                .concat();
                            self.error = Some(msg);
                        }
                    }
                    continue;
                }
            }
            if self.outstanding == 0 {
                break;
            }
            let Ok(d) = self.done.recv() else {
                return Err("fetch threads stopped".into());
            };
            self.outstanding -= 1;
            match d.result {
                Ok((bytes, len)) => {
                    self.stats.bytes += len;
                    if d.kind == ObjKind::Content {
                        self.stats.content += 1;
                    } else {
                        self.stats.metadata += 1;
                    }
                    if d.kind == ObjKind::DirTree && self.error.is_none() {
                        if let Err(e) = self.scan(&bytes) {
                            self.error = Some(e);
                        }
                    }
                    self.stats.tick();
                }
                Err(e) => {
                    if self.error.is_none() {
                        self.error = Some(e);
                    }
                }
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Pulls `commit` and, per `opts.depth`, its parents.
    fn commit(&mut self, http: &Http, commit: &Checksum, opts: &Options) -> Result<(), String> {
        let store = self.store;
        let mut c = *commit;
        let mut left = opts.depth;
        let mut first = true;
        loop {
            let ctx = |e: Error| [label(ObjKind::Commit, &c), ": ".into(), why(&e)].concat();
            let have = store.has(&c, ObjKind::Commit).map_err(ctx)?;
            let partial = store.is_partial(&c).map_err(ctx)?;
            let bytes = if have {
                let b = store
                    .read(&c, ObjKind::Commit, MAX_METADATA_SIZE)
                    .map_err(ctx)?;
                fetched::check_metadata(ObjKind::Commit, &c, &b).map_err(ctx)?;
                b
            } else {
                self.stats.queued += 1;
                match fetch_verified(http, ObjKind::Commit, &c) {
                    Ok(b) => b,
                    // A parent beyond the server's history ends the walk (`--depth`).
                    Err(e) if !first && e.ends_with("not found on the server") => return Ok(()),
                    Err(e) => return Err(e),
                }
            };
            let has_meta = store.has(&c, ObjKind::CommitMeta).map_err(ctx)?;
            // Detached metadata to store: fetched when the commit is new or partial, or, with
            // verification, when there is none locally to check the signatures with.
            let mut new_meta = None;
            if !has_meta && (!have || partial || self.keys.is_some()) {
                new_meta = fetch_commitmeta(http, &c)?;
            }
            if let Some(keys) = self.keys {
                let local;
                let meta = if has_meta {
                    local = store
                        .read(&c, ObjKind::CommitMeta, MAX_METADATA_SIZE)
                        .map_err(ctx)?;
                    Some(local.as_slice())
                } else {
                    new_meta.as_deref()
                };
                // Before anything of the commit is stored: a refused commit leaves no trace.
                sign::verify_commit(&bytes, meta, keys).map_err(|e| {
                    let hex = checksum_hex(&c);
                    let hex = std::str::from_utf8(&hex).unwrap_or("?");
                    ["commit ", hex, ": refused: ", &why(&e)].concat()
                })?;
            }
            if !have {
                // Marked before the commit is stored: a stored commit without its tree is
                // always marked (ostree does the same).
                store.mark_partial(&c).map_err(ctx)?;
                store.store(&c, ObjKind::Commit, &bytes).map_err(ctx)?;
                self.stats.metadata += 1;
                self.stats.bytes += bytes.len() as u64;
            }
            if let Some(m) = new_meta {
                store
                    .store(&c, ObjKind::CommitMeta, &m)
                    .map_err(|e| [label(ObjKind::CommitMeta, &c), ": ".into(), why(&e)].concat())?;
                self.stats.metadata += 1;
                self.stats.queued += 1;
                self.stats.bytes += m.len() as u64;
            }
            let parsed = Commit::parse(&bytes).map_err(|e| ctx(Error::Parse(e)))?;
            if !opts.metadata_only && (!have || partial) {
                self.tree(parsed.root_tree, parsed.root_meta)?;
                store.sync().map_err(ctx)?;
                store.clear_partial(&c).map_err(ctx)?;
            }
            match parsed.parent {
                Some(p) if left != 0 => {
                    c = *p;
                    if left > 0 {
                        left -= 1;
                    }
                    first = false;
                }
                _ => return Ok(()),
            }
        }
    }
}

/// The trusted keys for `remote` (see the module doc).
fn load_keys(config: &str, remote: &str) -> Result<Keys, String> {
    let key = keyfile::remote_option(config, remote, "verification-ed25519-key");
    let file = keyfile::remote_option(config, remote, "verification-ed25519-file");
    let file_fail = |e: sign::KeyFileError| {
        let mut s = ["key file '", &e.file, "'"].concat();
        if e.line > 0 {
            s.push_str(" line ");
            crate::report::push_u64(&mut s, u64::from(e.line));
        }
        s.push_str(": ");
        s.push_str(&why(&e.error));
        s
    };
    let mut keys = Keys::new();
    if let Some(f) = &file {
        keys.add_file(rustix::fs::CWD, f, false)
            .map_err(file_fail)?;
    }
    if let Some(k) = &key {
        keys.add_text(k.as_bytes(), false).map_err(|(_, e)| {
            [
                "remote '",
                remote,
                "': verification-ed25519-key: ",
                &why(&e),
            ]
            .concat()
        })?;
    }
    let root = layout::open_dir(rustix::fs::CWD, "/").map_err(|e| why(&e))?;
    let system = Keys::load_system(rustix::fd::AsFd::as_fd(&root)).map_err(file_fail)?;
    if key.is_none() && file.is_none() {
        keys = system;
    } else {
        // Revoked system keys stay revoked whatever the remote trusts (as `ostree sign --verify`).
        for k in system.revoked {
            keys.add(k, true).map_err(|e| why(&e))?;
        }
    }
    if keys.is_empty() {
        return Err([
            "remote '",
            remote,
            "': sign-verify is set but no trusted ed25519 key is configured",
        ]
        .concat());
    }
    Ok(keys)
}

/// Resolves `refname` on the remote: from `summary` if the remote has one, else `refs/heads/`.
fn resolve(http: &Http, summary: Option<&[u8]>, refname: &str) -> Result<Checksum, String> {
    if let Some(s) = summary {
        return match fetched::summary_lookup(s, refname) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(["ref '", refname, "' not found in the remote's summary"].concat()),
            Err(e) => Err(["summary: ", &why(&e)].concat()),
        };
    }
    let text = match http.get(&["refs/heads/", refname].concat(), 4096) {
        Ok(t) => t,
        Err(FetchError::NotFound) => {
            return Err(["ref '", refname, "' not found on the remote"].concat())
        }
        Err(FetchError::Other(w) | FetchError::Rejected(w)) => {
            return Err(["ref '", refname, "': ", &w].concat())
        }
    };
    let hex = text.strip_suffix(b"\n").unwrap_or(&text);
    parse_checksum(hex)
        .ok_or_else(|| ["ref '", refname, "': not a checksum on the remote"].concat())
}

/// Pulls `refs` (all of the remote's configured branches when empty) of `remote` into the
/// repository at `repo`. On success prints the summary line; the error is a one-line reason.
pub fn pull(repo: &str, remote: &str, refs: &[String], opts: &Options) -> Result<(), String> {
    let store = Store::open(repo).map_err(|e| ["repository '", repo, "': ", &why(&e)].concat())?;
    store
        .clean_tmp()
        .map_err(|e| ["repository '", repo, "': tmp: ", &why(&e)].concat())?;
    let config = layout::read_file(store.repo(), "config", 1 << 20)
        .map_err(|e| ["repository '", repo, "': config: ", &why(&e)].concat())?;
    let config = String::from_utf8_lossy(&config);
    let url = keyfile::remote_url(&config, remote)
        .map_err(|_| ["remote '", remote, "' not found"].concat())?;
    let base = url.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err([
            "remote '",
            remote,
            "': only http:// URLs are supported: ",
            base,
        ]
        .concat());
    }
    let refs: Vec<String> = if refs.is_empty() {
        keyfile::remote_branches(&config, remote)
    } else {
        refs.to_vec()
    };
    if refs.is_empty() {
        return Err(["no ref given and remote '", remote, "' has no branches"].concat());
    }
    if let Some(bad) = refs.iter().find(|r| !keyfile::valid_ref_name(r)) {
        return Err(["invalid ref name '", bad, "'"].concat());
    }
    let keys = match keyfile::remote_option(&config, remote, "sign-verify") {
        None => None,
        Some(v) => match keyfile::parse_bool(&v) {
            Some(true) => Some(load_keys(&config, remote)?),
            Some(false) => None,
            None => {
                return Err([
                    "remote '",
                    remote,
                    "': invalid sign-verify value '",
                    &v,
                    "'",
                ]
                .concat())
            }
        },
    };
    let http = Http::new(base);
    let summary = match http.get("summary", MAX_SUMMARY) {
        Ok(b) => Some(b),
        Err(FetchError::NotFound) => None,
        Err(FetchError::Other(w) | FetchError::Rejected(w)) => {
            return Err([base, ": ", &w].concat())
        }
    };
    let mut targets = Vec::with_capacity(refs.len());
    for r in &refs {
        targets.push(resolve(&http, summary.as_deref(), r)?);
    }
    let now = Instant::now();
    let stats = Stats {
        metadata: 0,
        content: 0,
        bytes: 0,
        queued: 0,
        start: now,
        last: now,
        tty: std::io::stdout().is_terminal(),
    };
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Mutex::new(job_rx);
    let stats = std::thread::scope(|s| -> Result<Stats, String> {
        for _ in 0..THREADS {
            let (rx, tx, store) = (&job_rx, done_tx.clone(), &store);
            s.spawn(move || {
                let http = Http::new(base);
                loop {
                    let job = match rx.lock() {
                        Ok(g) => g.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let result = fetch_object(&http, store, job.kind, &job.csum);
                    if tx
                        .send(Done {
                            kind: job.kind,
                            result,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut walk = Walk {
            store: &store,
            keys: keys.as_ref(),
            jobs: job_tx,
            done: done_rx,
            seen: BTreeSet::new(),
            local: Vec::new(),
            outstanding: 0,
            error: None,
            stats,
        };
        for c in &targets {
            walk.commit(&http, c, opts)?;
        }
        Ok(walk.stats)
    })?;
    store.sync().map_err(|e| why(&e))?;
    for (r, c) in refs.iter().zip(&targets) {
        store
            .write_ref(Some(remote), r, c)
            .map_err(|e| ["ref '", r, "': ", &why(&e)].concat())?;
    }
    if stats.tty {
        crate::report::out("\n");
    }
    crate::report::out(&stats.line(false));
    Ok(())
}
