//! `ramdisk deploy [--sysroot DIR] status|mark-good|rollback|update [--ref REF] [--repo PATH]
//! [--trials N] [--force] [--allow-downgrade] [--keys-dir DIR] [--keys-file FILE]`: the
//! deployment state of the booted system (DESIGN.md, "Deployment layout").
//!
//! The same state machine as `init` (`ramdisk_core::deploy`), run against the root partition
//! mounted at `--sysroot` (default `/sysroot`, where `init` leaves it):
//! - `status`: `current`, `previous`, the booted deployment, the trial, the deployment last
//!   rolled back from, a pending reboot and whether the ref names a commit not deployed yet;
//! - `mark-good` (also `--mark-good`): ends the trial of the booted deployment;
//! - `rollback`: flips `current` back to `previous` now (takes effect at the next boot); the
//!   commit rolled back from is not redeployed by `init` until the ref moves on;
//! - `update`: deploys the ref's commit now, as `init` would at the next boot; the running
//!   system stays the rollback target. With trusted ed25519 keys installed (`trusted.ed25519`
//!   and `trusted.ed25519.d/` in `/usr/share/ostree` and `/etc/ostree` of the running system,
//!   or in `--keys-dir`, plus `--keys-file`), only a commit whose signature verifies is
//!   deployed (`deploy: refusing commit HEX: unsigned`); a commit older than the current
//!   deployment's is refused without `--allow-downgrade` (`rollback` is the way back).
//!
//! Defaults for `--ref`, `--repo`, `--trials`, `--allow-downgrade` come from `/proc/cmdline`
//! (`ostree.ref=`, `ostree.repo=`, `ramdisk.trials=`, `ramdisk.allow-downgrade`), else
//! `master`, `/ostree/repo`, 3, off. `ramdisk.keys=` names a file in the initramfs and is not
//! read here. The booted deployment is the one whose directory is the inode of `/` (a bind
//! mount keeps it).

use argh::FromArgs;
use ramdisk_core::cmdline::{self, Config};
use ramdisk_core::deploy::repo::RepoSource;
use ramdisk_core::deploy::sysroot::Sysroot;
use ramdisk_core::deploy::{self, Commit, Deployment, Event, MarkGood, Trial, Updated};
use ramdisk_core::ostree::Repo;
use ramdisk_core::sign::{self, KeyFileError, Keys};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use std::time::{Duration, Instant};

use crate::{args, report};

/// Show and change the OSTree deployment state of the booted system.
#[derive(FromArgs)]
struct Args {
    /// the mounted root partition holding ostree/ (default /sysroot)
    #[argh(option, default = "String::from(\"/sysroot\")")]
    sysroot: String,
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Cmd {
    Status(Status),
    MarkGood(MarkGoodCmd),
    Rollback(RollbackCmd),
    Update(UpdateCmd),
}

/// Print current, previous, booted and trial deployments and any pending update.
#[derive(FromArgs)]
#[argh(subcommand, name = "status")]
struct Status {}

/// Confirm the booted deployment: end its trial.
#[derive(FromArgs)]
#[argh(subcommand, name = "mark-good")]
struct MarkGoodCmd {}

/// Make the previous deployment current again (from the next boot).
#[derive(FromArgs)]
#[argh(subcommand, name = "rollback")]
struct RollbackCmd {}

/// Deploy the commit the ref names now (it boots at the next reboot).
#[derive(FromArgs)]
#[argh(subcommand, name = "update")]
struct UpdateCmd {
    /// ref or commit to deploy (default: ostree.ref= of /proc/cmdline, else master)
    #[argh(option, long = "ref")]
    rev: Option<String>,
    /// repository path inside the sysroot (default: ostree.repo=, else /ostree/repo)
    #[argh(option)]
    repo: Option<String>,
    /// boots the new deployment gets before it is rolled back, 0 = no trial (default 3)
    #[argh(option)]
    trials: Option<u32>,
    /// deploy even the commit that was rolled back from
    #[argh(switch)]
    force: bool,
    /// deploy even a commit older than the current deployment's
    #[argh(switch)]
    allow_downgrade: bool,
    /// directory of trusted.ed25519[.d] and revoked.ed25519[.d] (default /usr/share/ostree and
    /// /etc/ostree)
    #[argh(option)]
    keys_dir: Option<String>,
    /// file of trusted ed25519 public keys (base64, one per line)
    #[argh(option)]
    keys_file: Option<String>,
}

const APPLET: &str = "deploy";

const USAGE: &str = "Usage: deploy [--sysroot DIR] status|mark-good|rollback\n\
\x20      deploy [--sysroot DIR] update [--ref REF] [--repo PATH] [--trials N] [--force]\n\
\x20             [--allow-downgrade] [--keys-dir DIR] [--keys-file FILE]\n\n\
Show and change the OSTree deployment state of the booted system.\n\n\
\tstatus\t\tcurrent, previous, booted and trial deployments, pending update\n\
\tmark-good\tconfirm the booted deployment (ends its trial; also --mark-good)\n\
\trollback\tmake the previous deployment current again from the next boot\n\
\tupdate\t\tdeploy the commit the ref names now; it boots at the next reboot\n\n\
\t--sysroot DIR\tthe mounted root partition holding ostree/ (default /sysroot)\n\
\t--ref REF\tref or commit to deploy (default: ostree.ref= of /proc/cmdline, else master)\n\
\t--repo PATH\trepository inside the sysroot (default: ostree.repo=, else /ostree/repo)\n\
\t--trials N\tboots before an unconfirmed deployment is rolled back; 0 = none (default 3)\n\
\t--force\t\tdeploy even the commit that was rolled back from\n\
\t--allow-downgrade  deploy even a commit older than the current deployment's\n\
\t--keys-dir DIR\ttrusted.ed25519[.d], revoked.ed25519[.d] (default /usr/share/ostree, /etc/ostree)\n\
\t--keys-file FILE  more trusted ed25519 public keys (base64, one per line)\n\
With trusted keys installed, only commits whose ed25519 signature verifies are deployed.\n";

pub fn main(argv: &[&str]) -> u8 {
    let rest = argv.get(1..).unwrap_or(&[]);
    let mut words = args::normalize(rest, b"");
    // DESIGN.md spells the subcommands as options too (`ramdisk deploy --mark-good`).
    for w in words.iter_mut() {
        if let Some(sub) = w.strip_prefix("--") {
            if matches!(sub, "status" | "mark-good" | "rollback" | "update") {
                *w = sub.to_string();
            }
        }
    }
    // argh is built without its help feature: the usage text is ours.
    if words
        .iter()
        .any(|w| matches!(w.as_str(), "--help" | "-h" | "help"))
    {
        report::out(USAGE);
        return 0;
    }
    if !words
        .iter()
        .any(|w| matches!(w.as_str(), "status" | "mark-good" | "rollback" | "update"))
    {
        report::err(&[
            APPLET,
            ": missing command (status, mark-good, rollback or update)",
        ]);
        report::err(&[USAGE.lines().next().unwrap_or("")]);
        return 1;
    }
    args::hoist_option(&mut words, "--sysroot");
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let a: Args = match args::parse_words(argv.first().copied().unwrap_or(APPLET), &refs) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let boot_cfg = proc_cmdline();
    let (repo_path, rev, trials, force) = match &a.cmd {
        Cmd::Update(u) => (
            u.repo
                .clone()
                .unwrap_or_else(|| String::from(boot_cfg.ostree_repo.as_str())),
            u.rev
                .clone()
                .unwrap_or_else(|| String::from(boot_cfg.ostree_ref.as_str())),
            u.trials.unwrap_or(boot_cfg.trials),
            u.force,
        ),
        _ => (
            String::from(boot_cfg.ostree_repo.as_str()),
            String::from(boot_cfg.ostree_ref.as_str()),
            boot_cfg.trials,
            false,
        ),
    };
    if trials > cmdline::TRIALS_MAX {
        report::err(&[APPLET, ": --trials: too large"]);
        return 1;
    }
    let part = match ramdisk_core::fs::open_dir(&a.sysroot) {
        Ok(fd) => fd,
        Err(e) => return fail_at("can't open", &a.sysroot, &e),
    };
    let mut source = RepoSource::new(open_repo(part.as_fd(), &repo_path));
    if let Cmd::Update(u) = &a.cmd {
        match load_keys(u) {
            Ok(keys) => source = source.with_keys(keys),
            Err(e) => {
                let mut line = String::new();
                push_key_error(&mut line, &e);
                report::err(&[APPLET, ": can't load keys: ", &line]);
                return 1;
            }
        }
    }
    let mut sys = match Sysroot::open(part.as_fd(), source) {
        Ok(s) => s,
        Err(e) => {
            let mut p = a.sysroot.clone();
            p.push_str("/ostree");
            return fail_at("can't open", &p, &e);
        }
    };
    // One deploy at a time (the lock goes with the process).
    if !matches!(a.cmd, Cmd::Status(_)) {
        if let Err(e) = rustix::fs::flock(
            sys.top(),
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            let mut p = a.sysroot.clone();
            p.push_str("/ostree");
            return fail_at("can't lock", &p, &ramdisk_core::Error::sys("flock", e));
        }
    }
    let booted = rustix::fs::stat("/")
        .ok()
        .and_then(|st| sys.find(st.st_dev, st.st_ino).ok().flatten());
    match a.cmd {
        Cmd::Status(_) => status(&mut sys, booted, &rev),
        Cmd::MarkGood(_) => match deploy::mark_good(&mut sys, booted.as_ref()) {
            Ok(MarkGood::Confirmed(d)) => say(&["deployment ", &name(&d), " marked good"]),
            Ok(MarkGood::NothingToDo) => say(&["no deployment on trial"]),
            Ok(MarkGood::NotBooted(d)) => {
                report::err(&[
                    APPLET,
                    ": deployment on trial ",
                    &name(&d),
                    " is not the booted one; not confirming it",
                ]);
                1
            }
            Err(f) => failed(&f),
        },
        Cmd::Rollback(_) => match deploy::rollback(&mut sys, &mut |_| {}) {
            Ok(Some((from, to))) => say(&[
                "rolled back to ",
                &name(&to),
                " (from ",
                &name(&from),
                "); reboot to boot it",
            ]),
            Ok(None) => {
                report::err(&[APPLET, ": no previous deployment to roll back to"]);
                1
            }
            Err(f) => failed(&f),
        },
        Cmd::Update(_) => {
            let allow_downgrade =
                boot_cfg.allow_downgrade || matches!(&a.cmd, Cmd::Update(u) if u.allow_downgrade);
            let opts = deploy::UpdateOptions {
                rev: &rev,
                trials,
                booted,
                force,
                tag: std::process::id(),
                allow_downgrade,
            };
            let mut progress = ProgressLine::new();
            let r = deploy::update(&mut sys, &opts, &mut |e| match e {
                // The outcome gets its own line below.
                Event::Failed(_)
                | Event::UpToDate(_)
                | Event::Deployed(_)
                | Event::NotRedeploying(_)
                | Event::Refused(..) => {}
                e => {
                    let mut line = String::new();
                    if render(&e, &mut progress, &mut line) {
                        say(&[&line]);
                    }
                }
            });
            match r {
                Ok(Updated::Deployed(d)) => say(&["deployed ", &name(&d), "; reboot to boot it"]),
                Ok(Updated::UpToDate(d)) => say(&["up to date: ", &name(&d)]),
                Ok(Updated::RolledBackBefore(c)) => {
                    report::err(&[
                        APPLET,
                        ": not redeploying commit ",
                        &hex(&c),
                        ": it was rolled back (use --force)",
                    ]);
                    1
                }
                Ok(Updated::Refused(c, e)) => {
                    let mut line = String::new();
                    push_refusal(&mut line, &e, "--allow-downgrade");
                    report::err(&[APPLET, ": refusing commit ", &hex(&c), ": ", &line]);
                    1
                }
                Err(f) => failed(&f),
            }
        }
    }
}

/// The trusted keys of `deploy update`: `--keys-dir` (else the running system's
/// `/usr/share/ostree` and `/etc/ostree`) plus `--keys-file`.
fn load_keys(u: &UpdateCmd) -> Result<Keys, KeyFileError> {
    let mut keys = Keys::new();
    match u.keys_dir.as_deref() {
        Some(d) => {
            // Named explicitly: a missing directory is an error (`add_dir` skips it).
            rustix::fs::stat(d).map_err(|e| KeyFileError {
                file: String::from(d),
                line: 0,
                error: ramdisk_core::Error::sys("stat", e),
            })?;
            keys.add_dir(rustix::fs::CWD, d)?
        }
        None => {
            let root = ramdisk_core::fs::open_dir("/").map_err(|error| KeyFileError {
                file: String::from("/"),
                line: 0,
                error,
            })?;
            keys = Keys::load_system(root.as_fd())?;
        }
    }
    if let Some(f) = u.keys_file.as_deref() {
        keys.add_file(rustix::fs::CWD, f, false)?;
    }
    Ok(keys)
}

/// `FILE:LINE: why` of a key file that could not be loaded.
pub(crate) fn push_key_error(out: &mut String, e: &KeyFileError) {
    out.push_str(&e.file);
    if e.line > 0 {
        out.push(':');
        report::push_u64(out, u64::from(e.line));
    }
    out.push_str(": ");
    report::push_error(out, &e.error);
}

/// Why a commit was refused (`unsigned`, `older than the current deployment (use HINT)`, …).
pub(crate) fn push_refusal(out: &mut String, e: &ramdisk_core::Error, hint: &str) {
    let text = match *e {
        sign::UNSIGNED => "unsigned",
        sign::NO_VALID_SIGNATURE => "no valid signature",
        sign::REVOKED => "signed by a revoked key",
        sign::DOWNGRADE => {
            out.push_str("older than the current deployment (use ");
            out.push_str(hint);
            out.push(')');
            return;
        }
        _ => return report::push_error(out, e),
    };
    out.push_str(text);
}

/// `/proc/cmdline` of the running system; defaults when it is unreadable.
fn proc_cmdline() -> Config {
    let mut cfg = Config::default();
    if let Ok(text) = std::fs::read("/proc/cmdline") {
        // A bad value keeps its default; the running system booted with it anyway.
        let _ = cfg.apply(&text, cmdline::Source::Cmdline);
    }
    cfg
}

/// Opens the repository at `path` (absolute on the partition) below `part`.
pub(crate) fn open_repo(
    part: BorrowedFd<'_>,
    path: &str,
) -> Result<Repo, ramdisk_core::ostree::Failure> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd: OwnedFd = rustix::fs::openat(
        part,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ramdisk_core::Error::sys("openat repo", e))?;
    Repo::open(fd)
}

fn status(sys: &mut Sysroot<RepoSource>, booted: Option<Deployment>, rev: &str) -> u8 {
    let s = match deploy::read_state(sys) {
        Ok(s) => s,
        Err(f) => return failed(&f),
    };
    let opt =
        |d: Option<Deployment>, none: &str| d.map(|d| name(&d)).unwrap_or_else(|| none.to_string());
    let mut out = String::new();
    let current = match (s.current, s.current_link) {
        (Some(c), _) => name(&c),
        (None, true) => "broken link".to_string(),
        (None, false) => "none (the partition root boots)".to_string(),
    };
    for (k, v) in [
        ("current:  ", current),
        ("previous: ", opt(s.previous, "none")),
        (
            "booted:   ",
            opt(booted, "unknown (not running from a deployment)"),
        ),
    ] {
        out.push_str(k);
        out.push_str(&v);
        out.push('\n');
    }
    out.push_str("trial:    ");
    match s.trial {
        Trial::None => out.push_str("none"),
        Trial::For { deployment, left } => {
            out.push_str(&name(&deployment));
            out.push_str(", ");
            report::push_u64(&mut out, u64::from(left));
            out.push_str(" boots left");
        }
        Trial::Garbage => out.push_str("unreadable state/trial (counts as no boots left)"),
    }
    out.push_str("\nfailed:   ");
    out.push_str(&opt(s.failed, "none"));
    out.push('\n');
    if let (Some(b), Some(c)) = (booted, s.current) {
        if b != c {
            out.push_str("pending:  ");
            out.push_str(&name(&c));
            out.push_str(" boots at the next reboot\n");
        }
    }
    out.push_str("update:   ");
    match deploy::Ops::resolve(sys, rev) {
        Ok(c) if s.current.is_some_and(|d| d.commit == c) => {
            out.push_str("none (ref '");
            out.push_str(rev);
            out.push_str("' is deployed)");
        }
        Ok(c) if s.failed.is_some_and(|d| d.commit == c) => {
            out.push_str("none (ref '");
            out.push_str(rev);
            out.push_str("' names the commit rolled back from)");
        }
        Ok(c) => {
            out.push_str(&hex(&c));
            out.push_str(" on ref '");
            out.push_str(rev);
            out.push_str("' is not deployed yet");
        }
        Err(e) => {
            out.push_str("unknown (ref '");
            out.push_str(rev);
            out.push_str("': ");
            report::push_error(&mut out, &e);
            out.push(')');
        }
    }
    out.push('\n');
    report::out(&out);
    0
}

fn say(pieces: &[&str]) -> u8 {
    let mut line = String::from("deploy: ");
    for p in pieces {
        line.push_str(p);
    }
    line.push('\n');
    report::out(&line);
    0
}

fn fail_at(what: &str, path: &str, e: &ramdisk_core::Error) -> u8 {
    let mut why = String::new();
    report::push_error(&mut why, e);
    report::err(&[APPLET, ": ", what, " '", path, "': ", &why]);
    1
}

fn failed(f: &deploy::Failed) -> u8 {
    let mut line = String::new();
    push_failed(&mut line, f);
    report::err(&[APPLET, ": ", &line]);
    1
}

/// `WHAT 'NAME': WHY` for a failed step.
pub(crate) fn push_failed(out: &mut String, f: &deploy::Failed) {
    out.push_str(f.what);
    if !f.name.is_empty() {
        out.push_str(" '");
        out.push_str(&String::from_utf8_lossy(&f.name));
        out.push('\'');
    }
    out.push_str(": ");
    report::push_error(out, &f.error);
}

/// A deployment's directory name.
pub(crate) fn name(d: &Deployment) -> String {
    String::from_utf8_lossy(&d.name()).into_owned()
}

fn hex(c: &Commit) -> String {
    let mut s = String::with_capacity(64);
    report::push_hex(&mut s, c);
    s
}

/// `3fa2…c1`: a commit as the console shows it (STYLE.md §5).
pub(crate) fn short(c: &Commit) -> String {
    let h = hex(c);
    let mut s = String::with_capacity(10);
    s.push_str(h.get(..4).unwrap_or(""));
    s.push('…');
    s.push_str(h.get(62..).unwrap_or(""));
    s
}

/// Limits checkout progress to one line per 10 % or per second (STYLE.md §5: a 115200-baud
/// console moves about 11 KB/s).
pub(crate) struct ProgressLine {
    commit: Option<Commit>,
    announced: bool,
    decile: u64,
    last: Instant,
}

impl ProgressLine {
    pub(crate) fn new() -> Self {
        ProgressLine {
            commit: None,
            announced: false,
            decile: 0,
            last: Instant::now(),
        }
    }
}

/// Renders an event as one line (without prefix); false when nothing is to be printed now.
pub(crate) fn render(e: &Event<'_>, p: &mut ProgressLine, out: &mut String) -> bool {
    match *e {
        Event::Removed(dir, n) => {
            out.push_str("removed ");
            out.push_str(dir.path());
            out.push_str(&String::from_utf8_lossy(n));
        }
        Event::UpToDate(d) => {
            out.push_str("deployment ");
            out.push_str(&name(d));
            out.push_str(" is up to date");
        }
        Event::NotRedeploying(c) => {
            out.push_str("not redeploying ");
            out.push_str(&short(c));
            out.push_str(": it was rolled back");
        }
        Event::Refused(c, e) => {
            out.push_str("refusing ");
            out.push_str(&short(c));
            out.push_str(": ");
            push_refusal(out, &e, "ramdisk.allow-downgrade");
        }
        Event::Deploying(c) => {
            // Announced with the file count at the first progress report.
            *p = ProgressLine {
                commit: Some(*c),
                ..ProgressLine::new()
            };
            return false;
        }
        Event::Progress(pr) => {
            let Some(c) = p.commit else { return false };
            if !p.announced {
                p.announced = true;
                p.last = Instant::now();
                out.push_str("deploying ");
                out.push_str(&short(&c));
                out.push_str(" (");
                report::push_u64(out, pr.total);
                out.push_str(" files)");
                return true;
            }
            let decile = pr
                .done
                .saturating_mul(10)
                .checked_div(pr.total)
                .unwrap_or(0);
            let now = Instant::now();
            if decile == p.decile && now.duration_since(p.last) < Duration::from_secs(1) {
                return false;
            }
            if pr.done == pr.total && decile == p.decile {
                return false;
            }
            p.decile = decile;
            p.last = now;
            out.push_str("checked out ");
            report::push_u64(out, pr.done);
            out.push('/');
            report::push_u64(out, pr.total);
            out.push_str(" files (");
            report::push_u64(out, decile * 10);
            out.push_str("%)");
        }
        Event::Stripped(c, n) => {
            out.push_str("commit ");
            out.push_str(&short(c));
            out.push_str(" is not signed: setuid/setgid bits and file capabilities stripped (");
            report::push_u64(out, n);
            out.push_str(if n == 1 { " file)" } else { " files)" });
        }
        Event::Deployed(d) => {
            out.push_str("deployed ");
            out.push_str(&name(d));
        }
        Event::Trial(d, left) => {
            out.push_str("deployment ");
            out.push_str(&name(d));
            out.push_str(" on trial: ");
            report::push_u64(out, u64::from(left));
            out.push_str(if left == 1 { " boot" } else { " boots" });
            out.push_str(" left after this one unless marked good");
        }
        Event::RolledBack { from, to } => {
            out.push_str("rolled back to ");
            out.push_str(&name(to));
            out.push_str(" (from ");
            out.push_str(&name(from));
            out.push(')');
        }
        Event::NoRollback(d) => {
            out.push_str("no previous deployment to roll back to from ");
            out.push_str(&name(d));
        }
        Event::CurrentBroken(prev) => {
            out.push_str("current deployment is broken; using previous ");
            out.push_str(&name(prev));
        }
        Event::Failed(f) => push_failed(out, f),
    }
    true
}
