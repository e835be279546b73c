//! Durable object, partial-marker and ref writes into an `archive-z2` repository
//! (ostree-format.md §1, §1.2, §1.4).
//!
//! Crash behaviour of each write:
//! - [`TmpObject::commit`]: the bytes go to `tmp/.tmp-ramdisk-PID-N`, are `fsync`ed, then
//!   `renameat` to `objects/XX/REST.EXT`. The object name appears only with its full, synced
//!   content, so "present" always means "complete"; a crash leaves a stray file in `tmp/`.
//!   The directory entry itself becomes durable at the next [`Store::sync`].
//! - [`Store::mark_partial`]: `state/CSUM.commitpartial` is created and `state/` `fsync`ed before
//!   the caller fetches the commit's tree.
//! - [`Store::clear_partial`]: the caller first runs [`Store::sync`] (`syncfs`), so every object
//!   rename is on disk before the marker goes.
//! - [`Store::write_ref`]: the ref file is replaced whole (`layout::replace_file`), after the
//!   marker is gone.
//!
//! `Store` is `Sync`: several fetch threads store objects at once (each object has its own
//! temporary name; `mkdirat` of `objects/XX` tolerates `EEXIST`).

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::keyfile;
use super::layout::{create_unique, mkdir_exist_ok, open_dir, read_file, replace_file};
use crate::error::{Error, Result};
use crate::fs::write_all;
use crate::name::Name;
use crate::ostree::checksum_hex;

/// The object types a pull stores, with their file extension in an archive repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// `.commit`
    Commit,
    /// `.commitmeta` (detached metadata, named after its commit).
    CommitMeta,
    /// `.dirtree`
    DirTree,
    /// `.dirmeta`
    DirMeta,
    /// `.filez` (archive content object).
    Content,
}

impl ObjKind {
    /// The file extension, without the dot.
    pub const fn ext(self) -> &'static str {
        match self {
            ObjKind::Commit => "commit",
            ObjKind::CommitMeta => "commitmeta",
            ObjKind::DirTree => "dirtree",
            ObjKind::DirMeta => "dirmeta",
            ObjKind::Content => "filez",
        }
    }
}

/// Longest `REST.EXT` object file name: 62 hex + `.` + `commitmeta`.
const OBJ_NAME_MAX: usize = 62 + 1 + 10;

/// `XX` and `REST.EXT` for `csum` and `kind` (ostree-format.md §1.2).
pub fn object_names(csum: &[u8; 32], kind: ObjKind) -> ([u8; 2], heapless::Vec<u8, OBJ_NAME_MAX>) {
    let hex = checksum_hex(csum);
    let mut rest = heapless::Vec::new();
    // Capacity is exactly enough for 62 + 1 + the longest extension: these cannot fail.
    let _ = rest.extend_from_slice(hex.get(2..).unwrap_or_default());
    let _ = rest.push(b'.');
    let _ = rest.extend_from_slice(kind.ext().as_bytes());
    ([hex[0], hex[1]], rest)
}

/// An open `archive-z2` repository being written to.
pub struct Store {
    repo: OwnedFd,
    objects: OwnedFd,
    tmp: OwnedFd,
    state: OwnedFd,
}

impl Store {
    /// Opens the repository at `path` for writing.
    ///
    /// # Errors
    /// A failing `openat`; `State` when `config` has no `repo_version=1` or the mode is not
    /// `archive-z2` (pulling into bare repositories is not supported).
    pub fn open(path: &str) -> Result<Self> {
        let repo = open_dir(fs::CWD, path)?;
        let config = read_file(repo.as_fd(), "config", 1 << 20)?;
        let config =
            core::str::from_utf8(&config).map_err(|_| Error::State("config is not UTF-8"))?;
        match keyfile::core_mode(config) {
            Some("archive-z2") | Some("archive") => {}
            _ => {
                return Err(Error::State(
                    "only archive-z2 repositories can be pulled into",
                ))
            }
        }
        let objects = open_dir(repo.as_fd(), "objects")?;
        mkdir_exist_ok(repo.as_fd(), "tmp")?;
        mkdir_exist_ok(repo.as_fd(), "state")?;
        let tmp = open_dir(repo.as_fd(), "tmp")?;
        let state = open_dir(repo.as_fd(), "state")?;
        Ok(Store {
            repo,
            objects,
            tmp,
            state,
        })
    }

    /// Removes the temporary files ([`TMP_PREFIX`]`PID-N`) that an interrupted run of this tool
    /// left in `tmp/`: those whose PID is not a running process (another pull or `ostree sign`
    /// still writing keeps its files). Other files in `tmp/` (ostree's own) are not touched.
    /// Returns how many were removed.
    ///
    /// # Errors
    /// Reading `tmp/` or an `unlink` failing other than with `ENOENT`.
    pub fn clean_tmp(&self) -> Result<u32> {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let mut names = alloc::vec::Vec::new();
        let mut dir = fs::Dir::read_from(&self.tmp).map_err(|e| Error::sys("openat tmp", e))?;
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| Error::sys("getdents", e))?;
            let name = entry.file_name().to_bytes();
            let Some(pid) = tmp_owner(name) else { continue };
            if pid == me {
                continue;
            }
            let alive = match rustix::process::Pid::from_raw(pid) {
                Some(p) => rustix::process::test_kill_process(p) != Err(Errno::SRCH),
                None => false,
            };
            if !alive {
                names.push(alloc::ffi::CString::from(entry.file_name()));
            }
        }
        let mut removed = 0u32;
        for n in &names {
            match fs::unlinkat(&self.tmp, n.as_c_str(), AtFlags::empty()) {
                Ok(()) => removed = removed.saturating_add(1),
                Err(Errno::NOENT) => {}
                Err(e) => return Err(Error::sys("unlink", e)),
            }
        }
        Ok(removed)
    }

    /// The repository directory.
    pub fn repo(&self) -> BorrowedFd<'_> {
        self.repo.as_fd()
    }

    /// True when `objects/XX/REST.EXT` exists.
    ///
    /// # Errors
    /// A `stat` failure other than `ENOENT`.
    pub fn has(&self, csum: &[u8; 32], kind: ObjKind) -> Result<bool> {
        let (xx, rest) = object_names(csum, kind);
        let dir = match fs::openat(
            &self.objects,
            &xx[..],
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(d) => d,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Error::sys("openat", e)),
        };
        match fs::statat(&dir, &rest[..], AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::sys("stat", e)),
        }
    }

    /// Reads a stored metadata object (at most `limit` bytes) back.
    ///
    /// # Errors
    /// The failing syscall, or `Limit`.
    pub fn read(
        &self,
        csum: &[u8; 32],
        kind: ObjKind,
        limit: usize,
    ) -> Result<alloc::vec::Vec<u8>> {
        let (xx, rest) = object_names(csum, kind);
        let xx = core::str::from_utf8(&xx).map_err(|_| Error::State("hex"))?;
        let rest = core::str::from_utf8(&rest).map_err(|_| Error::State("hex"))?;
        let dir = open_dir(self.objects.as_fd(), xx)?;
        read_file(dir.as_fd(), rest, limit)
    }

    /// Starts writing object `csum` of `kind` into a temporary file.
    ///
    /// # Errors
    /// The failing `openat`.
    pub fn begin(&self, csum: &[u8; 32], kind: ObjKind) -> Result<TmpObject<'_>> {
        let mut name = [0u8; 40];
        let (fd, len) = create_unique(self.tmp.as_fd(), TMP_PREFIX, &mut name)?;
        Ok(TmpObject {
            store: self,
            fd,
            name,
            len,
            csum: *csum,
            kind,
            done: false,
        })
    }

    /// Stores a whole object that the caller has verified.
    ///
    /// # Errors
    /// The failing syscall.
    pub fn store(&self, csum: &[u8; 32], kind: ObjKind, bytes: &[u8]) -> Result<()> {
        let mut t = self.begin(csum, kind)?;
        t.write(bytes)?;
        t.commit()
    }

    /// Creates the empty `state/CSUM.commitpartial` marker and makes it durable.
    ///
    /// # Errors
    /// The failing syscall.
    pub fn mark_partial(&self, commit: &[u8; 32]) -> Result<()> {
        let name = partial_name(commit);
        let fd = fs::openat(
            &self.state,
            &name[..],
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| Error::sys("openat", e))?;
        fs::fsync(&fd).map_err(|e| Error::sys("fsync", e))?;
        fs::fsync(&self.state).map_err(|e| Error::sys("fsync", e))
    }

    /// True when `state/CSUM.commitpartial` exists.
    ///
    /// # Errors
    /// A `stat` failure other than `ENOENT`.
    pub fn is_partial(&self, commit: &[u8; 32]) -> Result<bool> {
        match fs::statat(
            &self.state,
            &partial_name(commit)[..],
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::sys("stat", e)),
        }
    }

    /// Removes the partial marker (call [`Store::sync`] first) and makes the removal durable.
    ///
    /// # Errors
    /// The failing syscall (`ENOENT` is success).
    pub fn clear_partial(&self, commit: &[u8; 32]) -> Result<()> {
        match fs::unlinkat(&self.state, &partial_name(commit)[..], AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::sys("unlink", e)),
        }
        fs::fsync(&self.state).map_err(|e| Error::sys("fsync", e))
    }

    /// `syncfs` on the repository: every object renamed so far is durable afterwards.
    ///
    /// # Errors
    /// `syncfs` and its errno.
    pub fn sync(&self) -> Result<()> {
        fs::syncfs(&self.repo).map_err(|e| Error::sys("syncfs", e))
    }

    /// Writes `refs/remotes/REMOTE/REF` (or `refs/heads/REF` when `remote` is `None`) as
    /// 64 hex digits and a newline, creating the ref's directories.
    ///
    /// # Errors
    /// `State` for an invalid remote or ref name; the failing syscall.
    pub fn write_ref(&self, remote: Option<&str>, refname: &str, commit: &[u8; 32]) -> Result<()> {
        let remote_ok = match remote {
            Some(r) => keyfile::valid_remote_name(r),
            None => true,
        };
        if !keyfile::valid_ref_name(refname) || !remote_ok {
            return Err(Error::State("invalid ref name"));
        }
        let refs = open_dir(self.repo.as_fd(), "refs")?;
        let mut dir = match remote {
            Some(r) => {
                mkdir_exist_ok(refs.as_fd(), "remotes")?;
                let remotes = open_dir(refs.as_fd(), "remotes")?;
                mkdir_exist_ok(remotes.as_fd(), r)?;
                open_dir(remotes.as_fd(), r)?
            }
            None => {
                mkdir_exist_ok(refs.as_fd(), "heads")?;
                open_dir(refs.as_fd(), "heads")?
            }
        };
        let (dirs, leaf) = refname.rsplit_once('/').unwrap_or(("", refname));
        for part in dirs.split('/').filter(|p| !p.is_empty()) {
            Name::new(part.as_bytes())?;
            mkdir_exist_ok(dir.as_fd(), part)?;
            dir = open_dir(dir.as_fd(), part)?;
        }
        Name::new(leaf.as_bytes())?;
        let mut line = [0u8; 65];
        line[..64].copy_from_slice(&checksum_hex(commit));
        line[64] = b'\n';
        replace_file(self.tmp.as_fd(), dir.as_fd(), leaf, &line)
    }
}

/// Prefix of every temporary file this tool creates in a repository's `tmp/`; the full name is
/// `PREFIX<pid>-<n>` ([`layout::create_unique`](super::layout)).
pub const TMP_PREFIX: &[u8] = b".tmp-ramdisk-";

/// The PID in a temporary file name `PREFIX<pid>-<n>`, `None` for any other name.
fn tmp_owner(name: &[u8]) -> Option<i32> {
    let rest = name.strip_prefix(TMP_PREFIX)?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (pid, n) = rest.split_at(dash);
    let n = n.get(1..)?;
    let digits = |d: &[u8]| !d.is_empty() && d.len() <= 10 && d.iter().all(u8::is_ascii_digit);
    if !digits(pid) || !digits(n) {
        return None;
    }
    core::str::from_utf8(pid).ok()?.parse().ok()
}

/// `CSUM.commitpartial` as a name.
fn partial_name(commit: &[u8; 32]) -> heapless::Vec<u8, 78> {
    let mut n = heapless::Vec::new();
    let _ = n.extend_from_slice(&checksum_hex(commit));
    let _ = n.extend_from_slice(b".commitpartial");
    n
}

/// An object being written to `tmp/`; dropped without [`TmpObject::commit`] it is unlinked.
pub struct TmpObject<'s> {
    store: &'s Store,
    fd: OwnedFd,
    name: [u8; 40],
    len: usize,
    csum: [u8; 32],
    kind: ObjKind,
    done: bool,
}

impl TmpObject<'_> {
    /// Appends `data`.
    ///
    /// # Errors
    /// `write` and its errno.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        write_all(self.fd.as_fd(), data)
    }

    /// `fsync`s the file and renames it to `objects/XX/REST.EXT` (replacing an identical
    /// object another thread stored meanwhile).
    ///
    /// # Errors
    /// The failing syscall; the temporary file is removed.
    pub fn commit(mut self) -> Result<()> {
        fs::fsync(&self.fd).map_err(|e| Error::sys("fsync", e))?;
        let (xx, rest) = object_names(&self.csum, self.kind);
        let xx = core::str::from_utf8(&xx).map_err(|_| Error::State("hex"))?;
        mkdir_exist_ok(self.store.objects.as_fd(), xx)?;
        let dir = open_dir(self.store.objects.as_fd(), xx)?;
        let tmp_name = self.name.get(..self.len).unwrap_or_default();
        fs::renameat(&self.store.tmp, tmp_name, &dir, &rest[..])
            .map_err(|e| Error::sys("rename", e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TmpObject<'_> {
    fn drop(&mut self) {
        if !self.done {
            let tmp_name = self.name.get(..self.len).unwrap_or_default();
            let _ = fs::unlinkat(&self.store.tmp, tmp_name, AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_split_hex_and_add_extension() {
        let mut c = [0u8; 32];
        c[0] = 0x3a;
        c[31] = 0xff;
        let (xx, rest) = object_names(&c, ObjKind::CommitMeta);
        assert_eq!(&xx, b"3a");
        assert_eq!(rest.len(), 62 + 11);
        assert!(rest.ends_with(b"ff.commitmeta"));
        assert!(rest.starts_with(b"00"));
    }

    #[test]
    fn stores_objects_markers_and_refs_in_an_archive_repo() {
        let dir = std::env::temp_dir().join(alloc::format!("ramdisk-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.to_str().unwrap();
        assert_eq!(
            super::super::init(path, super::super::InitMode::Archive),
            Ok(true)
        );
        assert_eq!(
            super::super::init(path, super::super::InitMode::Bare),
            Ok(false)
        );
        let s = Store::open(path).unwrap();
        let c = [0x5a; 32];
        assert!(!s.has(&c, ObjKind::DirMeta).unwrap());
        s.store(&c, ObjKind::DirMeta, b"abc").unwrap();
        assert!(s.has(&c, ObjKind::DirMeta).unwrap());
        assert_eq!(s.read(&c, ObjKind::DirMeta, 10).unwrap(), b"abc");
        assert!(s.read(&c, ObjKind::DirMeta, 2).is_err());
        {
            let mut t = s.begin(&c, ObjKind::Content).unwrap();
            t.write(b"dropped").unwrap();
        }
        assert!(!s.has(&c, ObjKind::Content).unwrap());
        assert_eq!(
            std::fs::read_dir(dir.join("tmp")).unwrap().count(),
            1,
            "only tmp/cache is left"
        );
        s.mark_partial(&c).unwrap();
        assert!(s.is_partial(&c).unwrap());
        s.sync().unwrap();
        s.clear_partial(&c).unwrap();
        assert!(!s.is_partial(&c).unwrap());
        s.write_ref(Some("origin"), "os/x86_64/main", &c).unwrap();
        let text = std::fs::read_to_string(dir.join("refs/remotes/origin/os/x86_64/main")).unwrap();
        assert_eq!(text.as_bytes(), [&checksum_hex(&c)[..], b"\n"].concat());
        assert!(s.write_ref(Some("a/b"), "main", &c).is_err());
        assert!(s.write_ref(None, "../x", &c).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_to_pull_into_a_bare_repo() {
        let dir =
            std::env::temp_dir().join(alloc::format!("ramdisk-store-bare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.to_str().unwrap();
        super::super::init(path, super::super::InitMode::Bare).unwrap();
        assert!(matches!(Store::open(path), Err(Error::State(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tmp_owner_reads_only_our_names() {
        assert_eq!(tmp_owner(b".tmp-ramdisk-123-0"), Some(123));
        assert_eq!(tmp_owner(b".tmp-ramdisk-123-"), None);
        assert_eq!(tmp_owner(b".tmp-ramdisk-x-1"), None);
        assert_eq!(tmp_owner(b"tmpobject-123-1"), None);
        assert_eq!(tmp_owner(b".tmp-ramdisk-99999999999-1"), None);
    }

    #[test]
    fn clean_tmp_removes_files_of_dead_processes_only() {
        let dir = std::env::temp_dir().join(alloc::format!("ramdisk-clean-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.to_str().unwrap();
        super::super::init(path, super::super::InitMode::Archive).unwrap();
        // A child that has exited: its PID is free (a recycled PID would only skip a file).
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let _ = { dead }.wait();
        let me = std::process::id();
        let tmp = dir.join("tmp");
        for n in [
            alloc::format!(".tmp-ramdisk-{dead_pid}-0"),
            alloc::format!(".tmp-ramdisk-{me}-7"),
            alloc::string::String::from(".tmp-ramdisk-1-3"),
            alloc::string::String::from("ostree-own-file"),
        ] {
            std::fs::write(tmp.join(n), b"x").unwrap();
        }
        let s = Store::open(path).unwrap();
        assert_eq!(s.clean_tmp().unwrap(), 1);
        let mut left: alloc::vec::Vec<alloc::string::String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mine = alloc::format!(".tmp-ramdisk-{me}-7");
        assert_eq!(
            left,
            [".tmp-ramdisk-1-3", &mine, "cache", "ostree-own-file"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn partial_marker_name() {
        let n = partial_name(&[0xab; 32]);
        assert!(n.starts_with(b"abab") && n.ends_with(b"ab.commitpartial") && n.len() == 78);
    }
}
