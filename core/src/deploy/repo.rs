//! The real [`Source`]: the OSTree repository on the root partition (`ostree.repo=`).
//!
//! Checkout is `ostree::checkout` in root mode (owners, modes and xattrs as committed), every
//! object verified; no per-file fsync, since the state machine `syncfs`es the whole tree before
//! it renames it into place (reliability.md §2, commit protocol).

use super::sysroot::Source;
use super::{Commit, Progress};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::ostree::{self, CheckoutOptions, Failure, Repo};
use rustix::fd::BorrowedFd;

/// The repository, or why it could not be opened (reported when it is first needed, so
/// `status`, `mark-good` and `rollback` work without one).
pub struct RepoSource {
    repo: core::result::Result<Repo, Failure>,
    /// The last failure with the object it happened on, for a message naming it.
    pub last_failure: Option<Failure>,
}

impl RepoSource {
    /// Wraps the result of opening the repository.
    pub fn new(repo: core::result::Result<Repo, Failure>) -> Self {
        RepoSource {
            repo,
            last_failure: None,
        }
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

    fn checkout(
        &mut self,
        commit: &Commit,
        dir: BorrowedFd<'_>,
        name: Name<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        // Deployment names are ASCII (hex, digits, `.tmp-`).
        let name = core::str::from_utf8(name.as_bytes()).map_err(|_| Error::State("bad name"))?;
        let opts = CheckoutOptions::default();
        let r = ostree::checkout(self.get()?, commit, dir, name, &opts, &mut |done, total| {
            progress(Progress { done, total })
        });
        r.map(|_| ()).map_err(|f| self.keep(f))
    }
}
