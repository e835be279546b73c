//! `ostree fsck`: verify every object reachable from every ref (ostree-format.md §6.2 end;
//! reliability.md §4).
//!
//! For each ref, its commit and every ancestor present are verified: commit, dirtrees and
//! dirmetas by SHA-256 of their bytes plus normal form and the name rules; content objects by
//! re-hashing header + content (archive payloads inflated, capped at the header size). Each
//! object is checked once. Every problem is reported through a callback and the walk goes on,
//! so one run names all of them.

use super::content::{Content, Scratch};
use super::object::{DirTree, Meta, ObjType};
use super::refs;
use super::repo::Repo;
use super::{Checksum, Failure, MAX_DEPTH};
use crate::error::Error;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// What fsck looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsckStats {
    /// Commits verified.
    pub commits: u64,
    /// Objects verified (all kinds).
    pub objects: u64,
    /// Problems found.
    pub errors: u64,
}

struct Walk<'r, 'f> {
    repo: &'r Repo,
    seen: BTreeSet<(u8, Checksum)>,
    stats: FsckStats,
    report: &'f mut dyn FnMut(&Failure),
    scratch: Scratch,
}

/// `fsck --require-signatures`: checks the ed25519 signature of the commit each ref names
/// with `keys` (`sign::verify_repo_commit`), calling `report` for each commit that fails.
/// Only the heads: a signed commit covers its parent's checksum, and each parent is then
/// verified by hash, so the heads authenticate the history. Returns the number of failures.
///
/// # Errors
/// Only when the refs cannot be listed.
pub fn verify_ref_signatures(
    repo: &Repo,
    keys: &crate::sign::Keys,
    report: &mut dyn FnMut(&Failure),
) -> Result<u64, Failure> {
    let mut heads: Vec<Checksum> = refs::list(repo)?.into_iter().map(|r| r.1).collect();
    heads.sort_unstable();
    heads.dedup();
    let mut errors = 0;
    for c in &heads {
        if let Err(f) = crate::sign::verify_repo_commit(repo, c, keys) {
            errors += 1;
            report(&f);
        }
    }
    Ok(errors)
}

/// Verifies everything reachable from the refs of `repo`; calls `report` for each problem.
///
/// # Errors
/// Only when the refs cannot be listed; object problems go to `report` and are counted.
pub fn fsck(repo: &Repo, report: &mut dyn FnMut(&Failure)) -> Result<FsckStats, Failure> {
    let list = refs::list(repo)?;
    let mut w = Walk {
        repo,
        seen: BTreeSet::new(),
        stats: FsckStats::default(),
        report,
        scratch: Scratch::new(),
    };
    for (_, commit) in &list {
        let mut cur = Some(*commit);
        let mut first = true;
        while let Some(c) = cur {
            if !first && !repo.has_object(ObjType::Commit, &c) {
                break;
            }
            first = false;
            if !w.seen.insert((ObjType::Commit as u8, c)) {
                break;
            }
            cur = w.commit(&c);
        }
    }
    Ok(w.stats)
}

impl Walk<'_, '_> {
    fn fail(&mut self, f: Failure) {
        self.stats.errors += 1;
        (self.report)(&f);
    }

    /// Verifies commit `c` and its tree; returns its parent.
    fn commit(&mut self, c: &Checksum) -> Option<Checksum> {
        self.stats.objects += 1;
        let info = match self.repo.load_commit(c) {
            Ok(i) => i,
            Err(f) => {
                self.fail(f);
                return None;
            }
        };
        self.stats.commits += 1;
        self.dirmeta(&info.root_meta);
        self.tree(&info.root_tree, 0);
        info.parent
    }

    fn first_visit(&mut self, kind: ObjType, c: &Checksum) -> bool {
        let new = self.seen.insert((kind as u8, *c));
        if new {
            self.stats.objects += 1;
        }
        new
    }

    fn dirmeta(&mut self, c: &Checksum) {
        if !self.first_visit(ObjType::DirMeta, c) {
            return;
        }
        let r = self.repo.load_metadata(ObjType::DirMeta, c).and_then(|b| {
            Meta::parse_dirmeta(&b)
                .map(|_| ())
                .map_err(|e| Failure::on(ObjType::DirMeta, c, e.into()))
        });
        if let Err(f) = r {
            self.fail(f);
        }
    }

    fn tree(&mut self, c: &Checksum, depth: usize) {
        if !self.first_visit(ObjType::DirTree, c) {
            return;
        }
        if depth > MAX_DEPTH {
            return self.fail(Failure::on(
                ObjType::DirTree,
                c,
                Error::Limit("directory depth"),
            ));
        }
        let bytes = match self.repo.load_metadata(ObjType::DirTree, c) {
            Ok(b) => b,
            Err(f) => return self.fail(f),
        };
        let dt = match DirTree::parse(&bytes) {
            Ok(d) => d,
            Err(e) => return self.fail(Failure::on(ObjType::DirTree, c, e.into())),
        };
        for f in &dt.files {
            self.file(f.csum);
        }
        for d in &dt.dirs {
            self.dirmeta(d.meta);
            self.tree(d.tree, depth + 1);
        }
    }

    fn file(&mut self, c: &Checksum) {
        if !self.first_visit(ObjType::File, c) {
            return;
        }
        let r = Content::open(self.repo, c, &mut self.scratch).and_then(|mut content| {
            content.drain()?;
            content.finish()
        });
        if let Err(e) = r {
            self.fail(Failure::on(ObjType::File, c, e));
        }
    }
}
