//! Remote entries in a repository `config` (a GLib key file), read and rewritten the way
//! `ostree remote add/delete` leaves them, so the real `ostree remote list -u` reads ours back.
//!
//! Facts measured with ostree 2022.7: `remote add --no-gpg-verify NAME URL a b/c` appends a blank
//! line then `[remote "NAME"]`, `url=URL`, `branches=a;b/c;`, `gpg-verify=false` (in that
//! order; `branches` and `gpg-verify` only when given). `remote delete` drops the group, and the
//! groups left keep exactly one blank line between them and none at the end. A `\` in a value is
//! written `\\`. Names follow `ostree_validate_remote_name` (`[\w\d][-._\w\d]*`), refs
//! `(?:F/)*F` (ostree-format.md §1.3).
//!
//! Everything here is pure (bytes in, bytes out); `layout::replace_file` puts the result on disk.

use alloc::string::String;
use alloc::vec::Vec;

/// One `[group]` of the file: its header name and body lines (trailing blank lines dropped).
struct Group<'a> {
    name: &'a str,
    lines: Vec<&'a str>,
}

/// The file split into lines before the first group, and the groups.
struct KeyFile<'a> {
    prelude: Vec<&'a str>,
    groups: Vec<Group<'a>>,
}

impl<'a> KeyFile<'a> {
    fn parse(text: &'a str) -> Self {
        let mut kf = KeyFile {
            prelude: Vec::new(),
            groups: Vec::new(),
        };
        for line in text.lines() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                kf.groups.push(Group {
                    name,
                    lines: Vec::new(),
                });
            } else {
                match kf.groups.last_mut() {
                    Some(g) => g.lines.push(line),
                    None => kf.prelude.push(line),
                }
            }
        }
        for g in &mut kf.groups {
            while g.lines.last().is_some_and(|l| l.trim().is_empty()) {
                g.lines.pop();
            }
        }
        kf
    }

    fn emit(&self) -> Vec<u8> {
        let mut out = String::new();
        for l in &self.prelude {
            out.push_str(l);
            out.push('\n');
        }
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push('[');
            out.push_str(g.name);
            out.push_str("]\n");
            for l in &g.lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.into_bytes()
    }

    fn group(&self, name: &str) -> Option<&Group<'a>> {
        self.groups.iter().find(|g| g.name == name)
    }
}

impl<'a> Group<'a> {
    /// The raw (still escaped) value of `key`; the last one wins, as in GLib.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.lines.iter().rev().find_map(|&l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim_start())
        })
    }
}

/// The remote name in a `remote "NAME"` group header.
fn remote_of(group: &str) -> Option<&str> {
    group.strip_prefix("remote \"")?.strip_suffix('"')
}

/// True for one ref or remote name component: `[\w\d][-._\w\d]*` (ASCII word characters).
fn valid_component(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    match b.split_first() {
        Some((&first, rest)) => word(first) && rest.iter().all(|&c| word(c) || b"-.".contains(&c)),
        None => false,
    }
}

/// True for a valid remote name (`ostree_validate_remote_name`).
pub fn valid_remote_name(name: &str) -> bool {
    valid_component(name)
}

/// True for a valid ref name `(?:F/)*F` (`ostree_validate_rev`).
pub fn valid_ref_name(name: &str) -> bool {
    name.split('/').all(valid_component)
}

/// Why a remote could not be added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteError {
    /// `add` of a name that already has a group.
    Exists,
    /// `delete` (or a lookup) of a name that has none.
    NotFound,
    /// The name is not a valid remote name.
    BadName,
    /// A branch is not a valid ref name.
    BadBranch,
    /// The URL is empty or holds a control character.
    BadUrl,
    /// A `--set` key is empty or holds `=`, `[`, `]`, a space or a control character.
    BadKey,
}

impl RemoteError {
    /// Short English text for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            RemoteError::Exists => "remote already exists",
            RemoteError::NotFound => "remote not found",
            RemoteError::BadName => "invalid remote name",
            RemoteError::BadBranch => "invalid branch name",
            RemoteError::BadUrl => "invalid URL",
            RemoteError::BadKey => "invalid option key",
        }
    }
}

/// `config` with a `[remote "NAME"]` group added: `url`, `branches`, then the `set` options
/// (`--set=KEY=VALUE`, in order; a repeated key keeps its first place and its last value, values
/// escaped as `g_key_file_set_string` does), then `gpg-verify=false` (as ostree 2022.7 orders them).
///
/// # Errors
/// `Exists`, `BadName`, `BadBranch`, `BadUrl`, `BadKey`.
pub fn remote_add(
    config: &str,
    name: &str,
    url: &str,
    branches: &[&str],
    set: &[(&str, &str)],
    gpg_verify: bool,
) -> Result<Vec<u8>, RemoteError> {
    if !valid_remote_name(name) {
        return Err(RemoteError::BadName);
    }
    if url.is_empty() || url.bytes().any(|c| c.is_ascii_control()) {
        return Err(RemoteError::BadUrl);
    }
    if !branches.iter().all(|b| valid_ref_name(b)) {
        return Err(RemoteError::BadBranch);
    }
    if !set.iter().all(|(k, _)| valid_key(k)) {
        return Err(RemoteError::BadKey);
    }
    let mut kf = KeyFile::parse(config);
    if kf.groups.iter().any(|g| remote_of(g.name) == Some(name)) {
        return Err(RemoteError::Exists);
    }
    // The new lines live in `owned`; the group borrows them for `emit` only.
    let header: String = ["remote \"", name, "\""].concat();
    let mut url_line = String::from("url=");
    for c in url.chars() {
        if c == '\\' {
            url_line.push('\\');
        }
        url_line.push(c);
    }
    let mut branch_line = String::from("branches=");
    for b in branches {
        branch_line.push_str(b);
        branch_line.push(';');
    }
    let mut options: Vec<(&str, String)> = Vec::new();
    for (k, v) in set {
        let line = [k, "=", &escape(v)].concat();
        match options.iter_mut().find(|(key, _)| key == k) {
            Some(o) => o.1 = line,
            None => options.push((k, line)),
        }
    }
    let mut lines = Vec::new();
    lines.push(url_line.as_str());
    if !branches.is_empty() {
        lines.push(branch_line.as_str());
    }
    lines.extend(options.iter().map(|(_, l)| l.as_str()));
    if !gpg_verify {
        lines.push("gpg-verify=false");
    }
    kf.groups.push(Group {
        name: &header,
        lines,
    });
    Ok(kf.emit())
}

/// `config` without the group of remote `name`.
///
/// # Errors
/// `NotFound` when there is no such remote.
pub fn remote_delete(config: &str, name: &str) -> Result<Vec<u8>, RemoteError> {
    let mut kf = KeyFile::parse(config);
    let before = kf.groups.len();
    kf.groups.retain(|g| remote_of(g.name) != Some(name));
    if kf.groups.len() == before {
        return Err(RemoteError::NotFound);
    }
    Ok(kf.emit())
}

/// Every remote as `(name, url)` sorted by name; the url unescaped (empty when missing).
pub fn remote_list(config: &str) -> Vec<(String, String)> {
    let kf = KeyFile::parse(config);
    let mut out: Vec<(String, String)> = kf
        .groups
        .iter()
        .filter_map(|g| {
            let name = remote_of(g.name)?;
            Some((String::from(name), unescape(g.get("url").unwrap_or(""))))
        })
        .collect();
    out.sort();
    out
}

/// The unescaped `url` of remote `name`.
///
/// # Errors
/// `NotFound` when the remote or its url is missing.
pub fn remote_url(config: &str, name: &str) -> Result<String, RemoteError> {
    let kf = KeyFile::parse(config);
    let header: String = ["remote \"", name, "\""].concat();
    let url = kf
        .group(&header)
        .and_then(|g| g.get("url"))
        .ok_or(RemoteError::NotFound)?;
    Ok(unescape(url))
}

/// The `branches` of remote `name` (`branches=a;b;`), empty when none are configured.
pub fn remote_branches(config: &str, name: &str) -> Vec<String> {
    let kf = KeyFile::parse(config);
    let header: String = ["remote \"", name, "\""].concat();
    let Some(list) = kf.group(&header).and_then(|g| g.get("branches")) else {
        return Vec::new();
    };
    unescape(list)
        .split(';')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect()
}

/// The unescaped value of option `key` of remote `name` (`None` when the remote or key is
/// missing).
pub fn remote_option(config: &str, name: &str, key: &str) -> Option<String> {
    let kf = KeyFile::parse(config);
    let header: String = ["remote \"", name, "\""].concat();
    kf.group(&header)
        .and_then(|g| g.get(key))
        .map(|v| unescape(v.trim_end()))
}

/// A GLib boolean (`true`/`false`, `1`/`0`), `None` for anything else.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// True for a key GLib accepts in a key file: non-empty, printable ASCII without `=`, `[`,
/// `]` or spaces.
fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_graphic() && !b"=[]".contains(&c))
}

/// GLib key-file value escaping (`g_key_file_set_string`): `\\`, `\n`, `\t`, `\r`, and `\s` for
/// a leading space.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The `[core] mode` value, if any (escaped form; mode names never need escapes).
pub fn core_mode(config: &str) -> Option<&str> {
    let kf = KeyFile::parse(config);
    let g = kf.group("core")?;
    g.get("mode").map(str::trim_end)
}

/// GLib key-file value unescaping: `\\ \s \n \t \r`; other escapes are kept as written.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "[core]\nrepo_version=1\nmode=archive-z2\n";

    #[test]
    fn add_matches_ostree_bytes() {
        let a = remote_add(
            CORE,
            "origin",
            "http://127.0.0.1:1/",
            &["a", "b/c"],
            &[],
            false,
        )
        .unwrap();
        let a = String::from_utf8(a).unwrap();
        assert_eq!(
            a,
            "[core]\nrepo_version=1\nmode=archive-z2\n\n[remote \"origin\"]\nurl=http://127.0.0.1:1/\n\
             branches=a;b/c;\ngpg-verify=false\n"
        );
        let b =
            String::from_utf8(remote_add(&a, "o2", "http://h/x", &[], &[], true).unwrap()).unwrap();
        assert!(
            b.ends_with("gpg-verify=false\n\n[remote \"o2\"]\nurl=http://h/x\n"),
            "{b}"
        );
        assert_eq!(
            remote_add(&b, "o2", "http://z", &[], &[], true),
            Err(RemoteError::Exists)
        );
    }

    #[test]
    fn set_options_go_after_branches_escaped_last_value_wins() {
        // ostree 2022.7: `remote add --set=sign-verify=true '--set=k=a\b c' --set=k= x
        // --no-gpg-verify o http://x/ main`.
        let set = [("sign-verify", "true"), ("k", "a\\b c"), ("k", " x")];
        let a =
            String::from_utf8(remote_add(CORE, "o", "http://x/", &["main"], &set, false).unwrap())
                .unwrap();
        assert!(
            a.ends_with(
                "[remote \"o\"]\nurl=http://x/\nbranches=main;\nsign-verify=true\nk=\\sx\ngpg-verify=false\n"
            ),
            "{a}"
        );
        assert_eq!(remote_option(&a, "o", "k").as_deref(), Some(" x"));
        assert_eq!(
            remote_option(&a, "o", "sign-verify").as_deref(),
            Some("true")
        );
        assert_eq!(remote_option(&a, "o", "nope"), None);
        assert_eq!(remote_option(&a, "other", "k"), None);
        assert_eq!(
            remote_add(CORE, "o", "u", &[], &[("a=b", "c")], true),
            Err(RemoteError::BadKey)
        );
        assert_eq!(
            remote_add(CORE, "o", "u", &[], &[("", "c")], true),
            Err(RemoteError::BadKey)
        );
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn delete_keeps_one_blank_line_between_groups() {
        let a =
            String::from_utf8(remote_add(CORE, "origin", "http://a", &["x"], &[], false).unwrap())
                .unwrap();
        let b =
            String::from_utf8(remote_add(&a, "o2", "http://h/x", &[], &[], true).unwrap()).unwrap();
        let c = String::from_utf8(remote_delete(&b, "origin").unwrap()).unwrap();
        assert_eq!(
            c,
            "[core]\nrepo_version=1\nmode=archive-z2\n\n[remote \"o2\"]\nurl=http://h/x\n"
        );
        let d = String::from_utf8(remote_delete(&c, "o2").unwrap()).unwrap();
        assert_eq!(d, CORE);
        assert_eq!(remote_delete(&d, "o2"), Err(RemoteError::NotFound));
    }

    #[test]
    fn backslash_in_url_is_escaped_and_read_back() {
        let a = String::from_utf8(remote_add(CORE, "x", "http://a b\\c", &[], &[], true).unwrap())
            .unwrap();
        assert!(a.contains("url=http://a b\\\\c\n"), "{a}");
        assert_eq!(remote_url(&a, "x").unwrap(), "http://a b\\c");
        assert_eq!(
            remote_list(&a),
            [(String::from("x"), String::from("http://a b\\c"))]
        );
    }

    #[test]
    fn list_is_sorted_by_name() {
        let a =
            String::from_utf8(remote_add(CORE, "origin", "u1", &[], &[], true).unwrap()).unwrap();
        let b = String::from_utf8(remote_add(&a, "o2", "u2", &[], &[], true).unwrap()).unwrap();
        let names: Vec<String> = remote_list(&b).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["o2", "origin"]);
        assert_eq!(core_mode(&b), Some("archive-z2"));
        let c = String::from_utf8(remote_add(CORE, "r", "u", &["a", "b/c"], &[], true).unwrap())
            .unwrap();
        assert_eq!(remote_branches(&c, "r"), ["a", "b/c"]);
        assert!(remote_branches(&c, "none").is_empty());
    }

    #[test]
    fn rejects_bad_names_urls_and_branches() {
        assert_eq!(
            remote_add(CORE, "b/c", "u", &[], &[], true),
            Err(RemoteError::BadName)
        );
        assert_eq!(
            remote_add(CORE, "-x", "u", &[], &[], true),
            Err(RemoteError::BadName)
        );
        assert_eq!(
            remote_add(CORE, "", "u", &[], &[], true),
            Err(RemoteError::BadName)
        );
        assert_eq!(
            remote_add(CORE, "x", "", &[], &[], true),
            Err(RemoteError::BadUrl)
        );
        assert_eq!(
            remote_add(CORE, "x", "u\nv", &[], &[], true),
            Err(RemoteError::BadUrl)
        );
        assert_eq!(
            remote_add(CORE, "x", "u", &["a//b"], &[], true),
            Err(RemoteError::BadBranch)
        );
        assert!(valid_ref_name("os/x86_64/stable.1") && valid_ref_name("bad..ref"));
        assert!(!valid_ref_name("/a") && !valid_ref_name("a/") && !valid_ref_name(".a"));
    }
}
