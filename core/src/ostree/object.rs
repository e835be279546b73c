//! Views of the OSTree metadata shapes (ostree-format.md §2.1): commit, dirtree, dirmeta, the
//! archive file header and bare-user `user.ostreemeta`.
//!
//! Each `parse` checks the whole object (normal form, field sizes, and the policy of DESIGN.md
//! "Trust and limits": modes, rdev, names sorted and unique) and returns borrowed fields; after
//! it succeeds no accessor can fail. Parsers are pure (no I/O, no hashing: `ostree::verify`).

use super::Checksum;
use crate::error::{Malformed, ParseError};
use crate::gvariant::{self, be_u32, be_u64, Array, Tuple};
use crate::name::Name;
use alloc::string::String;
use alloc::vec::Vec;

type R<T> = Result<T, ParseError>;

fn err(at: usize, kind: Malformed) -> ParseError {
    ParseError::at(at, kind)
}

/// `S_IFMT` and the two file kinds a content object may have.
pub const S_IFMT: u32 = 0o170000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;

/// Longest symlink target accepted (`PATH_MAX - 1`).
pub const MAX_TARGET: usize = 4095;

/// The object kinds a checkout meets (ostree-format.md §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjType {
    /// Content: a file or symlink.
    File,
    /// A directory listing.
    DirTree,
    /// A directory's owner, mode and xattrs.
    DirMeta,
    /// A commit.
    Commit,
}

impl ObjType {
    /// The object file extension (without the archive `z`).
    pub const fn ext(self) -> &'static str {
        match self {
            ObjType::File => "file",
            ObjType::DirTree => "dirtree",
            ObjType::DirMeta => "dirmeta",
            ObjType::Commit => "commit",
        }
    }
}

/// A 32-byte checksum field.
fn csum(b: &[u8], at: usize) -> R<&Checksum> {
    b.try_into().map_err(|_| err(at, Malformed::BadChecksum))
}

/// A parsed commit `(a{sv}aya(say)sstayay)`.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    /// The `a{sv}` metadata dictionary (validated).
    pub metadata: &'a [u8],
    metadata_at: usize,
    /// The parent commit, if any.
    pub parent: Option<&'a Checksum>,
    /// First line(s) of the message.
    pub subject: &'a str,
    /// The rest of the message.
    pub body: &'a str,
    /// Seconds since the epoch, UTC.
    pub timestamp: u64,
    /// Root dirtree checksum.
    pub root_tree: &'a Checksum,
    /// Root dirmeta checksum.
    pub root_meta: &'a Checksum,
}

impl<'a> Commit<'a> {
    /// Parses and checks a commit object.
    ///
    /// # Errors
    /// Any framing violation, a parent that is neither empty nor 32 bytes, tree checksums that
    /// are not 32 bytes, an empty metadata key.
    pub fn parse(b: &'a [u8]) -> R<Self> {
        let mut t = Tuple::new(b, 0);
        let (metadata, metadata_at) = t.next(8, None, false)?;
        let (parent, pat) = t.next(1, None, false)?;
        let (related, rat) = t.next(1, None, false)?;
        let (subject, sat) = t.next(1, None, false)?;
        let (body, bat) = t.next(1, None, false)?;
        let (ts, _) = t.next(8, Some(8), false)?;
        let (tree, tat) = t.next(1, None, false)?;
        let (meta, mat) = t.next(1, None, true)?;
        t.finish()?;
        gvariant::validate(b"a{sv}", metadata, metadata_at)?;
        let mut keys = Array::new(metadata, metadata_at, 8)?;
        while let Some(e) = keys.next_elem() {
            let (entry, at) = e?;
            if entry.first() == Some(&0) {
                return Err(err(at, Malformed::BadValue));
            }
        }
        gvariant::validate(b"a(say)", related, rat)?;
        let parent = match parent.len() {
            0 => None,
            _ => Some(csum(parent, pat)?),
        };
        Ok(Commit {
            metadata,
            metadata_at,
            parent,
            subject: gvariant::string(subject, sat)?,
            body: gvariant::string(body, bat)?,
            timestamp: be_u64(ts),
            root_tree: csum(tree, tat)?,
            root_meta: csum(meta, mat)?,
        })
    }

    /// The string value of metadata `key` (for example `version`), if present with type `s`.
    pub fn meta_str(&self, key: &str) -> Option<&'a str> {
        match gvariant::lookup(self.metadata, self.metadata_at, key) {
            Ok(Some((b"s", v))) => gvariant::string(v, 0).ok(),
            _ => None,
        }
    }
}

/// What a caller keeps of a commit: owned, so it outlives the object bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Seconds since the epoch, UTC.
    pub timestamp: u64,
    /// The parent commit, if any.
    pub parent: Option<Checksum>,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Metadata `version`, if set.
    pub version: Option<String>,
    /// Root dirtree checksum.
    pub root_tree: Checksum,
    /// Root dirmeta checksum.
    pub root_meta: Checksum,
}

impl CommitInfo {
    /// The owned copy of `c`.
    pub fn from_commit(c: &Commit<'_>) -> Self {
        CommitInfo {
            timestamp: c.timestamp,
            parent: c.parent.copied(),
            subject: String::from(c.subject),
            body: String::from(c.body),
            version: c.meta_str("version").map(String::from),
            root_tree: *c.root_tree,
            root_meta: *c.root_meta,
        }
    }
}

/// A file entry of a dirtree: name and content checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileEntry<'a> {
    /// The validated name.
    pub name: Name<'a>,
    /// Content object checksum.
    pub csum: &'a Checksum,
}

/// A subdirectory entry of a dirtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// The validated name.
    pub name: Name<'a>,
    /// Its dirtree checksum.
    pub tree: &'a Checksum,
    /// Its dirmeta checksum.
    pub meta: &'a Checksum,
}

/// A parsed dirtree `(a(say)a(sayay))`.
#[derive(Clone, Debug, Default)]
pub struct DirTree<'a> {
    /// Files and symlinks, sorted by name.
    pub files: Vec<FileEntry<'a>>,
    /// Subdirectories, sorted by name.
    pub dirs: Vec<DirEntry<'a>>,
}

/// A name of a dirtree: a GVariant string that is also a valid, UTF-8 path component
/// (`ot_util_filename_validate` plus our stricter rules).
fn entry_name(b: &[u8], at: usize) -> R<Name<'_>> {
    let s = gvariant::string(b, at)?;
    Name::new(s.as_bytes()).map_err(|_| err(at, Malformed::BadName))
}

impl<'a> DirTree<'a> {
    /// Parses and checks a dirtree: every name valid, each list strictly sorted, and no name in
    /// both lists.
    ///
    /// # Errors
    /// Framing violations, `BadName`, `Unsorted`, `Duplicate`, `BadChecksum`.
    pub fn parse(b: &'a [u8]) -> R<Self> {
        let mut t = Tuple::new(b, 0);
        let (files, fat) = t.next(1, None, false)?;
        let (dirs, dat) = t.next(1, None, true)?;
        t.finish()?;
        let mut out = DirTree::default();
        let mut arr = Array::new(files, fat, 1)?;
        out.files.reserve(arr.len());
        while let Some(e) = arr.next_elem() {
            let (elem, at) = e?;
            let mut t = Tuple::new(elem, at);
            let (name, nat) = t.next(1, None, false)?;
            let (c, cat) = t.next(1, None, true)?;
            t.finish()?;
            let entry = FileEntry {
                name: entry_name(name, nat)?,
                csum: csum(c, cat)?,
            };
            if let Some(prev) = out.files.last() {
                check_order(prev.name, entry.name, nat)?;
            }
            out.files.push(entry);
        }
        let mut arr = Array::new(dirs, dat, 1)?;
        out.dirs.reserve(arr.len());
        while let Some(e) = arr.next_elem() {
            let (elem, at) = e?;
            let mut t = Tuple::new(elem, at);
            let (name, nat) = t.next(1, None, false)?;
            let (tr, tat) = t.next(1, None, false)?;
            let (m, mat) = t.next(1, None, true)?;
            t.finish()?;
            let entry = DirEntry {
                name: entry_name(name, nat)?,
                tree: csum(tr, tat)?,
                meta: csum(m, mat)?,
            };
            if let Some(prev) = out.dirs.last() {
                check_order(prev.name, entry.name, nat)?;
            }
            out.dirs.push(entry);
        }
        // Unique across both lists: merge the two sorted lists.
        let (mut i, mut j) = (0, 0);
        while let (Some(f), Some(d)) = (out.files.get(i), out.dirs.get(j)) {
            match f.name.as_bytes().cmp(d.name.as_bytes()) {
                core::cmp::Ordering::Less => i += 1,
                core::cmp::Ordering::Greater => j += 1,
                core::cmp::Ordering::Equal => return Err(err(dat, Malformed::Duplicate)),
            }
        }
        Ok(out)
    }
}

fn check_order(prev: Name<'_>, next: Name<'_>, at: usize) -> R<()> {
    match prev.as_bytes().cmp(next.as_bytes()) {
        core::cmp::Ordering::Less => Ok(()),
        core::cmp::Ordering::Equal => Err(err(at, Malformed::Duplicate)),
        core::cmp::Ordering::Greater => Err(err(at, Malformed::Unsorted)),
    }
}

/// Owner, mode and xattrs: a parsed `(uuua(ayay))` (dirmeta and `user.ostreemeta`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta<'a> {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Mode including the file type bits.
    pub mode: u32,
    /// The serialized `a(ayay)` (validated).
    pub xattrs: &'a [u8],
}

impl<'a> Meta<'a> {
    /// Parses `(uuua(ayay))` without mode policy.
    fn parse_any(b: &'a [u8]) -> R<Self> {
        let mut t = Tuple::new(b, 0);
        let (uid, _) = t.next(4, Some(4), false)?;
        let (gid, _) = t.next(4, Some(4), false)?;
        let (mode, mat) = t.next(4, Some(4), false)?;
        let (xattrs, xat) = t.next(1, None, true)?;
        t.finish()?;
        gvariant::check_xattrs(xattrs, xat)?;
        let _ = mat;
        Ok(Meta {
            uid: be_u32(uid),
            gid: be_u32(gid),
            mode: be_u32(mode),
            xattrs,
        })
    }

    /// Parses a dirmeta: the mode must be a directory with no bits outside 07777.
    ///
    /// # Errors
    /// Framing violations or `BadMode`.
    pub fn parse_dirmeta(b: &'a [u8]) -> R<Self> {
        let m = Self::parse_any(b)?;
        if m.mode & S_IFMT != S_IFDIR || m.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(err(8, Malformed::BadMode));
        }
        Ok(m)
    }

    /// Parses bare-user `user.ostreemeta`: the mode must be a regular file or symlink.
    ///
    /// # Errors
    /// Framing violations or `BadMode`.
    pub fn parse_ostreemeta(b: &'a [u8]) -> R<Self> {
        let m = Self::parse_any(b)?;
        check_file_mode(m.mode, 8)?;
        Ok(m)
    }
}

/// A content object's mode must be S_IFREG or S_IFLNK with no bits outside 07777.
pub fn check_file_mode(mode: u32, at: usize) -> R<()> {
    let kind = mode & S_IFMT;
    if (kind != S_IFREG && kind != S_IFLNK) || mode & !(S_IFMT | 0o7777) != 0 {
        return Err(err(at, Malformed::BadMode));
    }
    Ok(())
}

/// The archive `.filez` header `(tuuuusa(ayay))` (ostree-format.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader<'a> {
    /// Uncompressed size (regular files).
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Mode with type bits (S_IFREG or S_IFLNK).
    pub mode: u32,
    /// Symlink target (empty for regular files), without NUL.
    pub target: &'a [u8],
    /// The serialized `a(ayay)` (validated).
    pub xattrs: &'a [u8],
}

impl<'a> FileHeader<'a> {
    /// Parses a file header: mode S_IFREG or S_IFLNK, rdev 0, a symlink has a non-empty target
    /// of at most 4095 bytes and a regular file none.
    ///
    /// # Errors
    /// Framing violations, `BadMode`, `BadValue` (rdev or target).
    pub fn parse(b: &'a [u8]) -> R<Self> {
        let mut t = Tuple::new(b, 0);
        let (size, _) = t.next(8, Some(8), false)?;
        let (uid, _) = t.next(4, Some(4), false)?;
        let (gid, _) = t.next(4, Some(4), false)?;
        let (mode, mat) = t.next(4, Some(4), false)?;
        let (rdev, rat) = t.next(4, Some(4), false)?;
        let (target, tat) = t.next(1, None, false)?;
        let (xattrs, xat) = t.next(1, None, true)?;
        t.finish()?;
        let target = gvariant::string(target, tat)?.as_bytes();
        gvariant::check_xattrs(xattrs, xat)?;
        let h = FileHeader {
            size: be_u64(size),
            uid: be_u32(uid),
            gid: be_u32(gid),
            mode: be_u32(mode),
            target,
            xattrs,
        };
        check_file_mode(h.mode, mat)?;
        if be_u32(rdev) != 0 {
            return Err(err(rat, Malformed::BadValue));
        }
        check_target(h.mode, target, tat)?;
        Ok(h)
    }
}

/// A symlink needs a target of 1..=4095 bytes; a regular file must have none.
pub fn check_target(mode: u32, target: &[u8], at: usize) -> R<()> {
    let ok = if mode & S_IFMT == S_IFLNK {
        !target.is_empty() && target.len() <= MAX_TARGET && !target.contains(&0)
    } else {
        target.is_empty()
    };
    if ok {
        Ok(())
    } else {
        Err(err(at, Malformed::BadValue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Hex digits of `s`; on each line, text after `|` is a comment.
    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s
            .lines()
            .flat_map(|l| l.split('|').next().unwrap_or("").bytes())
            .filter(u8::is_ascii_hexdigit)
            .collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// dirmeta 446a0ef1…5488 (ostree-format.md §2.2): uid 0, gid 0, mode 040755 (BE), no xattrs.
    const DIRMETA: &str = "00000000 00000000 000041ed";

    #[test]
    fn parses_real_dirmeta() {
        let b = hex(DIRMETA);
        let m = Meta::parse_dirmeta(&b).unwrap();
        assert_eq!((m.uid, m.gid, m.mode, m.xattrs), (0, 0, 0o40755, &b""[..]));
    }

    #[test]
    fn rejects_dirmeta_with_file_mode_or_trailing_byte() {
        assert!(Meta::parse_dirmeta(&hex("00000000 00000000 000081a4")).is_err());
        // A trailing byte becomes an xattr array that is not well framed.
        assert!(Meta::parse_dirmeta(&hex("00000000 00000000 000041ed 00")).is_err());
    }

    fn dirtree_one_file(name: &[u8], csum: &[u8; 32]) -> Vec<u8> {
        // (say): name\0, csum, offset of end of name
        let mut e = Vec::new();
        e.extend_from_slice(name);
        e.push(0);
        e.extend_from_slice(csum);
        e.push((name.len() + 1) as u8);
        let mut b = e.clone();
        b.push(e.len() as u8); // a(say) element end
        let files_end = b.len();
        b.push(files_end as u8); // outer tuple offset: end of member 0
        b
    }

    #[test]
    fn parses_real_dirtree_bytes() {
        // dirtree ad1442a3… (ostree-format.md §2.2): one file "x" → 3168f4d2…, no dirs.
        let mut c = [0u8; 32];
        c[0] = 0x31;
        c[1] = 0x68;
        let b = dirtree_one_file(b"x", &c);
        assert_eq!(b.len(), 37);
        assert_eq!(&b[..2], b"x\0"); // "x\0"
        assert_eq!(&b[34..], &[0x02, 0x23, 0x24]); // (say) offset, element end, tuple offset
        let t = DirTree::parse(&b).unwrap();
        assert_eq!(t.files.len(), 1);
        assert_eq!(t.files[0].name.as_bytes(), b"x");
        assert_eq!(t.files[0].csum, &c);
        assert!(t.dirs.is_empty());
    }

    #[test]
    fn rejects_dirtree_with_bad_names() {
        let c = [7u8; 32];
        for n in [&b"."[..], b"..", b"a/b", b""] {
            assert!(DirTree::parse(&dirtree_one_file(n, &c)).is_err(), "{n:?}");
        }
    }

    /// Builds `(a(say)a(sayay))` from lists, in the given order.
    fn dirtree(files: &[&[u8]], dirs: &[&[u8]]) -> Vec<u8> {
        let mut fa = Vec::new();
        let mut ends = Vec::new();
        for n in files {
            fa.extend_from_slice(n);
            fa.push(0);
            fa.extend_from_slice(&[1; 32]);
            fa.push((n.len() + 1) as u8);
            ends.push(fa.len() as u8);
        }
        fa.extend_from_slice(&ends);
        let mut da = Vec::new();
        let mut ends = Vec::new();
        for n in dirs {
            da.extend_from_slice(n);
            da.push(0);
            da.extend_from_slice(&[2; 64]);
            // offsets reversed: end of s is last, end of first ay before it
            da.push((n.len() + 1 + 32) as u8);
            da.push((n.len() + 1) as u8);
            ends.push(da.len() as u8);
        }
        da.extend_from_slice(&ends);
        let mut b = fa.clone();
        b.extend_from_slice(&da);
        b.push(fa.len() as u8);
        b
    }

    #[test]
    fn accepts_sorted_unique_names() {
        let b = dirtree(&[b"a", b"c"], &[b"b", b"d"]);
        let t = DirTree::parse(&b).unwrap();
        assert_eq!(t.files.len(), 2);
        assert_eq!(t.dirs.len(), 2);
        assert_eq!(t.dirs[1].name.as_bytes(), b"d");
        assert_eq!(t.dirs[1].tree, &[2; 32]);
    }

    #[test]
    fn rejects_dirtree_with_unsorted_names() {
        let e = DirTree::parse(&dirtree(&[b"b", b"a"], &[])).unwrap_err();
        assert_eq!(e.kind, Malformed::Unsorted);
        let e = DirTree::parse(&dirtree(&[], &[b"z", b"y"])).unwrap_err();
        assert_eq!(e.kind, Malformed::Unsorted);
    }

    #[test]
    fn rejects_dirtree_with_duplicate_names() {
        let e = DirTree::parse(&dirtree(&[b"a", b"a"], &[])).unwrap_err();
        assert_eq!(e.kind, Malformed::Duplicate);
        let e = DirTree::parse(&dirtree(&[b"a", b"b"], &[b"b"])).unwrap_err();
        assert_eq!(e.kind, Malformed::Duplicate);
    }

    /// Archive header of 28af666c… (ostree-format.md §3), after the 8-byte length prefix.
    const HELLO_HDR: &str = "
        0000000000000006 00000000 00000000 000081a4 00000000
        00
        757365722e666f6f00 626172 09
        0d
        19";

    #[test]
    fn parses_real_archive_header() {
        let b = hex(HELLO_HDR);
        assert_eq!(b.len(), 40);
        let h = FileHeader::parse(&b).unwrap();
        assert_eq!((h.size, h.uid, h.gid, h.mode), (6, 0, 0, 0o100644));
        assert_eq!(h.target, b"");
        assert_eq!(h.xattrs, hex("757365722e666f6f00 626172 09 0d"));
    }

    #[test]
    fn parses_real_symlink_header() {
        // f66efa49…: size 0, uid 0, gid 0, mode 0120777, rdev 0, "hello.txt", no xattrs.
        let b = hex("0000000000000000 00000000 00000000 0000a1ff 00000000 68656c6c6f2e74787400 22");
        assert_eq!(b.len(), 0x23);
        let h = FileHeader::parse(&b).unwrap();
        assert_eq!(h.mode, 0o120777);
        assert_eq!(h.target, b"hello.txt");
    }

    #[test]
    fn rejects_device_mode_and_nonzero_rdev() {
        let mut b = hex(HELLO_HDR);
        b[16..20].copy_from_slice(&0o20644u32.to_be_bytes()); // char device
        assert_eq!(FileHeader::parse(&b).unwrap_err().kind, Malformed::BadMode);
        let mut b = hex(HELLO_HDR);
        b[23] = 1; // rdev
        assert_eq!(FileHeader::parse(&b).unwrap_err().kind, Malformed::BadValue);
        let mut b = hex(HELLO_HDR);
        b[18] = 0x8d; // 0x8da4 = S_IFREG | 06644: setuid/setgid are allowed bits
        assert!(FileHeader::parse(&b).is_ok());
        let mut b = hex(HELLO_HDR);
        b[17] = 0x01; // 0x0181a4: bits above S_IFMT
        assert_eq!(FileHeader::parse(&b).unwrap_err().kind, Malformed::BadMode);
    }

    #[test]
    fn rejects_header_with_trailing_or_padding_bytes() {
        let mut b = hex(HELLO_HDR);
        b.insert(24, 0); // extra byte inside the tuple
        assert!(FileHeader::parse(&b).is_err());
        let mut b = hex(HELLO_HDR);
        b.push(0);
        assert!(FileHeader::parse(&b).is_err());
    }

    #[test]
    fn content_header_round_trips_the_real_bytes() {
        // ostree-format.md §5 worked example: HDR of hello.txt, 32 bytes, with the 8-byte prefix.
        let want = hex("00000020 00000000
             00000000 00000000 000081a4 00000000 00 757365722e666f6f00626172090d 11");
        let hdr = hex(HELLO_HDR);
        let h = FileHeader::parse(&hdr).unwrap();
        let mut out = Vec::new();
        gvariant::emit_content_header(h.uid, h.gid, h.mode, h.target, h.xattrs, &mut out);
        assert_eq!(out, want);
        // emit(parse(b)) == b on the content header itself: parse it as (uuuusa(ayay)).
        let body = &want[8..];
        let mut t = Tuple::new(body, 0);
        let u: Vec<u32> = (0..4)
            .map(|_| be_u32(t.next(4, Some(4), false).unwrap().0))
            .collect();
        let (s, _) = t.next(1, None, false).unwrap();
        let (x, _) = t.next(1, None, true).unwrap();
        t.finish().unwrap();
        let mut again = Vec::new();
        gvariant::emit_content_header(u[0], u[1], u[2], &s[..s.len() - 1], x, &mut again);
        assert_eq!(again, want);
    }

    #[test]
    fn content_header_offset_width_changes_at_255() {
        let target = vec![b'a'; 300];
        let mut out = Vec::new();
        gvariant::emit_content_header(0, 0, S_IFLNK | 0o777, &target, b"", &mut out);
        let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, 16 + 301 + 2);
        assert_eq!(&out[out.len() - 2..], &(16u16 + 301).to_le_bytes());
    }

    /// A real commit written by ostree 2022.7 (offsets in bytes, comments after `|`) (`ostree commit -b master -s "first commit"
    /// --add-metadata-string=version=1.0`), 150 bytes, named d851d9b7….
    const REAL_COMMIT: &str = "
        76657273696f6e00 312e3000 00 73 08   | 0..15   {sv}: key 'version', <'1.0'> = body, NUL, 's'; key end 8
        00                                   | 15..16  pad to 8
        6f73747265652e7265662d62696e64696e6700  | 16..35 {sv}: key 'ostree.ref-binding'
        0000000000                           | 35..40  pad to 8 (the variant is 8-aligned)
        6d617374657200 07 00 6173            | 40..51  <['master']>: as body (elem end 7), NUL, 'as'
        13                                   | 51..52  key end 19 (relative to the entry)
        0f 34                                | 52..54  a{sv} element ends 15, 52
        666972737420636f6d6d697400           | 54..67  subject 'first commit'
        00                                   | 67..68  body ''
        00000000                             | 68..72  pad to 8
        000000006b083a05                     | 72..80  timestamp, BE
        d616935932125b1b5d437cc6e3648c7c1c2ddfb0fb17646937b2462637d227c5   | 80..112 root dirtree
        446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488  | 112..144 root dirmeta
        70 44 43 36 36 36                    | offsets, last first: a{sv} 54, parent 54, related 54,
                                             | subject 67, body 68, tree 112
    ";

    #[test]
    fn parses_a_real_commit_and_its_checksums() {
        let b = hex(REAL_COMMIT);
        assert_eq!(b.len(), 150);
        let name = "d851d9b7afa08aa0842ea79caae7e1d754a21993781c0412e9e72c8c7d996e90";
        let want = super::super::parse_checksum(name.as_bytes()).unwrap();
        assert_eq!(super::super::verify::sha256(&b), want);
        let c = Commit::parse(&b).unwrap();
        assert_eq!(c.subject, "first commit");
        assert_eq!(c.body, "");
        assert_eq!(c.timestamp, 0x6b08_3a05);
        assert_eq!(c.parent, None);
        assert_eq!(c.meta_str("version"), Some("1.0"));
        assert_eq!(c.meta_str("ostree.ref-binding"), None); // `as`, not `s`
        assert_eq!(c.root_tree[..2], [0xd6, 0x16]);
        assert_eq!(c.root_meta[..2], [0x44, 0x6a]);
        // `ostree log` printed ContentChecksum 4ead1651…
        let cc = super::super::verify::content_checksum(c.root_tree, c.root_meta);
        assert_eq!(cc[..4], [0x4e, 0xad, 0x16, 0x51]);
        // Every single-byte change breaks either the parse or (for data bytes) nothing else;
        // no change may panic.
        for i in 0..b.len() {
            let mut m = b.clone();
            m[i] ^= 0xff;
            let _ = Commit::parse(&m);
        }
        // Truncations and trailing bytes are refused.
        for n in 0..b.len() {
            assert!(Commit::parse(&b[..n]).is_err(), "{n}");
        }
        let mut t = b.clone();
        t.push(0);
        assert!(Commit::parse(&t).is_err());
    }

    #[test]
    fn no_input_derived_from_real_objects_panics() {
        // Every truncation and every single-byte change of real objects: Ok or Err, no panic.
        let dt = dirtree(&[b"a", b"c"], &[b"b", b"d"]);
        let hdr = hex(HELLO_HDR);
        for obj in [&dt, &hdr] {
            for n in 0..obj.len() {
                let _ = DirTree::parse(&obj[..n]);
                let _ = FileHeader::parse(&obj[..n]);
                let _ = Meta::parse_dirmeta(&obj[..n]);
                for v in [0u8, 1, 0x7f, 0xff] {
                    let mut m = obj.clone();
                    m[n] = v;
                    let _ = DirTree::parse(&m);
                    let _ = FileHeader::parse(&m);
                    let _ = Meta::parse_ostreemeta(&m);
                }
            }
        }
    }

    #[test]
    fn parses_the_real_empty_dirtree() {
        // 6e340b9c…: the empty dirtree is one byte, the framing offset of member 0.
        let t = DirTree::parse(&[0]).unwrap();
        assert!(t.files.is_empty() && t.dirs.is_empty());
        assert!(DirTree::parse(&[]).is_err());
    }

    /// The commit d90a886b… is 158 bytes; this rebuilds its documented layout: a{sv} with
    /// `version → <'1.0'>` (0..57 incl. another key), empty parent and related, subject,
    /// body, BE timestamp 1577836800, tree and meta checksums, offsets `78 50 46 39 39 39`.
    #[test]
    fn parses_commit_layout() {
        let mut b = Vec::new();
        // a{sv}: one entry "version" -> <"1.0">: "version\0" "1.0\0" 00 73 08 = 15 bytes
        let entry = hex("76657273696f6e00 312e3000 00 73 08");
        b.extend_from_slice(&entry);
        b.push(entry.len() as u8); // array element end
        let meta_end = b.len();
        let subject = b"subject\0";
        b.extend_from_slice(subject);
        let subj_end = b.len();
        b.extend_from_slice(b"body\0");
        let body_end = b.len();
        while b.len() % 8 != 0 {
            b.push(0);
        }
        b.extend_from_slice(&1577836800u64.to_be_bytes());
        b.extend_from_slice(&[0x88; 32]);
        let tree_end = b.len();
        b.extend_from_slice(&[0x44; 32]);
        for o in [tree_end, body_end, subj_end, meta_end, meta_end, meta_end] {
            b.push(o as u8);
        }
        let c = Commit::parse(&b).unwrap();
        assert_eq!(c.timestamp, 1577836800);
        assert_eq!(c.subject, "subject");
        assert_eq!(c.body, "body");
        assert_eq!(c.parent, None);
        assert_eq!(c.root_tree, &[0x88; 32]);
        assert_eq!(c.root_meta, &[0x44; 32]);
        assert_eq!(c.meta_str("version"), Some("1.0"));
        assert_eq!(c.meta_str("other"), None);
        // A non-zero padding byte before the timestamp is refused.
        let mut bad = b.clone();
        bad[body_end] = 1;
        assert!(body_end % 8 != 0 && Commit::parse(&bad).is_err());
    }
}
