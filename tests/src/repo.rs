//! Build OSTree repositories with the real `ostree`, and rewrite their objects for hostile cases.
//!
//! This is an independent oracle: a small GVariant framing reader/writer (ostree-format.md §2)
//! for the five OSTree shapes, raw deflate (miniz_oxide) and SHA-256, written without looking at
//! the product code. `rewrite_tree` re-hashes upward: a changed dirtree gets a new checksum, its
//! parent dirtree entry and then the commit are rewritten, and the ref is moved to the new commit,
//! so every checksum is consistent while the content is hostile.

use crate::tree::hex;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---------------------------------------------------------------------------------------------
// GVariant framing (normal form)

/// The GVariant types the OSTree objects are made of.
#[derive(Clone, Debug)]
pub enum Ty {
    Byte,
    /// `u` holding a big-endian value (OSTree's uid/gid/mode/rdev).
    U32Be,
    /// `t` holding a big-endian value (archive size, commit timestamp).
    U64Be,
    Str,
    Array(Box<Ty>),
    Tuple(Vec<Ty>),
    /// Bytes kept verbatim (e.g. a commit's `a{sv}` metadata).
    Raw {
        align: usize,
        fixed: Option<usize>,
    },
}

/// A value of a [`Ty`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V {
    Byte(u8),
    U32(u32),
    U64(u64),
    /// String bytes without the trailing NUL (may be invalid UTF-8 or hostile on purpose).
    Str(Vec<u8>),
    Array(Vec<V>),
    Tuple(Vec<V>),
    Raw(Vec<u8>),
}

impl Ty {
    pub fn align(&self) -> usize {
        match self {
            Ty::Byte | Ty::Str => 1,
            Ty::U32Be => 4,
            Ty::U64Be => 8,
            Ty::Array(t) => t.align(),
            Ty::Tuple(m) => m.iter().map(Ty::align).max().unwrap_or(1),
            Ty::Raw { align, .. } => *align,
        }
    }

    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Ty::Byte => Some(1),
            Ty::U32Be => Some(4),
            Ty::U64Be => Some(8),
            Ty::Str | Ty::Array(_) => None,
            Ty::Raw { fixed, .. } => *fixed,
            Ty::Tuple(m) => {
                let mut off = 0;
                for t in m {
                    off = align_up(off, t.align()) + t.fixed_size()?;
                }
                if m.is_empty() {
                    Some(1)
                } else {
                    Some(align_up(off, self.align()))
                }
            }
        }
    }
}

fn align_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

fn pad_to(buf: &mut Vec<u8>, a: usize) {
    while !buf.len().is_multiple_of(a) {
        buf.push(0);
    }
}

/// Offset width for a container whose body is `body` bytes with `n` framing offsets.
fn offset_width_for(body: usize, n: usize) -> usize {
    if n == 0 {
        0
    } else if body + n <= 0xff {
        1
    } else if body + 2 * n <= 0xffff {
        2
    } else if body + 4 * n <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// Offset width of a serialized container of `len` bytes.
fn offset_width(len: usize) -> usize {
    match len {
        0 => 0,
        1..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

fn push_offsets(buf: &mut Vec<u8>, offs: &[usize]) {
    let w = offset_width_for(buf.len(), offs.len());
    for &o in offs {
        buf.extend_from_slice(&(o as u64).to_le_bytes()[..w]);
    }
}

fn read_offset(b: &[u8]) -> usize {
    let mut v = [0u8; 8];
    v[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(v) as usize
}

/// Serializes `v` as `ty` (normal form).
pub fn serialize(ty: &Ty, v: &V) -> Vec<u8> {
    let mut out = Vec::new();
    ser(ty, v, &mut out);
    out
}

fn ser(ty: &Ty, v: &V, out: &mut Vec<u8>) {
    match (ty, v) {
        (Ty::Byte, V::Byte(b)) => out.push(*b),
        (Ty::U32Be, V::U32(x)) => out.extend_from_slice(&x.to_be_bytes()),
        (Ty::U64Be, V::U64(x)) => out.extend_from_slice(&x.to_be_bytes()),
        (Ty::Str, V::Str(s)) => {
            out.extend_from_slice(s);
            out.push(0);
        }
        (Ty::Raw { .. }, V::Raw(b)) => out.extend_from_slice(b),
        (Ty::Array(et), V::Array(items)) => {
            let mut buf = Vec::new();
            let fixed = et.fixed_size().is_some();
            let mut offs = Vec::new();
            for it in items {
                pad_to(&mut buf, et.align());
                ser(et, it, &mut buf);
                if !fixed {
                    offs.push(buf.len());
                }
            }
            push_offsets(&mut buf, &offs);
            out.extend_from_slice(&buf);
        }
        (Ty::Tuple(ms), V::Tuple(vs)) => {
            assert_eq!(ms.len(), vs.len(), "tuple arity");
            let mut buf = Vec::new();
            let mut offs = Vec::new();
            for (i, (t, v)) in ms.iter().zip(vs).enumerate() {
                pad_to(&mut buf, t.align());
                ser(t, v, &mut buf);
                if t.fixed_size().is_none() && i + 1 != ms.len() {
                    offs.push(buf.len());
                }
            }
            if ty.fixed_size().is_some() {
                if ms.is_empty() {
                    buf.push(0);
                }
                pad_to(&mut buf, ty.align());
            }
            offs.reverse();
            push_offsets(&mut buf, &offs);
            out.extend_from_slice(&buf);
        }
        _ => panic!("value {v:?} does not fit type {ty:?}"),
    }
}

/// Parses `b` as `ty` (framing only; enough for objects written by ostree).
pub fn parse(ty: &Ty, b: &[u8]) -> Result<V, String> {
    let want = |n: usize| {
        if b.len() == n {
            Ok(())
        } else {
            Err(format!("{ty:?}: {} bytes, want {n}", b.len()))
        }
    };
    Ok(match ty {
        Ty::Byte => {
            want(1)?;
            V::Byte(b[0])
        }
        Ty::U32Be => {
            want(4)?;
            V::U32(u32::from_be_bytes(b.try_into().unwrap()))
        }
        Ty::U64Be => {
            want(8)?;
            V::U64(u64::from_be_bytes(b.try_into().unwrap()))
        }
        Ty::Raw { fixed, .. } => {
            if let Some(n) = fixed {
                want(*n)?;
            }
            V::Raw(b.to_vec())
        }
        Ty::Str => match b.split_last() {
            Some((0, s)) => V::Str(s.to_vec()),
            _ => return Err("string without NUL".into()),
        },
        Ty::Array(et) => {
            let mut items = Vec::new();
            if let Some(sz) = et.fixed_size() {
                if !b.len().is_multiple_of(sz) {
                    return Err("array length not a multiple of element size".into());
                }
                for c in b.chunks(sz) {
                    items.push(parse(et, c)?);
                }
            } else if !b.is_empty() {
                let w = offset_width(b.len());
                let table = read_offset(&b[b.len() - w..]);
                if table > b.len() || !(b.len() - table).is_multiple_of(w) {
                    return Err("bad array offset table".into());
                }
                let mut start = 0;
                for o in b[table..].chunks(w) {
                    let end = read_offset(o);
                    start = align_up(start, et.align());
                    if start > end || end > table {
                        return Err("bad array element offset".into());
                    }
                    items.push(parse(et, &b[start..end])?);
                    start = end;
                }
            }
            V::Array(items)
        }
        Ty::Tuple(ms) => {
            let w = offset_width(b.len());
            let nvar = ms[..ms.len().saturating_sub(1)]
                .iter()
                .filter(|t| t.fixed_size().is_none())
                .count();
            let table = b
                .len()
                .checked_sub(nvar * w)
                .ok_or("tuple too short for its offsets")?;
            let mut vals = Vec::new();
            let mut start = 0;
            let mut k = 0;
            for (i, t) in ms.iter().enumerate() {
                start = align_up(start, t.align());
                let end = if let Some(sz) = t.fixed_size() {
                    start + sz
                } else if i + 1 == ms.len() {
                    table
                } else {
                    k += 1;
                    read_offset(&b[b.len() - k * w..b.len() - (k - 1) * w])
                };
                if start > end || end > table {
                    return Err(format!("bad tuple member {i} bounds {start}..{end}"));
                }
                vals.push(parse(t, &b[start..end])?);
                start = end;
            }
            V::Tuple(vals)
        }
    })
}

fn ay() -> Ty {
    Ty::Array(Box::new(Ty::Byte))
}

fn xattrs_ty() -> Ty {
    Ty::Array(Box::new(Ty::Tuple(vec![ay(), ay()])))
}

fn bytes_v(b: &[u8]) -> V {
    V::Array(b.iter().map(|&x| V::Byte(x)).collect())
}

fn v_bytes(v: &V) -> Vec<u8> {
    match v {
        V::Array(a) => a
            .iter()
            .map(|x| match x {
                V::Byte(b) => *b,
                _ => panic!("not ay"),
            })
            .collect(),
        _ => panic!("not ay: {v:?}"),
    }
}

fn v_str(v: &V) -> Vec<u8> {
    match v {
        V::Str(s) => s.clone(),
        _ => panic!("not s: {v:?}"),
    }
}

fn v_u32(v: &V) -> u32 {
    match v {
        V::U32(x) => *x,
        _ => panic!("not u: {v:?}"),
    }
}

fn v_u64(v: &V) -> u64 {
    match v {
        V::U64(x) => *x,
        _ => panic!("not t: {v:?}"),
    }
}

fn v_items(v: &V) -> &[V] {
    match v {
        V::Array(a) | V::Tuple(a) => a,
        _ => panic!("not a container: {v:?}"),
    }
}

/// Xattrs as stored: name bytes include the trailing NUL.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

fn xattrs_v(x: &Xattrs) -> V {
    V::Array(
        x.iter()
            .map(|(k, v)| V::Tuple(vec![bytes_v(k), bytes_v(v)]))
            .collect(),
    )
}

fn v_xattrs(v: &V) -> Xattrs {
    v_items(v)
        .iter()
        .map(|t| (v_bytes(&v_items(t)[0]), v_bytes(&v_items(t)[1])))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// OSTree object shapes

/// `dirtree (a(say)a(sayay))`. Checksums are raw bytes (normally 32).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DirTree {
    /// (name, content checksum)
    pub files: Vec<(Vec<u8>, Vec<u8>)>,
    /// (name, dirtree checksum, dirmeta checksum)
    pub dirs: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

fn dirtree_ty() -> Ty {
    Ty::Tuple(vec![
        Ty::Array(Box::new(Ty::Tuple(vec![Ty::Str, ay()]))),
        Ty::Array(Box::new(Ty::Tuple(vec![Ty::Str, ay(), ay()]))),
    ])
}

impl DirTree {
    pub fn parse(b: &[u8]) -> Result<DirTree, String> {
        let v = parse(&dirtree_ty(), b)?;
        let m = v_items(&v);
        Ok(DirTree {
            files: v_items(&m[0])
                .iter()
                .map(|t| (v_str(&v_items(t)[0]), v_bytes(&v_items(t)[1])))
                .collect(),
            dirs: v_items(&m[1])
                .iter()
                .map(|t| {
                    let t = v_items(t);
                    (v_str(&t[0]), v_bytes(&t[1]), v_bytes(&t[2]))
                })
                .collect(),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|(n, c)| V::Tuple(vec![V::Str(n.clone()), bytes_v(c)]))
            .collect();
        let dirs = self
            .dirs
            .iter()
            .map(|(n, t, m)| V::Tuple(vec![V::Str(n.clone()), bytes_v(t), bytes_v(m)]))
            .collect();
        serialize(
            &dirtree_ty(),
            &V::Tuple(vec![V::Array(files), V::Array(dirs)]),
        )
    }

    /// Sorts both arrays by name bytes, as ostree writes them.
    pub fn sort(&mut self) {
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
        self.dirs.sort_by(|a, b| a.0.cmp(&b.0));
    }

    pub fn file(&self, name: &str) -> Option<&(Vec<u8>, Vec<u8>)> {
        self.files.iter().find(|f| f.0 == name.as_bytes())
    }

    pub fn dir(&self, name: &str) -> Option<&(Vec<u8>, Vec<u8>, Vec<u8>)> {
        self.dirs.iter().find(|d| d.0 == name.as_bytes())
    }
}

/// `dirmeta (uuua(ayay))` (uid, gid, mode big-endian).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirMeta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub xattrs: Xattrs,
}

fn dirmeta_ty() -> Ty {
    Ty::Tuple(vec![Ty::U32Be, Ty::U32Be, Ty::U32Be, xattrs_ty()])
}

impl DirMeta {
    pub fn parse(b: &[u8]) -> Result<DirMeta, String> {
        let v = parse(&dirmeta_ty(), b)?;
        let m = v_items(&v);
        Ok(DirMeta {
            uid: v_u32(&m[0]),
            gid: v_u32(&m[1]),
            mode: v_u32(&m[2]),
            xattrs: v_xattrs(&m[3]),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        serialize(
            &dirmeta_ty(),
            &V::Tuple(vec![
                V::U32(self.uid),
                V::U32(self.gid),
                V::U32(self.mode),
                xattrs_v(&self.xattrs),
            ]),
        )
    }
}

/// `commit (a{sv}aya(say)sstayay)`; the `a{sv}` metadata is kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub metadata: Vec<u8>,
    pub parent: Vec<u8>,
    pub related: Vec<(Vec<u8>, Vec<u8>)>,
    pub subject: Vec<u8>,
    pub body: Vec<u8>,
    pub timestamp: u64,
    pub tree: Vec<u8>,
    pub meta: Vec<u8>,
}

fn commit_ty() -> Ty {
    Ty::Tuple(vec![
        Ty::Raw {
            align: 8,
            fixed: None,
        },
        ay(),
        Ty::Array(Box::new(Ty::Tuple(vec![Ty::Str, ay()]))),
        Ty::Str,
        Ty::Str,
        Ty::U64Be,
        ay(),
        ay(),
    ])
}

impl Commit {
    pub fn parse(b: &[u8]) -> Result<Commit, String> {
        let v = parse(&commit_ty(), b)?;
        let m = v_items(&v);
        Ok(Commit {
            metadata: match &m[0] {
                V::Raw(r) => r.clone(),
                _ => unreachable!(),
            },
            parent: v_bytes(&m[1]),
            related: v_items(&m[2])
                .iter()
                .map(|t| (v_str(&v_items(t)[0]), v_bytes(&v_items(t)[1])))
                .collect(),
            subject: v_str(&m[3]),
            body: v_str(&m[4]),
            timestamp: v_u64(&m[5]),
            tree: v_bytes(&m[6]),
            meta: v_bytes(&m[7]),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        serialize(
            &commit_ty(),
            &V::Tuple(vec![
                V::Raw(self.metadata.clone()),
                bytes_v(&self.parent),
                V::Array(
                    self.related
                        .iter()
                        .map(|(n, c)| V::Tuple(vec![V::Str(n.clone()), bytes_v(c)]))
                        .collect(),
                ),
                V::Str(self.subject.clone()),
                V::Str(self.body.clone()),
                V::U64(self.timestamp),
                bytes_v(&self.tree),
                bytes_v(&self.meta),
            ]),
        )
    }
}

/// A content object's metadata (archive header `(tuuuusa(ayay))` minus nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// Uncompressed size as the archive header claims it.
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    /// Full st_mode including the type bits.
    pub mode: u32,
    pub rdev: u32,
    pub target: Vec<u8>,
    pub xattrs: Xattrs,
}

fn archive_header_ty() -> Ty {
    Ty::Tuple(vec![
        Ty::U64Be,
        Ty::U32Be,
        Ty::U32Be,
        Ty::U32Be,
        Ty::U32Be,
        Ty::Str,
        xattrs_ty(),
    ])
}

fn checksum_header_ty() -> Ty {
    Ty::Tuple(vec![
        Ty::U32Be,
        Ty::U32Be,
        Ty::U32Be,
        Ty::U32Be,
        Ty::Str,
        xattrs_ty(),
    ])
}

fn lenprefixed(v: &[u8]) -> Vec<u8> {
    let mut out = (v.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(v);
    out
}

impl FileHeader {
    /// A regular file header for `content`.
    pub fn regular(content: &[u8], uid: u32, gid: u32, mode: u32) -> FileHeader {
        FileHeader {
            size: content.len() as u64,
            uid,
            gid,
            mode,
            rdev: 0,
            target: Vec::new(),
            xattrs: Vec::new(),
        }
    }

    /// The archive header GVariant `(tuuuusa(ayay))`.
    pub fn emit_archive(&self) -> Vec<u8> {
        serialize(
            &archive_header_ty(),
            &V::Tuple(vec![
                V::U64(self.size),
                V::U32(self.uid),
                V::U32(self.gid),
                V::U32(self.mode),
                V::U32(self.rdev),
                V::Str(self.target.clone()),
                xattrs_v(&self.xattrs),
            ]),
        )
    }

    pub fn parse_archive(b: &[u8]) -> Result<FileHeader, String> {
        let v = parse(&archive_header_ty(), b)?;
        let m = v_items(&v);
        Ok(FileHeader {
            size: v_u64(&m[0]),
            uid: v_u32(&m[1]),
            gid: v_u32(&m[2]),
            mode: v_u32(&m[3]),
            rdev: v_u32(&m[4]),
            target: v_str(&m[5]),
            xattrs: v_xattrs(&m[6]),
        })
    }

    /// The checksum of a content object with this header and `content` (ostree-format.md §5).
    pub fn checksum(&self, content: &[u8]) -> String {
        let hdr = serialize(
            &checksum_header_ty(),
            &V::Tuple(vec![
                V::U32(self.uid),
                V::U32(self.gid),
                V::U32(self.mode),
                V::U32(self.rdev),
                V::Str(self.target.clone()),
                xattrs_v(&self.xattrs),
            ]),
        );
        let mut h = Sha256::new();
        h.update(lenprefixed(&hdr));
        h.update(content);
        hex(&h.finalize())
    }
}

/// Splits an archive `.filez` into its header and the raw deflate payload.
pub fn parse_filez(b: &[u8]) -> Result<(FileHeader, Vec<u8>), String> {
    if b.len() < 8 {
        return Err("filez shorter than 8 bytes".into());
    }
    let h = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    let hdr = b.get(8..8 + h).ok_or("filez header truncated")?;
    Ok((FileHeader::parse_archive(hdr)?, b[8 + h..].to_vec()))
}

/// Builds an archive `.filez` from a header and an already-compressed payload.
pub fn emit_filez_raw(h: &FileHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = lenprefixed(&h.emit_archive());
    out.extend_from_slice(payload);
    out
}

/// Builds an archive `.filez`: header plus raw deflate (level 6) of `content`.
/// Symlinks (`S_IFLNK`) get no payload, like ostree.
pub fn emit_filez(h: &FileHeader, content: &[u8]) -> Vec<u8> {
    if h.mode & 0o170000 == 0o120000 {
        return emit_filez_raw(h, &[]);
    }
    emit_filez_raw(h, &deflate(content))
}

/// Raw deflate (no zlib header), level 6 like ostree's default.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, 6)
}

/// Raw inflate.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    miniz_oxide::inflate::decompress_to_vec(data).map_err(|e| format!("inflate: {e:?}"))
}

/// A raw deflate stream (one fixed-Huffman block) that inflates to `1 + 258 * matches` zero
/// bytes: a literal 0 then `matches` copies of (length 258, distance 1). ~1000x expansion.
pub fn deflate_bomb(matches: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        // Pushes `n` bits of `v`, least significant first (deflate's bit order for fields).
        fn put(&mut self, v: u32, n: u32) {
            for i in 0..n {
                self.acc |= ((v >> i) & 1) << self.n;
                self.n += 1;
                if self.n == 8 {
                    self.out.push(self.acc as u8);
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
        // Huffman codes are packed most significant bit first.
        fn code(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((v >> i) & 1, 1);
            }
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(1, 2); // BTYPE = 01 fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..matches {
        b.code(0xC5, 8); // length code 285 = length 258, no extra bits
        b.code(0, 5); // distance code 0 = distance 1
    }
    b.code(0, 7); // end of block (256)
    if b.n > 0 {
        b.out.push(b.acc as u8);
    }
    b.out
}

/// SHA-256 hex of bytes.
pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// Hex → bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Repositories

/// Runs the real `ostree` with `--repo=REPO` and `args`.
pub fn ostree_cmd(repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("ostree");
    c.arg(format!("--repo={}", repo.display()));
    c.args(args);
    c
}

/// A repository on disk (written by the real ostree).
#[derive(Clone, Debug)]
pub struct Repo {
    pub path: PathBuf,
    /// `archive` (written `archive-z2`), `bare`, `bare-user` or `bare-user-only`.
    pub mode: String,
}

fn check(o: Output, what: &str) -> Output {
    assert!(
        o.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

impl Repo {
    /// `ostree init --mode=MODE` at `path`.
    pub fn init(path: &Path, mode: &str) -> Repo {
        let r = Repo {
            path: path.to_path_buf(),
            mode: mode.to_string(),
        };
        check(
            ostree_cmd(path, &["init", &format!("--mode={mode}")])
                .output()
                .expect("spawn ostree"),
            "ostree init",
        );
        r
    }

    pub fn is_archive(&self) -> bool {
        self.mode.starts_with("archive")
    }

    /// Runs the real ostree on this repo (any exit status).
    pub fn ostree(&self, args: &[&str]) -> Output {
        ostree_cmd(&self.path, args).output().expect("spawn ostree")
    }

    /// Runs the real ostree on this repo and requires success; returns trimmed stdout.
    pub fn ostree_ok(&self, args: &[&str]) -> String {
        let o = check(self.ostree(args), &format!("ostree {args:?}"));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// `ostree commit -b BRANCH --tree=dir=TREE -s SUBJECT EXTRA…`; returns the commit checksum.
    pub fn commit(&self, branch: &str, tree: &Path, subject: &str, extra: &[&str]) -> String {
        let b = format!("--branch={branch}");
        let t = format!("--tree=dir={}", tree.display());
        let s = format!("--subject={subject}");
        let mut args = vec!["commit", &b, &t, &s];
        args.extend_from_slice(extra);
        self.ostree_ok(&args)
    }

    /// `ostree rev-parse REV`.
    pub fn rev_parse(&self, rev: &str) -> String {
        self.ostree_ok(&["rev-parse", rev])
    }

    /// Path of an object. `kind` is `file`, `dirtree`, `dirmeta`, `commit`, `commitmeta`;
    /// content objects get `filez` in archive repos.
    pub fn object_path(&self, csum: &str, kind: &str) -> PathBuf {
        let ext = if kind == "file" && self.is_archive() {
            "filez"
        } else {
            kind
        };
        self.path
            .join("objects")
            .join(&csum[..2])
            .join(format!("{}.{ext}", &csum[2..]))
    }

    pub fn read_object(&self, csum: &str, kind: &str) -> Vec<u8> {
        let p = self.object_path(csum, kind);
        std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// Writes raw bytes as object `csum` of `kind` (replacing any existing file).
    pub fn write_object_at(&self, csum: &str, kind: &str, bytes: &[u8]) {
        let p = self.object_path(csum, kind);
        std::fs::create_dir_all(p.parent().unwrap()).expect("mkdir objects/XX");
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// Writes a metadata object named by the SHA-256 of its bytes; returns that checksum.
    pub fn write_metadata(&self, kind: &str, bytes: &[u8]) -> String {
        let c = sha256_hex(bytes);
        self.write_object_at(&c, kind, bytes);
        c
    }

    /// Writes an archive content object with the right checksum; returns the checksum.
    pub fn write_archive_content(&self, h: &FileHeader, content: &[u8]) -> String {
        assert!(
            self.is_archive(),
            "write_archive_content needs an archive repo"
        );
        let c = h.checksum(content);
        self.write_object_at(&c, "file", &emit_filez(h, content));
        c
    }

    pub fn commit_obj(&self, csum: &str) -> Commit {
        Commit::parse(&self.read_object(csum, "commit")).expect("parse commit")
    }

    pub fn dirtree(&self, csum: &str) -> DirTree {
        DirTree::parse(&self.read_object(csum, "dirtree")).expect("parse dirtree")
    }

    pub fn dirmeta(&self, csum: &str) -> DirMeta {
        DirMeta::parse(&self.read_object(csum, "dirmeta")).expect("parse dirmeta")
    }

    /// Points `refs/heads/NAME` (or any path under `refs/`, e.g. `remotes/origin/main`) at `csum`.
    pub fn set_ref(&self, under_refs: &str, csum: &str) {
        let p = self.path.join("refs").join(under_refs);
        std::fs::create_dir_all(p.parent().unwrap()).expect("mkdir refs");
        std::fs::write(&p, format!("{csum}\n")).expect("write ref");
    }

    /// Content checksum of the file at `path` (`/a/b`) in commit `commit`.
    pub fn file_checksum(&self, commit: &str, path: &str) -> String {
        let (dirs, name) = split_path(path);
        let tree = self.dirtree_at(commit, &dirs);
        let f = tree
            .file(&name)
            .unwrap_or_else(|| panic!("no file {path} in {commit}"));
        hex(&f.1)
    }

    /// The dirtree of directory `dirs` (components) in `commit`.
    pub fn dirtree_at(&self, commit: &str, dirs: &[String]) -> DirTree {
        let mut t = self.dirtree(&hex(&self.commit_obj(commit).tree));
        for d in dirs {
            let e = t.dir(d).unwrap_or_else(|| panic!("no dir {d}")).clone();
            t = self.dirtree(&hex(&e.1));
        }
        t
    }

    /// Rewrites the dirtree at directory `dir` (`""` = root, `"a/b"`) of the commit `branch` points
    /// at, then re-hashes upward (parent dirtrees, the commit) and moves `refs/heads/BRANCH`.
    /// `f` may also write new objects. Returns the new commit checksum.
    pub fn rewrite_tree(&self, branch: &str, dir: &str, f: impl FnOnce(&mut DirTree)) -> String {
        let commit = self.rev_parse(branch);
        let comps: Vec<String> = dir
            .split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        // chain[i] = dirtree at depth i.
        let mut chain = vec![self.dirtree(&hex(&self.commit_obj(&commit).tree))];
        for d in &comps {
            let e = chain
                .last()
                .unwrap()
                .dir(d)
                .unwrap_or_else(|| panic!("no dir {d}"))
                .clone();
            chain.push(self.dirtree(&hex(&e.1)));
        }
        let mut cur = chain.pop().unwrap();
        f(&mut cur);
        let mut csum = self.write_metadata("dirtree", &cur.emit());
        for d in comps.iter().rev() {
            let mut parent = chain.pop().unwrap();
            for e in parent.dirs.iter_mut().filter(|e| e.0 == d.as_bytes()) {
                e.1 = unhex(&csum);
            }
            csum = self.write_metadata("dirtree", &parent.emit());
        }
        self.rewrite_commit(branch, |c| c.tree = unhex(&csum))
    }

    /// Rewrites the commit `branch` points at, writes it under its new checksum and moves
    /// `refs/heads/BRANCH` there. Returns the new checksum.
    pub fn rewrite_commit(&self, branch: &str, f: impl FnOnce(&mut Commit)) -> String {
        let old = self.rev_parse(branch);
        let mut c = self.commit_obj(&old);
        f(&mut c);
        let new = self.write_metadata("commit", &c.emit());
        self.set_ref(&format!("heads/{branch}"), &new);
        new
    }

    /// Copies the whole repository (with `cp -a`, keeping xattrs and owners) to `to`.
    pub fn copy_to(&self, to: &Path) -> Repo {
        let st = Command::new("cp")
            .arg("-a")
            .arg(&self.path)
            .arg(to)
            .status()
            .expect("spawn cp");
        assert!(
            st.success(),
            "cp -a {} {}",
            self.path.display(),
            to.display()
        );
        Repo {
            path: to.to_path_buf(),
            mode: self.mode.clone(),
        }
    }

    /// All loose objects: (checksum, extension).
    pub fn objects(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(self.path.join("objects")).expect("readdir objects") {
            let d = d.expect("entry");
            let pre = d.file_name().to_string_lossy().into_owned();
            for f in std::fs::read_dir(d.path()).expect("readdir objects/XX") {
                let name = f.expect("entry").file_name().to_string_lossy().into_owned();
                if let Some((rest, ext)) = name.split_once('.') {
                    out.push((format!("{pre}{rest}"), ext.to_string()));
                }
            }
        }
        out.sort();
        out
    }
}

/// `/a/b/c` → (["a","b"], "c").
pub fn split_path(path: &str) -> (Vec<String>, String) {
    let mut comps: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let name = comps.pop().expect("path has a name");
    (comps, name)
}

// ---------------------------------------------------------------------------------------------
// The implementation under test

/// True when `OSTREE_UNDER_TEST=ostree`: the suites then run the real `ostree` where they would
/// run `ramdisk ostree`, which validates the harness itself (ostree compared to itself).
/// `OSTREE_UNDER_TEST=ostree-strict` also runs the hostile assertions against the real ostree
/// (most fail there: ostree does not verify checksums on checkout).
pub fn testing_real_ostree() -> bool {
    std::env::var("OSTREE_UNDER_TEST").is_ok_and(|v| v.starts_with("ostree"))
}

/// `ramdisk ostree --repo=REPO ARGS…` (or the real `ostree`, see [`testing_real_ostree`]).
pub fn under_test(repo: &Path, args: &[&str]) -> Command {
    if testing_real_ostree() {
        return ostree_cmd(repo, args);
    }
    let mut c = crate::ramdisk(["ostree".to_string(), format!("--repo={}", repo.display())]);
    c.args(args);
    c
}

/// A directory for fixtures that live as long as the test process (never dropped). Removes
/// the leftovers of earlier processes with the same tag that are no longer running.
pub fn fixture_dir(tag: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    let prefix = format!("ramdisk-fixture-{tag}-");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(&prefix) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = Command::new("rm").arg("-rf").arg(e.path()).status();
                }
            }
        }
    }
    let p = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create fixture dir");
    p
}

/// Sets xattr `name` on `path` (not following a symlink).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    rustix::fs::lsetxattr(
        path.as_os_str().as_bytes(),
        name,
        value,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("setxattr {} {name}: {e}", path.display()));
}
