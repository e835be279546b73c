//! Snapshot a directory tree and diff two snapshots, entry by entry.
//!
//! An entry records what a checkout must reproduce: type, permission bits (07777), uid, gid,
//! xattrs, symlink target and a SHA-256 of the content. File mtimes are not recorded (a copy
//! checkout gives them "now"); directory mtimes are, because ostree sets them to 0.
//! Paths are relative to the root; the root itself is `.`.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What kind of inode an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// Anything else (device, fifo, socket): the raw `S_IFMT` bits.
    Other(u32),
}

/// One entry of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// `st_mode & 0o7777`.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Name → value, as listed by `llistxattr` (symlinks included, never followed).
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Symlink target (raw bytes).
    pub target: Option<Vec<u8>>,
    /// Regular files: size and lowercase hex SHA-256 of the content.
    pub size: u64,
    pub sha256: Option<String>,
    /// Directories only: mtime in seconds (compared as zero / non-zero).
    pub dir_mtime: Option<i64>,
}

/// A whole tree: relative path → entry, sorted by path bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Entry>);

/// Fields a comparison may skip.
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    /// Xattr names left out of the comparison (e.g. `user.ostreemeta` on bare-user hardlinks).
    pub xattrs: Vec<Vec<u8>>,
    /// Do not compare directory mtimes.
    pub dir_mtime: bool,
    /// Do not compare the owner of symlinks.
    pub symlink_owner: bool,
}

/// Lists xattrs of `path` without following a symlink.
pub fn xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let pb = path.as_os_str().as_bytes();
    let n = match rustix::fs::llistxattr_query(pb) {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return out,
        Err(e) => panic!("llistxattr {}: {e}", path.display()),
    };
    let mut names = vec![0u8; n + 256];
    let n = rustix::fs::llistxattr(pb, &mut names[..])
        .unwrap_or_else(|e| panic!("llistxattr {}: {e}", path.display()));
    names.truncate(n);
    for name in names.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let cname = name;
        let len = rustix::fs::lgetxattr_query(pb, cname)
            .unwrap_or_else(|e| panic!("lgetxattr {} {}: {e}", path.display(), show_bytes(cname)));
        let mut value = vec![0u8; len + 256];
        let len = rustix::fs::lgetxattr(pb, cname, &mut value[..])
            .unwrap_or_else(|e| panic!("lgetxattr {} {}: {e}", path.display(), show_bytes(cname)));
        value.truncate(len);
        out.insert(name.to_vec(), value);
    }
    out
}

/// SHA-256 of a file's content, lowercase hex.
/// Large files go through `sha256sum` (native speed; the tests build sha2 unoptimized).
pub fn sha256_file(path: &Path) -> String {
    let big = std::fs::metadata(path).is_ok_and(|m| m.len() > 256 << 10);
    if big {
        if let Ok(o) = std::process::Command::new("sha256sum").arg(path).output() {
            let s = String::from_utf8_lossy(&o.stdout);
            if let Some(h) = s.split_whitespace().next().filter(|h| h.len() == 64) {
                return h.to_string();
            }
        }
    }
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hex(&Sha256::digest(&data))
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads one entry (never follows a final symlink).
pub fn entry(path: &Path) -> Entry {
    let md =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let fmt = md.mode() & 0o170000;
    let kind = match fmt {
        0o040000 => Kind::Dir,
        0o100000 => Kind::File,
        0o120000 => Kind::Symlink,
        other => Kind::Other(other),
    };
    let target = (kind == Kind::Symlink).then(|| {
        std::fs::read_link(path)
            .unwrap_or_else(|e| panic!("readlink {}: {e}", path.display()))
            .into_os_string()
            .as_bytes()
            .to_vec()
    });
    Entry {
        kind,
        perm: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        xattrs: xattrs(path),
        target,
        size: if kind == Kind::File { md.size() } else { 0 },
        sha256: (kind == Kind::File).then(|| sha256_file(path)),
        dir_mtime: (kind == Kind::Dir).then(|| md.mtime()),
    }
}

/// Snapshots the tree under `root` (the root is entry `.`). Never follows symlinks.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut map = BTreeMap::new();
    walk(root, Path::new("."), &mut map);
    Snapshot(map)
}

/// Snapshots a tree, leaving out the top-level names in `skip` (e.g. the destination itself).
pub fn snapshot_except(root: &Path, skip: &[&str]) -> Snapshot {
    let mut s = snapshot(root);
    s.0.retain(|p, _| {
        let mut c = p.components();
        c.next(); // "."
        match c.next() {
            Some(first) => !skip.iter().any(|s| first.as_os_str() == *s),
            None => true,
        }
    });
    s
}

fn walk(abs: &Path, rel: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let e = entry(abs);
    let is_dir = e.kind == Kind::Dir;
    map.insert(rel.to_path_buf(), e);
    if !is_dir {
        return;
    }
    let mut names: Vec<OsString> = std::fs::read_dir(abs)
        .unwrap_or_else(|e| panic!("readdir {}: {e}", abs.display()))
        .map(|d| d.expect("readdir entry").file_name())
        .collect();
    names.sort();
    for n in names {
        walk(&abs.join(&n), &rel.join(&n), map);
    }
}

fn show_bytes(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap_or_else(|_| format!("0x{}", hex(b)))
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            Kind::Dir => "dir".to_string(),
            Kind::File => "file".to_string(),
            Kind::Symlink => "symlink".to_string(),
            Kind::Other(m) => format!("S_IFMT={m:o}"),
        };
        write!(f, "{k} {:04o} {}:{}", self.perm, self.uid, self.gid)?;
        if let Some(t) = &self.target {
            write!(f, " -> {}", show_bytes(t))?;
        }
        if let Some(h) = &self.sha256 {
            write!(f, " size={} sha256={}", self.size, &h[..16])?;
        }
        if let Some(m) = self.dir_mtime {
            write!(f, " mtime={m}")?;
        }
        for (k, v) in &self.xattrs {
            write!(f, " {}=0x{}", show_bytes(k), hex(v))?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// Human-readable differences (`want` = self, `got` = other); empty when equal.
    pub fn diff(&self, other: &Snapshot, ignore: &Ignore) -> Vec<String> {
        let mut out = Vec::new();
        let strip = |e: &Entry| {
            let mut e = e.clone();
            e.xattrs.retain(|k, _| !ignore.xattrs.contains(k));
            if ignore.symlink_owner && e.kind == Kind::Symlink {
                (e.uid, e.gid) = (u32::MAX, u32::MAX);
            }
            // ostree sets directory mtimes to 0; any other value is "when it ran", so only
            // zero-or-not is compared.
            e.dir_mtime = match e.dir_mtime {
                _ if ignore.dir_mtime => None,
                Some(m) => Some(i64::from(m != 0)),
                None => None,
            };
            e
        };
        for (p, a) in &self.0 {
            match other.0.get(p) {
                None => out.push(format!("missing  {}: want {a}", p.display())),
                Some(b) => {
                    let (a, b) = (strip(a), strip(b));
                    if a != b {
                        out.push(format!(
                            "differs  {}:\n    want {a}\n    got  {b}",
                            p.display()
                        ));
                    }
                }
            }
        }
        for (p, b) in &other.0 {
            if !self.0.contains_key(p) {
                out.push(format!("extra    {}: got {b}", p.display()));
            }
        }
        out
    }

    /// Panics with a readable diff unless the snapshots match.
    pub fn assert_same(&self, other: &Snapshot, ignore: &Ignore, what: &str) {
        let d = self.diff(other, ignore);
        assert!(
            d.is_empty(),
            "{what}: trees differ ({} entries; want = reference, got = under test):\n{}",
            d.len(),
            d.join("\n")
        );
    }
}
