//! Text for `ostree log`, `show`, `ls` and the content stream of `cat`, byte for byte as
//! `ostree` 2022.7 prints them (ostree-format.md §6.3; `ot-dump.c`).
//!
//! Dates are UTC, converted here from the commit's seconds (no time library).

use super::content::{Content, Scratch};
use super::object::{DirTree, Meta, ObjType, S_IFLNK, S_IFMT};
use super::repo::Repo;
use super::verify::content_checksum;
use super::{checksum_hex, Checksum, CommitInfo, Failure, OResult, MAX_DEPTH};
use crate::error::{Errno, Error};
use alloc::string::String;
use alloc::vec::Vec;

/// The line printed where a commit's parent is not in the repository.
pub const NOT_FETCHED: &str = "<< History beyond this commit not fetched >>\n";

fn push_hex(out: &mut String, c: &Checksum) {
    out.push_str(core::str::from_utf8(&checksum_hex(c)).unwrap_or(""));
}

/// Appends `n` in decimal, left-padded with `pad` to `width`.
pub fn push_num(out: &mut String, n: u64, width: usize, pad: char) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    let mut v = n;
    loop {
        i -= 1;
        d[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (d.len() - i)..width {
        out.push(pad);
    }
    for &c in &d[i..] {
        out.push(char::from(c));
    }
}

/// `YYYY-MM-DD HH:MM:SS +0000` for `secs` since the epoch (UTC, proleptic Gregorian).
pub fn push_date(out: &mut String, secs: u64) {
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    push_num(out, y, 4, '0');
    out.push('-');
    push_num(out, m, 2, '0');
    out.push('-');
    push_num(out, d, 2, '0');
    out.push(' ');
    push_num(out, rem / 3600, 2, '0');
    out.push(':');
    push_num(out, rem % 3600 / 60, 2, '0');
    out.push(':');
    push_num(out, rem % 60, 2, '0');
    out.push_str(" +0000");
}

/// Year, month, day of `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Each line of `text` indented four spaces (`dump_indented_lines`).
fn push_indented(out: &mut String, text: &str) {
    let mut rest = text;
    loop {
        match rest.find('\n') {
            Some(i) => {
                out.push_str("    ");
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
            None => {
                if !rest.is_empty() {
                    out.push_str("    ");
                    out.push_str(rest);
                    out.push('\n');
                }
                return;
            }
        }
    }
}

/// Appends one commit as `ostree show` / `ostree log` print it.
pub fn push_commit(out: &mut String, csum: &Checksum, c: &CommitInfo) {
    out.push_str("commit ");
    push_hex(out, csum);
    out.push('\n');
    if let Some(p) = &c.parent {
        out.push_str("Parent:  ");
        push_hex(out, p);
        out.push('\n');
    }
    out.push_str("ContentChecksum:  ");
    push_hex(out, &content_checksum(&c.root_tree, &c.root_meta));
    out.push_str("\nDate:  ");
    push_date(out, c.timestamp);
    out.push('\n');
    if let Some(v) = &c.version {
        out.push_str("Version: ");
        out.push_str(v);
        out.push('\n');
    }
    if c.subject.is_empty() {
        out.push_str("(no subject)\n");
    } else {
        out.push('\n');
        push_indented(out, &c.subject);
    }
    if !c.body.is_empty() {
        out.push('\n');
        push_indented(out, &c.body);
    }
    out.push('\n');
}

/// `ostree log`: `commit` and its ancestors, calling `emit` with each commit's text (so a long
/// history streams). A missing parent ends with [`NOT_FETCHED`].
///
/// # Errors
/// A commit that fails to load (other than a missing parent).
pub fn log(repo: &Repo, commit: &Checksum, emit: &mut dyn FnMut(&str)) -> OResult<()> {
    let mut cur = *commit;
    let mut first = true;
    let mut seen = 0usize;
    loop {
        if !first && !repo.has_object(ObjType::Commit, &cur) {
            emit(NOT_FETCHED);
            return Ok(());
        }
        first = false;
        let c = repo.load_commit(&cur)?;
        let mut text = String::new();
        push_commit(&mut text, &cur, &c);
        emit(&text);
        seen += 1;
        match c.parent {
            Some(p) if seen < 1_000_000 => cur = p,
            _ => return Ok(()),
        }
    }
}

/// An entry `ls` prints.
struct Entry {
    /// Content checksum, or dirtree + dirmeta checksums (printed with `-C`).
    csum: Option<Checksum>,
    meta_csum: Option<Checksum>,
    kind: char,
    uid: u32,
    gid: u32,
    mode: u32,
    size: u64,
    target: Vec<u8>,
}

fn push_entry(out: &mut String, e: &Entry, path: &str, checksums: bool) {
    out.push(e.kind);
    let perm = e.mode & 0o7777;
    // "%05o" of the permission bits, as `ostree ls` prints them.
    let mut oct = [b'0'; 5];
    let mut v = perm;
    for slot in oct.iter_mut().rev() {
        *slot = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    out.push_str(core::str::from_utf8(&oct).unwrap_or("00000"));
    out.push(' ');
    push_num(out, u64::from(e.uid), 0, ' ');
    out.push(' ');
    push_num(out, u64::from(e.gid), 0, ' ');
    out.push(' ');
    push_num(out, e.size, 6, ' ');
    out.push(' ');
    if checksums {
        for c in [&e.csum, &e.meta_csum].into_iter().flatten() {
            push_hex(out, c);
            out.push(' ');
        }
    }
    out.push_str(path);
    if e.kind == 'l' {
        out.push_str(" -> ");
        out.push_str(&String::from_utf8_lossy(&e.target));
    }
    out.push('\n');
}

/// What a path in a commit is.
pub enum Node {
    /// A directory: its dirtree and dirmeta.
    Dir(Checksum, Checksum),
    /// A file or symlink: its content object.
    File(Checksum),
}

/// Finds `path` (`/`-separated, leading `/` optional) in commit `c`.
///
/// # Errors
/// `ENOENT` when a component is missing, `ENOTDIR` when a file is walked through.
pub fn lookup(repo: &Repo, c: &CommitInfo, path: &str) -> OResult<Node> {
    let mut node = Node::Dir(c.root_tree, c.root_meta);
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let Node::Dir(tree, _) = node else {
            return Err(Error::sys("lookup", Errno::NOTDIR).into());
        };
        let bytes = repo.load_metadata(ObjType::DirTree, &tree)?;
        let dt =
            DirTree::parse(&bytes).map_err(|e| Failure::on(ObjType::DirTree, &tree, e.into()))?;
        node = if let Some(d) = dt
            .dirs
            .iter()
            .find(|d| d.name.as_bytes() == part.as_bytes())
        {
            Node::Dir(*d.tree, *d.meta)
        } else if let Some(f) = dt
            .files
            .iter()
            .find(|f| f.name.as_bytes() == part.as_bytes())
        {
            Node::File(*f.csum)
        } else {
            return Err(Error::sys("lookup", Errno::NOENT).into());
        };
    }
    Ok(node)
}

fn dir_entry(repo: &Repo, tree: &Checksum, meta: &Checksum) -> OResult<Entry> {
    let bytes = repo.load_metadata(ObjType::DirMeta, meta)?;
    let m =
        Meta::parse_dirmeta(&bytes).map_err(|e| Failure::on(ObjType::DirMeta, meta, e.into()))?;
    Ok(Entry {
        csum: Some(*tree),
        meta_csum: Some(*meta),
        kind: 'd',
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        size: 0,
        target: Vec::new(),
    })
}

fn file_entry(repo: &Repo, csum: &Checksum, s: &mut Scratch) -> OResult<Entry> {
    let on = |e| Failure::on(ObjType::File, csum, e);
    let mut c = Content::open(repo, csum, s).map_err(on)?;
    c.drain().map_err(on)?;
    let m = core::mem::take(&mut c.meta);
    c.finish().map_err(on)?;
    let link = m.mode & S_IFMT == S_IFLNK;
    Ok(Entry {
        csum: Some(*csum),
        meta_csum: None,
        kind: if link { 'l' } else { '-' },
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        size: if link { 0 } else { m.size },
        target: m.target,
    })
}

/// Options of [`ls`], named after `ostree ls`'s flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct LsOptions {
    /// `-R`: recurse into subdirectories.
    pub recursive: bool,
    /// `-C`: print checksums (content; dirtree and dirmeta for directories).
    pub checksums: bool,
    /// `-d`: only the entry itself, not a directory's contents (ignored with `-R`, as ostree).
    pub dir_only: bool,
}

/// `ostree ls [-R] [-C] [-d] REV PATH`: the entry for `path`, then (for a directory) its files
/// and then its subdirectories, recursing with `-R`. Each line goes to `emit`; every object
/// read is verified.
///
/// # Errors
/// A missing path or an object that fails to load or verify.
pub fn ls(
    repo: &Repo,
    c: &CommitInfo,
    path: &str,
    opts: &LsOptions,
    emit: &mut dyn FnMut(&str),
) -> OResult<()> {
    let mut s = Scratch::new();
    let mut shown = String::from("/");
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if shown.len() > 1 {
            shown.push('/');
        }
        shown.push_str(part);
    }
    let mut line = String::new();
    match lookup(repo, c, path)? {
        Node::File(csum) => {
            push_entry(
                &mut line,
                &file_entry(repo, &csum, &mut s)?,
                &shown,
                opts.checksums,
            );
            emit(&line);
        }
        Node::Dir(tree, meta) => {
            push_entry(
                &mut line,
                &dir_entry(repo, &tree, &meta)?,
                &shown,
                opts.checksums,
            );
            emit(&line);
            if opts.recursive || !opts.dir_only {
                list_dir(repo, &tree, &mut shown, opts, emit, &mut s, 0)?;
            }
        }
    }
    Ok(())
}

fn list_dir(
    repo: &Repo,
    tree: &Checksum,
    path: &mut String,
    opts: &LsOptions,
    emit: &mut dyn FnMut(&str),
    s: &mut Scratch,
    depth: usize,
) -> OResult<()> {
    if depth > MAX_DEPTH {
        return Err(Failure::on(
            ObjType::DirTree,
            tree,
            Error::Limit("directory depth"),
        ));
    }
    let bytes = repo.load_metadata(ObjType::DirTree, tree)?;
    let dt = DirTree::parse(&bytes).map_err(|e| Failure::on(ObjType::DirTree, tree, e.into()))?;
    let base = path.len();
    let mut line = String::new();
    let join = |path: &mut String, name: &[u8]| {
        path.truncate(base);
        if base > 1 {
            path.push('/');
        }
        path.push_str(core::str::from_utf8(name).unwrap_or("?"));
    };
    for f in &dt.files {
        join(path, f.name.as_bytes());
        line.clear();
        push_entry(
            &mut line,
            &file_entry(repo, f.csum, s)?,
            path,
            opts.checksums,
        );
        emit(&line);
    }
    for d in &dt.dirs {
        join(path, d.name.as_bytes());
        line.clear();
        push_entry(
            &mut line,
            &dir_entry(repo, d.tree, d.meta)?,
            path,
            opts.checksums,
        );
        emit(&line);
        if opts.recursive {
            list_dir(repo, d.tree, path, opts, emit, s, depth + 1)?;
        }
    }
    path.truncate(base);
    Ok(())
}

/// `ostree cat REV PATH`: streams the file's content to `emit`, then checks its checksum (so
/// a corrupt object ends with an error after its bytes were shown).
///
/// # Errors
/// A missing path, a directory, or an object that fails to read or verify.
pub fn cat(repo: &Repo, c: &CommitInfo, path: &str, emit: &mut dyn FnMut(&[u8])) -> OResult<()> {
    let csum = match lookup(repo, c, path)? {
        Node::File(csum) => csum,
        Node::Dir(..) => return Err(Error::sys("read", Errno::ISDIR).into()),
    };
    let on = |e| Failure::on(ObjType::File, &csum, e);
    let mut s = Scratch::new();
    let mut content = Content::open(repo, &csum, &mut s).map_err(on)?;
    if content.meta.is_symlink() {
        return Err(Error::State("is a symbolic link").into());
    }
    while let Some(chunk) = content.next_chunk().map_err(on)? {
        emit(chunk);
    }
    content.finish().map_err(on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        let mut s = String::new();
        push_date(&mut s, 1577836800);
        assert_eq!(s, "2020-01-01 00:00:00 +0000");
        s.clear();
        push_date(&mut s, 0);
        assert_eq!(s, "1970-01-01 00:00:00 +0000");
        s.clear();
        push_date(&mut s, 951782400 + 86399); // 2000-02-29 23:59:59
        assert_eq!(s, "2000-02-29 23:59:59 +0000");
        s.clear();
        push_date(&mut s, 4102444800); // 2100-01-01
        assert_eq!(s, "2100-01-01 00:00:00 +0000");
    }

    #[test]
    fn commit_text_matches_ostree() {
        let c = CommitInfo {
            timestamp: 1577836800,
            parent: Some([0xd8; 32]),
            subject: "second".into(),
            body: "body line1\n\nline2".into(),
            version: Some("1.0".into()),
            root_tree: [1; 32],
            root_meta: [2; 32],
        };
        let mut s = String::new();
        push_commit(&mut s, &[0x37; 32], &c);
        let lines: Vec<&str> = s.split('\n').collect();
        assert_eq!(lines[0], ["commit ", &"37".repeat(32)].concat());
        assert_eq!(lines[1], ["Parent:  ", &"d8".repeat(32)].concat());
        assert!(lines[2].starts_with("ContentChecksum:  "));
        assert_eq!(lines[3], "Date:  2020-01-01 00:00:00 +0000");
        assert_eq!(lines[4], "Version: 1.0");
        assert_eq!(
            &lines[5..],
            [
                "",
                "    second",
                "",
                "    body line1",
                "    ",
                "    line2",
                "",
                ""
            ]
        );
    }

    #[test]
    fn empty_subject_prints_no_subject() {
        let c = CommitInfo {
            timestamp: 0,
            parent: None,
            subject: String::new(),
            body: String::new(),
            version: None,
            root_tree: [1; 32],
            root_meta: [2; 32],
        };
        let mut s = String::new();
        push_commit(&mut s, &[0; 32], &c);
        assert!(s.ends_with("+0000\n(no subject)\n\n"));
    }
}
