//! Zero-copy GVariant reading for the OSTree shapes, normal form only, and the normal-form writer
//! for the content-checksum header (ostree-format.md §2, §5).
//!
//! Invariant: every function here either returns slices that lie inside its input and follow the
//! GVariant framing rules exactly as GLib writes them (minimal offset widths, zero padding, no
//! overlap, no trailing bytes), or a [`ParseError`] with the byte offset of the first violation.
//! Reading is linear in the input; recursion depth is capped by [`MAX_DEPTH`], never by the input.
//!
//! The readers are the tuple cursor [`Tuple`] and the array iterator [`Array`]; the OSTree views in
//! `ostree::object` are built from them. [`validate`] checks a value of any type string and is
//! used for the values inside `a{sv}` metadata, whose types the commit author chooses.

use crate::error::{Malformed, ParseError};
use alloc::vec::Vec;

type R<T> = Result<T, ParseError>;

/// Deepest type / variant nesting [`validate`] follows.
pub const MAX_DEPTH: usize = 32;

/// Longest type string accepted inside a variant.
const MAX_TYPE_LEN: usize = 255;

fn err(at: usize, kind: Malformed) -> ParseError {
    ParseError::at(at, kind)
}

/// Width of the framing offsets of a container whose total serialized size is `total`
/// (`gvs_get_offset_size`).
pub const fn offset_size(total: usize) -> usize {
    if total == 0 {
        0
    } else if total <= 0xff {
        1
    } else if total <= 0xffff {
        2
    } else if total <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// The offset width GLib picks for a container with `body` bytes of children and `n` offsets
/// (`gvs_calculate_total_size`): the smallest width whose total still fits it.
pub const fn framed_width(body: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let mut w = 1;
    while w < 8 {
        if offset_size(body + n * w) <= w {
            return w;
        }
        w *= 2;
    }
    8
}

/// Little-endian unsigned integer of `w` bytes at `data[at..]`.
fn read_le(data: &[u8], at: usize, w: usize, base: usize) -> R<usize> {
    let bytes = at
        .checked_add(w)
        .and_then(|end| data.get(at..end))
        .ok_or(err(base + at, Malformed::Truncated))?;
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    usize::try_from(v).map_err(|_| err(base + at, Malformed::Truncated))
}

/// `x` rounded up to `align` (a power of two ≤ 8).
fn align_up(x: usize, align: usize) -> usize {
    let m = align.saturating_sub(1);
    x.saturating_add(m) & !m
}

/// Requires `data[from..to]` to be zero padding.
fn zeros(data: &[u8], from: usize, to: usize, base: usize) -> R<()> {
    let pad = data
        .get(from..to)
        .ok_or(err(base + from, Malformed::Truncated))?;
    match pad.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(err(base + from + i, Malformed::NotNormal)),
    }
}

/// Big-endian u32 from 4 bytes (OSTree stores uid/gid/mode BE, ostree-format.md §2.1).
pub fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(..4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

/// Big-endian u64 from 8 bytes.
pub fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(..8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

/// Reads the members of one tuple or dict entry in order (ostree-format.md §2, "Parsing loop").
pub struct Tuple<'a> {
    data: &'a [u8],
    base: usize,
    off: usize,
    tail: usize,
    w: usize,
}

impl<'a> Tuple<'a> {
    /// A cursor over the tuple serialized in `data`, which starts at byte `base` of the input.
    pub fn new(data: &'a [u8], base: usize) -> Self {
        Tuple {
            data,
            base,
            off: 0,
            tail: data.len(),
            w: offset_size(data.len()),
        }
    }

    /// The next member: aligned to `align`, `fixed` bytes long or variable-size (`None`); `last`
    /// says it is the tuple's last member. Returns its bytes and its offset in the input.
    ///
    /// # Errors
    /// `Truncated` when a member or offset lies outside the tuple, `NotNormal` for non-zero
    /// padding or offsets that go backwards.
    pub fn next(&mut self, align: usize, fixed: Option<usize>, last: bool) -> R<(&'a [u8], usize)> {
        let start = align_up(self.off, align);
        if start > self.tail {
            return Err(err(self.base + self.off, Malformed::Truncated));
        }
        zeros(self.data, self.off, start, self.base)?;
        let end = match fixed {
            Some(size) => start.saturating_add(size),
            None if last => self.tail,
            None => {
                if self.w == 0 {
                    // An empty tuple cannot hold the offset this member needs.
                    return Err(err(self.base, Malformed::Truncated));
                }
                let t = self
                    .tail
                    .checked_sub(self.w)
                    .ok_or(err(self.base, Malformed::Truncated))?;
                if t < start {
                    return Err(err(self.base + t, Malformed::Truncated));
                }
                self.tail = t;
                read_le(self.data, t, self.w, self.base)?
            }
        };
        if end < start || end > self.tail {
            return Err(err(self.base + start, Malformed::NotNormal));
        }
        self.off = end;
        let bytes = self
            .data
            .get(start..end)
            .ok_or(err(self.base + start, Malformed::Truncated))?;
        Ok((bytes, self.base + start))
    }

    /// Ends a variable-size tuple: the last member must end where the offset table begins.
    ///
    /// # Errors
    /// `NotNormal` for bytes between the last member and the offsets.
    pub fn finish(self) -> R<()> {
        if self.off != self.tail {
            return Err(err(self.base + self.off, Malformed::NotNormal));
        }
        Ok(())
    }

    /// Ends a fixed-size tuple of `size` bytes aligned to `align`: zero padding, then the end.
    ///
    /// # Errors
    /// `NotNormal` for non-zero padding or a size other than `size`.
    pub fn finish_fixed(self, align: usize, size: usize) -> R<()> {
        let mut end = align_up(self.off, align);
        if end == 0 {
            end = 1; // the unit tuple `()` is one zero byte
        }
        if end != size || self.data.len() != size {
            return Err(err(self.base + self.off, Malformed::NotNormal));
        }
        zeros(self.data, self.off, end, self.base)
    }
}

/// Iterates the elements of an array of variable-size elements (`a(say)`, `a{sv}`, `as`, …).
pub struct Array<'a> {
    data: &'a [u8],
    base: usize,
    align: usize,
    w: usize,
    table: usize,
    i: usize,
    n: usize,
    prev_end: usize,
}

impl<'a> Array<'a> {
    /// Checks the offset table of the array in `data` (at input byte `base`) whose elements are
    /// aligned to `align`.
    ///
    /// # Errors
    /// `Truncated` / `NotNormal` when the last offset does not point at a whole table.
    pub fn new(data: &'a [u8], base: usize, align: usize) -> R<Self> {
        let len = data.len();
        let w = offset_size(len);
        let (table, n) = if len == 0 {
            (0, 0)
        } else {
            let last = read_le(data, len - w, w, base)?;
            let table_len = len
                .checked_sub(last)
                .ok_or(err(base + len - w, Malformed::Truncated))?;
            if table_len < w || table_len % w != 0 {
                return Err(err(base + len - w, Malformed::NotNormal));
            }
            (last, table_len / w)
        };
        Ok(Array {
            data,
            base,
            align,
            w,
            table,
            i: 0,
            n,
            prev_end: 0,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for the empty array.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The next element's bytes and input offset, `None` after the last.
    ///
    /// # Errors
    /// `NotNormal` for padding that is not zero or offsets that go backwards.
    pub fn next_elem(&mut self) -> Option<R<(&'a [u8], usize)>> {
        if self.i >= self.n {
            return None;
        }
        Some(self.step())
    }

    fn step(&mut self) -> R<(&'a [u8], usize)> {
        let at = self.table + self.i * self.w;
        let end = read_le(self.data, at, self.w, self.base)?;
        let start = align_up(self.prev_end, self.align);
        if end < start || end > self.table {
            return Err(err(self.base + at, Malformed::NotNormal));
        }
        zeros(self.data, self.prev_end, start, self.base)?;
        self.i += 1;
        self.prev_end = end;
        let bytes = self
            .data
            .get(start..end)
            .ok_or(err(self.base + start, Malformed::Truncated))?;
        Ok((bytes, self.base + start))
    }
}

/// The text of a GVariant string `s`: one trailing NUL, no other NUL, valid UTF-8.
///
/// # Errors
/// `Truncated` without the NUL, `NotNormal` for an inner NUL, `BadUtf8`.
pub fn string(b: &[u8], base: usize) -> R<&str> {
    let (&last, text) = b.split_last().ok_or(err(base, Malformed::Truncated))?;
    if last != 0 {
        return Err(err(base + b.len() - 1, Malformed::NotNormal));
    }
    if let Some(i) = text.iter().position(|&c| c == 0) {
        return Err(err(base + i, Malformed::NotNormal));
    }
    core::str::from_utf8(text).map_err(|e| err(base + e.valid_up_to(), Malformed::BadUtf8))
}

/// Index just past the one complete type starting at `t[i]`.
fn type_end(t: &[u8], i: usize, depth: usize) -> R<usize> {
    if depth > MAX_DEPTH {
        return Err(err(i, Malformed::TooDeep));
    }
    let c = *t.get(i).ok_or(err(i, Malformed::BadValue))?;
    match c {
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'h' | b'x' | b't' | b'd' | b's' | b'o'
        | b'g' | b'v' => Ok(i + 1),
        b'a' | b'm' => type_end(t, i + 1, depth + 1),
        b'(' => {
            let mut j = i + 1;
            while t.get(j) != Some(&b')') {
                j = type_end(t, j, depth + 1)?;
            }
            Ok(j + 1)
        }
        b'{' => {
            let k = *t.get(i + 1).ok_or(err(i, Malformed::BadValue))?;
            if !b"ybnqiuhxtdsog".contains(&k) {
                return Err(err(i + 1, Malformed::BadValue));
            }
            let j = type_end(t, i + 2, depth + 1)?;
            if t.get(j) != Some(&b'}') {
                return Err(err(j, Malformed::BadValue));
            }
            Ok(j + 1)
        }
        _ => Err(err(i, Malformed::BadValue)),
    }
}

/// Alignment and fixed size (`None` for variable-size) of the complete type `t`.
fn type_info(t: &[u8]) -> (usize, Option<usize>) {
    match t.first() {
        Some(b'y' | b'b') => (1, Some(1)),
        Some(b'n' | b'q') => (2, Some(2)),
        Some(b'i' | b'u' | b'h') => (4, Some(4)),
        Some(b'x' | b't' | b'd') => (8, Some(8)),
        Some(b'v') => (8, None),
        Some(b'a' | b'm') => (type_info(t.get(1..).unwrap_or_default()).0, None),
        Some(b'(' | b'{') => {
            let (mut align, mut size, mut fixed) = (1, 0usize, true);
            let mut j = 1;
            while let Ok(e) = type_end(t, j, 0) {
                let (a, f) = type_info(t.get(j..e).unwrap_or_default());
                align = align.max(a);
                match f {
                    Some(s) if fixed => size = align_up(size, a) + s,
                    _ => fixed = false,
                }
                j = e;
            }
            if !fixed {
                (align, None)
            } else if size == 0 {
                (align, Some(1))
            } else {
                (align, Some(align_up(size, align)))
            }
        }
        _ => (1, None),
    }
}

/// Checks that `data` is the normal-form serialization of a value of the complete type `t`.
///
/// # Errors
/// The first framing, padding, string or nesting violation.
pub fn validate(t: &[u8], data: &[u8], base: usize) -> R<()> {
    if type_end(t, 0, 0)? != t.len() {
        return Err(err(base, Malformed::BadValue));
    }
    check(t, data, base, 0)
}

/// What a byte of a fixed-size value must hold, by position: the layout is the same for every
/// value of one type, so it is worked out once per type (not per element and nesting level,
/// which made `a((((y))))` cost elements × depth³; fuzz finding, GLib CVE-2023-32636's class).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteKind {
    /// Any value.
    Data,
    /// Padding (or the unit tuple's byte): zero in normal form.
    Zero,
    /// A boolean: 0 or 1.
    Bool,
}

/// Appends the layout of the fixed-size type `t` (of `size` bytes) to `out`.
fn fixed_layout(t: &[u8], size: usize, out: &mut Vec<ByteKind>) {
    let start = out.len();
    match t.first() {
        Some(b'b') => out.push(ByteKind::Bool),
        Some(b'(' | b'{') => {
            let mut j = 1;
            while let Ok(e) = type_end(t, j, 0) {
                let mt = t.get(j..e).unwrap_or_default();
                let (a, f) = type_info(mt);
                let pos = align_up(out.len() - start, a);
                out.resize(start + pos, ByteKind::Zero);
                fixed_layout(mt, f.unwrap_or(0), out);
                j = e;
            }
        }
        _ => out.resize(start + size, ByteKind::Data),
    }
    out.resize(start + size, ByteKind::Zero);
}

/// Checks each `layout.len()`-byte value of `data` against `layout`.
fn check_fixed(layout: &[ByteKind], data: &[u8], base: usize) -> R<()> {
    if layout.is_empty() || !data.len().is_multiple_of(layout.len()) {
        return Err(err(base, Malformed::NotNormal));
    }
    if layout.iter().all(|&k| k == ByteKind::Data) {
        return Ok(());
    }
    for (k, value) in data.chunks_exact(layout.len()).enumerate() {
        for (i, (&b, &kind)) in value.iter().zip(layout).enumerate() {
            let ok = match kind {
                ByteKind::Data => true,
                ByteKind::Zero => b == 0,
                ByteKind::Bool => b <= 1,
            };
            if !ok {
                return Err(err(base + k * layout.len() + i, Malformed::NotNormal));
            }
        }
    }
    Ok(())
}

fn check(t: &[u8], data: &[u8], base: usize, depth: usize) -> R<()> {
    if depth > MAX_DEPTH {
        return Err(err(base, Malformed::TooDeep));
    }
    let (_, fixed) = type_info(t);
    if let Some(size) = fixed {
        // One value of a fixed-size type: its layout decides every byte.
        if data.len() != size {
            return Err(err(base, Malformed::NotNormal));
        }
        let mut layout = Vec::new();
        fixed_layout(t, size, &mut layout);
        return check_fixed(&layout, data, base);
    }
    match t.first().copied() {
        Some(b's' | b'o' | b'g') => string(data, base).map(|_| ()),
        Some(b'v') => {
            let nul = data
                .iter()
                .rposition(|&b| b == 0)
                .ok_or(err(base, Malformed::Truncated))?;
            let (value, ty) = (&data[..nul], &data[nul + 1..]);
            if ty.len() > MAX_TYPE_LEN || ty.is_empty() || type_end(ty, 0, depth)? != ty.len() {
                return Err(err(base + nul, Malformed::BadValue));
            }
            check(ty, value, base, depth + 1)
        }
        Some(b'm') => {
            let inner = t.get(1..).unwrap_or_default();
            match (data.split_last(), type_info(inner).1) {
                (None, _) => Ok(()),
                (Some(_), Some(size)) if data.len() == size => check(inner, data, base, depth + 1),
                (Some((&0, body)), None) => check(inner, body, base, depth + 1),
                _ => Err(err(base, Malformed::NotNormal)),
            }
        }
        Some(b'a') => {
            let inner = t.get(1..).unwrap_or_default();
            match type_info(inner) {
                (_, Some(size)) => {
                    let mut layout = Vec::new();
                    fixed_layout(inner, size, &mut layout);
                    check_fixed(&layout, data, base)
                }
                (align, None) => {
                    let mut arr = Array::new(data, base, align)?;
                    while let Some(e) = arr.next_elem() {
                        let (e, at) = e?;
                        check(inner, e, at, depth + 1)?;
                    }
                    Ok(())
                }
            }
        }
        Some(b'(' | b'{') => {
            let mut tup = Tuple::new(data, base);
            let mut j = 1;
            let close = t.len() - 1;
            while j < close {
                let e = type_end(t, j, depth)?;
                let mt = t.get(j..e).unwrap_or_default();
                let (a, f) = type_info(mt);
                let (bytes, at) = tup.next(a, f, e == close)?;
                check(mt, bytes, at, depth + 1)?;
                j = e;
            }
            tup.finish()
        }
        // Every other complete type is fixed-size and was checked above.
        _ => Err(err(base, Malformed::BadValue)),
    }
}

/// Looks up `key` in a validated `a{sv}` dictionary and returns the value's type and bytes.
///
/// # Errors
/// Framing errors of the dictionary.
pub fn lookup<'a>(dict: &'a [u8], base: usize, key: &str) -> R<Option<(&'a [u8], &'a [u8])>> {
    let mut arr = Array::new(dict, base, 8)?;
    while let Some(e) = arr.next_elem() {
        let (entry, at) = e?;
        let mut tup = Tuple::new(entry, at);
        let (k, kat) = tup.next(1, None, false)?;
        let (v, _) = tup.next(8, None, true)?;
        if string(k, kat)? == key {
            let nul = v
                .iter()
                .rposition(|&b| b == 0)
                .ok_or(err(at, Malformed::Truncated))?;
            return Ok(Some((&v[nul + 1..], &v[..nul])));
        }
    }
    Ok(None)
}

/// Checks an xattr list `a(ayay)`: each name non-empty, NUL-terminated, without inner NUL.
/// Returns the number of entries.
///
/// # Errors
/// Framing errors or `BadName` for a bad attribute name.
pub fn check_xattrs(data: &[u8], base: usize) -> R<usize> {
    let mut arr = Array::new(data, base, 1)?;
    while let Some(e) = arr.next_elem() {
        let (name, _) = xattr(e?)?;
        let _ = name;
    }
    Ok(arr.len())
}

/// Splits one `(ayay)` xattr element into the name (without its NUL) and the value.
///
/// # Errors
/// Framing errors or `BadName`.
pub fn xattr((elem, at): (&[u8], usize)) -> R<(&[u8], &[u8])> {
    let mut tup = Tuple::new(elem, at);
    let (name, nat) = tup.next(1, None, false)?;
    let (value, _) = tup.next(1, None, true)?;
    tup.finish()?;
    match name.split_last() {
        Some((0, n)) if !n.is_empty() && !n.contains(&0) => Ok((n, value)),
        _ => Err(err(nat, Malformed::BadName)),
    }
}

/// Appends the little-endian offset `v` of width `w`.
fn push_le(out: &mut Vec<u8>, v: usize, w: usize) {
    let v = v as u64; // usize ≤ 64 bits on every target we build
    out.extend_from_slice(&v.to_le_bytes()[..w]);
}

/// Appends the normal-form `a(ayay)` of `entries` (names without their NUL; the caller sorts
/// them and drops empty values, as ostree does: glnx-xattrs.c `canonicalize_xattrs`).
pub fn emit_xattrs(entries: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
    let start = out.len();
    let mut ends = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        // (ayay): name + NUL, value, then the end of the name in the element's own width.
        let w = framed_width(name.len() + 1 + value.len(), 1);
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        push_le(out, name.len() + 1, w);
        // Elements have alignment 1, so each starts where the previous one ended.
        ends.push(out.len() - start);
    }
    let w = framed_width(out.len() - start, ends.len());
    for e in ends {
        push_le(out, e, w);
    }
}

/// Length of the content header [`emit_content_header`] writes, without the 8-byte prefix.
pub fn content_header_len(target_len: usize, xattrs_len: usize) -> usize {
    let body = 16 + target_len + 1 + xattrs_len;
    body + framed_width(body, 1)
}

/// Appends the hashed prefix of a content object (ostree-format.md §5):
/// `u32be(len) ‖ 00000000 ‖ (uuuusa(ayay))(uid, gid, mode, 0, target, xattrs)` with uid, gid,
/// mode big-endian and `xattrs` the serialized `a(ayay)`, copied as is.
pub fn emit_content_header(
    uid: u32,
    gid: u32,
    mode: u32,
    target: &[u8],
    xattrs: &[u8],
    out: &mut Vec<u8>,
) {
    let body = 16 + target.len() + 1 + xattrs.len();
    let w = framed_width(body, 1);
    let total = body + w;
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&uid.to_be_bytes());
    out.extend_from_slice(&gid.to_be_bytes());
    out.extend_from_slice(&mode.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(target);
    out.push(0);
    out.extend_from_slice(xattrs);
    push_le(out, 16 + target.len() + 1, w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn offset_width_grows_at_the_documented_boundaries() {
        assert_eq!(offset_size(0), 0);
        assert_eq!(offset_size(255), 1);
        assert_eq!(offset_size(256), 2);
        assert_eq!(offset_size(65535), 2);
        assert_eq!(offset_size(65536), 4);
        assert_eq!(framed_width(254, 1), 1);
        assert_eq!(framed_width(255, 1), 2);
        assert_eq!(framed_width(65533, 1), 2);
        assert_eq!(framed_width(65534, 1), 4);
    }

    #[test]
    fn validates_basic_values() {
        assert!(validate(b"s", b"1.0\0", 0).is_ok());
        assert!(validate(b"u", &[1, 0, 0, 0], 0).is_ok());
        assert!(validate(b"as", b"a\0bc\0\x02\x05", 0).is_ok());
        assert!(validate(b"ay", b"", 0).is_ok());
        assert!(validate(b"b", &[2], 0).is_err());
        assert!(validate(b"s", b"a\0b\0", 0).is_err());
        assert!(validate(b"u", &[1, 0, 0], 0).is_err());
    }

    #[test]
    fn rejects_array_with_wide_offsets() {
        // as ["a"] written with 2-byte offsets: not normal (4 bytes total needs width 1).
        assert!(validate(b"as", b"a\0\x02\x00", 0).is_err());
    }

    #[test]
    fn rejects_trailing_bytes_in_tuple() {
        // (ss) "a","b" is 61 00 62 00 02; an extra byte before the table is not normal.
        assert!(validate(b"(ss)", b"a\0b\0\x02", 0).is_ok());
        assert!(validate(b"(ss)", b"a\0b\0\0\x02", 0).is_err());
    }

    #[test]
    fn rejects_nonzero_padding() {
        // (yu): y, 3 pad, u = 8 bytes fixed.
        assert!(validate(b"(yu)", &[1, 0, 0, 0, 5, 0, 0, 0], 0).is_ok());
        assert!(validate(b"(yu)", &[1, 0, 9, 0, 5, 0, 0, 0], 0).is_err());
    }

    #[test]
    fn unit_is_one_zero_byte() {
        assert!(validate(b"()", &[0], 0).is_ok());
        assert!(validate(b"()", &[1], 0).is_err());
        assert!(validate(b"()", &[], 0).is_err());
    }

    #[test]
    fn emits_two_xattrs_like_glib() {
        let mut out = Vec::new();
        emit_xattrs(&[(b"a", b"1"), (b"b", b"22")], &mut out);
        // "a\0" "1" 02 | "b\0" "22" 02 | ends 4, 9
        assert_eq!(out, b"a\x001\x02b\x0022\x02\x04\x09");
        assert_eq!(check_xattrs(&out, 0), Ok(2));
    }

    #[test]
    fn rejects_deep_variant_nesting() {
        // innermost is `y` 1: build from inside out
        let mut data = vec![1u8, 0, b'y'];
        for _ in 0..40 {
            data.extend_from_slice(b"\0v");
        }
        assert!(validate(b"v", &data, 0).is_err());
    }

    #[test]
    fn xattrs_round_trip() {
        let mut out = Vec::new();
        emit_xattrs(&[(b"user.foo", b"bar")], &mut out);
        assert_eq!(out, b"user.foo\0bar\x09\x0d");
        let mut arr = Array::new(&out, 0, 1).unwrap();
        let (n, v) = xattr(arr.next_elem().unwrap().unwrap()).unwrap();
        assert_eq!((n, v), (&b"user.foo"[..], &b"bar"[..]));
    }
}
