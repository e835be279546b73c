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

/// Verifies a fetched metadata object: size limit, checksum, then structure.
///
/// # Errors
/// `Limit`, `Checksum`, or the view's `Parse` error.
pub fn check_metadata(kind: ObjKind, expected: &Checksum, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_METADATA_SIZE {
        return Err(Error::Limit("metadata object size"));
    }
    verify::expect(expected, verify::sha256(bytes))?;
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

/// Verifies a fetched archive content object (`.filez`) against `expected`.
///
/// # Errors
/// `Parse` for a malformed header or deflate stream, `Checksum` on a mismatch.
pub fn check_filez(expected: &Checksum, bytes: &[u8]) -> Result<()> {
    let bad = |at: usize, k: Malformed| Error::Parse(ParseError::at(at, k));
    let len_be: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(bad(0, Malformed::Truncated))?;
    if bytes.get(4..8) != Some(&[0u8; 4][..]) {
        return Err(bad(4, Malformed::NotNormal));
    }
    let hlen =
        usize::try_from(u32::from_be_bytes(len_be)).map_err(|_| bad(0, Malformed::TooLarge))?;
    let end = hlen.checked_add(8).ok_or(bad(0, Malformed::TooLarge))?;
    let header = bytes.get(8..end).ok_or(bad(0, Malformed::Truncated))?;
    let payload = bytes.get(end..).unwrap_or_default();
    let h = FileHeader::parse(header).map_err(|e| Error::Parse(shift(e, 8)))?;
    let mut prefixed =
        Vec::with_capacity(gvariant::content_header_len(h.target.len(), h.xattrs.len()) + 8);
    gvariant::emit_content_header(h.uid, h.gid, h.mode, h.target, h.xattrs, &mut prefixed);
    let mut hasher = ContentHasher::new(&prefixed);
    if h.mode & S_IFMT == S_IFLNK {
        if !payload.is_empty() {
            return Err(bad(end, Malformed::BadValue));
        }
    } else {
        let n = inflate_into(payload, &mut hasher)
            .map_err(|at| bad(end.saturating_add(at), Malformed::BadValue))?;
        if n != h.size {
            return Err(bad(8, Malformed::BadValue));
        }
    }
    verify::expect(expected, hasher.finish())
}

/// Moves a parse error's offset by `by` bytes (the header sits after the 8-byte prefix).
fn shift(e: ParseError, by: u32) -> ParseError {
    ParseError {
        offset: e.offset.saturating_add(by),
        kind: e.kind,
    }
}

/// Inflates the raw deflate stream `input` into `hasher`; returns the inflated length, or the
/// input offset where the stream is broken, truncated, or followed by extra bytes.
fn inflate_into(mut input: &[u8], hasher: &mut ContentHasher) -> core::result::Result<u64, usize> {
    let mut state: Box<InflateState> = InflateState::new_boxed(DataFormat::Raw);
    let mut buf = alloc::vec![0u8; 64 * 1024];
    let mut consumed = 0usize;
    let mut total = 0u64;
    loop {
        let r = inflate(&mut state, input, &mut buf, MZFlush::None);
        hasher.update(buf.get(..r.bytes_written).unwrap_or_default());
        total = total.saturating_add(r.bytes_written as u64);
        consumed = consumed.saturating_add(r.bytes_consumed);
        input = input.get(r.bytes_consumed..).unwrap_or_default();
        match r.status {
            Ok(MZStatus::StreamEnd) => {
                return if input.is_empty() {
                    Ok(total)
                } else {
                    Err(consumed)
                };
            }
            Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => return Err(consumed),
            Ok(_) => {}
            Err(MZError::Buf) if input.is_empty() => return Err(consumed),
            Err(_) => return Err(consumed),
        }
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
    fn summary_without_refs_finds_nothing() {
        // (a(s(taya{sv}))a{sv}) with both arrays empty: no bytes and one offset (0).
        assert_eq!(summary_lookup(&[0], "main"), Ok(None));
        assert!(summary_lookup(&[0, 0, 7], "main").is_err());
    }
}
