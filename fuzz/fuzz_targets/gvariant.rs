//! GVariant reader: `validate` on the OSTree shapes and on input-chosen type strings, `lookup`
//! in `a{sv}`, and the `a(ayay)` round trip `emit_xattrs(parse(b)) == b` (normal form only).
//!
//! Input: a selector byte, then either the value (selector < number of fixed types) or
//! `TYPE \0 VALUE` with a type string chosen by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ramdisk_core::gvariant::{self, Array};

/// The shapes OSTree stores, plus a few that reach the other branches of `validate`.
const TYPES: &[&[u8]] = &[
    b"(a{sv}aya(say)sstayay)", // commit
    b"(a(say)a(sayay))",       // dirtree
    b"(uuua(ayay))",           // dirmeta, user.ostreemeta
    b"(tuuuusa(ayay))",        // .filez header
    b"(uuuusa(ayay))",         // content checksum header
    b"a{sv}",                  // commit metadata, commitmeta
    b"a(ayay)",                // xattrs
    b"(a(s(taya{sv}))a{sv})",  // summary
    b"v",
    b"mv",
    b"as",
    b"a(say)",
    b"aav",
    b"(yu)",
    b"m(ty)",
    b"a{ss}",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (ty, value): (&[u8], &[u8]) = match TYPES.get(usize::from(sel)) {
        Some(t) => (t, rest),
        None => match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => return,
        },
    };
    let valid = gvariant::validate(ty, value, 0).is_ok();

    if ty == b"a{sv}" {
        for key in [
            "version",
            "ostree.ref-binding",
            "ostree.collection-binding",
            "",
        ] {
            let found = gvariant::lookup(value, 0, key);
            if valid {
                // A valid dictionary never fails the lookup.
                assert!(found.is_ok(), "lookup failed on a valid a{{sv}}");
            }
        }
    }

    // a(ayay): the checked reader accepts a subset of what validate accepts (names non-empty,
    // NUL-free), and what it accepts the writer reproduces byte for byte.
    if let Ok(n) = gvariant::check_xattrs(value, 0) {
        assert!(
            gvariant::validate(b"a(ayay)", value, 0).is_ok(),
            "check_xattrs accepted what validate(a(ayay)) rejects"
        );
        let mut entries = Vec::with_capacity(n);
        let mut arr = Array::new(value, 0, 1).expect("array checked above");
        while let Some(e) = arr.next_elem() {
            entries.push(gvariant::xattr(e.expect("element checked above")).expect("xattr"));
        }
        assert_eq!(entries.len(), n);
        let mut out = Vec::new();
        gvariant::emit_xattrs(&entries, &mut out);
        assert_eq!(out, value, "emit_xattrs(parse(b)) != b");
    }
});
