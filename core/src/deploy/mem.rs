//! In-memory [`Ops`] for the crash tests: a tree of nodes, a fake repository, and a crash model.
//!
//! Crash model (reliability.md §2, §6 option 2): every mutating operation may be the last one
//! that ran. Operations since the last `syncfs` reach the disk as an in-order prefix (the ext4
//! journal commits metadata in order), and file data written without `fsync` since then is lost
//! (delalloc: the name is there, the file is empty). `write_file` fsyncs, so its data survives.

use super::{Commit, Dir, NameBuf, Ops, Progress};
use crate::error::{Error, Result};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use rustix::io::Errno;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir(BTreeMap<Vec<u8>, Node>),
    File { data: Vec<u8>, durable: bool },
    Link(Vec<u8>),
}

impl Node {
    pub fn empty_dir() -> Node {
        Node::Dir(BTreeMap::new())
    }

    pub fn entries(&self) -> Option<&BTreeMap<Vec<u8>, Node>> {
        match self {
            Node::Dir(m) => Some(m),
            _ => None,
        }
    }

    fn entries_mut(&mut self) -> Option<&mut BTreeMap<Vec<u8>, Node>> {
        match self {
            Node::Dir(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, dir: Dir) -> Option<&BTreeMap<Vec<u8>, Node>> {
        let top = self.entries()?;
        match dir {
            Dir::Top => Some(top),
            Dir::Deploy => top.get(&b"deploy"[..])?.entries(),
            Dir::State => top.get(&b"state"[..])?.entries(),
        }
    }

    fn get_mut(&mut self, dir: Dir) -> Option<&mut BTreeMap<Vec<u8>, Node>> {
        let top = self.entries_mut()?;
        match dir {
            Dir::Top => Some(top),
            Dir::Deploy => top.get_mut(&b"deploy"[..])?.entries_mut(),
            Dir::State => top.get_mut(&b"state"[..])?.entries_mut(),
        }
    }

    /// Marks every file durable (what `syncfs` does).
    fn sync(&mut self) {
        match self {
            Node::Dir(m) => m.values_mut().for_each(Node::sync),
            Node::File { durable, .. } => *durable = true,
            Node::Link(_) => {}
        }
    }

    /// Empties every file whose data was never synced (what a power cut does).
    fn lose_unsynced(&mut self) {
        match self {
            Node::Dir(m) => m.values_mut().for_each(Node::lose_unsynced),
            Node::File { data, durable } if !*durable => data.clear(),
            _ => {}
        }
    }
}

/// One mutating operation, as recorded for replay.
#[derive(Clone, Debug)]
enum Op {
    MakeDir(Dir),
    Remove(Dir, Vec<u8>),
    Symlink(Vec<u8>, Dir, Vec<u8>),
    /// `durable`: fsynced by the writer.
    Write(Dir, Vec<u8>, Vec<u8>, bool),
    Rename(Dir, Vec<u8>, Vec<u8>),
    /// A directory or file of a checkout: `deploy/<tree>/[<file>]`.
    CheckoutDir(Vec<u8>),
    CheckoutFile(Vec<u8>, Vec<u8>, Vec<u8>),
}

fn apply(root: &mut Node, op: &Op) -> Result<()> {
    let noent = Error::sys("test", Errno::NOENT);
    let exist = Error::sys("test", Errno::EXIST);
    match op {
        Op::MakeDir(d) => {
            let name: &[u8] = if *d == Dir::Deploy {
                b"deploy"
            } else {
                b"state"
            };
            root.get_mut(Dir::Top)
                .ok_or(noent)?
                .entry(name.to_vec())
                .or_insert_with(Node::empty_dir);
        }
        Op::Remove(d, n) => {
            if let Some(m) = root.get_mut(*d) {
                m.remove(n);
            }
        }
        Op::Symlink(t, d, n) => {
            let m = root.get_mut(*d).ok_or(noent)?;
            if m.contains_key(n) {
                return Err(exist);
            }
            m.insert(n.clone(), Node::Link(t.clone()));
        }
        Op::Write(d, n, data, durable) => {
            let m = root.get_mut(*d).ok_or(noent)?;
            m.insert(
                n.clone(),
                Node::File {
                    data: data.clone(),
                    durable: *durable,
                },
            );
        }
        Op::Rename(d, from, to) => {
            let m = root.get_mut(*d).ok_or(noent)?;
            let node = m.remove(from).ok_or(noent)?;
            m.insert(to.clone(), node);
        }
        Op::CheckoutDir(n) => {
            let m = root.get_mut(Dir::Deploy).ok_or(noent)?;
            if m.contains_key(n) {
                return Err(exist);
            }
            m.insert(n.clone(), Node::empty_dir());
        }
        Op::CheckoutFile(tree, f, data) => {
            let m = root.get_mut(Dir::Deploy).ok_or(noent)?;
            let t = m.get_mut(tree).and_then(Node::entries_mut).ok_or(noent)?;
            t.insert(
                f.clone(),
                Node::File {
                    data: data.clone(),
                    durable: false,
                },
            );
        }
    }
    Ok(())
}

/// A commit's files: (name, content).
pub type Files = Vec<(Vec<u8>, Vec<u8>)>;

/// The fake repository: refs, partial commits, each commit's files, timestamp and signature.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub refs: BTreeMap<String, Commit>,
    pub partial: Vec<Commit>,
    pub trees: BTreeMap<Commit, Files>,
    /// A checkout fails verification after this many files.
    pub corrupt_after: Option<usize>,
    /// Commit timestamps; a commit without one cannot be read.
    pub timestamps: BTreeMap<Commit, u64>,
    /// Trusted keys are installed.
    pub keys: bool,
    /// What verifying each commit's signature gives; absent = unsigned.
    pub signatures: BTreeMap<Commit, Result<()>>,
    /// Setuid files in every commit (stripped from an untrusted checkout).
    pub privileged: u64,
}

pub struct MemFs {
    pub now: Node,
    durable: Node,
    pending: Vec<Op>,
    /// Mutating operations (syncfs included) allowed before the power cut; `None` = no cut.
    pub budget: Option<usize>,
    pub crashed: bool,
    pub repo: Repo,
    /// Mutating operations that ran.
    pub count: usize,
    /// Every checkout started: the commit and whether it was trusted.
    pub checkouts: Vec<(Commit, bool)>,
}

const CRASH: Error = Error::State("power cut");

impl MemFs {
    pub fn new(root: Node, repo: Repo) -> MemFs {
        let mut durable = root.clone();
        durable.sync();
        MemFs {
            now: durable.clone(),
            durable,
            pending: Vec::new(),
            budget: None,
            crashed: false,
            repo,
            count: 0,
            checkouts: Vec::new(),
        }
    }

    /// Every state the disk may hold after the power cut.
    pub fn crash_states(&self) -> Vec<Node> {
        (0..=self.pending.len())
            .map(|j| {
                let mut t = self.durable.clone();
                for op in self.pending.iter().take(j) {
                    // Each op succeeded on `now` after the same prefix, so it applies here.
                    let _ = apply(&mut t, op);
                }
                t.lose_unsynced();
                t
            })
            .collect()
    }

    fn alive(&self) -> Result<()> {
        if self.crashed {
            Err(CRASH)
        } else {
            Ok(())
        }
    }

    fn run(&mut self, op: Op) -> Result<()> {
        self.alive()?;
        if let Some(b) = self.budget.as_mut() {
            if *b == 0 {
                self.crashed = true;
                return Err(CRASH);
            }
            *b -= 1;
        }
        apply(&mut self.now, &op)?;
        self.count += 1;
        self.pending.push(op);
        Ok(())
    }
}

impl Ops for MemFs {
    fn list(&mut self, dir: Dir) -> Result<Vec<Vec<u8>>> {
        self.alive()?;
        Ok(self
            .now
            .get(dir)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn read_link(&mut self, dir: Dir, name: &[u8]) -> Result<Option<NameBuf>> {
        self.alive()?;
        match self.now.get(dir).and_then(|m| m.get(name)) {
            Some(Node::Link(t)) => Ok(NameBuf::from_slice(t).ok()),
            _ => Ok(None),
        }
    }

    fn read_file(&mut self, dir: Dir, name: &[u8]) -> Result<Option<Vec<u8>>> {
        self.alive()?;
        match self.now.get(dir).and_then(|m| m.get(name)) {
            Some(Node::File { data, .. }) => Ok(Some(data.clone())),
            Some(_) => Err(Error::sys("test", Errno::ISDIR)),
            None => Ok(None),
        }
    }

    fn is_dir(&mut self, dir: Dir, name: &[u8]) -> Result<bool> {
        self.alive()?;
        Ok(matches!(
            self.now.get(dir).and_then(|m| m.get(name)),
            Some(Node::Dir(_))
        ))
    }

    fn make_dir(&mut self, dir: Dir) -> Result<()> {
        self.alive()?;
        if self.now.get(dir).is_some() {
            return Ok(());
        }
        self.run(Op::MakeDir(dir))
    }

    fn remove(&mut self, dir: Dir, name: &[u8]) -> Result<()> {
        self.alive()?;
        if !self.now.get(dir).is_some_and(|m| m.contains_key(name)) {
            return Ok(());
        }
        self.run(Op::Remove(dir, name.to_vec()))
    }

    fn symlink(&mut self, target: &[u8], dir: Dir, name: &[u8]) -> Result<()> {
        self.run(Op::Symlink(target.to_vec(), dir, name.to_vec()))
    }

    fn write_file(&mut self, dir: Dir, name: &[u8], data: &[u8]) -> Result<()> {
        self.run(Op::Write(dir, name.to_vec(), data.to_vec(), true))
    }

    fn rename(&mut self, dir: Dir, from: &[u8], to: &[u8]) -> Result<()> {
        self.run(Op::Rename(dir, from.to_vec(), to.to_vec()))
    }

    fn syncfs(&mut self) -> Result<()> {
        self.alive()?;
        if let Some(b) = self.budget.as_mut() {
            if *b == 0 {
                self.crashed = true;
                return Err(CRASH);
            }
            *b -= 1;
        }
        self.count += 1;
        self.now.sync();
        self.durable = self.now.clone();
        self.pending.clear();
        Ok(())
    }

    fn resolve(&mut self, rev: &str) -> Result<Commit> {
        self.alive()?;
        self.repo
            .refs
            .get(rev)
            .copied()
            .ok_or(Error::sys("openat", Errno::NOENT))
    }

    fn is_partial(&mut self, commit: &Commit) -> Result<bool> {
        self.alive()?;
        Ok(self.repo.partial.contains(commit))
    }

    fn has_keys(&mut self) -> bool {
        self.repo.keys
    }

    fn verify(&mut self, commit: &Commit) -> Result<()> {
        self.alive()?;
        self.repo
            .signatures
            .get(commit)
            .copied()
            .unwrap_or(Err(crate::sign::UNSIGNED))
    }

    fn timestamp(&mut self, commit: &Commit) -> Result<u64> {
        self.alive()?;
        self.repo
            .timestamps
            .get(commit)
            .copied()
            .ok_or(Error::sys("openat", Errno::NOENT))
    }

    fn checkout(
        &mut self,
        commit: &Commit,
        name: &[u8],
        trusted: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        self.checkouts.push((*commit, trusted));
        let files = self
            .repo
            .trees
            .get(commit)
            .cloned()
            .ok_or(Error::sys("openat", Errno::NOENT))?;
        self.run(Op::CheckoutDir(name.to_vec()))?;
        let total = files.len() as u64;
        for (i, (f, data)) in files.into_iter().enumerate() {
            if self.repo.corrupt_after == Some(i) {
                return Err(Error::Checksum {
                    expected: [1; 32],
                    actual: [2; 32],
                });
            }
            self.run(Op::CheckoutFile(name.to_vec(), f, data))?;
            progress(Progress {
                done: i as u64 + 1,
                total,
            });
        }
        Ok(if trusted { 0 } else { self.repo.privileged })
    }
}
