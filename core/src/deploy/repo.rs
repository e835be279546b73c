//! The real [`Source`]: the OSTree repository on the root partition (`ostree.repo=`), and the
//! trusted ed25519 keys its commits are checked against (`sign::Keys`, reliability.md §4).
//!
//! Checkout is `ostree::checkout` in root mode (owners, modes and xattrs as committed), every
//! object verified; no per-file fsync, since the state machine `syncfs`es the whole tree before
//! it renames it into place (reliability.md §2, commit protocol).

use super::sysroot::Source;
use super::{Commit, Progress};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::ostree::object::Commit as CommitObject;
use crate::ostree::{self, CheckoutOptions, Failure, ObjType, Repo};
use crate::sign::{self, Keys};
use rustix::fd::BorrowedFd;

/// The repository, or why it could not be opened (reported when it is first needed, so
/// `status`, `mark-good` and `rollback` work without one), and the trusted keys.
pub struct RepoSource {
    repo: core::result::Result<Repo, Failure>,
    keys: Keys,
    /// The last failure with the object it happened on, for a message naming it.
    pub last_failure: Option<Failure>,
}

impl RepoSource {
    /// Wraps the result of opening the repository; no keys (commits are not checked for
    /// signatures, and checked out untrusted).
    pub fn new(repo: core::result::Result<Repo, Failure>) -> Self {
        RepoSource {
            repo,
            keys: Keys::new(),
            last_failure: None,
        }
    }

    /// The same with `keys` installed: with at least one trusted key, only commits whose
    /// signature verifies are deployed.
    pub fn with_keys(self, keys: Keys) -> Self {
        RepoSource { keys, ..self }
    }

    /// The repository, if it opened.
    pub fn repo(&self) -> Option<&Repo> {
        self.repo.as_ref().ok()
    }

    fn get(&mut self) -> Result<&Repo> {
        match &self.repo {
            Ok(r) => Ok(r),
            Err(f) => {
                self.last_failure = Some(*f);
                Err(f.error)
            }
        }
    }

    fn keep(&mut self, f: Failure) -> Error {
        self.last_failure = Some(f);
        f.error
    }
}

impl Source for RepoSource {
    fn resolve(&mut self, rev: &str) -> Result<Commit> {
        let r = self.get()?.resolve_rev(rev);
        r.map_err(|f| self.keep(f))
    }

    fn is_partial(&mut self, commit: &Commit) -> Result<bool> {
        self.get()?.is_partial(commit)
    }

    fn has_keys(&mut self) -> bool {
        !self.keys.is_empty()
    }

    fn verify(&mut self, commit: &Commit) -> Result<()> {
        let r = match &self.repo {
            Ok(repo) => sign::verify_repo_commit(repo, commit, &self.keys),
            Err(f) => Err(*f),
        };
        r.map(|_| ()).map_err(|f| self.keep(f))
    }

    fn timestamp(&mut self, commit: &Commit) -> Result<u64> {
        let bytes = self
            .get()?
            .load_metadata(ObjType::Commit, commit)
            .map_err(|f| self.keep(f))?;
        match CommitObject::parse(&bytes) {
            Ok(c) => Ok(c.timestamp),
            Err(e) => Err(self.keep(Failure::on(ObjType::Commit, commit, e.into()))),
        }
    }

    fn checkout(
        &mut self,
        commit: &Commit,
        dir: BorrowedFd<'_>,
        name: Name<'_>,
        trusted: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        // Deployment names are ASCII (hex, digits, `.tmp-`).
        let name = core::str::from_utf8(name.as_bytes()).map_err(|_| Error::State("bad name"))?;
        let opts = CheckoutOptions {
            trusted,
            ..CheckoutOptions::default()
        };
        let r = ostree::checkout(self.get()?, commit, dir, name, &opts, &mut |done, total| {
            progress(Progress { done, total })
        });
        r.map(|s| s.stripped).map_err(|f| self.keep(f))
    }
}
