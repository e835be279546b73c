//! A reproducible cpio "newc" writer for the initramfs (anchors-multicall.md §5).
//!
//! Format (Documentation/driver-api/early-userspace/buffer-format.rst): each entry is a 110-byte
//! ASCII-hex header with magic `070701`, then the name and its NUL padded to a multiple of 4
//! (counting from the header's start), then the data padded to a multiple of 4. `TRAILER!!!`
//! ends the archive; like the kernel's `gen_init_cpio` we pad the whole archive to 512 bytes.
//!
//! Invariant: the bytes depend only on the entries' names, kinds, modes and contents and on the
//! one `mtime` given. Entries are sorted by path components (so a directory precedes what it
//! holds), owners are 0:0, inode numbers count up from 1 in that order, and there are no hard
//! links. Device nodes are written as headers, so no root privileges are needed.

use std::collections::BTreeMap;

/// What an entry is, with its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

/// One archive member: its kind and permission bits (the type bits come from the kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub perm: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// A set of entries keyed by path (`bin/ramdisk`, no leading `/`), written in tree order.
#[derive(Default, Debug, Clone)]
pub struct Archive {
    entries: BTreeMap<Vec<String>, Entry>,
}

impl Archive {
    pub fn new() -> Archive {
        Archive::default()
    }

    /// Adds `path` (leading `/` optional); missing parent directories are added with mode 0755.
    ///
    /// # Errors
    /// An empty path, a `.`/`..`/empty component, a parent that is not a directory, a path
    /// already present with a different entry (the same entry twice is fine: `mkdir -p`), or
    /// data of 4 GiB or more (newc sizes are 32-bit).
    pub fn add(&mut self, path: &str, entry: Entry) -> Result<(), String> {
        let comps = split(path)?;
        let size = match &entry.kind {
            Kind::File(d) => d.len(),
            Kind::Symlink(t) => t.len(),
            _ => 0,
        };
        if u32::try_from(size).is_err() || u32::try_from(path.len() + 1).is_err() {
            return Err(format!("'{path}': too large for a newc header (4 GiB)"));
        }
        for depth in 1..comps.len() {
            let parent = comps[..depth].to_vec();
            match self.entries.get(&parent) {
                Some(Entry {
                    kind: Kind::Dir, ..
                }) => {}
                Some(_) => {
                    return Err(format!(
                        "'{path}': '{}' is not a directory",
                        parent.join("/")
                    ))
                }
                None => {
                    self.entries.insert(
                        parent,
                        Entry {
                            kind: Kind::Dir,
                            perm: 0o755,
                        },
                    );
                }
            }
        }
        match self.entries.get(&comps) {
            Some(old) if *old == entry => Ok(()),
            Some(_) => Err(format!("'{path}' is added twice with different contents")),
            None => {
                self.entries.insert(comps, entry);
                Ok(())
            }
        }
    }

    /// True when `path` is present.
    pub fn contains(&self, path: &str) -> bool {
        split(path)
            .map(|c| self.entries.contains_key(&c))
            .unwrap_or(false)
    }

    /// Paths in archive order, `/`-joined without a leading `/`.
    pub fn paths(&self) -> Vec<String> {
        self.entries.keys().map(|k| k.join("/")).collect()
    }

    /// The archive bytes: every entry, then the trailer, padded to a multiple of 512.
    pub fn to_bytes(&self, mtime: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (comps, e)) in (1u32..).zip(&self.entries) {
            let (ty, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match &e.kind {
                Kind::Dir => (S_IFDIR, 2, &[], (0, 0)),
                Kind::File(d) => (S_IFREG, 1, d, (0, 0)),
                Kind::Symlink(t) => (S_IFLNK, 1, t.as_bytes(), (0, 0)),
                Kind::CharDev { major, minor } => (S_IFCHR, 1, &[], (*major, *minor)),
            };
            let header = Header {
                ino,
                mode: ty | (e.perm & 0o7777),
                nlink,
                mtime,
                filesize: data.len() as u32,
                rdev,
            };
            header.emit(&comps.join("/"), &mut out);
            out.extend_from_slice(data);
            pad(&mut out, 4);
        }
        let trailer = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            filesize: 0,
            rdev: (0, 0),
        };
        trailer.emit("TRAILER!!!", &mut out);
        pad(&mut out, 512);
        out
    }
}

/// The header fields that vary; uid, gid, the archive's own device and `check` are always 0.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    filesize: u32,
    rdev: (u32, u32),
}

impl Header {
    /// Appends the 110-byte header and the NUL-terminated `name`, padded to 4.
    fn emit(&self, name: &str, out: &mut Vec<u8>) {
        let namesize = name.len() as u32 + 1;
        let fields = [
            self.ino,
            self.mode,
            0, // uid
            0, // gid
            self.nlink,
            self.mtime,
            self.filesize,
            0, // devmajor
            0, // devminor
            self.rdev.0,
            self.rdev.1,
            namesize,
            0, // check
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad(out, 4);
    }
}

fn pad(out: &mut Vec<u8>, to: usize) {
    while !out.len().is_multiple_of(to) {
        out.push(0);
    }
}

fn split(path: &str) -> Result<Vec<String>, String> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.is_empty() {
        return Err(format!("'{path}': empty path"));
    }
    let comps: Vec<String> = p.split('/').map(str::to_string).collect();
    if comps.iter().any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("'{path}': empty, '.' or '..' component"));
    }
    Ok(comps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(d: &[u8]) -> Entry {
        Entry {
            kind: Kind::File(d.to_vec()),
            perm: 0o644,
        }
    }

    #[test]
    fn header_fields_and_padding_follow_newc() {
        let mut a = Archive::new();
        a.add("/a", file(b"hello")).unwrap();
        let b = a.to_bytes(7);
        let expected_header = concat!(
            "070701",   // magic (newc)
            "00000001", // ino: first entry
            "000081A4", // mode: S_IFREG | 0644
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "00000007", // mtime
            "00000005", // filesize
            "00000000", // devmajor
            "00000000", // devminor
            "00000000", // rdevmajor
            "00000000", // rdevminor
            "00000002", // namesize: "a\0"
            "00000000", // check
        );
        assert_eq!(&b[..110], expected_header.as_bytes());
        // 110 + 2 = 112 is already aligned; data at 112, padded to 120
        assert_eq!(&b[110..112], b"a\0");
        assert_eq!(&b[112..120], b"hello\0\0\0");
        assert_eq!(&b[120..126], b"070701");
        assert_eq!(b.len() % 512, 0);
        let trailer_name = b.windows(10).position(|w| w == b"TRAILER!!!");
        assert_eq!(trailer_name, Some(120 + 110));
    }

    #[test]
    fn parents_are_added_and_sorted_before_children() {
        let mut a = Archive::new();
        a.add("bin/ramdisk", file(b"x")).unwrap();
        a.add("bin-x", file(b"y")).unwrap();
        a.add(
            "/dev/console",
            Entry {
                kind: Kind::CharDev { major: 5, minor: 1 },
                perm: 0o600,
            },
        )
        .unwrap();
        assert_eq!(
            a.paths(),
            ["bin", "bin/ramdisk", "bin-x", "dev", "dev/console"]
        );
    }

    #[test]
    fn rejects_conflicting_entries_and_bad_paths() {
        let mut a = Archive::new();
        a.add("etc/x", file(b"1")).unwrap();
        a.add("etc/x", file(b"1")).unwrap();
        assert!(a.add("etc/x", file(b"2")).is_err());
        assert!(a.add("etc/x/y", file(b"2")).is_err());
        assert!(a.add("a/../b", file(b"2")).is_err());
        assert!(a.add("/", file(b"2")).is_err());
    }

    #[test]
    fn same_entries_give_same_bytes_whatever_the_insertion_order() {
        let mut a = Archive::new();
        let mut b = Archive::new();
        a.add("x/1", file(b"1")).unwrap();
        a.add("x/2", file(b"2")).unwrap();
        b.add("x/2", file(b"2")).unwrap();
        b.add("x/1", file(b"1")).unwrap();
        assert_eq!(a.to_bytes(0), b.to_bytes(0));
    }
}
