//! Content objects as a verified stream (ostree-format.md §3, §4, §5).
//!
//! [`Content::open`] reads a content object's metadata in any repo mode (archive `.filez`
//! header; bare `fstat` + xattrs; bare-user `user.ostreemeta`; bare-user-only `st_mode`),
//! builds the canonical `(uuuusa(ayay))` header and starts the SHA-256 with it.
//! [`Content::next_chunk`] then yields the file's bytes in pieces of at most 64 KiB (archive:
//! raw inflate, never more than the header's size), hashing each; [`Content::finish`] compares
//! the hash with the object's name. Nobody needs to buffer a whole file.

use super::config::Mode;
use super::object::{
    check_file_mode, check_target, FileHeader, Meta, ObjType, MAX_TARGET, S_IFLNK, S_IFMT, S_IFREG,
};
use super::repo::{ObjPath, Repo};
use super::verify::{self, ContentHasher};
use super::{Checksum, MAX_METADATA_SIZE};
use crate::error::{Errno, Error};
use crate::gvariant::{self, Array};
use alloc::boxed::Box;
use alloc::vec::Vec;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, FileType};

/// Input chunk size.
const IN_BUF: usize = 64 * 1024;
/// Inflate window: a power of two ≥ 32 KiB, used as a ring buffer.
const OUT_BUF: usize = 32 * 1024;
/// Largest bare-user symlink object (target + NUL).
const MAX_LINK_OBJECT: usize = MAX_TARGET + 1;

/// Per-thread buffers reused from file to file.
pub struct Scratch {
    inflater: Box<DecompressorOxide>,
    input: Vec<u8>,
    output: Vec<u8>,
    header: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// Allocates the buffers (about 110 KiB).
    pub fn new() -> Self {
        let input = alloc::vec![0u8; IN_BUF];
        let output = alloc::vec![0u8; OUT_BUF];
        Scratch {
            inflater: Box::default(),
            input,
            output,
            header: Vec::new(),
        }
    }
}

/// A callback taking one xattr (name without NUL, value).
pub type XattrFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), Error> + 'a;

/// Owner, mode, symlink target and xattrs of a content object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Mode with the type bits (S_IFREG or S_IFLNK only).
    pub mode: u32,
    /// Content length of a regular file (0 for symlinks).
    pub size: u64,
    /// Symlink target (empty for regular files).
    pub target: Vec<u8>,
    /// Serialized `a(ayay)`, names with their NUL (validated).
    pub xattrs: Vec<u8>,
}

impl FileMeta {
    /// True for a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// Calls `f(name, value)` for each xattr (names without NUL).
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn each_xattr(&self, f: &mut XattrFn<'_>) -> Result<(), Error> {
        let mut arr = Array::new(&self.xattrs, 0, 1)?;
        while let Some(e) = arr.next_elem() {
            let (n, v) = gvariant::xattr(e?)?;
            f(n, v)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Nothing follows (symlinks).
    Empty,
    /// The object file holds the content (bare modes).
    Plain,
    /// Raw deflate follows the header (archive).
    Deflate,
}

/// An open content object being streamed and hashed.
pub struct Content<'r, 's> {
    /// The object's metadata.
    pub meta: FileMeta,
    fd: OwnedFd,
    repo: &'r Repo,
    body: Body,
    hasher: ContentHasher,
    expected: Checksum,
    s: &'s mut Scratch,
    in_pos: usize,
    in_end: usize,
    eof: bool,
    out_pos: usize,
    produced: u64,
    /// The content length promised by the metadata (kept apart: callers may take `meta`).
    size: u64,
    done: bool,
}

fn sys(op: &'static str) -> impl Fn(Errno) -> Error {
    move |e| Error::sys(op, e)
}

/// Reads into `buf` until it is full or the file ends; returns the count.
fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Error> {
    let mut n = 0;
    while n < buf.len() {
        let r = rustix::io::read(fd, &mut buf[n..]).map_err(sys("read"))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}

impl<'r, 's> Content<'r, 's> {
    /// Opens content object `csum` of `repo` (or its parents) and reads its metadata.
    ///
    /// # Errors
    /// A missing object, a header that does not parse or breaks the mode/rdev/target rules.
    pub fn open(repo: &'r Repo, csum: &Checksum, s: &'s mut Scratch) -> Result<Self, Error> {
        let (fd, holder) = repo.open_object(ObjType::File, csum)?;
        let mut c = Content {
            meta: FileMeta::default(),
            fd,
            repo: holder,
            body: Body::Plain,
            hasher: ContentHasher::new(&[]),
            expected: *csum,
            s,
            in_pos: 0,
            in_end: 0,
            eof: false,
            out_pos: 0,
            produced: 0,
            size: 0,
            done: false,
        };
        match holder.mode() {
            Mode::Archive => c.open_archive()?,
            Mode::Bare => c.open_bare(true)?,
            Mode::BareUserOnly => c.open_bare(false)?,
            Mode::BareUser => c.open_bare_user()?,
        }
        check_file_mode(c.meta.mode, 0)?;
        check_target(c.meta.mode, &c.meta.target, 0)?;
        if c.meta.is_symlink() {
            // An archive symlink is the header alone (ostree-format.md §3).
            if c.body == Body::Deflate && !c.at_end()? {
                return Err(Error::State("data after a symlink header"));
            }
            c.body = Body::Empty;
        }
        c.size = c.meta.size;
        let m = &c.meta;
        c.s.header.clear();
        gvariant::emit_content_header(m.uid, m.gid, m.mode, &m.target, &m.xattrs, &mut c.s.header);
        c.hasher = ContentHasher::new(&c.s.header);
        Ok(c)
    }

    fn open_archive(&mut self) -> Result<(), Error> {
        // One read usually holds the header and the whole (small) payload; the end of the
        // file is confirmed by the zero-length read after the deflate stream.
        let mut n = rustix::io::read(&self.fd, &mut self.s.input[..]).map_err(sys("read"))?;
        if n < 8 {
            n += read_full(self.fd.as_fd(), &mut self.s.input[n..])?;
        }
        let input = &self.s.input[..n];
        let Some(prefix) = input.get(..8) else {
            return Err(Error::State("archive object shorter than its header"));
        };
        let hlen = usize::try_from(gvariant::be_u32(prefix)).unwrap_or(usize::MAX);
        if hlen > MAX_METADATA_SIZE {
            return Err(Error::Limit("archive file header size"));
        }
        if prefix[4..8] != [0; 4] {
            return Err(Error::State("archive header padding is not zero"));
        }
        let end = 8 + hlen;
        let mut big = Vec::new();
        let hdr: &[u8] = if end <= n {
            &self.s.input[8..end]
        } else {
            big.extend_from_slice(&self.s.input[8..n]);
            big.resize(hlen, 0);
            let got = read_full(self.fd.as_fd(), &mut big[n - 8..])?;
            if got != end - n {
                return Err(Error::State("archive object shorter than its header"));
            }
            &big
        };
        let h = FileHeader::parse(hdr)?;
        self.meta = FileMeta {
            uid: h.uid,
            gid: h.gid,
            mode: h.mode,
            size: if h.mode & S_IFMT == S_IFREG {
                h.size
            } else {
                0
            },
            target: h.target.to_vec(),
            xattrs: h.xattrs.to_vec(),
        };
        self.in_pos = end.min(n);
        self.in_end = n;
        self.eof = n == 0;
        self.body = Body::Deflate;
        self.s.inflater.init();
        self.out_pos = 0;
        Ok(())
    }

    /// True when no input is left: nothing buffered and the file ends here.
    fn at_end(&mut self) -> Result<bool, Error> {
        if self.in_pos != self.in_end {
            return Ok(false);
        }
        if !self.eof {
            let n = rustix::io::read(&self.fd, &mut self.s.input[..1]).map_err(sys("read"))?;
            self.eof = n == 0;
        }
        Ok(self.eof)
    }

    fn open_bare(&mut self, with_owner: bool) -> Result<(), Error> {
        let st = fs::fstat(&self.fd).map_err(sys("fstat"))?;
        let ty = FileType::from_raw_mode(st.st_mode);
        let mut meta = FileMeta {
            mode: st.st_mode,
            ..FileMeta::default()
        };
        if with_owner {
            meta.uid = st.st_uid;
            meta.gid = st.st_gid;
        }
        match ty {
            FileType::Symlink => {
                let t = fs::readlinkat(&self.fd, "", Vec::new()).map_err(sys("readlinkat"))?;
                meta.target = t.into_bytes();
                if with_owner {
                    meta.xattrs = self.symlink_xattrs()?;
                }
            }
            FileType::RegularFile => {
                meta.size = u64::try_from(st.st_size).unwrap_or(0);
                if with_owner {
                    meta.xattrs = fd_xattrs(self.fd.as_fd())?;
                }
            }
            _ => return Err(Error::State("object is not a regular file or symlink")),
        }
        self.meta = meta;
        Ok(())
    }

    /// Xattrs of a bare-mode symlink object: `llistxattr` through `/proc/self/fd/N/XX/REST.file`
    /// (there is no fd-relative call that does not follow). Without `/proc`, none.
    fn symlink_xattrs(&self) -> Result<Vec<u8>, Error> {
        #[cfg(feature = "std")]
        {
            use rustix::fd::AsRawFd;
            let mut path = alloc::string::String::from("/proc/self/fd/");
            let mut digits = Vec::new();
            let mut n = self.repo.objects().as_raw_fd().unsigned_abs();
            loop {
                digits.push(b'0' + (n % 10) as u8);
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            digits.reverse();
            path.push_str(core::str::from_utf8(&digits).unwrap_or("0"));
            path.push('/');
            path.push_str(ObjPath::new(&self.expected, ObjType::File, false).as_str());
            let mut names = alloc::vec![0u8; 65536];
            let n = match fs::llistxattr(path.as_str(), &mut names[..]) {
                Ok(n) => n,
                Err(Errno::NOENT | Errno::NOTSUP) => return Ok(Vec::new()),
                Err(e) => return Err(Error::sys("llistxattr", e)),
            };
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                let mut val = alloc::vec![0u8; 65536];
                let cname =
                    alloc::ffi::CString::new(name).map_err(|_| Error::State("xattr name"))?;
                let vn = fs::lgetxattr(path.as_str(), cname.as_c_str(), &mut val[..])
                    .map_err(sys("lgetxattr"))?;
                val.truncate(vn);
                entries.push((name.to_vec(), val));
            }
            Ok(canonical_xattrs(entries))
        }
        #[cfg(not(feature = "std"))]
        Ok(Vec::new())
    }

    fn open_bare_user(&mut self) -> Result<(), Error> {
        let st = fs::fstat(&self.fd).map_err(sys("fstat"))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::State("bare-user object is not a regular file"));
        }
        let mut raw = alloc::vec![0u8; 4096];
        let n = match fs::fgetxattr(&self.fd, "user.ostreemeta", &mut raw[..]) {
            Ok(n) => n,
            Err(Errno::RANGE) => {
                raw.resize(MAX_METADATA_SIZE.min(1 << 20), 0);
                fs::fgetxattr(&self.fd, "user.ostreemeta", &mut raw[..])
                    .map_err(sys("fgetxattr"))?
            }
            Err(e) => return Err(Error::sys("fgetxattr user.ostreemeta", e)),
        };
        let m = Meta::parse_ostreemeta(&raw[..n])?;
        let mut meta = FileMeta {
            uid: m.uid,
            gid: m.gid,
            mode: m.mode,
            size: 0,
            target: Vec::new(),
            xattrs: m.xattrs.to_vec(),
        };
        if m.mode & S_IFMT == S_IFLNK {
            let mut buf = alloc::vec![0u8; MAX_LINK_OBJECT + 1];
            let n = read_full(self.fd.as_fd(), &mut buf)?;
            match buf[..n].split_last() {
                Some((0, t)) if n <= MAX_LINK_OBJECT => meta.target = t.to_vec(),
                _ => return Err(Error::State("bare-user symlink object is not target + NUL")),
            }
        } else {
            meta.size = u64::try_from(st.st_size).unwrap_or(0);
        }
        self.meta = meta;
        Ok(())
    }

    /// The object file (for hard links): the repository's `objects/` fd and the path under it.
    pub fn object_path(&self) -> (BorrowedFd<'r>, ObjPathBuf) {
        let archive = self.repo.mode() == Mode::Archive;
        (
            self.repo.objects(),
            ObjPathBuf(ObjPath::new(&self.expected, ObjType::File, archive)),
        )
    }

    /// The mode of the repository that holds the object.
    pub fn repo_mode(&self) -> Mode {
        self.repo.mode()
    }

    /// The next piece of content, hashed; `None` at the end.
    ///
    /// # Errors
    /// Read errors; for archive objects a corrupt, truncated or oversized deflate stream, or
    /// bytes after it.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        match self.body {
            Body::Empty => Ok(None),
            Body::Plain => {
                let n = rustix::io::read(&self.fd, &mut self.s.input[..]).map_err(sys("read"))?;
                if n == 0 {
                    self.done = true;
                    return Ok(None);
                }
                self.produced += n as u64;
                let chunk = &self.s.input[..n];
                self.hasher.update(chunk);
                Ok(Some(chunk))
            }
            Body::Deflate => self.inflate(),
        }
    }

    fn inflate(&mut self) -> Result<Option<&[u8]>, Error> {
        loop {
            if self.done {
                if !self.at_end()? {
                    return Err(Error::State("trailing data after deflate stream"));
                }
                if self.produced != self.size {
                    return Err(Error::State("inflated size differs from header size"));
                }
                return Ok(None);
            }
            if self.in_pos == self.in_end && !self.eof {
                let n = rustix::io::read(&self.fd, &mut self.s.input[..]).map_err(sys("read"))?;
                self.in_pos = 0;
                self.in_end = n;
                self.eof = n == 0;
            }
            let flags = if self.eof {
                0
            } else {
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
            };
            let (status, used, written) = decompress(
                &mut self.s.inflater,
                &self.s.input[self.in_pos..self.in_end],
                &mut self.s.output,
                self.out_pos,
                flags,
            );
            self.in_pos += used;
            match status {
                TINFLStatus::Done => self.done = true,
                TINFLStatus::NeedsMoreInput if self.eof => {
                    return Err(Error::State("truncated deflate stream"))
                }
                TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {}
                _ => return Err(Error::State("corrupt deflate stream")),
            }
            if written > 0 {
                self.produced += written as u64;
                if self.produced > self.size {
                    return Err(Error::Limit("inflated size exceeds header size"));
                }
                let start = self.out_pos;
                self.out_pos = (start + written) & (OUT_BUF - 1);
                let chunk = &self.s.output[start..start + written];
                self.hasher.update(chunk);
                return Ok(Some(chunk));
            }
            if status == TINFLStatus::NeedsMoreInput && self.in_pos < self.in_end && used == 0 {
                return Err(Error::State("corrupt deflate stream"));
            }
        }
    }

    /// Reads (and hashes) whatever content is left, discarding it.
    ///
    /// # Errors
    /// As [`Content::next_chunk`].
    pub fn drain(&mut self) -> Result<(), Error> {
        while self.next_chunk()?.is_some() {}
        Ok(())
    }

    /// Checks the hash of header + content against the object name. Call after the last
    /// chunk.
    ///
    /// # Errors
    /// `Error::Checksum`, or `State` if content was left unread.
    pub fn finish(self) -> Result<(), Error> {
        if self.body != Body::Empty && !self.done {
            return Err(Error::State("content not fully read"));
        }
        verify::expect(&self.expected, self.hasher.finish())
    }
}

/// A loose object path under `objects/` (see [`Content::object_path`]).
pub struct ObjPathBuf(ObjPath);

impl ObjPathBuf {
    /// The path text (`XX/REST.file`).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Xattrs of an open regular file, canonical: sorted by name, empty values skipped
/// (glnx-xattrs.c `read_xattr_name_array`, ostree-format.md §2.1).
fn fd_xattrs(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Error> {
    let mut names = alloc::vec![0u8; 4096];
    let n = match fs::flistxattr(fd, &mut names[..]) {
        Ok(n) => n,
        Err(Errno::RANGE) => {
            names.resize(65536, 0);
            fs::flistxattr(fd, &mut names[..]).map_err(sys("flistxattr"))?
        }
        Err(Errno::NOTSUP) => 0,
        Err(e) => return Err(Error::sys("flistxattr", e)),
    };
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = alloc::ffi::CString::new(name).map_err(|_| Error::State("xattr name"))?;
        let mut val = alloc::vec![0u8; 4096];
        let vn = match fs::fgetxattr(fd, cname.as_c_str(), &mut val[..]) {
            Ok(v) => v,
            Err(Errno::RANGE) => {
                val.resize(65536, 0);
                fs::fgetxattr(fd, cname.as_c_str(), &mut val[..]).map_err(sys("fgetxattr"))?
            }
            Err(e) => return Err(Error::sys("fgetxattr", e)),
        };
        val.truncate(vn);
        entries.push((name.to_vec(), val));
    }
    Ok(canonical_xattrs(entries))
}

/// Sorts by name, drops empty values, serializes as `a(ayay)`.
fn canonical_xattrs(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    entries.retain(|(_, v)| !v.is_empty());
    entries.sort();
    let refs: Vec<(&[u8], &[u8])> = entries.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let mut out = Vec::new();
    gvariant::emit_xattrs(&refs, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;
    use std::path::PathBuf;

    /// hello.txt (`hello\n`, user.foo=bar): the archive header of 28af666c… (ostree-format.md §3),
    /// length prefix included.
    const HEADER: [u8; 48] = [
        0, 0, 0, 0x28, 0, 0, 0, 0, // H = 40, padding
        0, 0, 0, 0, 0, 0, 0, 6, // size = 6 (BE)
        0, 0, 0, 0, 0, 0, 0, 0, // uid, gid
        0, 0, 0x81, 0xa4, 0, 0, 0, 0, // mode 0100644, rdev
        0, // target ""
        b'u', b's', b'e', b'r', b'.', b'f', b'o', b'o', 0, b'b', b'a', b'r', 9,    // (ayay)
        0x0d, // a(ayay) end
        0x19, // tuple offset: end of target
    ];
    const CSUM: &str = "28af666cd8036303fcab1a13f2ef7f9c9e92b6a392206017d50b932c8ff4daf9";

    struct TmpRepo(PathBuf);

    impl Drop for TmpRepo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// An archive repo whose only object is 28af666c….filez with `payload` after the header.
    fn repo_with(tag: &str, payload: &[u8]) -> TmpRepo {
        let dir =
            std::env::temp_dir().join(std::format!("ramdisk-content-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("objects/28")).unwrap();
        std::fs::write(
            dir.join("config"),
            "[core]\nrepo_version=1\nmode=archive-z2\n",
        )
        .unwrap();
        let mut obj = HEADER.to_vec();
        obj.extend_from_slice(payload);
        std::fs::write(
            dir.join(String::from("objects/28/") + &CSUM[2..] + ".filez"),
            obj,
        )
        .unwrap();
        TmpRepo(dir)
    }

    fn read(tag: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let t = repo_with(tag, payload);
        let repo = Repo::open_path(t.0.to_str().unwrap()).map_err(|f| f.error)?;
        let csum = super::super::parse_checksum(CSUM.as_bytes()).unwrap();
        let mut s = Scratch::new();
        let mut c = Content::open(&repo, &csum, &mut s)?;
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk()? {
            out.extend_from_slice(chunk);
        }
        c.finish()?;
        Ok(out)
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec(data, 6)
    }

    #[test]
    fn reads_and_verifies_the_real_object() {
        // The real payload: raw deflate of "hello\n" as ostree wrote it.
        let got = read("ok", &[0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00]).unwrap();
        assert_eq!(got, b"hello\n");
    }

    #[test]
    fn rejects_content_that_does_not_match_the_name() {
        let e = read("bad", &deflate(b"HELLO\n")).unwrap_err();
        assert!(matches!(e, Error::Checksum { .. }), "{e:?}");
    }

    #[test]
    fn inflate_stops_at_header_size_on_a_bomb() {
        let bomb = deflate(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 128 * 1024);
        assert_eq!(
            read("bomb", &bomb).unwrap_err(),
            Error::Limit("inflated size exceeds header size")
        );
    }

    #[test]
    fn rejects_short_stream_and_trailing_bytes() {
        assert!(read("short", &deflate(b"hell")).is_err());
        let mut t = deflate(b"hello\n");
        t.push(0);
        assert_eq!(
            read("trail", &t).unwrap_err(),
            Error::State("trailing data after deflate stream")
        );
        let full = deflate(b"hello\n");
        assert!(read("trunc", &full[..full.len() - 2]).is_err());
    }
}
