//! The deployment state machine shared by `init` (at boot) and `ramdisk deploy` (on the booted
//! system): update, trial counter, rollback, mark-good, garbage collection.
//!
//! Layout (DESIGN.md, "Deployment layout"), all under `<partition>/ostree/`:
//! ```text
//! deploy/<commit>.<serial>/        finished, verified checkouts; never modified
//! deploy/<commit>.<serial>.tmp-X   in-progress checkout: garbage at every boot
//! current  -> deploy/<c>.<n>       THE commit point (one renameat flips it)
//! previous -> deploy/<c>.<n>       rollback target
//! state/trial                      "<deployment> <boots left>" for an unconfirmed deployment
//! state/failed                     "<deployment>" last rolled back: its commit is not redeployed
//! state/<deployment>.timestamp     its commit's timestamp (anti-rollback; the repository may
//!                                  have pruned the commit since)
//! ```
//! Trust (reliability.md §3 item 7, §4 points 3–4): when trusted ed25519 keys are installed
//! ([`Ops::has_keys`]), only a commit whose signature verifies is deployed, and only such a
//! commit's setuid/setgid bits and file capabilities are checked out. A commit older than the
//! current deployment's is refused unless `allow_downgrade`; `rollback` stays the explicit way
//! back. A refused commit leaves everything as it was ([`Event::Refused`]).
//!
//! Invariant: at every instant, and so after a power cut between any two operations, `current`
//! is absent (factory board) or names a complete tree — the old one or the new one. Every name
//! holding `.tmp` is garbage and removed on the next run (reliability.md §0, §2).
//!
//! Every filesystem operation goes through [`Ops`], so the unit tests (bottom of this file)
//! stop an update after each operation in turn, drop what was not synced, and check that the
//! next boot recovers. [`sysroot::Sysroot`] is the real implementation over dirfds.
//!
//! The flip never uses `mv` semantics: `symlinkat(current.tmp)` + `renameat(current.tmp,
//! current)` replaces the link itself; `mv` would move the new link *into* the directory the
//! old link points at (reliability.md §2, "Pitfall observed").

pub mod repo;
pub mod rootdev;
pub mod sysroot;

#[cfg(test)]
mod mem;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use alloc::vec::Vec;

/// A commit checksum (SHA-256).
pub type Commit = [u8; 32];

/// Fixed buffer for a deployment name or link target (`deploy/` + 64 hex + `.` + serial + tmp tag).
pub type NameBuf = heapless::Vec<u8, 96>;

/// The directories the state machine works in, all below `<partition>/ostree/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `ostree/` itself: `current`, `previous`, `repo/`, `var/`.
    Top,
    /// `ostree/deploy/`.
    Deploy,
    /// `ostree/state/`.
    State,
}

impl Dir {
    /// The directory's path relative to the partition, for messages.
    pub fn path(self) -> &'static str {
        match self {
            Dir::Top => "ostree/",
            Dir::Deploy => "ostree/deploy/",
            Dir::State => "ostree/state/",
        }
    }
}

/// Checkout progress: entries written so far and in total (`total` may be 0 when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// The filesystem and repository operations the state machine needs. Names are single,
/// validated path components; nothing here follows a symlink.
pub trait Ops {
    /// The names in `dir` (without `.`/`..`); empty when `dir` does not exist.
    fn list(&mut self, dir: Dir) -> Result<Vec<Vec<u8>>>;
    /// `readlinkat`: the target of symlink `name`, `None` when absent or not a symlink.
    fn read_link(&mut self, dir: Dir, name: &[u8]) -> Result<Option<NameBuf>>;
    /// The contents of the small regular file `name`, `None` when absent.
    fn read_file(&mut self, dir: Dir, name: &[u8]) -> Result<Option<Vec<u8>>>;
    /// True when `name` is a directory (not following a symlink).
    fn is_dir(&mut self, dir: Dir, name: &[u8]) -> Result<bool>;
    /// `mkdirat` of `dir` (not [`Dir::Top`]) when it does not exist yet.
    fn make_dir(&mut self, dir: Dir) -> Result<()>;
    /// Removes `name` (a whole tree when it is a directory); absent is fine.
    fn remove(&mut self, dir: Dir, name: &[u8]) -> Result<()>;
    /// `symlinkat(target, dir, name)`; `name` must not exist.
    fn symlink(&mut self, target: &[u8], dir: Dir, name: &[u8]) -> Result<()>;
    /// Creates `name` (replacing a leftover) holding `data`, then `fsync`s it.
    fn write_file(&mut self, dir: Dir, name: &[u8], data: &[u8]) -> Result<()>;
    /// `renameat(dir/from, dir/to)`, replacing `to` atomically.
    fn rename(&mut self, dir: Dir, from: &[u8], to: &[u8]) -> Result<()>;
    /// `syncfs` of the partition: everything written before is durable after it.
    fn syncfs(&mut self) -> Result<()>;
    /// The commit a ref (or any rev) names in the repository.
    fn resolve(&mut self, rev: &str) -> Result<Commit>;
    /// True when the repository marks `commit` partial (`state/<commit>.commitpartial`).
    fn is_partial(&mut self, commit: &Commit) -> Result<bool>;
    /// True when trusted signing keys are installed: a commit is then deployed only when
    /// [`Ops::verify`] accepts it.
    fn has_keys(&mut self) -> bool;
    /// Checks the ed25519 signatures of `commit` against the installed keys (reliability.md §4).
    ///
    /// # Errors
    /// [`crate::sign::UNSIGNED`], [`crate::sign::NO_VALID_SIGNATURE`], [`crate::sign::REVOKED`],
    /// or why the commit or its detached metadata could not be read.
    fn verify(&mut self, commit: &Commit) -> Result<()>;
    /// The timestamp of `commit` (seconds since the epoch, from the verified commit object).
    fn timestamp(&mut self, commit: &Commit) -> Result<u64>;
    /// Checks `commit` out, verifying every object, into the new directory `deploy/name`.
    /// Setuid/setgid bits and file capabilities are kept only when `trusted` (the commit's
    /// signature verified), else stripped. Returns the number of files stripped so.
    fn checkout(
        &mut self,
        commit: &Commit,
        name: &[u8],
        trusted: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64>;
}

/// A step that failed: what was being done, on which name, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    /// What was being done (`"can't rename"`), for `ramdisk: WHAT 'NAME': WHY`.
    pub what: &'static str,
    /// The path relative to the partition (`ostree/current`), or a rev. On the heap: a
    /// failure is rare, and a fixed buffer would make every `Result` of this module large.
    pub name: Vec<u8>,
    pub error: Error,
}

impl Failed {
    fn new(what: &'static str, dir: Option<Dir>, name: &[u8], error: Error) -> Self {
        let mut buf = Vec::new();
        if let Some(d) = dir {
            buf.extend_from_slice(d.path().as_bytes());
        }
        buf.extend_from_slice(name);
        Failed {
            what,
            name: buf,
            error,
        }
    }
}

/// `deploy/<64 hex>.<serial>`: one finished checkout of a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub commit: Commit,
    pub serial: u32,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut NameBuf, bytes: &[u8]) {
    for b in bytes {
        let _ = out.push(HEX[usize::from(b >> 4)]);
        let _ = out.push(HEX[usize::from(b & 15)]);
    }
}

fn push_u32(out: &mut NameBuf, n: u32) {
    push_u64(out, u64::from(n));
}

/// Parses a decimal `u32` without sign or leading zeros (`0` itself is fine).
fn parse_u32(s: &[u8]) -> Option<u32> {
    u32::try_from(parse_u64(s)?).ok()
}

/// Parses a decimal `u64` without sign or leading zeros (`0` itself is fine).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s.first() == Some(&b'0')) {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

fn push_u64(out: &mut NameBuf, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    let _ = out.extend_from_slice(digits.get(i..).unwrap_or(&[]));
}

/// Parses 64 lowercase hex digits.
pub fn parse_commit(hex: &[u8]) -> Option<Commit> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (*pair.first()?, *pair.get(1)?);
        *o = (digit(hi)? << 4) | digit(lo)?;
    }
    Some(out)
}

impl Deployment {
    /// Parses a deployment directory name; `None` for anything else (leftovers included).
    pub fn parse(name: &[u8]) -> Option<Self> {
        let commit = parse_commit(name.get(..64)?)?;
        let rest = name.get(64..)?.strip_prefix(b".")?;
        Some(Deployment {
            commit,
            serial: parse_u32(rest)?,
        })
    }

    /// Parses a `current`/`previous` link target: exactly `deploy/<name>`.
    pub fn from_link(target: &[u8]) -> Option<Self> {
        Self::parse(target.strip_prefix(b"deploy/")?)
    }

    /// The directory name `<hex>.<serial>`.
    pub fn name(&self) -> NameBuf {
        let mut out = NameBuf::new();
        push_hex(&mut out, &self.commit);
        let _ = out.push(b'.');
        push_u32(&mut out, self.serial);
        out
    }

    /// The link target `deploy/<hex>.<serial>`.
    pub fn link_target(&self) -> NameBuf {
        let mut out = NameBuf::new();
        let _ = out.extend_from_slice(b"deploy/");
        let _ = out.extend_from_slice(&self.name());
        out
    }

    /// `<hex>.<serial>.timestamp`: its file in `state/` (+ `.tmp` while it is written).
    pub fn timestamp_name(&self, tmp: bool) -> NameBuf {
        let mut out = self.name();
        let _ = out.extend_from_slice(TIMESTAMP_SUFFIX);
        if tmp {
            let _ = out.extend_from_slice(b".tmp");
        }
        out
    }

    /// Parses a `state/` file name `<hex>.<serial>.timestamp`.
    pub fn from_timestamp_name(name: &[u8]) -> Option<Self> {
        Self::parse(name.strip_suffix(TIMESTAMP_SUFFIX)?)
    }
}

const TIMESTAMP_SUFFIX: &[u8] = b".timestamp";

/// The timestamp of deployment `d`'s commit: `state/<d>.timestamp`, written when it was
/// deployed, else the commit in the repository; `None` when neither is readable.
pub fn deployed_timestamp(ops: &mut dyn Ops, d: &Deployment) -> Option<u64> {
    if let Ok(Some(b)) = ops.read_file(Dir::State, &d.timestamp_name(false)) {
        if let Some(t) = parse_u64(b.strip_suffix(b"\n").unwrap_or(&b)) {
            return Some(t);
        }
    }
    ops.timestamp(&d.commit).ok()
}

/// True for a name only an interrupted run leaves behind (`*.tmp`, `*.tmp-*`).
pub fn is_leftover(name: &[u8]) -> bool {
    name.ends_with(b".tmp") || name.windows(5).any(|w| w == b".tmp-")
}

/// The content of `state/trial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trial {
    /// No file: every deployment is confirmed.
    None,
    /// `deployment` may boot `left` more times before it is rolled back.
    For { deployment: Deployment, left: u32 },
    /// A file we cannot read: treated as "no boots left" for `current`.
    Garbage,
}

/// Parses `state/trial`: `<deployment> <boots left>` and an optional newline.
pub fn parse_trial(bytes: &[u8]) -> Trial {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut parts = text.split(|&c| c == b' ');
    let (Some(name), Some(left), None) = (parts.next(), parts.next(), parts.next()) else {
        return Trial::Garbage;
    };
    match (Deployment::parse(name), parse_u32(left)) {
        (Some(deployment), Some(left)) => Trial::For { deployment, left },
        _ => Trial::Garbage,
    }
}

fn trial_bytes(d: &Deployment, left: u32) -> NameBuf {
    let mut out = d.name();
    let _ = out.push(b' ');
    push_u32(&mut out, left);
    let _ = out.push(b'\n');
    out
}

/// Everything the state machine reads before it acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// `current`, when it is a well-formed link to an existing deployment directory.
    pub current: Option<Deployment>,
    /// True when a `current` link exists at all (even a broken one).
    pub current_link: bool,
    /// `previous`, when well-formed and present.
    pub previous: Option<Deployment>,
    /// True when a `previous` link exists at all.
    pub previous_link: bool,
    pub trial: Trial,
    /// The deployment last rolled back (`state/failed`).
    pub failed: Option<Deployment>,
}

impl State {
    /// True when `state/trial` says `d` is still unconfirmed.
    pub fn on_trial(&self, d: &Deployment) -> bool {
        match self.trial {
            Trial::For { deployment, .. } => deployment == *d,
            Trial::Garbage => Some(*d) == self.current,
            Trial::None => false,
        }
    }

    /// The trial boots left for `current`, if it is on trial (0 for a garbage file).
    pub fn current_trial(&self) -> Option<u32> {
        let cur = self.current?;
        match self.trial {
            Trial::For { deployment, left } if deployment == cur => Some(left),
            Trial::Garbage => Some(0),
            _ => None,
        }
    }
}

fn link(ops: &mut dyn Ops, name: &[u8]) -> Result<Option<(Option<Deployment>, bool)>> {
    let Some(target) = ops.read_link(Dir::Top, name)? else {
        return Ok(None);
    };
    let Some(d) = Deployment::from_link(&target) else {
        return Ok(Some((None, true)));
    };
    let exists = ops.is_dir(Dir::Deploy, &d.name())?;
    Ok(Some((exists.then_some(d), true)))
}

/// Reads `current`, `previous`, `state/trial` and `state/failed`.
///
/// # Errors
/// A failed read (anything but "absent").
pub fn read_state(ops: &mut dyn Ops) -> Result<State, Failed> {
    let fail = |n: &[u8], e| Failed::new("can't read", Some(Dir::Top), n, e);
    let cur = link(ops, b"current").map_err(|e| fail(b"current", e))?;
    let prev = link(ops, b"previous").map_err(|e| fail(b"previous", e))?;
    let trial = match ops.read_file(Dir::State, b"trial") {
        Ok(Some(b)) => parse_trial(&b),
        Ok(None) => Trial::None,
        Err(e) => return Err(Failed::new("can't read", Some(Dir::State), b"trial", e)),
    };
    let failed = match ops.read_file(Dir::State, b"failed") {
        Ok(Some(b)) => Deployment::parse(b.strip_suffix(b"\n").unwrap_or(&b)),
        Ok(None) => None,
        Err(e) => return Err(Failed::new("can't read", Some(Dir::State), b"failed", e)),
    };
    Ok(State {
        current: cur.and_then(|c| c.0),
        current_link: cur.is_some(),
        previous: prev.and_then(|p| p.0),
        previous_link: prev.is_some(),
        trial,
        failed,
    })
}

/// What the state machine reports while it works (the binary prints one line per event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A leftover or unreferenced entry was removed.
    Removed(Dir, &'a [u8]),
    /// The ref already names the current deployment's commit.
    UpToDate(&'a Deployment),
    /// The ref names the commit that was rolled back from; it is not deployed again.
    NotRedeploying(&'a Commit),
    /// The ref's commit is refused: its signature does not verify with the installed keys
    /// ([`crate::sign::UNSIGNED`], [`crate::sign::NO_VALID_SIGNATURE`],
    /// [`crate::sign::REVOKED`], or why it could not be checked), or it is older than the
    /// current deployment ([`crate::sign::DOWNGRADE`]). Nothing changed.
    Refused(&'a Commit, Error),
    /// A checkout of `commit` starts.
    Deploying(&'a Commit),
    /// Checkout progress.
    Progress(Progress),
    /// The commit is not signed (no keys installed): `files` lost their setuid/setgid bits or
    /// file capabilities in the checkout.
    Stripped(&'a Commit, u64),
    /// `current` now names the new deployment (durable).
    Deployed(&'a Deployment),
    /// `current` is on trial with `left` more boots after this one.
    Trial(&'a Deployment, u32),
    /// `current` flipped back from `from` to `to`.
    RolledBack {
        from: &'a Deployment,
        to: &'a Deployment,
    },
    /// A rollback was wanted but there is nothing to roll back to.
    NoRollback(&'a Deployment),
    /// `current` is broken; `previous` is booted instead.
    CurrentBroken(&'a Deployment),
    /// A step failed; the state machine carries on from a safe state.
    Failed(&'a Failed),
}

/// Callback for [`Event`]s.
pub type Report<'r> = &'r mut dyn FnMut(Event<'_>);

fn step<T>(r: Result<T>, what: &'static str, dir: Dir, name: &[u8]) -> Result<T, Failed> {
    r.map_err(|e| Failed::new(what, Some(dir), name, e))
}

/// Replaces symlink `name` in `ostree/` by one to `target`: `symlinkat(name.tmp)` +
/// `renameat(name.tmp, name)`. A crash leaves the old link or the new one, plus maybe a
/// `name.tmp` leftover; durable only after the next `syncfs`.
fn replace_link(
    ops: &mut dyn Ops,
    name: &'static [u8],
    tmp: &'static [u8],
    target: &[u8],
) -> Result<(), Failed> {
    step(ops.remove(Dir::Top, tmp), "can't remove", Dir::Top, tmp)?;
    step(
        ops.symlink(target, Dir::Top, tmp),
        "can't create symlink",
        Dir::Top,
        tmp,
    )?;
    step(
        ops.rename(Dir::Top, tmp, name),
        "can't rename",
        Dir::Top,
        tmp,
    )
}

/// Replaces `state/name` by a file holding `data`: write + fsync `name.tmp`, rename over.
fn replace_file(ops: &mut dyn Ops, name: &[u8], tmp: &[u8], data: &[u8]) -> Result<(), Failed> {
    step(ops.make_dir(Dir::State), "can't create", Dir::Top, b"state")?;
    step(
        ops.write_file(Dir::State, tmp, data),
        "can't write",
        Dir::State,
        tmp,
    )?;
    step(
        ops.rename(Dir::State, tmp, name),
        "can't rename",
        Dir::State,
        tmp,
    )
}

fn syncfs(ops: &mut dyn Ops) -> Result<(), Failed> {
    step(ops.syncfs(), "can't sync", Dir::Top, b"")
}

/// Removes every leftover of an interrupted run (`*.tmp`, `*.tmp-*` in `ostree/`, `deploy/`,
/// `state/`) and every deployment that neither `current`, `previous` nor `booted` names.
///
/// Nothing removed here is reachable from `current` or `previous`, so a crash halfway is
/// harmless; the next run removes the rest. Failures are reported, not returned.
pub fn collect_garbage(ops: &mut dyn Ops, booted: Option<&Deployment>, report: Report<'_>) {
    let state = read_state(ops).ok();
    // Only referenced deployments are kept; with an unreadable state nothing is removed
    // but leftovers.
    let keep = |d: &Deployment| match &state {
        Some(s) => {
            s.current.as_ref() == Some(d) || s.previous.as_ref() == Some(d) || booted == Some(d)
        }
        None => true,
    };
    // A `previous` that names `current` (a crash inside a rollback) or nothing is no
    // rollback target.
    if let Some(s) = &state {
        if s.previous_link && (s.previous.is_none() || s.previous == s.current) {
            match ops.remove(Dir::Top, b"previous") {
                Ok(()) => report(Event::Removed(Dir::Top, b"previous")),
                Err(e) => report(Event::Failed(&Failed::new(
                    "can't remove",
                    Some(Dir::Top),
                    b"previous",
                    e,
                ))),
            }
        }
    }
    for dir in [Dir::Top, Dir::Deploy, Dir::State] {
        let names = match ops.list(dir) {
            Ok(n) => n,
            Err(e) => {
                report(Event::Failed(&Failed::new("can't list", Some(dir), b"", e)));
                continue;
            }
        };
        for name in names {
            let garbage = is_leftover(&name)
                || (dir == Dir::Deploy && Deployment::parse(&name).is_some_and(|d| !keep(&d)))
                || (dir == Dir::State
                    && Deployment::from_timestamp_name(&name).is_some_and(|d| !keep(&d)));
            if !garbage {
                continue;
            }
            match ops.remove(dir, &name) {
                Ok(()) => report(Event::Removed(dir, &name)),
                Err(e) => report(Event::Failed(&Failed::new(
                    "can't remove",
                    Some(dir),
                    &name,
                    e,
                ))),
            }
        }
    }
}

/// How [`update`] runs.
#[derive(Clone, Copy, Debug)]
pub struct UpdateOptions<'a> {
    /// The ref (or rev) to deploy (`ostree.ref=`).
    pub rev: &'a str,
    /// Trial boots of the new deployment; 0 writes no trial (`ramdisk.trials=`).
    pub trials: u32,
    /// The deployment the running system booted from (userspace only): kept, and it is the
    /// rollback target when confirmed.
    pub booted: Option<Deployment>,
    /// Deploy even the commit that was rolled back from.
    pub force: bool,
    /// Distinguishes the in-progress checkout's name (`.tmp-<tag>`).
    pub tag: u32,
    /// Deploy a commit older than the current deployment's (`ramdisk.allow-downgrade`).
    pub allow_downgrade: bool,
}

/// What [`update`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Updated {
    /// `current` already names the ref's commit.
    UpToDate(Deployment),
    /// The ref's commit was rolled back from; not deployed again (without `force`).
    RolledBackBefore(Commit),
    /// The ref's commit is not deployed: why (see [`Event::Refused`]).
    Refused(Commit, Error),
    /// `current` now names this new deployment.
    Deployed(Deployment),
}

/// Deploys the commit `opts.rev` names when it differs from `current`'s (DESIGN.md, update
/// protocol). Before the flip a failure leaves `current` untouched (a `.tmp-` leftover at most,
/// removed here on the way out, or on the next run).
///
/// # Errors
/// The step that failed: resolving the rev, a partial commit, the checkout, a rename, a sync.
pub fn update(
    ops: &mut dyn Ops,
    opts: &UpdateOptions<'_>,
    report: Report<'_>,
) -> Result<Updated, Failed> {
    collect_garbage(ops, opts.booted.as_ref(), report);
    let state = read_state(ops)?;
    let rev = opts.rev.as_bytes();
    let commit = ops
        .resolve(opts.rev)
        .map_err(|e| Failed::new("can't resolve", None, rev, e))?;
    if ops
        .is_partial(&commit)
        .map_err(|e| Failed::new("can't resolve", None, rev, e))?
    {
        return Err(Failed::new(
            "refusing partial commit of",
            None,
            rev,
            Error::State("commit is partial"),
        ));
    }
    if let Some(cur) = state.current.filter(|c| c.commit == commit) {
        report(Event::UpToDate(&cur));
        return Ok(Updated::UpToDate(cur));
    }
    if !opts.force && state.failed.is_some_and(|f| f.commit == commit) {
        report(Event::NotRedeploying(&commit));
        return Ok(Updated::RolledBackBefore(commit));
    }
    let checked = match admit(ops, &commit, &state, opts.allow_downgrade) {
        Ok(c) => c,
        Err(Admit::Refused(e)) => {
            report(Event::Refused(&commit, e));
            return Ok(Updated::Refused(commit, e));
        }
        Err(Admit::Failed(e)) => return Err(Failed::new("can't load commit", None, rev, e)),
    };
    // The rollback target stays the last confirmed deployment: an unconfirmed `current` is
    // not one, the running system (when it is not on trial) is.
    let rollback_to = match (state.current, opts.booted) {
        (Some(cur), _) if state.on_trial(&cur) => state.previous.or(opts.booted),
        (_, Some(b)) if !state.on_trial(&b) => Some(b),
        (cur, _) => cur.or(state.previous),
    };
    // `previous` is rewritten only when it changes.
    let new_previous = rollback_to.filter(|p| Some(*p) != state.previous);
    let r = deploy_new(ops, &commit, checked, new_previous, opts, report);
    if r.is_err() {
        // Best effort: the next run removes whatever is left.
        collect_garbage(ops, opts.booted.as_ref(), report);
    }
    r
}

/// Why [`admit`] did not let a commit through.
enum Admit {
    /// Policy: bad signature or a downgrade.
    Refused(Error),
    /// The commit could not be read.
    Failed(Error),
}

/// A commit [`admit`] let through.
#[derive(Clone, Copy)]
struct Admitted {
    /// Its signature verified with an installed key.
    trusted: bool,
    timestamp: u64,
}

/// The trust policy, before anything is written: with keys installed the signature must verify;
/// the commit must not be older than `current`'s unless `allow_downgrade`.
fn admit(
    ops: &mut dyn Ops,
    commit: &Commit,
    state: &State,
    allow_downgrade: bool,
) -> Result<Admitted, Admit> {
    let trusted = ops.has_keys();
    if trusted {
        ops.verify(commit).map_err(Admit::Refused)?;
    }
    let timestamp = ops.timestamp(commit).map_err(Admit::Failed)?;
    let current = state.current.and_then(|d| deployed_timestamp(ops, &d));
    crate::sign::check_rollback(timestamp, current, allow_downgrade).map_err(Admit::Refused)?;
    Ok(Admitted { trusted, timestamp })
}

fn deploy_new(
    ops: &mut dyn Ops,
    commit: &Commit,
    checked: Admitted,
    new_previous: Option<Deployment>,
    opts: &UpdateOptions<'_>,
    report: Report<'_>,
) -> Result<Updated, Failed> {
    step(
        ops.make_dir(Dir::Deploy),
        "can't create",
        Dir::Top,
        b"deploy",
    )?;
    let names = step(ops.list(Dir::Deploy), "can't list", Dir::Deploy, b"")?;
    let serial = names
        .iter()
        .filter_map(|n| Deployment::parse(n))
        .filter(|d| d.commit == *commit)
        .map(|d| d.serial.saturating_add(1))
        .max()
        .unwrap_or(0);
    let new = Deployment {
        commit: *commit,
        serial,
    };
    let name = new.name();
    let mut tmp = name.clone();
    let _ = tmp.extend_from_slice(b".tmp-");
    push_u32(&mut tmp, opts.tag);

    // 1. The tree under a garbage name: a crash leaves only a leftover.
    report(Event::Deploying(commit));
    let stripped = step(
        ops.checkout(commit, &tmp, checked.trusted, &mut |p| {
            report(Event::Progress(p))
        }),
        "can't check out",
        Dir::Deploy,
        &tmp,
    )?;
    if stripped > 0 {
        report(Event::Stripped(commit, stripped));
    }
    // 2. File data durable before the tree gets its final name (delalloc: a rename can
    //    reach the disk before the data it names).
    syncfs(ops)?;
    step(
        ops.rename(Dir::Deploy, &tmp, &name),
        "can't rename",
        Dir::Deploy,
        &tmp,
    )?;
    // 3. Rollback target and trial counter, both still about a deployment `current` does not
    //    name yet: harmless if the flip never happens.
    if let Some(prev) = new_previous {
        replace_link(ops, b"previous", b"previous.tmp", &prev.link_target())?;
    }
    // The commit's timestamp, for the anti-rollback check of later updates.
    let mut ts = NameBuf::new();
    push_u64(&mut ts, checked.timestamp);
    let _ = ts.push(b'\n');
    replace_file(
        ops,
        &new.timestamp_name(false),
        &new.timestamp_name(true),
        &ts,
    )?;
    if opts.trials > 0 {
        replace_file(ops, b"trial", b"trial.tmp", &trial_bytes(&new, opts.trials))?;
    } else {
        step(
            ops.remove(Dir::State, b"trial"),
            "can't remove",
            Dir::State,
            b"trial",
        )?;
    }
    // The renamed tree, `previous` and the trial are durable before `current` may name them.
    syncfs(ops)?;
    // 4. The commit point.
    replace_link(ops, b"current", b"current.tmp", &new.link_target())?;
    // The flip durable before we boot (or report) the new tree.
    syncfs(ops)?;
    report(Event::Deployed(&new));
    collect_garbage(ops, opts.booted.as_ref(), report);
    Ok(Updated::Deployed(new))
}

/// Flips `current` back to `previous`, records the deployment rolled back from in
/// `state/failed` (its commit is not redeployed), then drops `previous` and `state/trial`.
///
/// Returns `Ok(None)` when there is nothing to roll back to (no valid `previous`, or it is
/// `current` itself).
///
/// # Errors
/// A failed write; `current` then still names one complete tree.
pub fn rollback(
    ops: &mut dyn Ops,
    report: Report<'_>,
) -> Result<Option<(Deployment, Deployment)>, Failed> {
    let state = read_state(ops)?;
    let (Some(from), Some(to)) = (state.current, state.previous) else {
        if let Some(cur) = state.current {
            report(Event::NoRollback(&cur));
        }
        return Ok(None);
    };
    if from == to {
        report(Event::NoRollback(&from));
        return Ok(None);
    }
    let mut failed = from.name();
    let _ = failed.push(b'\n');
    // Marked before the flip: after a crash in between, the next boot must not redeploy it.
    replace_file(ops, b"failed", b"failed.tmp", &failed)?;
    syncfs(ops)?;
    replace_link(ops, b"current", b"current.tmp", &to.link_target())?;
    syncfs(ops)?;
    step(
        ops.remove(Dir::Top, b"previous"),
        "can't remove",
        Dir::Top,
        b"previous",
    )?;
    step(
        ops.remove(Dir::State, b"trial"),
        "can't remove",
        Dir::State,
        b"trial",
    )?;
    syncfs(ops)?;
    report(Event::RolledBack {
        from: &from,
        to: &to,
    });
    Ok(Some((from, to)))
}

/// What [`mark_good`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkGood {
    /// The trial of this deployment is over: it is confirmed.
    Confirmed(Deployment),
    /// No deployment is on trial.
    NothingToDo,
    /// The deployment on trial is not the one running (a pending update): left alone.
    NotBooted(Deployment),
}

/// Confirms the running deployment: removes `state/trial` (DESIGN.md: `deploy --mark-good`).
///
/// # Errors
/// A failed read, remove or sync.
pub fn mark_good(ops: &mut dyn Ops, booted: Option<&Deployment>) -> Result<MarkGood, Failed> {
    let state = read_state(ops)?;
    let on_trial = match state.trial {
        Trial::None => return Ok(MarkGood::NothingToDo),
        Trial::For { deployment, .. } => Some(deployment),
        Trial::Garbage => state.current,
    };
    if let (Some(t), Some(b)) = (on_trial, booted) {
        if t != *b {
            return Ok(MarkGood::NotBooted(t));
        }
    }
    step(
        ops.remove(Dir::State, b"trial"),
        "can't remove",
        Dir::State,
        b"trial",
    )?;
    // The confirmation durable: a crash must not roll a confirmed system back.
    syncfs(ops)?;
    match on_trial {
        Some(d) => Ok(MarkGood::Confirmed(d)),
        None => Ok(MarkGood::NothingToDo),
    }
}

/// How [`boot`] runs (from the kernel command line).
#[derive(Clone, Copy, Debug)]
pub struct BootOptions<'a> {
    pub rev: &'a str,
    /// False with `ramdisk.update=0`.
    pub update: bool,
    /// `ramdisk.rollback`.
    pub rollback: bool,
    pub trials: u32,
    pub tag: u32,
    /// `ramdisk.allow-downgrade`.
    pub allow_downgrade: bool,
}

/// What `init` switches into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// `ostree/deploy/<name>`.
    Deployment(Deployment),
    /// The partition root itself (factory board without `ostree/current`).
    PartitionRoot,
    /// `current` exists but names nothing bootable, and there is no `previous`.
    Nothing,
}

/// The boot-time sequence of `init`: remove leftovers, update (or forced rollback), count the
/// trial (rolling back at zero), collect garbage, and choose the tree to boot.
///
/// Never fails: a failed step is reported and the board boots what `current` names.
pub fn boot(ops: &mut dyn Ops, opts: &BootOptions<'_>, report: Report<'_>) -> Boot {
    if opts.rollback {
        // Forced: also skips the update, which would otherwise undo it.
        if let Err(f) = rollback(ops, report) {
            report(Event::Failed(&f));
        }
    } else if opts.update {
        let u = UpdateOptions {
            rev: opts.rev,
            trials: opts.trials,
            booted: None,
            force: false,
            tag: opts.tag,
            allow_downgrade: opts.allow_downgrade,
        };
        if let Err(f) = update(ops, &u, report) {
            report(Event::Failed(&f));
        }
    }
    count_trial(ops, report);
    collect_garbage(ops, None, report);
    match read_state(ops) {
        Ok(s) => choose(&s, report),
        Err(f) => {
            report(Event::Failed(&f));
            Boot::Nothing
        }
    }
}

fn count_trial(ops: &mut dyn Ops, report: Report<'_>) {
    let state = match read_state(ops) {
        Ok(s) => s,
        Err(f) => return report(Event::Failed(&f)),
    };
    let Some(cur) = state.current else { return };
    match state.current_trial() {
        Some(0) => match rollback(ops, report) {
            Ok(Some(_)) => {}
            Ok(None) => {
                // Nothing to go back to: keep booting it, and stop counting.
                if let Err(e) = ops.remove(Dir::State, b"trial").and_then(|()| ops.syncfs()) {
                    report(Event::Failed(&Failed::new(
                        "can't remove",
                        Some(Dir::State),
                        b"trial",
                        e,
                    )));
                }
            }
            Err(f) => report(Event::Failed(&f)),
        },
        Some(left) => {
            let left = left - 1;
            match replace_file(ops, b"trial", b"trial.tmp", &trial_bytes(&cur, left))
                .and_then(|()| syncfs(ops))
            {
                Ok(()) => report(Event::Trial(&cur, left)),
                Err(f) => report(Event::Failed(&f)),
            }
        }
        None => {
            if state.trial != Trial::None {
                // About a deployment that is not current (a crash before the flip): stale.
                if ops.remove(Dir::State, b"trial").is_ok() {
                    report(Event::Removed(Dir::State, b"trial"));
                }
            }
        }
    }
}

fn choose(s: &State, report: Report<'_>) -> Boot {
    if let Some(cur) = s.current {
        return Boot::Deployment(cur);
    }
    if s.current_link {
        if let Some(prev) = s.previous {
            report(Event::CurrentBroken(&prev));
            return Boot::Deployment(prev);
        }
        return Boot::Nothing;
    }
    Boot::PartitionRoot
}
