//! `ostree pull` over plain HTTP into an `archive-z2` repository (full build, feature `pull`).
//!
//! Order of work, chosen so that every kill or power cut leaves a repository `ostree fsck`
//! accepts and a second pull resumes (core `ostree_write` documents each write):
//! 1. Resolve each ref: from the remote's `summary` when it has one, else `refs/heads/REF`.
//! 2. Per commit: fetch and verify the commit, mark it partial (`state/C.commitpartial`), store
//!    it, then its optional detached metadata (`.commitmeta`, a 404 is fine).
//! 3. Walk its tree breadth-first. Objects already present are skipped (present means complete:
//!    objects are renamed into place only after `fsync`); present dirtrees are read locally to
//!    find what under them is missing. Missing objects are fetched by [`THREADS`] threads, each
//!    with its own keep-alive connection, verified against their checksum, then stored.
//! 4. `syncfs`, remove the partial marker; with `--depth`, go on with the parent.
//! 5. Write `refs/remotes/REMOTE/REF` last, after another `syncfs`.
//!
//! Differences from `ostree pull`: only `http://` remotes; no GPG or signature checks (remotes
//! are added with `--no-gpg-verify` semantics); no static deltas, mirrors or collection refs;
//! the destination must be an `archive-z2` repository. A content object is held in memory while
//! it is verified (at most [`MAX_CONTENT`] bytes).

mod http;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{FetchError, Http};
use ramdisk_core::ostree::object::{Commit, DirTree};
use ramdisk_core::ostree::{parse_checksum, Checksum, MAX_METADATA_SIZE};
use ramdisk_core::ostree_write::store::{hex64, object_names};
use ramdisk_core::ostree_write::{fetched, keyfile, layout, ObjKind, Store};
use ramdisk_core::Error;

/// Fetch threads, each with its own connection.
pub const THREADS: usize = 4;

/// Largest content object accepted (it is verified in memory).
pub const MAX_CONTENT: u64 = 1 << 30;

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
    let hex = hex64(csum);
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

/// Verifies fetched bytes of `kind`.
fn check(kind: ObjKind, csum: &Checksum, bytes: &[u8]) -> Result<(), Error> {
    match kind {
        ObjKind::Content => fetched::check_filez(csum, bytes),
        _ => fetched::check_metadata(kind, csum, bytes),
    }
}

/// GETs and verifies one object.
fn fetch_verified(http: &Http, kind: ObjKind, csum: &Checksum) -> Result<Vec<u8>, String> {
    let limit = match kind {
        ObjKind::Content => MAX_CONTENT,
        _ => MAX_METADATA_SIZE as u64,
    };
    let bytes = match http.get(&remote_path(kind, csum), limit) {
        Ok(b) => b,
        Err(FetchError::NotFound) => {
            return Err([label(kind, csum), ": not found on the server".into()].concat())
        }
        Err(FetchError::Other(w)) => return Err([label(kind, csum), ": ".into(), w].concat()),
    };
    check(kind, csum, &bytes)
        .map_err(|e| [label(kind, csum), ": rejected: ".into(), why(&e)].concat())?;
    Ok(bytes)
}

/// GETs, verifies and stores one object; returns its bytes (for walking dirtrees).
fn fetch_object(
    http: &Http,
    store: &Store,
    kind: ObjKind,
    csum: &Checksum,
) -> Result<Vec<u8>, String> {
    let bytes = fetch_verified(http, kind, csum)?;
    store
        .store(csum, kind, &bytes)
        .map_err(|e| [label(kind, csum), ": ".into(), why(&e)].concat())?;
    Ok(bytes)
}

/// One object for a fetch thread.
struct Job {
    kind: ObjKind,
    csum: Checksum,
}

/// A fetch thread's answer: the object's bytes or the one-line reason it failed.
struct Done {
    kind: ObjKind,
    result: Result<Vec<u8>, String>,
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
                Ok(bytes) => {
                    self.stats.bytes += bytes.len() as u64;
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
                let b = match fetch_verified(http, ObjKind::Commit, &c) {
                    Ok(b) => b,
                    // A parent beyond the server's history ends the walk (`--depth`).
                    Err(e) if !first && e.ends_with("not found on the server") => return Ok(()),
                    Err(e) => return Err(e),
                };
                // Marked before the commit is stored: a stored commit without its tree is
                // always marked (ostree does the same).
                store.mark_partial(&c).map_err(ctx)?;
                store.store(&c, ObjKind::Commit, &b).map_err(ctx)?;
                self.stats.metadata += 1;
                self.stats.bytes += b.len() as u64;
                b
            };
            if (!have || partial) && !store.has(&c, ObjKind::CommitMeta).map_err(ctx)? {
                match http.get(
                    &remote_path(ObjKind::CommitMeta, &c),
                    MAX_METADATA_SIZE as u64,
                ) {
                    Ok(m) => {
                        let lab = || label(ObjKind::CommitMeta, &c);
                        fetched::check_metadata(ObjKind::CommitMeta, &c, &m)
                            .and_then(|()| store.store(&c, ObjKind::CommitMeta, &m))
                            .map_err(|e| [lab(), ": ".into(), why(&e)].concat())?;
                        self.stats.metadata += 1;
                        self.stats.queued += 1;
                        self.stats.bytes += m.len() as u64;
                    }
                    Err(FetchError::NotFound) => {}
                    Err(FetchError::Other(w)) => {
                        return Err([label(ObjKind::CommitMeta, &c), ": ".into(), w].concat())
                    }
                }
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
        Err(FetchError::Other(w)) => return Err(["ref '", refname, "': ", &w].concat()),
    };
    let hex = text.strip_suffix(b"\n").unwrap_or(&text);
    parse_checksum(hex)
        .ok_or_else(|| ["ref '", refname, "': not a checksum on the remote"].concat())
}

/// Pulls `refs` (all of the remote's configured branches when empty) of `remote` into the
/// repository at `repo`. On success prints the summary line; the error is a one-line reason.
pub fn pull(repo: &str, remote: &str, refs: &[String], opts: &Options) -> Result<(), String> {
    let store = Store::open(repo).map_err(|e| ["repository '", repo, "': ", &why(&e)].concat())?;
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
    let http = Http::new(base);
    let summary = match http.get("summary", MAX_SUMMARY) {
        Ok(b) => Some(b),
        Err(FetchError::NotFound) => None,
        Err(FetchError::Other(w)) => return Err([base, ": ", &w].concat()),
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
