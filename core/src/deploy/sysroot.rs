//! The real [`Ops`]: directory fds on the root partition's `ostree/` (STYLE.md §3).
//!
//! `ostree/`, `ostree/deploy/` and `ostree/state/` are opened once (`O_NOFOLLOW`) and every
//! operation is one `*at` syscall on a single validated name, so nothing ever follows a
//! symlink planted in the layout. The repository side (resolve, partial check, checkout) is a
//! [`Source`], so the same code serves the real OSTree repository and the tests' fakes.

use super::{Commit, Dir, NameBuf, Ops, Progress};
use crate::error::{Error, Result};
use crate::fs;
use crate::name::Name;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// Largest state file read (`state/trial`, `state/failed` are one short line).
const STATE_FILE_MAX: usize = 4096;

/// The repository side of a deployment.
pub trait Source {
    /// The commit `rev` names.
    fn resolve(&mut self, rev: &str) -> Result<Commit>;
    /// True when the repository marks `commit` partial.
    fn is_partial(&mut self, commit: &Commit) -> Result<bool>;
    /// As [`Ops::has_keys`].
    fn has_keys(&mut self) -> bool;
    /// As [`Ops::verify`].
    fn verify(&mut self, commit: &Commit) -> Result<()>;
    /// As [`Ops::timestamp`].
    fn timestamp(&mut self, commit: &Commit) -> Result<u64>;
    /// Checks `commit` out into the new directory `name` in `dir`, verifying every object;
    /// setuid/setgid bits and file capabilities only when `trusted`. Returns the number of
    /// files stripped of them.
    fn checkout(
        &mut self,
        commit: &Commit,
        dir: BorrowedFd<'_>,
        name: Name<'_>,
        trusted: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64>;
}

/// `ostree/` of a mounted root partition, plus the repository to deploy from.
pub struct Sysroot<S> {
    top: OwnedFd,
    deploy: Option<OwnedFd>,
    state: Option<OwnedFd>,
    pub source: S,
}

fn name(bytes: &[u8]) -> Result<Name<'_>> {
    Name::new(bytes).map_err(Error::Parse)
}

/// `Ok(None)` for `ENOENT`.
fn absent_ok<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Sys {
            errno: Errno::NOENT,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl<S: Source> Sysroot<S> {
    /// Opens `ostree/` on the partition whose root is `partition`.
    ///
    /// # Errors
    /// `Sys { op: "openat" }` (`ENOENT`: a factory board without `ostree/`).
    pub fn open(partition: BorrowedFd<'_>, source: S) -> Result<Self> {
        let top = fs::open_dir_at(partition, name(b"ostree")?)?;
        Ok(Sysroot {
            top,
            deploy: None,
            state: None,
            source,
        })
    }

    /// The fd of `ostree/`.
    pub fn top(&self) -> BorrowedFd<'_> {
        self.top.as_fd()
    }

    fn sub_name(dir: Dir) -> &'static [u8] {
        match dir {
            Dir::Top => b".",
            Dir::Deploy => b"deploy",
            Dir::State => b"state",
        }
    }

    /// The fd of `dir`, `None` while it does not exist.
    fn fd(&mut self, dir: Dir) -> Result<Option<BorrowedFd<'_>>> {
        let slot = match dir {
            Dir::Top => return Ok(Some(self.top.as_fd())),
            Dir::Deploy => &mut self.deploy,
            Dir::State => &mut self.state,
        };
        if slot.is_none() {
            *slot = absent_ok(fs::open_dir_at(
                self.top.as_fd(),
                name(Self::sub_name(dir))?,
            ))?;
        }
        Ok(slot.as_ref().map(|f| f.as_fd()))
    }

    fn fd_required(&mut self, dir: Dir) -> Result<BorrowedFd<'_>> {
        self.fd(dir)?.ok_or(Error::sys("openat", Errno::NOENT))
    }

    /// The deployment whose directory is the inode `(dev, ino)` (a bind mount keeps both), for
    /// `ramdisk deploy` to find the one it runs from.
    ///
    /// # Errors
    /// A failed listing of `deploy/`.
    pub fn find(&mut self, dev: u64, ino: u64) -> Result<Option<super::Deployment>> {
        let Some(fd) = self.fd(Dir::Deploy)? else {
            return Ok(None);
        };
        for n in list_dir(fd)? {
            let Some(d) = super::Deployment::parse(&n) else {
                continue;
            };
            if let Ok(st) = fs::lstat_at(fd, name(&n)?) {
                if (st.st_dev, st.st_ino) == (dev, ino) {
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }
}

fn list_dir(fd: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>> {
    let dir = rustix::fs::Dir::read_from(fd).map_err(|e| Error::sys("openat", e))?;
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|e| Error::sys("getdents", e))?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

impl<S: Source> Ops for Sysroot<S> {
    fn list(&mut self, dir: Dir) -> Result<Vec<Vec<u8>>> {
        match self.fd(dir)? {
            Some(fd) => list_dir(fd),
            None => Ok(Vec::new()),
        }
    }

    fn read_link(&mut self, dir: Dir, n: &[u8]) -> Result<Option<NameBuf>> {
        let Some(fd) = self.fd(dir)? else {
            return Ok(None);
        };
        match rustix::fs::readlinkat(fd, name(n)?.as_bytes(), Vec::new()) {
            // A target too long for any deployment still marks the link as present.
            Ok(t) => Ok(Some(
                NameBuf::from_slice(t.as_bytes())
                    .unwrap_or_else(|()| NameBuf::from_slice(b"?").unwrap_or_default()),
            )),
            Err(Errno::NOENT) | Err(Errno::INVAL) => Ok(None),
            Err(e) => Err(Error::sys("readlinkat", e)),
        }
    }

    fn read_file(&mut self, dir: Dir, n: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(fd) = self.fd(dir)? else {
            return Ok(None);
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(fd, name(n)?.as_bytes(), flags, Mode::empty()) {
            Ok(f) => f,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(Error::sys("openat", e)),
        };
        let mut buf = alloc::vec![0u8; STATE_FILE_MAX];
        let mut len = 0;
        while let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
            match rustix::io::read(&file, rest) {
                Ok(0) => break,
                Ok(k) => len += k,
                Err(Errno::INTR) => {}
                Err(e) => return Err(Error::sys("read", e)),
            }
        }
        buf.truncate(len);
        Ok(Some(buf))
    }

    fn is_dir(&mut self, dir: Dir, n: &[u8]) -> Result<bool> {
        let Some(fd) = self.fd(dir)? else {
            return Ok(false);
        };
        match absent_ok(fs::lstat_at(fd, name(n)?))? {
            Some(st) => Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            None => Ok(false),
        }
    }

    fn make_dir(&mut self, dir: Dir) -> Result<()> {
        if dir == Dir::Top || self.fd(dir)?.is_some() {
            return Ok(());
        }
        match rustix::fs::mkdirat(&self.top, Self::sub_name(dir), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("mkdirat", e)),
        }
        self.fd_required(dir).map(|_| ())
    }

    fn remove(&mut self, dir: Dir, n: &[u8]) -> Result<()> {
        let Some(fd) = self.fd(dir)? else {
            return Ok(());
        };
        absent_ok(fs::remove::remove_tree(fd, name(n)?)).map(|_| ())
    }

    fn symlink(&mut self, target: &[u8], dir: Dir, n: &[u8]) -> Result<()> {
        let fd = self.fd_required(dir)?;
        rustix::fs::symlinkat(target, fd, name(n)?.as_bytes())
            .map_err(|e| Error::sys("symlinkat", e))
    }

    fn write_file(&mut self, dir: Dir, n: &[u8], data: &[u8]) -> Result<()> {
        let fd = self.fd_required(dir)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let file = rustix::fs::openat(fd, name(n)?.as_bytes(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| Error::sys("openat", e))?;
        fs::write_all(file.as_fd(), data)?;
        // The data durable before the caller renames the file over the old one.
        rustix::fs::fsync(&file).map_err(|e| Error::sys("fsync", e))
    }

    fn rename(&mut self, dir: Dir, from: &[u8], to: &[u8]) -> Result<()> {
        let fd = self.fd_required(dir)?;
        fs::rename(fd, name(from)?, fd, name(to)?)
    }

    fn syncfs(&mut self) -> Result<()> {
        fs::syncfs(self.top.as_fd())
    }

    fn resolve(&mut self, rev: &str) -> Result<Commit> {
        self.source.resolve(rev)
    }

    fn is_partial(&mut self, commit: &Commit) -> Result<bool> {
        self.source.is_partial(commit)
    }

    fn has_keys(&mut self) -> bool {
        self.source.has_keys()
    }

    fn verify(&mut self, commit: &Commit) -> Result<()> {
        self.source.verify(commit)
    }

    fn timestamp(&mut self, commit: &Commit) -> Result<u64> {
        self.source.timestamp(commit)
    }

    fn checkout(
        &mut self,
        commit: &Commit,
        n: &[u8],
        trusted: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        let n = name(n)?;
        let fd = self
            .deploy
            .as_ref()
            .map(|f| f.as_fd())
            .ok_or(Error::sys("openat", Errno::NOENT))?;
        self.source.checkout(commit, fd, n, trusted, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    /// A fake repository whose "checkout" writes one file per commit byte count.
    struct Fake {
        refs: Vec<(&'static str, Commit)>,
        partial: Vec<Commit>,
    }

    impl Source for Fake {
        fn resolve(&mut self, rev: &str) -> Result<Commit> {
            self.refs
                .iter()
                .find(|r| r.0 == rev)
                .map(|r| r.1)
                .ok_or(Error::sys("openat", Errno::NOENT))
        }
        fn is_partial(&mut self, commit: &Commit) -> Result<bool> {
            Ok(self.partial.contains(commit))
        }
        fn has_keys(&mut self) -> bool {
            false
        }
        fn verify(&mut self, _: &Commit) -> Result<()> {
            Err(crate::sign::UNSIGNED)
        }
        fn timestamp(&mut self, commit: &Commit) -> Result<u64> {
            Ok(u64::from(commit[0]))
        }
        fn checkout(
            &mut self,
            commit: &Commit,
            dir: BorrowedFd<'_>,
            n: Name<'_>,
            _trusted: bool,
            progress: &mut dyn FnMut(Progress),
        ) -> Result<u64> {
            rustix::fs::mkdirat(dir, n.as_bytes(), Mode::from_raw_mode(0o755))
                .map_err(|e| Error::sys("mkdirat", e))?;
            let d = fs::open_dir_at(dir, n)?;
            let f = rustix::fs::openat(
                &d,
                "id",
                OFlags::WRONLY | OFlags::CREATE,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|e| Error::sys("openat", e))?;
            rustix::io::write(&f, &commit[..1]).map_err(|e| Error::sys("write", e))?;
            progress(Progress { done: 1, total: 1 });
            Ok(0)
        }
    }

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(std::format!(
            "ramdisk-core-deploy-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("ostree/repo")).unwrap();
        Tmp(p)
    }

    fn open(root: &Path, refs: Vec<(&'static str, Commit)>) -> Sysroot<Fake> {
        let fd = fs::open_dir(root.to_str().unwrap()).unwrap();
        Sysroot::open(
            fd.as_fd(),
            Fake {
                refs,
                partial: Vec::new(),
            },
        )
        .unwrap()
    }

    fn target(p: &Path) -> String {
        std::fs::read_link(p)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    }

    use std::string::{String, ToString};

    #[test]
    fn real_fs_update_trial_rollback_and_cleanup() {
        let t = tmp("cycle");
        let root = t.0.as_path();
        let a = Deployment {
            commit: [0xaa; 32],
            serial: 0,
        };
        let b = Deployment {
            commit: [0xbb; 32],
            serial: 0,
        };
        let opts = BootOptions {
            rev: "master",
            update: true,
            rollback: false,
            trials: 1,
            tag: 5,
            allow_downgrade: false,
        };

        // Factory board with no repo content: the partition root.
        let mut s = open(root, Vec::new());
        assert_eq!(boot(&mut s, &opts, &mut |_| {}), Boot::PartitionRoot);

        let mut s = open(root, std::vec![("master", a.commit)]);
        assert_eq!(
            boot(&mut s, &BootOptions { trials: 0, ..opts }, &mut |_| {}),
            Boot::Deployment(a)
        );
        let ad = root
            .join("ostree/deploy")
            .join(std::str::from_utf8(&a.name()).unwrap());
        assert_eq!(std::fs::read(ad.join("id")).unwrap(), [0xaa]);
        assert_eq!(
            target(&root.join("ostree/current")),
            std::str::from_utf8(&a.link_target()).unwrap()
        );

        // Leftovers of an interrupted run.
        std::fs::create_dir_all(root.join("ostree/deploy/x.0.tmp-3/sub")).unwrap();
        symlink("deploy/nowhere", root.join("ostree/current.tmp")).unwrap();

        let mut s = open(root, std::vec![("master", b.commit)]);
        assert_eq!(boot(&mut s, &opts, &mut |_| {}), Boot::Deployment(b));
        assert!(!root.join("ostree/deploy/x.0.tmp-3").exists());
        assert!(std::fs::symlink_metadata(root.join("ostree/current.tmp")).is_err());
        assert_eq!(
            target(&root.join("ostree/previous")),
            std::str::from_utf8(&a.link_target()).unwrap()
        );
        let trial = std::fs::read_to_string(root.join("ostree/state/trial")).unwrap();
        assert_eq!(
            trial,
            std::format!("{} 0\n", std::str::from_utf8(&b.name()).unwrap())
        );

        // Trial used up: the next boot rolls back and drops B.
        let mut s = open(root, std::vec![("master", b.commit)]);
        assert_eq!(boot(&mut s, &opts, &mut |_| {}), Boot::Deployment(a));
        assert_eq!(
            target(&root.join("ostree/current")),
            std::str::from_utf8(&a.link_target()).unwrap()
        );
        assert!(!root.join("ostree/state/trial").exists());
        assert!(!root.join("ostree/previous").exists());
        let left: Vec<_> = std::fs::read_dir(root.join("ostree/deploy"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1);
        assert_eq!(
            std::fs::read_to_string(root.join("ostree/state/failed"))
                .unwrap()
                .trim_end(),
            std::str::from_utf8(&b.name()).unwrap()
        );

        // The booted deployment is found by inode.
        let st = rustix::fs::stat(ad.to_str().unwrap()).unwrap();
        assert_eq!(s.find(st.st_dev, st.st_ino), Ok(Some(a)));
    }

    #[test]
    fn real_fs_never_follows_a_planted_symlink() {
        let t = tmp("planted");
        let root = t.0.as_path();
        let outside = root.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("ostree/deploy")).unwrap();
        let mut s = open(root, std::vec![("master", [0xaa; 32])]);
        let opts = BootOptions {
            rev: "master",
            update: true,
            rollback: false,
            trials: 0,
            tag: 1,
            allow_downgrade: false,
        };
        let mut failed = 0;
        boot(&mut s, &opts, &mut |e| {
            failed += matches!(e, Event::Failed(_)) as u32
        });
        assert!(failed > 0);
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(std::fs::symlink_metadata(root.join("ostree/deploy"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
