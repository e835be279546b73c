//! Kernel modules: the depmod index files, resolved into an ordered load list, plus the two
//! module syscalls (`finit_module`, `delete_module`).
//!
//! Files read (all written by `depmod`, see depmod(8), modules.dep(5), modprobe.d(5)):
//! - `modules.dep`: `PATH: DEP_PATH...`. A line holds the *whole* dependency closure, listed so that
//!   a dependency's own dependencies come after it; loading walks it backwards (kmod does the same).
//! - `modules.softdep`: `softdep MODULE pre: NAME... post: NAME...` (`MODULE` may be a glob).
//!   Words before the first `pre:`/`post:` are ignored, as kmod does.
//! - `modules.alias`: `alias PATTERN MODULE`; PATTERN is an fnmatch(3) glob (`*`, `?`, `[...]`).
//! - `modules.builtin` (optional): paths of modules compiled into the kernel; nothing to load.
//! - `modules.builtin.modinfo` (optional): `MODULE.alias=PATTERN` records of built-in modules.
//!
//! Compressed modules: Debian 12's arm64 kernel (6.1, `CONFIG_MODULE_COMPRESS_NONE=y`) ships plain
//! `.ko` files. A `.ko.xz`/`.ko.zst`/`.ko.gz` path is loaded with `MODULE_INIT_COMPRESSED_FILE`,
//! which needs Linux ≥ 6.0 built with `CONFIG_MODULE_DECOMPRESS` (else `finit_module` fails);
//! size-report stores modules decompressed in the initramfs, so the board never needs it.
//!
//! Names compare with `-` and `_` equal (`usb-storage.ko` is the module `usb_storage`); in an alias
//! pattern, only outside `[...]`.
//!
//! Resolution follows kmod's `--show-depends` order, with deliberate differences:
//! - every `softdep` line of a module counts; kmod keeps only the first one (kmod#33, open since
//!   2024: `softdep ksmbd pre: crc32` then `softdep ksmbd pre: gcm` loads only crc32 there);
//! - a module reached twice (through two aliases or a softdep) is listed once.
//!
//! Invariant: after the `parse*` constructors succeed, every lookup is total (`None`/`Err` for an
//! unknown name, never a panic); nothing here recurses, whatever the files say.

use crate::error::{Error, Malformed, ParseError, Result};
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};

/// A module known to `modules.dep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module<'a> {
    /// The module name as spelled in the file name (`usb-storage`); compare with [`names_equal`].
    pub name: &'a str,
    /// The path as written in `modules.dep`, relative to `/lib/modules/VERSION` (`kernel/fs/ext4/ext4.ko`).
    pub path: &'a str,
    deps: &'a str,
}

impl<'a> Module<'a> {
    /// The dependency paths in file order (load them in reverse).
    pub fn deps(&self) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
        words(self.deps)
    }
}

/// One `softdep` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftDep<'a> {
    /// The module (or glob) the line is about.
    pub module: &'a str,
    rest: &'a str,
}

impl<'a> SoftDep<'a> {
    /// The `pre:` names (modules or aliases), in order.
    pub fn pre(&self) -> impl Iterator<Item = &'a str> + 'a {
        softdep_words(self.rest, b"pre:")
    }
    /// The `post:` names (modules or aliases), in order.
    pub fn post(&self) -> impl Iterator<Item = &'a str> + 'a {
        softdep_words(self.rest, b"post:")
    }
}

/// One `alias` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alias<'a> {
    /// fnmatch(3) pattern matched against the requested name.
    pub pattern: &'a str,
    /// The module name it stands for.
    pub module: &'a str,
}

/// What a requested name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// Loadable modules, as `modules.dep` paths (one unless an alias matches several).
    Modules(Vec<&'a str>),
    /// Compiled into the kernel (`modules.builtin`); the name as spelled there.
    Builtin(&'a str),
}

/// Which index file a parse error is in, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileError {
    /// `modules.dep`, `modules.softdep`, `modules.alias` or `modules.builtin`.
    pub file: &'static str,
    pub error: ParseError,
}

/// The parsed index files; borrows their bytes.
#[derive(Clone, Debug, Default)]
pub struct ModuleIndex<'a> {
    /// Sorted by name (`-` = `_`), first occurrence first among equal names.
    modules: Vec<Module<'a>>,
    softdeps: Vec<SoftDep<'a>>,
    aliases: Vec<Alias<'a>>,
    builtin: Vec<&'a str>,
    builtin_aliases: Vec<Alias<'a>>,
}

/// "module not found" (the caller adds the name and the directory).
pub const NOT_FOUND: Error = Error::State("module not found in modules.dep");

impl<'a> ModuleIndex<'a> {
    /// Parses `modules.dep`, `modules.softdep` and `modules.alias` (pass `b""` for a missing file).
    ///
    /// # Errors
    /// The first malformed line, with the file it is in.
    pub fn parse(dep: &'a [u8], softdep: &'a [u8], alias: &'a [u8]) -> Result<Self, FileError> {
        let mut index = Self::parse_dep(dep).map_err(|error| FileError {
            file: "modules.dep",
            error,
        })?;
        index.add_softdep(softdep).map_err(|error| FileError {
            file: "modules.softdep",
            error,
        })?;
        index.add_alias(alias).map_err(|error| FileError {
            file: "modules.alias",
            error,
        })?;
        Ok(index)
    }

    /// Parses `modules.dep` alone.
    ///
    /// # Errors
    /// `BadUtf8`; `NotNormal` for a line without `:`; `BadName` for a path whose basename has no `.ko`.
    pub fn parse_dep(dep: &'a [u8]) -> Result<Self, ParseError> {
        let mut modules = Vec::new();
        for (off, line) in lines(text(dep)?) {
            let Some((path, deps)) = line.split_once(':') else {
                return Err(ParseError::at(off, Malformed::NotNormal));
            };
            let path = path.trim_matches(is_blank);
            let name = module_name(path).ok_or(ParseError::at(off, Malformed::BadName))?;
            modules.push(Module { name, path, deps });
        }
        // Stable: among equal names the first line wins, as in kmod.
        modules.sort_by(|a, b| cmp_names(a.name, b.name));
        Ok(ModuleIndex {
            modules,
            ..Self::default()
        })
    }

    /// Adds the lines of `modules.softdep`.
    ///
    /// # Errors
    /// `BadUtf8`; `Unknown` for a line that is not `softdep MODULE ...`.
    pub fn add_softdep(&mut self, softdep: &'a [u8]) -> Result<(), ParseError> {
        for (off, line) in lines(text(softdep)?) {
            let (keyword, rest) = first_word(line);
            let (module, rest) = first_word(rest);
            if keyword != "softdep" || module.is_empty() {
                return Err(ParseError::at(off, Malformed::Unknown));
            }
            self.softdeps.push(SoftDep { module, rest });
        }
        Ok(())
    }

    /// Adds the lines of `modules.alias`.
    ///
    /// # Errors
    /// `BadUtf8`; `Unknown` for a line that is not exactly `alias PATTERN MODULE`.
    pub fn add_alias(&mut self, alias: &'a [u8]) -> Result<(), ParseError> {
        for (off, line) in lines(text(alias)?) {
            let mut w = words(line);
            let (Some("alias"), Some(pattern), Some(module), None) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                return Err(ParseError::at(off, Malformed::Unknown));
            };
            self.aliases.push(Alias { pattern, module });
        }
        Ok(())
    }

    /// Adds the lines of `modules.builtin` (module paths).
    ///
    /// # Errors
    /// `BadUtf8`; `BadName` for a line that is not a module path.
    pub fn add_builtin(&mut self, builtin: &'a [u8]) -> Result<(), ParseError> {
        for (off, line) in lines(text(builtin)?) {
            let name = module_name(line.trim_matches(is_blank))
                .ok_or(ParseError::at(off, Malformed::BadName))?;
            self.builtin.push(name);
        }
        Ok(())
    }

    /// Adds the records of `modules.builtin.modinfo` (`MODULE.KEY=VALUE`, NUL-terminated): every
    /// MODULE is built in, and `MODULE.alias=PATTERN` is an alias of it (`aes` → `aes_generic`).
    ///
    /// # Errors
    /// `BadUtf8`; `NotNormal` for a record without `.` before `=`.
    pub fn add_builtin_modinfo(&mut self, modinfo: &'a [u8]) -> Result<(), ParseError> {
        let mut off = 0;
        for record in text(modinfo)?.split('\0') {
            let at = off;
            off += record.len() + 1;
            if record.is_empty() {
                continue;
            }
            let (key, value) = record.split_once('=').unwrap_or((record, ""));
            let Some((module, key)) = key.split_once('.').filter(|(m, _)| !m.is_empty()) else {
                return Err(ParseError::at(at, Malformed::NotNormal));
            };
            if self.builtin.last() != Some(&module) {
                self.builtin.push(module);
            }
            if key == "alias" && !value.is_empty() {
                self.builtin_aliases.push(Alias {
                    pattern: value,
                    module,
                });
            }
        }
        Ok(())
    }

    /// Every module of `modules.dep`, sorted by name.
    pub fn modules(&self) -> &[Module<'a>] {
        &self.modules
    }

    /// Every `softdep` line, in file order.
    pub fn softdeps(&self) -> &[SoftDep<'a>] {
        &self.softdeps
    }

    /// Every `alias` line, in file order.
    pub fn aliases(&self) -> &[Alias<'a>] {
        &self.aliases
    }

    /// The module called `name` (`-` = `_`) in `modules.dep`.
    pub fn find(&self, name: &str) -> Option<Module<'a>> {
        let first = self
            .modules
            .partition_point(|m| cmp_names(m.name, name) == Ordering::Less);
        self.modules
            .get(first)
            .filter(|m| names_equal(m.name, name))
            .copied()
    }

    /// The `modules.builtin` spelling of `name`, if the kernel has it built in.
    pub fn builtin(&self, name: &str) -> Option<&'a str> {
        self.builtin.iter().copied().find(|b| names_equal(b, name))
    }

    /// What `name` stands for: a module by that name, else every module an alias matches, else a
    /// built-in module by name or by `modules.builtin.modinfo` alias (kmod's lookup order
    /// without modprobe.d and `modules.symbols`).
    ///
    /// # Errors
    /// [`NOT_FOUND`] when nothing matches.
    pub fn resolve(&self, name: &str) -> Result<Resolved<'a>> {
        if let Some(m) = self.find(name) {
            return Ok(Resolved::Modules(alloc::vec![m.path]));
        }
        let mut paths = Vec::new();
        let mut builtin = None;
        for a in self
            .aliases
            .iter()
            .filter(|a| glob_match(a.pattern.as_bytes(), name.as_bytes()))
        {
            if let Some(m) = self.find(a.module) {
                if !paths.contains(&m.path) {
                    paths.push(m.path);
                }
            } else if builtin.is_none() {
                builtin = self.builtin(a.module);
            }
        }
        if !paths.is_empty() {
            return Ok(Resolved::Modules(paths));
        }
        let builtin_alias = || {
            let a = self
                .builtin_aliases
                .iter()
                .find(|a| glob_match(a.pattern.as_bytes(), name.as_bytes()))?;
            Some(a.module)
        };
        match builtin
            .or_else(|| self.builtin(name))
            .or_else(builtin_alias)
        {
            Some(b) => Ok(Resolved::Builtin(b)),
            None => Err(NOT_FOUND),
        }
    }

    /// The `modules.dep` paths to load, in order, so that `name` ends up loaded: dependencies
    /// first, each module's `pre:` soft dependencies before it and `post:` ones after it. Empty
    /// for a built-in module. The requested module(s) come last except for their `post:` ones.
    ///
    /// # Errors
    /// [`NOT_FOUND`] when `name` matches no module, alias or built-in module. Soft dependencies
    /// that match nothing are skipped, as in kmod.
    pub fn load_order(&self, name: &str) -> Result<Vec<&'a str>> {
        self.load_order_all(&[name])
    }

    /// [`load_order`](Self::load_order) for several names, as one list without repeats.
    ///
    /// # Errors
    /// [`NOT_FOUND`] for the first name that matches nothing.
    pub fn load_order_all(&self, names: &[&str]) -> Result<Vec<&'a str>> {
        let mut walk = Walk {
            index: self,
            visited: Vec::new(),
            out: Vec::new(),
            todo: Vec::new(),
        };
        for name in names {
            if let Resolved::Modules(paths) = self.resolve(name)? {
                for path in paths {
                    walk.run(Task::Probe(path));
                }
            }
        }
        Ok(walk.out)
    }

    /// The softdep names of module `name`: every matching line, `pre:` or `post:`.
    fn soft(&self, name: &'a str, post: bool) -> impl Iterator<Item = &'a str> + '_ {
        self.softdeps
            .iter()
            .filter(move |s| glob_match(s.module.as_bytes(), name.as_bytes()))
            .flat_map(move |s| softdep_words(s.rest, if post { b"post:" } else { b"pre:" }))
    }

    /// Modules a softdep name stands for (nothing when unknown or built in).
    fn soft_targets(&self, name: &str) -> Vec<&'a str> {
        match self.resolve(name) {
            Ok(Resolved::Modules(p)) => p,
            _ => Vec::new(),
        }
    }
}

/// One step of the load-order walk (kmod's `__kmod_module_get_probe_list` /
/// `__kmod_module_fill_softdep`, turned into an explicit stack so input cannot choose a recursion depth).
#[derive(Clone, Copy)]
enum Task<'a> {
    /// First visit of a module: its dependencies (each with its softdeps), then itself.
    Probe(&'a str),
    /// A module with its `pre:` softdeps before and `post:` softdeps after.
    Fill(&'a str),
    /// Put the module in the list.
    Append(&'a str),
}

struct Walk<'i, 'a> {
    index: &'i ModuleIndex<'a>,
    visited: Vec<&'a str>,
    out: Vec<&'a str>,
    todo: Vec<Task<'a>>,
}

impl<'a> Walk<'_, 'a> {
    fn run(&mut self, first: Task<'a>) {
        self.todo.push(first);
        while let Some(task) = self.todo.pop() {
            match task {
                Task::Probe(path) => {
                    if self.visited.contains(&path) {
                        continue;
                    }
                    self.visited.push(path);
                    // Pushed in reverse of the order they run.
                    self.todo.push(Task::Fill(path));
                    if let Some(m) = module_name(path).and_then(|n| self.index.find(n)) {
                        // The dep line is loaded last-first, so its first entry runs last.
                        for dep in m.deps() {
                            self.todo.push(Task::Fill(dep));
                        }
                    }
                }
                Task::Fill(path) => {
                    let Some(name) = module_name(path) else {
                        continue;
                    };
                    let post: Vec<&str> = self.index.soft(name, true).collect();
                    for s in post.iter().rev() {
                        for t in self.index.soft_targets(s).into_iter().rev() {
                            self.todo.push(Task::Probe(t));
                        }
                    }
                    self.todo.push(Task::Append(path));
                    let pre: Vec<&str> = self.index.soft(name, false).collect();
                    for s in pre.iter().rev() {
                        for t in self.index.soft_targets(s).into_iter().rev() {
                            self.todo.push(Task::Probe(t));
                        }
                    }
                }
                Task::Append(path) => {
                    if !self.out.contains(&path) {
                        self.out.push(path);
                    }
                }
            }
        }
    }
}

/// The module name of a path: its basename up to `.ko` (`kernel/a/usb-storage.ko.xz` → `usb-storage`).
pub fn module_name(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let (name, ext) = base.split_once(".ko")?;
    let compressed = matches!(ext, ".xz" | ".zst" | ".gz");
    (!name.is_empty() && (ext.is_empty() || compressed)).then_some(name)
}

/// True when the module file name says compressed (`.xz`, `.zst`, `.gz`): the kernel must
/// decompress it (`MODULE_INIT_COMPRESSED_FILE`, Linux ≥ 6.0 with `CONFIG_MODULE_DECOMPRESS`).
pub fn is_compressed(path: &str) -> bool {
    path.ends_with(".xz") || path.ends_with(".zst") || path.ends_with(".gz")
}

/// `a` and `b` name the same module (`-` and `_` are the same character).
pub fn names_equal(a: &str, b: &str) -> bool {
    cmp_names(a, b) == Ordering::Equal
}

/// `name` as the kernel spells it (`usb-storage` → `usb_storage`), for `delete_module`.
pub fn kernel_name(name: &str) -> alloc::string::String {
    name.chars()
        .map(|c| if c == '-' { '_' } else { c })
        .collect()
}

fn norm(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b
    }
}

fn cmp_names(a: &str, b: &str) -> Ordering {
    a.bytes().map(norm).cmp(b.bytes().map(norm))
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

fn text(bytes: &[u8]) -> Result<&str, ParseError> {
    core::str::from_utf8(bytes).map_err(|e| ParseError::at(e.valid_up_to(), Malformed::BadUtf8))
}

/// Non-blank, non-comment lines with their byte offsets.
fn lines(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut off = 0;
    s.split('\n').filter_map(move |line| {
        let at = off;
        off += line.len() + 1;
        let t = line.trim_matches(is_blank);
        (!t.is_empty() && !t.starts_with('#')).then_some((at, line))
    })
}

/// The first word of `s` and the rest after it.
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(is_blank);
    s.split_once(is_blank).unwrap_or((s, ""))
}

fn words(s: &str) -> impl DoubleEndedIterator<Item = &str> {
    s.split(is_blank).filter(|w| !w.is_empty())
}

/// The words after `mode` (`pre:`/`post:`) up to the next mode word.
fn softdep_words<'a>(rest: &'a str, mode: &'static [u8]) -> impl Iterator<Item = &'a str> + 'a {
    let mut on = false;
    words(rest).filter(move |w| {
        if *w == "pre:" || *w == "post:" {
            on = w.as_bytes() == mode;
            return false;
        }
        on
    })
}

/// fnmatch(3) with no flags: `*` any run (even `/`), `?` one byte, `[...]` a class with `!`/`^`
/// negation and `a-z` ranges, `\` escapes; `-` = `_` outside classes. Iterative with one
/// backtrack point, so time is O(len(pattern) × len(name)) at worst.
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = s.get(i) {
        let next = match pat.get(p) {
            Some(b'*') => {
                star = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pat, p, c) {
                Some((true, after)) => Some(after),
                Some((false, _)) => None,
                None => (c == b'[').then_some(p + 1),
            },
            Some(b'\\') => match pat.get(p + 1) {
                Some(&e) => (norm(e) == norm(c)).then_some(p + 2),
                None => (c == b'\\').then_some(p + 1),
            },
            Some(&l) => (norm(l) == norm(c)).then_some(p + 1),
            None => None,
        };
        match (next, star) {
            (Some(n), _) => {
                p = n;
                i += 1;
            }
            (None, Some((sp, si))) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p.min(pat.len())..].iter().all(|&b| b == b'*')
}

/// Matches `c` against the class opening at `pat[open] == b'['`: `Some((matched, index after ']'))`,
/// or `None` when the class never closes (then `[` is a literal).
fn class(pat: &[u8], open: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = open + 1;
    let negate = matches!(pat.get(j), Some(b'!' | b'^'));
    if negate {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *pat.get(j)?;
        if lo == b']' && !first {
            return Some((matched != negate, j + 1));
        }
        first = false;
        if lo == b'\\' {
            j += 1;
            lo = *pat.get(j)?;
        }
        match (pat.get(j + 1), pat.get(j + 2)) {
            (Some(b'-'), Some(&hi)) if hi != b']' => {
                matched |= lo <= c && c <= hi;
                j += 3;
            }
            _ => {
                matched |= lo == c;
                j += 1;
            }
        }
    }
}

/// What [`insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    Loaded,
    /// `EEXIST`: the module was already loaded, which is success for modprobe and insmod.
    AlreadyLoaded,
}

/// `MODULE_INIT_COMPRESSED_FILE` from `<linux/module.h>`: the kernel decompresses the file.
const MODULE_INIT_COMPRESSED_FILE: i32 = 4;
/// `O_NONBLOCK` (same value on x86_64 and aarch64): `delete_module` fails with `EWOULDBLOCK`
/// instead of waiting while the module is in use (the only mode current kernels support).
const O_NONBLOCK: i32 = 0o4000;

/// `openat(dir, path, O_RDONLY | O_CLOEXEC)`: opens a module file named by `modules.dep`
/// (relative to the module directory; an absolute path, as old depmod wrote, ignores `dir`).
///
/// # Errors
/// `Sys { op: "open", .. }`.
pub fn open_module(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd> {
    use rustix::fs::{openat, Mode, OFlags};
    openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys("open", e))
}

/// `finit_module(fd, params, flags)` (finit_module(2)); `compressed` sets
/// `MODULE_INIT_COMPRESSED_FILE`. `EEXIST` is [`Inserted::AlreadyLoaded`].
///
/// # Errors
/// `Sys { op: "finit_module", .. }` for any other failure.
pub fn insert(file: BorrowedFd<'_>, params: &CStr, compressed: bool) -> Result<Inserted> {
    let flags = if compressed {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    match rustix::system::finit_module(file, params, flags) {
        Ok(()) => Ok(Inserted::Loaded),
        Err(rustix::io::Errno::EXIST) => Ok(Inserted::AlreadyLoaded),
        Err(e) => Err(Error::sys("finit_module", e)),
    }
}

/// `delete_module(name, O_NONBLOCK)` (delete_module(2)); `name` as the kernel spells it
/// ([`kernel_name`]).
///
/// # Errors
/// `Sys { op: "delete_module", .. }`: `ENOENT` not loaded, `EWOULDBLOCK` in use.
pub fn remove(name: &CStr) -> Result<()> {
    rustix::system::delete_module(name, O_NONBLOCK).map_err(|e| Error::sys("delete_module", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Excerpts of the Debian bookworm arm64 6.1 files (depmod -b), trimmed.
    const DEP: &[u8] = b"kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
kernel/fs/jbd2/jbd2.ko:\n\
kernel/fs/mbcache.ko:\n\
kernel/lib/crc16.ko:\n\
kernel/crypto/crc32c_generic.ko:\n\
kernel/crypto/crc32_generic.ko:\n\
kernel/crypto/gcm.ko:\n\
kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n\
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:\n\
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko\n\
kernel/drivers/block/virtio_blk.ko:\n\
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/scsi/scsi_mod.ko\n\
kernel/drivers/usb/storage/uas.ko: kernel/drivers/usb/storage/usb-storage.ko kernel/drivers/scsi/scsi_mod.ko\n\
kernel/drivers/scsi/scsi_mod.ko:\n\
kernel/fs/smb/server/ksmbd.ko: kernel/fs/smb/common/cifs_arc4.ko\n\
kernel/fs/smb/common/cifs_arc4.ko:\n";
    const SOFTDEP: &[u8] = b"# Soft dependencies extracted from modules themselves.\n\
softdep ext4 pre: crypto-crc32c\n\
softdep jbd2 pre: crypto-crc32c\n\
softdep cifs gcm\n\
softdep ksmbd pre: crc32\n\
softdep ksmbd pre: gcm\n\
softdep ksmbd pre: aes\n";
    const ALIAS: &[u8] = b"# Aliases extracted from modules themselves.\n\
alias crypto-crc32c crc32c_generic\n\
alias crc32c crc32c_generic\n\
alias crc32 crc32_generic\n\
alias gcm gcm\n\
alias aes aes_generic\n\
alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* uas\n\
alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* usb_storage\n\
alias virtio:d00000002v* virtio_blk\n";
    const BUILTIN: &[u8] = b"kernel/crypto/aes_generic.ko\nkernel/fs/nls/nls_base.ko\n";

    fn index() -> ModuleIndex<'static> {
        let mut i = ModuleIndex::parse(DEP, SOFTDEP, ALIAS).unwrap();
        i.add_builtin(BUILTIN).unwrap();
        i
    }

    #[test]
    fn ext4_gets_crc32c_generic_first_through_softdep_alias() {
        assert_eq!(
            index().load_order("ext4").unwrap(),
            [
                "kernel/crypto/crc32c_generic.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/ext4/ext4.ko"
            ]
        );
    }

    #[test]
    fn dep_line_is_loaded_last_entry_first() {
        assert_eq!(
            index().load_order("virtio_pci").unwrap(),
            [
                "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
                "kernel/drivers/virtio/virtio_pci.ko"
            ]
        );
        assert_eq!(
            index().load_order("virtio_blk").unwrap(),
            ["kernel/drivers/block/virtio_blk.ko"]
        );
    }

    #[test]
    fn dash_and_underscore_name_the_same_module() {
        let i = index();
        assert_eq!(i.find("usb_storage").unwrap().name, "usb-storage");
        assert_eq!(
            i.find("virtio-blk").unwrap().path,
            "kernel/drivers/block/virtio_blk.ko"
        );
        assert_eq!(
            i.load_order("crypto_crc32c").unwrap(),
            ["kernel/crypto/crc32c_generic.ko"]
        );
        assert_eq!(kernel_name("usb-storage"), "usb_storage");
    }

    #[test]
    fn glob_alias_matching_two_modules_loads_both_once() {
        let order = index()
            .load_order("usb:v13FDp3940d01dc00dsc00dp00ic08isc06ip50in00")
            .unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/scsi/scsi_mod.ko",
                "kernel/drivers/usb/storage/usb-storage.ko",
                "kernel/drivers/usb/storage/uas.ko"
            ]
        );
        assert_eq!(
            index().load_order("virtio:d00000002v00001AF4").unwrap(),
            ["kernel/drivers/block/virtio_blk.ko"]
        );
    }

    #[test]
    fn every_softdep_line_counts_unlike_kmod() {
        assert_eq!(
            index().load_order("ksmbd").unwrap(),
            [
                "kernel/fs/smb/common/cifs_arc4.ko",
                "kernel/crypto/crc32_generic.ko",
                "kernel/crypto/gcm.ko",
                "kernel/fs/smb/server/ksmbd.ko"
            ]
        );
    }

    #[test]
    fn post_softdeps_come_after_and_cycles_end() {
        let dep = b"a.ko:\nb.ko:\nc.ko:\n";
        let soft = b"softdep a pre: b post: c\nsoftdep b pre: a\nsoftdep c post: a c\n";
        let i = ModuleIndex::parse(dep, soft, b"").unwrap();
        assert_eq!(i.load_order("a").unwrap(), ["b.ko", "a.ko", "c.ko"]);
        assert_eq!(
            i.load_order_all(&["c", "b", "a"]).unwrap(),
            ["c.ko", "b.ko", "a.ko"]
        );
    }

    #[test]
    fn builtin_and_unknown_names() {
        let i = index();
        assert_eq!(i.resolve("aes"), Ok(Resolved::Builtin("aes_generic")));
        assert_eq!(i.resolve("nls-base"), Ok(Resolved::Builtin("nls_base")));
        assert_eq!(i.load_order("nls_base").unwrap(), Vec::<&str>::new());
        assert_eq!(i.load_order("nosuchmod"), Err(NOT_FOUND));
        assert_eq!(i.load_order_all(&["ext4", "nosuchmod"]), Err(NOT_FOUND));
    }

    #[test]
    fn builtin_modinfo_gives_builtin_names_and_aliases() {
        let mut i = ModuleIndex::parse(b"", b"", b"").unwrap();
        i.add_builtin_modinfo(b"aes_generic.alias=crypto-aes\0aes_generic.alias=aes\0aes_generic.license=GPL\0md5.license=GPL\0")
            .unwrap();
        assert_eq!(i.resolve("aes"), Ok(Resolved::Builtin("aes_generic")));
        assert_eq!(
            i.resolve("crypto_aes"),
            Ok(Resolved::Builtin("aes_generic"))
        );
        assert_eq!(i.resolve("md5"), Ok(Resolved::Builtin("md5")));
        assert_eq!(i.resolve("sha1"), Err(NOT_FOUND));
        assert_eq!(
            i.add_builtin_modinfo(b"x.a=b\0noname\0"),
            Err(ParseError::at(6, Malformed::NotNormal))
        );
    }

    #[test]
    fn dependency_without_its_own_line_is_still_loaded() {
        let i = ModuleIndex::parse(b"x.ko: sub/y.ko.xz\n", b"", b"").unwrap();
        assert_eq!(i.load_order("x").unwrap(), ["sub/y.ko.xz", "x.ko"]);
        assert!(
            is_compressed("sub/y.ko.xz") && is_compressed("a.ko.zst") && is_compressed("a.ko.gz")
        );
        assert!(
            !is_compressed("x.ko") && !is_compressed("/bin/busybox"),
            "any other name is plain"
        );
    }

    #[test]
    fn first_duplicate_wins() {
        let i = ModuleIndex::parse(b"updates/a.ko:\nkernel/a.ko:\n", b"", b"").unwrap();
        assert_eq!(i.find("a").unwrap().path, "updates/a.ko");
    }

    #[test]
    fn module_names_from_paths() {
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko"), Some("ext4"));
        assert_eq!(module_name("/lib/modules/x/a-b.ko.zst"), Some("a-b"));
        assert_eq!(module_name("kernel/x.ko.bz3"), None);
        assert_eq!(module_name("kernel/.ko"), None);
        assert_eq!(module_name("kernel/x"), None);
    }

    #[test]
    fn rejects_malformed_lines_with_offsets() {
        assert_eq!(
            ModuleIndex::parse_dep(b"a.ko:\nno colon\n").unwrap_err(),
            ParseError::at(6, Malformed::NotNormal)
        );
        assert_eq!(
            ModuleIndex::parse_dep(b"x:\n").unwrap_err(),
            ParseError::at(0, Malformed::BadName)
        );
        assert_eq!(
            ModuleIndex::parse_dep(b"a.ko:\xff\n").unwrap_err(),
            ParseError::at(5, Malformed::BadUtf8)
        );
        let e = ModuleIndex::parse(b"", b"\noptions x y=1\n", b"").unwrap_err();
        assert_eq!(
            e,
            FileError {
                file: "modules.softdep",
                error: ParseError::at(1, Malformed::Unknown)
            }
        );
        let e = ModuleIndex::parse(b"", b"", b"alias a\n").unwrap_err();
        assert_eq!(e.file, "modules.alias");
        assert!(ModuleIndex::parse(b"", b"", b"alias a b c\n").is_err());
        let mut i = ModuleIndex::default();
        assert_eq!(
            i.add_builtin(b"ok.ko\nbad\n"),
            Err(ParseError::at(6, Malformed::BadName))
        );
    }

    #[test]
    fn ignores_comments_blank_lines_and_crlf() {
        let i = ModuleIndex::parse(b"# c\n\n  \r\na.ko: b.ko\r\nb.ko:\r\n", b"", b"").unwrap();
        assert_eq!(i.load_order("a").unwrap(), ["b.ko", "a.ko"]);
    }

    #[test]
    fn glob_semantics_match_fnmatch() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("abc", "abc") && !m("abc", "abd") && !m("abc", "ab") && !m("ab", "abc"));
        assert!(
            m("*", "") && m("*", "a/b") && m("a*c", "abbbc") && m("a*c", "ac") && !m("a*c", "ab")
        );
        assert!(m("*a*b*", "xxaxxbxx") && !m("*a*b", "xxbxxa"));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("d0[0-2]*", "d01x") && !m("d0[0-2]*", "d03x"));
        assert!(m("[!a]", "b") && !m("[!a]", "a") && m("[^a-c]", "d"));
        assert!(m("[]]", "]") && m("[a-]", "-") && !m("[a-]", "b"));
        assert!(m("[ab", "[ab") && !m("[ab", "a"));
        assert!(m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(m("crypto-crc32c", "crypto_crc32c") && m("x_y", "x-y"));
        assert!(!m("[-]", "_"), "no - = _ inside a class");
        // Many stars do not blow up.
        assert!(!m(
            "*a*a*a*a*a*a*a*a*b",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
    }

    #[test]
    fn softdep_words_split_by_mode() {
        let i = ModuleIndex::parse(b"", b"softdep m x pre: a b post: c pre: d\n", b"").unwrap();
        let s = i.softdeps()[0];
        assert_eq!(s.module, "m");
        assert_eq!(s.pre().collect::<Vec<_>>(), ["a", "b", "d"]);
        assert_eq!(s.post().collect::<Vec<_>>(), ["c"]);
    }
}
