//! Rev resolution exactly in libostree's order (ostree-format.md §1.3,
//! `ostree_repo_resolve_rev`): full checksum, unique commit prefix, trailing `^`,
//! `REMOTE:REF`, then `refs/heads/REF`, `refs/remotes/REF`, `refs/remotes/*/REF`, then the
//! parent repository.

use super::object::ObjType;
use super::refs::{read_ref_at, remotes, valid_ref, valid_remote};
use super::repo::{open_dir, Repo};
use super::{parse_checksum, Checksum, Failure, OResult};
use crate::error::{Errno, Error};
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fd::AsFd;
use rustix::fs;

/// Deepest `REV^^^…` chain followed.
const MAX_CARETS: usize = 1024;

/// `rev` names no commit or ref.
pub const NOT_FOUND: Error = Error::State("refspec not found");
/// A hex prefix matches more than one commit.
pub const NOT_UNIQUE: Error = Error::State("refspec not unique");
/// `REV^` of a commit without parent.
pub const NO_PARENT: Error = Error::State("commit has no parent");
/// Not a valid refspec (`REMOTE:REF` with libostree's name rules).
pub const INVALID: Error = Error::State("invalid refspec");

impl Repo {
    /// Resolves `rev` to a commit checksum. The commit itself need not exist (as in libostree),
    /// except for each commit whose parent `^` asks for.
    ///
    /// # Errors
    /// [`NOT_FOUND`], [`NOT_UNIQUE`], [`NO_PARENT`], [`INVALID`], or a failure reading a ref or
    /// a commit.
    pub fn resolve_rev(&self, rev: &str) -> OResult<Checksum> {
        let mut carets = 0;
        let mut base = rev;
        // A string ending in `^` is never hex, so steps 1 and 2 cannot match it first.
        while let Some(b) = base.strip_suffix('^') {
            carets += 1;
            if carets > MAX_CARETS {
                return Err(Error::Limit("rev ^ chain").into());
            }
            base = b;
        }
        let mut csum = self.resolve_plain(base)?;
        for _ in 0..carets {
            let c = self.load_commit(&csum)?;
            csum = c
                .parent
                .ok_or(Failure::on(ObjType::Commit, &csum, NO_PARENT))?;
        }
        Ok(csum)
    }

    fn resolve_plain(&self, rev: &str) -> OResult<Checksum> {
        if let Some(c) = parse_checksum(rev.as_bytes()) {
            return Ok(c);
        }
        if is_prefix(rev) {
            let mut found = Vec::new();
            self.commits_with_prefix(rev.as_bytes(), &mut found)?;
            found.sort_unstable();
            found.dedup();
            match found.len() {
                0 => {}
                1 => return Ok(found[0]),
                _ => return Err(NOT_UNIQUE.into()),
            }
        }
        let (remote, name) = match rev.split_once(':') {
            Some((r, n)) => (Some(r), n),
            None => (None, rev),
        };
        if !valid_ref(name) || remote.is_some_and(|r| !valid_remote(r)) {
            return Err(INVALID.into());
        }
        self.lookup_ref(remote, name)
    }

    fn lookup_ref(&self, remote: Option<&str>, name: &str) -> OResult<Checksum> {
        let mut path = String::new();
        let mut try_path = |parts: &[&str]| -> Result<Option<Checksum>, Error> {
            path.clear();
            for p in parts {
                path.push_str(p);
            }
            read_ref_at(self.dir(), &path)
        };
        let found = match remote {
            Some(r) => try_path(&["refs/remotes/", r, "/", name])?,
            None => match try_path(&["refs/heads/", name])? {
                Some(c) => Some(c),
                None => match try_path(&["refs/remotes/", name])? {
                    Some(c) => Some(c),
                    None => {
                        let mut hit = None;
                        for r in remotes(self)? {
                            if let Some(c) = try_path(&["refs/remotes/", &r, "/", name])? {
                                hit = Some(c);
                                break;
                            }
                        }
                        hit
                    }
                },
            },
        };
        match (found, self.parent()) {
            (Some(c), _) => Ok(c),
            (None, Some(p)) => p.lookup_ref(remote, name),
            (None, None) => Err(NOT_FOUND.into()),
        }
    }

    /// Adds every loose commit (here and in parents) whose hex name starts with `prefix`.
    fn commits_with_prefix(&self, prefix: &[u8], out: &mut Vec<Checksum>) -> Result<(), Error> {
        let mut hex2 = [0u8; 2];
        for hi in 0..=255u8 {
            let h = super::checksum_hex(&[hi; 32]);
            hex2.copy_from_slice(&h[..2]);
            let n = prefix.len().min(2);
            if hex2[..n] != prefix[..n] {
                continue;
            }
            let sub = core::str::from_utf8(&hex2).unwrap_or("00");
            let dir = match open_dir(self.objects(), sub) {
                Ok(d) => d,
                Err(Error::Sys {
                    errno: Errno::NOENT,
                    ..
                }) => continue,
                Err(e) => return Err(e),
            };
            let d = fs::Dir::read_from(dir.as_fd()).map_err(|e| Error::sys("readdir", e))?;
            for entry in d {
                let entry = entry.map_err(|e| Error::sys("readdir", e))?;
                let name = entry.file_name().to_bytes();
                let Some(rest) = name.strip_suffix(b".commit") else {
                    continue;
                };
                let mut full = [0u8; 64];
                if rest.len() != 62 {
                    continue;
                }
                full[..2].copy_from_slice(&hex2);
                full[2..].copy_from_slice(rest);
                if full.starts_with(prefix) {
                    if let Some(c) = parse_checksum(&full) {
                        out.push(c);
                    }
                }
            }
        }
        match self.parent() {
            Some(p) => p.commits_with_prefix(prefix, out),
            None => Ok(()),
        }
    }
}

/// Lowercase hex, 1 to 63 characters: a candidate commit prefix.
fn is_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() < 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}
