//! `ostree [--repo=PATH] SUBCOMMAND ...`: the read side of ostree 2022.7's command line.
//!
//! Subcommands (`--repo=PATH` may come before or after the subcommand; default `$OSTREE_REPO`,
//! else `/ostree/repo`):
//! - `checkout [-U] [--union] [--union-add] [--subpath=P] [-C] [-H] [--fsync=BOOL] REV [DEST]`
//! - `log REV`, `show REV`, `refs`, `rev-parse REV`, `ls [-R] [-C] [-d] REV [PATH...]`, `cat REV PATH...`,
//!   `fsck`
//! - `init`, `remote`, `pull`: the repository-writing side (`ostree_pull.rs`).
//! - `sign`, `keygen` (full build): ed25519 commit signatures (`ostree_sign.rs`).
//!
//! `checkout` and `fsck` take `--require-signatures` (ours; ostree checks signatures only at
//! pull): the commit checked out, or the commit of every ref, must carry an ed25519 signature
//! that verifies with a trusted key (`trusted.ed25519[.d]`, `revoked.ed25519[.d]` under
//! `/usr/share/ostree` and `/etc/ostree`). It is on by default when such trusted keys are
//! installed. Without keys and without the option, a checkout trusts the repository as ostree
//! does (setuid bits and file capabilities as committed); `init` instead strips them from
//! commits that are not verified.
//!
//! Matches ostree's output for log/show/ls/rev-parse/cat and its option conflicts.
//! Deliberate differences:
//! - every object read is verified (SHA-256, normal form, names, modes); checkout, ls and cat
//!   fail on a corrupt object, naming it: `ostree: checkout: object HEX.file: checksum mismatch
//!   (expected HEX, got HEX)`. ostree's checkout trusts the repository.
//! - checkout refuses a commit marked partial (`state/HEX.commitpartial`).
//! - `refs` prints refs sorted by name; ostree prints them in hash-table order.
//! - errors use the `ostree: what: why` shape instead of `error: why`.
//! - `fsck` prints one line per problem (and continues), then a summary line.
//! - not offered: `--union-identical`, `--whiteouts`, `--from-file`, `-M`, SELinux options.

#[path = "ostree_pull.rs"]
mod write;

#[cfg(feature = "pull")]
#[path = "ostree_sign.rs"]
mod sign;

use crate::report;
use argh::FromArgs;
use ramdisk_core::ostree::{
    self, checkout::Union, log as olog, rev, CheckoutOptions, CommitInfo, Failure, Repo,
};
use ramdisk_core::sign::{KeyFileError, Keys};
use ramdisk_core::Error;
use std::io::Write;

const APPLET: &str = "ostree";
const DEFAULT_REPO: &str = "/ostree/repo";

const USAGE: &str = "Usage: ostree [--repo=PATH] COMMAND [OPTIONS...]\n\n\
Commands:\n\
\x20 checkout [-U] [--union] [--union-add] [--subpath=P] [-C] [-H] [--fsync=BOOL]\n\
\x20          [--require-signatures] REV [DEST]\n\
\x20 log REV           show the history of a commit\n\
\x20 show REV          show one commit\n\
\x20 refs              list refs\n\
\x20 rev-parse REV     print the commit a rev names\n\
\x20 ls [-R] [-C] [-d] REV [PATH...]\n\
\x20 cat REV PATH...   print file content\n\
\x20 fsck [--require-signatures]  verify every object reachable from the refs\n\
\x20 init, remote, pull\n";

/// Check out a commit into a new directory.
#[derive(FromArgs)]
struct CheckoutArgs {
    /// do not change file ownership or set xattrs; strip setuid/setgid
    #[argh(switch, short = 'U')]
    user_mode: bool,
    /// keep existing directories, overwrite existing files
    #[argh(switch)]
    union: bool,
    /// keep existing files and directories, add new ones
    #[argh(switch)]
    union_add: bool,
    /// check out only this path of the commit
    #[argh(option)]
    subpath: Option<String>,
    /// never hard-link from the repository
    #[argh(switch, short = 'C')]
    force_copy: bool,
    /// fail when a file cannot be hard-linked
    #[argh(switch, short = 'H')]
    require_hardlinks: bool,
    /// fsync files and directories (true/false)
    #[argh(option)]
    fsync: Option<String>,
    /// refuse a commit without a valid ed25519 signature (default with trusted keys installed)
    #[argh(switch)]
    require_signatures: bool,
    /// the commit
    #[argh(positional)]
    rev: String,
    /// destination directory (default: REV)
    #[argh(positional)]
    dest: Option<String>,
}

/// One REV operand.
#[derive(FromArgs)]
struct RevArgs {
    /// the commit
    #[argh(positional)]
    rev: String,
}

/// No operands.
#[derive(FromArgs)]
struct NoArgs {}

/// List a directory of a commit.
#[derive(FromArgs)]
struct LsArgs {
    /// recurse into directories
    #[argh(switch, short = 'R')]
    recursive: bool,
    /// print checksums
    #[argh(switch, short = 'C')]
    checksum: bool,
    /// list a directory itself, not its contents
    #[argh(switch, short = 'd')]
    dironly: bool,
    /// the commit
    #[argh(positional)]
    rev: String,
    /// paths in the commit
    #[argh(positional)]
    paths: Vec<String>,
}

/// Print files of a commit.
#[derive(FromArgs)]
struct CatArgs {
    /// the commit
    #[argh(positional)]
    rev: String,
    /// paths in the commit
    #[argh(positional)]
    paths: Vec<String>,
}

pub fn main(argv: &[&str]) -> u8 {
    let mut words = crate::args::normalize(argv.get(1..).unwrap_or_default(), b"");
    crate::args::hoist_option(&mut words, "--repo");
    let mut repo_path = std::env::var("OSTREE_REPO").unwrap_or_else(|_| DEFAULT_REPO.to_string());
    let mut i = 0;
    while words.get(i).map(String::as_str) == Some("--repo") {
        if let Some(p) = words.get(i + 1) {
            repo_path = p.clone();
        }
        i += 2;
    }
    let rest: Vec<&str> = words.iter().skip(i).map(String::as_str).collect();
    let Some((&cmd, args)) = rest.split_first() else {
        report::err(&[USAGE.trim_end()]);
        return 1;
    };
    match cmd {
        "--help" | "-h" => {
            report::out(USAGE);
            0
        }
        "init" => write::init(&repo_path, args),
        "remote" => write::remote(&repo_path, args),
        #[cfg(feature = "pull")]
        "pull" => write::pull(&repo_path, args),
        #[cfg(feature = "pull")]
        "sign" => sign::sign_main(&repo_path, args),
        #[cfg(feature = "pull")]
        "keygen" => sign::keygen_main(args),
        "checkout" => cmd_checkout(&repo_path, args),
        "log" | "show" => cmd_log(&repo_path, cmd, args),
        "refs" => cmd_refs(&repo_path, args),
        "rev-parse" => cmd_rev_parse(&repo_path, args),
        "ls" => cmd_ls(&repo_path, args),
        "cat" => cmd_cat(&repo_path, args),
        "fsck" => cmd_fsck(&repo_path, args),
        _ => {
            report::err(&[APPLET, ": unknown command '", cmd, "'"]);
            1
        }
    }
}

/// `ostree: CMD: [object HEX.EXT: ]why`.
fn fail(cmd: &str, f: &Failure) {
    let mut line = String::from(APPLET);
    line.push_str(": ");
    line.push_str(cmd);
    line.push_str(": ");
    push_failure(&mut line, f);
    report::err(&[&line]);
}

fn push_failure(line: &mut String, f: &Failure) {
    if let Some((kind, csum)) = &f.object {
        line.push_str("object ");
        report::push_hex(line, csum);
        line.push('.');
        line.push_str(kind.ext());
        line.push_str(": ");
    }
    report::push_error(line, &f.error);
}

fn open_repo(cmd: &str, path: &str) -> Option<Repo> {
    match Repo::open_path(path) {
        Ok(r) => Some(r),
        Err(f) => {
            let mut line = String::from(APPLET);
            line.push_str(": ");
            line.push_str(cmd);
            line.push_str(": repository '");
            line.push_str(path);
            line.push_str("': ");
            push_failure(&mut line, &f);
            report::err(&[&line]);
            None
        }
    }
}

/// Resolves `rev`, printing ostree's wording for the rev errors.
fn resolve(cmd: &str, repo: &Repo, rev_str: &str) -> Option<[u8; 32]> {
    match repo.resolve_rev(rev_str) {
        Ok(c) => Some(c),
        Err(f) if f.object.is_none() && f.error == rev::NOT_FOUND => {
            report::err(&[APPLET, ": ", cmd, ": Refspec '", rev_str, "' not found"]);
            None
        }
        Err(f) if f.object.is_none() && f.error == rev::NOT_UNIQUE => {
            report::err(&[APPLET, ": ", cmd, ": Refspec '", rev_str, "' not unique"]);
            None
        }
        Err(f) if f.object.is_none() && f.error == rev::INVALID => {
            report::err(&[APPLET, ": ", cmd, ": Invalid refspec '", rev_str, "'"]);
            None
        }
        Err(f) if f.object.is_none() => {
            let mut line = String::new();
            report::push_error(&mut line, &f.error);
            report::err(&[APPLET, ": ", cmd, ": Refspec '", rev_str, "': ", &line]);
            None
        }
        Err(f) => {
            fail(cmd, &f);
            None
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" | "none" => Some(false),
        _ => None,
    }
}

fn cmd_checkout(repo_path: &str, words: &[&str]) -> u8 {
    const CMD: &str = "checkout";
    let a: CheckoutArgs = match crate::args::parse_words("ostree checkout", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let conflict = if a.union && a.union_add {
        Some("Cannot specify both --union and --union-add")
    } else if a.require_hardlinks && a.force_copy {
        Some("Cannot specify both --require-hardlinks and --force-copy")
    } else {
        None
    };
    if let Some(c) = conflict {
        report::err(&[APPLET, ": ", CMD, ": ", c]);
        return 1;
    }
    let fsync = match a.fsync.as_deref().map(parse_bool) {
        None => false,
        Some(Some(b)) => b,
        Some(None) => {
            report::err(&[
                APPLET,
                ": ",
                CMD,
                ": invalid --fsync value '",
                a.fsync.as_deref().unwrap_or(""),
                "'",
            ]);
            return 1;
        }
    };
    let Some(repo) = open_repo(CMD, repo_path) else {
        return 1;
    };
    let Some(commit) = resolve(CMD, &repo, &a.rev) else {
        return 1;
    };
    if !signatures_ok(
        CMD,
        a.require_signatures,
        |keys| match ramdisk_core::sign::verify_repo_commit(&repo, &commit, keys) {
            Ok(_) => 0,
            Err(f) => {
                fail(CMD, &f);
                1
            }
        },
    ) {
        return 1;
    }
    let dest = a.dest.as_deref().unwrap_or(&a.rev);
    let trimmed = dest.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((p, n)) => (p, n),
        None => (".", trimmed),
    };
    let pfd = match rustix::fs::open(
        parent,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            report::fail_errno(APPLET, "checkout: can't open", parent, e);
            return 1;
        }
    };
    let opts = CheckoutOptions {
        user_mode: a.user_mode,
        union: if a.union {
            Union::Overwrite
        } else if a.union_add {
            Union::Add
        } else {
            Union::None
        },
        subpath: a.subpath.as_deref(),
        force_copy: a.force_copy,
        require_hardlinks: a.require_hardlinks,
        fsync,
        threads: 0,
        // Verified above when keys are installed; without keys the repository is trusted,
        // as ostree does (only `init` strips what an unverified commit grants).
        trusted: true,
    };
    use rustix::fd::AsFd;
    match ostree::checkout(&repo, &commit, pfd.as_fd(), name, &opts, &mut |_, _| {}) {
        Ok(_) => 0,
        Err(f) => {
            if f.object.is_none() {
                if let Error::Parse(_) = f.error {
                    report::err(&[APPLET, ": ", CMD, ": invalid destination '", dest, "'"]);
                    return 1;
                }
            }
            fail(CMD, &f);
            1
        }
    }
}

fn load(cmd: &str, repo: &Repo, commit: &[u8; 32]) -> Option<CommitInfo> {
    match repo.load_commit(commit) {
        Ok(c) => Some(c),
        Err(f) => {
            fail(cmd, &f);
            None
        }
    }
}

fn stdout_bytes(b: &[u8]) {
    let _ = std::io::stdout().lock().write_all(b);
}

fn cmd_log(repo_path: &str, cmd: &str, words: &[&str]) -> u8 {
    let name = if cmd == "log" {
        "ostree log"
    } else {
        "ostree show"
    };
    let a: RevArgs = match crate::args::parse_words(name, words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let Some(repo) = open_repo(cmd, repo_path) else {
        return 1;
    };
    let Some(commit) = resolve(cmd, &repo, &a.rev) else {
        return 1;
    };
    if cmd == "show" {
        let Some(c) = load(cmd, &repo, &commit) else {
            return 1;
        };
        let mut s = String::new();
        olog::push_commit(&mut s, &commit, &c);
        report::out(&s);
        return 0;
    }
    match olog::log(&repo, &commit, &mut |t| report::out(t)) {
        Ok(()) => 0,
        Err(f) => {
            fail(cmd, &f);
            1
        }
    }
}

fn cmd_refs(repo_path: &str, words: &[&str]) -> u8 {
    if let Err(s) = crate::args::parse_words::<NoArgs>("ostree refs", words) {
        return s;
    }
    let Some(repo) = open_repo("refs", repo_path) else {
        return 1;
    };
    match ostree::refs::list(&repo) {
        Ok(list) => {
            let mut s = String::new();
            for (name, _) in list {
                s.push_str(&name);
                s.push('\n');
            }
            report::out(&s);
            0
        }
        Err(e) => {
            fail("refs", &e.into());
            1
        }
    }
}

fn cmd_rev_parse(repo_path: &str, words: &[&str]) -> u8 {
    let a: RevArgs = match crate::args::parse_words("ostree rev-parse", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let Some(repo) = open_repo("rev-parse", repo_path) else {
        return 1;
    };
    let Some(commit) = resolve("rev-parse", &repo, &a.rev) else {
        return 1;
    };
    let mut s = String::new();
    report::push_hex(&mut s, &commit);
    s.push('\n');
    report::out(&s);
    0
}

/// The errno text for a lookup failure, as ostree words it.
fn path_error(cmd: &str, path: &str, f: &Failure) {
    if let (
        None,
        Error::Sys {
            op: "lookup",
            errno,
        },
    ) = (&f.object, &f.error)
    {
        report::fail_errno(APPLET, cmd, path, *errno);
    } else {
        fail(cmd, f);
    }
}

fn cmd_ls(repo_path: &str, words: &[&str]) -> u8 {
    let a: LsArgs = match crate::args::parse_words("ostree ls", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let Some(repo) = open_repo("ls", repo_path) else {
        return 1;
    };
    let Some(commit) = resolve("ls", &repo, &a.rev) else {
        return 1;
    };
    let Some(c) = load("ls", &repo, &commit) else {
        return 1;
    };
    let paths = if a.paths.is_empty() {
        vec!["/".to_string()]
    } else {
        a.paths
    };
    for p in &paths {
        let opts = olog::LsOptions {
            recursive: a.recursive,
            checksums: a.checksum,
            dir_only: a.dironly,
        };
        if let Err(f) = olog::ls(&repo, &c, p, &opts, &mut |l| report::out(l)) {
            path_error("ls", p, &f);
            return 1;
        }
    }
    0
}

fn cmd_cat(repo_path: &str, words: &[&str]) -> u8 {
    let a: CatArgs = match crate::args::parse_words("ostree cat", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let Some(repo) = open_repo("cat", repo_path) else {
        return 1;
    };
    let Some(commit) = resolve("cat", &repo, &a.rev) else {
        return 1;
    };
    let Some(c) = load("cat", &repo, &commit) else {
        return 1;
    };
    for p in &a.paths {
        if let Err(f) = olog::cat(&repo, &c, p, &mut stdout_bytes) {
            path_error("cat", p, &f);
            return 1;
        }
    }
    0
}

/// The trusted keys of the running system (`/usr/share/ostree`, `/etc/ostree`); when there
/// are some, or `required`, returns whether `check(keys)` found no problem (it prints them).
/// Prints why and returns false when the keys cannot be loaded or `required` finds none.
fn signatures_ok(cmd: &str, required: bool, check: impl FnOnce(&Keys) -> u64) -> bool {
    let keys = ramdisk_core::fs::open_dir("/")
        .map_err(|error| KeyFileError {
            file: String::from("/"),
            line: 0,
            error,
        })
        .and_then(|root| Keys::load_system(rustix::fd::AsFd::as_fd(&root)));
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            let mut line = String::new();
            super::deploy::push_key_error(&mut line, &e);
            report::err(&[APPLET, ": ", cmd, ": ", &line]);
            return false;
        }
    };
    if keys.is_empty() {
        if required {
            report::fail(APPLET, cmd, &ramdisk_core::sign::NO_KEYS);
        }
        return !required;
    }
    check(&keys) == 0
}

/// Check the objects of every ref (and, with trusted keys, the refs' signatures).
#[derive(FromArgs)]
struct FsckArgs {
    /// every ref must name a commit with a valid ed25519 signature (default with trusted keys
    /// installed)
    #[argh(switch)]
    require_signatures: bool,
}

fn cmd_fsck(repo_path: &str, words: &[&str]) -> u8 {
    let a: FsckArgs = match crate::args::parse_words("ostree fsck", words) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let Some(repo) = open_repo("fsck", repo_path) else {
        return 1;
    };
    let mut bad_signatures = 0;
    let ok = signatures_ok("fsck", a.require_signatures, |keys| {
        bad_signatures =
            match ostree::fsck::verify_ref_signatures(&repo, keys, &mut |f| fail("fsck", f)) {
                Ok(n) => n,
                Err(f) => {
                    fail("fsck", &f);
                    1
                }
            };
        bad_signatures
    });
    if !ok && bad_signatures == 0 {
        // No usable keys: nothing could be checked.
        return 1;
    }
    match ostree::fsck::fsck(&repo, &mut |f| fail("fsck", f)) {
        Ok(mut st) => {
            st.errors += bad_signatures;
            let mut s = String::from("fsck: verified ");
            report::push_u64(&mut s, st.commits);
            s.push_str(" commits, ");
            report::push_u64(&mut s, st.objects);
            s.push_str(" objects, ");
            report::push_u64(&mut s, st.errors);
            s.push_str(" errors\n");
            report::out(&s);
            u8::from(st.errors != 0)
        }
        Err(f) => {
            fail("fsck", &f);
            1
        }
    }
}
