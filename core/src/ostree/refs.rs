//! Refs: `refs/heads/NAME` and `refs/remotes/REMOTE/NAME`, each 64 lowercase hex digits and a
//! newline (ostree-format.md §1.3).
//!
//! Difference from `ostree refs`: libostree prints refs in hash-table order; [`list`] sorts them
//! by name (byte-wise), which is stable and easier to compare.

use super::repo::{open_dir, read_all, Repo};
use super::{parse_checksum, Checksum};
use crate::error::{Errno, Error, Malformed, ParseError};
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{self, FileType, Mode as FsMode, OFlags};

/// Deepest `a/b/c` ref nesting we walk when listing.
const MAX_REF_DEPTH: usize = 16;

/// One component `F = [\w\d][-._\w\d]*` of a ref name (`core.c:151`), ASCII only.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    match b.split_first() {
        Some((&f, rest)) => word(f) && rest.iter().all(|&x| word(x) || matches!(x, b'-' | b'.')),
        None => false,
    }
}

/// True when `name` matches `(?:F/)*F`: a ref name libostree accepts.
pub fn valid_ref(name: &str) -> bool {
    name.split('/').all(valid_component)
}

/// True when `name` is a valid remote name (`F`).
pub fn valid_remote(name: &str) -> bool {
    valid_component(name)
}

/// Parses the contents of a ref file: `g_strchomp`, then exactly 64 lowercase hex digits.
///
/// # Errors
/// `Malformed::BadChecksum`.
pub fn parse_ref(text: &[u8]) -> Result<Checksum, ParseError> {
    let mut end = text.len();
    while end > 0 && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    parse_checksum(&text[..end]).ok_or(ParseError::at(0, Malformed::BadChecksum))
}

/// Reads the ref file at `path` (relative to the repo dir). `Ok(None)` when it does not exist.
///
/// # Errors
/// A read failure, or a file that is not a checksum.
pub fn read_ref_at(dir: BorrowedFd<'_>, path: &str) -> Result<Option<Checksum>, Error> {
    let fd = match fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, FsMode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR | Errno::ISDIR) => return Ok(None),
        Err(e) => return Err(Error::sys("openat ref", e)),
    };
    if fs::fstat(&fd).map(|s| FileType::from_raw_mode(s.st_mode)) != Ok(FileType::RegularFile) {
        return Ok(None);
    }
    let text = read_all(fd.as_fd(), 4096, "ref file size")?;
    Ok(Some(parse_ref(&text)?))
}

/// Every ref of `repo` (not of its parent): heads as `NAME`, remote refs as `REMOTE:NAME`,
/// sorted by name.
///
/// # Errors
/// A directory that cannot be read or a ref file that is not a checksum.
pub fn list(repo: &Repo) -> Result<Vec<(String, Checksum)>, Error> {
    let mut out = Vec::new();
    if let Some(heads) = open_opt(repo.dir(), "refs/heads")? {
        walk(heads.as_fd(), &mut String::new(), "", &mut out, 0)?;
    }
    if let Some(remotes) = open_opt(repo.dir(), "refs/remotes")? {
        for (remote, _) in subdirs(remotes.as_fd())? {
            if let Some(d) = open_opt(remotes.as_fd(), &remote)? {
                let mut prefix = remote.clone();
                prefix.push(':');
                walk(d.as_fd(), &mut String::new(), &prefix, &mut out, 0)?;
            }
        }
    }
    out.sort();
    Ok(out)
}

fn open_opt(dir: BorrowedFd<'_>, path: &str) -> Result<Option<rustix::fd::OwnedFd>, Error> {
    match open_dir(dir, path) {
        Ok(fd) => Ok(Some(fd)),
        Err(Error::Sys {
            errno: Errno::NOENT | Errno::NOTDIR,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries of `dir` with their types (skipping `.` and `..` and non-UTF-8 names).
fn subdirs(dir: BorrowedFd<'_>) -> Result<Vec<(String, FileType)>, Error> {
    let mut out = Vec::new();
    let d = fs::Dir::read_from(dir).map_err(|e| Error::sys("readdir", e))?;
    for entry in d {
        let entry = entry.map_err(|e| Error::sys("readdir", e))?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let mut ty = entry.file_type();
        if ty == FileType::Unknown {
            ty = fs::statat(dir, name, fs::AtFlags::SYMLINK_NOFOLLOW)
                .map(|s| FileType::from_raw_mode(s.st_mode))
                .unwrap_or(FileType::Unknown);
        }
        out.push((String::from(name), ty));
    }
    Ok(out)
}

fn walk(
    dir: BorrowedFd<'_>,
    path: &mut String,
    prefix: &str,
    out: &mut Vec<(String, Checksum)>,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_REF_DEPTH {
        return Err(Error::Limit("ref nesting"));
    }
    for (name, ty) in subdirs(dir)? {
        let len = path.len();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&name);
        if ty == FileType::Directory {
            if let Some(sub) = open_opt(dir, &name)? {
                walk(sub.as_fd(), path, prefix, out, depth + 1)?;
            }
        } else if let Some(c) = read_ref_at(dir, &name)? {
            let mut full = String::from(prefix);
            full.push_str(path);
            out.push((full, c));
        }
        path.truncate(len);
    }
    Ok(())
}

/// The remote names under `refs/remotes/`, in readdir order.
pub(crate) fn remotes(repo: &Repo) -> Result<Vec<String>, Error> {
    let Some(d) = open_opt(repo.dir(), "refs/remotes")? else {
        return Ok(Vec::new());
    };
    Ok(subdirs(d.as_fd())?
        .into_iter()
        .filter(|(_, t)| *t == FileType::Directory)
        .map(|(n, _)| n)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_follow_libostree_regex() {
        for ok in ["master", "test/main", "a-b.c_d", "x/y/z", "1.0"] {
            assert!(valid_ref(ok), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "-a", ".a", "a/../b", "a b", "a:b"] {
            assert!(!valid_ref(bad), "{bad}");
        }
    }

    #[test]
    fn ref_file_is_chomped_lowercase_hex() {
        let hex = "3776bbd854487ba8039cb48b364ddec4374db8e6fffb83d4619ee29bb4aaaa4a";
        let mut text = alloc::string::String::from(hex);
        text.push('\n');
        assert_eq!(parse_ref(text.as_bytes()).unwrap()[0], 0x37);
        assert!(parse_ref(hex.to_uppercase().as_bytes()).is_err());
        assert!(parse_ref(&text.as_bytes()[1..]).is_err());
    }
}
