//! Checks on objects a pull received, before they are stored (ostree-format.md §2.1, §3, §5),
//! and the ref lookup in a remote's `summary`.
//!
//! Built on `crate::ostree::object` (the views) and `crate::ostree::verify` (hashing); nothing
//! here parses GVariant framing itself except through `crate::gvariant`'s cursors.
//!
//! - Metadata (commit, dirtree, dirmeta): SHA-256 of the bytes is the name, and the view's
//!   `parse` accepts them (normal form, names, modes).
//! - Content (`.filez`): `u32be H ‖ 0000 ‖ (tuuuusa(ayay)) ‖ raw deflate`; the header is parsed,
//!   re-serialized without `t` as `(uuuusa(ayay))`, and the inflated payload is hashed after it.
//!   Unlike libostree we also reject bytes after the end of the deflate stream, a symlink with a
//!   payload, and a regular file whose inflated length is not the header's `size`: the checksum
//!   does not cover the compressed bytes, so any slack there would be unverified data.

use alloc::boxed::Box;
use alloc::vec::Vec;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use crate::error::{Error, Malformed, ParseError, Result};
use crate::gvariant::{self, Array, Tuple};
use crate::ostree::object::{Commit, DirTree, FileHeader, Meta, S_IFLNK, S_IFMT};
use crate::ostree::verify::{self, ContentHasher};
use crate::ostree::{Checksum, MAX_METADATA_SIZE};

use super::store::ObjKind;

/// Verifies a fetched metadata object: size limit, checksum (except `.commitmeta`, which is
/// not content-addressed), then structure.
///
/// # Errors
/// `Limit`, `Checksum`, or the view's `Parse` error.
pub fn check_metadata(kind: ObjKind, expected: &Checksum, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_METADATA_SIZE {
        return Err(Error::Limit("metadata object size"));
    }
    // Detached metadata is named after its commit, not its own hash (ostree-format.md §1.2).
    if kind != ObjKind::CommitMeta {
        verify::expect(expected, verify::sha256(bytes))?;
    }
    match kind {
        ObjKind::Commit => Commit::parse(bytes).map(|_| ()),
        ObjKind::DirTree => DirTree::parse(bytes).map(|_| ()),
        ObjKind::DirMeta => Meta::parse_dirmeta(bytes).map(|_| ()),
        // Detached metadata is not content-addressed: only its type can be checked.
        ObjKind::CommitMeta => gvariant::validate(b"a{sv}", bytes, 0),
        ObjKind::Content => return Err(Error::State("content object checked as metadata")),
    }
    .map_err(Error::Parse)
}

/// Verifies a whole fetched archive content object (`.filez`) against `expected`
/// (a [`FilezCheck`] fed once).
///
/// # Errors
/// `Parse` for a malformed header or deflate stream, `Checksum` on a mismatch.
pub fn check_filez(expected: &Checksum, bytes: &[u8]) -> Result<()> {
    let mut c = FilezCheck::new(expected);
    c.update(bytes)?;
    c.finish()
}

/// Bytes of inflated output produced per `inflate` call.
const OUT_CHUNK: usize = 32 * 1024;

/// Where a [`FilezCheck`] is in the object.
enum Stage {
    /// Collecting the 8-byte prefix and the header (`head` grows to `8 + H`).
    Head,
    /// Inflating the payload into the hash.
    Body,
    /// A symlink's header is complete: no byte may follow.
    Symlink,
    /// The deflate stream ended: no byte may follow.
    End,
}

/// A streaming check of an archive content object (`.filez`) that arrives in pieces
/// (ostree-format.md §3, §5): feed every received piece to [`FilezCheck::update`], then call
/// [`FilezCheck::finish`]. Memory stays bounded whatever the object's size: the header (at most
/// [`MAX_METADATA_SIZE`]), the inflater's 32 KiB window and one 32 KiB output chunk. The
/// inflate is capped at the header's `size`, so a deflate bomb stops after `size` bytes.
pub struct FilezCheck {
    expected: Checksum,
    stage: Stage,
    head: Vec<u8>,
    /// `8 + H` once the prefix is known.
    head_len: Option<usize>,
    hasher: Option<ContentHasher>,
    inflater: Option<Box<InflateState>>,
    out: Vec<u8>,
    size: u64,
    produced: u64,
    /// Bytes of the object consumed so far (for error offsets).
    pos: usize,
}

impl FilezCheck {
    /// Starts checking an object that must hash to `expected`.
    pub fn new(expected: &Checksum) -> Self {
        FilezCheck {
            expected: *expected,
            stage: Stage::Head,
            head: Vec::new(),
            head_len: None,
            hasher: None,
            inflater: None,
            out: Vec::new(),
            size: 0,
            produced: 0,
            pos: 0,
        }
    }

    /// Feeds the next received bytes of the object.
    ///
    /// # Errors
    /// `Parse` for a malformed prefix or header, a broken deflate stream, more inflated bytes
    /// than the header's `size`, or bytes after the end of the object; `Limit` for a header
    /// larger than [`MAX_METADATA_SIZE`].
    pub fn update(&mut self, mut input: &[u8]) -> Result<()> {
        if let Stage::Head = self.stage {
            input = self.take_head(input)?;
        }
        if input.is_empty() {
            return Ok(());
        }
        match self.stage {
            Stage::Head => Ok(()),
            Stage::Body => self.inflate(input),
            Stage::Symlink | Stage::End => Err(bad(self.pos, Malformed::BadValue)),
        }
    }

    /// Collects prefix and header bytes from `input`; returns what follows them.
    fn take_head<'i>(&mut self, input: &'i [u8]) -> Result<&'i [u8]> {
        let want = self.head_len.unwrap_or(8);
        let n = want.saturating_sub(self.head.len()).min(input.len());
        let (now, rest) = input.split_at(n);
        self.head.extend_from_slice(now);
        self.pos = self.pos.saturating_add(n);
        if self.head.len() < want {
            return Ok(rest);
        }
        if self.head_len.is_none() {
            let len_be: [u8; 4] = self
                .head
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(bad(0, Malformed::Truncated))?;
            if self.head.get(4..8) != Some(&[0u8; 4][..]) {
                return Err(bad(4, Malformed::NotNormal));
            }
            let hlen = usize::try_from(u32::from_be_bytes(len_be))
                .map_err(|_| bad(0, Malformed::TooLarge))?;
            if hlen > MAX_METADATA_SIZE {
                return Err(Error::Limit("archive file header size"));
            }
            self.head_len = Some(hlen + 8);
            return self.take_head(rest);
        }
        let header = self.head.get(8..).unwrap_or_default();
        let h = FileHeader::parse(header).map_err(|e| Error::Parse(shift(e, 8)))?;
        let mut prefixed =
            Vec::with_capacity(gvariant::content_header_len(h.target.len(), h.xattrs.len()) + 8);
        gvariant::emit_content_header(h.uid, h.gid, h.mode, h.target, h.xattrs, &mut prefixed);
        self.hasher = Some(ContentHasher::new(&prefixed));
        if h.mode & S_IFMT == S_IFLNK {
            self.stage = Stage::Symlink;
        } else {
            self.size = h.size;
            self.stage = Stage::Body;
            self.inflater = Some(InflateState::new_boxed(DataFormat::Raw));
            self.out = alloc::vec![0u8; OUT_CHUNK];
        }
        // The header is hashed in its canonical form; its received bytes are no longer needed.
        self.head = Vec::new();
        Ok(rest)
    }

    /// Inflates `input` into the hash, never past the header's `size`.
    fn inflate(&mut self, mut input: &[u8]) -> Result<()> {
        let (Some(state), Some(hasher)) = (self.inflater.as_mut(), self.hasher.as_mut()) else {
            return Err(Error::State("content check without a header"));
        };
        loop {
            let r = inflate(state, input, &mut self.out, MZFlush::None);
            let written = self.out.get(..r.bytes_written).unwrap_or_default();
            self.produced = self.produced.saturating_add(written.len() as u64);
            if self.produced > self.size {
                return Err(bad(8, Malformed::BadValue));
            }
            hasher.update(written);
            input = input.get(r.bytes_consumed..).unwrap_or_default();
            let at = self.pos;
            self.pos = self.pos.saturating_add(r.bytes_consumed);
            let out_full = r.bytes_written == self.out.len();
            match r.status {
                Ok(MZStatus::StreamEnd) => {
                    self.stage = Stage::End;
                    self.inflater = None;
                    self.out = Vec::new();
                    // Unverified bytes after the stream are refused (see the module doc).
                    return if input.is_empty() {
                        Ok(())
                    } else {
                        Err(bad(self.pos, Malformed::BadValue))
                    };
                }
                // Everything given was consumed and no output is pending: wait for more.
                Ok(_) | Err(MZError::Buf) if input.is_empty() && !out_full => return Ok(()),
                Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
                _ => return Err(bad(at, Malformed::BadValue)),
            }
        }
    }

    /// Ends the check: the object must be complete and hash to the expected checksum.
    ///
    /// # Errors
    /// `Parse(Truncated)` when the header or deflate stream is incomplete, `Parse(BadValue)`
    /// when fewer bytes than the header's `size` were inflated, `Checksum` on a mismatch.
    pub fn finish(self) -> Result<()> {
        match self.stage {
            Stage::Head | Stage::Body => Err(bad(self.pos, Malformed::Truncated)),
            Stage::End if self.produced != self.size => Err(bad(8, Malformed::BadValue)),
            Stage::Symlink | Stage::End => match self.hasher {
                Some(h) => verify::expect(&self.expected, h.finish()),
                None => Err(Error::State("content check without a header")),
            },
        }
    }
}

/// A parse error at byte `at` of the object.
fn bad(at: usize, k: Malformed) -> Error {
    Error::Parse(ParseError::at(at, k))
}

/// Moves a parse error's offset by `by` bytes (the header sits after the 8-byte prefix).
fn shift(e: ParseError, by: u32) -> ParseError {
    ParseError {
        offset: e.offset.saturating_add(by),
        kind: e.kind,
    }
}

/// The commit checksum of `refname` in a `summary` `(a(s(taya{sv}))a{sv})`, if listed.
///
/// # Errors
/// `Parse` when the summary is malformed.
pub fn summary_lookup(summary: &[u8], refname: &str) -> Result<Option<Checksum>> {
    let mut t = Tuple::new(summary, 0);
    let (refs, rat) = t.next(8, None, false)?;
    let (meta, mat) = t.next(8, None, true)?;
    t.finish()?;
    gvariant::validate(b"a{sv}", meta, mat)?;
    let mut arr = Array::new(refs, rat, 8)?;
    while let Some(e) = arr.next_elem() {
        let (elem, at) = e?;
        // (s(taya{sv})): the name, then (size, checksum, metadata).
        let mut entry = Tuple::new(elem, at);
        let (name, nat) = entry.next(1, None, false)?;
        let (info, iat) = entry.next(8, None, true)?;
        entry.finish()?;
        let mut it = Tuple::new(info, iat);
        let _size = it.next(8, Some(8), false)?;
        let (csum, cat) = it.next(1, None, false)?;
        let (m, mat) = it.next(8, None, true)?;
        it.finish()?;
        if gvariant::string(name, nat)? != refname {
            continue;
        }
        gvariant::validate(b"a{sv}", m, mat)?;
        let c: Checksum = csum
            .try_into()
            .map_err(|_| ParseError::at(cat, Malformed::BadChecksum))?;
        return Ok(Some(c));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive object of ostree-format.md §3: `hello\n` with xattr user.foo=bar, 56 bytes.
    const HELLO_FILEZ: [u8; 56] = [
        0, 0, 0, 0x28, 0, 0, 0, 0, // H = 40, pad
        0, 0, 0, 0, 0, 0, 0, 6, // size 6 (BE)
        0, 0, 0, 0, 0, 0, 0, 0, // uid, gid
        0, 0, 0x81, 0xa4, 0, 0, 0, 0, // mode 0100644, rdev
        0, // target ""
        b'u', b's', b'e', b'r', b'.', b'f', b'o', b'o', 0, b'b', b'a', b'r', 9,    // (ayay)
        0x0d, // a(ayay) element end
        0x19, // tuple offset: end of s
        0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00, // raw deflate of "hello\n"
    ];

    fn hello_csum() -> Checksum {
        crate::ostree::parse_checksum(
            b"28af666cd8036303fcab1a13f2ef7f9c9e92b6a392206017d50b932c8ff4daf9",
        )
        .unwrap()
    }

    #[test]
    fn accepts_the_documented_archive_object() {
        assert_eq!(check_filez(&hello_csum(), &HELLO_FILEZ), Ok(()));
    }

    #[test]
    fn rejects_filez_with_changed_payload_truncation_or_trailing_bytes() {
        let c = hello_csum();
        assert!(matches!(
            check_filez(&c, &HELLO_FILEZ[..50]),
            Err(Error::Parse(_))
        ));
        let mut extra = HELLO_FILEZ.to_vec();
        extra.push(0);
        assert!(matches!(check_filez(&c, &extra), Err(Error::Parse(_))));
        let mut other = c;
        other[0] ^= 1;
        assert!(matches!(
            check_filez(&other, &HELLO_FILEZ),
            Err(Error::Checksum { .. })
        ));
        assert!(check_filez(&c, &[]).is_err());
    }

    #[test]
    fn streaming_check_accepts_any_split_of_the_object() {
        for piece in [1, 2, 7, 9, 55] {
            let mut c = FilezCheck::new(&hello_csum());
            for chunk in HELLO_FILEZ.chunks(piece) {
                c.update(chunk).unwrap();
            }
            assert_eq!(c.finish(), Ok(()), "pieces of {piece}");
        }
        let mut c = FilezCheck::new(&hello_csum());
        c.update(&HELLO_FILEZ[..50]).unwrap();
        assert!(matches!(c.finish(), Err(Error::Parse(_))), "truncated");
    }

    /// `HELLO_FILEZ`'s header with `size` = `n` followed by `payload`.
    fn with_size(n: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = HELLO_FILEZ[..48].to_vec();
        v[8..16].copy_from_slice(&n.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn streaming_check_stops_a_deflate_bomb_at_the_header_size() {
        // 64 MiB of zeros compress to ~64 KiB; the header promises 100 bytes.
        let bomb = miniz_oxide::deflate::compress_to_vec(&alloc::vec![0u8; 64 << 20], 6);
        let obj = with_size(100, &bomb);
        let mut c = FilezCheck::new(&hello_csum());
        let r = obj.chunks(4096).try_for_each(|ch| c.update(ch));
        assert!(matches!(r, Err(Error::Parse(_))), "{r:?}");
        assert!(c.produced <= 100 + OUT_CHUNK as u64);
    }

    #[test]
    fn streaming_check_hashes_a_large_object_in_bounded_pieces() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let obj = with_size(
            data.len() as u64,
            &miniz_oxide::deflate::compress_to_vec(&data, 6),
        );
        // Expected checksum: canonical header of HELLO (user.foo=bar, 0644) + data.
        let h = FileHeader::parse(&obj[8..48]).unwrap();
        let mut prefixed = Vec::new();
        gvariant::emit_content_header(h.uid, h.gid, h.mode, h.target, h.xattrs, &mut prefixed);
        let mut hasher = ContentHasher::new(&prefixed);
        hasher.update(&data);
        let csum = hasher.finish();
        let mut c = FilezCheck::new(&csum);
        for chunk in obj.chunks(1000) {
            c.update(chunk).unwrap();
        }
        assert_eq!(c.finish(), Ok(()));
        // One byte too many promised: refused at the end.
        let short = with_size(data.len() as u64 + 1, &obj[48..]);
        let mut c = FilezCheck::new(&csum);
        c.update(&short).unwrap();
        assert!(matches!(c.finish(), Err(Error::Parse(_))));
    }

    #[test]
    fn metadata_must_hash_to_its_name() {
        // dirmeta 0/0/040755 without xattrs (ostree-format.md §2.2).
        let dirmeta = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed];
        let c = verify::sha256(&dirmeta);
        assert_eq!(check_metadata(ObjKind::DirMeta, &c, &dirmeta), Ok(()));
        let mut wrong = c;
        wrong[5] ^= 0x80;
        assert!(matches!(
            check_metadata(ObjKind::DirMeta, &wrong, &dirmeta),
            Err(Error::Checksum { .. })
        ));
    }

    #[test]
    fn commitmeta_is_not_checked_against_its_commit_checksum() {
        // An empty a{sv} is zero bytes; it is named after a commit, not hashed.
        assert_eq!(check_metadata(ObjKind::CommitMeta, &[7; 32], &[]), Ok(()));
        assert!(check_metadata(ObjKind::CommitMeta, &[7; 32], &[1, 2, 3]).is_err());
    }

    #[test]
    fn summary_without_refs_finds_nothing() {
        // (a(s(taya{sv}))a{sv}) with both arrays empty: no bytes and one offset (0).
        assert_eq!(summary_lookup(&[0], "main"), Ok(None));
        assert!(summary_lookup(&[0, 0, 7], "main").is_err());
    }
}
