//! Regression tests for what the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, one per
//! finding, named after the wrong behaviour. Inputs are the minimized reproducers, written out
//! with a comment per field (STYLE.md §6).

use crate::error::{Error, Malformed};
use crate::gvariant;
use crate::ostree_write::fetched::{check_filez, FilezCheck};
use alloc::vec;
use alloc::vec::Vec;

/// A regular-file `.filez`: `u32be H ‖ 0000 ‖ (tuuuusa(ayay))` with uid = gid = 0, mode
/// 0100644, rdev 0, no target, no xattrs, then `payload` (raw deflate).
fn filez(size: u64, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&26u32.to_be_bytes()); // header length
    b.extend_from_slice(&[0; 4]); // padding
    b.extend_from_slice(&size.to_be_bytes()); // t size
    b.extend_from_slice(&0u32.to_be_bytes()); // u uid
    b.extend_from_slice(&0u32.to_be_bytes()); // u gid
    b.extend_from_slice(&0o100644u32.to_be_bytes()); // u mode
    b.extend_from_slice(&0u32.to_be_bytes()); // u rdev
    b.push(0); // s target "" (ends at 25); a(ayay) xattrs: empty, so nothing
    b.push(25); // framing offset: end of the target
    b.extend_from_slice(payload);
    b
}

#[test]
fn check_filez_accepts_the_reference_object() {
    let payload = miniz_oxide::deflate::compress_to_vec(b"hello\n", 6);
    match check_filez(&[0; 32], &filez(6, &payload)) {
        Err(Error::Checksum { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// Guard for the `filez` target's oracle "bounded time": a `.filez` announcing 1 byte whose
/// deflate stream inflates to 8 MiB must be refused as soon as the output passes the header's
/// `size` (DESIGN.md "Trust and limits"), not after inflating (and hashing) the whole stream,
/// up to ~1030× the object's size. Fed in 4 KiB pieces, the check fails in the first ones.
#[test]
fn check_filez_stops_inflating_at_the_header_size() {
    let zeros = vec![0u8; 8 << 20];
    let payload = miniz_oxide::deflate::compress_to_vec(&zeros, 1);
    let obj = filez(1, &payload);
    match check_filez(&[0; 32], &obj) {
        Err(Error::Parse(e)) => assert_eq!(e.kind, Malformed::BadValue),
        other => panic!("{other:?}"),
    }
    let mut c = FilezCheck::new(&[0; 32]);
    let mut fed = 0;
    for piece in obj.chunks(4096) {
        fed += piece.len();
        if c.update(piece).is_err() {
            break;
        }
    }
    assert!(
        fed < obj.len() / 2,
        "still inflating after {fed} of {} bytes",
        obj.len()
    );
}

/// Nested fixed-size tuples in an array: `a((((…(y)…))))`, one byte per element.
fn nested_fixed_array(depth: usize) -> Vec<u8> {
    let mut t = vec![b'a'];
    t.extend(core::iter::repeat_n(b'(', depth));
    t.push(b'y');
    t.extend(core::iter::repeat_n(b')', depth));
    t
}

/// Finding (target `gvariant`; spotted in review while writing the target, confirmed with the
/// target binary: input `ff ‖ a(30×(y)) ‖ 00 ‖ 4000 zero bytes` runs 9.7 s, past `-timeout=5`):
/// `validate` recomputes `type_info` (a walk of the whole type string) for every member at every
/// nesting level of every element, so its cost is elements × type length × depth², not linear in
/// the input. The type string of an `a{sv}` value is chosen by whoever made the commit (up to
/// 255 bytes, depth 32), and `Commit::parse` validates the metadata, so a commit with a few MiB of
/// such metadata (MAX_METADATA_SIZE is 10 MiB) stalls pull, fsck and boot for hours
/// (reliability.md §5, the GLib CVE-2023-32636 class). Measured in a debug build: 64 KiB took
/// 270 s; this 4 KiB case 10 s. Fix idea: compute (alignment, fixed size) once per container
/// type instead of once per element and level.
#[test]
fn validate_is_linear_in_nested_fixed_tuples() {
    let t = nested_fixed_array(30);
    let data = vec![0u8; 4 * 1024];
    let start = std::time::Instant::now();
    assert!(gvariant::validate(&t, &data, 0).is_ok());
    let took = start.elapsed();
    // 4 Ki one-byte elements, 30 levels each: a linear reader needs ~120 Ki steps.
    assert!(
        took < std::time::Duration::from_millis(200),
        "took {took:?}"
    );
}
