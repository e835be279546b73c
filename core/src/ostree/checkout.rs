//! Checking out a commit into a new directory, verifying every object on the way
//! (ostree-format.md §6; reliability.md §3, §4).
//!
//! Order, as `ostree checkout` (checkout.c `checkout_tree_at_recurse`): each directory is created
//! `0700`; its files are written (content, owner, xattrs, mode, in that order, through an
//! `O_TMPFILE` linked in only after the content's SHA-256 matched); then its subdirectories;
//! the directory gets its mode, owner and mtime 0 last, when everything inside it is done, so
//! nobody uses a half-built directory. Every path is one validated name relative to a directory
//! fd; directories are opened `O_NOFOLLOW`; nothing is created outside the destination.
//!
//! Before writing anything, the whole dirtree graph is loaded and verified once (that also
//! counts the files for progress), so a commit with a missing or corrupt dirtree fails before
//! the destination is created.
//!
//! With the `std` feature, file content is written by one worker thread per core while the
//! calling thread walks the dirtrees; without it everything runs on the calling thread.
//!
//! Deliberate differences from `ostree checkout`: every object is verified (ostree trusts the
//! repository); names are also rejected when empty, unsorted, duplicate, or longer than 255
//! bytes; a commit marked partial is refused up front; `--union` replaces symlinks atomically
//! (symlink at a temporary name, then rename) instead of unlink + symlink.

use super::config::Mode;
use super::content::{Content, FileMeta, Scratch};
use super::object::{DirTree, Meta, ObjType};
use super::repo::Repo;
use super::{Checksum, Failure, OResult, MAX_DEPTH};
use crate::error::{Errno, Error};
use crate::name::Name;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, Mode as FsMode, OFlags, Timespec, Timestamps, XattrFlags};

/// What to do with names that already exist in the destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Union {
    /// The destination must not exist (`mkdirat` EEXIST is an error).
    #[default]
    None,
    /// `--union`: keep existing directories (metadata untouched), replace files and symlinks.
    Overwrite,
    /// `--union-add`: keep everything that exists, add only new names.
    Add,
}

/// Options of [`checkout()`], named after `ostree checkout`'s flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckoutOptions<'a> {
    /// `-U`: no chown, no xattrs, setuid/setgid stripped from files (forced for
    /// bare-user-only repositories).
    pub user_mode: bool,
    /// `--union` / `--union-add`.
    pub union: Union,
    /// `--subpath=P`: check out only this directory (or file) of the commit.
    pub subpath: Option<&'a str>,
    /// `-C`: never hard-link; also leaves directory mtimes alone.
    pub force_copy: bool,
    /// `-H`: fail when a file cannot be hard-linked from the repository.
    pub require_hardlinks: bool,
    /// `fsync` each file and directory before it is linked / finished.
    pub fsync: bool,
    /// Worker threads for file content; 0 = one per available core.
    pub threads: usize,
    /// The commit's signature verified: setuid/setgid bits and file capabilities
    /// (`security.capability`) are applied as committed. Otherwise they are stripped from
    /// regular files and counted in [`Stats::stripped`] (reliability.md §3 item 7).
    pub trusted: bool,
}

/// What a checkout wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Regular files written or linked.
    pub files: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Directories created (the destination included).
    pub dirs: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Files hard-linked from the repository (bare modes).
    pub hardlinks: u64,
    /// Files written without the setuid/setgid bits or file capabilities they were committed
    /// with (an untrusted checkout; not counted under `-U`, which always strips setuid/setgid).
    pub stripped: u64,
}

#[derive(Default)]
struct Counters {
    files: AtomicU64,
    symlinks: AtomicU64,
    dirs: AtomicU64,
    bytes: AtomicU64,
    hardlinks: AtomicU64,
    stripped: AtomicU64,
    done: AtomicU64,
}

/// Metadata a directory receives when it is finished.
#[derive(Clone, Copy)]
struct DirFinal {
    uid: u32,
    gid: u32,
    mode: u32,
}

/// A destination directory being filled; finished when `pending` drops to zero.
struct DirNode {
    fd: OwnedFd,
    pending: AtomicUsize,
    parent: Option<Arc<DirNode>>,
    fin: Option<DirFinal>,
}

/// One file to check out.
struct Job {
    dir: Arc<DirNode>,
    name: Vec<u8>,
    csum: Checksum,
}

#[cfg(feature = "std")]
type Slot = std::sync::Mutex<Option<Failure>>;
#[cfg(not(feature = "std"))]
type Slot = core::cell::RefCell<Option<Failure>>;

/// Shared, read-mostly state of one checkout.
struct Ctx<'r> {
    repo: &'r Repo,
    user_mode: bool,
    trusted: bool,
    union: Union,
    force_copy: bool,
    require_hardlinks: bool,
    mask_dirs: bool,
    fsync: bool,
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    threads: usize,
    n: Counters,
    failed: AtomicBool,
    first: Slot,
    tmp_seq: AtomicU64,
}

impl Ctx<'_> {
    fn fail(&self, f: Failure) {
        if !self.failed.swap(true, Ordering::AcqRel) {
            #[cfg(feature = "std")]
            if let Ok(mut g) = self.first.lock() {
                *g = Some(f);
            }
            #[cfg(not(feature = "std"))]
            {
                *self.first.borrow_mut() = Some(f);
            }
        }
    }

    fn take_failure(&self) -> Option<Failure> {
        #[cfg(feature = "std")]
        {
            self.first.lock().ok().and_then(|mut g| g.take())
        }
        #[cfg(not(feature = "std"))]
        {
            self.first.borrow_mut().take()
        }
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

fn sys(op: &'static str) -> impl Fn(Errno) -> Error {
    move |e| Error::sys(op, e)
}

/// Checks out `commit` of `repo` into a new directory `dest_name` inside `dest_parent`,
/// verifying every object it reads; `progress(done, total)` is called with counts of files.
///
/// Nothing is written outside `dest_parent/dest_name`. On failure the partly written
/// destination is left for the caller to remove (as `ostree checkout` does).
///
/// # Errors
/// A [`Failure`] naming the object at fault (missing, corrupt, checksum mismatch, bad name or
/// mode), a refusal (partial commit, `-H` impossible), or a failed syscall in the destination.
pub fn checkout(
    repo: &Repo,
    commit: &Checksum,
    dest_parent: BorrowedFd<'_>,
    dest_name: &str,
    opts: &CheckoutOptions<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> OResult<Stats> {
    let name = Name::new(dest_name.as_bytes())?;
    if opts.force_copy && opts.require_hardlinks {
        return Err(Error::State("-H and -C conflict").into());
    }
    let user_mode = opts.user_mode || repo.mode() == Mode::BareUserOnly;
    if opts.require_hardlinks {
        // As ostree, refuse up front when the repo mode can never be hard-linked.
        match (repo.mode(), user_mode) {
            (Mode::Archive, _) => {
                return Err(Error::State("cannot hard-link from an archive repository").into())
            }
            (Mode::Bare, true) => {
                return Err(Error::State(
                    "bare repository mode cannot hard-link in user checkout mode",
                )
                .into())
            }
            (Mode::BareUser, false) => {
                return Err(Error::State(
                    "bare-user repository mode requires user checkout mode to hard-link",
                )
                .into())
            }
            _ => {}
        }
    }
    if repo.is_partial(commit)? {
        return Err(Failure::on(
            ObjType::Commit,
            commit,
            Error::State("commit is partial"),
        ));
    }
    let c = repo.load_commit(commit)?;
    let bare_user_only = repo.mode() == Mode::BareUserOnly;
    let ctx = Ctx {
        repo,
        user_mode,
        trusted: opts.trusted,
        union: opts.union,
        force_copy: opts.force_copy,
        require_hardlinks: opts.require_hardlinks,
        mask_dirs: bare_user_only,
        fsync: opts.fsync,
        threads: opts.threads,
        n: Counters::default(),
        failed: AtomicBool::new(false),
        first: Slot::new(None),
        tmp_seq: AtomicU64::new(0),
    };
    let start = find_subpath(repo, &c.root_tree, &c.root_meta, opts.subpath)?;
    let total = match &start {
        Start::Dir(tree, _) => count_files(repo, tree, 0)?,
        Start::File(..) => 1,
    };
    progress(0, total);

    // The destination itself.
    let (fd, created) = make_dir(dest_parent, name.as_bytes(), ctx.union)?;
    let fin = match (&start, created) {
        (Start::Dir(_, meta), true) => {
            let m = load_dirmeta(repo, meta)?;
            set_dir_xattrs(&ctx, &fd, &m)?;
            Some(dir_final(&ctx, &m))
        }
        _ => None,
    };
    if created {
        ctx.n.dirs.fetch_add(1, Ordering::Relaxed);
    }
    let root = Arc::new(DirNode {
        fd,
        pending: AtomicUsize::new(1),
        parent: None,
        fin,
    });

    run(&ctx, &root, &start, total, progress);
    release(&ctx, root);
    if let Some(f) = ctx.take_failure() {
        return Err(f);
    }
    let done = ctx.n.done.load(Ordering::Relaxed);
    progress(done, total);
    Ok(Stats {
        files: ctx.n.files.load(Ordering::Relaxed),
        symlinks: ctx.n.symlinks.load(Ordering::Relaxed),
        dirs: ctx.n.dirs.load(Ordering::Relaxed),
        bytes: ctx.n.bytes.load(Ordering::Relaxed),
        hardlinks: ctx.n.hardlinks.load(Ordering::Relaxed),
        stripped: ctx.n.stripped.load(Ordering::Relaxed),
    })
}

/// Where the checkout starts: a directory (dirtree, dirmeta) or a single file.
enum Start {
    Dir(Checksum, Checksum),
    File(Vec<u8>, Checksum),
}

/// Follows `subpath` from the root; `/`, empty and `.` components are skipped.
fn find_subpath(
    repo: &Repo,
    tree: &Checksum,
    meta: &Checksum,
    subpath: Option<&str>,
) -> OResult<Start> {
    let (mut tree, mut meta) = (*tree, *meta);
    let Some(sub) = subpath else {
        return Ok(Start::Dir(tree, meta));
    };
    let mut parts = sub
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .peekable();
    while let Some(part) = parts.next() {
        let bytes = repo.load_metadata(ObjType::DirTree, &tree)?;
        let dt =
            DirTree::parse(&bytes).map_err(|e| Failure::on(ObjType::DirTree, &tree, e.into()))?;
        if let Some(d) = dt
            .dirs
            .iter()
            .find(|d| d.name.as_bytes() == part.as_bytes())
        {
            tree = *d.tree;
            meta = *d.meta;
            continue;
        }
        match dt
            .files
            .iter()
            .find(|f| f.name.as_bytes() == part.as_bytes())
        {
            Some(f) if parts.peek().is_none() => {
                return Ok(Start::File(part.as_bytes().to_vec(), *f.csum))
            }
            _ => return Err(Error::State("subpath not found in commit").into()),
        }
    }
    Ok(Start::Dir(tree, meta))
}

/// Loads and verifies every dirtree below `tree`; returns the number of files.
fn count_files(repo: &Repo, tree: &Checksum, depth: usize) -> OResult<u64> {
    if depth > MAX_DEPTH {
        return Err(Failure::on(
            ObjType::DirTree,
            tree,
            Error::Limit("directory depth"),
        ));
    }
    let bytes = repo.load_metadata(ObjType::DirTree, tree)?;
    let dt = DirTree::parse(&bytes).map_err(|e| Failure::on(ObjType::DirTree, tree, e.into()))?;
    let mut n = dt.files.len() as u64;
    for d in &dt.dirs {
        n += count_files(repo, d.tree, depth + 1)?;
    }
    Ok(n)
}

fn load_dirmeta(repo: &Repo, csum: &Checksum) -> OResult<DirFinalMeta> {
    let bytes = repo.load_metadata(ObjType::DirMeta, csum)?;
    let m =
        Meta::parse_dirmeta(&bytes).map_err(|e| Failure::on(ObjType::DirMeta, csum, e.into()))?;
    Ok(DirFinalMeta {
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        xattrs: m.xattrs.to_vec(),
    })
}

/// An owned dirmeta.
struct DirFinalMeta {
    uid: u32,
    gid: u32,
    mode: u32,
    xattrs: Vec<u8>,
}

fn dir_final(ctx: &Ctx<'_>, m: &DirFinalMeta) -> DirFinal {
    let mode = if ctx.mask_dirs {
        m.mode & 0o775
    } else {
        m.mode & 0o7777
    };
    DirFinal {
        uid: m.uid,
        gid: m.gid,
        mode,
    }
}

/// `mkdirat(dir, name, 0700)`, then opens it `O_NOFOLLOW`. Returns the fd and whether it was
/// created (false: it existed and a union mode allows that).
fn make_dir(dir: BorrowedFd<'_>, name: &[u8], union: Union) -> Result<(OwnedFd, bool), Error> {
    let created = match fs::mkdirat(dir, name, FsMode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) if union != Union::None => false,
        Err(e) => return Err(Error::sys("mkdirat", e)),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = fs::openat(dir, name, flags, FsMode::empty()).map_err(sys("openat"))?;
    Ok((fd, created))
}

fn set_dir_xattrs(ctx: &Ctx<'_>, fd: &OwnedFd, m: &DirFinalMeta) -> Result<(), Error> {
    if ctx.user_mode || m.xattrs.is_empty() {
        return Ok(());
    }
    let meta = FileMeta {
        xattrs: m.xattrs.clone(),
        ..FileMeta::default()
    };
    meta.each_xattr(&mut |n, v| set_xattr(fd.as_fd(), n, v))
}

/// `fsetxattr(fd, name, value)`.
fn set_xattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> Result<(), Error> {
    fs::fsetxattr(fd, name, value, XattrFlags::empty()).map_err(sys("fsetxattr"))
}

/// Drops one hold on `node`; the last hold finishes the directory (mode, owner, mtime 0) and
/// drops the hold it had on its parent.
fn release(ctx: &Ctx<'_>, node: Arc<DirNode>) {
    let mut cur = node;
    loop {
        if cur.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if !ctx.failed() {
            if let Err(e) = finish_dir(ctx, &cur) {
                ctx.fail(e.into());
            }
        }
        match cur.parent.clone() {
            Some(p) => cur = p,
            None => return,
        }
    }
}

/// Gives a finished directory its metadata: chmod, chown (not under -U), mtime 0 (not with -C),
/// optional fsync.
fn finish_dir(ctx: &Ctx<'_>, node: &DirNode) -> Result<(), Error> {
    let Some(f) = node.fin else { return Ok(()) };
    fs::fchmod(&node.fd, FsMode::from_raw_mode(f.mode)).map_err(sys("fchmod"))?;
    if !ctx.user_mode {
        chown_fd(node.fd.as_fd(), f.uid, f.gid)?;
        // chown may clear setgid on directories: apply the mode again.
        fs::fchmod(&node.fd, FsMode::from_raw_mode(f.mode)).map_err(sys("fchmod"))?;
    }
    if !ctx.force_copy {
        let omit = Timespec {
            tv_sec: 0,
            tv_nsec: fs::UTIME_OMIT,
        };
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        fs::futimens(
            &node.fd,
            &Timestamps {
                last_access: omit,
                last_modification: zero,
            },
        )
        .map_err(sys("futimens"))?;
    }
    if ctx.fsync {
        fs::fsync(&node.fd).map_err(sys("fsync"))?;
    }
    Ok(())
}

fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<(), Error> {
    let (u, g) = (fs::Uid::from_raw(uid), fs::Gid::from_raw(gid));
    fs::fchown(fd, Some(u), Some(g)).map_err(sys("fchown"))
}

/// Walks the tree from `start`, handing files to the workers (or doing them inline).
fn run(
    ctx: &Ctx<'_>,
    root: &Arc<DirNode>,
    start: &Start,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) {
    #[cfg(feature = "std")]
    {
        let threads = match ctx.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        let q = pool::Queue::new();
        std::thread::scope(|s| {
            // `Builder::spawn_scoped` reports failure instead of panicking (as `spawn` would):
            // as PID 1 a panic is a kernel panic. With no worker the walker does the files.
            let mut workers = 0;
            for _ in 0..threads {
                let spawned = std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(s, || {
                        let mut scratch = Scratch::new();
                        while let Some(job) = q.pop() {
                            do_job(ctx, &mut scratch, job);
                        }
                    });
                if spawned.is_err() {
                    break;
                }
                workers += 1;
            }
            if workers == 0 {
                inline(ctx, root, start, total, progress);
                return;
            }
            let mut submit = |job: Job| {
                q.push(job);
                progress(ctx.n.done.load(Ordering::Relaxed), total);
            };
            walk_start(ctx, root, start, &mut submit);
            q.close();
        });
    }
    #[cfg(not(feature = "std"))]
    inline(ctx, root, start, total, progress);
}

/// Stack of a worker thread: it only streams through heap buffers.
#[cfg(feature = "std")]
const WORKER_STACK: usize = 256 * 1024;

/// Walks and writes every file on the calling thread.
fn inline(
    ctx: &Ctx<'_>,
    root: &Arc<DirNode>,
    start: &Start,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) {
    let mut scratch = Scratch::new();
    let mut submit = |job: Job| {
        do_job(ctx, &mut scratch, job);
        progress(ctx.n.done.load(Ordering::Relaxed), total);
    };
    walk_start(ctx, root, start, &mut submit);
}

fn walk_start(ctx: &Ctx<'_>, root: &Arc<DirNode>, start: &Start, submit: &mut dyn FnMut(Job)) {
    let r = match start {
        Start::Dir(tree, _) => walk(ctx, root, tree, 0, submit),
        Start::File(name, csum) => {
            root.pending.fetch_add(1, Ordering::AcqRel);
            submit(Job {
                dir: root.clone(),
                name: name.clone(),
                csum: *csum,
            });
            Ok(())
        }
    };
    if let Err(f) = r {
        ctx.fail(f);
    }
}

fn walk(
    ctx: &Ctx<'_>,
    node: &Arc<DirNode>,
    tree: &Checksum,
    depth: usize,
    submit: &mut dyn FnMut(Job),
) -> OResult<()> {
    if depth > MAX_DEPTH {
        return Err(Failure::on(
            ObjType::DirTree,
            tree,
            Error::Limit("directory depth"),
        ));
    }
    let bytes = ctx.repo.load_metadata(ObjType::DirTree, tree)?;
    let dt = DirTree::parse(&bytes).map_err(|e| Failure::on(ObjType::DirTree, tree, e.into()))?;
    for f in &dt.files {
        if ctx.failed() {
            return Ok(());
        }
        node.pending.fetch_add(1, Ordering::AcqRel);
        submit(Job {
            dir: node.clone(),
            name: f.name.as_bytes().to_vec(),
            csum: *f.csum,
        });
    }
    for d in &dt.dirs {
        if ctx.failed() {
            return Ok(());
        }
        let m = load_dirmeta(ctx.repo, d.meta)?;
        let (fd, created) = make_dir(node.fd.as_fd(), d.name.as_bytes(), ctx.union)?;
        if created {
            set_dir_xattrs(ctx, &fd, &m)?;
            ctx.n.dirs.fetch_add(1, Ordering::Relaxed);
        }
        let fin = if created {
            Some(dir_final(ctx, &m))
        } else {
            None
        };
        node.pending.fetch_add(1, Ordering::AcqRel);
        let child = Arc::new(DirNode {
            fd,
            pending: AtomicUsize::new(1),
            parent: Some(node.clone()),
            fin,
        });
        let r = walk(ctx, &child, d.tree, depth + 1, submit);
        release(ctx, child);
        r?;
    }
    Ok(())
}

fn do_job(ctx: &Ctx<'_>, scratch: &mut Scratch, job: Job) {
    if !ctx.failed() {
        if let Err(e) = check_out_file(ctx, scratch, &job) {
            ctx.fail(e);
        }
    }
    ctx.n.done.fetch_add(1, Ordering::Relaxed);
    release(ctx, job.dir);
}

fn check_out_file(ctx: &Ctx<'_>, scratch: &mut Scratch, job: &Job) -> OResult<()> {
    let on = |e: Error| Failure::on(ObjType::File, &job.csum, e);
    let dir = job.dir.fd.as_fd();
    let mut content = Content::open(ctx.repo, &job.csum, scratch).map_err(on)?;
    let meta = core::mem::take(&mut content.meta);
    let symlink = meta.is_symlink();
    let zero_size = !symlink && meta.size == 0;
    let unreadable = ctx.user_mode && !symlink && meta.mode & 0o400 == 0;
    let repo_mode = content.repo_mode();
    // A hard link would share the repository's inode, setuid bits and capabilities included.
    let strip = !ctx.user_mode && !ctx.trusted && !symlink && privileged(&meta);
    let linkable = !strip
        && match repo_mode {
            Mode::Bare => !ctx.user_mode,
            Mode::BareUser => ctx.user_mode && !symlink,
            Mode::BareUserOnly => ctx.user_mode,
            Mode::Archive => false,
        };
    let exempt = zero_size || unreadable || (repo_mode == Mode::BareUser && symlink);
    if linkable && !ctx.force_copy && !zero_size && !unreadable {
        content.drain().map_err(on)?;
        let (objects, path) = content.object_path();
        content.finish().map_err(on)?;
        match place(ctx, dir, &job.name, |tmp_dir, tmp_name| {
            fs::linkat(objects, path.as_str(), tmp_dir, tmp_name, AtFlags::empty())
        }) {
            Ok(()) => {
                ctx.n.hardlinks.fetch_add(1, Ordering::Relaxed);
                count(ctx, symlink, meta.size);
                return Ok(());
            }
            Err(Error::Sys {
                errno: Errno::MLINK | Errno::XDEV | Errno::PERM,
                ..
            }) if !ctx.require_hardlinks => {}
            Err(e) => return Err(on(e)),
        }
        content = Content::open(ctx.repo, &job.csum, scratch).map_err(on)?;
        content.meta = FileMeta::default();
    } else if ctx.require_hardlinks && !exempt {
        return Err(on(Error::State("cannot hard-link this object (-H)")));
    }
    if symlink {
        content.finish().map_err(on)?;
        copy_symlink(ctx, dir, &job.name, &meta).map_err(on)?;
    } else {
        copy_file(ctx, dir, &job.name, &meta, content).map_err(on)?;
    }
    count(ctx, symlink, meta.size);
    Ok(())
}

fn count(ctx: &Ctx<'_>, symlink: bool, size: u64) {
    if symlink {
        ctx.n.symlinks.fetch_add(1, Ordering::Relaxed);
    } else {
        ctx.n.files.fetch_add(1, Ordering::Relaxed);
        ctx.n.bytes.fetch_add(size, Ordering::Relaxed);
    }
}

/// Creates `name` in `dir` with `make(dir, name)` according to the union mode: directly
/// (EEXIST is an error, or ignored for `--union-add`), or for `--union` at a fresh temporary
/// name then `renameat` over the old entry (atomic replace).
fn place(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &[u8],
    mut make: impl FnMut(BorrowedFd<'_>, &[u8]) -> rustix::io::Result<()>,
) -> Result<(), Error> {
    match ctx.union {
        Union::None => make(dir, name).map_err(sys("link")),
        Union::Add => match make(dir, name) {
            Err(Errno::EXIST) => Ok(()),
            r => r.map_err(sys("link")),
        },
        Union::Overwrite => {
            let tmp = tmp_name(ctx, dir, &mut make)?;
            let r = fs::renameat(dir, tmp.as_bytes(), dir, name).map_err(sys("renameat"));
            // rename(2) does nothing when both names are links to one inode (a hard link to
            // the same object): the temporary name is still there then; remove it.
            let _ = fs::unlinkat(dir, tmp.as_bytes(), AtFlags::empty());
            r
        }
    }
}

/// Makes an entry at an unused `.ramdisk-tmp.N` name in `dir` and returns that name.
fn tmp_name(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    make: &mut dyn FnMut(BorrowedFd<'_>, &[u8]) -> rustix::io::Result<()>,
) -> Result<String, Error> {
    for _ in 0..1000 {
        let n = ctx.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let mut name = String::from(".ramdisk-tmp.");
        push_dec(&mut name, n);
        match make(dir, name.as_bytes()) {
            Ok(()) => return Ok(name),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(Error::sys("link", e)),
        }
    }
    Err(Error::Limit("temporary names"))
}

fn push_dec(s: &mut String, mut n: u64) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &c in &d[i..] {
        s.push(char::from(c));
    }
}

/// Applies owner and xattrs (not under -U) to a symlink created at `name`.
fn copy_symlink(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &[u8],
    meta: &FileMeta,
) -> Result<(), Error> {
    place(ctx, dir, name, |d, n| {
        fs::symlinkat(meta.target.as_slice(), d, n)?;
        if !ctx.user_mode {
            // Owner and xattrs before the rename makes the link visible under its name.
            fs::chownat(
                d,
                n,
                Some(fs::Uid::from_raw(meta.uid)),
                Some(fs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        Ok(())
    })?;
    if !ctx.user_mode && !meta.xattrs.is_empty() {
        set_symlink_xattrs(dir, name, meta)?;
    }
    Ok(())
}

/// `lsetxattr` on `/proc/self/fd/DIRFD/NAME`: follows only the directory's magic link.
fn set_symlink_xattrs(dir: BorrowedFd<'_>, name: &[u8], meta: &FileMeta) -> Result<(), Error> {
    #[cfg(feature = "std")]
    {
        use rustix::fd::AsRawFd;
        let mut path = String::from("/proc/self/fd/");
        push_dec(&mut path, u64::from(dir.as_raw_fd().unsigned_abs()));
        path.push('/');
        path.push_str(core::str::from_utf8(name).map_err(|_| Error::State("symlink name"))?);
        meta.each_xattr(&mut |n, v| {
            fs::lsetxattr(path.as_str(), n, v, XattrFlags::empty()).map_err(sys("lsetxattr"))
        })
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = (dir, name, meta);
        Err(Error::State("symlink xattrs need the std feature"))
    }
}

/// Writes a regular file: content into an unnamed file (hashing it), verifies, then owner,
/// xattrs, mode, optional fsync, and links it in.
fn copy_file(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &[u8],
    meta: &FileMeta,
    mut content: Content<'_, '_>,
) -> Result<(), Error> {
    let (fd, named) = open_tmp(ctx, dir)?;
    let r = fill_file(&fd, &mut content).and_then(|()| content.finish());
    let r = r.and_then(|()| set_file_meta(ctx, &fd, meta));
    let r = r.and_then(|()| match &named {
        None => link_tmpfile(ctx, &fd, dir, name),
        Some(tmp) => match ctx.union {
            Union::Overwrite => {
                fs::renameat(dir, tmp.as_bytes(), dir, name).map_err(sys("renameat"))
            }
            u => {
                match fs::renameat_with(dir, tmp.as_bytes(), dir, name, fs::RenameFlags::NOREPLACE)
                {
                    Err(Errno::EXIST) if u == Union::Add => {
                        let _ = fs::unlinkat(dir, tmp.as_bytes(), AtFlags::empty());
                        Ok(())
                    }
                    r => r.map_err(sys("renameat2")),
                }
            }
        },
    });
    if r.is_err() {
        if let Some(tmp) = &named {
            let _ = fs::unlinkat(dir, tmp.as_bytes(), AtFlags::empty());
        }
    }
    r
}

/// Streams the verified content into the temporary file `fd`.
fn fill_file(fd: &OwnedFd, content: &mut Content<'_, '_>) -> Result<(), Error> {
    while let Some(chunk) = content.next_chunk()? {
        crate::fs::write_all(fd.as_fd(), chunk)?;
    }
    Ok(())
}

/// True when `meta` grants privileges: setuid/setgid bits or file capabilities.
fn privileged(meta: &FileMeta) -> bool {
    let mut caps = false;
    let _ = meta.each_xattr(&mut |n, _| {
        caps |= crate::sign::is_privileged_xattr(n);
        Ok(())
    });
    meta.mode & 0o6000 != 0 || caps
}

fn set_file_meta(ctx: &Ctx<'_>, fd: &OwnedFd, meta: &FileMeta) -> Result<(), Error> {
    let mut mode = meta.mode & 0o7777;
    if ctx.user_mode {
        mode &= !0o6000;
        mode |= 0o400;
    } else {
        chown_fd(fd.as_fd(), meta.uid, meta.gid)?;
        let strip = !ctx.trusted && privileged(meta);
        if strip {
            mode = crate::sign::untrusted_mode(mode);
            ctx.n.stripped.fetch_add(1, Ordering::Relaxed);
        }
        meta.each_xattr(&mut |n, v| {
            if strip && crate::sign::is_privileged_xattr(n) {
                return Ok(());
            }
            set_xattr(fd.as_fd(), n, v)
        })?;
    }
    fs::fchmod(fd, FsMode::from_raw_mode(mode)).map_err(sys("fchmod"))?;
    if ctx.fsync {
        fs::fsync(fd).map_err(sys("fsync"))?;
    }
    Ok(())
}

/// An unnamed file in `dir` (`O_TMPFILE`), or where that is unsupported a fresh
/// `.ramdisk-tmp.N` created `O_EXCL` (returned name).
fn open_tmp(ctx: &Ctx<'_>, dir: BorrowedFd<'_>) -> Result<(OwnedFd, Option<String>), Error> {
    let mode = FsMode::from_raw_mode(0o600);
    match fs::openat(
        dir,
        ".",
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        mode,
    ) {
        Ok(fd) => return Ok((fd, None)),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {}
        Err(e) => return Err(Error::sys("openat O_TMPFILE", e)),
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut out = None;
    let name = tmp_name(ctx, dir, &mut |d, n| {
        out = Some(fs::openat(d, n, flags, mode)?);
        Ok(())
    })?;
    match out {
        Some(fd) => Ok((fd, Some(name))),
        None => Err(Error::State("temporary file")),
    }
}

/// Links an `O_TMPFILE` fd in as `name` (per the union mode).
fn link_tmpfile(
    ctx: &Ctx<'_>,
    fd: &OwnedFd,
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> Result<(), Error> {
    place(ctx, dir, name, |d, n| {
        match fs::linkat(fd, "", d, n, AtFlags::EMPTY_PATH) {
            // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd/N does not.
            Err(Errno::NOENT | Errno::PERM) => link_via_proc(fd.as_fd(), d, n),
            r => r,
        }
    })
}

fn link_via_proc(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    #[cfg(feature = "std")]
    {
        use rustix::fd::AsRawFd;
        let mut path = String::from("/proc/self/fd/");
        push_dec(&mut path, u64::from(fd.as_raw_fd().unsigned_abs()));
        fs::linkat(fs::CWD, path.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = (fd, dir, name);
        Err(Errno::NOENT)
    }
}

#[cfg(feature = "std")]
mod pool {
    //! A bounded job queue: the walker blocks when it is full, workers when it is empty.
    //! Wake-ups are sent only to someone actually waiting, and the walker is woken only when
    //! the queue has drained to half, so a job costs no futex call in the common case.
    use super::Job;
    use alloc::collections::VecDeque;
    use std::sync::{Condvar, Mutex};

    /// Jobs queued ahead of the workers; bounds memory and open directory fds.
    const CAP: usize = 256;

    struct State {
        jobs: VecDeque<Job>,
        closed: bool,
        idle: usize,
        walker_waits: bool,
    }

    pub(super) struct Queue {
        state: Mutex<State>,
        jobs: Condvar,
        space: Condvar,
    }

    impl Queue {
        pub(super) fn new() -> Self {
            Queue {
                state: Mutex::new(State {
                    jobs: VecDeque::with_capacity(CAP),
                    closed: false,
                    idle: 0,
                    walker_waits: false,
                }),
                jobs: Condvar::new(),
                space: Condvar::new(),
            }
        }

        pub(super) fn push(&self, job: Job) {
            let Ok(mut g) = self.state.lock() else { return };
            while g.jobs.len() >= CAP {
                g.walker_waits = true;
                g = match self.space.wait(g) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
            g.jobs.push_back(job);
            if g.idle > 0 {
                self.jobs.notify_one();
            }
        }

        pub(super) fn close(&self) {
            if let Ok(mut g) = self.state.lock() {
                g.closed = true;
            }
            self.jobs.notify_all();
        }

        pub(super) fn pop(&self) -> Option<Job> {
            let mut g = self.state.lock().ok()?;
            loop {
                if let Some(j) = g.jobs.pop_front() {
                    if g.walker_waits && g.jobs.len() <= CAP / 2 {
                        g.walker_waits = false;
                        self.space.notify_one();
                    }
                    return Some(j);
                }
                if g.closed {
                    return None;
                }
                g.idle += 1;
                g = self.jobs.wait(g).ok()?;
                g.idle -= 1;
            }
        }
    }
}
