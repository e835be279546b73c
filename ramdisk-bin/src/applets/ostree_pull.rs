//! `ostree init`, `ostree remote`, and (full build, feature `pull`) `ostree pull`: the
//! repository-writing subcommands of the `ostree` applet, which dispatches here.
//!
//! Usage (`--repo=R` comes from the `ostree` applet; each function gets the words after its
//! subcommand, already normalized):
//! - `ostree --repo=R init [--mode=archive-z2|archive|bare|bare-user|bare-user-only]`
//!   (default `bare`, as ostree). Same directories and `config` bytes as `ostree init`; an
//!   existing repository is left as it is (exit 0), as ostree does.
//! - `ostree --repo=R remote add [--no-gpg-verify] [--if-not-exists] [--set=KEY=VALUE]... NAME
//!   URL [BRANCH...]`,
//!   `remote list [-u]`, `remote show-url NAME`, `remote delete [--if-exists] NAME`: the
//!   `[remote "NAME"]` group as `ostree remote` writes it. Differences: only the repository `config` is read and written
//!   (not `/etc/ostree/remotes.d`); `--sign-verify=TYPE=…`, `gpg-import`, `refs`, `summary`
//!   and the other remote subcommands are not offered.
//! - `ostree --repo=R pull [--depth=N] [--commit-metadata-only] REMOTE[:REF] [REF...]`:
//!   see `crate::pull` (archive-z2 repositories, http:// remotes; ed25519 signatures checked
//!   when the remote has `sign-verify=true`, set with `remote add --set=sign-verify=true`). A word after
//!   the first without a `:` is another ref of the same remote, as in `ostree pull origin a b`.

use crate::report;
use ramdisk_core::ostree_write::keyfile::{self, RemoteError};
use ramdisk_core::ostree_write::{layout, InitMode};

const APPLET: &str = "ostree";

/// Create a new, empty repository.
#[derive(argh::FromArgs)]
struct InitArgs {
    /// repository mode: archive-z2 (or archive), bare, bare-user or bare-user-only
    #[argh(option)]
    mode: Option<String>,
}

/// `ostree init`: `words` are the arguments after `init`.
pub fn init(repo: &str, words: &[&str]) -> u8 {
    let args: InitArgs = match crate::args::parse_words("ostree init", words) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let word = args.mode.as_deref().unwrap_or("bare");
    let Some(mode) = InitMode::from_word(word) else {
        report::err(&[APPLET, ": init: invalid mode '", word, "'"]);
        return 1;
    };
    match layout::init(repo, mode) {
        Ok(_) => 0,
        Err(e) => {
            let what = ["init '", repo, "'"].concat();
            report::fail(APPLET, &what, &e);
            1
        }
    }
}

/// Reads `REPO/config` as text, printing the failure.
fn read_config(repo: &str) -> Option<String> {
    let dir = match layout::open_dir(rustix::fs::CWD, repo) {
        Ok(d) => d,
        Err(e) => {
            report::fail(APPLET, &["repository '", repo, "'"].concat(), &e);
            return None;
        }
    };
    match layout::read_file(rustix::fd::AsFd::as_fd(&dir), "config", 1 << 20) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => Some(s),
            Err(_) => {
                report::err(&[APPLET, ": repository '", repo, "': config is not UTF-8"]);
                None
            }
        },
        Err(e) => {
            report::fail(APPLET, &["repository '", repo, "': config"].concat(), &e);
            None
        }
    }
}

/// Replaces `REPO/config` with `bytes` (temporary file, fsync, rename), printing the failure.
fn write_config(repo: &str, bytes: &[u8]) -> u8 {
    let r = layout::open_dir(rustix::fs::CWD, repo).and_then(|dir| {
        use rustix::fd::AsFd;
        let tmp = layout::open_dir(dir.as_fd(), "tmp")?;
        layout::replace_file(tmp.as_fd(), dir.as_fd(), "config", bytes)
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            report::fail(APPLET, &["repository '", repo, "': config"].concat(), &e);
            1
        }
    }
}

fn remote_fail(name: &str, e: RemoteError) -> u8 {
    report::err(&[APPLET, ": remote '", name, "': ", e.as_str()]);
    1
}

/// `ostree remote add|list|delete`: `words` are the arguments after `remote`.
pub fn remote(repo: &str, words: &[&str]) -> u8 {
    let usage = || {
        report::err(&[
            APPLET,
            ": usage: remote add [--no-gpg-verify] [--if-not-exists] [--set=KEY=VALUE]... NAME URL \
             [BRANCH...] | \
             list [-u] | show-url NAME | delete [--if-exists] NAME",
        ]);
        1
    };
    let Some((&verb, rest)) = words.split_first() else {
        return usage();
    };
    let mut flags: Vec<&str> = Vec::new();
    let mut operands: Vec<&str> = Vec::new();
    let mut set: Vec<(&str, &str)> = Vec::new();
    let mut it = rest.iter().copied();
    while let Some(w) = it.next() {
        // `--set=K=V` arrives split as `--set`, `K=V` (args::normalize).
        if verb == "add" && (w == "--set" || w.starts_with("--set=")) {
            let kv = if w == "--set" { it.next() } else { w.get(6..) };
            match kv.and_then(|kv| kv.split_once('=')) {
                Some(pair) => set.push(pair),
                None => {
                    report::err(&[APPLET, ": remote add: missing '=' in KEY=VALUE for --set"]);
                    return 1;
                }
            }
        } else if w.starts_with('-') {
            flags.push(w);
        } else {
            operands.push(w);
        }
    }
    let known: &[&str] = match verb {
        "add" => &["--no-gpg-verify", "--if-not-exists"],
        "list" => &["-u", "--show-urls"],
        "show-url" => &[],
        "delete" => &["--if-exists"],
        _ => return usage(),
    };
    if let Some(bad) = flags.iter().find(|f| !known.contains(f)) {
        report::err(&[APPLET, ": remote ", verb, ": unknown option '", bad, "'"]);
        return 1;
    }
    let has = |f: &str| flags.contains(&f);
    let Some(config) = read_config(repo) else {
        return 1;
    };
    match (verb, operands.as_slice()) {
        ("add", [name, url, branches @ ..]) => {
            match keyfile::remote_add(&config, name, url, branches, &set, !has("--no-gpg-verify")) {
                Ok(bytes) => write_config(repo, &bytes),
                Err(RemoteError::Exists) if has("--if-not-exists") => 0,
                Err(e) => remote_fail(name, e),
            }
        }
        ("list", []) => {
            let remotes = keyfile::remote_list(&config);
            let urls = has("-u") || has("--show-urls");
            let width = remotes.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            let mut out = String::new();
            for (name, url) in &remotes {
                out.push_str(name);
                if urls {
                    for _ in 0..width.saturating_sub(name.len()) + 2 {
                        out.push(' ');
                    }
                    out.push_str(url);
                }
                out.push('\n');
            }
            report::out(&out);
            0
        }
        ("show-url", [name]) => match keyfile::remote_url(&config, name) {
            Ok(url) => {
                report::out(&[url.as_str(), "\n"].concat());
                0
            }
            Err(e) => remote_fail(name, e),
        },
        ("delete", [name]) => match keyfile::remote_delete(&config, name) {
            Ok(bytes) => write_config(repo, &bytes),
            Err(RemoteError::NotFound) if has("--if-exists") => 0,
            Err(e) => remote_fail(name, e),
        },
        _ => usage(),
    }
}

/// Fetch commits from a remote over HTTP.
#[cfg(feature = "pull")]
#[derive(argh::FromArgs)]
struct PullArgs {
    /// parents to fetch as well (-1 = all; default 0)
    #[argh(option, default = "0")]
    depth: i64,
    /// fetch commit objects only; they stay marked partial
    #[argh(switch)]
    commit_metadata_only: bool,
    /// REMOTE[:REF], then more REFs of the same remote
    #[argh(positional, greedy)]
    refspecs: Vec<String>,
}

/// `ostree pull`: `words` are the arguments after `pull`.
#[cfg(feature = "pull")]
pub fn pull(repo: &str, words: &[&str]) -> u8 {
    let args: PullArgs = match crate::args::parse_words("ostree pull", words) {
        Ok(a) => a,
        Err(status) => return status,
    };
    if args.depth < -1 {
        report::err(&[APPLET, ": pull: invalid --depth"]);
        return 1;
    }
    let Some((first, more)) = args.refspecs.split_first() else {
        report::err(&[
            APPLET,
            ": pull: usage: pull [--depth=N] [--commit-metadata-only] REMOTE[:REF] [REF...]",
        ]);
        return 1;
    };
    let (remote, mut refs) = match first.split_once(':') {
        Some((r, name)) => (r, vec![name.to_string()]),
        None => (first.as_str(), Vec::new()),
    };
    for m in more {
        match m.split_once(':') {
            Some((r, name)) if r == remote => refs.push(name.to_string()),
            Some(_) => {
                report::err(&[
                    APPLET,
                    ": pull: all refs must come from one remote: '",
                    m,
                    "'",
                ]);
                return 1;
            }
            None => refs.push(m.clone()),
        }
    }
    let opts = crate::pull::Options {
        depth: args.depth,
        metadata_only: args.commit_metadata_only,
    };
    match crate::pull::pull(repo, remote, &refs, &opts) {
        Ok(()) => 0,
        Err(why) => {
            report::err(&[APPLET, ": pull: ", &why]);
            1
        }
    }
}
