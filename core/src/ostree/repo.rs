//! An open repository: its directory fd, its mode, its optional parent, and verified object
//! loading (ostree-format.md §1).
//!
//! Objects are opened relative to the `objects/` fd by a path made only of hex digits we
//! produced (`XX/REST.ext`), so it cannot leave that directory; the last component is opened
//! with `O_NOFOLLOW`.

use super::config::{self, Mode};
use super::object::{Commit, CommitInfo, ObjType};
use super::{verify, Checksum, Failure, OResult, MAX_METADATA_SIZE};
use crate::error::{Errno, Error};
use alloc::boxed::Box;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, Mode as FsMode, OFlags, CWD};

/// How many `core.parent` links we follow.
const MAX_PARENTS: usize = 8;

/// An open OSTree repository.
#[derive(Debug)]
pub struct Repo {
    dir: OwnedFd,
    objects: OwnedFd,
    mode: Mode,
    parent: Option<Box<Repo>>,
}

/// `openat(dir, path, O_RDONLY|O_DIRECTORY|O_CLOEXEC)`.
pub(crate) fn open_dir(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Error> {
    fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        FsMode::empty(),
    )
    .map_err(|e| Error::sys("openat", e))
}

/// Reads the whole file `fd` (at most `limit` bytes).
///
/// # Errors
/// `Error::Limit` when it is larger, `Error::Sys` for read failures.
pub(crate) fn read_all(
    fd: BorrowedFd<'_>,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let st = fs::fstat(fd).map_err(|e| Error::sys("fstat", e))?;
    let size = usize::try_from(st.st_size).unwrap_or(usize::MAX);
    if size > limit {
        return Err(Error::Limit(what));
    }
    let mut buf = alloc::vec![0u8; size.saturating_add(1).min(limit.saturating_add(1))];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len > limit {
                return Err(Error::Limit(what));
            }
            buf.resize(len.saturating_add(4096).min(limit.saturating_add(1)), 0);
        }
        let n = rustix::io::read(fd, &mut buf[len..]).map_err(|e| Error::sys("read", e))?;
        if n == 0 {
            break;
        }
        len += n;
    }
    if len > limit {
        return Err(Error::Limit(what));
    }
    buf.truncate(len);
    Ok(buf)
}

/// `XX/REST.ext[z]`: the loose object path relative to `objects/` (`_ostree_loose_path`).
pub(crate) struct ObjPath {
    buf: [u8; 80],
    len: usize,
}

impl ObjPath {
    pub(crate) fn new(csum: &Checksum, kind: ObjType, archive: bool) -> Self {
        let hex = super::checksum_hex(csum);
        let mut buf = [0u8; 80];
        buf[..2].copy_from_slice(&hex[..2]);
        buf[2] = b'/';
        buf[3..65].copy_from_slice(&hex[2..]);
        buf[65] = b'.';
        let ext = kind.ext().as_bytes();
        buf[66..66 + ext.len()].copy_from_slice(ext);
        let mut len = 66 + ext.len();
        if archive && kind == ObjType::File {
            buf[len] = b'z';
            len += 1;
        }
        ObjPath { buf, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex, '/', '.' and letters were written.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Repo {
    /// Opens the repository whose directory is `dir`: reads `config` and follows `core.parent`.
    ///
    /// # Errors
    /// A missing or unreadable `config` or `objects/`, or a refused config (see
    /// [`config::parse`]).
    pub fn open(dir: OwnedFd) -> OResult<Repo> {
        Self::open_depth(dir, 0)
    }

    /// Opens the repository at `path` (relative to the current directory or absolute).
    ///
    /// # Errors
    /// As [`Repo::open`], plus failing to open `path`.
    pub fn open_path(path: &str) -> OResult<Repo> {
        Self::open(open_dir(CWD, path)?)
    }

    fn open_depth(dir: OwnedFd, depth: usize) -> OResult<Repo> {
        let cfg_fd = fs::openat(
            &dir,
            "config",
            OFlags::RDONLY | OFlags::CLOEXEC,
            FsMode::empty(),
        )
        .map_err(|e| Error::sys("openat config", e))?;
        let text = read_all(cfg_fd.as_fd(), 1 << 20, "config size")?;
        let cfg = config::parse(&text)?;
        let objects = open_dir(dir.as_fd(), "objects").map_err(|e| match e {
            Error::Sys { errno, .. } => Error::sys("openat objects", errno),
            e => e,
        })?;
        let parent = match cfg.parent {
            None => None,
            Some(_) if depth >= MAX_PARENTS => return Err(Error::Limit("core.parent chain").into()),
            Some(p) => {
                let pfd = open_dir(CWD, p).map_err(|e| match e {
                    Error::Sys { errno, .. } => Error::sys("openat core.parent", errno),
                    e => e,
                })?;
                Some(Box::new(Self::open_depth(pfd, depth + 1)?))
            }
        };
        Ok(Repo {
            dir,
            objects,
            mode: cfg.mode,
            parent,
        })
    }

    /// The repository mode from `config`.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The repository directory.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The `objects/` directory.
    pub fn objects(&self) -> BorrowedFd<'_> {
        self.objects.as_fd()
    }

    /// The `core.parent` repository, if any.
    pub fn parent(&self) -> Option<&Repo> {
        self.parent.as_deref()
    }

    /// Opens object `csum` of `kind` read-only, here or in a parent repository; returns the fd
    /// and the repository that holds it. A symlink object (bare repos) is opened `O_PATH`.
    ///
    /// # Errors
    /// `Error::Sys` (`ENOENT` when no repository in the chain has it).
    pub fn open_object(&self, kind: ObjType, csum: &Checksum) -> Result<(OwnedFd, &Repo), Error> {
        let mut repo = self;
        loop {
            let path = ObjPath::new(csum, kind, repo.mode == Mode::Archive);
            // NONBLOCK: a FIFO planted as an object must not hang us (no effect on files).
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY
                | OFlags::NONBLOCK;
            match fs::openat(&repo.objects, path.as_str(), flags, FsMode::empty()) {
                Ok(fd) => return Ok((fd, repo)),
                Err(Errno::LOOP) if kind == ObjType::File => {
                    let fd = fs::openat(
                        &repo.objects,
                        path.as_str(),
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        FsMode::empty(),
                    )
                    .map_err(|e| Error::sys("openat", e))?;
                    return Ok((fd, repo));
                }
                Err(Errno::NOENT) => match repo.parent.as_deref() {
                    Some(p) => repo = p,
                    None => return Err(Error::sys("openat", Errno::NOENT)),
                },
                Err(e) => return Err(Error::sys("openat", e)),
            }
        }
    }

    /// True when object `csum` of `kind` exists here or in a parent.
    pub fn has_object(&self, kind: ObjType, csum: &Checksum) -> bool {
        let mut repo = Some(self);
        while let Some(r) = repo {
            let path = ObjPath::new(csum, kind, r.mode == Mode::Archive);
            if fs::statat(&r.objects, path.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                return true;
            }
            repo = r.parent.as_deref();
        }
        false
    }

    /// Reads metadata object `csum` and checks that its SHA-256 is `csum` and its size at most
    /// 10 MiB. The caller parses it.
    ///
    /// # Errors
    /// A [`Failure`] naming the object: missing, too large, or checksum mismatch.
    pub fn load_metadata(&self, kind: ObjType, csum: &Checksum) -> OResult<Vec<u8>> {
        let on = |e| Failure::on(kind, csum, e);
        let (fd, _) = self.open_object(kind, csum).map_err(on)?;
        let st = fs::fstat(&fd).map_err(|e| on(Error::sys("fstat", e)))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(on(Error::State("not a regular file")));
        }
        let bytes = read_all(fd.as_fd(), MAX_METADATA_SIZE, "metadata object size").map_err(on)?;
        verify::expect(csum, verify::sha256(&bytes)).map_err(on)?;
        Ok(bytes)
    }

    /// Loads, verifies and parses commit `csum`.
    ///
    /// # Errors
    /// As [`Repo::load_metadata`], or a parse failure naming the commit.
    pub fn load_commit(&self, csum: &Checksum) -> OResult<CommitInfo> {
        let bytes = self.load_metadata(ObjType::Commit, csum)?;
        let c = Commit::parse(&bytes).map_err(|e| Failure::on(ObjType::Commit, csum, e.into()))?;
        Ok(CommitInfo::from_commit(&c))
    }

    /// True when `state/<csum>.commitpartial` exists: the commit's objects may be incomplete
    /// (ostree-format.md §1.4). Checkout refuses such commits.
    ///
    /// # Errors
    /// `Error::Sys` for a failure other than "does not exist".
    pub fn is_partial(&self, csum: &Checksum) -> Result<bool, Error> {
        let hex = super::checksum_hex(csum);
        let mut name = [0u8; 6 + 64 + 14];
        name[..6].copy_from_slice(b"state/");
        name[6..70].copy_from_slice(&hex);
        name[70..].copy_from_slice(b".commitpartial");
        let name = core::str::from_utf8(&name).unwrap_or("");
        match fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::sys("stat commitpartial", e)),
        }
    }
}
